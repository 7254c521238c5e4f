#!/usr/bin/env bash
# build.sh: build glibc's own malloc/ tests (the dynamically linked ones) against the
# INSTALLED glibc, without building glibc. Output: $OUT/bin/<test> and $OUT/tests.list.
#
# Source: $GLIBC_SRC if set (an unpacked glibc source tree of the installed version),
# else $BUILD/glibc-src/glibc-<upstream version>/ fetched with `apt-get source glibc`
# (deb-src lines for Debian are added when missing: needs root and the Debian mirror).
# Exit 77 when no source can be had (no root, no network): the caller skips.
#
# How: glibc's tests include their skeleton (support/test-driver.c) and link against
# libsupport. We compile the real support/ sources with glibc's "testsuite" view
# (_ISOMAC: internal wrapper headers reduced to the public ones) and the installed
# headers first on the include path; glibc's include/ and sysdeps/ directories only come
# after (-idirafter), so they can provide internal-only headers (array_length.h,
# libc-diag.h, ...) but never shadow an installed header. Objects that still need
# glibc's generated config are skipped; the tests that need them fail to link and are
# listed as not built.
#
# Cached: a stamp keyed by this script, the source version, the installed libc6 version
# and the compiler; a rebuild happens only when one of them changes. flock makes
# concurrent runs safe (the second waits and reuses the first one's build).
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${ST_BUILD:-$ROOT/build}
OUT=${GLIBC_TESTS_OUT:-$BUILD/glibc-tests}
HERE=$ROOT/tests/glibc
JOBS=${GLIBC_TESTS_JOBS:-$(nproc)}
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9

LIBC_VERSION=$(dpkg-query -W -f='${Version}' libc6 2>/dev/null || ldd --version | head -1)
UPSTREAM=$(ldd --version | head -1 | sed 's/.* //')       # e.g. 2.36

# --- 1. the source ------------------------------------------------------------------------
have_deb_src() {   # -q: a match wins even when /etc/apt/sources.list does not exist
    grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/
}
add_deb_src() {   # derive deb-src entries from the Debian deb entries already configured
    local f=/etc/apt/sources.list.d/sesstrim-deb-src.sources
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        sed -E 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$f"
    elif [ -f /etc/apt/sources.list ]; then
        grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' \
            >/etc/apt/sources.list.d/sesstrim-deb-src.list
    else
        return 1
    fi
}
fetch_source() {
    local cache=$BUILD/glibc-src
    local dir
    dir=$(ls -d "$cache"/glibc-"$UPSTREAM"/ 2>/dev/null | head -1)
    if [ -n "$dir" ] && [ -f "$dir/malloc/malloc.c" ]; then echo "${dir%/}"; return 0; fi
    if [ "$(id -u)" != 0 ] && ! have_deb_src; then
        echo "no glibc source: set GLIBC_SRC, or run as root to apt-get source glibc" >&2; return 1
    fi
    command -v dpkg-source >/dev/null || { echo "dpkg-source missing (dpkg-dev)" >&2; return 1; }
    if ! have_deb_src; then
        add_deb_src || { echo "cannot add deb-src lines" >&2; return 1; }
        apt-get update -qq >&2 || { echo "apt-get update failed" >&2; return 1; }
    fi
    mkdir -p "$cache"
    # The installed version first (the tests must match the library they run against);
    # the source index may be missing or stale: update once and retry.
    get() { (cd "$cache" && apt-get source -qq "$@") >&2; }
    get "glibc=$LIBC_VERSION" || { apt-get update -qq >&2 && get "glibc=$LIBC_VERSION"; } || get glibc \
        || { echo "apt-get source glibc failed" >&2; return 1; }
    dir=$(ls -d "$cache"/glibc-*/ 2>/dev/null | head -1)
    [ -n "$dir" ] && [ -f "$dir/malloc/malloc.c" ] || { echo "apt-get source left no tree" >&2; return 1; }
    # Keep what the build reads (about 75 of 217 MB); the .dsc stays for the version.
    ( cd "$dir" && for e in * .[!.]*; do
          case $e in malloc|support|include|sysdeps|test-skeleton.c|version.h) ;; *) rm -rf "$e";; esac
      done )
    rm -f "$cache"/*.tar.*
    echo "${dir%/}"
}
if [ -n "${GLIBC_SRC:-}" ]; then
    G=$GLIBC_SRC
    [ -f "$G/malloc/malloc.c" ] || { echo "GLIBC_SRC=$G is not a glibc source tree"; exit 77; }
else
    G=$(fetch_source) || exit 77
fi
SRC_VERSION=$(sed -n 's/^Version: //p' "$G"/../glibc_*.dsc 2>/dev/null | head -1)
[ -n "$SRC_VERSION" ] || SRC_VERSION=$(grep -ho '"[0-9.]*"' "$G/version.h" | head -1)

KEY=$( { cat "$HERE/build.sh" "$HERE/tests.list" "$HERE/config.h"; echo "$G $SRC_VERSION $LIBC_VERSION"; ${CC:-cc} --version | head -1; } | sha256sum | cut -c1-16)
if [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$KEY" ]; then
    echo "glibc tests: cached build in $OUT (source $G)"
    exit 0
fi
rm -rf "$OUT/obj" "$OUT/bin" "$OUT/inc" "$OUT/stamp" "$OUT/build.log"
mkdir -p "$OUT/obj/support" "$OUT/bin" "$OUT/inc"
# <support/...> resolves through a directory holding only this link, so the top of the
# glibc tree (whose bits/ would shadow the installed bits/) is never on the include path.
ln -sfn "$G/support" "$OUT/inc/support"
ln -sfn "$G/malloc" "$OUT/inc/malloc"
# config.h: what glibc's generated config.h gives the testsuite view; passed with -include
# as glibc passes libc-symbols.h (which includes config.h).
cp "$HERE/config.h" "$OUT/inc/config.h"

CC=${CC:-cc}
SYSDEPS="unix/sysv/linux/x86_64/64 unix/sysv/linux/x86_64 unix/sysv/linux/x86 x86/nptl
         unix/sysv/linux/wordsize-64 x86_64/nptl unix/sysv/linux nptl pthread gnu unix/inet
         unix/sysv unix/x86_64 unix posix x86_64/64 x86_64 x86 wordsize-64 generic"
# The flags go to gcc as response files (@file), one flag a line, so the parallel
# workers below need no shell quoting.
{
    printf '%s\n' -std=gnu11 -O2 -g -fno-builtin -D_GNU_SOURCE -DMODULE_NAME=testsuite -D_ISOMAC=1 \
        -include "$OUT/inc/config.h" "-I$OUT/inc" -idirafter "$G/include" -idirafter "$G/support"
    for s in $SYSDEPS; do printf '%s\n' -idirafter "$G/sysdeps/$s"; done
} >"$OUT/cflags.rsp"
# support_paths.c wants the build tree's paths, which the malloc tests never use.
{
    for d in SRCDIR_PATH=/nonexistent OBJDIR_PATH=/nonexistent OBJDIR_ELF_LDSO_PATH=/nonexistent \
             INSTDIR_PATH=/usr LIBDIR_PATH=/usr/lib BINDIR_PATH=/usr/bin SBINDIR_PATH=/usr/sbin \
             SLIBDIR_PATH=/lib ROOTSBINDIR_PATH=/sbin COMPLOCALEDIR_PATH=/usr/lib/locale; do
        printf -- '-D%s=\\"%s\\"\n' "${d%%=*}" "${d#*=}"
    done
} >"$OUT/support.rsp"
export CC OUT G

# --- 2. libsupport.a from the real support/ sources ---------------------------------------
routines=$(sed -n '/^libsupport-routines = /,/^$/p' "$G/support/Makefile" | sed '1d' | tr -d '\\' | xargs)
compile_support() {
    # per-file flags of support/Makefile (CFLAGS-x.c += ...: 64-bit time and offsets,
    # excess precision), the ones that need no make expansion
    local extra
    extra=$(sed -n "s/^CFLAGS-$1\\.c *+*= *\\([^\`\$\\\\]*\\)$/\\1/p" "$G/support/Makefile")
    # shellcheck disable=SC2086
    "$CC" "@$OUT/cflags.rsp" "@$OUT/support.rsp" $extra -c "$G/support/$1.c" -o "$OUT/obj/support/$1.o" \
        2>"$OUT/obj/support/$1.err" && rm -f "$OUT/obj/support/$1.err" && return 0
    echo "support/$1.c: not built (see $OUT/obj/support/$1.err)"
}
export -f compile_support
echo "glibc tests: building libsupport from $G ($JOBS jobs)"
printf '%s\n' $routines | xargs -P "$JOBS" -I{} bash -c 'compile_support {}' >>"$OUT/build.log"
rm -f "$OUT/libsupport.a"
ar rcs "$OUT/libsupport.a" "$OUT"/obj/support/*.o

# --- 3. the tests ---------------------------------------------------------------------------
# tests.list: NAME [extra link inputs...]; see that file for what is in and what is out.
build_test() {
    local name=$1; shift
    local extra=()
    for x in "$@"; do
        case $x in
            aux:*) extra+=("$OUT/obj/${x#aux:}.o");;
            *) extra+=("$x");;
        esac
    done
    # -DTEST_NO_MALLOPT as malloc/Makefile: the skeleton must not change malloc's settings.
    "$CC" "@$OUT/cflags.rsp" -DTEST_NO_MALLOPT -o "$OUT/bin/$name" "$G/malloc/$name.c" "${extra[@]}" \
        "$OUT/libsupport.a" -lpthread -ldl -lrt 2>"$OUT/bin/$name.err" \
        && rm -f "$OUT/bin/$name.err" && return 0
    echo "malloc/$name.c: not built (see $OUT/bin/$name.err)"
    return 1
}
export -f build_test
# helper objects first (the interposition tests link an allocator of their own)
for aux in tst-interpose-aux-nothread tst-interpose-aux-thread; do
    "$CC" "@$OUT/cflags.rsp" -c "$G/malloc/$aux.c" -o "$OUT/obj/$aux.o" 2>>"$OUT/build.log" || echo "malloc/$aux.c: not built"
done
grep -vE '^\s*(#|$)' "$HERE/tests.list" | sed 's/[[:space:]]*#.*//' | cut -d'|' -f1 | sed 's/[[:space:]]*$//' \
    | xargs -P "$JOBS" -L1 bash -c 'build_test "$@"' _ >>"$OUT/build.log"
cat "$OUT/build.log"
ls "$OUT/bin" | grep -v '\.err$' >"$OUT/built.list"
echo "glibc tests: $(wc -l <"$OUT/built.list") built in $OUT/bin"
echo "$KEY" >"$OUT/stamp"
