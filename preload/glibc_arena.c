/* glibc_arena.c: which glibc arena served a pointer, the registry of arenas seen (main_arena
 * included, found without needing a thread arena), and glibc's arena lock. Offsets are in
 * glibc_layout.h; every structure found by guessing is read with st_safe_read first. */
#include <errno.h>
#include <gnu/libc-version.h>
#include <linux/futex.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "shim.h"
#include "safe_read.h"

bool st_arena_logic;
uint64_t st_heap_max_size = 64ull << 20;
static uint64_t heapinfo_size = HEAPINFO_SIZEOF;

static struct st_arena arenas[ST_ARENA_MAX];
static uint32_t n_arenas = 1;          /* id 0 is main_arena, found by arena_discover_all */
ST_LOCK_DEFINE(registry_lock, ST_RANK_ARENAS, NULL);

/* The heaps a thread met last, with the arena each pointed to: most lookups stop at the
 * first entry. Four, because a thread also meets chunks of other arenas (tcache hands them
 * out, consumers free producers' blocks). The arena is re-read from the heap each time:
 * glibc may unmap an empty heap and map another arena's at the same address. */
#define TLS_HEAPS 4
static ST_TLS uintptr_t tls_heap[TLS_HEAPS], tls_state[TLS_HEAPS];
static ST_TLS uint32_t tls_arena[TLS_HEAPS];

/* Heaps already found mapped: mincore runs once per heap, not once per lookup. */
#define KNOWN_HEAPS 4096
static uintptr_t known_heap[KNOWN_HEAPS];

static void arena_logic_off(const char *why)
{
    if (!st_arena_logic) return;
    st_arena_logic = false;
    st_log("arena attribution off: %s", why);
}

static uint64_t read_hugepage_size(void)
{
    char buf[4096];
    if (!st_read_small_file("/proc/meminfo", buf, sizeof buf)) return 0;
    char *p = strstr(buf, "Hugepagesize:");
    return p ? strtoull(p + 13, NULL, 10) * 1024 : 0;
}

/* HEAP_MAX_SIZE in force: 64 MiB, or 4 huge pages with glibc.malloc.hugetlb >= 2. */
static void read_heap_max_size(void)
{
    const char *t = getenv("GLIBC_TUNABLES");
    const char *h = t ? strstr(t, "glibc.malloc.hugetlb=") : NULL;
    if (!h) return;
    unsigned long long v = strtoull(h + 21, NULL, 0);
    uint64_t page = 0;
    if (v == 2) page = read_hugepage_size();
    else if (v > 2 && (v & (v - 1)) == 0) page = v;
    if (page) st_heap_max_size = 4 * page;
}

void glibc_arena_init(void)
{
    const char *ver = gnu_get_libc_version();
    /* Test hook: pretend to be another glibc, to exercise the unverified path. */
    const char *pretend = getenv("SESSTRIM_TEST_GLIBC_VERSION");
    if (pretend && *pretend) ver = pretend;
    unsigned major = 0, minor = 0;
    char *end;
    major = (unsigned)strtoul(ver, &end, 10);
    if (*end == '.') minor = (unsigned)strtoul(end + 1, NULL, 10);
    if (major != 2 || minor < ST_GLIBC_FLOOR_MINOR || minor > ST_GLIBC_VERIFIED_MAX_MINOR) {
        st_log("glibc %s is outside the verified range 2.%d..2.%d: accounting without arena internals",
               ver, ST_GLIBC_FLOOR_MINOR, ST_GLIBC_VERIFIED_MAX_MINOR);
        return;
    }
    heapinfo_size = minor >= 35 ? HEAPINFO_SIZEOF : 32;
    read_heap_max_size();
    st_arena_logic = true;
}

static bool page_mapped(uintptr_t addr)
{
    unsigned char vec;
    return syscall(SYS_mincore, addr & ~(uintptr_t)4095, 4096, &vec) == 0;
}

static bool is_thread_arena_state(uintptr_t state)
{
    return ((state - heapinfo_size) & (st_heap_max_size - 1)) == 0;
}

/* Registry lookup by malloc_state address; registers a new arena. Caller holds the lock. */
static uint32_t register_state(uintptr_t state, uint32_t kind)
{
    if (kind == ST_ARENA_MAIN) {
        /* arenas[0].kind is ST_ARENA_MAIN from the start (zero): never written, so readers
         * without the lock (arena_heap_ranges) race with nothing. */
        _Static_assert(ST_ARENA_MAIN == 0, "slot 0 is main_arena's from zero-initialisation");
        /* read without the lock by the dump and the trimmer: publish it last */
        __atomic_store_n(&arenas[0].state, state, __ATOMIC_RELEASE);
        return 0;
    }
    for (uint32_t i = 1; i < n_arenas; i++)
        if (arenas[i].state == state) return i;
    if (n_arenas >= ST_ARENA_MAX) return ST_ARENA_UNKNOWN;
    uint32_t id = n_arenas;
    arenas[id].state = state;
    arenas[id].id = id;
    arenas[id].kind = ST_ARENA_THREAD;
    __atomic_store_n(&n_arenas, id + 1, __ATOMIC_RELEASE);
    return id;
}

static inline uint32_t known_slot(uintptr_t heap)
{
    return (uint32_t)(((uint64_t)heap * 0x9E3779B97F4A7C15ull) >> 52) & (KNOWN_HEAPS - 1);
}

/* A heap base is safe to read once found mapped: a live chunk keeps its heap mapped. */
static bool heap_known_mapped(uintptr_t heap)
{
    uint32_t slot = known_slot(heap);
    for (uint32_t n = 0; n < KNOWN_HEAPS; n++, slot = (slot + 1) & (KNOWN_HEAPS - 1)) {
        uintptr_t h = __atomic_load_n(&known_heap[slot], __ATOMIC_ACQUIRE);
        if (h == heap) return true;
        if (!h) break;
    }
    if (!page_mapped(heap)) return false;
    st_lock(&registry_lock);
    slot = known_slot(heap);
    for (uint32_t n = 0; n < KNOWN_HEAPS; n++, slot = (slot + 1) & (KNOWN_HEAPS - 1)) {
        if (!known_heap[slot] || known_heap[slot] == heap) {
            __atomic_store_n(&known_heap[slot], heap, __ATOMIC_RELEASE);
            break;                        /* a full table only means more mincore calls */
        }
    }
    st_unlock(&registry_lock);
    return true;
}

static uint32_t state_to_id(uintptr_t state)
{
    uint32_t n = arena_count();
    for (uint32_t i = 1; i < n; i++)
        if (arenas[i].state == state) return i;
    st_lock(&registry_lock);
    uint32_t id = register_state(state, ST_ARENA_THREAD);
    st_unlock(&registry_lock);
    return id;
}

static uint32_t thread_arena_slow(uintptr_t heap)
{
    /* A wrong heap size would make us read outside the heap: check before trusting. */
    if (!heap_known_mapped(heap)) {
        arena_logic_off("chunk flagged non-main but its heap_info is not mapped (unexpected heap size)");
        return ST_ARENA_UNKNOWN;
    }
    uintptr_t state = __atomic_load_n((uintptr_t *)(heap + HEAPINFO_AR_PTR), __ATOMIC_RELAXED);
    uint32_t id = ST_ARENA_UNKNOWN;
    for (int i = 0; i < TLS_HEAPS; i++)
        if (tls_state[i] == state) { id = tls_arena[i]; break; }
    if (id == ST_ARENA_UNKNOWN) {
        if (!is_thread_arena_state(state) || !page_mapped(state)) {
            arena_logic_off("heap_info does not point at a thread arena (unexpected glibc layout)");
            return ST_ARENA_UNKNOWN;
        }
        id = state_to_id(state);
    }
    for (int i = TLS_HEAPS - 1; i > 0; i--) {
        tls_heap[i] = tls_heap[i - 1];
        tls_state[i] = tls_state[i - 1];
        tls_arena[i] = tls_arena[i - 1];
    }
    tls_heap[0] = heap;
    tls_state[0] = state;
    tls_arena[0] = id;
    return id;
}

uint32_t arena_of(const void *ptr, size_t *chunk_size)
{
    if (!st_arena_logic) {
        *chunk_size = st_real.malloc_usable_size ? st_real.malloc_usable_size((void *)ptr) : 0;
        return ST_ARENA_UNKNOWN;
    }
    size_t hdr = __atomic_load_n((const size_t *)ptr - 1, __ATOMIC_RELAXED);
    *chunk_size = hdr & ~(size_t)CHUNK_FLAGS;
    if (hdr & CHUNK_IS_MMAPPED) return ST_ARENA_MMAPPED;
    if (!(hdr & CHUNK_NON_MAIN)) return 0;
    uintptr_t heap = (uintptr_t)ptr & ~(uintptr_t)(st_heap_max_size - 1);
    if (ST_LIKELY(heap == tls_heap[0]) &&
        ST_LIKELY(__atomic_load_n((uintptr_t *)(heap + HEAPINFO_AR_PTR), __ATOMIC_RELAXED) == tls_state[0]))
        return tls_arena[0];
    return thread_arena_slow(heap);
}

size_t usable_size_of(const void *ptr)
{
    if (!st_arena_logic)
        return st_real.malloc_usable_size ? st_real.malloc_usable_size((void *)ptr) : 0;
    size_t hdr = __atomic_load_n((const size_t *)ptr - 1, __ATOMIC_RELAXED);
    size_t chunk = hdr & ~(size_t)CHUNK_FLAGS;
    return (hdr & CHUNK_IS_MMAPPED) ? chunk - 16 : chunk - 8;
}

uint32_t arena_count(void) { return __atomic_load_n(&n_arenas, __ATOMIC_ACQUIRE); }

const struct st_arena *arena_get(uint32_t id)
{
    if (id >= arena_count()) return NULL;
    return &arenas[id];
}

void arena_note_thread(uint32_t id, struct st_thread *t)
{
    (void)t;
    if (id < ST_ARENA_MAX) __atomic_add_fetch(&arenas[id].threads_seen, 1, __ATOMIC_RELAXED);
}

/* ---- main_arena
 * glibc does not export main_arena: it is a static struct malloc_state in libc's data. It
 * is found by its shape, in a copy of libc's writable mappings: at a candidate address A,
 * the mutex is 0..2, every one of the 127 bins is either empty, meaning its fd and bk both
 * point at the bin's own header inside A, or holds two 16-aligned chunk pointers outside
 * libc; top is 16-aligned; system_mem <= max_system_mem. Random data does not link a
 * dozen words to their own addresses at exactly these offsets. The one candidate is then
 * verified against the brk heap before it is trusted (matches_brk_heap), and every other
 * element of the arena ring from it must look like a thread arena. Failing that,
 * main-arena features are off, said in one line. */
static int main_search;               /* 0 not yet, 1 found, 2 gave up */
static uint64_t main_search_next_ns;   /* no search before this CLOCK_MONOTONIC time */

struct libc_span { uintptr_t fn; uint64_t inode; uintptr_t lo, hi; uintptr_t rw[8][2]; int nrw; bool after_last; };

static bool libc_maps_cb(const struct st_map_line *m, void *ctx)
{
    struct libc_span *s = ctx;
    if (!s->inode && m->start <= s->fn && s->fn < m->end && m->inode) s->inode = m->inode;
    return true;
}

static bool libc_rw_cb(const struct st_map_line *m, void *ctx)
{
    struct libc_span *s = ctx;
    bool ours = m->inode == s->inode;
    /* libc's .bss continues in the anonymous mapping right after its last file mapping */
    bool bss = s->after_last && !m->inode && !m->path[0] && s->hi == m->start;
    s->after_last = ours;
    if (!ours && !bss) return true;
    if (!s->lo || m->start < s->lo) s->lo = m->start;
    if (m->end > s->hi) s->hi = m->end;
    if ((m->perms & 3) == 3 && !(m->perms & 8) && s->nrw < 8) {
        s->rw[s->nrw][0] = m->start;
        s->rw[s->nrw][1] = m->end;
        s->nrw++;
    }
    return true;
}

static inline uintptr_t word_at(const unsigned char *b, size_t off)
{
    uintptr_t w;
    memcpy(&w, b + off, sizeof w);
    return w;
}

/* The malloc_state shape at address `addr`, whose bytes are b[0..MSTATE_SIZEOF). Chunk
 * pointers must lie outside [lo, hi), libc's own mappings. */
static bool mstate_shape(const unsigned char *b, uintptr_t addr, uintptr_t lo, uintptr_t hi)
{
    int mutex;
    memcpy(&mutex, b + MSTATE_MUTEX, sizeof mutex);
    if (mutex < 0 || mutex > 2) return false;
    uintptr_t top = word_at(b, MSTATE_TOP), next = word_at(b, MSTATE_NEXT);
    if (!top || (top & (CHUNK_ALIGN - 1)) || (top >= lo && top < hi)) return false;
    if (!next || (next & 7)) return false;
    if (word_at(b, MSTATE_SYSTEM_MEM) > word_at(b, MSTATE_MAX_SYSTEM_MEM)) return false;
    int empty = 0;
    for (int i = 1; i < MSTATE_NBINS; i++) {
        size_t off = MSTATE_BINS + (size_t)(i - 1) * 16;
        uintptr_t fd = word_at(b, off), bk = word_at(b, off + 8), self = MSTATE_BIN_AT(addr, i);
        if (fd == self && bk == self) { empty++; continue; }
        if (!fd || !bk || ((fd | bk) & (CHUNK_ALIGN - 1))) return false;
        if ((fd >= lo && fd < hi) || (bk >= lo && bk < hi)) return false;
    }
    return empty >= 8;                /* large bins are empty in nearly every program */
}

struct heap_find { uintptr_t start, end; };
static bool brk_heap_cb(const struct st_map_line *m, void *ctx)
{
    struct heap_find *h = ctx;
    if (strcmp(m->path, "[heap]")) return true;
    h->start = m->start;
    h->end = m->end;
    return false;
}

static uintptr_t brk_heap_start;      /* never moves once the brk heap exists */

bool arena_main_heap_range(uintptr_t *start, uintptr_t *end)
{
    if (!__atomic_load_n(&brk_heap_start, __ATOMIC_ACQUIRE)) {
        struct heap_find h = {0, 0};
        st_maps_each(brk_heap_cb, &h);
        if (!h.start) return false;
        __atomic_store_n(&brk_heap_start, h.start, __ATOMIC_RELEASE);
    }
    uintptr_t brk = (uintptr_t)sbrk(0);
    uintptr_t hs = __atomic_load_n(&brk_heap_start, __ATOMIC_ACQUIRE);
    if (brk == (uintptr_t)-1 || brk <= hs) return false;
    *start = hs;
    *end = brk;
    return true;
}

/* The candidate's numbers agree with the brk heap: its top chunk ends at the current break
 * (main_arena is contiguous) and it holds what was sbrk'd since the heap began (glibc may
 * have left up to a page of the initial break unused for alignment). Checked with reads
 * that cannot fault, and without asking glibc: mallinfo2 walks every free list, which a
 * host that corrupted its heap would make fault in glibc itself. */
static bool matches_brk_heap(uintptr_t cand)
{
    uintptr_t top, top_size, sys, hs, he;
    if (!st_safe_word(cand + MSTATE_TOP, &top) || !st_safe_word(cand + MSTATE_SYSTEM_MEM, &sys)) return false;
    if (!arena_main_heap_range(&hs, &he) || top < hs || top + CHUNK_HDR > he) return false;
    if (!st_safe_word(top + CHUNK_SIZE_OFF, &top_size)) return false;
    top_size &= ~(uintptr_t)CHUNK_FLAGS;
    if (top + top_size != he) return false;
    uint64_t span = he - hs;
    return sys <= span && span - sys < 2 * 4096;
}

static void main_search_failed(const char *why)
{
    __atomic_store_n(&main_search, 2, __ATOMIC_RELEASE);
    st_log("main arena not found (%s): it is not measured, reported in detail or trimmed", why);
}

/* Scan libc's writable data for the main_arena shape; register it once verified. */
static void find_main_arena(void)
{
    struct libc_span s;
    memset(&s, 0, sizeof s);
    s.fn = (uintptr_t)&mallinfo2;     /* code inside libc.so.6, wherever it was loaded */
    st_maps_each(libc_maps_cb, &s);
    if (!s.inode) {
        /* /proc/self/maps unreadable now (the program may be out of fds): look again later. */
        __atomic_store_n(&main_search_next_ns, st_now_ns() + 1000000000ull, __ATOMIC_RELAXED);
        return;
    }
    st_maps_each(libc_rw_cb, &s);
    uintptr_t found = 0;
    int candidates = 0;
    enum { WINDOW = 64 << 10 };
    unsigned char *buf = meta_map(WINDOW + MSTATE_SIZEOF);
    if (!buf) return;
    for (int r = 0; r < s.nrw; r++) {
        /* overlapping windows so a struct across a window edge is still seen whole */
        for (uintptr_t at = s.rw[r][0]; at + MSTATE_SIZEOF <= s.rw[r][1]; at += WINDOW) {
            size_t len = s.rw[r][1] - at < WINDOW + MSTATE_SIZEOF ? s.rw[r][1] - at : WINDOW + MSTATE_SIZEOF;
            if (!st_safe_read(at, buf, len)) continue;
            for (size_t off = 0; off + MSTATE_SIZEOF <= len && off < WINDOW; off += 8)
                if (mstate_shape(buf + off, at + off, s.lo, s.hi)) {
                    if (at + off != found) candidates++;
                    found = at + off;
                }
        }
    }
    meta_unmap(buf, WINDOW + MSTATE_SIZEOF);
    if (candidates == 0 || (candidates == 1 && !matches_brk_heap(found))) {
        /* Before the main arena's first use every bin is zero and the brk heap may not
         * exist yet (a program whose main thread allocates little, or only in mmapped
         * chunks): nothing is wrong, look again a second later. The scan copies libc's
         * data (~100 KiB), so it is not repeated on every trim tick. */
        __atomic_store_n(&main_search_next_ns, st_now_ns() + 1000000000ull, __ATOMIC_RELAXED);
        return;
    }
    if (candidates > 1) { main_search_failed("several malloc_state shapes in libc's data"); return; }
    uintptr_t a = found;
    for (int steps = 0; steps < 2 * ST_ARENA_MAX; steps++) {
        if (!st_safe_word(a + MSTATE_NEXT, &a) || (a != found && !is_thread_arena_state(a))) {
            main_search_failed("its arena ring holds something that is not a thread arena");
            return;
        }
        if (a == found) break;
    }
    register_state(found, ST_ARENA_MAIN);
    __atomic_store_n(&main_search, 1, __ATOMIC_RELEASE);
}

void arena_discover_all(void)
{
    if (!st_arena_logic || !st_safe_read_works()) return;
    st_lock(&registry_lock);
    if (!arenas[0].state && __atomic_load_n(&main_search, __ATOMIC_ACQUIRE) == 0 &&
        st_now_ns() >= __atomic_load_n(&main_search_next_ns, __ATOMIC_RELAXED))
        find_main_arena();
    uintptr_t start = arenas[0].state;
    for (uint32_t i = 1; i < n_arenas && !start; i++) start = arenas[i].state;
    if (start) {
        uintptr_t a = start;
        for (int steps = 0; steps < 2 * ST_ARENA_MAX; steps++) {
            if (!st_safe_word(a + MSTATE_NEXT, &a) || !a || a == start) break;
            if (is_thread_arena_state(a)) { register_state(a, ST_ARENA_THREAD); continue; }
            if (a == arenas[0].state) continue;
            /* The ring's one non-heap element is main_arena: trust it only with its shape. */
            unsigned char b[MSTATE_SIZEOF];
            if (arenas[0].state || !st_safe_read(a, b, sizeof b) || !mstate_shape(b, a, a, a + MSTATE_SIZEOF) ||
                !matches_brk_heap(a))
                break;
            register_state(a, ST_ARENA_MAIN);
            __atomic_store_n(&main_search, 1, __ATOMIC_RELEASE);
        }
    }
    st_unlock(&registry_lock);
}

bool arena_is_glibc_heap(uintptr_t start)
{
    if (!st_arena_logic || (start & (st_heap_max_size - 1))) return false;
    uintptr_t state;
    /* Any anonymous mapping can sit on this boundary (a PROT_NONE reservation too): read
     * its first word only through a read that cannot fault. */
    if (!st_safe_word(start + HEAPINFO_AR_PTR, &state)) return false;
    uint32_t n = arena_count();
    for (uint32_t i = 1; i < n; i++) {
        const struct st_arena *a = arena_get(i);
        if (a && a->state == state) return true;
    }
    return false;
}

/* ---- glibc's lock protocol (lll_lock / lll_unlock on a private futex) */
static void futex_wait(int *f, int val)
{
    syscall(SYS_futex, f, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
}

void arena_lock(uintptr_t state)
{
    int *f = (int *)(state + MSTATE_MUTEX);
    int expected = 0;
    if (__atomic_compare_exchange_n(f, &expected, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return;
    if (__atomic_load_n(f, __ATOMIC_RELAXED) == 2) futex_wait(f, 2);
    while (__atomic_exchange_n(f, 2, __ATOMIC_ACQUIRE) != 0) futex_wait(f, 2);
}

bool arena_trylock(uintptr_t state)
{
    int *f = (int *)(state + MSTATE_MUTEX);
    int expected = 0;
    return __atomic_compare_exchange_n(f, &expected, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

void arena_unlock(uintptr_t state)
{
    int *f = (int *)(state + MSTATE_MUTEX);
    if (__atomic_exchange_n(f, 0, __ATOMIC_RELEASE) > 1)
        syscall(SYS_futex, f, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, NULL, NULL, 0);
}

void arena_registry_after_fork_child(void)
{
    /* registry_lock was already reset by the lock registry (st_locks_after_fork_child). */
    for (int i = 0; i < TLS_HEAPS; i++) tls_heap[i] = tls_state[i] = 0;
}

uint64_t st_heapinfo_size(void) { return heapinfo_size; }
