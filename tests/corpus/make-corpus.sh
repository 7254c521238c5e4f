#!/usr/bin/env bash
# make-corpus.sh: regenerate the dump corpus (bad-*: must be refused with exit 2 and one line;
# good-*: must load) with build/tests/progs/dumpgen. The files are checked in; run after a format change.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GEN=${ST_BUILD:-$ROOT/build}/tests/progs/dumpgen
OUT=$ROOT/tests/corpus
[ -x "$GEN" ] || make -C "$ROOT" --no-print-directory "${GEN#$ROOT/}"
base="$OUT/base.spec"

gen() { "$GEN" "$@"; }

gen "$base" "$OUT/good-base.bin"
size=$(stat -c %s "$OUT/good-base.bin")
gen --truncate $((size / 2)) "$base" "$OUT/bad-truncated.bin"
gen --truncate $((size - 8)) "$base" "$OUT/bad-truncated-end.bin"
gen --truncate 13 "$base" "$OUT/bad-truncated-header.bin"
gen --no-end "$base" "$OUT/bad-no-end.bin"
gen --flip $((size / 3)) "$base" "$OUT/bad-corrupted-hash.bin"
gen --magic "GIF89a" "$base" "$OUT/bad-wrong-magic.bin"
gen --magic $'SESSTRM\x02' "$base" "$OUT/bad-other-family.bin"
gen --version 2 "$base" "$OUT/bad-newer-version.bin"
gen --version 0 "$base" "$OUT/bad-version-zero.bin"
gen --endian 04030201 "$base" "$OUT/bad-big-endian.bin"
gen --bad-count "$base" "$OUT/bad-record-count.bin"
: >"$OUT/bad-empty.bin"
printf 'SESSTRM' >"$OUT/bad-truncated-magic.bin"
# A foreign file: the first bytes of an ELF header and some text.
printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000not a dump at all\n' >"$OUT/bad-foreign-elf.bin"
printf 'pid,rss\n1,2\n' >"$OUT/bad-foreign-csv.bin"
{ cat "$base"; echo "arena id=9 claim_total=0x10000000"; } | gen - "$OUT/bad-huge-record.bin"
{ cat "$base"; echo "arena id=9 fixed=128 claim_total=64"; } | gen - "$OUT/bad-fixed-over-total.bin"
{ cat "$base"; echo "arena id=9 fixed=16"; } | gen - "$OUT/bad-fixed-too-small.bin"
{ cat "$base"; echo "site id=9 frames=1,2 nframes=100000"; } | gen - "$OUT/bad-site-frames-overflow.bin"
{ cat "$base"; echo "timeline time_ns=5 resident=1 narenas=4000000000"; } | gen - "$OUT/bad-timeline-overflow.bin"
{ cat "$base"; echo "process pid=2"; } | gen - "$OUT/bad-two-process.bin"
grep -v '^process' "$base" | gen - "$OUT/bad-no-process.bin"
{ cat "$OUT/good-base.bin"; printf 'trailing'; } >"$OUT/bad-trailing-bytes.bin"
# Good files a newer writer could produce: unknown record types, longer fixed parts.
{ cat "$base"; echo "record type=999 fixed=8 total=40"; echo "record type=300 fixed=0 total=0"; } \
    | gen - "$OUT/good-unknown-record.bin"
{ cat "$base"; echo "arena id=7 kind=1 live_bytes=3M fixed=200"; echo "thread idx=9 name=newer fixed=400"; } \
    | gen - "$OUT/good-newer-fields.bin"
# Names that are not UTF-8 (a session, the exe, a thread, a mapping) and the settings record:
# every JSON output must stay valid UTF-8 over them.
{ cat "$base"; printf 'session id=77 name="caf\xc3\xa9 \xff\xfe\x80 end" flags=1 leftover_bytes=1M\n'
  printf 'thread idx=5 name="w\xe9rker\x01"\n'
  printf 'mapping start=0x1000 end=0x2000 rss=4K perms=5 name="/opt/\xff\xfebin"\n'
  printf 'config trim_idle_ns=2000000000 env="SESSTRIM_TRIM=idle=2s;SESSTRIM_DUMP=/tmp/\xffd"\n'; } \
    | gen - "$OUT/good-nonutf8.bin"
echo "corpus written to $OUT"
