#!/usr/bin/env bash
# run-asan.sh [--quick] [EXTRA_DUMP...]: the ASan+UBSan analyzer (build/sanitize/asan) over
#  1. the Catch2 tests that exercise the analyzer (ASAN_TESTS in sanitize.mk), run without the
#     shim in their own process, finding sesstrim-report and the programs through ST_BUILD;
#  2. every dump we have: tests/corpus/*.bin, dumps written by tests/progs/dumpgen and
#     htmlgen_dumps, real dumps from programs run under the ordinary shim, and EXTRA_DUMPs
#     (run.sh passes the TSan harness's), in every output mode: text, --json, --html,
#     --diff and --diff --json (each dump against the next, both ways).
# Good dumps must give exit 0, bad ones exit 2 with one "sesstrim-report: " line; any
# sanitizer report fails (exitcode 99 and the log is scanned for "Sanitizer"/"runtime error").
# --quick: the corpus sweep only (no Catch2 tests, no HTML browser test): for `make test`.
# Prints "asan: N checks, N failed" last; exit 0 only when clean.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${ST_BUILD:-$ROOT/build}
SAN=$BUILD/sanitize/asan
REPORT=$SAN/sesstrim-report
quick=0
[ "${1:-}" = --quick ] && { quick=1; shift; }
[ -x "$REPORT" ] || { echo "asan: $REPORT not built (make sanitize-build)"; exit 77; }
unset LD_PRELOAD
# halt_on_error is implied by -fno-sanitize-recover; exitcode 99 cannot be mistaken for the
# analyzer's own 0/1/2. Leaks are checked too (a report tool that leaks per dump would
# grow with the family size).
export ASAN_OPTIONS=exitcode=99:detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=exitcode=99:print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=exitcode=99

# The sanitized build is laid out like build/: its own sesstrim-report and tests, the
# ordinary shim and programs (the tests run those under LD_PRELOAD, outside ASan).
ln -sfn "$BUILD/libsesstrim.so" "$SAN/libsesstrim.so"
mkdir -p "$SAN/tests"
ln -sfn "$BUILD/tests/progs" "$SAN/tests/progs"

WORK=$(mktemp -d /tmp/sesstrim-asan-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
checks=0 failed=0
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
sanitizer_said() { grep -qE 'Sanitizer|runtime error|LeakSanitizer' "$1"; }

# ---- 1. the Catch2 tests
if [ $quick = 0 ]; then
    for t in "$SAN"/tests/test_*; do
        [ -x "$t" ] || continue
        name=$(basename "$t")
        checks=$((checks + 1))
        # SESSTRIM_LOG=stderr as tests/run.sh sets it: the programs the tests run under the
        # shim inherit it, and some tests read their log lines.
        ST_ROOT=$ROOT ST_BUILD=$SAN SESSTRIM_LOG=stderr timeout -k 10 900 "$t" >"$WORK/$name.log" 2>&1
        rc=$?
        if [ $rc -ne 0 ] || sanitizer_said "$WORK/$name.log"; then
            bad "$name (exit $rc)"; tail -n 40 "$WORK/$name.log" | sed 's/^/      | /'
        else
            echo "ok   $name: $(grep -E '^(All tests passed|test cases)' "$WORK/$name.log" | tail -n 1)"
        fi
    done
    for s in test_report_corpus test_report_html; do
        checks=$((checks + 1))
        ST_ROOT=$ROOT ST_BUILD=$SAN timeout -k 10 900 bash "$ROOT/tests/scripts/$s.sh" >"$WORK/$s.log" 2>&1
        rc=$?
        if [ $rc -eq 77 ]; then echo "skip $s: $(tail -n 1 "$WORK/$s.log")"
        elif [ $rc -ne 0 ] || sanitizer_said "$WORK/$s.log"; then
            bad "$s (exit $rc)"; tail -n 40 "$WORK/$s.log" | sed 's/^/      | /'
        else echo "ok   $s (sanitized sesstrim-report)"; fi
    done
fi

# ---- 2. the dumps
good=() badf=()
for f in "$ROOT"/tests/corpus/good-*.bin; do good+=("$f"); done
for f in "$ROOT"/tests/corpus/bad-*.bin; do badf+=("$f"); done
PROGS=$BUILD/tests/progs
if [ -x "$PROGS/dumpgen" ]; then
    "$PROGS/dumpgen" "$ROOT/tests/corpus/base.spec" "$WORK/dumpgen-base.bin" && good+=("$WORK/dumpgen-base.bin")
    # damaged on purpose, at a spread of offsets: every one must be refused cleanly
    size=$(stat -c %s "$WORK/dumpgen-base.bin")
    for cut in 1 7 8 24 $((size / 5)) $((size / 2)) $((size - 1)); do
        "$PROGS/dumpgen" --truncate $cut "$ROOT/tests/corpus/base.spec" "$WORK/bad-cut-$cut.bin" && badf+=("$WORK/bad-cut-$cut.bin")
    done
    for off in 30 $((size / 4)) $((size * 3 / 4)); do
        "$PROGS/dumpgen" --flip $off "$ROOT/tests/corpus/base.spec" "$WORK/bad-flip-$off.bin" && badf+=("$WORK/bad-flip-$off.bin")
    done
fi
if [ -x "$PROGS/htmlgen_dumps" ]; then
    "$PROGS/htmlgen_dumps" "$WORK/html-1.bin" && good+=("$WORK/html-1.bin")
    "$PROGS/htmlgen_dumps" "$WORK/html-2.bin" scale=2.5 arenas=9 threads=12 sessions=40 sites=30 timeline=600 \
        && good+=("$WORK/html-2.bin")
fi
# Real dumps: the shim's own writer, stacks and symbols included.
if [ -x "$PROGS/stacks_paths" ] && [ -f "$BUILD/libsesstrim.so" ]; then
    LD_PRELOAD=$BUILD/libsesstrim.so SESSTRIM_STACKS=all SESSTRIM_TIMELINE_INTERVAL=5ms \
        "$PROGS/stacks_paths" "$WORK/real-stacks.bin" 1000 100 300 5000 >/dev/null 2>&1
    [ -s "$WORK/real-stacks.bin" ] && good+=("$WORK/real-stacks.bin")
    mkdir -p "$WORK/trim"
    LD_PRELOAD=$BUILD/libsesstrim.so SESSTRIM_TRIM="every=1ms" "$PROGS/trim_policy" api "$WORK/trim" >/dev/null 2>&1
    for f in "$WORK"/trim/*.dump; do [ -s "$f" ] && good+=("$f"); done
fi
for f in "$@"; do [ -s "$f" ] && good+=("$f"); done

# run NAME WANT(0|2) ARGS...: one sanitized run, judged by exit status, stderr and the log.
run() {
    local name=$1 want=$2; shift 2
    checks=$((checks + 1))
    "$REPORT" "$@" >"$WORK/out" 2>"$WORK/err"
    local rc=$?
    if sanitizer_said "$WORK/err" || [ $rc -eq 99 ]; then
        bad "$name: sanitizer report (exit $rc)"; head -n 40 "$WORK/err" | sed 's/^/      | /'
    elif [ "$want" = 0 ] && [ $rc -ne 0 ]; then
        bad "$name: exit $rc: $(head -c 300 "$WORK/err")"
    elif [ "$want" = 2 ] && { [ $rc -ne 2 ] || ! grep -q '^sesstrim-report: ' "$WORK/err" || [ "$(wc -l <"$WORK/err")" -ne 1 ]; }; then
        bad "$name: wanted exit 2 and one message line, got exit $rc: $(head -c 300 "$WORK/err")"
    fi
}

for f in "${good[@]}"; do
    n=$(basename "$f")
    run "$n text" 0 "$f"
    run "$n text --no-symbols --top 1" 0 --no-symbols --top 1 "$f"
    run "$n json" 0 --json "$f"
    run "$n html" 0 --html "$WORK/out.html" "$f"
done
[ ${#good[@]} -gt 1 ] && run "family of ${#good[@]} dumps (text)" 0 --no-symbols "${good[@]}"
for ((i = 0; i < ${#good[@]}; i++)); do
    a=${good[$i]} b=${good[$(((i + 1) % ${#good[@]}))]}
    run "diff $(basename "$a") $(basename "$b")" 0 --diff "$a" "$b"
    run "diff --json $(basename "$b") $(basename "$a")" 0 --diff "$b" "$a" --json
done
for f in "${badf[@]}"; do
    n=$(basename "$f")
    run "$n text" 2 "$f"
    run "$n json" 2 --json "$f"
    run "$n html" 2 --html "$WORK/bad.html" "$f"
    run "$n diff as old" 2 --diff "$f" "${good[0]}"
    run "$n diff --json as new" 2 --diff "${good[0]}" "$f" --json
done
echo "asan: ${#good[@]} good and ${#badf[@]} bad dumps; $checks checks, $failed failed"
[ $failed -eq 0 ]
