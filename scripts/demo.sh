#!/usr/bin/env bash
# demo.sh: `make demo`: the biofuse case (samples/decode_pool) run twice, plain and under the
# shim with an idle trim policy, then the report of the shim's run.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${ST_BUILD:-$ROOT/build}
OUT=${SESSTRIM_DEMO_DIR:-$BUILD/demo}
mkdir -p "$OUT"
rm -f "$OUT"/decode-*.bin
SAMPLE=$BUILD/samples/decode_pool/decode_pool
ARGS=(--threads 8 --buffers 4000 --size 65536 --big $((16 << 20)) --idle-ms 3000)

echo "== decode pool, plain glibc"
env -u LD_PRELOAD "$SAMPLE" "${ARGS[@]}"
echo
echo "== decode pool under sesstrim: SESSTRIM_TRIM=idle=1s"
LD_PRELOAD=$BUILD/libsesstrim.so SESSTRIM_TRIM=idle=1s SESSTRIM_TIMELINE_INTERVAL=100ms \
    SESSTRIM_DUMP="$OUT/decode-%p.bin" "$SAMPLE" "${ARGS[@]}"
echo
dump=$(ls -t "$OUT"/decode-*.bin | head -1)
"$BUILD/sesstrim-report" "$dump"
"$BUILD/sesstrim-report" --html "$OUT/report.html" "$dump" && echo "picture: $OUT/report.html"
