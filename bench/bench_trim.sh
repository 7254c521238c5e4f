#!/usr/bin/env bash
# bench_trim.sh: the decode-pool table (seed 004): idle RSS and decode wall time for plain
# glibc, malloc_trim(0), ARENA_MAX=2 + malloc_trim(0), jemalloc, tcmalloc and sesstrim idle.
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${ST_BUILD:-$ROOT/build}
PROG=$BUILD/samples/decode_pool/decode_pool
LIB=$BUILD/libsesstrim.so
RUNS=${BENCH_RUNS:-5}
IDLE_MS=${BENCH_IDLE_MS:-2500}
ARGS=${BENCH_DECODE_ARGS:-"--threads 16 --buffers 3000 --size 1048576 --queue 128 --keep-every 100 --big 8388608"}
JEMALLOC=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
TCMALLOC=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4

[ -x "$PROG" ] || { echo "bench_trim: $PROG missing (make build/samples/decode_pool/decode_pool)"; exit 1; }

# name|environment|extra args. Each row is one way a user could run the decode pool.
configs=(
    "glibc|-|"
    "glibc + malloc_trim(0) at idle|-|--trim-at-idle"
    "ARENA_MAX=2 + malloc_trim(0)|MALLOC_ARENA_MAX=2|--trim-at-idle"
)
[ -f "$JEMALLOC" ] && configs+=("jemalloc|LD_PRELOAD=$JEMALLOC|")
[ -f "$TCMALLOC" ] && configs+=("tcmalloc|LD_PRELOAD=$TCMALLOC|")
if [ -f "$LIB" ]; then
    # Trim only (what a launch script wanting memory back sets), then the shim's defaults,
    # whose allocation-stack sampling keeps its own tables resident.
    configs+=("sesstrim idle=1s|LD_PRELOAD=$LIB SESSTRIM_TRIM=idle=1s SESSTRIM_STACKS=off SESSTRIM_LOG=off|")
    configs+=("sesstrim idle=1s + stacks|LD_PRELOAD=$LIB SESSTRIM_TRIM=idle=1s SESSTRIM_LOG=off|")
else
    echo "bench_trim: $LIB missing: no sesstrim row"
fi

TMP=$(mktemp -d /tmp/sesstrim-bench-trim-XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# Rounds interleave the configurations so that machine noise hits them all alike.
for ((r = 1; r <= RUNS; r++)); do
    for i in "${!configs[@]}"; do
        IFS='|' read -r name envs extra <<<"${configs[$i]}"
        [ "$envs" = "-" ] && envs=""
        # shellcheck disable=SC2086
        if ! env $envs "$PROG" $ARGS --idle-ms "$IDLE_MS" $extra >"$TMP/$i.$r.out" 2>"$TMP/$i.$r.err"; then
            echo "bench_trim: '$name' run $r failed:"; tail -n 5 "$TMP/$i.$r.err"; exit 1
        fi
    done
done

median() { sort -g | awk '{a[NR]=$1} END {if (NR) print (NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# Times: the fastest run. Other load on the machine only ever adds time, so the minimum is
# the best estimate of what the configuration itself costs.
minimum() { sort -g | head -n 1; }
field() { grep -o "$1=[0-9.]*" | cut -d= -f2; }

echo "decode pool: $ARGS, idle ${IDLE_MS} ms; $RUNS interleaved runs: fastest decode, median RSS"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-32s %10s %10s %10s %8s %8s %12s %10s\n' "configuration" "baseline" "live" "decode ms" "vs glibc" "cpu ms" "idle RSS" "RSS/live+b"
declare -A IDLE DEC BASE LIVE CPU
for i in "${!configs[@]}"; do
    IFS='|' read -r name _ _ <<<"${configs[$i]}"
    BASE[$i]=$(cat "$TMP"/$i.*.out | field baseline_kib | median)
    LIVE[$i]=$(cat "$TMP"/$i.*.out | field live_kib | median)
    DEC[$i]=$(cat "$TMP"/$i.*.out | field decode_ms | minimum)
    CPU[$i]=$(cat "$TMP"/$i.*.out | field decode_cpu_ms | minimum)
    IDLE[$i]=$(cat "$TMP"/$i.*.out | field idle_rss_kib | median)
done
for i in "${!configs[@]}"; do
    IFS='|' read -r name _ _ <<<"${configs[$i]}"
    awk -v n="$name" -v b="${BASE[$i]}" -v l="${LIVE[$i]}" -v d="${DEC[$i]}" -v d0="${DEC[0]}" -v idle="${IDLE[$i]}" -v c="${CPU[$i]}" 'BEGIN {
        printf "%-32s %7.1f MiB %6.1f MiB %10.1f %7.3fx %8.1f %8.1f MiB %9.2fx\n", n, b/1024, l/1024, d, d/d0, c, idle/1024, idle/(l+b) }'
done

# Targets, checked on the trim-only sesstrim row against the others measured above.
last=-1
for i in "${!configs[@]}"; do [[ ${configs[$i]} == "sesstrim idle=1s|"* ]] && last=$i; done
if [ "$last" -ge 0 ]; then
    awk -v b="${BASE[$last]}" -v l="${LIVE[$last]}" -v idle="${IDLE[$last]}" -v a2="${IDLE[2]}" \
        -v d="${DEC[$last]}" -v d0="${DEC[0]}" -v c="${CPU[$last]}" -v c0="${CPU[0]}" 'BEGIN {
        want = l + b; slack = want * 0.10; if (slack < 2048) slack = 2048
        printf "target: sesstrim idle RSS %.1f MiB <= live+baseline %.1f MiB + %.1f MiB: %s\n", idle/1024, want/1024, slack/1024, (idle <= want + slack) ? "met" : "MISSED"
        printf "target: sesstrim idle RSS %.1f MiB <= ARENA_MAX=2+malloc_trim(0) %.1f MiB: %s\n", idle/1024, a2/1024, (idle <= a2) ? "met" : "MISSED"
        printf "target: sesstrim decode time %.3fx glibc (<= 1.05x): %s\n", d/d0, (d <= d0 * 1.05) ? "met" : "MISSED"
        printf "(decode CPU time, steadier on a loaded machine: %.3fx glibc)\n", c/c0
    }'
fi
