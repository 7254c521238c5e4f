/* records.c: keeps the most recent trims (and their per-arena results) for the dump, in
 * fixed rings in .bss so recording never allocates. */
#include <string.h>

#include "trim.h"

#define TRIM_RING 1024u          /* trims kept; seq tells how many happened in all */
#define TRIM_ARENA_RING 8192u    /* per-arena results kept */

static struct st_rec_trim trims[TRIM_RING];
static struct st_rec_trim_arena trim_arenas[TRIM_ARENA_RING];
static uint64_t n_trims, n_trim_arenas;     /* totals ever added, under rec_lock */
static uint64_t released_total;             /* bytes released by every trim, under rec_lock */
static uint32_t next_seq = 1;
ST_LOCK_DEFINE(rec_lock, ST_RANK_TRIM_RECORDS, NULL);

/* A fork child's dump lists its own trims, not its parent's. */
void trim_records_after_fork_child(void)
{
    n_trims = n_trim_arenas = 0;
    released_total = 0;
    next_seq = 1;
}

uint32_t trim_records_next_seq(void)
{
    return __atomic_fetch_add(&next_seq, 1, __ATOMIC_RELAXED);
}

static void add_arena_locked(uint32_t seq, const struct trim_arena_result *a)
{
    struct st_rec_trim_arena *r = &trim_arenas[n_trim_arenas % TRIM_ARENA_RING];
    memset(r, 0, sizeof *r);
    r->seq = seq;
    r->arena_id = a->arena_id;
    r->released_bytes = a->released_bytes;
    r->duration_ns = a->duration_ns;
    n_trim_arenas++;
}

void trim_records_add(const struct st_rec_trim *t, const struct trim_arena_result *glibc,
                      const struct trim_arena_result *a, uint32_t n)
{
    st_lock(&rec_lock);
    trims[n_trims % TRIM_RING] = *t;
    n_trims++;
    released_total += t->released_bytes;
    if (glibc) add_arena_locked(t->seq, glibc);
    for (uint32_t i = 0; i < n; i++) add_arena_locked(t->seq, &a[i]);
    st_unlock(&rec_lock);
}

/* Counters for metrics (service thread): trims ever run and bytes they released. */
void trim_totals(uint64_t *count, uint64_t *released)
{
    st_lock(&rec_lock);
    *count = n_trims;
    *released = released_total;
    st_unlock(&rec_lock);
}

int trim_dump_records(struct st_dump_writer *w)
{
    int rc = 0;
    st_lock(&rec_lock);
    uint64_t first = n_trims > TRIM_RING ? n_trims - TRIM_RING : 0;
    uint32_t oldest_seq = n_trims ? trims[first % TRIM_RING].seq : 0;
    for (uint64_t i = first; i < n_trims && rc == 0; i++)
        rc = dump_put(w, ST_REC_TRIM, &trims[i % TRIM_RING], sizeof trims[0], NULL, 0);
    /* Per-arena results only for trims still kept, so every result has its trim. */
    uint64_t afirst = n_trim_arenas > TRIM_ARENA_RING ? n_trim_arenas - TRIM_ARENA_RING : 0;
    for (uint64_t i = afirst; i < n_trim_arenas && rc == 0; i++) {
        const struct st_rec_trim_arena *r = &trim_arenas[i % TRIM_ARENA_RING];
        if (r->seq < oldest_seq) continue;
        rc = dump_put(w, ST_REC_TRIM_ARENA, r, sizeof *r, NULL, 0);
    }
    st_unlock(&rec_lock);
    return rc;
}
