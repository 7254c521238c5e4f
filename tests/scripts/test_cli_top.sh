#!/usr/bin/env bash
# test_cli_top.sh: `sesstrim top PID` renders in a terminal (tmux, capture-pane): the RSS
# line, the arena and session tables with the program's sessions, and it refreshes (the
# uptime shown moves); 't' asks for a trim, 'q' quits. --once prints the same as text.
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
B=${ST_BUILD:-$ROOT/build}
command -v tmux >/dev/null || { echo "tmux not installed"; exit 77; }
W=$(mktemp -d /tmp/st-top-XXXXXX)
SOCK=st-top-$$
trap 'tmux -L $SOCK kill-server 2>/dev/null; touch "$W/stop"; wait; rm -rf "$W"' EXIT
fail() { echo "FAIL: $*"; [ -f "$W/cap1" ] && cat "$W/cap1"; exit 1; }

LD_PRELOAD=$B/libsesstrim.so "$B/tests/progs/ctl_target" 60 "$W/stop" 2 >"$W/out" 2>"$W/err" &
pid=$!
for _ in $(seq 1 300); do "$B/sesstrim" ctl $pid ping >/dev/null 2>&1 && break; sleep 0.05; done

"$B/sesstrim" top --once $pid >"$W/once" || fail "top --once"
grep -q "^ARENA" "$W/once" && grep -q "^client-a .*6.0 MiB" "$W/once" || fail "top --once: $(cat "$W/once")"

tmux -L $SOCK new-session -d -x 120 -y 40 "TERM=xterm $B/sesstrim top $pid; echo top-exited-\$?; sleep 30"
up() { sed -n 's/.* up \([0-9.]*\) s .*/\1/p' "$1"; }
for _ in $(seq 1 50); do tmux -L $SOCK capture-pane -p >"$W/cap1"; grep -q "^SESSION" "$W/cap1" && break; sleep 0.1; done
grep -q "^sesstrim top $pid (ctl_target)" "$W/cap1" || fail "no title line"
grep -q "^RSS .* = heap .* glibc mmapped" "$W/cap1" || fail "no RSS layers line"
grep -q "^ARENA .*RESIDENT" "$W/cap1" || fail "no arena table"
grep -Eq "^0 +[0-9.]+ [KMG]?i?B" "$W/cap1" || fail "no arena 0 row"
grep -q "^client-a .*6.0 MiB .*ended" "$W/cap1" || fail "session client-a missing"
grep -q "^client-b .*open" "$W/cap1" || fail "session client-b missing"
sleep 2.2
tmux -L $SOCK capture-pane -p >"$W/cap2"
u1=$(up "$W/cap1"); u2=$(up "$W/cap2")
python3 -c "import sys; sys.exit(0 if float('$u2') >= float('$u1') + 1 else 1)" || fail "not refreshed: up $u1 then $u2"
tmux -L $SOCK send-keys t
for _ in $(seq 1 50); do tmux -L $SOCK capture-pane -p >"$W/cap3"; grep -q "trim: released_bytes" "$W/cap3" && break; sleep 0.1; done
grep -q "trim: released_bytes" "$W/cap3" || fail "t did not trim"
tmux -L $SOCK send-keys q
for _ in $(seq 1 50); do tmux -L $SOCK capture-pane -p >"$W/cap4"; grep -q "top-exited-0" "$W/cap4" && break; sleep 0.1; done
grep -q "top-exited-0" "$W/cap4" || fail "q did not quit with status 0"
echo "ok top rendered in tmux, refreshed (up $u1 -> $u2 s), trim key and quit work"
