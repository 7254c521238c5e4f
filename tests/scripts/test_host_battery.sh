#!/usr/bin/env bash
# test_host_battery.sh: the hostile-host battery of issue 8 (tests/host/run.sh): every
# program in tests/host/ plain and under the shim in three configurations, compared byte
# for byte; fails on any hang, crash or difference. `make stress` repeats it 10 times.
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
exec "$ROOT/tests/host/run.sh"
