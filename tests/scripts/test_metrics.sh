#!/usr/bin/env bash
# test_metrics.sh: SESSTRIM_METRICS=PATH (%p) is rewritten every SESSTRIM_METRICS_INTERVAL by
# temp file + rename (a reader never sees half a file, no temp file is left), passes
# `promtool check metrics`, counts trims as counters, and names at most
# SESSTRIM_METRICS_SESSIONS sessions plus session="other".
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
B=${ST_BUILD:-$ROOT/build}
command -v promtool >/dev/null || { echo "promtool not installed"; exit 77; }
W=$(mktemp -d /tmp/st-metrics-XXXXXX)
trap 'touch "$W/stop"; wait; rm -rf "$W"' EXIT
fail() { echo "FAIL: $*"; cat "$W/err" 2>/dev/null | tail -5; exit 1; }

LD_PRELOAD=$B/libsesstrim.so SESSTRIM_METRICS="$W/m-%p.prom" SESSTRIM_METRICS_INTERVAL=100ms \
    SESSTRIM_METRICS_SESSIONS=1 "$B/tests/progs/ctl_target" 60 "$W/stop" 2 >"$W/out" 2>"$W/err" &
pid=$!
F=$W/m-$pid.prom
for _ in $(seq 1 250); do [ -s "$F" ] && break; sleep 0.02; done
[ -s "$F" ] || fail "no metrics file $F"
promtool check metrics <"$F" || fail "promtool check metrics"

# Complete at every read while it is rewritten 10 times a second.
for i in $(seq 1 60); do
    cp "$F" "$W/snap"
    grep -q '^sesstrim_resident_bytes{.*layer="total"}' "$W/snap" || fail "read $i: first family missing"
    tail -c1 "$W/snap" | od -An -c | grep -q '\\n' || fail "read $i: ends mid-line"
    sleep 0.01
done
ls "$W" | grep -q '\.tmp\.' && sleep 0.3 && ls "$W" | grep -q '\.tmp\.' && fail "temp file left: $(ls "$W")"

# Bounded sessions: client-a (6 MiB) named, client-b (2 MiB) in "other".
grep -q "session=\"client-a\"} 6291456" "$F" || fail "top session missing"
grep -q 'session="client-b"' "$F" && fail "more sessions named than SESSTRIM_METRICS_SESSIONS=1"
other=$(sed -n 's/^sesstrim_session_live_bytes{.*session="other"} //p' "$F")
[ "$other" -ge $((2 << 20)) ] || fail "other bucket: '$other'"

# Counters move: one trim through the control socket shows up in the file.
for _ in $(seq 1 200); do "$B/sesstrim" ctl $pid ping >/dev/null 2>&1 && break; sleep 0.05; done
"$B/sesstrim" ctl $pid trim >/dev/null || fail "ctl trim"
for _ in $(seq 1 100); do grep -q "^sesstrim_trims_total{.*} 1$" "$F" && break; sleep 0.05; done
grep -q "^sesstrim_trims_total{.*} 1$" "$F" || fail "trims_total did not reach 1"
promtool check metrics <"$F" || fail "promtool after the trim"
# The control socket prints the same families.
diff <("$B/sesstrim" ctl $pid metrics | grep '^# TYPE' ) <(grep '^# TYPE' "$F") || fail "ctl metrics and the file differ in families"
touch "$W/stop"; wait $pid || fail "exit status"
echo "ok: $(grep -c '^# TYPE' "$F") families, promtool clean, rename-atomic, sessions bounded"
