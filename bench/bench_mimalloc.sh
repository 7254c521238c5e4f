#!/usr/bin/env bash
# bench_mimalloc.sh: mimalloc's allocator stress program (test/test-stress.c: threads that
# allocate, realloc and hand objects to each other, recreated every iteration) built against
# glibc's malloc (-DUSE_STD_MALLOC), at 8, 16 and 32 threads, plain, under the shim, and under
# the shim with a periodic trim policy (issue 13). Each round runs the three in turn; a ratio
# is the median over ST_BENCH_RUNS rounds (default 5) of (configuration / plain in that round).
# Targets: shim <= 1.3x plain, shim with trims <= 1.5x, wall and CPU.
# The source is not vendored: `apt-get source mimalloc` (Debian's package; needs deb-src
# entries, scripts/enable-deb-src.sh) once, cached in $ST_BUILD/mimalloc-src; the table is
# skipped with a line saying why when it cannot be had.
# Knobs: ST_BENCH_RUNS; ST_BENCH_MI_THREADS (default "8 16 32"); ST_BENCH_MI_ARGS (SCALE
# ITER, default "10 5": ~0.5 s at 8 threads here); ST_BENCH_MI_TRIM (default every=100ms).
. "$(dirname "$0")/lib.sh"
THREADS=${ST_BENCH_MI_THREADS:-8 16 32}
ARGS=${ST_BENCH_MI_ARGS:-10 5}
POLICY=${ST_BENCH_MI_TRIM:-every=100ms}
SRC=$BUILD/mimalloc-src
BIN=$BUILD/bench/mimalloc-test-stress

stress_c=$(ls "$SRC"/mimalloc-*/test/test-stress.c 2>/dev/null | head -1)
if [ -z "$stress_c" ]; then
    mkdir -p "$SRC"
    (cd "$SRC" && apt-get source -qq mimalloc >"$SRC/apt-source.log" 2>&1)
    stress_c=$(ls "$SRC"/mimalloc-*/test/test-stress.c 2>/dev/null | head -1)
fi
if [ -z "$stress_c" ]; then
    echo "mimalloc test-stress: skipped: 'apt-get source mimalloc' gave no source (deb-src entries: scripts/enable-deb-src.sh; log: $SRC/apt-source.log)"
    exit 0
fi
if [ ! -x "$BIN" ] || [ "$stress_c" -nt "$BIN" ]; then
    mkdir -p "$(dirname "$BIN")"
    cc -O2 -DNDEBUG -DUSE_STD_MALLOC -pthread -o "$BIN" "$stress_c" ||
        { echo "mimalloc test-stress: skipped: $stress_c does not build"; exit 0; }
fi

TMP=$(mktemp -d /tmp/sesstrim-mi-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
one() {  # FILE ENV... -- args: appends "wall cpu"
    local out=$1; shift
    env "$@" /usr/bin/time -f "%e %U %S" -o "$TMP/t" "$BIN" $t $ARGS >/dev/null 2>&1 ||
        { echo "nan nan" >>"$out"; return; }
    awk '{print $1, $2 + $3}' "$TMP/t" >>"$out"
}
for ((r = 0; r < RUNS; r++)); do
    for t in $THREADS; do
        one "$TMP/$t.plain" -u LD_PRELOAD
        one "$TMP/$t.shim" LD_PRELOAD="$LIB" SESSTRIM_LOG=off
        one "$TMP/$t.trim" LD_PRELOAD="$LIB" SESSTRIM_LOG=off SESSTRIM_TRIM="$POLICY"
    done
done
echo "mimalloc test-stress (glibc malloc; SCALE ITER = $ARGS), median of $RUNS interleaved rounds"
printf '  %-36s %9s %8s %9s %8s\n' configuration "wall (s)" ratio "cpu (s)" ratio
verdicts=
for t in $THREADS; do
    for c in plain shim trim; do
        case $c in plain) label="$t threads, plain glibc";; shim) label="$t threads, shim";;
                   trim) label="$t threads, shim, SESSTRIM_TRIM=$POLICY";; esac
        w=$(cut -d' ' -f1 "$TMP/$t.$c" | st_median); cp=$(cut -d' ' -f2 "$TMP/$t.$c" | st_median)
        rw=$(st_ratios "$TMP/$t.$c" "$TMP/$t.plain" 1); rc=$(st_ratios "$TMP/$t.$c" "$TMP/$t.plain" 2)
        printf '  %-36s %9.3f %7.2fx %9.3f %7.2fx\n' "$label" "$w" "$rw" "$cp" "$rc"
        [ $c = shim ] && verdicts+=$(st_verdict "$t threads: shim wall" "$rw" 1.3; st_verdict "$t threads: shim cpu" "$rc" 1.3)$'\n'
        [ $c = trim ] && verdicts+=$(st_verdict "$t threads: shim + trims wall" "$rw" 1.5; st_verdict "$t threads: shim + trims cpu" "$rc" 1.5)$'\n'
    done
done
printf '%s' "$verdicts"
