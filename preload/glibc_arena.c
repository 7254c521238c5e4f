/* glibc_arena.c: which glibc arena served a pointer, the registry of arenas seen, and
 * glibc's arena lock. The only file that knows glibc's heap layout (see shim.h offsets). */
#include <errno.h>
#include <fcntl.h>
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
static st_lock_t registry_lock;

/* The heap a thread allocated from last, and its arena: most lookups stop here. */
static ST_TLS uintptr_t tls_heap;
static ST_TLS uint32_t tls_heap_arena;

static void arena_logic_off(const char *why)
{
    if (!st_arena_logic) return;
    st_arena_logic = false;
    st_log("arena attribution off: %s", why);
}

static uint64_t read_hugepage_size(void)
{
    char buf[4096];
    int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
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
    if (major != 2 || minor < 28 || minor > 39) {
        st_log("glibc %s is outside the verified range 2.28..2.39: accounting without arena internals", ver);
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

static uint32_t thread_arena_slow(uintptr_t heap)
{
    /* A wrong heap size would make us read outside the heap: check before trusting. */
    if (!page_mapped(heap)) {
        arena_logic_off("chunk flagged non-main but its heap_info is not mapped (unexpected heap size)");
        return ST_ARENA_UNKNOWN;
    }
    uintptr_t state = __atomic_load_n((uintptr_t *)(heap + HEAPINFO_AR_PTR), __ATOMIC_RELAXED);
    if (!is_thread_arena_state(state) || !page_mapped(state)) {
        arena_logic_off("heap_info does not point at a thread arena (unexpected glibc layout)");
        return ST_ARENA_UNKNOWN;
    }
    st_lock(&registry_lock);
    uint32_t id = register_state(state, ST_ARENA_THREAD);
    st_unlock(&registry_lock);
    tls_heap = heap;
    tls_heap_arena = id;
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
    if (ST_LIKELY(heap == tls_heap)) return tls_heap_arena;
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
    tls_heap = 0;
}

uint64_t st_heapinfo_size(void) { return heapinfo_size; }
