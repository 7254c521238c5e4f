#!/usr/bin/env bash
# bench_servers.sh: the shim's cost in real servers, as server CPU per operation against the
# same server on plain glibc, each round starting the server once plain and once under the
# shim (interleaved); a ratio is the median over ST_BENCH_RUNS rounds (default 5) of (shim /
# plain in that round). Target <= 1.05x each (issue 13). Server CPU is utime + stime from
# /proc/PID/stat of the server and every descendant (live ones, and exited ones through the
# parent's cutime + cstime), taken once the server is up and again after the load.
#   memcached: bench/memc_client.c, set/get pairs over a unix socket (Debian's redis is built
#     with jemalloc, so the shim would not see its allocations);
#   PostgreSQL: a private cluster in a temp dir (initdb, unix socket there, fsync off), pgbench
#     TPC-B-like transactions; the shim is preloaded into the postmaster (so every backend);
#   Python: a pure-Python workload (JSON round trips of nested documents, dicts, strings).
# Knobs: ST_BENCH_RUNS; ST_BENCH_SERVERS (subset of "memcached postgres python");
# ST_BENCH_SHIM_ENV, more VAR=VALUE words for the shim's runs (e.g. SESSTRIM_STACKS=off). Run as
# root, the PostgreSQL part runs its cluster as the `postgres` user (initdb refuses root).
. "$(dirname "$0")/lib.sh"
SERVERS=${ST_BENCH_SERVERS:-memcached postgres python}
SHIM_ENV=${ST_BENCH_SHIM_ENV:-}
TMP=$(mktemp -d /tmp/sesstrim-srv-XXXXXX)
chmod 755 "$TMP"
cleanup() {
    [ -n "${MC_PID:-}" ] && kill "$MC_PID" 2>/dev/null
    [ -n "${PGBIN:-}" ] && [ -f "$TMP/pg/data/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$TMP/pg/data" -m immediate stop >/dev/null 2>&1
    rm -rf "$TMP"
}
trap cleanup EXIT
want() { [[ " $SERVERS " == *" $1 "* ]]; }

# tree_cpu PID: CPU seconds of PID, its live descendants and its reaped children.
tree_cpu() {
    python3 - "$1" <<'PY'
import os, sys
root = int(sys.argv[1]); tck = os.sysconf("SC_CLK_TCK")
stats = {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            s = open("/proc/%s/stat" % d).read()
        except OSError:
            continue
        f = s[s.rindex(")") + 2:].split()   # fields from 3 (state) on
        stats[int(d)] = (int(f[1]), int(f[11]) + int(f[12]), int(f[13]) + int(f[14]))
kids = {}
for pid, (ppid, _, _) in stats.items():
    kids.setdefault(ppid, []).append(pid)
total, todo = stats.get(root, (0, 0, 0))[2], [root]
while todo:
    p = todo.pop()
    if p in stats:
        total += stats[p][1]
        todo += kids.get(p, [])
print("%.3f" % (total / tck))
PY
}

# report NAME UNIT: reads $TMP/NAME.plain and .shim ("cpu_s ops" per round)
report() {
    local name=$1 unit=$2
    for c in plain shim; do awk '{print $1 / $2 * 1e6}' "$TMP/$name.$c" >"$TMP/$name.$c.per"; done
    local p s r
    p=$(st_median <"$TMP/$name.plain.per"); s=$(st_median <"$TMP/$name.shim.per")
    r=$(st_ratios "$TMP/$name.shim.per" "$TMP/$name.plain.per" 1)
    printf '  %-44s plain %9.1f  shim %9.1f us/%s\n' "$name: CPU per $unit" "$p" "$s" "$unit"
    st_verdict "$name: shim CPU per $unit" "$r" 1.05
}

echo "Real servers, server CPU per operation, median of $RUNS interleaved rounds"
# loaded PID CONFIG: say so if the shim is not where the configuration says it is.
loaded() {
    local in=0
    grep -q libsesstrim "/proc/$1/maps" 2>/dev/null && in=1
    [ "$2" = shim ] && [ $in = 0 ] && echo "  warning: the shim is not loaded in server pid $1"
    [ "$2" = plain ] && [ $in = 1 ] && echo "  warning: the shim is loaded in the plain server pid $1"
    return 0
}

# ---------------------------------------------------------------- memcached
if want memcached; then
    if ! command -v memcached >/dev/null 2>&1 || [ ! -x "$BUILD/bench/memc_client" ]; then
        echo "  memcached: skipped (memcached or $BUILD/bench/memc_client missing)"
    else
        for ((r = 0; r < RUNS; r++)); do
            for c in plain shim; do
                pre=; [ $c = shim ] && pre=$LIB
                rm -f "$TMP/mc.sock"
                env LD_PRELOAD=$pre SESSTRIM_LOG=off ${pre:+$SHIM_ENV} memcached -u "$(id -un)" -s "$TMP/mc.sock" -m 256 -t 2 -U 0 &
                MC_PID=$!
                for _ in $(seq 200); do [ -S "$TMP/mc.sock" ] && break; sleep 0.02; done
                loaded $MC_PID $c
                c0=$(tree_cpu $MC_PID)
                ops=$("$BUILD/bench/memc_client" "$TMP/mc.sock" 4 25000 5000) || ops=0
                c1=$(tree_cpu $MC_PID)
                kill $MC_PID; wait $MC_PID 2>/dev/null; MC_PID=
                [ "$ops" -gt 0 ] && echo "$(awk "BEGIN{print $c1 - $c0}") $ops" >>"$TMP/memcached.$c"
            done
        done
        if [ -s "$TMP/memcached.shim" ]; then report memcached op; else echo "  memcached: client failed"; fi
    fi
fi

# ---------------------------------------------------------------- PostgreSQL
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if want postgres; then
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    if [ -z "$PGBIN" ] || ! command -v pgbench >/dev/null 2>&1 || { [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; }; then
        echo "  postgres: skipped (PostgreSQL server binaries, pgbench or the postgres user missing)"
        PGBIN=
    else
        mkdir -p "$TMP/pg"
        [ "$(id -u)" = 0 ] && chown postgres "$TMP/pg"
        as_pg "$PGBIN/initdb" -D "$TMP/pg/data" -A trust -U bench --no-sync >"$TMP/initdb.log" 2>&1 ||
            { echo "  postgres: skipped (initdb failed: $(tail -1 "$TMP/initdb.log"))"; PGBIN=; }
    fi
    if [ -n "$PGBIN" ]; then
        opts="-c listen_addresses='' -c unix_socket_directories='$TMP/pg' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c autovacuum=off -c shared_buffers=32MB"
        pgstart() { as_pg env LD_PRELOAD="$1" SESSTRIM_LOG=off ${1:+$SHIM_ENV} "$PGBIN/pg_ctl" -D "$TMP/pg/data" start -w -o "$opts" -l "$TMP/pg/log" >/dev/null; }
        runas_pg_ctl() { as_pg "$PGBIN/pg_ctl" -D "$TMP/pg/data" "$@"; }
        pgb() { as_pg pgbench -h "$TMP/pg" -U bench "$@" postgres; }
        pgstart "" && pgb -i -s 1 -q >"$TMP/pginit.log" 2>&1 && runas_pg_ctl stop -m fast >/dev/null ||
            { echo "  postgres: skipped (pgbench -i failed: $(tail -1 "$TMP/pginit.log" 2>/dev/null))"; PGBIN=; }
    fi
    if [ -n "$PGBIN" ]; then
        for ((r = 0; r < RUNS; r++)); do
            for c in plain shim; do
                pre=; [ $c = shim ] && pre=$LIB
                pgstart "$pre" || continue
                pm=$(head -1 "$TMP/pg/data/postmaster.pid")
                loaded "$pm" $c
                nk=$(pgrep -c -P "$pm")
                c0=$(tree_cpu "$pm")
                tx=$(pgb -n -c 4 -j 1 -t 500 2>/dev/null | awk '/number of transactions actually processed/ {split($NF, a, "/"); print a[1]}')
                for _ in $(seq 100); do [ "$(pgrep -c -P "$pm")" -le "$nk" ] && break; sleep 0.02; done
                c1=$(tree_cpu "$pm")
                runas_pg_ctl stop -m fast >/dev/null
                [ -n "$tx" ] && [ "$tx" -gt 0 ] && echo "$(awk "BEGIN{print $c1 - $c0}") $tx" >>"$TMP/postgres.$c"
            done
        done
        if [ -s "$TMP/postgres.shim" ]; then report postgres transaction; else echo "  postgres: pgbench failed ($TMP/pg/log)"; fi
    fi
fi

# ---------------------------------------------------------------- Python
if want python; then
    cat >"$TMP/work.py" <<'PY'
import json, random
random.seed(7)
def doc(depth):
    if depth == 0:
        return "".join(random.choice("abcdefgh") for _ in range(random.randint(4, 300)))
    return {"k%d" % i: doc(depth - 1) if i % 3 else [random.random() for _ in range(8)] for i in range(5)}
docs = [doc(3) for _ in range(40)]
ops = 0
for _ in range(60):
    for d in docs:
        s = json.dumps(d)
        back = json.loads(s)
        back["extra"] = [str(i) * 20 for i in range(50)]
        ops += 1
print(ops)
PY
    for ((r = 0; r < RUNS; r++)); do
        for c in plain shim; do
            pre=; [ $c = shim ] && pre=$LIB
            ops=$(env LD_PRELOAD=$pre SESSTRIM_LOG=off ${pre:+$SHIM_ENV} /usr/bin/time -f "%U %S" -o "$TMP/pt" python3 "$TMP/work.py")
            echo "$(awk '{print $1 + $2}' "$TMP/pt") $ops" >>"$TMP/python.$c"
        done
    done
    report python "JSON round trip"
fi
