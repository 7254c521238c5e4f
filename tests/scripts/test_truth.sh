#!/usr/bin/env bash
# test_truth.sh: the acceptance suite for the RSS layers. tests/progs/truth_layout builds a
# memory layout it knows (file mappings, anonymous mmaps, fragmented thread arenas, a
# single-threaded main arena, thread and session churn, a fork family sharing memory, a
# library loaded and unloaded), dumps under the shim and prints what it did and what
# /proc/self/smaps_rollup says. Each layer of `sesstrim-report --json` is checked against
# both, within the tolerances stated below; the layers must sum to RSS exactly.
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${ST_BUILD:-$ROOT/build}
LIB=$BUILD/libsesstrim.so PROG=$BUILD/tests/progs/truth_layout REPORT=$BUILD/sesstrim-report
for f in "$LIB" "$PROG" "$REPORT"; do [ -e "$f" ] || { echo "skip: $f not built"; exit 77; }; done
command -v python3 >/dev/null || { echo "skip: python3 not found"; exit 77; }
W=$(mktemp -d /tmp/sesstrim-truth-XXXXXX)
trap 'rm -rf "$W"' EXIT
fail=0
head -c $((40 << 20)) /dev/zero | tr '\0' 'x' >"$W/data.bin"   # a 40 MiB file to map

run() {  # scenario [arg]
    LD_PRELOAD=$LIB SESSTRIM_LOG=off "$PROG" "$1" "$W/$1-%p.bin" "${2:-}" >"$W/$1.txt" 2>"$W/$1.err" \
        || { echo "FAIL: $1: truth_layout exited $? ($(tail -n 1 "$W/$1.err"))"; fail=1; return 1; }
}

check() {  # scenario: python checks reading $W/<scenario>.txt and the report of its dumps
    local sc=$1 pid; pid=$(awk '$1 == "pid" {print $2}' "$W/$sc.txt")
    "$REPORT" --json --no-symbols "$W/$sc-$pid.bin" >"$W/$sc.json" || { echo "FAIL: $sc: report"; fail=1; return; }
    python3 - "$sc" "$W/$sc.txt" "$W/$sc.json" <<'PY' || fail=1
import json, sys
sc, truth_path, rep_path = sys.argv[1:4]
T = {k: int(v) for k, v in (l.split() for l in open(truth_path) if l.strip())}
R = json.load(open(rep_path))
L = R["layers"]
MiB = 1 << 20
bad = []
def expect(what, ok, got):
    print(("ok   " if ok else "FAIL ") + sc + ": " + what + " (" + got + ")")
    if not ok: bad.append(what)
mb = lambda b: "%.2f MiB" % (b / MiB)
parts = sum(v for k, v in L.items() if k not in ("rss", "free_total", "heap_unresident"))
expect("layers sum to RSS exactly", parts == L["rss"] and L.get("heap_unresident", 0) == 0, mb(parts) + " vs " + mb(L["rss"]))
# smaps_rollup is read right after the dump; writing the dump itself may touch a little memory
expect("RSS within 4 MiB + 5% of smaps_rollup", abs(L["rss"] - T["kernel_Rss"]) <= 4 * MiB + T["kernel_Rss"] // 20,
       mb(L["rss"]) + " vs " + mb(T["kernel_Rss"]))
expect("shim layer at most what the shim mapped", L.get("shim", -1) >= 0 and L.get("shim", 0) <= R["process"]["meta_bytes"],
       mb(L.get("shim", 0)) + " of " + mb(R["process"]["meta_bytes"]))
if sc == "files":
    kfile = T["kernel_Rss"] - T["kernel_Anonymous"]
    expect("files >= 95% of the mapped file", L.get("files", 0) >= T["file_mapped"] * 95 // 100, mb(L.get("files", 0)))
    expect("files within 2 MiB of smaps_rollup Rss - Anonymous", abs(L.get("files", 0) - kfile) <= 2 * MiB,
           mb(L.get("files", 0)) + " vs " + mb(kfile))
    expect("program's mmaps within 1 MiB of the 16 MiB it mapped", abs(L["program_mmaps"] - T["anon_mmap"]) <= MiB,
           mb(L["program_mmaps"]))
    expect("live heap within 1 MiB of what it holds", abs(L["live_heap"] - T["live_heap"]) <= MiB, mb(L["live_heap"]))
    expect("the rest under 4 MiB", L["rest"] <= 4 * MiB, mb(L["rest"]))
elif sc == "fragment":
    expect("free in arenas >= 90% of what the threads freed", L["free_total"] >= T["freed"] * 9 // 10,
           mb(L["free_total"]) + " of " + mb(T["freed"]))
    expect("live heap >= 95% of what the threads hold", L["live_heap"] >= T["live_heap"] * 95 // 100, mb(L["live_heap"]))
    threads = sum(a["threads"] for a in R["arenas"] if a["kind"] == "thread")
    expect("thread arenas count the 4 threads once each", threads == T["threads"], str(threads))
    ids = [a["id"] for a in R["advice"]]
    expect("the advice names the fragmentation", "fragmentation" in ids, ",".join(ids))
    expect("the rest under 4 MiB", L["rest"] <= 4 * MiB, mb(L["rest"]))
elif sc == "main":
    main = [a for a in R["arenas"] if a["id"] == 0]
    expect("main arena read", len(main) == 1 and main[0]["free_bytes"] >= T["freed"] * 9 // 10,
           mb(main[0]["free_bytes"]) if main else "none")
    expect("free in arenas >= 90% of what was freed", L["free_total"] >= T["freed"] * 9 // 10, mb(L["free_total"]))
    ids = [a["id"] for a in R["advice"]]
    expect("the advice says a trim returns the free bins", "trim-free-bins" in ids, ",".join(ids))
    expect("the rest under 4 MiB", L["rest"] <= 4 * MiB, mb(L["rest"]))
elif sc == "churn":
    worst = max((t["live_bytes"] for t in R["threads"]), default=0)
    expect("no thread's live bytes wrapped", worst < 1 << 40, mb(worst))
    threads = sum(a["threads"] for a in R["arenas"])
    allocating = sum(1 for t in R["threads"] if t["allocs"] > 0)
    expect("arena threads are distinct threads", allocating <= threads <= 2 * allocating, "%d for %d" % (threads, allocating))
    ended = R["session_summary"]["ended_sessions_total"] if R["session_summary"] else 0
    expect("every session ended", ended == T["threads"], str(ended))
elif sc == "dlopen":
    expect("the 8 MiB block is a glibc mmapped chunk", L["glibc_mmapped"] >= T["live_heap"], mb(L["glibc_mmapped"]))
sys.exit(1 if bad else 0)
PY
}

run files "$W/data.bin" && check files
run fragment && check fragment
run main && check main
run churn && check churn
run dlopen "$BUILD/tests/progs/libearly.so" && check dlopen

# The settings in force travel in the dump (CONFIG record) as the shim parsed them.
if LD_PRELOAD=$LIB SESSTRIM_LOG=off SESSTRIM_TRIM=idle=2s,rss\>900M SESSTRIM_ARENA_MAX=3 \
   GLIBC_TUNABLES=glibc.malloc.trim_threshold=262144 "$PROG" main "$W/conf-%p.bin" >"$W/conf.txt" 2>"$W/conf.err"; then
    pid=$(awk '$1 == "pid" {print $2}' "$W/conf.txt")
    "$REPORT" --json --no-symbols "$W/conf-$pid.bin" >"$W/conf.json" || { echo "FAIL: conf: report"; fail=1; }
    python3 - "$W/conf.json" <<'PY' || fail=1
import json, sys
c = json.load(open(sys.argv[1]))["config"]
ok = c is not None and c["trim"]["idle_ns"] == 2 * 10**9 and c["trim"]["rss_high"] == 900 << 20 \
     and c["arena_max"] == 3 and c["glibc_trim_threshold"] == 262144 \
     and "SESSTRIM_TRIM=idle=2s,rss>900M" in c["environment"] \
     and "GLIBC_TUNABLES=glibc.malloc.trim_threshold=262144" in c["environment"]
print(("ok   " if ok else "FAIL ") + "config: the settings in force are in the dump: " + (c["summary"] if c else "none"))
sys.exit(0 if ok else 1)
PY
    "$REPORT" --no-symbols "$W/conf-$pid.bin" | grep -q "settings in force: SESSTRIM_TRIM=idle=2s,rss>900.0 MiB" \
        || { echo "FAIL: config: the text report does not show the settings"; fail=1; }
else
    echo "FAIL: conf: truth_layout exited $?"; fail=1
fi

# The fork family: three processes share one 64 MiB shared-anonymous mapping; the family total
# counts it once (within 8 MiB), the plain sum three times.
if run fork; then
    pid=$(awk '$1 == "pid" {print $2}' "$W/fork.txt")
    "$REPORT" --json --no-symbols "$W"/fork-*.bin >"$W/fork.json" || { echo "FAIL: fork: report"; fail=1; }
    python3 - "$W/fork.json" <<'PY' || fail=1
import json, sys
R = json.load(open(sys.argv[1]))
f, MiB = R["family"], 1 << 20
print("fork: %d processes, family RSS %.1f MiB, summed %.1f MiB" % (f["processes"], f["rss_bytes"] / MiB, f["rss_sum_bytes"] / MiB))
ok = f["processes"] == 3 and f["rss_sum_bytes"] - f["rss_bytes"] >= 2 * 56 * MiB and \
     f["rss_sum_bytes"] - f["rss_bytes"] <= 2 * 64 * MiB + 8 * MiB
print(("ok   " if ok else "FAIL ") + "fork: the shared 64 MiB counted once in the family total")
sys.exit(0 if ok else 1)
PY
fi
[ $fail -eq 0 ] && echo PASS
exit $fail
