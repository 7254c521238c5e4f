#!/usr/bin/env bash
# test_debug_build.sh: run programs that take every shim lock (sessions, keep, fork, trims,
# dumps, sampled stacks, cross-thread frees) under build/libsesstrim-debug.so, built with
# -DST_DEBUG: every lock acquisition checks its rank (preload/lock.h) and every ST_ASSERT
# aborts. A lock-order violation or a failed invariant makes the program die with a line
# naming it, so this test fails if a change takes the shim's locks out of order.
set -u
B=${ST_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
LIB=$B/libsesstrim-debug.so
[ -f "$LIB" ] || { echo "no $LIB (make check-build)"; exit 1; }
DIR=$(mktemp -d /tmp/sesstrim-debug-XXXXXX)
trap 'rm -rf "$DIR"' EXIT
fail=0
run() {  # label, env..., -- prog args...
    local label=$1; shift
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    if ! timeout -k 5 120 env LD_PRELOAD="$LIB" SESSTRIM_LOG="$DIR/log-%p" "${envs[@]}" "$@" >"$DIR/$label.out" 2>&1; then
        echo "FAIL $label (exit $?)"; tail -5 "$DIR/$label.out"; fail=1
    elif cat "$DIR"/log-* 2>/dev/null | grep -q "lock order violated\|invariant failed"; then
        echo "FAIL $label: $(cat "$DIR"/log-* | grep -m1 'lock order violated\|invariant failed')"; fail=1
    else
        echo "ok   $label"
    fi
}
P=$B/tests/progs
for s in nesting enter_leave xfree keep inherit fork; do
    run "sessions-$s" SESSTRIM_STACKS=all -- "$P/session_scenarios" "$s" "$DIR/s-$s-%p.bin"
done
run sessions-concurrent -- "$P/session_scenarios" concurrent "$DIR/c.bin" 4000
run core-fork SESSTRIM_STACKS=all SESSTRIM_DUMP="$DIR/f-%p.bin" -- "$P/core_fork" 300
run core-arenas SESSTRIM_TIMELINE_INTERVAL=5ms -- "$P/core_arenas" "$DIR/a.bin" "$DIR/b.bin" 4 5000 1000 2
run trim-stress SESSTRIM_TRIM="every=1ms;min-interval=0,quiet=0" SESSTRIM_DUMP="$DIR/t.bin" SESSTRIM_STACKS=all \
    SESSTRIM_DUMP_INTERVAL=20ms -- "$P/trim_stress" --threads 3 --seconds 3 --api-trim --fork
# The checks themselves: lock order, futex exclusion and fork-child repair (lock.c, debug).
if ! timeout 60 "$P/lock_witness" >"$DIR/witness.out" 2>&1; then
    echo "FAIL lock_witness"; tail -5 "$DIR/witness.out"; fail=1
else
    echo "ok   lock_witness: $(tail -n 1 "$DIR/witness.out")"
fi
exit $fail
