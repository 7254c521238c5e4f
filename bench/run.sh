#!/usr/bin/env bash
# run.sh: `make bench`: every bench/bench_*.sh in turn. Each prints its own table; ratios
# are always against a baseline measured in the same run, never against stored numbers.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export ST_ROOT=$ROOT ST_BUILD=${ST_BUILD:-$ROOT/build}
only=${1:-}
status=0
for b in "$ROOT"/bench/bench_*.sh; do
    [ -f "$b" ] || continue
    name=$(basename "$b" .sh)
    [ -n "$only" ] && [[ $name != *$only* ]] && continue
    echo "== $name"
    bash "$b" || { echo "$name: failed"; status=1; }
    echo
done
exit $status
