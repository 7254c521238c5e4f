# sesstrim/_runner.py: `python -m sesstrim run`, like `memray run`: run a Python program
# under the shim, then say where the dumps went and print a one-screen summary.
import glob
import json
import os
import signal
import subprocess
import sys

from sesstrim import _dumpfile, _native

USAGE = """\
usage: python3 -m sesstrim run [OPTIONS] (SCRIPT | -m MODULE) [ARGS...]
       python3 -m sesstrim summary DUMP...      one-screen summary of existing dumps
       python3 -m sesstrim where                 the library and analyzer found

Runs the program with libsesstrim.so preloaded, every process it starts writing its own
dump, and prints where the dumps went and a summary from sesstrim-report.

  --dump DIR        directory for the dumps and the shim's log (created; default
                    ./sesstrim-NAME-PID). One file per process: NAME-PID.bin
  --trim POLICY     trim policy, SESSTRIM_TRIM (docs/trim.md), e.g. idle=2s,rss>512M
  --exact           PYTHONMALLOC=malloc: every Python allocation reaches malloc, so sessions
                    and sites count objects of 512 bytes or less too (slower: docs/python.md)
  --pymalloc        keep CPython's small-object allocator (the default)
  --stacks MODE     SESSTRIM_STACKS: off, sample=BYTES (default sample=512K), all
  --log DEST        the shim's log: stderr, off or a file (default DIR/NAME-PID.log)
  --no-children     programs this one executes run without the shim (fork children still
                    have it: they share the parent's memory image)
  --no-pool-sessions  do not make ThreadPoolExecutor run work in the submitter's session
  --no-summary      only say where the dumps are
  --top N           rows per table in the summary (default 5)
Any other SESSTRIM_* variable set in the environment is passed through.
Exit status: the program's (128+N when it died of signal N); 2 on a usage error or when
the library cannot be found."""


class UsageError(Exception):
    pass


def parse(argv):
    opts = {"dump": None, "trim": None, "exact": False, "stacks": None, "log": None,
            "children": True, "pool_sessions": True, "summary": True, "top": 5}
    args = list(argv)
    with_value = {"--dump": "dump", "--trim": "trim", "--stacks": "stacks", "--log": "log",
                  "--top": "top"}
    while args:
        a = args[0]
        if a == "-m":
            if len(args) < 2:
                raise UsageError("-m needs a module name")
            return opts, args
        if not a.startswith("-"):
            return opts, args
        args.pop(0)
        key, _, val = a.partition("=")
        if key in with_value:
            if not val:
                if not args:
                    raise UsageError("%s needs a value" % key)
                val = args.pop(0)
            opts[with_value[key]] = val
        elif a == "--exact":
            opts["exact"] = True
        elif a == "--pymalloc":
            opts["exact"] = False
        elif a == "--no-children":
            opts["children"] = False
        elif a == "--no-pool-sessions":
            opts["pool_sessions"] = False
        elif a == "--no-summary":
            opts["summary"] = False
        elif a in ("-h", "--help"):
            raise UsageError(None)
        else:
            raise UsageError("unknown option %s" % a)
    raise UsageError("no script or -m MODULE given")


def _target_name(target):
    name = target[1] if target[0] == "-m" else os.path.basename(target[0])
    if name.endswith(".py"):
        name = name[:-3]
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "python"


def _environment(opts, lib, dump_dir, name):
    env = dict(os.environ)
    preload = [p for p in env.get("LD_PRELOAD", "").split(":") if p and p != lib]
    env["LD_PRELOAD"] = ":".join([lib] + preload)
    env["SESSTRIM_DUMP"] = os.path.join(dump_dir, name + "-%p.bin")
    env["SESSTRIM_LOG"] = opts["log"] or os.path.join(dump_dir, name + "-%p.log")
    if opts["trim"]:
        env["SESSTRIM_TRIM"] = opts["trim"]
    if opts["stacks"]:
        env["SESSTRIM_STACKS"] = opts["stacks"]
    if opts["exact"]:
        env["PYTHONMALLOC"] = "malloc"
    # The child must import this very package, installed or from a source tree.
    pkg_parent = os.path.dirname(_native.HERE)
    if pkg_parent not in _site_dirs():
        env["PYTHONPATH"] = os.pathsep.join([pkg_parent] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def _site_dirs():
    import site
    dirs = list(getattr(site, "getsitepackages", lambda: [])())
    try:
        dirs.append(site.getusersitepackages())
    except AttributeError:
        pass
    return dirs


def run(argv):
    try:
        opts, target = parse(argv)
        top = int(opts["top"])
    except (UsageError, ValueError) as e:
        if isinstance(e, UsageError) and e.args[0] is None:
            print(USAGE)
            return 0
        print("sesstrim: %s\n%s" % (e, USAGE), file=sys.stderr)
        return 2
    lib = _native.find_library()
    if not lib:
        print("sesstrim: libsesstrim.so not found (build it with `make`, set SESSTRIM_LIBRARY, "
              "or pip install the package after building)", file=sys.stderr)
        return 2
    name = _target_name(target)
    dump_dir = os.path.abspath(opts["dump"] or "sesstrim-%s-%d" % (name, os.getpid()))
    os.makedirs(dump_dir, exist_ok=True)
    env = _environment(opts, lib, dump_dir, name)
    cmd = [sys.executable, "-m", "sesstrim._boot"]
    if not opts["pool_sessions"]:
        cmd.append("--no-pool-sessions")
    if not opts["children"]:
        cmd.append("--no-children")
    cmd += target
    # Ctrl-C reaches the program (same process group); the runner waits for it and still
    # prints the summary. SIGTERM sent to the runner is passed on.
    child = subprocess.Popen(cmd, env=env)
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    old_term = signal.signal(signal.SIGTERM, lambda s, f: child.send_signal(s))
    try:
        rc = child.wait()
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
    dumps = family_order(glob.glob(os.path.join(dump_dir, name + "-*.bin")), child.pid)
    main_dump = os.path.join(dump_dir, "%s-%d.bin" % (name, child.pid))
    out = sys.stderr
    print("", file=out)
    print("sesstrim: %d dump%s in %s (main process: %s)" % (
        len(dumps), "" if len(dumps) == 1 else "s", dump_dir,
        os.path.basename(main_dump) if os.path.exists(main_dump) else "no dump, see the log"), file=out)
    if dumps and opts["summary"]:
        print(summary(dumps, top), file=out)
    return 128 - rc if rc < 0 else rc


def family_order(paths, main_pid):
    """The main process's dump first, then the others by pid."""
    def pid_of(p):
        try:
            return int(os.path.basename(p).rsplit("-", 1)[1].split(".")[0])
        except (IndexError, ValueError):
            return 1 << 62
    return sorted(paths, key=lambda p: (pid_of(p) != main_pid, pid_of(p)))


def report_json(dumps):
    """sesstrim-report --json over the dumps (a family): the parsed object, or raises."""
    report = _native.find_report()
    if not report:
        raise RuntimeError("sesstrim-report not found (make, or set SESSTRIM_REPORT)")
    res = subprocess.run([report, "--json"] + list(dumps), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True)
    if res.returncode != 0:
        raise RuntimeError("sesstrim-report failed: %s" % res.stderr.strip())
    return _dumpfile.resolve(json.loads(res.stdout))


def human(n):
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024
    return str(n)


def site_where(site, depth=2):
    """A site's innermost frames joined with ' <- ': its Python frames when it has any
    (file:line of the Python code that allocated), else its C frames."""
    frames = site.get("frames", [])
    py = [f for f in frames if f.get("python")]
    return " <- ".join(f.get("where", "?") for f in (py or frames)[:depth]) or "?"


def summary(dumps, top=5):
    """One screen of text for a person: RSS by layer, sessions that left bytes behind, the
    sites holding the most, trims and advice. Uses the analyzer's JSON."""
    try:
        doc = report_json(dumps)
    except (RuntimeError, ValueError, OSError) as e:
        return "sesstrim: no summary: %s" % e
    lines = []
    procs = doc.get("processes") or [doc]
    if len(procs) > 1:
        fam = doc.get("family", {})
        lines.append("family: %d processes, RSS %s, live %s" % (
            fam.get("processes", len(procs)), human(fam.get("rss_bytes", 0)), human(fam.get("live_bytes", 0))))
    for p in procs[:top]:
        pr, lay = p["process"], p["layers"]
        lines.append("pid %-7d %-6s RSS %s = live heap %s + overhead %s + free %s (top %s) + "
                     "glibc mmapped %s + program mmaps %s + rest %s" % (
                         pr["pid"], pr["reason"], human(lay["rss"]), human(lay["live_heap"]),
                         human(lay["allocator_overhead"]), human(lay["free_total"]),
                         human(lay["free_top"]), human(lay["glibc_mmapped"]),
                         human(lay["program_mmaps"]), human(lay["rest"])))
    if len(procs) > top:
        lines.append("  ... %d more processes" % (len(procs) - top))
    sites = {}
    sessions = []
    trims = []
    for p in procs:
        for s in p.get("sites", []):
            sites.setdefault((p["process"]["pid"], s["id"]), s)
        for s in p.get("sessions", []):
            sessions.append((p["process"]["pid"], s))
        trims.extend(p.get("trims", []))
    left = sorted((x for x in sessions if x[1]["ended"] and x[1]["leftover_bytes"]),
                  key=lambda x: -x[1]["leftover_bytes"])
    if left:
        lines.append("sessions that ended leaving memory behind (%d):" % len(left))
        for pid, s in left[:top]:
            where = ""
            if s.get("leftover_sites"):
                site = sites.get((pid, s["leftover_sites"][0]["site"]))
                if site:
                    where = "  at " + site_where(site)
            lines.append("  %-24s %12d bytes in %d blocks%s" % (
                s["name"], s["leftover_bytes"], s["leftover_count"], where))
    live = sorted((x for x in sessions if not x[1]["ended"] and x[1]["live_bytes"]),
                  key=lambda x: -x[1]["live_bytes"])
    if live:
        lines.append("open sessions holding the most:")
        for pid, s in live[:top]:
            lines.append("  %-24s %12d bytes live" % (s["name"], s["live_bytes"]))
    by_where = {}   # the same code in several processes is one row
    for s in sites.values():
        if s["live_bytes"]:
            w = site_where(s)
            by_where[w] = by_where.get(w, 0) + s["live_bytes"]
    if by_where:
        lines.append("sites holding the most live memory (sampled, all processes):")
        for w, b in sorted(by_where.items(), key=lambda x: -x[1])[:top]:
            lines.append("  %10s  %s" % (human(b), w))
    if trims:
        lines.append("trims: %d, released %s" % (len(trims), human(sum(t["released_bytes"] for t in trims))))
    for p in procs:
        for a in p.get("advice", []):
            lines.append("advice (pid %d): %s" % (p["process"]["pid"], a["text"]))
    lines.append("full report: %s %s" % (_native.find_report() or "sesstrim-report",
                                          " ".join(dumps if len(dumps) <= 3 else [os.path.join(os.path.dirname(dumps[0]), "*.bin")])))
    return "\n".join(lines)


def main(argv):
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "run":
        return run(rest)
    if cmd == "summary":
        if not rest:
            print("usage: python3 -m sesstrim summary DUMP...", file=sys.stderr)
            return 2
        print(summary(rest))
        return 0
    if cmd == "where":
        print("library: %s\nreport:  %s" % (_native.find_library(), _native.find_report()))
        return 0 if _native.find_library() else 1
    print("sesstrim: unknown command %r\n%s" % (cmd, USAGE), file=sys.stderr)
    return 2
