#!/usr/bin/env bash
# run-tsan.sh [--quick] [OUTDIR]: the ThreadSanitizer harness (build/sanitize/tsan/tsan_harness,
# see tsan_harness.c) in three configurations, each a separate process:
#   tsan-alloc  the shim forwards to TSan's allocator (foreign malloc: arena logic off);
#               trimmer every 1 ms, timeline every 1 ms, periodic dumps every 10 ms, dump
#               signal (SIGUSR2) sent every 10 ms, sampled stacks, fork() while it all runs
#   glibc       the same with the shim forwarding to glibc's malloc (ST_TSAN_GLIBC=1): arena
#               logic on, so the arena registry, trim walks and arena stats run too;
#               SESSTRIM_STACKS=all, trims at every session end as well
#   session-end a dump at every session end (SESSTRIM_DUMP_ON_SESSION_END=on), few ended
#               sessions kept in detail so the history folds them while dumps read it
# A configuration passes when TSan reported nothing, the harness's own checks passed (exit
# 0) and its final dump loads in sesstrim-report. The dumps are left in OUTDIR (default
# build/sanitize/tsan/runs) for the ASan part to read. --quick: fewer iterations, for
# `make test`. Prints "tsan: N configurations, N failed" last.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${ST_BUILD:-$ROOT/build}
H=${ST_TSAN_HARNESS:-$BUILD/sanitize/tsan/tsan_harness}
quick=0
[ "${1:-}" = --quick ] && { quick=1; shift; }
OUT=${1:-$BUILD/sanitize/tsan/runs}
[ -x "$H" ] || { echo "tsan: $H not built (make sanitize-build)"; exit 77; }
unset LD_PRELOAD
# die_after_fork=0: the fork child's first allocation restarts the shim's trimmer and
# service threads (process.c), which TSan refuses after a multi-threaded fork by default.
# halt_on_error=0: every report of a run is shown, not just the first. exitcode=66 marks a
# run with reports. Suppressions: tsan.supp (each entry says why).
export TSAN_OPTIONS="die_after_fork=0 halt_on_error=0 exitcode=66 second_deadlock_stack=1 suppressions=$ROOT/tests/sanitize/tsan.supp"
# limit: seconds before a run counts as hung (a fork child stuck on a lock it inherited is
# the likely cause: the log's last lines and `harness.log` say which child). Normal runs take
# a few seconds (quick) to 3 minutes (full) on a loaded 2-core machine.
if [ $quick = 1 ]; then iters=600 threads=4 forks=3 signals=10 limit=300
else iters=4000 threads=6 forks=10 signals=40 limit=900; fi

rm -rf "$OUT"
configs=0 failed=0
# one NAME ENV...: run the harness in a clean directory with these options.
one() {
    local name=$1; shift
    local dir=$OUT/$name
    mkdir -p "$dir"
    configs=$((configs + 1))
    env SESSTRIM_LOG=off SESSTRIM_DUMP="$dir/env-%p.bin" "$@" \
        timeout -k 10 $limit "$H" --threads $threads --iters $iters --forks $forks --signals $signals "$dir" \
        >"$dir/harness.log" 2>&1
    local rc=$?
    local nrep
    nrep=$(grep -c '^WARNING: ThreadSanitizer' "$dir/harness.log")
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        failed=$((failed + 1))
        echo "FAIL $name: HANG, killed after $limit s, $nrep TSan reports (log $dir/harness.log)"
        grep '^SUMMARY: ThreadSanitizer' "$dir/harness.log" | sort | uniq -c | sed 's/^/      | /'
    elif [ $rc -ne 0 ] || [ "$nrep" -ne 0 ]; then
        failed=$((failed + 1))
        echo "FAIL $name: exit $rc, $nrep TSan reports (log $dir/harness.log)"
        grep '^SUMMARY: ThreadSanitizer' "$dir/harness.log" | sort | uniq -c | sed 's/^/      | /'
        grep '^tsan_harness:' "$dir/harness.log" | head -n 10 | sed 's/^/      | /'
    elif ! "$BUILD/sesstrim-report" --no-symbols "$dir/final.bin" >/dev/null 2>"$dir/report.err"; then
        failed=$((failed + 1))
        echo "FAIL $name: final dump does not load: $(head -c 300 "$dir/report.err")"
    else
        echo "ok   $name: $(grep '^tsan_harness:' "$dir/harness.log" | tail -n 1 | sed 's/^tsan_harness: //'), 0 TSan reports, $(ls "$dir" | grep -c '\.bin$') dumps"
    fi
}

common=(SESSTRIM_TRIM="every=1ms" SESSTRIM_TIMELINE_INTERVAL=1ms SESSTRIM_DUMP_INTERVAL=10ms SESSTRIM_DUMP_SIGNAL=USR2)
one tsan-alloc "${common[@]}" SESSTRIM_STACKS=sample=64K
one glibc "${common[@]}" ST_TSAN_GLIBC=1 SESSTRIM_STACKS=all SESSTRIM_TRIM="every=1ms,session-end"
iters=$((iters / 4)) forks=0 signals=0
one session-end ST_TSAN_GLIBC=1 SESSTRIM_DUMP_ON_SESSION_END=on SESSTRIM_SESSIONS_KEPT=8 SESSTRIM_STACKS=sample=16K

echo "tsan: $configs configurations, $failed failed"
[ $failed -eq 0 ]
