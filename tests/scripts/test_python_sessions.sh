#!/usr/bin/env bash
# test_python_sessions.sh: the Python binding: a no-op without the shim; with it, sessions,
# the decorator, enter/leave from Python threads and keep of a bytearray reach the dump.
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${ST_BUILD:-$ROOT/build}
command -v python3 >/dev/null || { echo "skip: python3 not installed"; exit 77; }
DIR=$(mktemp -d /tmp/sesstrim-py-XXXXXX)
trap 'rm -rf "$DIR"' EXIT
export PYTHONPATH=$ROOT/python

echo "== without the shim: every call is a harmless no-op"
env -u LD_PRELOAD python3 - "$DIR/none.dump" <<'EOF' || { echo "FAIL: no-shim run"; exit 1; }
import sys, threading, sesstrim
assert sesstrim.active() is False
assert sesstrim.begin("x") == 0 and sesstrim.end(0) is False
assert sesstrim.enter(1) is False and sesstrim.leave(1) is False
assert sesstrim.current() == 0
with sesstrim.session("client-42") as s:
    assert s.id == 0
    buf = bytearray(4096)
    assert s.keep(buf) is False and sesstrim.keep(buf) is False
with sesstrim.entered(5) as ok:
    assert ok is False

@sesstrim.scoped("batch")
def work(x):
    return x * 2

@sesstrim.scoped
def bare():
    return "bare"

assert work(21) == 42 and bare() == "bare"
assert sesstrim.trim() == -1
assert sesstrim.dump(sys.argv[1]) is False
print("no-shim ok")
EOF
[ ! -e "$DIR/none.dump" ] || { echo "FAIL: a dump appeared without the shim"; exit 1; }

[ -f "$BUILD/libsesstrim.so" ] || { echo "skip: $BUILD/libsesstrim.so not built (no-shim part passed)"; exit 77; }
[ -x "$BUILD/sesstrim-report" ] || { echo "skip: sesstrim-report not built (no-shim part passed)"; exit 77; }

echo "== with the shim"
env -u SESSTRIM_DUMP LD_PRELOAD="$BUILD/libsesstrim.so" python3 - "$DIR/py.dump" >"$DIR/py.out" <<'EOF' \
    || { echo "FAIL: preloaded run"; cat "$DIR/py.out"; exit 1; }
import ctypes, sys, threading, sesstrim
assert sesstrim.active() is True
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]

with sesstrim.session("py-outer") as outer:
    assert outer.id != 0 and sesstrim.current() == outer.id
    with sesstrim.session("py-inner") as inner:
        assert sesstrim.current() == inner.id
        result = bytearray(100000)          # CPython mallocs len+1 bytes for a bytearray
        assert inner.keep(result)           # to the parent: py-outer
    assert sesstrim.current() == outer.id

    # A pool thread serves the open session "py-pool" with enter/leave.
    pool = sesstrim.begin("py-pool")
    sesstrim.leave(pool)
    got = {}
    def worker():
        got["before"] = sesstrim.current()
        with sesstrim.entered(pool) as ok:
            got["ok"], got["inside"] = ok, sesstrim.current()
            got["buf"] = libc.malloc(70000)
        got["after"] = sesstrim.current()
    t = threading.Thread(target=worker); t.start(); t.join()
    assert got["ok"] and got["inside"] == pool, got
    assert got["after"] == got["before"], got

    @sesstrim.scoped("py-decorated")
    def decorated():
        p = libc.malloc(12345)
        sesstrim.keep(p, pool)              # hand it to a named session
        return sesstrim.current()
    assert decorated() not in (0, outer.id)
    assert sesstrim.dump(sys.argv[1])
print("result_bytes", len(result) + 1)
print("pool_bytes", 70000 + 12345)
print("pool_id", pool)
EOF
cat "$DIR/py.out"
"$BUILD/sesstrim-report" --json "$DIR/py.dump" >"$DIR/py.json" || { echo "FAIL: report"; exit 1; }
python3 - "$DIR/py.out" "$DIR/py.json" <<'EOF' || exit 1
import json, sys
want = dict(line.split() for line in open(sys.argv[1]) if line.strip())
s = {x["name"]: x for x in json.load(open(sys.argv[2]))["sessions"]}
checks = [
    ("py-inner ended empty", s["py-inner"]["ended"] and s["py-inner"]["leftover_bytes"] == 0),
    ("py-inner's parent is py-outer", s["py-inner"]["parent_id"] == s["py-outer"]["id"]),
    ("py-outer kept the result", s["py-outer"]["kept_in_bytes"] == int(want["result_bytes"])
                                 and s["py-outer"]["kept_in_count"] == 1),
    ("py-pool id", s["py-pool"]["id"] == int(want["pool_id"])),
    ("py-pool owns the worker's and the kept buffer", s["py-pool"]["live_bytes"] == int(want["pool_bytes"])),
    ("py-pool saw two threads", s["py-pool"]["threads_seen"] == 2),
    ("py-decorated ended, nothing left", s["py-decorated"]["ended"] and s["py-decorated"]["leftover_bytes"] == 0),
]
bad = [name for name, ok in checks if not ok]
for name, ok in checks: print(("ok   " if ok else "FAIL ") + name)
if bad: print(json.dumps(s, indent=1)); sys.exit(1)
EOF
echo PASS
