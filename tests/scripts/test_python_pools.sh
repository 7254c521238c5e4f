#!/usr/bin/env bash
# test_python_pools.sh: sessions in thread pools. A ThreadPoolExecutor whose worker was
# created inside client-0 charges client-1's work to client-0 (the bug this fixes);
# sesstrim.Executor and propagate_to_pools() charge it to client-1, to the byte, and run
# work submitted outside sessions outside them. keep() in a top-level session returns
# False and warns why. Checked with sesstrim.stats() (no dump needed).
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${ST_BUILD:-$ROOT/build}
PY=${ST_PYTHON:-python3}
command -v "$PY" >/dev/null || { echo "skip: python3 not installed"; exit 77; }
[ -f "$BUILD/libsesstrim.so" ] || { echo "skip: $BUILD/libsesstrim.so not built"; exit 77; }
out=$(env LD_PRELOAD="$BUILD/libsesstrim.so" SESSTRIM_LOG=off PYTHONPATH="$ROOT/python" \
      "$PY" "$ROOT/tests/python/pools_check.py") || { echo "FAIL: run"; echo "$out"; exit 1; }
echo "$out"
"$PY" - "$out" <<'PYEOF'
import json, sys
r = json.loads(sys.argv[1])
n = r["expect"]
checks = [
    ("plain pool: the worker inherited client-0", r["plain"]["first_in_c0"]),
    ("plain pool: client-1's buffer is charged to client-0 (the bug)",
     r["plain"]["c0_live"] >= n and r["plain"]["c1_live"] < n),
]
for flavour in ("executor", "propagated"):
    x = r[flavour]
    checks += [
        (flavour + ": client-1's work ran in client-1", x["c1_ran_in_c1"]),
        (flavour + ": client-1 owns its buffer, exactly", x["c1_live"] == n),
        (flavour + ": client-0 owns none of it", x["c0_live"] < n),
        (flavour + ": work submitted outside sessions runs outside them", x["outside_current"] == 0),
    ]
checks += [
    ("keep() in a top-level session returns False", r["keep_top"] is False),
    ("... and warns that the owner is top-level", any("top-level" in w for w in r["keep_warning"])),
    ("stats() before end: the buffer is live in 'top'", r["top_stats_before_end"]["live_bytes"] >= 100001
        and r["top_stats_before_end"]["parent_id"] == 0),
    ("keep() of a non-block warns 'not the start of a live malloc block'",
     r["keep_bad_addr"] is False and any("not the start" in w for w in r["keep_bad_warning"])),
]
bad = [name for name, ok in checks if not ok]
for name, ok in checks: print(("ok   " if ok else "FAIL ") + name)
sys.exit(1 if bad else 0)
PYEOF
rc=$?
[ $rc -eq 0 ] && echo PASS
exit $rc
