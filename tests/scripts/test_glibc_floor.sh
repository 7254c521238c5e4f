#!/usr/bin/env bash
# test_glibc_floor.sh: the glibc floor stated in preload/shim.h (ST_GLIBC_FLOOR_MINOR) and in
# README.md is the true one: no symbol the built library imports needs a newer glibc, and
# at least one needs exactly that version (so the statement is not too low either).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${ST_BUILD:-$ROOT/build}
floor=$(sed -n 's/^#define ST_GLIBC_FLOOR_MINOR \([0-9]*\).*/\1/p' "$ROOT/preload/shim.h")
[ -n "$floor" ] || { echo "ST_GLIBC_FLOOR_MINOR not found"; exit 1; }
need=$(objdump -T "$B/libsesstrim.so" | grep -o 'GLIBC_2\.[0-9]*' | sed 's/GLIBC_2\.//' | sort -n | tail -n 1)
echo "libsesstrim.so needs GLIBC_2.$need; stated floor 2.$floor"
[ "$need" = "$floor" ] || { echo "FAIL: the floor in preload/shim.h should be 2.$need"; exit 1; }
grep -q "glibc 2\.$floor" "$ROOT/README.md" || { echo "FAIL: README.md does not state glibc 2.$floor"; exit 1; }
echo ok
