#!/usr/bin/env bash
# bench_latency.sh: tail latency of single malloc/free calls, 4 threads on this machine's
# cores (2 in CI: threads outnumber cores, as in servers), plain glibc vs the shim (defaults,
# log off), runs interleaved so both see the same machine load. Median over BENCH_RUNS runs
# (default 5) of each run's p99.99 and worst call. Target (issue 8): shim p99.99 <= 2x plain.
set -u
BUILD=${ST_BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
LIB=$BUILD/libsesstrim.so
PROG=$BUILD/bench/latency
RUNS=${BENCH_RUNS:-5}
THREADS=${LATENCY_THREADS:-4}
PAIRS=${LATENCY_PAIRS:-300000}
[ -x "$PROG" ] || { echo "build first: make check-build"; exit 1; }

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
field() { awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}'; }

declare -A p50 p9999 worst
modes="plain shim"
loads="own shared"          # own slots per thread; shared slots (cross-thread frees)
for ((i = 0; i < RUNS; i++)); do
    for l in $loads; do
        sh=0; [ $l = shared ] && sh=1
        for m in $modes; do
            if [ $m = plain ]; then
                out=$(env -u LD_PRELOAD "$PROG" --threads "$THREADS" --pairs "$PAIRS" --shared $sh)
            else
                out=$(env LD_PRELOAD="$LIB" SESSTRIM_LOG=off "$PROG" --threads "$THREADS" --pairs "$PAIRS" --shared $sh)
            fi
            [ -n "$out" ] || { echo "latency: $m $l run failed"; exit 1; }
            p50[$l.$m]+="$(echo "$out" | field p50_ns) "
            p9999[$l.$m]+="$(echo "$out" | field p9999_ns) "
            worst[$l.$m]+="$(echo "$out" | field max_ns) "
        done
    done
done

med() { echo $1 | tr ' ' '\n' | median; }
echo "machine load while measured: $(cut -d" " -f1-3 /proc/loadavg) (runnable tasks per 1, 5, 15 min)"
printf '%-40s %9s %12s %12s\n' "latency: $THREADS threads, $(nproc) cores, median of $RUNS" "p50 (ns)" "p99.99 (us)" "worst (us)"
status=0
for l in $loads; do
    for m in $modes; do
        printf '%-40s %9.0f %12.1f %12.1f\n' "$l slots: $m" "$(med "${p50[$l.$m]}")" \
            "$(awk "BEGIN{print $(med "${p9999[$l.$m]}") / 1000}")" "$(awk "BEGIN{print $(med "${worst[$l.$m]}") / 1000}")"
    done
    r=$(awk "BEGIN{printf \"%.2f\", $(med "${p9999[$l.shim]}") / $(med "${p9999[$l.plain]}")}")
    w=$(awk "BEGIN{printf \"%.2f\", $(med "${worst[$l.shim]}") / $(med "${worst[$l.plain]}")}")
    printf '%-40s %9s %11sx %11sx   target p99.99 <= 2x: %s\n' "$l slots: shim / plain" "" "$r" "$w" \
        "$(awk "BEGIN{print ($r <= 2) ? \"met\" : \"NOT met\"}")"
done
