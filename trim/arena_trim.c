/* arena_trim.c: the part malloc_trim(0) misses: madvise the resident pages of each arena's
 * top chunk under glibc's own arena lock, and measure free-but-resident bytes. */
#include <sys/mman.h>
#include <unistd.h>

#include "trim.h"
#include "arena_stats.h"

/* glibc 2.36 chunk layout: prev_size@0, size@8, fd@16, bk@24 (malloc.c, malloc_chunk). */
#define CHUNK_SIZE_OFF 8
#define CHUNK_BK_OFF 24
#define CHUNK_HDR 16
#define CHUNK_MIN_FREE_HDR 48         /* sizeof(struct malloc_chunk): keep fd/bk/nextsize */
#define SLICE_BYTES (4ull << 20)      /* most we madvise per lock hold */
#define MAX_BIN_CHUNKS 65536          /* bound a bin walk so a lock is never held long */

static uint64_t page_size(void)
{
    static uint64_t ps;
    if (!ps) ps = (uint64_t)sysconf(_SC_PAGESIZE);
    return ps;
}

static uintptr_t load_word(uintptr_t addr)
{
    return __atomic_load_n((const uintptr_t *)addr, __ATOMIC_RELAXED);
}

/* ---- the top chunk */
struct top_range { uintptr_t start, end; };  /* whole pages beyond the header and pad */

/* Read the arena's top chunk. Lock held. false if it does not look like glibc's layout
 * (then nothing is touched). */
static bool top_range_locked(const struct st_arena *a, uint64_t pad, struct top_range *r)
{
    uint64_t ps = page_size();
    uintptr_t top = load_word(a->state + MSTATE_TOP);
    if (!top || (top & 0xF)) return false;
    uintptr_t size = load_word(top + CHUNK_SIZE_OFF) & ~(uintptr_t)CHUNK_FLAGS;
    uintptr_t end = top + size;
    if (a->kind == ST_ARENA_THREAD) {
        /* A thread arena's top ends exactly where its heap's used part ends. */
        uintptr_t heap = top & ~(uintptr_t)(st_heap_max_size - 1);
        if (load_word(heap + HEAPINFO_AR_PTR) != a->state) return false;
        if (heap + load_word(heap + HEAPINFO_SIZE) != end) return false;
    }
    r->start = (top + CHUNK_HDR + pad + ps - 1) & ~(uintptr_t)(ps - 1);
    r->end = end & ~(uintptr_t)(ps - 1);
    return true;
}

/* One arena: release its top from the high end down, one slice per lock hold, so a
 * thread that wants the arena waits for at most one slice. */
static void trim_one_top(const struct st_arena *a, struct trim_pass *pass,
                         struct trim_arena_result *res, bool *skipped)
{
    uintptr_t upper = UINTPTR_MAX;
    uint64_t t0 = st_now_ns();
    bool first = true;
    *skipped = false;
    res->arena_id = a->id;
    res->released_bytes = 0;
    for (;;) {
        if (pass->wait_for_lock) arena_lock(a->state);
        else if (__atomic_load_n((int *)a->state, __ATOMIC_RELAXED) != 0 || !arena_trylock(a->state)) {
            if (first) *skipped = true;     /* held right now: leave it to its owner */
            break;
        }
        struct top_range r;
        if (!top_range_locked(a, pass->pad, &r)) {
            arena_unlock(a->state);
            static bool warned;
            if (!__atomic_exchange_n(&warned, true, __ATOMIC_RELAXED))
                st_log("trim: arena %u top chunk does not match glibc's layout; left alone", a->id);
            if (first) *skipped = true;
            break;
        }
        first = false;
        if (r.end > upper) r.end = upper;
        if (r.end <= r.start) { arena_unlock(a->state); break; }
        uintptr_t lo = r.end - r.start > SLICE_BYTES ? r.end - SLICE_BYTES : r.start;
        uint64_t before = resident_bytes(lo, r.end);
        if (before) {
            madvise((void *)lo, r.end - lo, MADV_DONTNEED);
            uint64_t after = resident_bytes(lo, r.end);
            res->released_bytes += before > after ? before - after : 0;
        }
        arena_unlock(a->state);
        upper = lo;
        if (lo == r.start) break;
    }
    res->duration_ns = st_now_ns() - t0;
}

void arena_trim_tops(struct trim_pass *pass)
{
    pass->trimmed = pass->skipped = 0;
    pass->released_bytes = 0;
    pass->n_results = 0;
    uint32_t n = arena_count();
    for (uint32_t id = 0; id < n && pass->n_results < ST_ARENA_MAX; id++) {
        const struct st_arena *a = arena_get(id);
        if (!a || !a->state) continue;
        if (a->kind == ST_ARENA_MAIN && !pass->include_main) continue;
        if (pass->busy && pass->busy[id]) { pass->skipped++; continue; }
        struct trim_arena_result *res = &pass->results[pass->n_results];
        bool skipped;
        trim_one_top(a, pass, res, &skipped);
        if (skipped) { pass->skipped++; continue; }
        pass->trimmed++;
        pass->released_bytes += res->released_bytes;
        pass->n_results++;
    }
}

/* ---- free-but-resident measurement */

/* glibc's bin_index for a large size on 64-bit (malloc.c largebin_index_64). */
static int large_bin_index(uint64_t sz)
{
    if ((sz >> 6) <= 48) return 48 + (int)(sz >> 6);
    if ((sz >> 9) <= 20) return 91 + (int)(sz >> 9);
    if ((sz >> 12) <= 10) return 110 + (int)(sz >> 12);
    if ((sz >> 15) <= 4) return 119 + (int)(sz >> 15);
    if ((sz >> 18) <= 2) return 124 + (int)(sz >> 18);
    return 126;
}

/* Resident bytes of whole pages inside free chunks of the unsorted bin and of the bins
 * of page size and up: the pages mtrim would release. Lock held. */
static uint64_t bins_resident_locked(const struct st_arena *a)
{
    uint64_t ps = page_size(), total = 0;
    int psindex = large_bin_index(ps);
    unsigned walked = 0;
    for (int i = 1; i < MSTATE_NBINS; i++) {
        if (i != 1 && i < psindex) continue;
        uintptr_t bin = a->state + MSTATE_BINS + (uintptr_t)(i - 1) * 16 - 16;
        for (uintptr_t p = load_word(bin + CHUNK_BK_OFF); p != bin; p = load_word(p + CHUNK_BK_OFF)) {
            if (!p || ++walked > MAX_BIN_CHUNKS) return total;
            uintptr_t size = load_word(p + CHUNK_SIZE_OFF) & ~(uintptr_t)CHUNK_FLAGS;
            uintptr_t lo = (p + CHUNK_MIN_FREE_HDR + ps - 1) & ~(uintptr_t)(ps - 1);
            uintptr_t hi = (p + size) & ~(uintptr_t)(ps - 1);
            if (hi > lo) total += resident_bytes(lo, hi);
        }
    }
    return total;
}

uint64_t arena_free_resident(void)
{
    uint64_t total = 0;
    uint32_t n = arena_count();
    for (uint32_t id = 0; id < n; id++) {
        const struct st_arena *a = arena_get(id);
        if (!a || !a->state) continue;
        if (__atomic_load_n((int *)a->state, __ATOMIC_RELAXED) != 0 || !arena_trylock(a->state)) continue;
        struct top_range r;
        if (top_range_locked(a, 0, &r) && r.end > r.start) total += resident_bytes(r.start, r.end);
        total += bins_resident_locked(a);
        arena_unlock(a->state);
    }
    return total;
}
