#!/usr/bin/env bash
# run.sh: the hostile-host battery (issue 8). Every kind (a program in build/tests/host/,
# some run in several variants) runs once plain and then under LD_PRELOAD=libsesstrim.so in
# three configurations:
#   a  defaults: no SESSTRIM_* variable at all
#   b  every trigger on a fast tick, SESSTRIM_STACKS=all, SESSTRIM_LOG left at its default
#      (so the shim's default must keep the program's stderr clean too)
#   c  every service thread on (trimmer with every trigger, periodic dumps, timeline, dump
#      signal), default stacks, SESSTRIM_LOG to a file
# Each run is under `timeout`. A cell passes when exit status, stdout, stderr and every file
# the program wrote in its working directory are byte for byte those of the plain run, and
# the kind's own checks (dumps, messages) hold. Prints a kind x config table of
# PASS / FAIL / HANG / CRASH, then what differed, and exits 1 if any cell did not pass.
#
# usage: tests/host/run.sh [-k] [-t SECONDS] [-c CONFIGS] [-e VAR=VALUE]... [KIND-PART...]
#   -k  keep the work directory (printed) for inspection
#   -t  base timeout per run in seconds (default 15; HOST_TIMEOUT); a shim run may take that
#       plus 5 times the plain run's time, so a loaded machine does not turn slow into HANG
#   -c  configurations to run, e.g. "b" or "a c" (default "a b c")
#   -e  add VAR=VALUE to every shim run (to isolate a fault, e.g. -e SESSTRIM_LOG=off)
#   HOST_GDB=1: save all threads' backtraces of a hung program in its cell directory (with -k)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${ST_BUILD:-$ROOT/build}
LIB=$BUILD/libsesstrim.so
REPORT=$BUILD/sesstrim-report
BIN=$BUILD/tests/host
TMO=${HOST_TIMEOUT:-15}
CONFIGS="a b c"
KEEP=0
EXTRA_ENV=()
while getopts "kt:c:e:" o; do
    case $o in
        k) KEEP=1;; t) TMO=$OPTARG;; c) CONFIGS=$OPTARG;; e) EXTRA_ENV+=("$OPTARG");;
        *) sed -n '2,20p' "$0"; exit 2;;
    esac
done
shift $((OPTIND - 1))
FILTERS=("$@")

[ -f "$LIB" ] && [ -d "$BIN" ] || { echo "build first: make check-build"; exit 77; }
T=$(mktemp -d /tmp/sesstrim-host-XXXXXX)
[ $KEEP -eq 1 ] && echo "work directory: $T"
# A cell's program runs in a session of its own, out of reach of signals sent to ours (a
# test runner's timeout): whatever stops this script takes the running cell down with it.
CELL_PID=
cleanup() {
    [ -n "$CELL_PID" ] && { kill -KILL -- -"$CELL_PID"; wait "$CELL_PID"; } 2>/dev/null
    [ $KEEP -eq 1 ] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

LIBDIR=/usr/lib/x86_64-linux-gnu
JEMALLOC=$LIBDIR/libjemalloc.so.2
TCMALLOC=$(ls $LIBDIR/libtcmalloc.so.4 $LIBDIR/libtcmalloc_minimal.so.4 2>/dev/null | head -1)
MDEBUG=$LIBDIR/libc_malloc_debug.so.0

# kind|program|LD_PRELOAD order (SHIM = the shim)|extra environment (space separated)
KINDS=(
    "main_pthread_exit|main_pthread_exit|SHIM|"
    "closerange_files|closerange_files|SHIM|"
    "stderr_datafile|stderr_datafile|SHIM|"
    "dup2_lowfds|dup2_lowfds|SHIM|"
    "first_fd|first_fd|SHIM|"
    "fd_exhaustion|fd_exhaustion|SHIM|"
    "stderr_quiet|stderr_quiet|SHIM|"
    "stderr_epipe|stderr_epipe|SHIM|"
    "signal_reentry|signal_reentry|SHIM|"
    "fork_keep|fork_keep|SHIM|"
    "sigdump_children|sigdump_children|SHIM|SESSTRIM_DUMP_INTERVAL=0"
    "fork_child_dump|fork_child_dump|SHIM|"
    "fork_in_signal|fork_in_signal|SHIM|"
    "getline_fork|getline_fork|SHIM|"
    "fork_storm_threads|fork_storm_threads|SHIM|"
    "vfork_exec|vfork_exec|SHIM|"
    "spawn_children|spawn_children|SHIM|"
    "clone_raw|clone_raw|SHIM|"
    "cancel_fputs|cancel_fputs|SHIM|"
    "cancel_malloc|cancel_malloc|SHIM|"
    "cxx_exceptions|cxx_exceptions|SHIM|"
    "tsd_destructors|tsd_destructors|SHIM|"
    "small_stacks|small_stacks|SHIM|"
    "dlopen_loop|dlopen_loop|SHIM|"
    "prot_none_reservation|prot_none_reservation|SHIM|"
    "heap_churn|heap_churn|SHIM|"
    "exit_during_churn|exit_during_churn|SHIM|"
    "keep_signal|keep_signal|SHIM|"
    "session_signal|session_signal|SHIM|"
    "fork_signal_resume|fork_signal_resume|SHIM|"
    "jemalloc_first|foreign_allocator|$JEMALLOC SHIM|"
    "tcmalloc_first|foreign_allocator|$TCMALLOC SHIM|"
    "glibcdebug_first|foreign_allocator|$MDEBUG SHIM|MALLOC_CHECK_=3"
    "glibcdebug_after|foreign_allocator|SHIM $MDEBUG|MALLOC_CHECK_=3"
)

config_env() {  # config, shim dir: one VAR=value per line
    local d=$2
    case $1 in
        a) ;;
        b) printf '%s\n' "SESSTRIM_TRIM=every=10ms,idle=50ms,rss>1M,session-end,free-resident>256K;min-interval=0,quiet=0" \
               "SESSTRIM_DUMP_INTERVAL=50ms" "SESSTRIM_TIMELINE_INTERVAL=10ms" "SESSTRIM_DUMP_SIGNAL=USR2" \
               "SESSTRIM_DUMP=$d/d-%p.bin" "SESSTRIM_STACKS=all";;
        c) printf '%s\n' "SESSTRIM_TRIM=idle=100ms,every=200ms,rss>64M,session-end,free-resident>1M" \
               "SESSTRIM_DUMP_INTERVAL=100ms" "SESSTRIM_TIMELINE_INTERVAL=20ms" "SESSTRIM_DUMP_SIGNAL=USR1" \
               "SESSTRIM_DUMP=$d/d-%p.bin" "SESSTRIM_LOG=$d/log-%p.txt";;
    esac
}

# run_cell kind prog preload extra config: runs in $T/kind/config/{work,shim}, leaves
# out, err, rc there. config "plain" runs without the shim (but with the kind's preload of
# other libraries and extra environment, so only the shim differs).
run_cell() {
    local kind=$1 prog=$2 order=$3 extra=$4 cfg=$5
    local dir=$T/$kind/$cfg
    mkdir -p "$dir/work" "$dir/shim"
    local pre="" l
    for l in $order; do
        if [ "$l" = SHIM ]; then [ "$cfg" = plain ] || pre="$pre${pre:+ }$LIB"; else pre="$pre${pre:+ }$l"; fi
    done
    local -a envs=(HOST_SIDE="$dir/shim")
    [ -n "$pre" ] && envs+=(LD_PRELOAD="$pre")
    if [ "$cfg" != plain ]; then
        while IFS= read -r l; do [ -n "$l" ] && envs+=("$l"); done < <(config_env "$cfg" "$dir/shim")
    fi
    for l in $extra; do envs+=("$l"); done
    [ "$cfg" != plain ] && envs+=("${EXTRA_ENV[@]}")
    # The program runs in its own session (a hang takes its children down with it), under a
    # plain sh that records its status: bash itself would print crash notices of its own.
    # On a hang, HOST_GDB=1 saves every thread's backtrace to hang-bt.txt before the kill.
    local start=$(date +%s%N) pid rc
    rm -f "$dir/rc"
    (cd "$dir/work" && exec setsid sh -c '"$@"; echo $? >"$0"' "$dir/rc" \
        env -u LD_PRELOAD $(env | grep -o '^SESSTRIM_[A-Z_]*' | sed 's/^/-u /') \
        "${envs[@]}" "$BIN/$prog" >"$dir/out" 2>"$dir/err" </dev/null) &
    pid=$!
    CELL_PID=$pid
    local limit=$((TMO * 4))        # plain: only a broken program takes this long
    [ "$cfg" != plain ] && limit=$((TMO + 5 * $(cat "$T/$kind/plain/ms") / 1000))
    echo $limit >"$dir/limit"
    if ! timeout "$limit" tail -s 0.05 --pid=$pid -f /dev/null; then
        if [ "${HOST_GDB:-0}" = 1 ]; then
            local child task
            child=$(pgrep -P $pid | head -1)
            # a leader that called pthread_exit is a zombie: attach through a live thread
            for task in /proc/$child/task/*; do grep -q '^State:.*Z' "$task/status" 2>/dev/null || break; done
            gdb -q -batch -p "${task##*/}" -ex 'thread apply all bt' >"$dir/hang-bt.txt" 2>&1
        fi
        kill -TERM -- -$pid 2>/dev/null; sleep 1; kill -KILL -- -$pid 2>/dev/null
        { wait $pid; } 2>/dev/null
        echo 124 >"$dir/rc"
    else
        { wait $pid; } 2>/dev/null
    fi
    CELL_PID=
    [ -s "$dir/rc" ] || echo 125 >"$dir/rc"
    echo $((($(date +%s%N) - start) / 1000000)) >"$dir/ms"
}

json() {  # dump, python expression over d
    "$REPORT" --json "$1" 2>/dev/null | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)" 2>/dev/null
}
side() { awk -v k="$2" '$1 == k {print $2; exit}' "$1/shim/side.txt" 2>/dev/null; }

# Kind checks beyond the comparison: echo one line per problem.
check_kind() {  # kind, config, dir
    local kind=$1 cfg=$2 dir=$3 f
    local has_dump=0; [ "$cfg" != a ] && has_dump=1
    case $kind in
    main_pthread_exit)
        [ $has_dump -eq 1 ] || return 0
        f=$(ls "$dir"/shim/d-*.bin 2>/dev/null | head -1)
        [ -n "$f" ] || { echo "no exit dump written"; return; }
        local rss exe reason
        reason=$(json "$f" "d['process']['reason']"); rss=$(json "$f" "d['process']['rss_bytes']")
        exe=$(json "$f" "d['process']['exe']")
        [ "$reason" = exit ] || echo "last dump reason '$reason', not exit"
        [ "${rss:-0}" -gt 0 ] 2>/dev/null || echo "exit dump RSS '${rss}' after the main thread exited"
        case $exe in ""|"?") echo "exit dump exe '$exe'";; esac;;
    sigdump_children)
        [ $has_dump -eq 1 ] || return 0
        local parent child
        parent=$(side "$dir" parent); child=$(side "$dir" child)
        [ -f "$dir/shim/d-$child.bin" ] || echo "the signalled child wrote no dump"
        [ -f "$dir/shim/d-$child.bin" ] && [ "$(json "$dir/shim/d-$child.bin" "d['process']['reason']")" != signal ] &&
            echo "the child's dump is not a signal dump"
        # The parent leaves with _exit, which writes an exit dump (issue 12); what it must
        # not write is a signal dump for the signal its child got.
        [ -f "$dir/shim/d-$parent.bin" ] && [ "$(json "$dir/shim/d-$parent.bin" "d['process']['reason']")" = signal ] &&
            echo "the parent dumped on a signal sent to its child";;
    fork_child_dump)
        [ $has_dump -eq 1 ] || return 0
        local child fork_ns
        child=$(side "$dir" child); fork_ns=$(side "$dir" fork_ns)
        f=$dir/shim/d-$child.bin
        [ -f "$f" ] || { echo "no dump from the child"; return; }
        "$REPORT" --json "$f" 2>/dev/null | FORK_NS=$fork_ns python3 -c '
import json, os, sys
d = json.load(sys.stdin); fork = int(os.environ["FORK_NS"]); p = d["process"]
if p["start_ns"] < fork: print("child dump start time %d is before the fork (parent start)" % p["start_ns"])
if not p["flags"]["fork_child"]: print("child dump not flagged fork_child")
old = [t for t in d["trims"] if t["time_ns"] < fork]
if old: print("child dump carries %d trims from before the fork" % len(old))
old = [s for s in d["timeline"] if s["time_ns"] < fork]
if old: print("child dump carries %d timeline samples from before the fork" % len(old))
# The parent threads stay listed (the child inherited their allocations) but are flagged.
prog = [t for t in d["threads"] if not t["shim"] and not t.get("fork_parent")]
if len(prog) != 1: print("child dump lists %d program threads (the child has 1)" % len(prog))
' 2>&1;;
    prot_none_reservation)
        [ -f "$dir/shim/api-dump.bin" ] || { echo "sesstrim_dump() wrote nothing"; return; }
        json "$dir/shim/api-dump.bin" "d['process']['pid']" >/dev/null || echo "the API dump does not read back";;
    jemalloc_first|tcmalloc_first)
        grep -qiE 'not (be )?tracked|does not see|cannot see|sees no|blind' "$dir/err" "$dir"/shim/log-*.txt 2>/dev/null ||
            echo "no line says the shim does not see the allocations";;
    glibcdebug_first|glibcdebug_after)
        grep -qiE 'MALLOC_CHECK_|malloc_debug|malloc debugging' "$dir/err" "$dir"/shim/log-*.txt 2>/dev/null ||
            echo "no line says glibc's malloc debugging is on";;
    esac
}

# Kinds whose stderr may legitimately carry one documented shim line: compared without it.
stderr_filter() {  # kind, file
    case $1 in
        jemalloc_first|tcmalloc_first|glibcdebug_first|glibcdebug_after) grep -v '^sesstrim\[' "$2";;
        *) cat "$2";;
    esac
}

verdict() {  # kind, config: prints "VERDICT|detail"
    local kind=$1 cfg=$2 p=$T/$1/plain c=$T/$1/$2 why=""
    local prc crc
    prc=$(cat "$p/rc"); crc=$(cat "$c/rc")
    if [ "$crc" = 124 ]; then echo "HANG|timed out after $(cat "$c/limit")s"; return; fi
    if [ "$crc" -gt 128 ] && [ "$prc" != "$crc" ]; then
        echo "CRASH|killed by signal $((crc - 128)) ($(kill -l $((crc - 128)) 2>/dev/null)); $(tail -c 200 "$c/err" | tr '\n' ' ')"; return
    fi
    [ "$prc" = "$crc" ] || why="exit status $crc, plain $prc; "
    cmp -s "$p/out" "$c/out" || why="${why}stdout differs ($(diff "$p/out" "$c/out" | grep '^[<>]' | head -4 | cut -c1-100 | tr '\n' ' ')); "
    cmp -s <(stderr_filter "$kind" "$p/err") <(stderr_filter "$kind" "$c/err") ||
        why="${why}stderr differs ($(diff <(stderr_filter "$kind" "$p/err") <(stderr_filter "$kind" "$c/err") | grep '^[<>]' | head -2 | cut -c1-140 | tr '\n' ' ')); "
    local fd
    fd=$(diff -r "$p/work" "$c/work" 2>&1 | head -3 | cut -c1-160 | tr '\n' ' ')
    [ -z "$fd" ] || why="${why}files differ ($fd); "
    local chk
    chk=$(check_kind "$kind" "$cfg" "$c" | head -4 | tr '\n' ';')
    [ -z "$chk" ] || why="${why}check: $chk"
    [ -z "$why" ] && echo "PASS|" || echo "FAIL|$why"
}

wanted() {
    [ ${#FILTERS[@]} -eq 0 ] && return 0
    local f; for f in "${FILTERS[@]}"; do [[ $1 == *$f* ]] && return 0; done
    return 1
}

printf '%-24s' kind; for c in $CONFIGS; do printf ' %-6s' "$c"; done; echo
declare -a details=()
fails=0 cells=0
for entry in "${KINDS[@]}"; do
    IFS='|' read -r kind prog order extra <<<"$entry"
    wanted "$kind" || continue
    if [ ! -x "$BIN/$prog" ]; then printf '%-24s missing %s\n' "$kind" "$BIN/$prog"; fails=$((fails + 1)); continue; fi
    missing=""
    for l in $order; do [ "$l" = SHIM ] || [ -f "$l" ] || missing=$l; done
    if [ -n "$missing" ] || [[ $order == *"  "* ]] || [[ $order == " "* ]]; then
        printf '%-24s skipped: %s not installed\n' "$kind" "${missing:-a library}"; continue
    fi
    run_cell "$kind" "$prog" "$order" "$extra" plain
    if [ "$(cat "$T/$kind/plain/rc")" = 124 ]; then
        printf '%-24s plain run timed out: the program is broken\n' "$kind"; fails=$((fails + 1)); continue
    fi
    printf '%-24s' "$kind"
    for cfg in $CONFIGS; do
        run_cell "$kind" "$prog" "$order" "$extra" "$cfg"
        v=$(verdict "$kind" "$cfg")
        cells=$((cells + 1))
        printf ' %-6s' "${v%%|*}"
        if [ "${v%%|*}" != PASS ]; then
            fails=$((fails + 1))
            details+=("$kind/$cfg: ${v%%|*}: ${v#*|}")
        fi
    done
    echo
done
if [ ${#details[@]} -gt 0 ]; then
    echo
    printf '%s\n' "${details[@]}"
fi
echo
echo "battery: $((cells - ${#details[@]})) of $cells cells passed (timeout ${TMO}s)"
[ $fails -eq 0 ]
