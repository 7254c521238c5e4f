#!/usr/bin/env bash
# build-libunwind.sh OUT.a: a private, position-independent copy of libunwind for the preload.
#
# Why not link Debian's libunwind.so.8: (1) loaded into every host, it puts its _Unwind_*
# symbols in the global scope ahead of libgcc_s, so a C program's pthread_cancel inside
# fputs unwound through libunwind's _Unwind_* and skipped glibc's cleanups (the stream stayed
# locked); (2) its local unwinder opens a pipe at start for memory validation (fds 3 and 4 in
# every process: the program's first open() returned 5) and writes into whatever those fd
# numbers are later, even after the program closed them and opened its own files.
# Debian ships libunwind.a, but not built with -fPIC, so it cannot go into a shared object.
# So: build the same Debian source (apt-get source libunwind, the version libunwind-dev has)
# as a PIC static archive, local unwinding only, then rename the few libc calls its memory
# validation makes (pipe2, read, write, close, syscall) to st_unw_* functions the shim
# defines (preload/unwind_io.c): no fd is ever opened for validation, and the whole copy is
# hidden inside libsesstrim.so (-Wl,--exclude-libs,ALL).
set -eu
out=$(realpath -m "$1")
work=$(dirname "$out")/libunwind-build
cd "$(dirname "$0")/.."
mkdir -p "$work"
src=${ST_LIBUNWIND_SRC:-}
if [ -z "$src" ]; then
    src=$(ls -d "$work"/libunwind-*/ 2>/dev/null | head -n 1 || true)
fi
if [ -z "$src" ] || [ ! -x "$src/configure" ]; then
    scripts/enable-deb-src.sh
    (cd "$work" && apt-get source -qq libunwind >/dev/null 2>"$work/apt-source.log") || {
        echo "build-libunwind: 'apt-get source libunwind' failed (see $work/apt-source.log)" >&2; exit 1; }
    src=$(ls -d "$work"/libunwind-*/ | head -n 1)
fi
src=${src%/}
bld=$work/obj
rm -rf "$bld" && mkdir -p "$bld"
(cd "$bld" && "$src/configure" -q --enable-static --disable-shared --with-pic \
    --disable-minidebuginfo --disable-zlibdebuginfo --disable-coredump --disable-ptrace \
    --disable-setjmp --disable-documentation --disable-tests --disable-cxx-exceptions \
    CFLAGS="-O2 -g0 -fvisibility=hidden" >"$work/configure.log" 2>&1) || {
    echo "build-libunwind: configure failed (see $work/configure.log)" >&2; exit 1; }
make -s -j"$(nproc)" -C "$bld/src" libunwind.la >"$work/make.log" 2>&1 || {
    echo "build-libunwind: make failed (see $work/make.log)" >&2; exit 1; }
objcopy --redefine-sym pipe2=st_unw_pipe2 --redefine-sym read=st_unw_read \
        --redefine-sym write=st_unw_write --redefine-sym close=st_unw_close \
        --redefine-sym syscall=st_unw_syscall "$bld/src/.libs/libunwind.a" "$out.tmp"
mv "$out.tmp" "$out"
