#!/usr/bin/env bash
# stress.sh: `make stress`: a long trim-vs-churn run (default 60 s, ST_STRESS_SECONDS to
# change): policy trims every 300us plus back-to-back API trims beside 4 churning threads;
# each trim releases top chunks and pages inside free bin chunks in lock slices.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${ST_BUILD:-$ROOT/build}
SECS=${ST_STRESS_SECONDS:-60}
THREADS=${ST_STRESS_THREADS:-4}
DIR=$(mktemp -d /tmp/sesstrim-stress-XXXXXX)
trap 'rm -rf "$DIR"' EXIT
fail=0
run() {  # label, policy, extra args...
    local label=$1 policy=$2; shift 2
    echo "stress: $label: $THREADS threads, ${SECS}s, SESSTRIM_TRIM='$policy'"
    # env inside timeout: only the stress program is preloaded and writes the dump.
    if ! timeout -k 10 $((SECS * 3 + 60)) env LD_PRELOAD="$BUILD/libsesstrim.so" SESSTRIM_LOG=off \
         SESSTRIM_TRIM="$policy" SESSTRIM_DUMP="$DIR/$label.dump" \
         "$BUILD/tests/progs/trim_stress" --threads "$THREADS" --seconds "$SECS" "$@"; then
        echo "stress: $label FAILED"; fail=1
    fi
    if [ -x "$BUILD/sesstrim-report" ] && [ -f "$DIR/$label.dump" ]; then
        "$BUILD/sesstrim-report" "$DIR/$label.dump" 2>/dev/null | sed -n '/^Trims/,/^$/p' | head -12
    fi
}
run policy-and-api "every=300us;min-interval=0,quiet=0" --api-trim --fork
run api-only "" --api-trim --api-gap-us 100
run policy-glibc-on "every=200us;min-interval=0,quiet=0,glibc=on"
run policy-bins-busy "every=1ms;min-interval=0,quiet=0" --api-trim --api-gap-us 50
[ $fail -eq 0 ] && echo "stress: PASS" || echo "stress: FAIL"
exit $fail
