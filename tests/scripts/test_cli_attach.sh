#!/usr/bin/env bash
# test_cli_attach.sh: `sesstrim attach PID trim` on the decode pool started WITHOUT the shim
# lowers its idle RSS at least as far as malloc_trim(0) alone does (the same pool with
# --trim-at-idle, run just before), and the thread-arena tops it releases are more than
# malloc_trim(0) leaves; `attach stats` lists the arenas and says what it cannot see.
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
B=${ST_BUILD:-$ROOT/build}
POOL=$B/samples/decode_pool/decode_pool
command -v gdb >/dev/null || { echo "gdb not installed"; exit 77; }
W=$(mktemp -d /tmp/st-attach-XXXXXX)
trap 'kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT
pid=
fail() { echo "FAIL: $*"; exit 1; }
rss_kib() { awk '/^VmRSS/ {print $2}' /proc/$1/status; }

# Can this user ptrace its own processes here?
sleep 30 & s=$!
gdb -nx -batch -p $s >/dev/null 2>&1 || { kill $s; echo "gdb cannot attach here (ptrace_scope?)"; exit 77; }
kill $s; wait $s 2>/dev/null

# The reference: what malloc_trim(0) alone leaves at idle.
ref=$("$POOL" --idle-ms 1200 --trim-at-idle | sed -n 's/.*idle_rss_kib=\([0-9]*\).*/\1/p')
[ -n "$ref" ] || fail "reference run"

"$POOL" --idle-ms 60000 >"$W/out" 2>&1 &
pid=$!
for _ in $(seq 1 300); do grep -q "idle   0.5" "$W/out" && break; sleep 0.1; done
grep -q "idle   0.5" "$W/out" || fail "pool did not reach idle"
before=$(rss_kib $pid)

"$B/sesstrim" attach $pid stats >"$W/stats" || fail "attach stats"
grep -q "glibc arenas: 16" "$W/stats" || fail "arenas not listed: $(head -3 "$W/stats")"
grep -q "not seen without the shim: live bytes" "$W/stats" || fail "limits not stated"
[ "$(rss_kib $pid)" -ge $((before * 9 / 10)) ] || fail "stats changed the RSS"

"$B/sesstrim" attach $pid trim >"$W/trim" || fail "attach trim: $(cat "$W/trim")"
after=$(rss_kib $pid)
kill -0 $pid || fail "the pool died"
echo "idle RSS: $before KiB -> $after KiB after attach trim; malloc_trim(0) alone: $ref KiB"
cat "$W/trim" | tail -2
[ "$after" -le "$ref" ] || fail "attach trim left $after KiB, more than malloc_trim(0)'s $ref KiB"
tops=$(sed -n 's/.*thread-arena tops \([0-9.]*\) \([KMG]\)iB.*/\1 \2/p' "$W/trim")
[ -n "$tops" ] && [ "${tops%% *}" != 0 ] || fail "no thread-arena top released: $(tail -2 "$W/trim")"
kill $pid; wait $pid 2>/dev/null; pid=
echo "ok attach trim: $after KiB <= malloc_trim(0)'s $ref KiB; tops released $tops"
