#!/usr/bin/env bash
# test_glibc_malloc.sh: glibc's own malloc/ and fork tests (Debian's glibc source, built
# against the installed glibc by tests/glibc/build.sh) give the same verdict plain, under
# the shim, and under the shim with every service thread busy; the only tests allowed to
# differ are in tests/glibc/EXCEPTIONS, each with its reason. Skips (77) when no glibc
# source can be had (GLIBC_SRC unset, no cached copy, not root or no Debian mirror).
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
export ST_ROOT=$ROOT ST_BUILD=${ST_BUILD:-$ROOT/build}
"$ROOT/tests/glibc/build.sh" || exit $?
exec "$ROOT/tests/glibc/run.sh"
