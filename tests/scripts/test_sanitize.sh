#!/usr/bin/env bash
# test_sanitize.sh: the fast subset of `make sanitize` (tests/sanitize/run.sh --quick): the TSan
# shim harness in its three configurations with fewer iterations, and the ASan+UBSan
# sesstrim-report over the whole dump corpus in every output mode. Fails on any TSan report,
# any ASan/UBSan report, a bad dump not refused with exit 2, or a good one not read.
# Skips (77) when the sanitizer builds are missing (check-build makes them).
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
exec "$ROOT/tests/sanitize/run.sh" --quick
