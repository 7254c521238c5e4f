#!/usr/bin/env bash
# run.sh: run glibc's malloc/ tests built by build.sh plain, under the shim, and under the
# shim with every service thread busy; print a table test x config; exit 0 when every
# test gives the same verdict in the three configurations, except where
# tests/glibc/EXCEPTIONS allows a test to differ in a configuration (an exception that
# no longer applies is reported, so that its line gets removed).
#
# Configurations:
#   plain      the test's own environment (malloc/Makefile's NAME-ENV), no shim
#   shim       LD_PRELOAD=libsesstrim.so first, with the shim's defaults
#   shim-busy  as shim, plus SESSTRIM_TRIM=every=10ms SESSTRIM_STACKS=all
#              SESSTRIM_DUMP_INTERVAL=50ms SESSTRIM_DUMP=<per-run dir>/dump-%p.bin
# Verdicts: PASS (exit 0), UNSUPPORTED (77), HANG (glibc's test driver reported
# "Timed out" after the test's own TIMEOUT, or the outer safety timeout fired), FAIL
# (anything else; a signal is shown as FAIL:SIGNAME). A test whose verdicts differ only
# by HANG runs once more everywhere with TIMEOUTFACTOR=3 before it counts (see below).
#
# Environment: GLIBC_TESTS_SHIM (the preload, default build/libsesstrim.so),
# GLIBC_TESTS_JOBS (parallel runs, default nproc), GLIBC_TESTS_ONLY (a regex
# of test names to run), GLIBC_TESTS_CONFIGS (default "plain shim shim-busy").
# Each run's output stays in $OUT/runs/<config>/<test>.out.
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${ST_BUILD:-$ROOT/build}
OUT=${GLIBC_TESTS_OUT:-$BUILD/glibc-tests}
HERE=$ROOT/tests/glibc
LIB=${GLIBC_TESTS_SHIM:-$BUILD/libsesstrim.so}
JOBS=${GLIBC_TESTS_JOBS:-$(nproc)}
CONFIGS=${GLIBC_TESTS_CONFIGS:-plain shim shim-busy}
LIBDIR=$(dirname "$(ldd /bin/true | sed -n 's/.*libc\.so\.6 => \([^ ]*\).*/\1/p')")

[ -f "$OUT/built.list" ] || { echo "no build in $OUT: run tests/glibc/build.sh first"; exit 77; }
[ -f "$LIB" ] || { echo "$LIB missing: make first"; exit 77; }
WORK=$(mktemp -d /tmp/sesstrim-glibc-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
rm -rf "$OUT/runs"
export OUT LIB LIBDIR WORK HERE

# One run: test, config. Writes $OUT/runs/<config>/<test>.{out,verdict}.
run_one() {
    local t=$1 cfg=$2 factor=${3:-1} envspec pre="" kv dir rc verdict limit
    envspec=$(grep -E "^$t([[:space:]]|\||$)" "$HERE/tests.list" | head -1 | sed -n 's/^[^|]*|//p')
    local envs=()
    for kv in $envspec; do
        case $kv in
            preload:*) pre="$pre $LIBDIR/${kv#preload:}";;
            *) envs+=("$kv");;
        esac
    done
    dir=$WORK/$cfg/$t
    mkdir -p "$dir" "$OUT/runs/$cfg"
    case $cfg in
        plain) ;;
        shim) pre="$LIB$pre";;
        shim-busy) pre="$LIB$pre"
                   envs+=(SESSTRIM_TRIM=every=10ms SESSTRIM_STACKS=all SESSTRIM_DUMP_INTERVAL=50ms
                          "SESSTRIM_DUMP=$dir/dump-%p.bin");;
    esac
    pre=${pre# }
    # The outer limit only guards against a hung test driver; the driver's own alarm
    # (the test's TIMEOUT: 20 s, up to 100 s) is what normally reports a hang.
    limit=$(sed -n 's/^#define TIMEOUT \([0-9]*\).*/\1/p' "$OUT/inc/malloc/$t.c" 2>/dev/null | head -1)
    limit=$(( ${limit:-20} * factor + 30 ))
    ( cd "$dir" && exec env -u LD_PRELOAD ${pre:+LD_PRELOAD="$pre"} TMPDIR="$dir" TIMEOUTFACTOR="$factor" "${envs[@]}" \
        timeout -k 5 "$limit" "$OUT/bin/$t" ) >"$OUT/runs/$cfg/$t.out" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then verdict=PASS
    elif [ $rc -eq 77 ]; then verdict=UNSUPPORTED
    elif [ $rc -eq 124 ] || [ $rc -eq 137 ] || grep -q '^Timed out' "$OUT/runs/$cfg/$t.out"; then verdict=HANG
    elif [ $rc -gt 128 ]; then verdict=FAIL:$(kill -l $((rc - 128)) 2>/dev/null || echo $rc)
    else verdict=FAIL
    fi
    echo "$verdict" >"$OUT/runs/$cfg/$t.verdict"
    rm -rf "$dir"
}
export -f run_one

tests=$(cat "$OUT/built.list")
[ -n "${GLIBC_TESTS_ONLY:-}" ] && tests=$(grep -E "${GLIBC_TESTS_ONLY}" <<<"$tests")
# Longest first (as measured plain), so the slow ones do not start last.
slow="tst-mallocfork3 tst-mallocfork2 tst-malloc-tcache-leak tst-malloc-thread-fail tst-malloc-thread-exit tst-malloc-fork-deadlock tst-malloc-too-large"
order=$( { for s in $slow; do grep -qx "$s" <<<"$tests" && echo "$s"; done; grep -vxF -f <(tr ' ' '\n' <<<"$slow") <<<"$tests"; } )
start=$(date +%s)
for t in $order; do for c in $CONFIGS; do echo "$t $c"; done; done \
    | xargs -P "$JOBS" -L1 bash -c 'run_one "$@"' _

# A verdict that differs from plain only by a HANG may be a slow run on a loaded machine
# (on 2 shared cores even plain tst-malloc-too-large has timed out): such a test runs once
# more in every configuration with glibc's TIMEOUTFACTOR=3 (3x its own timeout). A real
# deadlock hangs again; a FAIL is never retried, nor a run whose test reported itself
# stuck (tst-mallocfork2/3's liveness check), nor an excepted one. The retries start only
# while the run is younger than GLIBC_TESTS_RETRY_BUDGET seconds (default 240), so that a
# shim that hangs everywhere still ends well inside tests/run.sh's limit. What the first
# round saw stays in the table.
declare -A first
retry=()
for t in $tests; do
    ref=$(cat "$OUT/runs/plain/$t.verdict" 2>/dev/null) hang=0 other=0
    for c in $CONFIGS; do
        v=$(cat "$OUT/runs/$c/$t.verdict" 2>/dev/null)
        [ "$v" = "$ref" ] && continue
        if [ "$v" = HANG ] || [ "$ref" = HANG ]; then hang=1; else other=1; fi
        grep -q 'process seems to be stuck' "$OUT/runs/$c/$t.out" 2>/dev/null && other=1
    done
    [ $hang -eq 1 ] && [ $other -eq 0 ] || continue
    grep -qE "^$t[[:space:]]" "$HERE/EXCEPTIONS" 2>/dev/null && continue
    first[$t]=$(for c in $CONFIGS; do printf '%s ' "$c=$(cat "$OUT/runs/$c/$t.verdict")"; done)
    retry+=("$t")
done
if [ ${#retry[@]} -gt 0 ] && [ $(( $(date +%s) - start )) -lt "${GLIBC_TESTS_RETRY_BUDGET:-240}" ]; then
    for t in "${retry[@]}"; do for c in $CONFIGS; do echo "$t $c 3"; done; done \
        | xargs -P "$JOBS" -L1 bash -c 'run_one "$@"' _
else
    for t in "${retry[@]}"; do unset "first[$t]"; done
fi
end=$(date +%s)

# --- the table and the verdict --------------------------------------------------------------
# EXCEPTIONS: NAME CONFIGS REASON, CONFIGS a comma list of the configurations in which NAME
# may give another verdict than plain.
declare -A exc_cfgs exc_why
if [ -f "$HERE/EXCEPTIONS" ]; then
    while read -r name cfgs reason; do
        [ -n "$name" ] || continue
        exc_cfgs[$name]=",$cfgs,"; exc_why[$name]=$reason
    done < <(grep -vE '^\s*(#|$)' "$HERE/EXCEPTIONS")
fi
printf '%-32s' test; for c in $CONFIGS; do printf ' %-12s' "$c"; done; echo
bad=0 same=0 excepted=0 fixed=()
for t in $(sort <<<"$tests"); do
    printf '%-32s' "$t"
    ref="" differs="" allowed="" used=0
    for c in $CONFIGS; do
        v=$(cat "$OUT/runs/$c/$t.verdict" 2>/dev/null || echo MISSING)
        printf ' %-12s' "$v"
        if [ -z "$ref" ]; then ref=$v; continue; fi      # the first configuration (plain)
        if [ "$v" != "$ref" ]; then
            if [[ ${exc_cfgs[$t]:-} == *",$c,"* ]]; then allowed="$allowed $c"; used=1
            else differs="$differs $c"; fi
        fi
    done
    [ -n "${first[$t]:-}" ] && printf '  (retried with TIMEOUTFACTOR=3; first round: %s)' "${first[$t]% }"
    if [ -n "$differs" ]; then
        bad=$((bad+1)); echo "  <- DIFFERS in$differs (output: $OUT/runs/<config>/$t.out)"
    elif [ -n "$allowed" ]; then
        excepted=$((excepted+1)); echo "  excepted in$allowed: ${exc_why[$t]}"
    else
        same=$((same+1)); echo
    fi
    [ -n "${exc_cfgs[$t]:-}" ] && [ $used -eq 0 ] && fixed+=("$t")
done
echo "glibc malloc tests: $(wc -w <<<"$tests") built, $same same verdict in every configuration, $excepted excepted, $bad differ; $((end-start)) s"
for t in "${fixed[@]}"; do
    echo "note: $t is listed in tests/glibc/EXCEPTIONS but gave the plain verdict everywhere: remove its line if that holds"
done
[ $bad -eq 0 ]
