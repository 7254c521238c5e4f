#!/usr/bin/env bash
# test_ctl.sh: `sesstrim ctl` on a process started with nothing but LD_PRELOAD: stats,
# sessions, config, dump, trim, metrics (promtool); a second uid is refused; the listening
# fd is high and close-on-exec; a program that close_range()s it gets it back once, then a
# single warning; a fork child has its own socket; SESSTRIM_CONTROL=off has none; 1000
# concurrent requests leave the program's output intact (its latency figures are printed).
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
B=${ST_BUILD:-$ROOT/build}
LIB=$B/libsesstrim.so CLI=$B/sesstrim PROG=$B/tests/progs/ctl_target
W=$(mktemp -d /tmp/st-ctl-XXXXXX)
chmod 755 "$W"
pids=()
cleanup() { touch "$W/stop" "$W/stop2" "$W/stop3"; for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done; rm -rf "$W"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$W"/err*; do [ -s "$f" ] && { echo "--- $f"; tail -5 "$f"; }; done; exit 1; }
field() { awk -v k="$1" '$1==k {print $2; exit}'; }
wait_line() { for _ in $(seq 1 500); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.02; done; return 1; }
wait_ctl() { for _ in $(seq 1 300); do "$CLI" ctl "$1" ping >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }

LD_PRELOAD=$LIB "$PROG" 120 "$W/stop" 2 >"$W/out" 2>"$W/err" &
pid=$!; pids+=($pid)
wait_line ready "$W/out" || fail "target did not start"
wait_ctl $pid || fail "no control socket after the first seconds"

# stats: the program holds 6 MiB in ended session client-a and 2 MiB in open client-b.
"$CLI" ctl $pid stats >"$W/stats" || fail "ctl stats"
[ "$(field pid <"$W/stats")" = "$pid" ] || fail "stats names another pid"
live=$(field live_bytes <"$W/stats")
[ "$live" -ge $((8 << 20)) ] || fail "live_bytes $live < 8 MiB the program holds"
grep -q "^session client-a live 6291456 " "$W/stats" || fail "client-a's 6 MiB missing from stats"
[ "$(field threads <"$W/stats")" -ge 3 ] || fail "threads: $(field threads <"$W/stats")"
"$CLI" ctl $pid sessions | grep -q " client-b open " || fail "ctl sessions lacks client-b"
"$CLI" ctl $pid config | grep -q "^SESSTRIM_CONTROL=on (default)" || fail "ctl config"
echo "ok stats: live $live bytes, sessions and config"

# dump to a path given by the client (relative: made absolute by the CLI).
( cd "$W" && "$CLI" ctl $pid dump ctl-dump.bin ) | grep -q "^dump $W/ctl-dump.bin" || fail "ctl dump"
reason=$("$B/sesstrim-report" --json "$W/ctl-dump.bin" | python3 -c "import json,sys; d=json.load(sys.stdin); print(d['process']['reason'], d['process']['live_bytes'])")
set -- $reason
[ "$1" = api ] && [ "$2" -ge $((8 << 20)) ] || fail "dump content: $reason"
echo "ok dump: reason $1, live $2"

# trim: counted in stats and in the metrics counters.
"$CLI" ctl $pid trim >"$W/trim" || fail "ctl trim"
rel=$(field released_bytes <"$W/trim")
[ -n "$rel" ] && [ "$rel" -ge 0 ] || fail "trim answer: $(cat "$W/trim")"
[ "$("$CLI" ctl $pid stats | field trims)" = 1 ] || fail "trims counter not 1 after one trim"
sleep 1.1   # a second trim within 1 s is refused as busy
"$CLI" ctl $pid metrics >"$W/metrics" || fail "ctl metrics"
promtool check metrics <"$W/metrics" || fail "promtool check metrics"
grep -q "^sesstrim_trims_total{pid=\"$pid\",comm=\"ctl_target\"} 1$" "$W/metrics" || fail "trims_total"
grep -q "^sesstrim_trim_released_bytes_total{.*} $rel$" "$W/metrics" || fail "released_bytes_total != $rel"
grep -q 'sesstrim_session_live_bytes{.*session="client-a"} 6291456' "$W/metrics" || fail "session series"
echo "ok trim released $rel bytes; metrics pass promtool"

# another uid is refused (SO_PEERCRED), and told so.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$CLI" ctl $pid stats 2>&1) && fail "uid 65534 was served"
    printf '%s\n' "$out" | grep -q "refused: uid 65534" || fail "refusal not said: $out"
    printf '%s\n' "$out" | grep -q live_bytes && fail "uid 65534 got data"
    echo "ok uid 65534 refused"
else
    echo "skip: the second-uid check needs root (setpriv)"
fi

# the listening fd: high, close-on-exec, a socket.
socks=$(for f in /proc/$pid/fd/*; do case $(readlink "$f") in socket:*) basename "$f";; esac; done | sort -n)
[ "$(printf '%s\n' "$socks" | grep -c .)" = 1 ] || fail "expected one socket fd, found: $socks"
sockfd=$socks
[ "$sockfd" -ge 10 ] || fail "control fd $sockfd is not moved high (the program's next open() must get the lowest number)"
flags=$(awk '/^flags/ {print $2}' /proc/$pid/fdinfo/$sockfd)
[ $(( 8#$flags & 8#2000000 )) -ne 0 ] || fail "control fd not O_CLOEXEC (flags $flags)"
echo "ok fd $sockfd, O_CLOEXEC"

# the program closes every fd: the socket is recreated once, then given up with one line.
touch "$W/stop.close"; wait_line "closed fds" "$W/out" || fail "close_range not run"
"$CLI" ctl $pid ping >/dev/null 2>&1 || { sleep 0.5; "$CLI" ctl $pid ping >/dev/null; } || fail "socket not recreated after close_range"
echo "ok recreated after close_range"
n0=$(grep -c "closed fds" "$W/out")
touch "$W/stop.close"; for _ in $(seq 1 200); do [ "$(grep -c 'closed fds' "$W/out")" -gt "$n0" ] && break; sleep 0.02; done
"$CLI" ctl $pid ping >/dev/null 2>&1
sleep 0.3; "$CLI" ctl $pid ping >/dev/null 2>&1 && fail "served after a second close_range (should give up)"
[ "$(grep -c 'control socket was closed by the program' "$W/err")" = 1 ] || fail "expected one warning line: $(cat "$W/err")"
echo "ok second loss: one warning, no socket"
touch "$W/stop"; wait $pid || fail "target exit status $?"
grep -q '^done$' "$W/out" || fail "target did not finish"

# fork: the child serves its own socket under its own pid.
LD_PRELOAD=$LIB "$PROG" 60 "$W/stop2" 1 fork >"$W/out2" 2>"$W/err2" &
pid2=$!; pids+=($pid2)
wait_line "^child " "$W/out2" || fail "no fork child"
child=$(awk '/^child/ {print $2}' "$W/out2")
wait_ctl $child || fail "fork child has no control socket"
[ "$("$CLI" ctl $child stats | field pid)" = "$child" ] || fail "child's socket answered for another pid"
[ "$("$CLI" ctl $pid2 stats | field pid)" = "$pid2" ] || fail "parent's socket lost after the fork"
touch "$W/stop2"; wait $pid2
echo "ok fork child $child has its own socket"

# SESSTRIM_CONTROL=off: none.
LD_PRELOAD=$LIB SESSTRIM_CONTROL=off "$PROG" 3 "$W/stop3" 1 >"$W/out3" 2>"$W/err3" &
pid3=$!; pids+=($pid3)
wait_line ready "$W/out3"; sleep 1.6
"$CLI" ctl $pid3 ping >/dev/null 2>&1 && fail "SESSTRIM_CONTROL=off still serves"
grep -q "@sesstrim-$pid3\b" /proc/net/unix && fail "socket exists with SESSTRIM_CONTROL=off"
touch "$W/stop3"; wait $pid3
echo "ok SESSTRIM_CONTROL=off"

# 1000 concurrent requests: the program's lines stay complete and in order, it exits 0.
rm -f "$W/stop"
LD_PRELOAD=$LIB "$PROG" 120 "$W/stop" 2 >"$W/out4" 2>"$W/err4" &
pid4=$!; pids+=($pid4)
wait_line ready "$W/out4"; wait_ctl $pid4 || fail "no socket (storm run)"
sleep 1; before=$(grep -c '^iter' "$W/out4")
for i in $(seq 1 1000); do "$CLI" ctl $pid4 stats >/dev/null 2>>"$W/ctlerr" & done
wait_all=0; for j in $(jobs -p); do [ "$j" = "$pid4" ] && continue; wait "$j" || wait_all=$((wait_all+1)); done
during=$(grep -c '^iter' "$W/out4")
sleep 1; touch "$W/stop"; wait $pid4 || fail "target exit status after the storm"
python3 - "$W/out4" "$before" "$during" "$wait_all" <<'PY' || fail "program output damaged during the storm"
import sys
lines=[l.split() for l in open(sys.argv[1]) if l.startswith('iter')]
its=[int(l[1]) for l in lines]
assert its==list(range(len(its))), "iteration numbers not contiguous"
assert all(len(l)==6 and l[2]=='sum' and l[4]=='us' for l in lines), "malformed line"
b,d=int(sys.argv[2]),int(sys.argv[3])
def pct(v,p): v=sorted(v); return v[min(len(v)-1,int(p*len(v)))] if v else 0
base=[float(l[5]) for l in lines[:b]]; storm=[float(l[5]) for l in lines[b:d]]
print("iteration us (64 x 16 KiB malloc/free): before p50 %.0f p99 %.0f | during 1000 ctl p50 %.0f p99 %.0f (%d iterations); ctl requests failed: %s"
      % (pct(base,.5),pct(base,.99),pct(storm,.5),pct(storm,.99),len(storm),sys.argv[4]))
PY
grep -q '^done$' "$W/out4" || fail "target did not finish after the storm"
echo "ok 1000 concurrent requests: output intact"
