#!/usr/bin/env bash
# test_sample_batch_scopes.sh: the Ray case in C and Python: every nested batch ends empty and
# the job owns exactly the results its batches kept, as the sample's own bookkeeping says.
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${ST_BUILD:-$ROOT/build}
PROG=$BUILD/samples/batch_scopes/batches
for f in "$BUILD/libsesstrim.so" "$BUILD/sesstrim-report" "$PROG"; do
    [ -e "$f" ] || { echo "skip: $f not built"; exit 77; }
done
command -v python3 >/dev/null || { echo "skip: python3 needed"; exit 77; }

DIR=$(mktemp -d /tmp/sesstrim-batch-XXXXXX)
trap 'rm -rf "$DIR"' EXIT

# Compare "batch NAME leftover=0" and "job live=B kept=K kept_count=N" lines with the report.
check() {  # label, program output, report json, job session name
    python3 - "$@" <<'EOF'
import json, re, sys
label, out_path, report_path, job_name = sys.argv[1:5]
batches, job = [], None
for line in open(out_path):
    m = re.match(r"batch (\S+) leftover=(\d+)", line)
    if m: batches.append((m.group(1), int(m.group(2))))
    m = re.match(r"job live=(\d+) kept=(\d+) kept_count=(\d+)", line)
    if m: job = tuple(int(x) for x in m.groups())
sessions = {s["name"]: s for s in json.load(open(report_path))["sessions"]}
fail = not batches or job is None or job_name not in sessions
def cmp(what, got, want):
    global fail
    fail |= got != want
    print("%s %-40s report %-10s program %-10s %s" % (label, what, got, want, "ok" if got == want else "MISMATCH"))
if fail:
    print("%s: missing lines or session %s: %s" % (label, job_name, sorted(sessions)))
    sys.exit(1)
j = sessions[job_name]
cmp("job open", j["ended"], False)
cmp("job live bytes", j["live_bytes"], job[0])
cmp("job kept-in bytes", j["kept_in_bytes"], job[1])
cmp("job kept-in count", j["kept_in_count"], job[2])
cmp("job live allocations", j["live_count"], 1 + job[2])
for name, leftover in batches:
    s = sessions.get(name)
    if s is None:
        print("%s: batch %s missing from the report" % (label, name)); fail = True; continue
    cmp(name + " ended", s["ended"], True)
    cmp(name + " parent is the job", s["parent_id"], j["id"])
    cmp(name + " leftover bytes", s["leftover_bytes"], leftover)
    cmp(name + " leftover count", s["leftover_count"], 0)
    cmp(name + " allocated something", s["total_allocs"] > 0, True)
sys.exit(1 if fail else 0)
EOF
}

echo "== C"
env -u SESSTRIM_DUMP LD_PRELOAD="$BUILD/libsesstrim.so" "$PROG" "$DIR/c.dump" 3 >"$DIR/c.out" 2>"$DIR/c.err" \
    || { echo "FAIL: batches exit $?"; cat "$DIR/c.err"; exit 1; }
cat "$DIR/c.out"
"$BUILD/sesstrim-report" --json "$DIR/c.dump" >"$DIR/c.json" || { echo "FAIL: report"; exit 1; }
check C "$DIR/c.out" "$DIR/c.json" job || exit 1

echo "== Python"
env -u SESSTRIM_DUMP LD_PRELOAD="$BUILD/libsesstrim.so" PYTHONPATH="$ROOT/python" \
    python3 "$ROOT/samples/batch_scopes/batches.py" "$DIR/py.dump" >"$DIR/py.out" 2>"$DIR/py.err" \
    || { echo "FAIL: batches.py exit $?"; cat "$DIR/py.err"; exit 1; }
cat "$DIR/py.out"
"$BUILD/sesstrim-report" --json "$DIR/py.dump" >"$DIR/py.json" || { echo "FAIL: report"; exit 1; }
check Python "$DIR/py.out" "$DIR/py.json" py-job || exit 1
echo "PASS"
