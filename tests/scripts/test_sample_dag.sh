#!/usr/bin/env bash
# test_sample_dag.sh: the Hamilton sample (seed 003): under the shim's timeline, holding every
# intermediate result grows linearly to N x size; freeing results after their dependents plateaus.
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${ST_BUILD:-$ROOT/build}
SAMPLE=$BUILD/samples/dag_executor/dag_executor
REPORT=$BUILD/sesstrim-report
fail() { echo "FAIL: $*"; exit 1; }
for f in "$SAMPLE" "$REPORT" "$BUILD/libsesstrim.so"; do [ -e "$f" ] || fail "$f not built"; done
command -v python3 >/dev/null || { echo "skip: python3 needed to read the JSON report"; exit 77; }

WORK=$(mktemp -d /tmp/sesstrim-dag-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# 48 nodes of 1 MiB, 4 wide, 15 ms each: ~0.75 s, sampled every 10 ms.
ARGS="nodes=48 width=4 size=1048576 node_ms=15"
for mode in hold free; do
    env SESSTRIM_TIMELINE_INTERVAL=10 SESSTRIM_DUMP="$WORK/$mode.bin" LD_PRELOAD="$BUILD/libsesstrim.so" \
        "$SAMPLE" mode=$mode $ARGS >"$WORK/$mode.out" 2>"$WORK/$mode.err" ||
        fail "dag_executor mode=$mode exited $?: $(tail -n 3 "$WORK/$mode.err")"
    cat "$WORK/$mode.out"
    grep -m1 'cannot be preloaded' "$WORK/$mode.err" && fail "the shim did not load"
    [ -s "$WORK/$mode.bin" ] || fail "no dump for mode=$mode"
    "$REPORT" --json "$WORK/$mode.bin" >"$WORK/$mode.json" || fail "report on mode=$mode exited $?"
done
"$REPORT" --html "$WORK/dag.html" "$WORK/hold.bin" "$WORK/free.bin" || fail "HTML report exited $?"

python3 - "$WORK" <<'EOF'
import json, re, sys
work = sys.argv[1]
def fail(msg):
    print("FAIL:", msg); sys.exit(1)

def load(mode):
    out = open(f"{work}/{mode}.out").read()
    m = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", out))
    rep = json.load(open(f"{work}/{mode}.json"))
    tl = sorted(rep["timeline"], key=lambda r: r["time_ns"])
    return m, tl

hold, tl_hold = load("hold")
free, tl_free = load("free")
if not tl_hold or not tl_free:
    print("skip: the dump has no TIMELINE records (SESSTRIM_TIMELINE_INTERVAL not honoured yet)")
    sys.exit(77)
for name, tl in (("hold", tl_hold), ("free", tl_free)):
    if len(tl) < 10: fail(f"{name}: only {len(tl)} timeline samples over a ~0.75 s run sampled every 10 ms")
size = hold["result_size"]

# hold: grows to N x size, never drops, and linearly in time
live = [r["live_bytes"] for r in tl_hold]
want = hold["held_bytes_at_end"]
if want != hold["nodes"] * size: fail("hold mode must end holding every result")
if not (0.95 * want <= max(live) <= 1.05 * want + (256 << 10)):
    fail(f"hold: timeline peaks at {max(live)} live bytes, the program held {want}")
for a, b in zip(live, live[1:]):
    if b < a - size // 4: fail(f"hold: live bytes dropped from {a} to {b}: not monotone")
t0 = tl_hold[0]["time_ns"]
t_full = next(r["time_ns"] for r in tl_hold if r["live_bytes"] >= 0.95 * want)
grow = [((r["time_ns"] - t0) / 1e9, r["live_bytes"]) for r in tl_hold if r["time_ns"] <= t_full]
if len(grow) < 8: fail(f"hold: only {len(grow)} samples while growing")
n = len(grow)
mx = sum(x for x, _ in grow) / n; my = sum(y for _, y in grow) / n
sxx = sum((x - mx) ** 2 for x, _ in grow); syy = sum((y - my) ** 2 for _, y in grow)
sxy = sum((x - mx) * (y - my) for x, y in grow)
r2 = sxy * sxy / (sxx * syy) if sxx and syy else 0
if r2 < 0.9 or sxy <= 0: fail(f"hold: growth is not linear in time (R^2 = {r2:.3f})")
print(f"ok: hold grows linearly to {max(live)} live bytes (program: {want}), R^2 = {r2:.3f} over {n} samples")

# free: bounded by what the program held at most, itself bounded by the DAG's width
width = free["width"]
if free["peak_results"] > 2 * width: fail(f"free: program held {free['peak_results']} results, width {width}")
bound = free["peak_held_bytes"] + size // 2 + (256 << 10)
flive = [r["live_bytes"] for r in tl_free]
if max(flive) > bound: fail(f"free: timeline peaks at {max(flive)} live bytes, above {bound}")
half = len(flive) // 2
if max(flive[half:]) > max(flive[:half]) + size:
    fail(f"free: still growing in the second half ({max(flive[:half])} -> {max(flive[half:])})")
if max(flive) * 3 > max(live): fail("free mode does not stand apart from hold mode")
print(f"ok: free plateaus at {max(flive)} live bytes (program peak {free['peak_held_bytes']}, "
      f"{free['peak_results']} results for width {width}); hold reached {max(live)}")
html = open(f"{work}/dag.html").read()
if html.count('class="tl-point"') != len(tl_hold) + len(tl_free): fail("HTML timeline points do not match the records")
print("PASS")
EOF
