/* sessions.h: what the session registry (sessions.c) and the ended-session history
 * (session_history.c) share: the slot record, refs and ids, and the history interface. */
#ifndef SESSTRIM_SESSIONS_H
#define SESSTRIM_SESSIONS_H

#include "shim.h"

/*
 * A session lives in a slot while it is open and while it still owns live allocations
 * after it ended; then the slot is recycled. Two names for a session:
 *  - its ref (uint32_t, stored in every live-table entry): slot index in the low
 *    SESS_IDX_BITS bits, the slot's generation above, so a ref to a recycled slot is
 *    recognised (until the 12-bit generation wraps, 4096 reuses of one slot later);
 *  - its public id (uint64_t, what the API returns and the dump records):
 *    serial << 32 | ref, unique for the life of the process.
 */
#define SESS_IDX_BITS 20
#define SESS_IDX_MASK ((1u << SESS_IDX_BITS) - 1)
#define SESS_CHUNK_SHIFT 10
#define SESS_CHUNK_SLOTS (1u << SESS_CHUNK_SHIFT)
#define SESS_MAX_CHUNKS ((SESS_IDX_MASK + 1) >> SESS_CHUNK_SHIFT)
#define SESS_STACK_DEPTH 32          /* sessions nested on one thread */
#define SESS_THREAD_BITS 512         /* threads_seen is exact for thread idx < 512 */
#define SESS_SITES_KEPT 8            /* leftover sites kept per ended session */

enum sess_state {
    SESS_FREE = 0,      /* slot unused */
    SESS_OPEN = 1,
    SESS_ENDING = 2,    /* end() is snapshotting it: must not be recycled yet */
    SESS_ENDED = 3,     /* ended, still owns live allocations */
    SESS_RECYCLING = 4, /* the thread that saw it empty is returning the slot */
};

struct st_session {
    /* Touched by every tagged malloc/free: kept together on the first cache lines. Only
     * monotonic totals are stored (one atomic add each); live = in - out, computed. */
    uint32_t ref;              /* atomic: the ref of the session in this slot, 0 if free */
    uint32_t state;            /* atomic: enum sess_state */
    uint64_t total_alloc_bytes, total_allocs;      /* atomics */
    uint64_t freed_bytes, frees;                   /* atomics */
    uint64_t peak_bytes;                           /* atomic */
    uint64_t kept_in_bytes, kept_in_count;         /* atomics: received by keep() */
    uint64_t kept_out_bytes, kept_out_count;       /* atomics: handed away by keep() */
    /* Written at begin/end only. */
    uint64_t id, parent_id;
    uint32_t parent_ref, generation;
    uint32_t next_free;        /* free-list link (slot index) while SESS_FREE */
    uint32_t reserved;
    uint64_t begin_ns, end_ns; /* CLOCK_REALTIME */
    uint64_t threads[SESS_THREAD_BITS / 64];       /* atomics: threads that worked in it */
    char name[ST_SESSION_NAME_MAX];
} __attribute__((aligned(64)));

/* Live bytes and count from the totals. Frees are read first: a free is counted only after
 * its allocation was, so a concurrent snapshot can be stale but never below zero. */
struct sess_live { uint64_t bytes, count; };
static inline struct sess_live sess_live_of(const struct st_session *s)
{
    uint64_t fb = __atomic_load_n(&s->freed_bytes, __ATOMIC_ACQUIRE);
    uint64_t fc = __atomic_load_n(&s->frees, __ATOMIC_ACQUIRE);
    uint64_t ob = __atomic_load_n(&s->kept_out_bytes, __ATOMIC_ACQUIRE);
    uint64_t oc = __atomic_load_n(&s->kept_out_count, __ATOMIC_ACQUIRE);
    uint64_t ab = __atomic_load_n(&s->total_alloc_bytes, __ATOMIC_ACQUIRE);
    uint64_t ac = __atomic_load_n(&s->total_allocs, __ATOMIC_ACQUIRE);
    uint64_t ib = __atomic_load_n(&s->kept_in_bytes, __ATOMIC_ACQUIRE);
    uint64_t ic = __atomic_load_n(&s->kept_in_count, __ATOMIC_ACQUIRE);
    int64_t bytes = (int64_t)(ab + ib - ob - fb), count = (int64_t)(ac + ic - oc - fc);
    return (struct sess_live){ bytes > 0 ? (uint64_t)bytes : 0, count > 0 ? (uint64_t)count : 0 };
}

/* The slot holding ref's session, or NULL if that session's slot was recycled. */
struct st_session *sess_slot_of_ref(uint32_t ref);
/* Fill a dump record from a slot (live counters as they are now). */
void sess_fill_record(const struct st_session *s, struct st_rec_session *out);
uint64_t sessions_open_count(void);
/* Visit every slot in use under the registry lock (dump). */
void sess_registry_visit(void (*fn)(const struct st_session *, void *), void *ctx);

/* ---------------------------------------------------------------- session_history.c */
struct sess_site_total { uint32_t site; uint32_t reserved; uint64_t bytes, count; };

/* Record an ended session: kept in detail among the last SESSTRIM_SESSIONS_KEPT (those
 * with leftovers preferred), else folded into the summary. Takes the history lock. */
void sess_history_add(const struct st_rec_session *rec, const struct sess_site_total *sites,
                      uint32_t nsites);
/* Group the leftovers of ref by allocation site (walks the live table; rate limited).
 * Returns the number of groups written to out (at most SESS_SITES_KEPT). */
uint32_t sess_leftover_sites(uint32_t ref, struct sess_site_total *out);
uint64_t sess_history_meta_bytes(void);

#endif
