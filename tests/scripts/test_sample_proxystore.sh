#!/usr/bin/env bash
# test_sample_proxystore.sh: the ProxyStore sample (seed 002): one report over the dumps of a
# parent and its servers lists each server under its parent with the numbers it printed itself.
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${ST_BUILD:-$ROOT/build}
SAMPLE=$BUILD/samples/proxystore_family/proxystore_family
REPORT=$BUILD/sesstrim-report
fail() { echo "FAIL: $*"; exit 1; }
for f in "$SAMPLE" "$REPORT" "$BUILD/libsesstrim.so"; do [ -e "$f" ] || fail "$f not built"; done
command -v python3 >/dev/null || { echo "skip: python3 needed to read the JSON report"; exit 77; }

WORK=$(mktemp -d /tmp/sesstrim-proxystore-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
SERVERS=4
env SESSTRIM_DUMP="$WORK/sesstrim-%p.bin" LD_PRELOAD="$BUILD/libsesstrim.so" \
    "$SAMPLE" servers=$SERVERS requests=20 size=65536 >"$WORK/out.txt" 2>"$WORK/err.txt" ||
    fail "sample exited $?: $(tail -n 5 "$WORK/err.txt")"
cat "$WORK/out.txt"
grep -m1 'cannot be preloaded' "$WORK/err.txt" && fail "the shim did not load"
ndumps=$(ls "$WORK"/sesstrim-*.bin 2>/dev/null | wc -l)
[ "$ndumps" -eq $((SERVERS + 1)) ] || fail "want $((SERVERS + 1)) dumps (parent + servers), got $ndumps"

"$REPORT" "$WORK"/sesstrim-*.bin >"$WORK/report.txt" || fail "text report exited $?"
"$REPORT" --json "$WORK"/sesstrim-*.bin >"$WORK/report.json" || fail "JSON report exited $?"
"$REPORT" --html "$WORK/report.html" "$WORK"/sesstrim-*.bin || fail "HTML report exited $?"

python3 - "$WORK" <<'EOF' || exit 1
import json, re, sys
work = sys.argv[1]
out = open(f"{work}/out.txt").read()
text = open(f"{work}/report.txt").read()
html = open(f"{work}/report.html").read()
rep = json.load(open(f"{work}/report.json"))
def fail(msg):
    print("FAIL:", msg); sys.exit(1)

parent = re.search(r"^parent pid=(\d+) servers=(\d+) failures=0$", out, re.M)
if not parent: fail("no parent line, or the parent saw failures")
ppid, nservers = int(parent.group(1)), int(parent.group(2))
servers = [dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", line))
           for line in out.splitlines() if line.startswith("server ")]
if len(servers) != nservers: fail(f"{len(servers)} server lines for {nservers} servers")

procs = {p["process"]["pid"]: p for p in rep["processes"]}
if rep["family"]["processes"] != nservers + 1: fail("family size in the JSON report")
if ppid not in procs: fail(f"parent {ppid} missing from the report")
for s in servers:
    pid = s["pid"]
    if pid not in procs: fail(f"server {pid} missing from the JSON report")
    p = procs[pid]
    if s["ppid"] != ppid or p["process"]["ppid"] != ppid:
        fail(f"server {pid}: parent {p['process']['ppid']} in the dump, {s['ppid']} printed, want {ppid}")
    store = [x for x in p["sessions"] if x["name"] == "store"]
    if len(store) != 1: fail(f"server {pid}: want one 'store' session, got {len(store)}")
    st = store[0]
    checks = [("live_bytes", st["live_bytes"], s["store_bytes"]),
              ("live_count", st["live_count"], s["objects"]),
              ("total_allocs", st["total_allocs"], s["allocs"])]
    for what, got, want in checks:
        if got != want: fail(f"server {pid}: session {what} {got} != printed {want}")
    if p["process"]["live_bytes"] < s["store_bytes"]:
        fail(f"server {pid}: process live bytes {p['process']['live_bytes']} below the store's {s['store_bytes']}")
    # the text report names each server on a line with its parent
    if not re.search(rf"^\s*{pid}\s+{ppid}\b", text, re.M):
        fail(f"text report has no line for server {pid} under parent {ppid}")
    if f'class="family-row" data-pid="{pid}" data-ppid="{ppid}"' not in html:
        fail(f"HTML family table has no row for server {pid}")
    print(f"ok: server {pid} (parent {ppid}): {st['live_bytes']} bytes in {st['live_count']} objects, "
          f"{st['total_allocs']} allocations, as printed")
# the servers served different loads, so equal numbers would mean crossed dumps
if len({s["store_bytes"] for s in servers}) != len(servers): fail("servers printed identical loads")
print("PASS")
EOF
