#!/usr/bin/env bash
# test_install.sh: `make install PREFIX=... DESTDIR=...` puts the library, the analyzer and
# the public headers where asked, and a program built against the installed header works.
set -eu
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
DEST=$(mktemp -d /tmp/sesstrim-install-XXXXXX)
trap 'rm -rf "$DEST"' EXIT
make -s -C "$ROOT" install PREFIX=/opt/st DESTDIR="$DEST" >/dev/null
for f in lib/libsesstrim.so bin/sesstrim-report include/sesstrim.h include/sesstrim_dump.h; do
    [ -f "$DEST/opt/st/$f" ] || { echo "missing $f"; exit 1; }
done
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
cc -std=c11 -Wall -Werror -I"$DEST/opt/st/include" -o "$DEST/p" "$DEST/p.c"
out_plain=$("$DEST/p")
out_shim=$(LD_PRELOAD="$DEST/opt/st/lib/libsesstrim.so" SESSTRIM_LOG=off "$DEST/p")
[ "$out_plain" = "active=0 session=0" ] || { echo "without the shim: $out_plain"; exit 1; }
[ "$out_shim" = "active=1 session=1" ] || { echo "with the installed shim: $out_shim"; exit 1; }
"$DEST/opt/st/bin/sesstrim-report" --help >/dev/null
echo "installed and usable"
