#!/usr/bin/env bash
# bench_trim.sh: the trim table. Three workloads (tests/progs/trim_bench.c): the decode
# pool (seed 004: 16 workers decode ~1 MiB buffers, a consumer frees 99%, the pool idles),
# the same with a heartbeat thread allocating every 200 ms for the whole run, and a busy
# server (4 threads churning mixed sizes; periodic trims fire every 250 ms while they
# churn). For each way a user could run them: idle RSS, busy-phase wall time, and the worst
# and 99.99th percentile single malloc/free latency; for the sesstrim rows, the longest
# arena-lock hold of each trim (from the shim's log). Ratios and targets are against rows
# measured in the same run; each target line says met or NOT met.
# Environment: BENCH_RUNS (default 3) interleaved rounds (busy time: the fastest; the rest:
# the median); BENCH_IDLE_MS (default 2500) idle phase; BENCH_WORKLOADS (default "0 1 2")
# and BENCH_CONFIGS (default all) pick rows by index while iterating (targets need rows 0,
# 2, "sesstrim, no trim", "sesstrim" and "sesstrim quiet=0"). Exit status 0 unless a run failed.
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${ST_BUILD:-$ROOT/build}
PROG=$BUILD/tests/progs/trim_bench
LIB=$BUILD/libsesstrim.so
RUNS=${BENCH_RUNS:-3}
IDLE_MS=${BENCH_IDLE_MS:-2500}
JEMALLOC=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
TCMALLOC=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4

[ -x "$PROG" ] || { echo "bench_trim: $PROG missing (make $PROG)"; exit 1; }

# workload|arguments|what malloc_trim(0) users do there|sesstrim policy
workloads=(
    "decode pool|--workload decode --threads 16 --buffers 2000 --size 1048576|--trim-at-idle|idle=1s"
    "decode pool + heartbeat 200ms|--workload decode --threads 16 --buffers 2000 --size 1048576 --heartbeat-ms 200|--trim-at-idle|idle=1s"
    "busy server, trims while busy|--workload server --threads 4 --ops 1000000|--trim-every-ms 250 --trim-at-idle|idle=1s,every=250ms;min-interval=250ms"
)
# name|environment|use the workload's malloc_trim arguments (1) or not (0)|sesstrim policy:
# 0 none, 1 the workload's, 2 the workload's with quiet=0 (trims sweep busy arenas too,
# skipping only locks held at that instant: the worst case for latency)
configs=(
    "glibc|-|0|0"
    "malloc_trim(0)|-|1|0"
    "ARENA_MAX=2 + malloc_trim(0)|MALLOC_ARENA_MAX=2|1|0"
    "trim_threshold=128K tunable|GLIBC_TUNABLES=glibc.malloc.trim_threshold=131072|0|0"
)
[ -f "$JEMALLOC" ] && configs+=("jemalloc bg, decay 1s|LD_PRELOAD=$JEMALLOC MALLOC_CONF=background_thread:true,dirty_decay_ms:1000|0|0")
[ -f "$TCMALLOC" ] && configs+=("tcmalloc|LD_PRELOAD=$TCMALLOC|0|0")
if [ -f "$LIB" ]; then
    configs+=("sesstrim, no trim|LD_PRELOAD=$LIB SESSTRIM_STACKS=off|0|0")
    configs+=("sesstrim|LD_PRELOAD=$LIB SESSTRIM_STACKS=off|0|1")
    configs+=("sesstrim quiet=0|LD_PRELOAD=$LIB SESSTRIM_STACKS=off|0|2")
else
    echo "bench_trim: $LIB missing: no sesstrim rows"
fi

TMP=$(mktemp -d /tmp/sesstrim-bench-trim-XXXXXX)
trap 'rm -rf "$TMP"' EXIT

WSEL=${BENCH_WORKLOADS:-${!workloads[*]}}
CSEL=${BENCH_CONFIGS:-${!configs[*]}}
for ((r = 1; r <= RUNS; r++)); do
    for w in $WSEL; do
        IFS='|' read -r _ wargs wtrim wpol <<<"${workloads[$w]}"
        for i in $CSEL; do
            IFS='|' read -r name envs use_trim use_pol <<<"${configs[$i]}"
            [ "$envs" = "-" ] && envs=""
            extra=""; [ "$use_trim" = 1 ] && extra=$wtrim
            pol=""; [ "$use_pol" = 1 ] && pol="SESSTRIM_TRIM=$wpol"
            [ "$use_pol" = 2 ] && pol="SESSTRIM_TRIM=$wpol;quiet=0"
            # the shim's log (trim lines with their longest lock hold), nothing on stderr
            [[ $name == sesstrim* ]] && pol="$pol SESSTRIM_LOG=$TMP/$w.$i.$r.log"
            # shellcheck disable=SC2086
            if ! env $envs $pol "$PROG" $wargs --idle-ms "$IDLE_MS" $extra >"$TMP/$w.$i.$r.out" 2>"$TMP/$w.$i.$r.err"; then
                echo "bench_trim: '$name' on workload $w run $r failed:"; tail -n 5 "$TMP/$w.$i.$r.err"; exit 1
            fi
        done
    done
done

median() { sort -g | awk '{a[NR]=$1} END {if (NR) print (NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
minimum() { sort -g | head -n 1; }
field() { grep -o "$1=[0-9.]*" | cut -d= -f2; }

echo "$RUNS interleaved runs per row, idle ${IDLE_MS} ms; busy time: fastest run; the rest: median"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores shared: latencies include scheduling)"
status=0
for w in $WSEL; do
    IFS='|' read -r wname wargs _ wpol <<<"${workloads[$w]}"
    echo
    echo "$wname ($wargs; sesstrim: $wpol)"
    printf '%-30s %9s %9s %10s %8s %11s %10s %9s %10s\n' "configuration" "baseline" "live" "busy ms" "vs glibc" "idle RSS" "RSS/l+b" "worst ms" "p99.99 us"
    declare -A IDLE=() BUSY=() BASE=() LIVE=() MAXU=() P99=()
    for i in $CSEL; do
        BASE[$i]=$(cat "$TMP"/$w.$i.*.out | field baseline_kib | median)
        LIVE[$i]=$(cat "$TMP"/$w.$i.*.out | field live_kib | median)
        BUSY[$i]=$(cat "$TMP"/$w.$i.*.out | field busy_ms | minimum)
        IDLE[$i]=$(cat "$TMP"/$w.$i.*.out | field idle_rss_kib | median)
        MAXU[$i]=$(cat "$TMP"/$w.$i.*.out | field max_us | median)
        P99[$i]=$(cat "$TMP"/$w.$i.*.out | field p9999_us | median)
    done
    ses=-1; ses0=-1; noses=-1; best_other=""
    for i in $CSEL; do
        IFS='|' read -r name _ _ use_pol <<<"${configs[$i]}"
        [[ $name == "sesstrim" ]] && ses=$i
        [[ $name == "sesstrim, no trim" ]] && noses=$i
        [[ $name == "sesstrim quiet=0" ]] && ses0=$i
        if [[ $name != sesstrim* ]]; then
            if [ -z "$best_other" ] || awk -v a="${IDLE[$i]}" -v b="${IDLE[$best_other]}" 'BEGIN {exit !(a < b)}'; then best_other=$i; fi
        fi
        awk -v n="$name" -v b="${BASE[$i]}" -v l="${LIVE[$i]}" -v d="${BUSY[$i]}" -v d0="${BUSY[0]}" -v idle="${IDLE[$i]}" \
            -v mx="${MAXU[$i]}" -v p="${P99[$i]}" 'BEGIN {
            printf "%-30s %5.1f MiB %5.1f MiB %10.1f %7.3fx %7.1f MiB %9.2fx %9.2f %10.1f\n", n, b/1024, l/1024, d, d/d0, idle/1024, idle/(l+b), mx/1000, p }'
    done
    # The longest arena-lock hold of each trim a sesstrim row ran (all rounds).
    for i in $ses $ses0; do
        [ "$i" -ge 0 ] || continue
        IFS='|' read -r name _ _ _ <<<"${configs[$i]}"
        cat "$TMP"/$w.$i.*.log 2>/dev/null | grep -o 'longest arena lock [0-9]* us' | awk '{print $4}' | sort -n |
            awk -v n="$name" '{h[NR] = $1} END {
                if (!NR) { printf "%s: no trim ran\n", n; exit }
                printf "%s: longest arena-lock hold per trim, %d trims: median %d us, p90 %d us, p99 %d us, max %d us\n",
                    n, NR, h[int(NR * 0.5) + 1], h[int(NR * 0.9) + 1], h[int(NR * 0.99) + 1], h[NR] }'
    done
    [ "$ses" -ge 0 ] && [ -n "$best_other" ] || { echo "targets: not evaluated (rows not selected)"; continue; }
    IFS='|' read -r bname _ _ _ <<<"${configs[$best_other]}"
    awk -v w="$wname" -v b="${BASE[$ses]}" -v l="${LIVE[$ses]}" -v idle="${IDLE[$ses]}" -v best="${IDLE[$best_other]}" -v bn="$bname" \
        -v d="${BUSY[$ses]}" -v d0="${BUSY[0]:-}" -v dn="${BUSY[$noses]:-}" -v mx="${MAXU[$ses0]:-}" -v mx0="${MAXU[$noses]:-}" \
        -v a2="${IDLE[2]:-}" 'BEGIN {
        verdict["1"] = "met"; verdict["0"] = "NOT met"
        want = l + b; slack = want * 0.10; if (slack < 2048) slack = 2048
        printf "target: idle RSS %.1f MiB <= best alternative (%s) %.1f MiB: %s\n", idle/1024, bn, best/1024, verdict[idle <= best]
        if (w ~ /heartbeat/)
            printf "target: idle RSS %.1f MiB within 10%% (or 2 MiB) of live+baseline %.1f MiB: %s\n", idle/1024, want/1024, verdict[idle <= want + slack]
        if (w == "decode pool" && a2 != "")
            printf "target: idle RSS %.1f MiB <= ARENA_MAX=2 + malloc_trim(0) %.1f MiB: %s\n", idle/1024, a2/1024, verdict[idle <= a2]
        if (d0 != "")
            printf "target: busy wall time %.3fx glibc (<= 1.03x): %s (the shim without trims: %s)\n", d/d0, verdict[d <= d0 * 1.03], dn == "" ? "not run" : sprintf("%.3fx", dn/d0)
        if (w ~ /server/ && mx != "" && mx0 != "")
            printf "target: worst single call %.2f ms with trims sweeping busy arenas (quiet=0) vs %.2f ms under the shim without trims (<= +1 ms): %s\n", mx/1000, mx0/1000, verdict[mx <= mx0 + 1000]
    }'
    unset IDLE BUSY BASE LIVE MAXU P99
done
exit $status
