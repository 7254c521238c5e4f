#!/usr/bin/env bash
# test_sample_session_server.sh: the Arkouda case end to end: clients leave arrays behind on a
# session server; the report must name the forgetful client's session and its exact bytes.
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${ST_BUILD:-$ROOT/build}
SAMPLE=$BUILD/samples/session_server
for f in "$BUILD/libsesstrim.so" "$BUILD/sesstrim-report" "$SAMPLE/server" "$SAMPLE/client"; do
    [ -x "$f" ] || [ -f "$f" ] || { echo "skip: $f not built"; exit 77; }
done
command -v python3 >/dev/null || { echo "skip: python3 needed to read the JSON report"; exit 77; }

DIR=$(mktemp -d /tmp/sesstrim-server-XXXXXX)
trap 'kill "$SERVER" 2>/dev/null; rm -rf "$DIR"' EXIT
SOCK=$DIR/sock
DUMP=$DIR/server.dump

env -u SESSTRIM_DUMP LD_PRELOAD="$BUILD/libsesstrim.so" SESSTRIM_LOG=stderr \
    SESSTRIM_SESSION_LEFTOVER_LOG=1000 \
    "$SAMPLE/server" "$SOCK" --dump "$DUMP" >"$DIR/server.out" 2>"$DIR/server.err" &
SERVER=$!
for _ in $(seq 1 200); do [ -S "$SOCK" ] && break; sleep 0.05; done
[ -S "$SOCK" ] || { echo "FAIL: server did not create $SOCK"; cat "$DIR/server.err"; exit 1; }

client() { "$SAMPLE/client" "$SOCK" "$@" >>"$DIR/clients.out" 2>&1; }
# Three clients at once: alice and carol clean up, bob forgets y and z.
client alice create:a:100000 create:b:250000 drop:a drop:b & A=$!
client bob create:x:40000 create:y:123457 create:z:777 drop:x & B=$!
client carol create:big:1048576 create:t:3000 drop:big drop:t & C=$!
wait $A && wait $B && wait $C || { echo "FAIL: a client failed"; cat "$DIR/clients.out"; exit 1; }
client - shutdown || { echo "FAIL: shutdown"; exit 1; }
wait "$SERVER"; rc=$?
[ $rc -eq 0 ] || { echo "FAIL: server exit $rc"; cat "$DIR/server.err"; exit 1; }
cat "$DIR/server.out"
grep -q "rc=0" "$DIR/server.out" || { echo "FAIL: server could not dump"; cat "$DIR/server.err"; exit 1; }

"$BUILD/sesstrim-report" --json "$DUMP" >"$DIR/report.json" || { echo "FAIL: report"; exit 1; }
"$BUILD/sesstrim-report" "$DUMP" >"$DIR/report.txt" || { echo "FAIL: text report"; exit 1; }

# The server's own bookkeeping ("left NAME session=ID arrays=N bytes=B") against the report.
python3 - "$DIR/server.out" "$DIR/report.json" <<'EOF' || exit 1
import json, re, sys
left = {}
for line in open(sys.argv[1]):
    m = re.match(r"left (\S+) session=(\d+) arrays=(\d+) bytes=(\d+)", line)
    if m:
        left[m.group(1)] = dict(id=int(m.group(2)), count=int(m.group(3)) * 2, bytes=int(m.group(4)))
report = json.load(open(sys.argv[2]))
sessions = {s["name"]: s for s in report["sessions"]}
fail = False
def check(what, got, want):
    global fail
    ok = got == want
    fail |= not ok
    print("%-44s report %-10s server %-10s %s" % (what, got, want, "ok" if ok else "MISMATCH"))
for name in ("client-alice", "client-bob", "client-carol"):
    if name not in left or name not in sessions:
        print("FAIL: %s missing (server: %s, report: %s)" % (name, name in left, name in sessions))
        sys.exit(1)
    s, b = sessions[name], left[name]
    check(name + " id", s["id"], b["id"])
    check(name + " ended", s["ended"], True)
    check(name + " leftover bytes", s["leftover_bytes"], b["bytes"])
    check(name + " leftover allocations", s["leftover_count"], b["count"])
if left["client-bob"]["bytes"] == 0:
    print("FAIL: bob was meant to leave arrays behind"); fail = True
with_leftovers = sorted(n for n, s in sessions.items() if s["leftover_bytes"])
check("sessions with leftovers", with_leftovers, ["client-bob"])
sys.exit(1 if fail else 0)
EOF

# The text report names the session too, and the shim logged the leaky end.
grep -q "client-bob" "$DIR/report.txt" || { echo "FAIL: text report lacks client-bob"; exit 1; }
grep -q 'client-bob' "$DIR/server.err" || { echo "FAIL: no leftover log line for client-bob"; cat "$DIR/server.err"; exit 1; }
echo "PASS"
