#!/usr/bin/env bash
# test_python_pytest.sh: the pytest plugin on tests/python/pytest_suite: the test that leaks
# past its marker limit fails with the bytes it left and the sites, the one under its marker
# limit and the clean one pass, --sesstrim-limit fails the small leak when set low, and the
# summary lists the tests by what they left. The plugin re-executes pytest under the shim
# (nothing preloaded here). Without the plugin the same suite passes.
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${ST_BUILD:-$ROOT/build}
PY=
for cand in ${ST_PYTHON:-} python3 /usr/bin/python3; do
    command -v "$cand" >/dev/null && "$cand" -c "import pytest" 2>/dev/null && { PY=$cand; break; }
done
[ -n "$PY" ] || { echo "skip: no python3 with pytest"; exit 77; }
[ -f "$BUILD/libsesstrim.so" ] && [ -x "$BUILD/sesstrim-report" ] || { echo "skip: not built"; exit 77; }
DIR=$(mktemp -d /tmp/sesstrim-pytest-XXXXXX)
trap 'rm -rf "$DIR"' EXIT
cp "$ROOT"/tests/python/pytest_suite/test_leaky.py "$DIR"/
cd "$DIR" || exit 1
export PYTHONPATH=$ROOT/python SESSTRIM_LIBRARY=$BUILD/libsesstrim.so SESSTRIM_REPORT=$BUILD/sesstrim-report
unset LD_PRELOAD
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

env -u PYTHONMALLOC "$PY" -m pytest -q -p no:cacheprovider test_leaky.py >plain.out 2>&1
check "without the plugin the suite passes" "grep -q '4 passed' plain.out"

# SESSTRIM_STACKS=all: every allocation has a site, so the failure names the leaking line.
SESSTRIM_STACKS=all "$PY" -m pytest -q -p no:cacheprovider -p sesstrim.pytest_plugin test_leaky.py >one.out 2>&1
cat one.out
check "one failure, three passes" "grep -q '1 failed, 3 passed' one.out"
check "the failing test is the one over its marker limit" \
      "grep -q 'FAILED test_leaky.py::test_leaks_over_marker_limit' one.out"
left=$(sed -n 's/^sesstrim: the test left \([0-9]*\) bytes.*over its limit of 1048576 bytes$/\1/p' one.out)
# three bytearrays of 1 MiB are three mallocs of 1 MiB + 1; the list that holds them grows too
check "it left at least 3 x (1 MiB + 1) bytes ($left)" "[ -n '$left' ] && [ '$left' -ge 3145731 ]"
check "the failure shows the sites of what it left" "grep -q 'bytes in 3 blocks allocated at:' one.out"
LINE=$(grep -n '# the leaking line' test_leaky.py | cut -d: -f1)
check "... with the Python line that allocated them (test_leaky.py:$LINE, the first frame)" \
      "grep -A1 'bytes in 3 blocks allocated at:' one.out | grep -q 'leak_here (.*test_leaky.py:$LINE)'"
check "the summary lists the tests by what they left" \
      "grep -A1 'sesstrim: what tests left allocated' one.out | grep -q 'test_leaks_over_marker_limit  OVER LIMIT'"
check "the clean test left less than one of its buffers" \
      "awk '/test_clean/ && \$1 < 200000 {ok=1} END {exit !ok}' one.out || ! grep -q test_clean one.out"

"$PY" -m pytest -q -p no:cacheprovider -p sesstrim.pytest_plugin --sesstrim-limit 40K test_leaky.py >two.out 2>&1
check "--sesstrim-limit 40K also fails the 50 KB leak, the marker still overrides it" \
      "grep -q '2 failed, 2 passed' two.out && grep -q 'FAILED test_leaky.py::test_leaks_small' two.out"
[ $fail -eq 0 ] && echo PASS
exit $fail
