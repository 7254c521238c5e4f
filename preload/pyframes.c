/* pyframes.c: the native side of the Python binding (issue 11). Two small read-only queries
 * the binding needs and the public C API does not offer:
 *  - sesstrim_impl_session_stats: a session's counters now, so the pytest plugin can fail a
 *    test on its leftovers without writing a dump per test;
 *  - sesstrim_impl_block_owner: the session that owns a live block and that session's
 *    parent, so a failed keep() can say why it failed.
 * Both are called from Python through ctypes (python/sesstrim/__init__.py); neither
 * allocates, both take at most one live-table shard lock. */
#include <string.h>
#include "pyframes.h"
#include "sessions.h"

/* The order of out[] is part of the binding's contract (SESSTRIM_STAT_* in pyframes.h). */
ST_EXPORT int sesstrim_impl_session_stats(uint64_t id, uint64_t *out)
{
    if (!id || !out) return -1;
    struct st_session *s = sess_slot_of_ref((uint32_t)id);
    if (!s || __atomic_load_n(&s->id, __ATOMIC_ACQUIRE) != id) return -1;
    struct st_rec_session r;
    sess_fill_record(s, &r);
    /* The slot may have been recycled while we read it (the session ended and its last
     * block was freed): then the figures belong to someone else; say "unknown". */
    if (__atomic_load_n(&s->id, __ATOMIC_ACQUIRE) != id) return -1;
    uint64_t v[SESSTRIM_STAT_COUNT] = {
        [SESSTRIM_STAT_LIVE_BYTES] = r.live_bytes,
        [SESSTRIM_STAT_LIVE_COUNT] = r.live_count,
        [SESSTRIM_STAT_PEAK_BYTES] = r.peak_bytes,
        [SESSTRIM_STAT_TOTAL_BYTES] = r.total_alloc_bytes,
        [SESSTRIM_STAT_TOTAL_ALLOCS] = r.total_allocs,
        [SESSTRIM_STAT_FREES] = r.frees,
        [SESSTRIM_STAT_KEPT_IN_BYTES] = r.kept_in_bytes,
        [SESSTRIM_STAT_THREADS_SEEN] = r.threads_seen,
        [SESSTRIM_STAT_PARENT_ID] = r.parent_id,
        [SESSTRIM_STAT_ENDED] = (r.flags & ST_SESSION_ENDED) ? 1 : 0,
    };
    memcpy(out, v, sizeof v);
    return 0;
}

struct owner_ctx { uint32_t ref; };

static void read_owner(struct st_entry *e, void *arg)
{
    ((struct owner_ctx *)arg)->ref = e->session;
}

/* out[0]: owner session id (0: the block belongs to no session), out[1]: its parent id
 * (0: a top-level session). -1 when ptr is not the start of a live block the shim saw. */
ST_EXPORT int sesstrim_impl_block_owner(const void *ptr, uint64_t *out)
{
    if (!ptr || !out) return -1;
    struct owner_ctx c = { 0 };
    if (!livetable_update((uintptr_t)ptr, read_owner, &c)) return -1;
    out[0] = out[1] = 0;
    struct st_session *s = c.ref ? sess_slot_of_ref(c.ref) : NULL;
    if (s) {
        out[0] = __atomic_load_n(&s->id, __ATOMIC_ACQUIRE);
        out[1] = s->parent_id;
    }
    return 0;
}
