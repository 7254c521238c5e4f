#!/usr/bin/env bash
# test_python_install.sh: `pip install --no-build-isolation ./python` works offline into a
# fresh venv (Debian's python3-venv, python3-setuptools, python3-wheel; --no-index: nothing
# may be downloaded), copies the built shim and analyzer into the package, and the installed
# package alone (no source tree on the path) runs `python -m sesstrim run` and loads the
# pytest plugin through its entry point (--sesstrim).
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${ST_BUILD:-$ROOT/build}
PY=
for cand in ${ST_PYTHON:-} /usr/bin/python3 python3; do
    command -v "$cand" >/dev/null || continue
    "$cand" -c "import venv, setuptools, wheel, pytest" 2>/dev/null && { PY=$cand; break; }
done
[ -n "$PY" ] || { echo "skip: no python3 with venv, setuptools, wheel and pytest"; exit 77; }
[ -f "$BUILD/libsesstrim.so" ] && [ -x "$BUILD/sesstrim-report" ] || { echo "skip: not built"; exit 77; }
DIR=$(mktemp -d /tmp/sesstrim-pyinst-XXXXXX)
trap 'rm -rf "$DIR"' EXIT
unset PYTHONPATH LD_PRELOAD SESSTRIM_LIBRARY SESSTRIM_REPORT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

# pip builds in the source directory: build a copy, not the tree.
cp -r "$ROOT/python" "$DIR/src"
rm -rf "$DIR/src/build" "$DIR/src"/*.egg-info "$DIR/src/sesstrim/_bin"
"$PY" -m venv --system-site-packages "$DIR/venv" || { echo "FAIL: venv"; exit 1; }
V=$DIR/venv/bin/python
SESSTRIM_BUILD=$BUILD "$V" -m pip install -q --no-build-isolation --no-index "$DIR/src" >"$DIR/pip.log" 2>&1 \
    || { echo "FAIL: pip install"; cat "$DIR/pip.log"; exit 1; }
cd "$DIR" || exit 1
check "installed outside the source tree" \
      "\"$V\" -c 'import sesstrim, sys; sys.exit(not sesstrim.__file__.startswith(\"$DIR/venv/\"))'"
"$V" -m sesstrim where >where.out
cat where.out
check "the installed copy of the library is found" "grep -q '^library: $DIR/venv/.*/sesstrim/_bin/libsesstrim.so' where.out"
check "the installed copy of the analyzer is found" "grep -q '^report:  $DIR/venv/.*/sesstrim/_bin/sesstrim-report' where.out"
cat >app.py <<'PYEOF'
import sesstrim, sys
with sesstrim.session("installed-app"):
    keep = bytearray(123456)
print("active", sesstrim.active(), sys.argv[1:])
PYEOF
"$V" -m sesstrim run --dump "$DIR/d" app.py x y >run.out 2>run.err
cat run.out run.err
check "python -m sesstrim run from the installed package" "grep -q \"^active True \\['x', 'y'\\]\" run.out"
check "its summary names the session's leftovers" "grep -q 'installed-app *123457 bytes' run.err"
cp "$ROOT/tests/python/pytest_suite/test_leaky.py" .
"$V" -m pytest -q -p no:cacheprovider --sesstrim test_leaky.py >pt.out 2>&1
check "the pytest11 entry point loads the plugin (--sesstrim)" \
      "grep -q '1 failed, 3 passed' pt.out && grep -q 'sesstrim: what tests left allocated' pt.out"
"$V" -m pytest -q -p no:cacheprovider -p sesstrim.pytest_plugin test_leaky.py >pt1.out 2>&1
check "-p sesstrim.pytest_plugin on the installed copy: the same plugin, loaded once" \
      "grep -q '1 failed, 3 passed' pt1.out"
"$V" -m pytest -q -p no:cacheprovider test_leaky.py >pt0.out 2>&1
check "installed but not asked for: the plugin stays out of the way" \
      "grep -q '4 passed' pt0.out && ! grep -q 'sesstrim' pt0.out"
[ $fail -eq 0 ] && echo PASS
exit $fail
