#!/usr/bin/env bash
# bench_overhead.sh: the shim's cost on malloc/free churn (bench/churn.c) against plain glibc
# measured in the same run (issue 13). Each round runs every configuration once, in turn
# (interleaved: machine noise from other work hits all of them alike); a configuration's
# ratio is the median over ST_BENCH_RUNS rounds (default 5) of its time divided by plain's
# time in the same round. Rows:
#   churn 2 threads x 2 M pairs (16..4096 B, 10 k live slots per thread), default stack
#     sampling: target <= 1.25x plain, wall and CPU;
#   the same without stacks, and inside a session (information);
#   churn 8 threads on this machine's cores (the 2-core CI machine: 4 threads per core),
#     8 x 500 k pairs: target <= 1.35x wall and CPU;
#   heaptrack on the 2-thread churn, when installed (information: wall only; the first 2
#     rounds only: it takes 5-8 times as long);
#   metadata bytes per live allocation with 1 M allocations live: target <= 40.
# Knobs: ST_BENCH_RUNS (rounds), ST_BENCH_PARTS (space-separated subset of: churn2 churn8
# heaptrack meta; default all).
. "$(dirname "$0")/lib.sh"
CHURN=$BUILD/bench/churn
RUNS=${ST_BENCH_RUNS:-${BENCH_RUNS:-5}}
PARTS=${ST_BENCH_PARTS:-churn2 churn8 heaptrack meta}
TMP=$(mktemp -d /tmp/sesstrim-bench-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
[ -x "$CHURN" ] || { echo "bench_overhead: $CHURN missing (make bench builds it)"; exit 1; }
want() { [[ " $PARTS " == *" $1 "* ]]; }

# run_churn TAG ARGS...: one churn run per configuration; appends "wall cpu" to $TMP/TAG.CONF
run_churn() {
    local tag=$1; shift
    echo "$(env -u LD_PRELOAD "$CHURN" "$@")" >>"$TMP/$tag.plain"
    echo "$(LD_PRELOAD=$LIB SESSTRIM_LOG=off "$CHURN" "$@")" >>"$TMP/$tag.shim"
    if [ "$tag" = churn2 ]; then
        echo "$(LD_PRELOAD=$LIB SESSTRIM_LOG=off SESSTRIM_STACKS=off "$CHURN" "$@")" >>"$TMP/$tag.nostacks"
        echo "$(LD_PRELOAD=$LIB SESSTRIM_LOG=off "$CHURN" "$@" --session)" >>"$TMP/$tag.session"
        if want heaptrack && [ "$round" -lt 2 ] && command -v heaptrack >/dev/null 2>&1; then
            local s e
            s=$(date +%s.%N)
            heaptrack -o "$TMP/ht" "$CHURN" "$@" >/dev/null 2>&1
            e=$(date +%s.%N)
            echo "$(awk "BEGIN{print $e - $s}") 0" >>"$TMP/$tag.heaptrack"
            rm -f "$TMP"/ht*
        fi
    fi
}

# table TAG TITLE TARGET CONF:LABEL...
table() {
    local tag=$1 title=$2 target=$3; shift 3
    printf '%s, median of %d interleaved rounds\n' "$title" "$RUNS"
    printf '  %-30s %9s %8s %9s %8s\n' configuration "wall (s)" ratio "cpu (s)" ratio
    for cl in "$@"; do
        local c=${cl%%:*} label=${cl#*:}
        [ -s "$TMP/$tag.$c" ] || continue
        local w cp rw rc
        w=$(cut -d' ' -f1 "$TMP/$tag.$c" | st_median)
        cp=$(cut -d' ' -f2 "$TMP/$tag.$c" | st_median)
        rw=$(st_ratios "$TMP/$tag.$c" "$TMP/$tag.plain" 1)
        rc=$(st_ratios "$TMP/$tag.$c" "$TMP/$tag.plain" 2)
        if [ "$c" = heaptrack ]; then    # heaptrack runs the program in a child: wall only
            printf '  %-30s %9.3f %7.2fx %9s %8s\n' "$label" "$w" "$rw" - -
        else
            printf '  %-30s %9.3f %7.2fx %9.3f %7.2fx\n' "$label" "$w" "$rw" "$cp" "$rc"
        fi
        [ "$c" = shim ] && verdicts=$(st_verdict "shim wall" "$rw" "$target"; st_verdict "shim cpu" "$rc" "$target")
    done
    [ -n "${verdicts:-}" ] && echo "$verdicts"
    verdicts=
}

if want churn2 || want churn8; then
    for ((round = 0; round < RUNS; round++)); do
        want churn2 && run_churn churn2 --threads 2 --pairs 2000000
        want churn8 && run_churn churn8 --threads 8 --pairs 500000
    done
fi
if want churn2; then
    table churn2 "churn: 2 threads x 2M pairs" 1.25 plain:"plain glibc" shim:"shim (default: sampled stacks)" \
        nostacks:"shim, SESSTRIM_STACKS=off" session:"shim, inside a session" heaptrack:heaptrack
    want heaptrack && ! command -v heaptrack >/dev/null 2>&1 && echo "  heaptrack: not installed, row skipped"
fi
if want churn8; then
    table churn8 "churn: 8 threads x 500k pairs on $(nproc) cores" 1.35 plain:"plain glibc" shim:"shim (default: sampled stacks)"
fi

# Metadata per live allocation: 4 threads x 250k live blocks of 64 B, dumped while live.
if want meta; then
    LD_PRELOAD=$LIB SESSTRIM_LOG=off "$BUILD/tests/progs/core_arenas" "$TMP/live.bin" "$TMP/after.bin" 4 250000 64 >/dev/null
    per=$("$BUILD/sesstrim-report" --json "$TMP/live.bin" | python3 -c '
import json, sys
d = json.load(sys.stdin)["process"]
print("%d %.1f %.1f" % (d["live_count"], d["meta_bytes"] / 2**20, d["meta_bytes"] / max(1, d["live_count"])))')
    read -r live mib bytes <<<"$per"
    printf 'metadata at %d live allocations: %.1f MiB mapped, %.1f B per live allocation\n' "$live" "$mib" "$bytes"
    st_verdict "metadata bytes per live allocation" "$bytes" 40 B
fi
