#!/usr/bin/env bash
# bench_overhead.sh: wall time of the shim against plain glibc (and heaptrack) on the
# 2 threads x 2 M malloc/free churn, best of N interleaved runs; metadata bytes per live
# allocation from a dump of 1 M live allocations. Target: shim <= 1.5x plain glibc.
set -u
BUILD=${ST_BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
LIB=$BUILD/libsesstrim.so
CHURN=$BUILD/bench/churn
RUNS=${BENCH_RUNS:-5}
TMP=$(mktemp -d /tmp/sesstrim-bench-XXXXXX)
trap 'rm -rf "$TMP"' EXIT

best() { sort -g | head -1; }
declare -A times cpus
modes=(plain shim shim_nostacks shim_session)
have_heaptrack=0
command -v heaptrack >/dev/null 2>&1 && have_heaptrack=1
[ $have_heaptrack = 1 ] && modes+=(heaptrack)

for ((i = 0; i < RUNS; i++)); do
    for m in "${modes[@]}"; do
        case $m in
            plain) t=$(env -u LD_PRELOAD "$CHURN");;
            shim) t=$(LD_PRELOAD=$LIB SESSTRIM_LOG=off "$CHURN");;
            shim_nostacks) t=$(LD_PRELOAD=$LIB SESSTRIM_LOG=off SESSTRIM_STACKS=off "$CHURN");;
            shim_session) t=$(LD_PRELOAD=$LIB SESSTRIM_LOG=off "$CHURN" --session);;
            heaptrack)
                s=$(date +%s.%N)
                heaptrack -o "$TMP/ht" "$CHURN" >/dev/null 2>&1
                e=$(date +%s.%N)
                t="$(awk "BEGIN{print $e - $s}") 0";;
        esac
        times[$m]+="${t%% *} "
        cpus[$m]+="${t##* } "
    done
done

plain=$(echo ${times[plain]} | tr ' ' '\n' | best)
plain_cpu=$(echo ${cpus[plain]} | tr ' ' '\n' | best)
printf '%-28s %10s %8s %10s %8s\n' "churn: 2 threads x 2M pairs" "wall (s)" "ratio" "cpu (s)" "ratio"
for m in "${modes[@]}"; do
    b=$(echo ${times[$m]} | tr ' ' '\n' | best)
    c=$(echo ${cpus[$m]} | tr ' ' '\n' | best)
    if [ "$m" = heaptrack ]; then   # heaptrack runs the program in a child: wall time only
        printf '%-28s %10.3f %7.2fx %10s %8s\n' "$m" "$b" "$(awk "BEGIN{print $b / $plain}")" "-" "-"
    else
        printf '%-28s %10.3f %7.2fx %10.3f %7.2fx\n' "$m" "$b" "$(awk "BEGIN{print $b / $plain}")" "$c" "$(awk "BEGIN{print $c / $plain_cpu}")"
    fi
done
if [ $have_heaptrack = 1 ]; then
    f=$(ls "$TMP"/ht* 2>/dev/null | head -1)
    [ -n "$f" ] && printf '%-28s %10s\n' "heaptrack trace size" "$(du -h "$f" | cut -f1)"
else
    echo "heaptrack: not installed (apt-get install heaptrack), row skipped"
fi

# Metadata per live allocation: 4 threads x 250k live blocks of 64 B, dumped while live.
LD_PRELOAD=$LIB SESSTRIM_LOG=off "$BUILD/tests/progs/core_arenas" "$TMP/live.bin" "$TMP/after.bin" 4 250000 64 >/dev/null
python_free_json() { "$BUILD/sesstrim-report" --json "$1"; }
python_free_json "$TMP/live.bin" | python3 -c '
import json, sys
d = json.load(sys.stdin)["process"]
print("%-28s %10d" % ("live allocations", d["live_count"]))
print("%-28s %10.1f MiB" % ("shim metadata mapped", d["meta_bytes"] / 2**20))
print("%-28s %10.1f B" % ("metadata per live alloc", d["meta_bytes"] / max(1, d["live_count"])))
'
