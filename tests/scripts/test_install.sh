#!/usr/bin/env bash
# test_install.sh: `make install PREFIX=... DESTDIR=...` puts the library, both commands, the
# public headers, the pkg-config file and the man pages where a distribution would; a
# program built with the installed pkg-config flags works with and without the installed
# shim; the installed `sesstrim run` finds the installed library (../lib) with nothing set;
# the man pages render without warnings; `make uninstall` removes every file.
set -eu
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
DEST=$(mktemp -d /tmp/sesstrim-install-XXXXXX)
trap 'rm -rf "$DEST"' EXIT
make -s -C "$ROOT" install PREFIX=/opt/st DESTDIR="$DEST" >/dev/null
for f in lib/libsesstrim.so bin/sesstrim-report bin/sesstrim include/sesstrim.h include/sesstrim_dump.h \
         lib/pkgconfig/sesstrim.pc share/man/man1/sesstrim.1 share/man/man1/sesstrim-report.1 share/man/man7/sesstrim.7; do
    [ -f "$DEST/opt/st/$f" ] || { echo "missing $f"; exit 1; }
done
export PKG_CONFIG_PATH=$DEST/opt/st/lib/pkgconfig
[ "$(pkg-config --variable=preload sesstrim)" = /opt/st/lib/libsesstrim.so ] || { echo "pc preload: $(pkg-config --variable=preload sesstrim)"; exit 1; }
[ "$(pkg-config --cflags sesstrim | xargs)" = "-I/opt/st/include" ] || { echo "pc cflags: $(pkg-config --cflags sesstrim)"; exit 1; }
cat >"$DEST/p.c" <<'C'
#include <sesstrim.h>
#include <stdio.h>
#include <stdlib.h>
int main(void) {
    sesstrim_session_t s = sesstrim_session_begin("installed");
    void *p = malloc(1000);
    printf("active=%d session=%d\n", sesstrim_active(), s != 0);
    free(p);
    sesstrim_session_end(s);
    return 0;
}
C
# The .pc names the final prefix; the files are still under DESTDIR, so point -I there.
cflags=$(pkg-config --cflags sesstrim | sed "s|-I|-I$DEST|")
cc -std=c11 -Wall -Werror $cflags -o "$DEST/p" "$DEST/p.c"
out_plain=$("$DEST/p")
out_shim=$(LD_PRELOAD="$DEST/opt/st/lib/libsesstrim.so" SESSTRIM_LOG=off "$DEST/p")
[ "$out_plain" = "active=0 session=0" ] || { echo "without the shim: $out_plain"; exit 1; }
[ "$out_shim" = "active=1 session=1" ] || { echo "with the installed shim: $out_shim"; exit 1; }
"$DEST/opt/st/bin/sesstrim-report" --help >/dev/null
# The installed command finds the installed library beside it (../lib) and the analyzer.
out_run=$(env -u SESSTRIM_LIB "$DEST/opt/st/bin/sesstrim" run --no-summary --dump "$DEST/r-%p.bin" -- "$DEST/p" 2>&1)
printf '%s\n' "$out_run" | grep -q "active=1 session=1" || { echo "installed sesstrim run: $out_run"; exit 1; }
ls "$DEST"/r-*.bin >/dev/null || { echo "no dump from the installed run"; exit 1; }
"$DEST/opt/st/bin/sesstrim" report "$DEST"/r-*.bin | head -1 | grep -q "sesstrim report" || { echo "sesstrim report"; exit 1; }
for m in man1/sesstrim.1 man1/sesstrim-report.1 man7/sesstrim.7; do
    w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$DEST/opt/st/share/man/$m" 2>&1 >/dev/null)
    [ -z "$w" ] || { echo "man $m warns: $w"; exit 1; }
done
make -s -C "$ROOT" uninstall PREFIX=/opt/st DESTDIR="$DEST" >/dev/null
left=$(find "$DEST/opt/st" -type f)
[ -z "$left" ] || { echo "left after uninstall: $left"; exit 1; }
echo "installed, usable through pkg-config, sesstrim run finds ../lib, man pages clean, uninstalled"
