/* occupancy.c: how full the resident pages of each arena's heaps are (live bytes per page,
 * bucketed), and which allocation sites pin the sparsely used ones. Written at dump time. */
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "shim.h"
#include "arena_stats.h"
#include "dump_parts.h"

#define PAGE_SHIFT 12
#define PAGE ((uintptr_t)1 << PAGE_SHIFT)
#define ARENA_MAX_PAGES (((uint64_t)16 << 30) >> PAGE_SHIFT)  /* 16 GiB of heap per arena */
#define TOTAL_MAX_PAGES (((uint64_t)32 << 30) >> PAGE_SHIFT)  /* 128 MiB of counters at most */
#define PINS_PER_ARENA 10
#define SPARSE_UNCLAIMED UINT32_MAX    /* a sparse resident page no site was counted on yet */

struct occ_range {
    uintptr_t start, end;
    uint32_t arena;
    uint64_t first_page;               /* index of its first page in the counters */
};

struct pin_slot { uint64_t key; uint64_t pages, bytes; bool used; };

struct occ {
    struct occ_range *ranges;
    uint32_t nranges, ranges_cap;
    uint32_t *pages;                   /* pass 1: live bytes per page; pass 2: sparse marks */
    uint64_t npages;
    uint32_t hint;                     /* last range hit: the live table is sharded by heap */
    struct pin_slot *pins;
    uint32_t pins_cap, pins_used;
    bool pins_failed;
};

/* ---------------------------------------------------------------- ranges */
static bool ranges_push(struct occ *o, uintptr_t start, uintptr_t end, uint32_t arena)
{
    if (o->nranges == o->ranges_cap) {
        uint32_t cap = o->ranges_cap ? o->ranges_cap * 2 : 256;
        struct occ_range *fresh = meta_map((size_t)cap * sizeof *fresh);
        if (!fresh) return false;
        if (o->ranges) memcpy(fresh, o->ranges, (size_t)o->nranges * sizeof *fresh);
        meta_unmap(o->ranges, (size_t)o->ranges_cap * sizeof *o->ranges);
        o->ranges = fresh;
        o->ranges_cap = cap;
    }
    o->ranges[o->nranges++] = (struct occ_range){.start = start, .end = end, .arena = arena};
    return true;
}

static void ranges_sort(struct occ_range *r, uint32_t n)   /* shell sort: no libc qsort (it may malloc) */
{
    for (uint32_t gap = n / 2; gap > 0; gap /= 2)
        for (uint32_t i = gap; i < n; i++) {
            struct occ_range v = r[i];
            uint32_t j = i;
            for (; j >= gap && r[j - gap].start > v.start; j -= gap) r[j] = r[j - gap];
            r[j] = v;
        }
}

/* Every arena's heaps, page-rounded; arenas too big to count are skipped with a log line. */
static bool collect_ranges(struct occ *o)
{
    static struct st_range heaps[ST_MAX_HEAPS];   /* used under the dump lock only */
    uint32_t n = arena_count();
    for (uint32_t id = 0; id < n && id < ST_ARENA_MAX; id++) {
        int nh = arena_heap_ranges(id, heaps, ST_MAX_HEAPS);
        uint64_t pages = 0;
        for (int i = 0; i < nh; i++) pages += (heaps[i].len + PAGE - 1) >> PAGE_SHIFT;
        if (pages > ARENA_MAX_PAGES || o->npages + pages > TOTAL_MAX_PAGES) {
            st_log("occupancy: arena %u has %llu MiB of heap, more than the dump counts; no occupancy for it",
                   id, (unsigned long long)(pages >> (20 - PAGE_SHIFT)));
            continue;
        }
        for (int i = 0; i < nh; i++) {
            uintptr_t start = heaps[i].start & ~(PAGE - 1);
            uintptr_t end = (heaps[i].start + heaps[i].len + PAGE - 1) & ~(PAGE - 1);
            if (end <= start) continue;
            if (!ranges_push(o, start, end, id)) return false;
            o->npages += (end - start) >> PAGE_SHIFT;
        }
    }
    ranges_sort(o->ranges, o->nranges);
    uint64_t at = 0;
    for (uint32_t i = 0; i < o->nranges; i++) {
        o->ranges[i].first_page = at;
        at += (o->ranges[i].end - o->ranges[i].start) >> PAGE_SHIFT;
    }
    return true;
}

static const struct occ_range *range_of(struct occ *o, uintptr_t addr)
{
    const struct occ_range *h = &o->ranges[o->hint];
    if (addr >= h->start && addr < h->end) return h;
    uint32_t lo = 0, hi = o->nranges;          /* first range starting above addr */
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (o->ranges[mid].start <= addr) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0 || addr >= o->ranges[lo - 1].end) return NULL;
    o->hint = lo - 1;
    return &o->ranges[lo - 1];
}

/* The glibc chunk of a live entry, [chunk start, end) clipped to its heap; false if the
 * entry is not in a counted heap. The chunk starts 16 bytes before the pointer. */
static bool entry_extent(struct occ *o, const struct st_entry *e, const struct occ_range **r,
                         uintptr_t *start, uintptr_t *end)
{
    if (e->arena == ST_ENTRY_ARENA_MMAPPED || e->arena == ST_ENTRY_ARENA_UNKNOWN || e->ptr < 16) return false;
    *start = e->ptr - 16;
    *r = range_of(o, *start);
    if (!*r) return false;
    size_t chunk = *((const size_t *)e->ptr - 1) & ~(size_t)CHUNK_FLAGS;
    *end = *start + chunk;
    if (*end > (*r)->end || *end <= *start) *end = (*r)->end;
    return true;
}

/* ---------------------------------------------------------------- pass 1: bytes per page */
static void count_entry(const struct st_entry *e, void *ctx)
{
    struct occ *o = ctx;
    const struct occ_range *r;
    uintptr_t start, end;
    if (!entry_extent(o, e, &r, &start, &end)) return;
    uint32_t *pages = o->pages + r->first_page;
    for (uintptr_t at = start; at < end;) {
        uintptr_t page_end = (at & ~(PAGE - 1)) + PAGE;
        uintptr_t stop = page_end < end ? page_end : end;
        pages[(at - r->start) >> PAGE_SHIFT] += (uint32_t)(stop - at);
        at = stop;
    }
}

static unsigned bucket_of(uint32_t live)
{
    if (live == 0) return 0;
    uint64_t k = ((uint64_t)live * 10 + PAGE - 1) / PAGE;   /* (0,10%] -> 1 ... (90,100%] -> 10 */
    return k > 10 ? 10 : (unsigned)k;
}

/* Histogram of resident pages per arena; leaves pages[] holding SPARSE_UNCLAIMED for the
 * resident pages of bucket 1 and 0 elsewhere. Returns the number of such sparse pages. */
static uint64_t classify(struct occ *o, uint64_t (*hist)[ST_OCC_BUCKETS])
{
    unsigned char vec[4096];
    uint64_t sparse = 0;
    for (uint32_t i = 0; i < o->nranges; i++) {
        const struct occ_range *r = &o->ranges[i];
        uint32_t *pages = o->pages + r->first_page;
        uint64_t n = (r->end - r->start) >> PAGE_SHIFT;
        for (uint64_t done = 0; done < n;) {
            uint64_t batch = n - done < sizeof vec ? n - done : sizeof vec;
            bool known = syscall(SYS_mincore, r->start + (done << PAGE_SHIFT), batch << PAGE_SHIFT, vec) == 0;
            for (uint64_t k = 0; k < batch; k++) {
                uint32_t *cell = &pages[done + k];
                if (!known || !(vec[k] & 1)) { *cell = 0; continue; }
                unsigned b = bucket_of(*cell);
                hist[r->arena][b]++;
                *cell = b == 1 ? SPARSE_UNCLAIMED : 0;
                sparse += b == 1;
            }
            done += batch;
        }
    }
    return sparse;
}

/* ---------------------------------------------------------------- pass 2: who pins them */
static uint64_t pin_hash(uint64_t key) { key *= 0x9E3779B97F4A7C15ull; return key ^ (key >> 29); }

static struct pin_slot *pin_find(struct pin_slot *slots, uint32_t cap, uint64_t key)
{
    uint32_t i = (uint32_t)pin_hash(key) & (cap - 1);
    while (slots[i].used && slots[i].key != key) i = (i + 1) & (cap - 1);
    return &slots[i];
}

static struct pin_slot *pin_get(struct occ *o, uint32_t arena, uint32_t site)
{
    uint64_t key = (uint64_t)arena << 32 | site;
    if ((o->pins_used + 1) * 2 > o->pins_cap) {
        uint32_t cap = o->pins_cap ? o->pins_cap * 2 : 1024;
        struct pin_slot *fresh = meta_map((size_t)cap * sizeof *fresh);
        if (!fresh) {
            if (o->pins_used + 1 >= o->pins_cap) { o->pins_failed = true; return NULL; }
        } else {
            for (uint32_t i = 0; i < o->pins_cap; i++)
                if (o->pins[i].used) *pin_find(fresh, cap, o->pins[i].key) = o->pins[i];
            meta_unmap(o->pins, (size_t)o->pins_cap * sizeof *o->pins);
            o->pins = fresh;
            o->pins_cap = cap;
        }
    }
    struct pin_slot *s = pin_find(o->pins, o->pins_cap, key);
    if (!s->used) { s->used = true; s->key = key; o->pins_used++; }
    return s;
}

/* An upper bound of an entry's chunk from its requested size alone: glibc's chunk is the
 * request plus header, rounded to 16, plus under 32 bytes of unsplit remainder. */
static bool may_touch_sparse(struct occ *o, const struct st_entry *e)
{
    if (e->arena == ST_ENTRY_ARENA_MMAPPED || e->arena == ST_ENTRY_ARENA_UNKNOWN || e->ptr < 16) return false;
    uintptr_t start = e->ptr - 16;
    const struct occ_range *r = range_of(o, start);
    if (!r) return false;
    uintptr_t end = start + ((e->size + 8 + 15) & ~(uint64_t)15) + 32 + 16;
    if (end > r->end || end <= start) end = r->end;
    const uint32_t *pages = o->pages + r->first_page;
    for (uintptr_t pg = (start - r->start) >> PAGE_SHIFT; pg <= (end - 1 - r->start) >> PAGE_SHIFT; pg++)
        if (pages[pg]) return true;
    return false;
}

static void pin_entry(const struct st_entry *e, void *ctx)
{
    struct occ *o = ctx;
    const struct occ_range *r;
    uintptr_t start, end;
    /* Most entries sit on dense pages: reject them without touching their chunk header. */
    if (!may_touch_sparse(o, e) || !entry_extent(o, e, &r, &start, &end)) return;
    uint32_t *pages = o->pages + r->first_page;
    uint32_t mark = e->site + 1;        /* the page was last counted for this site */
    for (uintptr_t at = start; at < end;) {
        uintptr_t page_end = (at & ~(PAGE - 1)) + PAGE;
        uintptr_t stop = page_end < end ? page_end : end;
        uint32_t *cell = &pages[(at - r->start) >> PAGE_SHIFT];
        if (*cell) {
            struct pin_slot *s = pin_get(o, r->arena, e->site);
            if (s) {
                s->bytes += stop - at;
                /* A page shared by several sites counts once for each of them. */
                if (*cell != mark) { s->pages++; *cell = mark; }
            }
        }
        at = stop;
    }
}

static bool pin_before(const struct pin_slot *a, const struct pin_slot *b)
{
    uint32_t aa = (uint32_t)(a->key >> 32), ba = (uint32_t)(b->key >> 32);
    if (aa != ba) return aa < ba;
    if (a->pages != b->pages) return a->pages > b->pages;
    return a->bytes > b->bytes;
}

/* The top sites per arena, by pages pinned, packed to the front of the table. */
static void write_pins(struct st_dump_writer *w, struct occ *o)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < o->pins_cap; i++)
        if (o->pins[i].used) o->pins[n++] = o->pins[i];
    for (uint32_t gap = n / 2; gap > 0; gap /= 2)
        for (uint32_t i = gap; i < n; i++) {
            struct pin_slot v = o->pins[i];
            uint32_t j = i;
            for (; j >= gap && pin_before(&v, &o->pins[j - gap]); j -= gap) o->pins[j] = o->pins[j - gap];
            o->pins[j] = v;
        }
    uint32_t arena = UINT32_MAX, shown = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t a = (uint32_t)(o->pins[i].key >> 32);
        if (a != arena) { arena = a; shown = 0; }
        if (shown++ >= PINS_PER_ARENA) continue;
        struct st_rec_pin p = {.arena_id = a, .site_id = (uint32_t)o->pins[i].key,
                               .pages = o->pins[i].pages, .bytes = o->pins[i].bytes};
        dump_put(w, ST_REC_PIN, &p, sizeof p, NULL, 0);
    }
}

/* ---------------------------------------------------------------- the dump part */
void dump_occupancy_records(struct st_dump_writer *w, const struct dump_walk *walk)
{
    (void)walk;
    if (!st_arena_logic) return;
    struct occ o;
    memset(&o, 0, sizeof o);
    size_t hist_size = ST_ARENA_MAX * sizeof(uint64_t[ST_OCC_BUCKETS]);
    uint64_t (*hist)[ST_OCC_BUCKETS] = meta_map(hist_size);
    if (!hist) return;
    if (!collect_ranges(&o) || o.nranges == 0) goto out;
    o.pages = meta_map(o.npages * sizeof *o.pages);
    if (!o.pages) {
        st_log("occupancy: no memory for %llu page counters; no occupancy records", (unsigned long long)o.npages);
        goto out;
    }
    livetable_walk(count_entry, &o);
    uint64_t sparse = classify(&o, hist);
    bool arena_seen[ST_ARENA_MAX] = {0};
    for (uint32_t i = 0; i < o.nranges; i++) arena_seen[o.ranges[i].arena] = true;
    for (uint32_t a = 0; a < ST_ARENA_MAX; a++) {
        if (!arena_seen[a]) continue;
        struct st_rec_occupancy r;
        memset(&r, 0, sizeof r);
        r.arena_id = a;
        r.page_size = PAGE;
        memcpy(r.pages, hist[a], sizeof r.pages);
        dump_put(w, ST_REC_OCCUPANCY, &r, sizeof r, NULL, 0);
    }
    if (sparse) {
        livetable_walk(pin_entry, &o);
        if (o.pins_failed) st_log("occupancy: out of memory counting pinning sites; PIN records partial");
        if (o.pins_used) write_pins(w, &o);
    }
out:
    meta_unmap(o.pins, (size_t)o.pins_cap * sizeof *o.pins);
    meta_unmap(o.pages, o.npages * sizeof *o.pages);
    meta_unmap(o.ranges, (size_t)o.ranges_cap * sizeof *o.ranges);
    meta_unmap(hist, hist_size);
}
