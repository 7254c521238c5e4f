#!/usr/bin/env bash
# test_sample_py_service.sh: samples/py_service under `python3 -m sesstrim run --exact
# --trim session-end`: the report (1) names the leaking client, (2) with exactly the bytes
# the service says it still holds, allocated (3) at the Python line that caches frames
# (service.py's keep_thumbnail), and (4) idle RSS after the trims is within 10% (or 2 MiB)
# of the service's baseline RSS plus what it still holds. Threads carry their threading
# names. SESSTRIM_STACKS=all so that every allocation has its site (no sampling).
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${ST_BUILD:-$ROOT/build}
PY=
for cand in ${ST_PYTHON:-} /usr/bin/python3 python3; do      # numpy when installed
    command -v "$cand" >/dev/null && "$cand" -c "import numpy" 2>/dev/null && { PY=$cand; break; }
done
[ -n "$PY" ] || PY=python3
command -v "$PY" >/dev/null || { echo "skip: python3 not installed"; exit 77; }
[ -f "$BUILD/libsesstrim.so" ] && [ -x "$BUILD/sesstrim-report" ] || { echo "skip: not built"; exit 77; }
DIR=$(mktemp -d /tmp/sesstrim-pysvc-XXXXXX)
trap 'rm -rf "$DIR"' EXIT
export PYTHONPATH=$ROOT/python SESSTRIM_LIBRARY=$BUILD/libsesstrim.so SESSTRIM_REPORT=$BUILD/sesstrim-report
unset LD_PRELOAD PYTHONMALLOC SESSTRIM_TRIM
SVC=$ROOT/samples/py_service/service.py
SESSTRIM_STACKS=all "$PY" -m sesstrim run --exact --trim session-end --dump "$DIR/d" "$SVC" \
    >"$DIR/out" 2>"$DIR/err" || { echo "FAIL: run"; cat "$DIR/out" "$DIR/err"; exit 1; }
cat "$DIR/out" "$DIR/err"
LINE=$(grep -n 'bytearray(memoryview(frame)' "$SVC" | cut -d: -f1)
"$PY" - "$DIR/out" "$DIR"/d/*.bin "$LINE" <<'PYEOF'
import json, re, subprocess, sys
sys.path.insert(0, __import__("os").environ["PYTHONPATH"])
from sesstrim._runner import report_json
out, dump, line = open(sys.argv[1]).read(), sys.argv[2], int(sys.argv[3])
leaked = re.search(r"^leaked (\S+) bytes=(\d+) blocks=(\d+)$", out, re.M)
name, want, blocks = leaked.group(1), int(leaked.group(2)), int(leaked.group(3))
baseline = int(re.search(r"^baseline_rss (\d+)$", out, re.M).group(1))
idle = int(re.search(r"^idle_rss (\d+)$", out, re.M).group(1))
doc = report_json([dump])
sessions = {s["name"]: s for s in doc["sessions"]}
sites = {s["id"]: s for s in doc["sites"]}
leaker = max(doc["sessions"], key=lambda s: s["leftover_bytes"])
def at_line(site_id):
    frames = sites[site_id]["frames"] if site_id in sites else []
    py = [f for f in frames if f.get("python")]
    return bool(py) and py[0].get("file", "").endswith("service.py") and py[0].get("line") == line
at = [ls for ls in sessions[name]["leftover_sites"] if at_line(ls["site"])]
got = sum(ls["bytes"] for ls in at)
target = baseline + want
checks = [
    ("the session that left the most is the leaking client (%s)" % leaker["name"], leaker["name"] == name),
    ("its leftovers at service.py:%d are exactly what it holds (%d = %d bytes, %d = %d blocks)"
     % (line, got, want, sum(ls["count"] for ls in at), blocks),
     got == want and sum(ls["count"] for ls in at) == blocks),
    ("the other clients left under 1%% of that (%s)" % [s["leftover_bytes"] for n, s in sessions.items() if n != name and n.startswith("client-")],
     all(s["leftover_bytes"] < want // 100 for n, s in sessions.items() if n != name and n.startswith("client-"))),
    ("idle RSS %.1f MiB within 10%% or 2 MiB of baseline %.1f + held %.1f MiB (%+.1f%%)"
     % (idle / 2**20, baseline / 2**20, want / 2**20, 100.0 * (idle - target) / target),
     idle <= max(target * 1.10, target + (2 << 20))),
    ("trims happened", len(doc["trims"]) > 0),
    ("threads carry their threading names", {"heartbeat", "decode_0"} <= {t["name"] for t in doc["threads"]}),
]
for what, ok in checks: print(("ok   " if ok else "FAIL ") + what)
sys.exit(0 if all(ok for _, ok in checks) else 1)
PYEOF
rc=$?
grep -q "$(basename "$SVC"):$LINE" "$DIR/err" || { echo "FAIL: the summary does not show service.py:$LINE"; rc=1; }
[ $rc -eq 0 ] && echo PASS
exit $rc
