# sesstrim/_boot.py: the first Python code of a program started by `python -m sesstrim run`.
# The runner re-executes the interpreter with LD_PRELOAD set (the shim must be loaded before
# the process starts); this module installs the binding's hooks and then runs the target the
# way `python app.py` / `python -m mod` would (sys.argv, sys.path[0], __main__).
#   python -m sesstrim._boot [--no-pool-sessions] [--no-children] (-m MODULE | SCRIPT) [ARGS]
import os
import runpy
import sys

import sesstrim


def main(argv):
    pool_sessions, children = True, True
    while argv and argv[0].startswith("--"):
        flag = argv.pop(0)
        if flag == "--no-pool-sessions":
            pool_sessions = False
        elif flag == "--no-children":
            children = False
    if not children:
        # Loaded here already; programs this one executes start without it.
        preload = [p for p in os.environ.get("LD_PRELOAD", "").split(":")
                   if p and os.path.basename(p) != "libsesstrim.so"]
        if preload:
            os.environ["LD_PRELOAD"] = ":".join(preload)
        else:
            os.environ.pop("LD_PRELOAD", None)
    if pool_sessions:
        sesstrim.propagate_to_pools(True)
    sesstrim.name_threads(True)
    sesstrim.dump_worker_exits()
    if argv[0] == "-m":
        sys.argv = argv[1:]
        sys.path.insert(0, os.getcwd())
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = argv
        sys.path.insert(0, os.path.dirname(os.path.abspath(argv[0])))
        runpy.run_path(argv[0], run_name="__main__")


if __name__ == "__main__":
    # `python -m sesstrim._boot` put the cwd (or the package's parent) first on sys.path;
    # the target must see its own directory there instead, as with `python app.py`.
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    main(sys.argv[1:])
