/* arena_stats.c: what each glibc arena holds right now (heaps, top chunk, free bins,
 * resident pages), read under the arena's own lock for the dump, timeline and trim, and
 * the validated free-list walker (arena_stats.h) that all of them use. */
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "shim.h"
#include "arena_stats.h"
#include "safe_read.h"

#define PAGE 4096ul
#define MAX_CHUNKS_WALKED 4000000u  /* a cycle of well-linked chunks must still end */
#define FASTBIN_MAX_CHUNK 176u      /* largest fastbin chunk: request2size(MAX_FAST_SIZE = 160) */

static inline uintptr_t rd(uintptr_t addr) { return __atomic_load_n((const uintptr_t *)addr, __ATOMIC_RELAXED); }

/* ---------------------------------------------------------------- heaps */

/* A thread arena's heaps, newest first, from the top chunk's heap down the prev chain.
 * Each heap_info is read through st_safe_read and must name this arena. Lock held. */
static int thread_heaps_locked(uintptr_t state, struct st_range *out, int max)
{
    uintptr_t top = rd(state + MSTATE_TOP);
    uintptr_t heap = top & ~(uintptr_t)(st_heap_max_size - 1);
    int n = 0;
    while (heap && n < max) {
        uintptr_t hi[3];              /* ar_ptr, prev, size */
        if (!st_safe_read(heap, hi, sizeof hi)) return 0;
        if (hi[0] != state || hi[2] <= st_heapinfo_size() || hi[2] > st_heap_max_size) return 0;
        if (hi[1] & (st_heap_max_size - 1)) return 0;
        out[n].start = heap;
        out[n].len = hi[2];
        n++;
        heap = hi[1];
    }
    return n;
}

int arena_heap_ranges(uint32_t id, struct st_range *out, int max)
{
    const struct st_arena *a = arena_get(id);
    if (!a || !st_arena_logic || max < 1) return 0;
    if (a->kind == ST_ARENA_MAIN || id == 0) {
        uintptr_t s, e;
        if (!arena_main_heap_range(&s, &e)) return 0;
        out[0].start = s;
        out[0].len = e - s;
        return 1;
    }
    if (!a->state) return 0;
    arena_lock(a->state);
    int n = thread_heaps_locked(a->state, out, max);
    arena_unlock(a->state);
    return n;
}

/* Resident pages within [start, end), page-rounded inward. */
uint64_t resident_bytes(uintptr_t start, uintptr_t end)
{
    start = (start + PAGE - 1) & ~(PAGE - 1);
    end &= ~(PAGE - 1);
    if (end <= start) return 0;
    uint64_t total = 0;
    unsigned char vec[4096];
    for (uintptr_t at = start; at < end;) {
        size_t pages = (end - at) / PAGE;
        if (pages > sizeof vec) pages = sizeof vec;
        if (syscall(SYS_mincore, at, pages * PAGE, vec) != 0) {
            at += pages * PAGE;
            continue;
        }
        for (size_t i = 0; i < pages; i++) total += (vec[i] & 1) * PAGE;
        at += pages * PAGE;
    }
    return total;
}

/* ---------------------------------------------------------------- the walker */

bool fl_open_locked(const struct st_arena *a, struct st_fl *fl)
{
    fl->state = a->state;
    fl->main = a->kind == ST_ARENA_MAIN;
    fl->corrupt = false;
    fl->nr = 0;
    if (!a->state) return false;
    if (fl->main) {
        uintptr_t s, e;
        if (!arena_main_heap_range(&s, &e)) return false;
        fl->r[0].start = s;
        fl->r[0].len = e - s;
        fl->nr = 1;
    } else {
        fl->nr = thread_heaps_locked(a->state, fl->r, ST_MAX_HEAPS);
    }
    return fl->nr > 0;
}

/* The range holding [p, p + CHUNK_FREE_HDR), or NULL. */
static const struct st_range *range_of(const struct st_fl *fl, uintptr_t p)
{
    if (p & (CHUNK_ALIGN - 1)) return NULL;
    for (int i = 0; i < fl->nr; i++)
        if (p >= fl->r[i].start && p + CHUNK_FREE_HDR <= fl->r[i].start + fl->r[i].len) return &fl->r[i];
    return NULL;
}

/* A chunk that may be read: in a range, sane size, its end in the same range. */
static bool chunk_ok(const struct st_fl *fl, uintptr_t p, uint64_t *size)
{
    const struct st_range *r = range_of(fl, p);
    if (!r) return false;
    uint64_t sz = rd(p + CHUNK_SIZE_OFF) & ~(uintptr_t)CHUNK_FLAGS;
    if (sz < CHUNK_MINSIZE || (sz & (CHUNK_ALIGN - 1)) || sz > r->start + r->len - p) return false;
    *size = sz;
    return true;
}

bool fl_top(struct st_fl *fl, uintptr_t *start, uint64_t *size)
{
    uintptr_t top = rd(fl->state + MSTATE_TOP);
    /* The top may be a bare header at the very end of a heap: check it with its 16 bytes. */
    const struct st_range *r = NULL;
    if (!(top & (CHUNK_ALIGN - 1)))
        for (int i = 0; i < fl->nr && !r; i++)
            if (top >= fl->r[i].start && top + CHUNK_HDR <= fl->r[i].start + fl->r[i].len) r = &fl->r[i];
    if (!r) return false;
    uint64_t sz = rd(top + CHUNK_SIZE_OFF) & ~(uintptr_t)CHUNK_FLAGS;
    if (sz > r->start + r->len - top) return false;
    *start = top;
    *size = sz;
    return true;
}

uint32_t fl_walk_bin(struct st_fl *fl, int i, uint32_t skip,
                     bool (*visit)(uintptr_t chunk, uint64_t size, void *ctx), void *ctx)
{
    if (i < 1 || i >= MSTATE_NBINS) return 0;
    uintptr_t bin = MSTATE_BIN_AT(fl->state, i);
    uintptr_t prev = bin, p = rd(bin + CHUNK_BK_OFF);
    uint32_t passed = 0;
    while (p != bin) {
        uint64_t sz;
        /* p->fd must point back where we came from: a broken or foreign link stops here */
        if (!chunk_ok(fl, p, &sz) || rd(p + CHUNK_FD_OFF) != prev || passed >= MAX_CHUNKS_WALKED) {
            fl->corrupt = true;
            break;
        }
        passed++;
        if (skip) skip--;
        else if (!visit(p, sz, ctx)) break;
        prev = p;
        p = rd(p + CHUNK_BK_OFF);
    }
    return passed;
}

int fl_large_bin_index(uint64_t sz)
{
    if ((sz >> 6) <= 48) return 48 + (int)(sz >> 6);
    if ((sz >> 9) <= 20) return 91 + (int)(sz >> 9);
    if ((sz >> 12) <= 10) return 110 + (int)(sz >> 12);
    if ((sz >> 15) <= 4) return 119 + (int)(sz >> 15);
    if ((sz >> 18) <= 2) return 124 + (int)(sz >> 18);
    return 126;
}

/* ---------------------------------------------------------------- stats */

static bool count_bin_chunk(uintptr_t p, uint64_t sz, void *ctx)
{
    struct st_arena_glibc *out = ctx;
    out->free_bins += sz;
    if (sz >= 2 * PAGE) out->free_bins_resident += resident_bytes(p + CHUNK_FREE_HDR, p + sz);
    return true;
}

/* Fastbins are singly linked and safe-linked (glibc >= 2.32: stored fd ^ (&fd >> 12)). */
static void walk_fastbins(struct st_fl *fl, struct st_arena_glibc *out)
{
    for (int i = 0; i < MSTATE_NFASTBINS; i++) {
        uintptr_t p = rd(fl->state + MSTATE_FASTBINS + 8 * (uintptr_t)i);
        for (unsigned walked = 0; p; walked++) {
            uint64_t sz;
            if (walked >= MAX_CHUNKS_WALKED || !chunk_ok(fl, p, &sz) || sz > FASTBIN_MAX_CHUNK) {
                fl->corrupt = true;
                break;
            }
            out->free_fast += sz;
            p = rd(p + CHUNK_FD_OFF) ^ ((p + CHUNK_FD_OFF) >> 12);
        }
    }
}

bool arena_collect(uint32_t id, struct st_arena_glibc *out)
{
    memset(out, 0, sizeof *out);
    const struct st_arena *a = arena_get(id);
    if (!a || !a->state || !st_arena_logic) return false;
    static struct st_fl fl;           /* 4 KiB: used under the dump lock only */
    arena_lock(a->state);
    if (!fl_open_locked(a, &fl)) {
        arena_unlock(a->state);
        return false;
    }
    out->heaps = (uint64_t)fl.nr;
    for (int i = 0; i < fl.nr; i++) out->heap_bytes += fl.r[i].len;
    out->system_mem = rd(a->state + MSTATE_SYSTEM_MEM);
    out->max_system_mem = rd(a->state + MSTATE_MAX_SYSTEM_MEM);
    out->attached_threads = rd(a->state + MSTATE_ATTACHED);
    uintptr_t top;
    uint64_t top_size;
    if (fl_top(&fl, &top, &top_size)) {
        out->top = top;
        out->top_size = top_size;
        out->top_resident = resident_bytes(top + CHUNK_HDR, top + top_size);
    }
    walk_fastbins(&fl, out);
    for (int b = 1; b < MSTATE_NBINS && !fl.corrupt; b++) fl_walk_bin(&fl, b, 0, count_bin_chunk, out);
    out->partial = fl.corrupt;
    arena_unlock(a->state);
    /* Heap residency needs no lock: mincore on a range unmapped meanwhile just fails. */
    for (int i = 0; i < fl.nr; i++) out->resident += resident_bytes(fl.r[i].start, fl.r[i].start + fl.r[i].len);
    return true;
}
