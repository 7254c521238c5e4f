#!/usr/bin/env bash
# bench_python.sh: the cost of sesstrim on a Python workload (bench_workload.py) and of the
# pytest plugin, as ratios of CPU time measured in one run, configurations interleaved,
# median of ST_BENCH_RUNS (default 5):
#   plain python | shim, Python frames off | shim with Python frames (sample=512K, default)
#   | shim, frames, SESSTRIM_STACKS=all | plain python with PYTHONMALLOC=malloc | shim + frames
#   + PYTHONMALLOC=malloc (the runner's --exact)
# and pytest on tests/python/pytest_suite without and with -p sesstrim.pytest_plugin.
# Usage: bench/bench_python.sh (after make), or `make bench` (bench/run.sh runs every
# bench/bench_*.sh); prints a table.
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${ST_BUILD:-$ROOT/build}
RUNS=${ST_BENCH_RUNS:-5}
PY=$(python3 -c 'import sys; print(sys.executable)')
PYT=
for c in /usr/bin/python3 python3; do "$c" -c "import pytest" 2>/dev/null && { PYT=$c; break; }; done
LIB=$BUILD/libsesstrim.so
W=$ROOT/tests/python/bench_workload.py
TMP=$(mktemp -d /tmp/sesstrim-pybench-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
cpu() {  # command... -> user+sys seconds of the whole process tree
    /usr/bin/time -f "%U %S" -o "$TMP/t" "$@" >/dev/null 2>&1   # a failing test suite is fine
    tail -n 1 "$TMP/t" | awk '{printf "%.3f\n", $1+$2}'
}
declare -A name cmd
order=(plain noframes frames all plainexact exact pytest plugin)
name[plain]="plain python";                  cmd[plain]="env -u LD_PRELOAD $PY $W"
name[noframes]="shim, Python frames off";    cmd[noframes]="env LD_PRELOAD=$LIB SESSTRIM_LOG=off SESSTRIM_PYFRAMES=off $PY $W"
name[frames]="shim, Python frames (default)"; cmd[frames]="env LD_PRELOAD=$LIB SESSTRIM_LOG=off $PY $W"
name[all]="shim, frames, STACKS=all";        cmd[all]="env LD_PRELOAD=$LIB SESSTRIM_LOG=off SESSTRIM_STACKS=all $PY $W"
name[plainexact]="plain, PYTHONMALLOC=malloc"; cmd[plainexact]="env -u LD_PRELOAD PYTHONMALLOC=malloc $PY $W"
name[exact]="shim, frames, PYTHONMALLOC=malloc"; cmd[exact]="env LD_PRELOAD=$LIB SESSTRIM_LOG=off PYTHONMALLOC=malloc $PY $W"
if [ -n "$PYT" ]; then
    SUITE=$ROOT/tests/python/pytest_suite
    name[pytest]="pytest, shim, no plugin";   cmd[pytest]="env LD_PRELOAD=$LIB SESSTRIM_LOG=off PYTHONPATH=$ROOT/python $PYT -m pytest -q -p no:cacheprovider $SUITE"
    name[plugin]="pytest, shim, plugin";      cmd[plugin]="env LD_PRELOAD=$LIB SESSTRIM_LOG=off PYTHONPATH=$ROOT/python $PYT -m pytest -q -p no:cacheprovider -p sesstrim.pytest_plugin $SUITE"
fi
for r in $(seq 1 "$RUNS"); do
    for k in "${order[@]}"; do
        [ -n "${cmd[$k]:-}" ] || continue
        cpu ${cmd[$k]} >>"$TMP/$k"
    done
done
med() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "Python workload (bench_workload.py, 4 threads), CPU seconds, median of $RUNS interleaved runs"
base=$(med "$TMP/plain"); nof=$(med "$TMP/noframes")
for k in plain noframes frames all plainexact exact; do
    m=$(med "$TMP/$k")
    printf '  %-36s %7.3f  x%.2f vs plain  x%.2f vs shim without frames\n' "${name[$k]}" "$m" \
        "$(echo "$m / $base" | bc -l)" "$(echo "$m / $nof" | bc -l)"
done
if [ -n "$PYT" ]; then
    p=$(med "$TMP/pytest"); q=$(med "$TMP/plugin")
    printf '  %-36s %7.3f\n  %-36s %7.3f  x%.2f vs without the plugin\n' "${name[pytest]}" "$p" "${name[plugin]}" "$q" "$(echo "$q / $p" | bc -l)"
fi
