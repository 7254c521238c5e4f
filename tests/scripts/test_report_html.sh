#!/usr/bin/env bash
# test_report_html.sh: renders `sesstrim-report --html` of a synthetic process family in headless
# Chromium and checks the live DOM holds the charts with the counts the dumps imply.
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${ST_BUILD:-$ROOT/build}
REPORT=$BUILD/sesstrim-report
GEN=$BUILD/tests/progs/htmlgen_dumps
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$REPORT" ] || fail "$REPORT not built"
[ -x "$GEN" ] || fail "$GEN not built"

find_browser() {
    for b in chromium chromium-browser google-chrome; do
        command -v "$b" >/dev/null 2>&1 && { command -v "$b"; return 0; }
    done
    return 1
}
BROWSER=$(find_browser)
if [ -z "$BROWSER" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium with apt-get..."
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1
    BROWSER=$(find_browser)
fi
[ -n "$BROWSER" ] || { echo "skip: chromium not found and could not be installed"; exit 77; }

WORK=$(mktemp -d /tmp/sesstrim-html-XXXXXX)
PROFILE=$(mktemp -d /tmp/sesstrim-chromium-XXXXXX)
trap 'rm -rf "$WORK" "$PROFILE"' EXIT
browser() {
    timeout 120 "$BROWSER" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$PROFILE" "$@" 2>>"$WORK/browser.log"
}

# A parent and two children, each shaped differently so counts cannot be confused.
P_ARENAS=5 P_TIMELINE=23 P_TRIMS=2
C1_ARENAS=2 C1_TIMELINE=11 C1_TRIMS=1
C2_ARENAS=3 C2_TIMELINE=0 C2_TRIMS=0
"$GEN" "$WORK/p.bin" pid=700 ppid=1 arenas=$P_ARENAS timeline=$P_TIMELINE trims=$P_TRIMS || fail "generator"
"$GEN" "$WORK/c1.bin" pid=701 ppid=700 arenas=$C1_ARENAS timeline=$C1_TIMELINE trims=$C1_TRIMS session='<b>x</b>' || fail "generator"
"$GEN" "$WORK/c2.bin" pid=702 ppid=700 arenas=$C2_ARENAS timeline=$C2_TIMELINE trims=$C2_TRIMS || fail "generator"

"$REPORT" --html "$WORK/report.html" "$WORK/c2.bin" "$WORK/p.bin" "$WORK/c1.bin" || fail "sesstrim-report --html exited $?"
[ -s "$WORK/report.html" ] || fail "no HTML written"
if grep -Eq '(src|href)="(https?:)?//|<script|<link' "$WORK/report.html"; then
    fail "the page refers to something outside itself"
fi

browser --dump-dom "file://$WORK/report.html" >"$WORK/dom.html" || fail "chromium --dump-dom failed: $(tail -n 3 "$WORK/browser.log")"
[ -s "$WORK/dom.html" ] || fail "empty DOM from chromium"

# Per process section, count what the browser parsed; sections are keyed by pid so the order
# the analyzer chooses for a family does not matter here.
per_section() {  # pattern -> "pid:count" for each <section class="process">, sorted by pid
    awk -v pat="$1" 'BEGIN { RS = "<section class=\"process\"" } NR > 1 {
        match($0, /data-pid="[0-9]+"/); pid = substr($0, RSTART + 10, RLENGTH - 11)
        print pid ":" gsub(pat, "&") }' "$WORK/dom.html" | sort -n | tr '\n' ' '
}
expect() {  # what, got, want
    [ "$2" = "$3" ] || fail "$1: got [$2], want [$3]"
    echo "ok: $1 = $2"
}
want() {  # parent child1 child2 values -> "pid:value" sorted by pid
    echo "700:$1 701:$2 702:$3 "
}
expect "process sections" "$(grep -o '<section class="process" id="pid-[0-9]*"' "$WORK/dom.html" | grep -o '[0-9]*' | sort -n | tr '\n' ' ')" "700 701 702 "
expect "parent section first" "$(grep -o '<section class="process" id="pid-[0-9]*"' "$WORK/dom.html" | head -n 1 | grep -o '[0-9]*')" "700"
expect "arena bars per process" "$(per_section 'class="arena-bar"')" "$(want $P_ARENAS $C1_ARENAS $C2_ARENAS)"
expect "timeline points per process" "$(per_section 'class="tl-point"')" "$(want $P_TIMELINE $C1_TIMELINE $C2_TIMELINE)"
expect "timeline charts per process" "$(per_section '<svg class="chart timeline"')" "$(want 1 1 0)"
expect "occupancy histograms per process" "$(per_section '<svg class="chart occupancy"')" "$(want $P_ARENAS $C1_ARENAS $C2_ARENAS)"
expect "occupancy bars per process" "$(per_section 'class="occ-bar"')" \
    "$(want $((P_ARENAS * 11)) $((C1_ARENAS * 11)) $((C2_ARENAS * 11)))"
expect "trim rows per process" "$(per_section '<tr class="trim">')" "$(want $P_TRIMS $C1_TRIMS $C2_TRIMS)"
expect "layer segments per process" "$(per_section 'class="layer"')" "$(want 12 12 12)"
# The page opens with what a person needs: in every process section the summary and the
# advice come before the first histogram or chart (timeline, arenas, occupancy).
order=$(awk 'BEGIN { RS = "<section class=\"process\"" } NR > 1 {
    match($0, /data-pid="[0-9]+"/); pid = substr($0, RSTART + 10, RLENGTH - 11)
    s = index($0, "class=\"summary-head\""); a = index($0, "class=\"advice-head\"")
    c = length($0) + 1
    n = split("<svg class=\"chart timeline\"|<svg class=\"chart occupancy\"|class=\"arena-bar\"", pats, "|")
    for (i = 1; i <= n; i++) { p = index($0, pats[i]); if (p && p < c) c = p }
    print pid ":" ((s > 0 && a > s && c > a) ? "ok" : "bad(" s "," a "," c ")") }' "$WORK/dom.html" | sort -n | tr '\n' ' ')
expect "summary, then advice, before the charts" "$order" "$(want ok ok ok)"
# one family order for every output: parent first, its children in the order given (c2, c1)
expect "family rows, parent first" "$(grep -o 'class="family-row" data-pid="[0-9]*" data-ppid="[0-9]*"' "$WORK/dom.html" | grep -o 'data-pid="[0-9]*"' | tr '\n' ' ')" \
    'data-pid="700" data-pid="702" data-pid="701" '
# labels a person reads: every arena of the parent named, the main one marked
for a in $(seq 0 $((P_ARENAS - 1))); do
    grep -q "data-arena-id=\"$a\"" "$WORK/dom.html" || fail "arena $a has no bar"
done
grep -q '>arena 0 (main)<' "$WORK/dom.html" || fail "main arena label missing"
grep -q '&lt;b&gt;x&lt;/b&gt;-0' "$WORK/dom.html" || fail "session name not shown escaped"
grep -q '<b>x</b>' "$WORK/dom.html" && fail "session name injected markup"

# A screenshot for people (kept in the test logs); it must be a real PNG of some size.
SHOT=$BUILD/test-logs/report_html.png
mkdir -p "$(dirname "$SHOT")"
browser --window-size=1100,1000 --screenshot="$SHOT" "file://$WORK/report.html" >/dev/null || fail "screenshot failed"
[ "$(head -c 8 "$SHOT" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "screenshot is not a PNG"
[ "$(stat -c %s "$SHOT")" -gt 50000 ] || fail "screenshot suspiciously small (blank page?)"
echo "screenshot: $SHOT"

"$REPORT" --html /nonexistent-dir/r.html "$WORK/p.bin" 2>"$WORK/err.txt"
rc=$?
[ $rc -eq 2 ] || fail "unwritable --html path: exit $rc, want 2"
[ "$(wc -l <"$WORK/err.txt")" -eq 1 ] || fail "unwritable --html path: want one error line, got: $(cat "$WORK/err.txt")"
echo "PASS"
