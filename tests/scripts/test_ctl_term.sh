#!/usr/bin/env bash
# test_ctl_term.sh: with SESSTRIM_DUMP set, SIGTERM and SIGINT write a dump and then take
# their default action (same wait status as without the shim); multiprocessing pool workers
# terminated by their parent (SIGTERM) each leave a dump, and workers ending with os._exit
# too; a program's own handler is kept and sees SIG_DFL before it (Python's SIGINT handler
# still installs); a SIG_IGN inherited from the parent stays ignored.
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
B=${ST_BUILD:-$ROOT/build}
LIB=$B/libsesstrim.so
W=$(mktemp -d /tmp/st-term-XXXXXX)
trap 'touch "$W/stop"; rm -rf "$W"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
reason() { "$B/sesstrim-report" --json "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['process']['reason'])"; }
wait_ready() { for _ in $(seq 1 500); do grep -q ready "$1" 2>/dev/null && return 0; sleep 0.02; done; return 1; }

# 1. SIGTERM and SIGINT: dump, then death by that signal (status 128+N, as without the shim).
# Job control on: without it bash starts background commands with SIGINT ignored.
set -m
for sig in TERM INT; do
    for shim in no yes; do
        pre=; [ $shim = yes ] && pre=$LIB
        env LD_PRELOAD=$pre SESSTRIM_DUMP="$W/$sig-%p.bin" \
            "$B/tests/progs/core_idle" 1000000 "$W/stop" >"$W/out-$sig-$shim" 2>&1 &
        p=$!
        wait_ready "$W/out-$sig-$shim" || fail "core_idle did not start"
        sleep 0.2
        kill -$sig $p; wait $p; st=$?
        eval "st_$shim=$st"
    done
    [ "$st_no" = "$st_yes" ] || fail "SIG$sig: status $st_yes with the shim, $st_no without"
    f=$(ls "$W"/$sig-*.bin 2>/dev/null | head -1)
    [ -n "$f" ] || fail "SIG$sig left no dump"
    [ "$(reason "$f")" = signal ] || fail "SIG$sig dump reason $(reason "$f")"
    echo "ok SIG$sig: dump written, status $st_yes as without the shim"
done
set +m

# 2. A pool terminated by its parent: every worker leaves its own dump.
cat >"$W/pool.py" <<'PY'
import multiprocessing as mp, os, sys, time
def work(n):
    global keep
    keep = bytearray(n)          # each worker holds memory until killed
    return os.getpid()
def busy(s):
    time.sleep(s)
if __name__ == "__main__":
    mp.set_start_method("fork")
    pool = mp.Pool(3)
    pids = set(pool.map(work, [4 << 20] * 12, chunksize=1))
    print("workers", *sorted(pids), flush=True)
    pool.map_async(busy, [30] * 3, chunksize=1)   # every worker busy: only SIGTERM ends it
    time.sleep(1.5)
    pool.terminate()               # SIGTERM to each worker
    pool.join()
    print("parent done", flush=True)
PY
LD_PRELOAD=$LIB SESSTRIM_DUMP="$W/pool-%p.bin" python3 "$W/pool.py" >"$W/pool.out" 2>"$W/pool.err" || fail "pool script failed: $(cat "$W/pool.err")"
for w in $(sed -n 's/^workers //p' "$W/pool.out"); do
    [ -f "$W/pool-$w.bin" ] || fail "terminated worker $w left no dump ($(ls "$W"))"
    [ "$(reason "$W/pool-$w.bin")" = signal ] || fail "worker $w dump reason $(reason "$W/pool-$w.bin")"
done
echo "ok pool.terminate(): workers $(sed -n 's/^workers //p' "$W/pool.out") each left a signal dump"

# 3. Workers ending normally call os._exit: their dump comes from the _exit path.
cat >"$W/pool2.py" <<'PY'
import multiprocessing as mp, os
def work(n): return len(bytearray(n))
if __name__ == "__main__":
    mp.set_start_method("fork")
    p = mp.Process(target=work, args=(1 << 20,)); p.start(); p.join()
    print("child", p.pid, p.exitcode, flush=True)
PY
LD_PRELOAD=$LIB SESSTRIM_DUMP="$W/px-%p.bin" python3 "$W/pool2.py" >"$W/px.out" 2>&1 || fail "pool2 failed"
c=$(awk '/^child/ {print $2}' "$W/px.out")
[ "$(awk '/^child/ {print $3}' "$W/px.out")" = 0 ] || fail "child exit code changed: $(cat "$W/px.out")"
[ -f "$W/px-$c.bin" ] || fail "os._exit child $c left no dump"
[ "$(reason "$W/px-$c.bin")" = exit ] || fail "os._exit dump reason"
echo "ok os._exit child $c: exit dump, exit code 0"

# 4. The program's own handlers: kept, and they see SIG_DFL before them.
out=$(LD_PRELOAD=$LIB SESSTRIM_DUMP="$W/own-%p.bin" python3 -c '
import signal, os, sys
print("int", signal.getsignal(signal.SIGINT).__name__)
def h(s, f): print("handled", s, flush=True); sys.exit(3)
print("term before", signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)
signal.signal(signal.SIGTERM, h)
os.kill(os.getpid(), signal.SIGTERM)
import time; time.sleep(5)
')
st=$?
[ $st = 3 ] || fail "own SIGTERM handler: status $st (want 3): $out"
printf '%s\n' "$out" | grep -q "^int default_int_handler$" || fail "Python's SIGINT handler not installed: $out"
printf '%s\n' "$out" | grep -q "^term before True$" || fail "SIGTERM disposition not shown as SIG_DFL: $out"
printf '%s\n' "$out" | grep -q "^handled 15$" || fail "own handler did not run: $out"
echo "ok own handlers kept, SIG_DFL shown"

# 5. SIG_IGN inherited (nohup): stays ignored.
rm -f "$W/stop"
(trap '' TERM; exec env LD_PRELOAD=$LIB SESSTRIM_DUMP="$W/ign-%p.bin" "$B/tests/progs/core_idle" 1000 "$W/stop" >"$W/ign.out" 2>&1) &
p=$!
wait_ready "$W/ign.out"; kill -TERM $p; sleep 0.3
kill -0 $p 2>/dev/null || fail "an ignored SIGTERM killed the program"
touch "$W/stop"; wait $p || fail "status after ignored SIGTERM"
echo "ok inherited SIG_IGN kept"
