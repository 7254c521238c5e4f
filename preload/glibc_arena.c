/* glibc_arena.c: which glibc arena served a pointer, the registry of arenas seen, and
 * glibc's arena lock. The only file that knows glibc's heap layout (see shim.h offsets). */
#include <errno.h>
#include <gnu/libc-version.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "shim.h"

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
        arenas[0].state = state;
        arenas[0].kind = ST_ARENA_MAIN;
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

void arena_discover_all(void)
{
    if (!st_arena_logic) return;
    st_lock(&registry_lock);
    uintptr_t start = 0;
    for (uint32_t i = 1; i < n_arenas && !start; i++) start = arenas[i].state;
    if (start) {
        uintptr_t a = start;
        for (int steps = 0; steps < 2 * ST_ARENA_MAX; steps++) {
            a = __atomic_load_n((uintptr_t *)(a + MSTATE_NEXT), __ATOMIC_ACQUIRE);
            if (!a || a == start) break;
            register_state(a, is_thread_arena_state(a) ? ST_ARENA_THREAD : ST_ARENA_MAIN);
        }
    }
    st_unlock(&registry_lock);
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
    st_lock_reset(&registry_lock);
    for (int i = 0; i < TLS_HEAPS; i++) tls_heap[i] = tls_state[i] = 0;
}

uint64_t st_heapinfo_size(void) { return heapinfo_size; }
