/* model.c: numbers derived from one dump that every output shares: the RSS layers,
 * per-arena free bytes, page occupancy, id lookups and human-readable units. */
#include <stdarg.h>
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

/* Distinct threads that allocated from the arena, from the ARENA_THREAD records (one per
 * thread and arena: the writer keeps each thread's first 8 arenas). The arena record's own
 * threads_seen counted arena switches, so it is only a fallback for dumps without them. */
uint64_t arena_threads(const struct st_dump *d, const struct st_rec_arena *a)
{
    uint64_t n = 0;
    bool any = false;
    for (size_t i = 0; i < d->n_arena_threads; i++) {
        const struct st_rec_arena_thread *at = &d->arena_threads[i];
        any = true;
        if (at->arena_id != a->id) continue;
        /* a thread's records are written together: duplicates can only be its neighbours */
        bool dup = false;
        for (size_t k = i; k-- > 0 && d->arena_threads[k].thread_idx == at->thread_idx && !dup;)
            dup = d->arena_threads[k].arena_id == a->id;
        n += !dup;
    }
    if (any) return n;
    return a->attached_threads ? a->attached_threads : a->threads_seen;
}

/* Resident heap pages hold live chunks, whole free pages, the top and, on the pages shared
 * with live data, free bytes. The main arena read through mallinfo2 (address unknown) has no
 * bin residency: the free bin bytes among its resident pages count as whole pages. */
static uint64_t arena_unexplained(const struct st_rec_arena *a)
{
    return sub_clamped(a->resident_bytes, a->live_chunk_bytes + arena_free_resident(a));
}

uint64_t arena_bins_resident(const struct st_rec_arena *a)
{
    if (a->address || a->free_resident_bytes) return a->free_resident_bytes;
    uint64_t part = arena_unexplained(a);
    return part < a->free_bin_bytes ? part : a->free_bin_bytes;
}

uint64_t arena_free_partial(const struct st_rec_arena *a)
{
    return arena_unexplained(a) - (arena_bins_resident(a) - a->free_resident_bytes);
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

const char *model_thread_label(const struct st_dump *d, uint32_t idx, bool compact, char *buf, size_t len)
{
    if (idx == UINT32_MAX) { /* the writer's overflow cell: allocators beyond its slots */
        snprintf(buf, len, "other threads");
        return buf;
    }
    const struct st_rec_thread *t = model_thread(d, idx);
    if (compact) snprintf(buf, len, "%u %s", idx, t && t->name[0] ? t->name : "?");
    else if (t && t->name[0]) snprintf(buf, len, "thread %u '%s'", idx, t->name);
    else snprintf(buf, len, "thread %u", idx);
    return buf;
}

size_t model_threads_alive(const struct st_dump *d)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n_threads; i++)
        if (!(d->threads[i].flags & ST_THREAD_EXITED)) n++;
    return n;
}

bool model_is_latest(const struct st_dump *dumps, size_t n, size_t i)
{
    for (size_t j = 0; j < n; j++) {
        if (j == i || dumps[j].process.pid != dumps[i].process.pid) continue;
        if (dumps[j].process.time_ns > dumps[i].process.time_ns) return false;
        if (dumps[j].process.time_ns == dumps[i].process.time_ns && j < i) return false;
    }
    return true;
}

const struct st_dump *model_previous(const struct st_dump *dumps, size_t n, size_t i)
{
    const struct st_dump *best = NULL;
    for (size_t j = 0; j < n; j++) {
        const struct st_dump *d = &dumps[j];
        if (j == i || d->process.pid != dumps[i].process.pid || d->process.time_ns >= dumps[i].process.time_ns)
            continue;
        if (!best || d->process.time_ns > best->process.time_ns) best = d;
    }
    return best;
}

/* Memory two processes may share: a file-backed mapping or a shared one. */
static bool sharable(const struct st_dump_mapping *m)
{
    return m->m.rss && ((m->m.perms & 8) || m->name[0] == '/');
}

static uint64_t mapping_key(const struct st_dump_mapping *m)
{
    uint64_t h = st_fnv1a64(ST_FNV1A64_INIT, m->name, strlen(m->name));
    uint64_t size = m->m.end - m->m.start;
    h = st_fnv1a64(h, &size, sizeof size);
    return st_fnv1a64(h, &m->m.perms, sizeof m->m.perms);
}

struct shared_row { uint64_t key; size_t dump; uint64_t rss; };

static int cmp_shared(const void *x, const void *y)
{
    const struct shared_row *a = x, *b = y;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return a->dump < b->dump ? -1 : a->dump > b->dump;
}

/* Resident bytes of shared mappings counted more than once by summing the processes' RSS:
 * per key, each process's resident bytes under it; the family keeps the largest. */
static uint64_t shared_excess(const struct st_dump *dumps, size_t n)
{
    size_t rows = 0;
    for (size_t i = 0; i < n; i++)
        if (model_is_latest(dumps, n, i))
            for (size_t k = 0; k < dumps[i].n_mappings; k++) rows += sharable(&dumps[i].mappings[k]);
    if (rows == 0) return 0;
    struct shared_row *r = malloc(rows * sizeof *r);
    if (!r) return 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (model_is_latest(dumps, n, i))
            for (size_t k = 0; k < dumps[i].n_mappings; k++)
                if (sharable(&dumps[i].mappings[k]))
                    r[m++] = (struct shared_row){mapping_key(&dumps[i].mappings[k]), i, dumps[i].mappings[k].m.rss};
    qsort(r, m, sizeof *r, cmp_shared);
    uint64_t excess = 0;
    for (size_t a = 0; a < m;) {
        size_t b = a;
        uint64_t sum = 0, best = 0;
        while (b < m && r[b].key == r[a].key) {
            uint64_t per = 0;
            size_t c = b;
            while (c < m && r[c].key == r[a].key && r[c].dump == r[b].dump) per += r[c++].rss;
            sum += per;
            if (per > best) best = per;
            b = c;
        }
        excess += sum - best;
        a = b;
    }
    free(r);
    return excess;
}

void model_family(const struct st_dump *dumps, size_t n, struct st_family *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        if (!model_is_latest(dumps, n, i)) continue;
        out->processes++;
        out->rss_sum_bytes += dumps[i].process.rss_bytes;
        out->live_bytes += dumps[i].process.live_bytes;
    }
    out->rss_bytes = sub_clamped(out->rss_sum_bytes, shared_excess(dumps, n));
}

static int cmp_ranked_desc(const void *x, const void *y)
{
    const struct st_ranked *a = x, *b = y;
    if (a->key != b->key) return a->key > b->key ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

struct st_ranked *model_rank(const struct st_dump *d, size_t n, uint64_t (*key)(const struct st_dump *d, size_t i))
{
    if (n == 0) return NULL;
    struct st_ranked *r = malloc(n * sizeof *r);
    if (!r) return NULL;
    for (size_t i = 0; i < n; i++) r[i] = (struct st_ranked){key(d, i), i};
    qsort(r, n, sizeof *r, cmp_ranked_desc);
    return r;
}

uint64_t rank_site_live(const struct st_dump *d, size_t i) { return d->sites[i].s.live_bytes; }
uint64_t rank_session_live(const struct st_dump *d, size_t i) { return d->sessions[i].live_bytes; }
uint64_t rank_thread_live(const struct st_dump *d, size_t i) { return d->threads[i].live_bytes; }

size_t model_family_depth(const struct st_dump *dumps, size_t n, size_t i)
{
    /* ancestors among the dumps; bounded by n because pids may be reused in a cycle */
    size_t depth = 0;
    uint32_t up = dumps[i].process.ppid;
    for (bool found = true; found && depth < n;) {
        found = false;
        for (size_t j = 0; j < n && !found; j++)
            if (dumps[j].process.pid == up && dumps[j].process.pid != dumps[i].process.pid) {
                found = true;
                depth++;
                up = dumps[j].process.ppid;
            }
    }
    return depth;
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

/*
 * The layers partition RSS: each resident byte is in exactly one of them.
 *  heap side: live + overhead + free (bins, fastbins, tops, tcache, free bytes on pages
 *      that also hold live data) from the arena records, plus glibc's mmapped chunks;
 *  files: file-backed and shared resident memory (code, libraries, mapped files, shared
 *      memory): RSS - anonymous RSS, never the program's anonymous mmaps;
 *  RSS and anonymous RSS come from the MAPPING records (smaps, exact) when the dump has
 *      them, else from the PROCESS record (/proc/self/status, approximate);
 *  the shim: what it mapped for its tables (meta_bytes), within the anonymous remainder;
 *  program's mmaps: its live anonymous mmaps (mapped bytes, within what is left);
 *  the rest: thread stacks and other anonymous memory.
 * When the heap side exceeds RSS (allocated but never touched pages) the excess is
 * reported as heap_unresident and the other layers are 0.
 */
void model_layers(const struct st_dump *d, struct st_layers *out)
{
    const struct st_rec_process *p = &d->process;
    memset(out, 0, sizeof *out);
    /* The MAPPING records are smaps, exact per mapping; /proc/self/status's RSS counters are
     * batched per thread and can be off by megabytes. Use smaps when the dump has it. */
    uint64_t rss = p->rss_bytes, anon = p->rss_anon_bytes;
    if (d->n_mappings) {
        rss = anon = 0;
        for (size_t i = 0; i < d->n_mappings; i++) {
            rss += d->mappings[i].m.rss;
            anon += d->mappings[i].m.anonymous;
        }
    }
    out->rss = rss;
    out->glibc_mmapped = p->glibc_mmapped_bytes;

    uint64_t partial = 0;
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
            /* Resident heap pages hold live chunks, whole free pages, the top and, on the
             * pages shared with live data, free bytes: those are the arena's free too. */
            out->free_bins += arena_bins_resident(a) - a->free_resident_bytes;
            partial += arena_free_partial(a);
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
    /* tcache chunks sit on those shared pages: counted once, as tcache */
    out->free_partial = sub_clamped(partial, out->free_tcache_est);

    uint64_t heap_side = out->live_heap + out->allocator_overhead + layers_free_total(out) + out->glibc_mmapped;
    out->heap_unresident = sub_clamped(heap_side, out->rss);
    uint64_t left = sub_clamped(out->rss, heap_side);
    uint64_t file_like = anon ? sub_clamped(rss, anon) : p->rss_file_bytes;
    out->files = file_like < left ? file_like : left;
    uint64_t anon_left = left - out->files;
    uint64_t shim = p->meta_resident_bytes ? p->meta_resident_bytes : p->meta_bytes;
    out->shim = shim < anon_left ? shim : anon_left;
    anon_left -= out->shim;
    uint64_t mm = d->has_mmaps ? d->mmaps.anon_bytes : 0;
    out->program_mmaps = mm < anon_left ? mm : anon_left;
    out->rest = anon_left - out->program_mmaps;
}

size_t model_layer_rows(const struct st_layers *l, struct st_layer_row rows[ST_LAYER_ROWS])
{
    const struct st_layer_row all[ST_LAYER_ROWS] = {
        {"live_heap", "live heap", l->live_heap, 0},
        {"allocator_overhead", "allocator overhead", l->allocator_overhead, 0},
        {"free_total", "free in arenas", layers_free_total(l), 0},
        {"free_bins", "in bins (whole pages)", l->free_bins, 1},
        {"free_partial", "on pages with live data", l->free_partial, 1},
        {"free_fast", "in fastbins", l->free_fast, 1},
        {"free_top", "in top chunks", l->free_top, 1},
        {"free_tcache_est", "in tcache (estimate)", l->free_tcache_est, 1},
        {"glibc_mmapped", "glibc mmapped chunks", l->glibc_mmapped, 0},
        {"program_mmaps", "program's mmaps", l->program_mmaps, 0},
        {"shim", "sesstrim's own tables", l->shim, 0},
        {"files", "code, libraries, files, shared", l->files, 0},
        {"rest", "the rest", l->rest, 0},
    };
    memcpy(rows, all, sizeof all);
    return ST_LAYER_ROWS;
}

uint64_t layers_free_total(const struct st_layers *l)
{
    return l->free_bins + l->free_partial + l->free_fast + l->free_top + l->free_tcache_est;
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

#define ST_CASE_(name, value, text) case value: return text;
const char *trigger_name(uint32_t trigger) { return st_trim_trigger_name(trigger); }

const char *trim_flags_text(uint32_t flags, const char *sep, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = 0;
#define ST_FLAG_(name, value, text) \
    if ((flags & (value)) && at < len) at += (size_t)snprintf(buf + at, len - at, "%s%s", at ? sep : "", text);
    ST_TRIM_FLAGS(ST_FLAG_)
#undef ST_FLAG_
    uint32_t known = 0;
#define ST_BIT_(name, value, text) known |= (value);
    ST_TRIM_FLAGS(ST_BIT_)
#undef ST_BIT_
    if ((flags & ~known) && at < len) snprintf(buf + at, len - at, "%s0x%x", at ? sep : "", flags & ~known);
    if (!flags) snprintf(buf, len, "-");
    return buf;
}

uint64_t model_trim_tops(const struct st_dump *d, const struct st_rec_trim *t)
{
    if (t->top_released_bytes || t->bin_released_bytes || t->slices || t->max_lock_hold_ns)
        return t->top_released_bytes;
    uint64_t tops = 0;
    for (size_t k = 0; k < d->n_trim_arenas; k++)
        if (d->trim_arenas[k].seq == t->seq && d->trim_arenas[k].arena_id != ST_TRIM_ARENA_GLIBC_PASS)
            tops += d->trim_arenas[k].released_bytes;
    return tops;
}

const char *reason_name(uint32_t reason)
{
    switch (reason) { ST_DUMP_REASONS(ST_CASE_) default: return "unknown"; }
}

const char *event_name(uint32_t event)
{
    switch (event) { ST_EVENTS(ST_CASE_) default: return "event"; }
}

const char *mapping_kind_name(uint32_t kind)
{
    switch (kind) { ST_MAPPING_KINDS(ST_CASE_) default: return "other"; }
}
#undef ST_CASE_

static const char *fmt_dur(uint64_t ns, char *buf, size_t len)
{
    if (ns % 1000000000ull == 0) snprintf(buf, len, "%llus", (unsigned long long)(ns / 1000000000ull));
    else if (ns % 1000000ull == 0) snprintf(buf, len, "%llums", (unsigned long long)(ns / 1000000ull));
    else snprintf(buf, len, "%lluus", (unsigned long long)(ns / 1000ull));
    return buf;
}

/* Appends to buf at *used, keeping it NUL-terminated when it fills. */
static void append(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
    if (*used >= len) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, len - *used, fmt, ap);
    va_end(ap);
    if (n > 0) *used += (size_t)n < len - *used ? (size_t)n : len - *used - 1;
}

bool config_trim_policy(const struct st_dump *d)
{
    const struct st_rec_config *c = &d->config;
    return d->has_config && (c->trim_idle_ns || c->trim_rss_high || c->trim_every_ns || c->trim_free_resident ||
                             (c->flags & ST_CONFIG_TRIM_SESSION_END));
}

void model_config_describe(const struct st_dump *d, char *buf, size_t len)
{
    const struct st_rec_config *c = &d->config;
    char t[32], b[32];
    size_t used = 0;
    buf[0] = 0;
    if (!config_trim_policy(d)) append(buf, len, &used, "no trim policy");
    else {
        append(buf, len, &used, "SESSTRIM_TRIM=");
        const char *sep = "";
        if (c->trim_idle_ns) { append(buf, len, &used, "%sidle=%s", sep, fmt_dur(c->trim_idle_ns, t, sizeof t)); sep = ","; }
        if (c->trim_rss_high) { append(buf, len, &used, "%srss>%s", sep, fmt_bytes(c->trim_rss_high, b, sizeof b)); sep = ","; }
        if (c->trim_every_ns) { append(buf, len, &used, "%severy=%s", sep, fmt_dur(c->trim_every_ns, t, sizeof t)); sep = ","; }
        if (c->flags & ST_CONFIG_TRIM_SESSION_END) { append(buf, len, &used, "%ssession-end", sep); sep = ","; }
        if (c->trim_free_resident)
            append(buf, len, &used, "%sfree-resident>%s", sep, fmt_bytes(c->trim_free_resident, b, sizeof b));
    }
    if (c->arena_max > 0) append(buf, len, &used, ", SESSTRIM_ARENA_MAX=%lld", (long long)c->arena_max);
    if (c->trim_threshold >= 0) append(buf, len, &used, ", SESSTRIM_TRIM_THRESHOLD=%lld", (long long)c->trim_threshold);
    if (c->env_arena_max >= 0) append(buf, len, &used, ", glibc arena_max=%lld", (long long)c->env_arena_max);
    if (c->env_trim_threshold >= 0)
        append(buf, len, &used, ", glibc trim_threshold=%lld", (long long)c->env_trim_threshold);
    if (c->env_mmap_threshold >= 0)
        append(buf, len, &used, ", glibc mmap_threshold=%lld", (long long)c->env_mmap_threshold);
}

/* The trim threshold glibc used: SESSTRIM_TRIM_THRESHOLD (mallopt) wins over the
 * environment; -1 when neither set it (glibc's default, 128 KiB, rising with the mmap
 * threshold). */
int64_t config_trim_threshold(const struct st_dump *d)
{
    if (!d->has_config) return -1;
    return d->config.trim_threshold >= 0 ? d->config.trim_threshold : d->config.env_trim_threshold;
}
