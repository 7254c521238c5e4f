#!/usr/bin/env bash
# test_real_programs.sh: programs nobody here wrote run unmodified under the shim with the
# same output as without it, and leave a dump sesstrim-report can read. Skips what is absent.
set -u
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${ST_BUILD:-$ROOT/build}
LIB=$BUILD/libsesstrim.so
REPORT=$BUILD/sesstrim-report
WORK=$(mktemp -d /tmp/sesstrim-real-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
ran=0 failed=0

# check NAME CMD...: run CMD plain and under the shim in $WORK/<name>-{plain,shim}; compare.
check() {
    local name=$1; shift
    local plain=$WORK/$name-plain shim=$WORK/$name-shim
    mkdir -p "$plain" "$shim"
    (cd "$plain" && env -u LD_PRELOAD "$@" >"$WORK/$name.plain.out" 2>&1)
    local prc=$?
    (cd "$shim" && env LD_PRELOAD="$LIB" SESSTRIM_DUMP="$WORK/$name-%p.bin" SESSTRIM_LOG=off "$@" >"$WORK/$name.shim.out" 2>&1)
    local src=$?
    ran=$((ran+1))
    if [ $prc -ne $src ]; then
        echo "FAIL $name: exit status $prc plain vs $src under the shim"; failed=$((failed+1)); return
    fi
    if ! cmp -s "$WORK/$name.plain.out" "$WORK/$name.shim.out"; then
        echo "FAIL $name: output differs under the shim"; diff "$WORK/$name.plain.out" "$WORK/$name.shim.out" | head -20
        failed=$((failed+1)); return
    fi
    local dumps=("$WORK/$name"-*.bin)
    if [ ! -f "${dumps[0]}" ]; then
        echo "FAIL $name: no dump written"; failed=$((failed+1)); return
    fi
    if ! "$REPORT" "${dumps[@]}" >"$WORK/$name.report" 2>"$WORK/$name.report.err"; then
        echo "FAIL $name: sesstrim-report failed: $(head -1 "$WORK/$name.report.err")"; failed=$((failed+1)); return
    fi
    echo "ok   $name: same output, ${#dumps[@]} dump(s), report $(wc -l <"$WORK/$name.report") lines"
}

have() { command -v "$1" >/dev/null 2>&1; }

# python3 with a thread pool: threads in their own arenas, a deterministic result
if have python3; then
    cat >"$WORK/pool.py" <<'PY'
import concurrent.futures, hashlib
def work(i):
    blobs = [bytes([i % 256]) * (1000 + j) for j in range(2000)]
    return hashlib.sha256(b"".join(blobs)).hexdigest()
with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
    results = list(ex.map(work, range(32)))
print(len(results), results[0], results[-1])
PY
    check python3 python3 "$WORK/pool.py"
else echo "skip python3: not installed"; fi

if have gcc; then
    cat >"$WORK/hello.c" <<'C'
#include <stdio.h>
struct point { int x, y; };
static int area(struct point a, struct point b) { return (b.x - a.x) * (b.y - a.y); }
int main(void) { struct point a = {1, 2}, b = {11, 22}; printf("area %d\n", area(a, b)); return 0; }
C
    check gcc sh -c "gcc -O2 -Wall -o hello '$WORK/hello.c' && ./hello"
else echo "skip gcc: not installed"; fi

if have git; then
    check git sh -c 'git init -q repo && cd repo && git config user.email t@t && git config user.name t &&
        for i in $(seq 1 50); do echo "line $i" >> f.txt; git add f.txt; git commit -qm "c$i"; done &&
        git log --format=%s | head -3 && git rev-list --count HEAD && git cat-file -p HEAD:f.txt | tail -1'
else echo "skip git: not installed"; fi

if have sqlite3; then
    check sqlite3 sh -c "sqlite3 db.sqlite 'create table t(a integer, b text);
        with recursive c(x) as (select 1 union all select x+1 from c where x < 50000)
        insert into t select x, printf('k%08d', (x * 7919) % 50000) from c;
        create index ti on t(b); select count(*), sum(a), max(b) from t;'"
else echo "skip sqlite3: not installed"; fi

if have sort; then
    python3 -c "
import random
r = random.Random(7)
with open('$WORK/big.txt', 'w') as f:
    for i in range(1500000): f.write('%016x %d\n' % (r.getrandbits(64), i))
" 2>/dev/null || awk 'BEGIN{srand(7); for(i=0;i<1500000;i++) printf "%08x%08x %d\n", int(rand()*4294967295), int(rand()*4294967295), i}' >"$WORK/big.txt"
    check sort sh -c "sort -S 64M --parallel=2 '$WORK/big.txt' | md5sum"
else echo "skip sort: not installed"; fi

echo "real programs: $ran run, $failed failed"
[ $ran -eq 0 ] && { echo "nothing to run"; exit 77; }
[ $failed -eq 0 ]
