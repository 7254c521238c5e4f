#!/usr/bin/env bash
# test_report_json_valid.sh: every JSON the analyzer prints is valid JSON in valid UTF-8, read
# by Python's json module after a strict UTF-8 decode: --json of each good corpus dump, of the
# whole corpus as one family, and --diff --json of every ordered pair (the corpus includes
# names that are not UTF-8: good-nonutf8.bin).
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${ST_BUILD:-$ROOT/build}
REPORT=$BUILD/sesstrim-report
[ -x "$REPORT" ] || { echo "skip: $REPORT not built"; exit 77; }
command -v python3 >/dev/null || { echo "skip: python3 not found"; exit 77; }
unset LD_PRELOAD
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0 checked=0

validate() {  # what, file
    if ! python3 -c '
import json, sys
data = open(sys.argv[1], "rb").read()
json.loads(data.decode("utf-8", errors="strict"))
' "$2" 2>"$tmp/err"; then
        echo "FAIL: $1: $(tail -n 1 "$tmp/err")"
        fail=1
    fi
    checked=$((checked + 1))
}

goods=("$ROOT"/tests/corpus/good-*.bin)
[ -e "$ROOT/tests/corpus/good-nonutf8.bin" ] || { echo "FAIL: good-nonutf8.bin missing"; exit 1; }
for f in "${goods[@]}"; do
    "$REPORT" --json --no-symbols "$f" >"$tmp/out" || { echo "FAIL: --json $f exited $?"; fail=1; }
    validate "--json $(basename "$f")" "$tmp/out"
    for g in "${goods[@]}"; do
        "$REPORT" --diff --json --no-symbols "$f" "$g" >"$tmp/out" || { echo "FAIL: --diff --json exited $?"; fail=1; }
        validate "--diff --json $(basename "$f") $(basename "$g")" "$tmp/out"
    done
done
"$REPORT" --json --no-symbols "${goods[@]}" >"$tmp/out" || { echo "FAIL: --json of the family exited $?"; fail=1; }
validate "--json of all good dumps" "$tmp/out"
# The non-UTF-8 bytes became U+FFFD (written \ufffd) in both outputs, not dropped silently.
"$REPORT" --json --no-symbols "$ROOT/tests/corpus/good-nonutf8.bin" | grep -qF $'caf\xc3\xa9 \\ufffd' \
    || { echo "FAIL: --json lost the session name"; fail=1; }
"$REPORT" --diff --json --no-symbols "$ROOT/tests/corpus/good-base.bin" "$ROOT/tests/corpus/good-nonutf8.bin" \
    | grep -qF $'caf\xc3\xa9 \\ufffd' || { echo "FAIL: --diff --json lost the session name"; fail=1; }
echo "$checked JSON outputs checked"
[ $fail -eq 0 ] && echo PASS
exit $fail
