#!/usr/bin/env bash
# test_report_corpus.sh: every bad file in tests/corpus makes sesstrim-report exit 2 with exactly
# one line on stderr naming the problem and nothing on stdout; every good file loads (exit 0).
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${ST_BUILD:-$ROOT/build}
REPORT=$BUILD/sesstrim-report
[ -x "$REPORT" ] || { echo "skip: $REPORT not built"; exit 77; }
unset LD_PRELOAD
fail=0 checked=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# The word each refusal must contain, so a file refused for the wrong reason fails the test.
expect() {
    case $1 in
        bad-truncated*|bad-no-end) echo truncated;;
        bad-corrupted-hash) echo checksum;;
        bad-wrong-magic|bad-foreign-*) echo "not a sesstrim dump";;
        bad-other-family) echo "unknown family";;
        bad-newer-version) echo "version 2";;
        bad-version-zero) echo "version 0";;
        bad-big-endian) echo big-endian;;
        bad-record-count) echo counts;;
        bad-empty) echo empty;;
        bad-huge-record) echo "exceeds";;
        bad-fixed-over-total) echo "larger than its total";;
        bad-fixed-too-small) echo "below the minimum";;
        bad-site-frames-overflow|bad-timeline-overflow) echo "do not fit";;
        bad-two-process) echo PROCESS;;
        bad-no-process) echo "no PROCESS";;
        bad-trailing-bytes) echo "after the END";;
        *) echo "sesstrim-report: ";;
    esac
}

for f in "$ROOT"/tests/corpus/bad-*.bin; do
    name=$(basename "$f" .bin)
    for mode in text json; do
        args=("$f"); [ $mode = json ] && args=(--json "$f")
        "$REPORT" "${args[@]}" >"$tmp/out" 2>"$tmp/err"
        rc=$?
        lines=$(wc -l <"$tmp/err")
        want=$(expect "$name")
        checked=$((checked + 1))
        if [ $rc -ne 2 ] || [ "$lines" -ne 1 ] || [ -s "$tmp/out" ] || ! grep -q "^sesstrim-report: .*$want" "$tmp/err"; then
            echo "FAIL $name ($mode): exit $rc, $lines stderr lines, want '$want': $(head -c 300 "$tmp/err")"
            fail=1
        else
            echo "ok   $name ($mode): $(cat "$tmp/err")"
        fi
    done
done

for f in "$ROOT"/tests/corpus/good-*.bin; do
    name=$(basename "$f" .bin)
    "$REPORT" --no-symbols "$f" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    checked=$((checked + 1))
    if [ $rc -ne 0 ] || [ -s "$tmp/err" ] || ! grep -q "pid 4242" "$tmp/out"; then
        echo "FAIL $name: exit $rc: $(head -c 300 "$tmp/err")"; fail=1
    else
        echo "ok   $name loads"
    fi
done

# The unknown records are skipped and counted, not rejected.
"$REPORT" --no-symbols "$ROOT/tests/corpus/good-unknown-record.bin" | grep -q "2 records of unknown type skipped" \
    || { echo "FAIL good-unknown-record: skipped records not reported"; fail=1; }
# A newer writer's longer arena record is read: its known fields keep their values.
"$REPORT" --json --no-symbols "$ROOT/tests/corpus/good-newer-fields.bin" | grep -q '"live_bytes": 3145728' \
    || { echo "FAIL good-newer-fields: arena 7's live bytes not read"; fail=1; }
# A missing file and a directory are refused the same way.
for f in "$tmp/nonexistent.bin" "$tmp"; do
    "$REPORT" "$f" >/dev/null 2>"$tmp/err"; rc=$?
    [ $rc -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] || { echo "FAIL $f: exit $rc"; fail=1; }
done
# One good and one bad dump: all or nothing.
"$REPORT" "$ROOT/tests/corpus/good-base.bin" "$ROOT/tests/corpus/bad-truncated.bin" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && [ ! -s "$tmp/out" ] || { echo "FAIL mixed good+bad: exit $rc"; fail=1; }

echo "$checked corpus checks"
exit $fail
