#!/usr/bin/env bash
# bench_sessions.sh: the cost of session tagging: the churn benchmark under the shim with each
# thread inside a session vs outside any, interleaved in one run; prints medians and ratios.
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${ST_BUILD:-$ROOT/build}
CHURN=$BUILD/bench/churn
LIB=$BUILD/libsesstrim.so
RUNS=${BENCH_RUNS:-7}
PAIRS=${BENCH_PAIRS:-1000000}
THREADS=${BENCH_THREADS:-2}
for f in "$CHURN" "$LIB"; do
    [ -e "$f" ] || { echo "bench_sessions: $f not built (make all build/bench/churn)" >&2; exit 1; }
done

TMP=$(mktemp -d /tmp/bench-sessions-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
median() { sort -n "$1" | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

# One run: wall seconds (printed by churn) to NAME.wall, CPU seconds (user+sys) to NAME.cpu.
# CPU time is the steadier figure on a shared machine; both are reported.
run() {  # name, env/command...
    local name=$1; shift
    local TIMEFORMAT='%U %S' cpu
    cpu=$( { time "$@" >>"$TMP/$name.wall"; } 2>&1 ) || { echo "bench_sessions: $name failed" >&2; exit 1; }
    awk '{print $1 + $2}' <<<"$cpu" >>"$TMP/$name.cpu"
}

# Interleave the configurations run by run, so drift in machine load hits all alike.
args=(--threads "$THREADS" --pairs "$PAIRS")
for _ in $(seq 1 "$RUNS"); do
    run plain env -u LD_PRELOAD "$CHURN" "${args[@]}"
    run shim env -u SESSTRIM_DUMP LD_PRELOAD="$LIB" SESSTRIM_LOG=off "$CHURN" "${args[@]}"
    run sess env -u SESSTRIM_DUMP LD_PRELOAD="$LIB" SESSTRIM_LOG=off "$CHURN" "${args[@]}" --session
done
awk -v t="$THREADS" -v n="$PAIRS" -v r="$RUNS" \
    -v pw="$(median "$TMP/plain.wall")" -v sw="$(median "$TMP/shim.wall")" -v qw="$(median "$TMP/sess.wall")" \
    -v pc="$(median "$TMP/plain.cpu")" -v sc="$(median "$TMP/shim.cpu")" -v qc="$(median "$TMP/sess.cpu")" 'BEGIN {
    pairs = t * n
    printf "session tagging (churn: %d threads x %d malloc/free pairs, median of %d interleaved runs)\n", t, n, r
    printf "  %-24s %9s %9s %13s %9s\n", "", "wall s", "cpu s", "cpu ns/pair", "vs plain"
    printf "  %-24s %9.3f %9.3f %13.1f %9s\n", "no shim", pw, pc, pc * 1e9 / pairs, "x1.00"
    printf "  %-24s %9.3f %9.3f %13.1f %9s\n", "shim, no session", sw, sc, sc * 1e9 / pairs, sprintf("x%.2f", sc / pc)
    printf "  %-24s %9.3f %9.3f %13.1f %9s\n", "shim, session entered", qw, qc, qc * 1e9 / pairs, sprintf("x%.2f", qc / pc)
    printf "  session tagging overhead over the shim without sessions: cpu x%.3f (%+.1f ns/pair), wall x%.3f\n",
           qc / sc, (qc - sc) * 1e9 / pairs, qw / sw
}'
