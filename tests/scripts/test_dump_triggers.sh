#!/usr/bin/env bash
# test_dump_triggers.sh: dumps are written on SESSTRIM_DUMP_SIGNAL, every
# SESSTRIM_DUMP_INTERVAL, and carry a timeline with SESSTRIM_TIMELINE_INTERVAL.
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${ST_BUILD:-$ROOT/build}
LIB=$BUILD/libsesstrim.so
PROG=$BUILD/tests/progs/core_idle
REPORT=$BUILD/sesstrim-report
W=$(mktemp -d /tmp/sesstrim-trig-XXXXXX)
trap 'touch "$W/stop"; rm -rf "$W"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
json() { "$REPORT" --json "$1" | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"; }
wait_for() { for _ in $(seq 1 500); do [ -e "$1" ] && return 0; sleep 0.02; done; return 1; }

# 1. the signal: a dump appears while the program idles, with reason "signal"
rm -f "$W/stop"
LD_PRELOAD=$LIB SESSTRIM_DUMP="$W/sig-%p.bin" SESSTRIM_DUMP_SIGNAL=USR2 "$PROG" 4000000 "$W/stop" >"$W/out" 2>"$W/err" &
pid=$!
wait_for "$W/out" && for _ in $(seq 1 250); do grep -q ready "$W/out" && break; sleep 0.02; done
kill -USR2 $pid
wait_for "$W/sig-$pid.bin" || fail "no dump after SIGUSR2"
sleep 0.2
[ "$(json "$W/sig-$pid.bin" "d['process']['reason']")" = signal ] || fail "signal dump has the wrong reason"
live=$(json "$W/sig-$pid.bin" "d['process']['live_bytes']")
[ "$live" -ge 4000000 ] || fail "signal dump shows $live live bytes, expected >= 4000000"
kill -0 $pid 2>/dev/null || fail "the program died from the signal"
touch "$W/stop"; wait $pid || fail "program exit status $?"
echo "ok signal dump: live $live bytes, program unaffected"

# 2. periodic dumps: with %t-free path the latest periodic dump is replaced by the exit dump,
#    so name them by pid and time, and count those with reason "periodic"
rm -f "$W/stop"
LD_PRELOAD=$LIB SESSTRIM_DUMP="$W/per-%p-%t.bin" SESSTRIM_DUMP_INTERVAL=300ms "$PROG" 100000 "$W/stop" >/dev/null 2>&1 &
pid=$!
sleep 2.2; touch "$W/stop"; wait $pid
n=0
for f in "$W"/per-$pid-*.bin; do
    [ "$(json "$f" "d['process']['reason']")" = periodic ] && n=$((n+1))
done
[ $n -ge 1 ] || fail "no periodic dump written in 2 s with SESSTRIM_DUMP_INTERVAL=300ms"
echo "ok periodic dumps: $n distinct files (one per second of %t)"

# 3. the timeline: about one sample per interval (0.05: a bare number is seconds), in time
#    order, RSS and live bytes set
rm -f "$W/stop"
LD_PRELOAD=$LIB SESSTRIM_DUMP="$W/tl.bin" SESSTRIM_TIMELINE_INTERVAL=0.05 "$PROG" 2000000 "$W/stop" >/dev/null 2>&1 &
pid=$!
sleep 1.5; touch "$W/stop"; wait $pid
"$REPORT" --json "$W/tl.bin" | python3 -c '
import json, sys
t = json.load(sys.stdin)["timeline"]
n = len(t)
assert n >= 10, "only %d timeline samples in 1.5 s at 50 ms" % n
times = [s["time_ns"] for s in t]
assert times == sorted(times), "timeline out of order"
assert all(s["rss_bytes"] > 0 for s in t), "a sample without RSS"
assert max(s["live_bytes"] for s in t) >= 2000000, "live bytes never reached the 2 MB allocated"
print("ok timeline: %d samples" % n)
' || fail "timeline check"
