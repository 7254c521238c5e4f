#!/usr/bin/env bash
# bench_forkexec.sh: what the shim costs each process it is loaded into (issue 13): short
# shell pipelines, `sh -c 'ls / | sort | head -n 3'` (four processes each: sh, ls, sort,
# head), run by bench/spawn.c process by process interleaved with plain glibc, in
# ST_BENCH_RUNS rounds (default 5) of ST_BENCH_PIPELINES / rounds pipelines (default 1000 in
# all). Per round: the configuration's summed wall time over plain's; CPU from the children's
# rusage (every process of the pipeline). Rows:
#   shim, defaults (every process of the pipeline traced): target <= 1.15x wall, and CPU added
#     per process <= 0.5 ms;
#   shim, SESSTRIM_FOLLOW_CHILDREN=off (`sesstrim run`: ls, sort and head run untraced);
# and /bin/true alone (one process, nothing else to hide the shim's start in; 5 x 200 runs),
# with one more row: the shim with SESSTRIM_DUMP (every process writes its exit dump: the
# price of asking for it).
. "$(dirname "$0")/lib.sh"
SPAWN=$BUILD/bench/spawn
TOTAL=${ST_BENCH_PIPELINES:-1000}
PER=$(( (TOTAL + RUNS - 1) / RUNS ))
TMP=$(mktemp -d /tmp/sesstrim-fork-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
[ -x "$SPAWN" ] || { echo "bench_forkexec: $SPAWN missing (make bench builds it)"; exit 1; }

labels=("plain glibc" "shim, defaults" "shim, FOLLOW_CHILDREN=off" "shim, SESSTRIM_DUMP set")
# run NAME PROCS_PER_RUN RUNS_PER_ROUND CONFIGS COMMAND...: one table; CONFIGS, the number of
# configurations above to run (the dump one is left out of the long table: time).
run() {
    local name=$1 procs=$2 per=$3 nconf=$4; shift 4
    local envs=(-e - -e "LD_PRELOAD=$LIB" -e "LD_PRELOAD=$LIB SESSTRIM_FOLLOW_CHILDREN=off"
                -e "LD_PRELOAD=$LIB SESSTRIM_DUMP=$TMP/d-%p.bin")
    "$SPAWN" "$RUNS" "$per" "${envs[@]:0:$((nconf * 2))}" -- "$@" >"$TMP/out" 2>"$TMP/err" ||
        { echo "$name: spawn failed: $(head -3 "$TMP/err")"; return 1; }
    local confs=$(seq 0 $((nconf - 1)))
    for c in $confs; do awk -v c=$c '$1 == c {print $3, $4}' "$TMP/out" >"$TMP/c$c"; done
    printf '%s: %d x %d runs, %d process(es) each; median of %d interleaved rounds\n' \
        "$name" "$RUNS" "$per" "$procs" "$RUNS"
    printf '  %-28s %12s %8s %12s %8s %16s\n' configuration "wall/run ms" ratio "cpu/run ms" ratio "cpu added/proc"
    for c in $confs; do
        local w cp rw rc added
        w=$(awk -v n="$per" '{print $1 * 1000 / n}' "$TMP/c$c" | st_median)
        cp=$(awk -v n="$per" '{print $2 * 1000 / n}' "$TMP/c$c" | st_median)
        rw=$(st_ratios "$TMP/c$c" "$TMP/c0" 1)
        rc=$(st_ratios "$TMP/c$c" "$TMP/c0" 2)
        added=$(paste -d' ' "$TMP/c$c" "$TMP/c0" | awk -v n="$per" -v p="$procs" '{print ($2 - $4) * 1000 / n / p}' | st_median)
        printf '  %-28s %12.3f %7.2fx %12.3f %7.2fx %13.3f ms\n' "${labels[$c]}" "$w" "$rw" "$cp" "$rc" "$added"
        if [ $c = 1 ]; then
            verdicts=$(st_verdict "shim wall" "$rw" 1.15; st_verdict "CPU the shim adds per process" "$added" 0.5 " ms")
        fi
    done
    echo "$verdicts"
    rm -f "$TMP"/d-*
}
run "sh -c 'ls / | sort | head -n 3'" 4 "$PER" 3 sh -c 'ls / | sort | head -n 3 >/dev/null'
run "/bin/true" 1 200 4 /bin/true
