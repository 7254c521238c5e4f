/* timeline.c: RSS, live bytes and per-arena resident bytes sampled over time, plus events
 * (trims, session ends), kept in shim memory and written as the dump's TIMELINE records. */
#include <string.h>
#include "shim.h"
#include "arena_stats.h"
#include "dump_parts.h"

#define TL_CAP 4096u
#define TL_ARENAS 64u   /* per-arena resident kept for the first 64 arenas */

struct tl_point {
    struct st_rec_timeline r;
    uint64_t arena_resident[TL_ARENAS];
};

static struct tl_point *points;
static uint32_t npoints;
ST_LOCK_DEFINE(tl_lock, ST_RANK_TIMELINE, NULL);

uint64_t live_bytes_now(void)
{
    uint64_t alloc = 0, freed = 0;
    for (struct st_thread *t = threads_first(); t; t = __atomic_load_n(&t->next, __ATOMIC_ACQUIRE)) {
        alloc += __atomic_load_n(&t->alloc_bytes, __ATOMIC_RELAXED);
        freed += __atomic_load_n(&t->freed_bytes, __ATOMIC_RELAXED);
    }
    return alloc > freed ? alloc - freed : 0;
}

/* Full: keep every event, drop every other plain sample. The timeline halves its
 * resolution instead of growing: a server running for months still dumps small. */
static void compact(void)
{
    uint32_t out = 0;
    bool drop = false;
    for (uint32_t i = 0; i < npoints; i++) {
        bool is_sample = points[i].r.event == ST_EV_SAMPLE;
        if (is_sample) drop = !drop;
        if (is_sample && drop && i + 1 < npoints) continue;
        points[out++] = points[i];
    }
    npoints = out;
}

static void append(const struct tl_point *p)
{
    st_lock(&tl_lock);
    if (!points) points = meta_map(TL_CAP * sizeof *points);
    if (points) {
        if (npoints == TL_CAP) compact();
        if (npoints < TL_CAP) points[npoints++] = *p;
    }
    st_unlock(&tl_lock);
}

void timeline_sample(uint32_t event, uint64_t arg)
{
    struct tl_point p;
    memset(&p, 0, sizeof p);
    p.r.time_ns = st_realtime_ns();
    p.r.rss_bytes = proc_rss_bytes();
    p.r.live_bytes = live_bytes_now();
    p.r.event = event;
    p.r.event_arg = arg;
    uint32_t n = st_arena_logic ? arena_count() : 0;
    if (n > TL_ARENAS) n = TL_ARENAS;
    for (uint32_t id = 0; id < n; id++) {
        struct st_range r[ST_MAX_HEAPS];
        int nr = arena_heap_ranges(id, r, ST_MAX_HEAPS);
        for (int i = 0; i < nr; i++) p.arena_resident[id] += resident_bytes(r[i].start, r[i].start + r[i].len);
        p.r.heap_resident_bytes += p.arena_resident[id];
    }
    p.r.narenas = n;
    append(&p);
}

/* Events are recorded only when a timeline is on: a server ending a million sessions must
 * not pay a /proc read each time otherwise. */
void timeline_event(uint32_t event, uint64_t arg)
{
    if (!st_opt.timeline_interval_ms) return;
    timeline_sample(event, arg);
}

void timeline_after_fork_child(void) { npoints = 0; }

void timeline_dump_records(struct st_dump_writer *w)
{
    st_lock(&tl_lock);
    for (uint32_t i = 0; i < npoints; i++) {
        const struct tl_point *p = &points[i];
        dump_put(w, ST_REC_TIMELINE, &p->r, sizeof p->r, p->arena_resident,
                 p->r.narenas * (uint32_t)sizeof(uint64_t));
    }
    st_unlock(&tl_lock);
}
