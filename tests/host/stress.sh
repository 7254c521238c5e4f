#!/usr/bin/env bash
# stress.sh: the hostile-host battery (tests/host/run.sh) repeated HOST_STRESS_REPS times
# (default 10), for `make stress`: a fault that shows once in ten runs is still a fault.
# Prints each repetition's summary, then every (kind, config) cell that failed at least
# once with how often and how; exits 1 if any did. Arguments are passed to run.sh.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
REPS=${HOST_STRESS_REPS:-10}
LOG=$(mktemp /tmp/sesstrim-host-stress-XXXXXX)
trap 'rm -f "$LOG"' EXIT
status=0
for ((i = 1; i <= REPS; i++)); do
    out=$("$ROOT/tests/host/run.sh" "$@" 2>&1)
    rc=$?
    [ $rc -eq 77 ] && { echo "$out"; exit 77; }
    [ $rc -eq 0 ] || status=1
    echo "repetition $i/$REPS: $(echo "$out" | grep '^battery:')"
    # detail lines look like "kind/config: VERDICT: what differed"
    echo "$out" | grep -E '^[a-z0-9_]+/[abc]: (FAIL|HANG|CRASH):' >>"$LOG"
done
if [ -s "$LOG" ]; then
    echo
    echo "cells that did not pass (times out of $REPS, verdicts):"
    awk -F': ' '{cell[$1]++; v[$1] = v[$1] (v[$1] ? "," : "") $2}
        END {for (c in cell) printf "  %-34s %2d  %s\n", c, cell[c], v[c]}' "$LOG" | sort
fi
[ $status -eq 0 ] && echo "host stress: PASS" || echo "host stress: FAIL"
exit $status
