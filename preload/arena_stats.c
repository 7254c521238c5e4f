/* arena_stats.c: what each glibc arena holds right now (heaps, top chunk, free bins,
 * resident pages), read under the arena's own lock for the dump, timeline and trim. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "shim.h"
#include "arena_stats.h"

#define PAGE 4096ul
#define MAX_CHUNKS_WALKED 4000000u  /* a corrupted list must not hold the lock forever */

static inline uintptr_t rd(uintptr_t addr) { return *(volatile uintptr_t *)addr; }
static inline size_t chunk_size_at(uintptr_t chunk) { return rd(chunk + 8) & ~(uintptr_t)CHUNK_FLAGS; }

/* The brk heap of main_arena, from /proc/self/maps. */
static bool main_heap_range(uintptr_t *start, uintptr_t *end)
{
    char buf[8192];
    int fd = open(ST_PROC_SELF "/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool found = false;
    size_t have = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n <= 0) break;
        have += (size_t)n;
        buf[have] = 0;
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n'))) {
            *nl = 0;
            if (strstr(line, "[heap]")) {
                char *dash;
                *start = strtoull(line, &dash, 16);
                *end = strtoull(dash + 1, NULL, 16);
                found = true;
                break;
            }
            line = nl + 1;
        }
        if (found) break;
        have = strlen(line);
        memmove(buf, line, have);
    }
    close(fd);
    return found;
}

int arena_heap_ranges(uint32_t id, struct st_range *out, int max)
{
    const struct st_arena *a = arena_get(id);
    if (!a || !st_arena_logic) return 0;
    if (id == 0) {
        uintptr_t s, e;
        if (max < 1 || !main_heap_range(&s, &e)) return 0;
        out[0].start = s;
        out[0].len = e - s;
        return 1;
    }
    int n = 0;
    if (!a->state) return 0;
    arena_lock(a->state);
    uintptr_t top = rd(a->state + MSTATE_TOP);
    uintptr_t heap = top & ~(uintptr_t)(st_heap_max_size - 1);
    while (heap && n < max) {
        out[n].start = heap;
        out[n].len = rd(heap + HEAPINFO_SIZE);
        n++;
        heap = rd(heap + HEAPINFO_PREV);
    }
    arena_unlock(a->state);
    return n;
}

static bool in_ranges(uintptr_t p, const struct st_range *r, int n)
{
    if (p & 15) return false;
    for (int i = 0; i < n; i++)
        if (p >= r[i].start && p < r[i].start + r[i].len) return true;
    return false;
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

/* The free chunks of bins and fastbins, resident bytes of whole pages inside them. */
static void walk_free_chunks(uintptr_t st, const struct st_range *r, int nr, struct st_arena_glibc *out)
{
    unsigned walked = 0;
    for (int i = 0; i < MSTATE_NFASTBINS; i++) {
        uintptr_t p = rd(st + MSTATE_FASTBINS + 8 * (uintptr_t)i);
        while (p && walked++ < MAX_CHUNKS_WALKED) {
            if (!in_ranges(p, r, nr)) { out->partial = true; break; }
            out->free_fast += chunk_size_at(p);
            /* fd is safe-linked (glibc >= 2.32): stored ^ (address of the field >> 12) */
            p = rd(p + 16) ^ ((p + 16) >> 12);
        }
    }
    for (int b = 1; b < MSTATE_NBINS; b++) {
        uintptr_t bin = st + MSTATE_BINS + (uintptr_t)(b - 1) * 16 - 16;
        uintptr_t p = rd(bin + 16);
        while (p != bin && walked++ < MAX_CHUNKS_WALKED) {
            if (!in_ranges(p, r, nr)) { out->partial = true; break; }
            size_t sz = chunk_size_at(p);
            out->free_bins += sz;
            if (sz >= 2 * PAGE) out->free_bins_resident += resident_bytes(p + 32, p + sz);
            p = rd(p + 16);
        }
    }
}

bool arena_collect(uint32_t id, struct st_arena_glibc *out)
{
    memset(out, 0, sizeof *out);
    const struct st_arena *a = arena_get(id);
    if (!a || !a->state || !st_arena_logic) return false;
    struct st_range r[ST_MAX_HEAPS];
    int nr = arena_heap_ranges(id, r, ST_MAX_HEAPS);
    out->heaps = (uint64_t)nr;
    for (int i = 0; i < nr; i++) out->heap_bytes += r[i].len;
    arena_lock(a->state);
    out->system_mem = rd(a->state + MSTATE_SYSTEM_MEM);
    out->max_system_mem = rd(a->state + MSTATE_MAX_SYSTEM_MEM);
    out->attached_threads = rd(a->state + MSTATE_ATTACHED);
    out->top = rd(a->state + MSTATE_TOP);
    if (in_ranges(out->top, r, nr)) {
        out->top_size = chunk_size_at(out->top);
        out->top_resident = resident_bytes(out->top + 16, out->top + out->top_size);
    }
    walk_free_chunks(a->state, r, nr, out);
    arena_unlock(a->state);
    /* Heap residency needs no lock: mincore on a range unmapped meanwhile just fails. */
    for (int i = 0; i < nr; i++) out->resident += resident_bytes(r[i].start, r[i].start + r[i].len);
    return true;
}
