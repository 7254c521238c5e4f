#!/usr/bin/env bash
# test_cli_run.sh: `sesstrim run` on the decode_pool sample (dump found, summary printed,
# trim policy applied); by default exec'd helpers are not traced (one dump for a shell that
# runs three programs, and the helpers' environment no longer preloads the shim), with
# --follow-children they are; a wrapper that execs the real program keeps it traced; the
# exit status (and death by signal) is the program's; `sesstrim report` is the analyzer.
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
B=${ST_BUILD:-$ROOT/build}
S=$B/sesstrim
W=$(mktemp -d /tmp/st-run-XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$S" run --trim idle=1s --dump "$W/pool-%p.bin" -- "$B/samples/decode_pool/decode_pool" >"$W/out" 2>"$W/err" || fail "run exit $?"
n=$(ls "$W"/pool-*.bin 2>/dev/null | wc -l)
[ "$n" = 1 ] || fail "$n dumps for decode_pool: $(ls -la "$W"; cat "$W/err")"
grep -q "1 dump matching $W/pool-\*.bin" "$W/err" || fail "where the dumps went not said: $(cat "$W/err")"
grep -q "^Summary: RSS" "$W/out" || fail "no summary printed"
grep -q "^Arenas:" "$W/out" && fail "summary is the whole report"
# The policy reached the program: its trims are in the dump.
trims=$("$S" report --json "$W"/pool-*.bin | python3 -c "import json,sys; d=json.load(sys.stdin); print(len(d.get('trims',{}).get('events',d.get('trims',[])) if isinstance(d.get('trims'),dict) else d.get('trims',[])))")
[ "$trims" -ge 1 ] || fail "no trim recorded with --trim idle=1s"
idle=$(sed -n 's/.*idle_rss_kib=\([0-9]*\).*/\1/p' "$W/out"); peak=$(sed -n 's/.*peak_rss_kib=\([0-9]*\).*/\1/p' "$W/out")
[ "$idle" -lt $((peak / 2)) ] || fail "idle rss $idle KiB not trimmed (peak $peak)"
echo "ok run decode_pool: 1 dump, summary, $trims trim(s), idle rss $idle KiB of peak $peak"

# Helpers: a shell running three programs, default = only the shell is traced.
"$S" run --no-summary --dump "$W/sh-%p.bin" -- sh -c '/bin/true; /bin/true; ls / >/dev/null; sh -c "echo preload=\$LD_PRELOAD"' >"$W/o2" 2>&1 || fail "run sh"
n=$(ls "$W"/sh-*.bin | wc -l)
[ "$n" = 1 ] || fail "main-only wrote $n dumps"
grep -q "^preload=$" "$W/o2" || fail "an exec'd helper still preloads the shim: $(grep preload= "$W/o2")"
"$S" run --no-summary --follow-children --dump "$W/fc-%p.bin" -- sh -c '/bin/true; /bin/true; ls / >/dev/null' >/dev/null 2>&1
n=$(ls "$W"/fc-*.bin | wc -l)
[ "$n" -ge 4 ] || fail "--follow-children wrote $n dumps (want the shell and its 3 helpers)"
echo "ok main-only: 1 dump, helpers unpreloaded; --follow-children: $n dumps"

# A wrapper that execs the real program (same pid) keeps it traced.
"$S" run --no-summary --dump "$W/env-%p.bin" -- env FOO=1 "$B/tests/progs/core_idle" 100000 "$W/nostop" >/dev/null 2>&1 &
sleep 0.01; touch "$W/nostop"; wait $! || true
f=$(ls "$W"/env-*.bin 2>/dev/null | head -1)
[ -n "$f" ] || fail "no dump for env -> core_idle"
"$S" report "$f" | head -1 | grep -q core_idle || fail "the dump is not core_idle's: $("$S" report "$f" | head -1)"
echo "ok exec'd by the launched process itself (env): traced"

# Exit status.
"$S" run --no-summary --dump "$W/x-%p.bin" -- sh -c 'exit 7' 2>/dev/null; [ $? = 7 ] || fail "exit status not passed"
"$S" run --no-summary --dump "$W/k-%p.bin" -- sh -c 'kill -KILL $$' 2>/dev/null; [ $? = 137 ] || fail "death by signal not 128+9"
echo "ok exit statuses"
