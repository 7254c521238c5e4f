#!/usr/bin/env bash
# run.sh: the whole suite. Every build/tests/test_* (Catch2) and tests/scripts/test_*.sh is
# one entry; exit 0 passes, 77 skips, anything else fails. Ends with "N passed, N failed".
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export ST_ROOT=$ROOT ST_BUILD=${ST_BUILD:-$ROOT/build}
LOGDIR=$ST_BUILD/test-logs
mkdir -p "$LOGDIR"
pass=0 fail=0 skip=0 failed=()
TIMEOUT=${ST_TEST_TIMEOUT:-600}

run_one() {  # name, command...
    local name=$1; shift
    local log=$LOGDIR/$name.log start end rc
    start=$(date +%s)
    timeout -k 10 "$TIMEOUT" "$@" >"$log" 2>&1
    rc=$?
    end=$(date +%s)
    case $rc in
        0)  pass=$((pass+1)); printf 'PASS  %-40s %3ss\n' "$name" $((end-start));;
        77) skip=$((skip+1)); printf 'SKIP  %-40s %s\n' "$name" "$(tail -n 1 "$log")";;
        *)  fail=$((fail+1)); failed+=("$name"); printf 'FAIL  %-40s (exit %s, log %s)\n' "$name" "$rc" "$log"
            tail -n 30 "$log" | sed 's/^/      | /';;
    esac
}

filter=${1:-}
for t in "$ST_BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    [ -n "$filter" ] && [[ $name != *$filter* ]] && continue
    run_one "$name" env LD_PRELOAD="$ST_BUILD/libsesstrim.so" SESSTRIM_LOG=stderr "$t"
done
for s in "$ROOT"/tests/scripts/test_*.sh; do
    [ -f "$s" ] || continue
    name=$(basename "$s" .sh)
    [ -n "$filter" ] && [[ $name != *$filter* ]] && continue
    run_one "$name" bash "$s"
done

[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
