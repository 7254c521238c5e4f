#!/usr/bin/env bash
# run.sh: build the dump reader's libFuzzer target with ASan+UBSan and fuzz it for
# SESSTRIM_FUZZ_SECONDS (default 60), seeded with tests/corpus. Exit 0 clean, 1 on a finding.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${ST_BUILD:-$ROOT/build}
SECS=${SESSTRIM_FUZZ_SECONDS:-60}
CLANG=${CLANG:-clang}
if ! command -v "$CLANG" >/dev/null; then
    echo "clang not found: install it with 'apt-get install clang' (libFuzzer ships with it)" >&2
    exit 1
fi
OUT=$BUILD/fuzz
mkdir -p "$OUT/corpus" "$OUT/artifacts"
SRC=$(ls "$ROOT"/analyzer/*.c | grep -v '/main\.c$')
# FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION lets mutated inputs past the END hash check.
"$CLANG" -std=c11 -D_GNU_SOURCE -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -g -O1 \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    $(pkg-config --cflags libdw 2>/dev/null) -I"$ROOT/include" -I"$ROOT/analyzer" \
    "$ROOT/tests/fuzz/fuzz_reader.c" $SRC -o "$OUT/fuzz_reader" -ldw -lelf -lm -liberty
cp -n "$ROOT"/tests/corpus/*.bin "$OUT/corpus/" 2>/dev/null || true
echo "fuzzing the dump reader for ${SECS}s (corpus $OUT/corpus, crashes in $OUT/artifacts)"
unset LD_PRELOAD
exec "$OUT/fuzz_reader" -max_total_time="$SECS" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
    -dict="$ROOT/tests/fuzz/dump.dict" -artifact_prefix="$OUT/artifacts/" -print_final_stats=1 \
    "$OUT/corpus"
