# lib.sh: what the cost scripts (bench/bench_*.sh) share; sourced, not run by bench/run.sh.
# Sets ROOT, BUILD (ST_BUILD), LIB (the shim) and RUNS (ST_BENCH_RUNS, default 5 rounds).
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BUILD=${ST_BUILD:-$ROOT/build}
LIB=$BUILD/libsesstrim.so
RUNS=${ST_BENCH_RUNS:-5}
# Every ratio is a median over interleaved rounds of (configuration / baseline in the same
# round): a slow moment on the shared machine spoils one round of each, not one side.

# st_median: numbers on stdin, one a line -> their median (mean of the middle two if even).
st_median() {
    sort -g | awk '{a[NR] = $1} END {if (!NR) {print "nan"; exit} m = int((NR + 1) / 2);
        print (NR % 2) ? a[m] : (a[m] + a[m + 1]) / 2}'
}

# st_ratios FILE BASE COLUMN: line i of FILE over line i of BASE, in COLUMN (1-based,
# space-separated) -> the median of those ratios.
st_ratios() {
    paste -d' ' <(cut -d' ' -f"$3" "$1") <(cut -d' ' -f"$3" "$2") |
        awk '$2 > 0 {print $1 / $2}' | st_median
}

# st_verdict LABEL VALUE TARGET [UNIT]: one line, "met" when VALUE <= TARGET. UNIT defaults
# to "x" (a ratio).
st_verdict() {
    local unit=${4:-x}
    awk -v l="$1" -v v="$2" -v t="$3" -v u="$unit" 'BEGIN {
        if (v == "nan" || v == "") { printf "  %-52s %8s   (target <= %s%s)  NOT met (no figure)\n", l, "-", t, u; exit }
        printf "  %-52s %7.2f%s   (target <= %s%s)  %s\n", l, v, u, t, u, (v + 0 <= t + 0) ? "met" : "NOT met" }'
}
