# sesstrim/_native.py: where the shim (libsesstrim.so) and the analyzer (sesstrim-report)
# are, for the runner and the pytest plugin. Looked for in this order, first hit wins:
#   1. $SESSTRIM_LIBRARY / $SESSTRIM_REPORT (explicit paths);
#   2. the copies `pip install` put inside the package (sesstrim/_bin/);
#   3. a source tree: <checkout>/build/ next to <checkout>/python/sesstrim/;
#   4. `make install` prefixes: sys.prefix, /usr/local, /usr (lib/ and bin/), then $PATH.
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LIB_NAME = "libsesstrim.so"
REPORT_NAME = "sesstrim-report"


def _candidates(name, subdir):
    yield os.path.join(HERE, "_bin", name)
    yield os.path.join(os.path.dirname(os.path.dirname(HERE)), "build", name)
    for prefix in (sys.prefix, "/usr/local", "/usr"):
        yield os.path.join(prefix, subdir, name)


def find_library():
    """Absolute path of libsesstrim.so, or None."""
    env = os.environ.get("SESSTRIM_LIBRARY")
    if env:
        return os.path.abspath(env) if os.path.isfile(env) else None
    for path in _candidates(LIB_NAME, "lib"):
        if os.path.isfile(path):
            return path
    return None


def find_report():
    """Absolute path of the sesstrim-report executable, or None."""
    env = os.environ.get("SESSTRIM_REPORT")
    if env:
        return os.path.abspath(env) if os.access(env, os.X_OK) else None
    for path in _candidates(REPORT_NAME, "bin"):
        if os.access(path, os.X_OK):
            return path
    return shutil.which(REPORT_NAME)
