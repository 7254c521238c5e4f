/* model.c: numbers derived from one dump that every output shares: the RSS layers,
 * per-arena free bytes, page occupancy, id lookups and human-readable units. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "report.h"

/* glibc's tcache: 64 bins x 7 chunks of up to 1032 bytes, about 235 KiB per thread at most. */
#define TCACHE_MAX_PER_THREAD (235u << 10)

static uint64_t sub_clamped(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

uint64_t arena_free_bytes(const struct st_rec_arena *a)
{
    return a->free_bin_bytes + a->free_fast_bytes + a->top_bytes;
}

uint64_t arena_free_resident(const struct st_rec_arena *a)
{
    /* Fastbin chunks are small and were just used: count them as resident. */
    return a->free_resident_bytes + a->free_fast_bytes + a->top_resident_bytes;
}

uint64_t arena_threads(const struct st_rec_arena *a)
{
    return a->threads_seen ? a->threads_seen : a->attached_threads;
}

const struct st_rec_thread *model_thread(const struct st_dump *d, uint32_t idx)
{
    for (size_t i = 0; i < d->n_threads; i++)
        if (d->threads[i].idx == idx) return &d->threads[i];
    return NULL;
}

const struct st_rec_arena *model_arena(const struct st_dump *d, uint32_t id)
{
    for (size_t i = 0; i < d->n_arenas; i++)
        if (d->arenas[i].id == id) return &d->arenas[i];
    return NULL;
}

const struct st_dump_site *model_site(const struct st_dump *d, uint32_t id)
{
    for (size_t i = 0; i < d->n_sites; i++)
        if (d->sites[i].s.id == id) return &d->sites[i];
    return NULL;
}

size_t model_threads_alive(const struct st_dump *d)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n_threads; i++)
        if (!(d->threads[i].flags & ST_THREAD_EXITED)) n++;
    return n;
}

static bool has_parent_in(const struct st_dump *dumps, size_t n, size_t i)
{
    for (size_t j = 0; j < n; j++)
        if (j != i && dumps[j].process.pid == dumps[i].process.ppid) return true;
    return false;
}

/* Depth first from dump i: it, then the dumps whose parent it is. Iterative, so a deep or
 * adversarial chain of pids cannot blow the stack. */
static void visit_family(const struct st_dump *dumps, size_t n, size_t root, bool *seen, size_t *order,
                         size_t *count, size_t *stack)
{
    size_t top = 0;
    stack[top++] = root;
    seen[root] = true;
    while (top > 0) {
        size_t i = stack[--top];
        order[(*count)++] = i;
        /* Push children in reverse so they come out in the given order. */
        for (size_t j = n; j-- > 0;) {
            if (seen[j] || j == i || dumps[j].process.ppid != dumps[i].process.pid) continue;
            seen[j] = true;
            stack[top++] = j;
        }
    }
}

int model_family_order(struct st_dump *dumps, size_t n)
{
    if (n < 2) return 0;
    bool *seen = calloc(n, sizeof *seen);
    size_t *order = malloc(n * sizeof *order), *stack = malloc(n * sizeof *stack);
    struct st_dump *copy = malloc(n * sizeof *copy);
    if (!seen || !order || !stack || !copy) {
        free(seen); free(order); free(stack); free(copy);
        return -1;
    }
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (!seen[i] && !has_parent_in(dumps, n, i)) visit_family(dumps, n, i, seen, order, &count, stack);
    for (size_t i = 0; i < n; i++) /* cycles (reused pids): keep the given order */
        if (!seen[i]) visit_family(dumps, n, i, seen, order, &count, stack);
    memcpy(copy, dumps, n * sizeof *copy);
    for (size_t i = 0; i < n; i++) dumps[i] = copy[order[i]];
    free(seen); free(order); free(stack); free(copy);
    return 0;
}

void model_occupancy(const struct st_dump *d, uint64_t pages[ST_OCC_BUCKETS], uint64_t *page_size)
{
    memset(pages, 0, sizeof(uint64_t) * ST_OCC_BUCKETS);
    *page_size = d->process.page_size ? d->process.page_size : 4096;
    for (size_t i = 0; i < d->n_occupancy; i++) {
        for (int b = 0; b < ST_OCC_BUCKETS; b++) pages[b] += d->occupancy[i].pages[b];
        if (d->occupancy[i].page_size) *page_size = d->occupancy[i].page_size;
    }
}

/* The program's own mmaps as its mmap wrapper counted them (mapped bytes: the dump does not
 * know how much of them is resident, so model_layers caps them by what RSS leaves). The smaps
 * MAPPING records cannot tell the program's maps from libraries' and thread stacks. */
static uint64_t program_mmap_bytes(const struct st_dump *d)
{
    return d->has_mmaps ? d->mmaps.anon_bytes + d->mmaps.file_bytes : 0;
}

void model_layers(const struct st_dump *d, struct st_layers *out)
{
    const struct st_rec_process *p = &d->process;
    memset(out, 0, sizeof *out);
    out->rss = p->rss_bytes;
    out->glibc_mmapped = p->glibc_mmapped_bytes;

    if (d->n_arenas > 0) {
        /* Arena records exclude glibc's mmapped chunks, so the layers do not overlap. */
        uint64_t live = 0, chunk = 0;
        for (size_t i = 0; i < d->n_arenas; i++) {
            const struct st_rec_arena *a = &d->arenas[i];
            live += a->live_bytes;
            chunk += a->live_chunk_bytes;
            out->free_bins += a->free_resident_bytes;
            out->free_fast += a->free_fast_bytes;
            out->free_top += a->top_resident_bytes;
        }
        out->live_heap = live;
        out->allocator_overhead = sub_clamped(chunk, live);
    } else {
        /* Arena logic off: only the process totals exist; mmapped chunks are inside them. */
        out->live_heap = sub_clamped(p->live_bytes, p->glibc_mmapped_bytes);
        out->allocator_overhead = sub_clamped(p->live_chunk_bytes, p->live_bytes);
        out->free_bins = p->mi_fordblks; /* glibc's own count; residency unknown */
    }

    /* Chunks in tcache are "in use" to glibc but freed to the program: what glibc counts as
     * used beyond what the shim tracks, bounded by what the live threads' caches can hold. */
    uint64_t glibc_used = p->mi_uordblks + p->mi_hblkhd;
    uint64_t tracked = p->live_chunk_bytes ? p->live_chunk_bytes : p->live_bytes;
    uint64_t cap = (uint64_t)model_threads_alive(d) * TCACHE_MAX_PER_THREAD;
    if (cap == 0) cap = TCACHE_MAX_PER_THREAD;
    uint64_t est = sub_clamped(glibc_used, tracked);
    out->free_tcache_est = est < cap ? est : cap;

    uint64_t heap_side = out->live_heap + out->allocator_overhead + layers_free_total(out) + out->glibc_mmapped;
    uint64_t left = sub_clamped(out->rss, heap_side);
    /* File-backed RSS (code, libraries) is never the program's anonymous maps. */
    uint64_t anon_left = sub_clamped(left, d->process.rss_file_bytes);
    uint64_t mm = program_mmap_bytes(d);
    if (d->has_mmaps && d->mmaps.file_bytes == 0 && mm > anon_left) mm = anon_left;
    out->program_mmaps = mm < left ? mm : left;
    out->rest = sub_clamped(left, out->program_mmaps);
}

uint64_t layers_free_total(const struct st_layers *l)
{
    return l->free_bins + l->free_fast + l->free_top + l->free_tcache_est;
}

const char *fmt_bytes(uint64_t bytes, char *buf, size_t len)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024) {
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
        return buf;
    }
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 5) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, len, "%.1f %s", v, units[u]);
    return buf;
}

double share_pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

const char *trigger_name(uint32_t trigger)
{
    switch (trigger) {
    case ST_TRIG_IDLE: return "idle";
    case ST_TRIG_RSS: return "rss";
    case ST_TRIG_PERIODIC: return "periodic";
    case ST_TRIG_SESSION_END: return "session-end";
    case ST_TRIG_FREE_RESIDENT: return "free-resident";
    case ST_TRIG_API: return "api";
    default: return "unknown";
    }
}

const char *reason_name(uint32_t reason)
{
    switch (reason) {
    case ST_DUMP_EXIT: return "exit";
    case ST_DUMP_API: return "api";
    case ST_DUMP_SIGNAL: return "signal";
    case ST_DUMP_PERIODIC: return "periodic";
    case ST_DUMP_SESSION_END: return "session-end";
    default: return "unknown";
    }
}

const char *event_name(uint32_t event)
{
    switch (event) {
    case ST_EV_SAMPLE: return "sample";
    case ST_EV_TRIM: return "trim";
    case ST_EV_SESSION_END: return "session-end";
    case ST_EV_DUMP: return "dump";
    default: return "event";
    }
}
