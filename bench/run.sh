#!/usr/bin/env bash
# run.sh: `make bench`: every bench/bench_*.sh in turn. Each prints its own table; ratios
# are always against a baseline measured in the same run, never against stored numbers,
# and each target line ends in "met" or "NOT met".
# Selecting parts: `bench/run.sh WORD` or ST_BENCH="WORD WORD..." runs only the scripts whose
# name contains one of the words (overhead, forkexec, mimalloc, servers, python, trim, ...);
# ST_BENCH_RUNS sets the rounds of the cost scripts; each script's header lists its own knobs.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export ST_ROOT=$ROOT ST_BUILD=${ST_BUILD:-$ROOT/build}
only=${1:-${ST_BENCH:-}}
status=0
for b in "$ROOT"/bench/bench_*.sh; do
    [ -f "$b" ] || continue
    name=$(basename "$b" .sh)
    if [ -n "$only" ]; then
        hit=0
        for w in $only; do [[ $name == *$w* ]] && hit=1; done
        [ $hit = 1 ] || continue
    fi
    start=$(date +%s)
    echo "== $name"
    bash "$b" || { echo "$name: failed"; status=1; }
    echo "($name: $(( $(date +%s) - start )) s)"
    echo
done
exit $status
