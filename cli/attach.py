# attach.py: run inside gdb (-batch -p PID -x attach.py) by `sesstrim attach`. Reads glibc's
# arenas of a process started without the shim and, in trim mode, gives back their free
# pages: glibc's malloc_trim(0) (bins of every arena, the main arena's top), then the
# resident pages of each thread arena's top chunk (which malloc_trim(0) leaves), with
# madvise(MADV_DONTNEED) called in the target while every other thread is stopped and the
# arena's mutex is free. Prints "key value" lines for the C side (cli/attach.c).
# Layout: glibc 2.34..2.39 x86-64 malloc_state (the offsets preload/shim.h checks).
import gdb, os, sys

MODE = os.environ.get("SESSTRIM_ATTACH_MODE", "stats")
PID = gdb.selected_inferior().pid
MSTATE_TOP, MSTATE_NEXT, MSTATE_SYSTEM_MEM = 96, 2160, 2184
HEAP_MAX = 64 << 20
PAGE = os.sysconf("SC_PAGE_SIZE")
inf = gdb.selected_inferior()

def out(k, v): print("sesstrim-attach %s %s" % (k, v), flush=True)
def word(addr): return int.from_bytes(bytes(inf.read_memory(addr, 8)), "little")
def u32(addr): return int.from_bytes(bytes(inf.read_memory(addr, 4)), "little")
def rss():
    with open("/proc/%d/status" % PID) as f:
        for l in f:
            if l.startswith("VmRSS:"): return int(l.split()[1]) * 1024
    return 0
def heap_bytes():   # Private_Dirty+Rss of anonymous heap mappings is overkill: RSS suffices
    return rss()

try:
    main = int(gdb.parse_and_eval("(unsigned long)&main_arena"))
except gdb.error as e:
    out("error", "glibc's main_arena symbol not found (%s): arenas cannot be located" % str(e).replace("\n", " "))
    raise SystemExit
arenas, a = [], main
while len(arenas) < 1024:
    arenas.append(a)
    a = word(a + MSTATE_NEXT)
    if a == main or a == 0: break

def describe(i, ar):
    top = word(ar + MSTATE_TOP)
    size = word(top + 8) & ~7 if top else 0
    return top, size, word(ar + MSTATE_SYSTEM_MEM), u32(ar)

out("rss_before", rss())
out("arenas", len(arenas))
for i, ar in enumerate(arenas):
    top, size, sysmem, mutex = describe(i, ar)
    out("arena", "%d kind %s system %d top %d locked %d" % (i, "main" if ar == main else "thread", sysmem, size, 1 if mutex else 0))

if MODE == "trim":
    if any(u32(ar) for ar in arenas):
        out("busy", "an arena lock is held by a stopped thread")
        raise SystemExit
    # glibc's pass: other threads run meanwhile (scheduler-locking off), so a lock taken by
    # them is released normally; the calling thread holds none (all were free above).
    gdb.execute("set scheduler-locking off")
    r0 = rss()
    gdb.parse_and_eval("(int)malloc_trim(0)")
    r1 = rss()
    out("glibc_released", max(0, r0 - r1))
    # Thread-arena tops: only this thread runs; an arena whose mutex is held is skipped.
    gdb.execute("set scheduler-locking on")
    total = 0
    for i, ar in enumerate(arenas):
        if ar == main: continue
        if u32(ar):
            out("skipped", i); continue
        top, size, _, _ = describe(i, ar)
        heap = top & ~(HEAP_MAX - 1)
        if not top or top & 0xF or word(heap) != ar or heap + word(heap + 16) != top + size:
            out("skipped", i); continue      # not glibc's layout as expected: untouched
        start = (top + 16 + PAGE - 1) & ~(PAGE - 1)
        end = (top + size) & ~(PAGE - 1)
        if end <= start: continue
        b = rss()
        rc = int(gdb.parse_and_eval("(int)madvise((void*)%d, %d, 4)" % (start, end - start)))
        rel = max(0, b - rss())
        total += rel
        out("top_released", "%d %d rc %d" % (i, rel, rc))
    out("tops_released", total)
    gdb.execute("set scheduler-locking off")
out("rss_after", rss())
