#!/usr/bin/env bash
# run.sh [--quick]: `make sanitize`. The TSan harness (run-tsan.sh), then the ASan+UBSan
# analyzer (run-asan.sh) over the corpus plus the dumps the TSan runs wrote, then one summary.
# Exit 0 only when both parts are clean. --quick: the fast subset `make test` runs
# (tests/scripts/test_sanitize.sh).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${ST_BUILD:-$ROOT/build}
quick=()
[ "${1:-}" = --quick ] && quick=(--quick)
LOG=$BUILD/sanitize/logs
mkdir -p "$LOG"
RUNS=$BUILD/sanitize/tsan/runs

start=$(date +%s)
"$ROOT/tests/sanitize/run-tsan.sh" "${quick[@]}" "$RUNS" 2>&1 | tee "$LOG/tsan.log"
tsan_rc=${PIPESTATUS[0]}
dumps=()
for f in "$RUNS"/*/final.bin; do [ -s "$f" ] && dumps+=("$f"); done
"$ROOT/tests/sanitize/run-asan.sh" "${quick[@]}" "${dumps[@]}" 2>&1 | tee "$LOG/asan.log"
asan_rc=${PIPESTATUS[0]}

verdict() { case $1 in 0) echo PASS;; 77) echo "SKIP (not built)";; *) echo FAIL;; esac; }
echo
echo "==== make sanitize summary ($(($(date +%s) - start)) s; logs in $LOG)"
echo "TSan  shim harness   : $(verdict $tsan_rc)  $(tail -n 1 "$LOG/tsan.log")"
echo "ASan+UBSan analyzer  : $(verdict $asan_rc)  $(tail -n 1 "$LOG/asan.log")"
if [ $tsan_rc -eq 0 ] && [ $asan_rc -eq 0 ]; then echo "sanitize: PASS"; exit 0; fi
if [ $tsan_rc -eq 77 ] && [ $asan_rc -eq 77 ]; then echo "sanitize: SKIP"; exit 77; fi
echo "sanitize: FAIL"
exit 1
