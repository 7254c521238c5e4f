#!/usr/bin/env bash
# test_trim_hostile.sh: a dump and a trim never read memory they did not validate. A
# PROT_NONE reservation on a 64 MiB boundary (where glibc heaps also start) and a free
# list whose bk link points at an unmapped page (a host's use-after-free) must not crash
# the host: both runs print "survived" and exit 0.
set -u
BUILD=${ST_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
PROG=$BUILD/tests/progs/trim_hostile
[ -x "$PROG" ] || { echo "missing $PROG"; exit 1; }
DIR=$(mktemp -d /tmp/sesstrim-hostile-XXXXXX)
trap 'rm -rf "$DIR"' EXIT
fail=0
check() {  # label, mode, policy
    local out rc
    out=$(timeout -k 5 60 env LD_PRELOAD="$BUILD/libsesstrim.so" SESSTRIM_LOG=stderr SESSTRIM_TRIM="$3" \
          "$PROG" "$2" "$DIR" 2>"$DIR/$1.err")
    rc=$?
    if [ $rc -ne 0 ] || ! grep -q '^survived$' <<<"$out"; then
        echo "FAIL $1: exit $rc"; echo "$out"; cat "$DIR/$1.err"; fail=1
    else
        echo "ok   $1"
    fi
}
check protnone-dump protnone ""
# the free-resident measurement walks the broken bin every tick, then an API trim does
check corrupt-bin corrupt "free-resident>1K;check=20ms"
grep -q "fails validation" "$DIR/corrupt-bin.err" || { echo "FAIL corrupt-bin: the bad link was not reported"; cat "$DIR/corrupt-bin.err"; fail=1; }
exit $fail
