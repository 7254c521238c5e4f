/* livetable.c: every live allocation, pointer -> st_entry, in open-addressing tables the
 * shim maps itself. Sharded by the glibc heap a pointer lives in; layout and why: livetable.h.
 * Everything here takes shard locks, so it runs with the caller's guard up (st_in_shim: the
 * malloc hooks, ST_API entry points, dump_write, the shim's own threads): a signal handler
 * that interrupts it and allocates passes through instead of waiting for a lock its own
 * thread holds (tests/host/keep_signal, session_signal). */
#include <string.h>
#include "shim.h"
#include "livetable.h"

struct shard shards[NSHARDS] = {[0 ... NSHARDS - 1] = {.lock = ST_LOCK_INIT(ST_RANK_SHARD)}};

/* Fork child, another thread was inside this shard: its tables may be mid-change. Start the
 * shard empty; its live pointers are then frees of untracked memory in the child (counted),
 * and the old tables are left mapped (a bounded leak, once per torn shard per fork). */
static void shard_repair(uint32_t i)
{
    struct shard *s = &shards[i];
    s->slots = NULL;
    s->old = NULL;
    s->old_cap = s->old_pos = s->grow_at = s->clean_at = s->tombs = 0;
    __atomic_store_n(&s->cap, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->count, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->changes, 0, __ATOMIC_RELAXED);
}
ST_LOCK_REGISTER(shards, &shards[0].lock, NSHARDS, sizeof(struct shard), "live table shard", shard_repair);

/* A table a finished migration left behind: unmapped after the shard lock is dropped, so
 * the munmap (a TLB shootdown on every core) is not paid under the lock. */
struct retired { struct st_slot *p; uint32_t cap; };
static void retire(struct retired *r)
{
    if (r->p) meta_unmap(r->p, (size_t)r->cap * sizeof(struct st_slot));
    r->p = NULL;
}

static uint32_t pct_of(uint32_t cap, uint32_t pct) { return (uint32_t)((uint64_t)cap * pct / 100); }

/* Map an empty table of newcap slots and make it the shard's current one; the current one,
 * if any, becomes the old table being migrated (there must be none already). */
static bool start_table(struct shard *s, uint64_t newcap, struct st_slot *premapped)
{
    ST_ASSERT(!s->old, "live table: one migration at a time", return false);
    if (newcap < SHARD_INITIAL || newcap > UINT32_MAX / 2) return false;
    struct st_slot *ns = premapped ? premapped : meta_map((size_t)newcap * sizeof(struct st_slot));
    if (!ns) return false;
    if (s->slots) {
        s->old = s->slots;
        s->old_cap = s->cap;
        s->old_pos = 0;
    }
    s->slots = ns;
    s->tombs = 0;
    __atomic_store_n(&s->cap, (uint32_t)newcap, __ATOMIC_RELAXED);   /* peeked at unlocked by trims */
    s->grow_at = pct_of((uint32_t)newcap, SHARD_GROW_PCT);
    s->clean_at = pct_of((uint32_t)newcap, SHARD_CLEAN_PCT);
    return true;
}

/* Move up to n slots of the old table into the current one. An entry the current table
 * already holds for the same pointer was inserted later (the old one is stale: its free
 * bypassed the shim) and wins. When the last slot has moved, the old table goes to r. */
static void migrate(struct shard *s, uint32_t n, struct retired *r)
{
    while (n && s->old_pos < s->old_cap) {
        struct st_slot *o = &s->old[s->old_pos++];
        n--;
        if (o->w0 == 0 || o->w0 == SLOT_TOMB) continue;
        uint64_t key = o->w0 & SLOT_KEY_MASK;
        uint32_t i = table_insert_slot(s->slots, s->cap, key);
        uint64_t w = s->slots[i].w0;
        if (w == 0 || w == SLOT_TOMB) {
            if (w == SLOT_TOMB) s->tombs--;
            s->slots[i] = *o;
        } else {
            __atomic_store_n(&s->count, s->count - 1, __ATOMIC_RELAXED);  /* stale: dropped */
        }
        o->w0 = SLOT_TOMB;
    }
    if (s->old && s->old_pos >= s->old_cap) {
        r->p = s->old;
        r->cap = s->old_cap;
        s->old = NULL;
        s->old_cap = s->old_pos = 0;
    }
}

/* The slot of key in the current table (*t set to it) or the old one, or -1. */
static int64_t shard_find(struct shard *s, uint64_t key, struct st_slot **t)
{
    int64_t i = table_find(s->slots, s->cap, key);
    *t = s->slots;
    if (i < 0 && s->old) {
        i = table_find(s->old, s->old_cap, key);
        *t = s->old;
    }
    return i;
}

/* The capacity for a shard's next table: its live entries at SHARD_NEW_PCT. */
static uint64_t next_cap(uint64_t count)
{
    uint64_t cap = (count + 1) * 100 / SHARD_NEW_PCT;
    return cap < SHARD_INITIAL ? SHARD_INITIAL : cap;
}

bool livetable_insert_slow(const struct st_entry *e)
{
    struct shard *s = shard_of(e->ptr);
    struct retired r = {0};
    bool ok = true;
    st_lock(&s->lock);
    if (s->old) migrate(s, MIGRATE_STEP, &r);
    if (s->count >= s->grow_at || s->count + s->tombs >= s->clean_at) {
        /* A table that filled while still migrating finishes first (MIGRATE_STEP makes this
         * impossible in growth: the migration ends after cap/8 operations, when the new
         * table's load is at most 0.64 + 0.1). */
        if (s->old) migrate(s, UINT32_MAX, &r);
        if (!start_table(s, next_cap(s->count), NULL))
            ok = s->slots && s->count + s->tombs + 1 < s->cap;   /* no memory: fill the last free slots */
    }
    if (ok) shard_put(s, e);
    st_unlock(&s->lock);
    retire(&r);
    return ok;
}

bool livetable_remove_slow(uintptr_t ptr, struct st_entry *out)
{
    struct shard *s = shard_of(ptr);
    struct retired r = {0};
    st_lock(&s->lock);
    struct st_slot *t;
    int64_t i = shard_find(s, slot_key(ptr), &t);
    if (i >= 0) {
        slot_unpack(&t[i], out);
        if (t == s->slots) s->tombs += table_erase(t, s->cap, (uint32_t)i);
        else t[i].w0 = SLOT_TOMB;             /* the old table only empties: its tombs are not counted */
        __atomic_store_n(&s->count, s->count - 1, __ATOMIC_RELAXED);
        __atomic_store_n(&s->changes, s->changes + 1, __ATOMIC_RELAXED);
    }
    if (s->old) migrate(s, MIGRATE_STEP, &r);
    st_unlock(&s->lock);
    retire(&r);
    return i >= 0;
}

bool livetable_update(uintptr_t ptr, void (*fn)(struct st_entry *, void *), void *ctx)
{
    struct shard *s = shard_of(ptr);
    if (ptr & 7) return false;
    st_lock(&s->lock);
    struct st_slot *t;
    int64_t i = shard_find(s, slot_key(ptr), &t);
    if (i >= 0) {
        struct st_entry e;
        slot_unpack(&t[i], &e);
        fn(&e, ctx);
        ST_ASSERT(e.ptr == ptr, "livetable_update: fn must not change the pointer", e.ptr = ptr);
        slot_pack(&t[i], &e);
    }
    st_unlock(&s->lock);
    return i >= 0;
}

void livetable_walk(void (*fn)(const struct st_entry *, void *), void *ctx)
{
    for (uint32_t n = 0; n < NSHARDS; n++) {
        struct shard *s = &shards[n];
        struct retired r = {0};
        st_lock(&s->lock);
        /* The walk visits every slot anyway: finish a running migration first, so a dump
         * shows the table at rest and its memory without the old copy. */
        if (s->old) migrate(s, UINT32_MAX, &r);
        const struct st_slot *tables[2] = {s->slots, s->old};
        const uint32_t caps[2] = {s->cap, s->old_cap};
        for (unsigned k = 0; k < 2; k++)
            for (uint32_t i = 0; tables[k] && i < caps[k]; i++) {
                uint64_t w = tables[k][i].w0;
                if (!w || w == SLOT_TOMB) continue;
                struct st_entry e;
                slot_unpack(&tables[k][i], &e);
                fn(&e, ctx);
            }
        st_unlock(&s->lock);
        retire(&r);
    }
}

uint64_t livetable_count(void)
{
    uint64_t c = 0;
    for (uint32_t n = 0; n < NSHARDS; n++) c += __atomic_load_n(&shards[n].count, __ATOMIC_RELAXED);
    return c;
}


/* Each shard's change counter at the trimmer's last tick: a shard still at the same value
 * when a trim comes is not in use. */
static uint32_t shard_seen[NSHARDS];

void livetable_note_quiet(void)
{
    for (uint32_t n = 0; n < NSHARDS; n++) shard_seen[n] = __atomic_load_n(&shards[n].changes, __ATOMIC_RELAXED);
}

/* Give back table memory a past peak left: a shard with no live entry loses its table; one
 * whose load fell under 0.3 is moved to a table sized for SHARD_NEW_PCT (SHARD_INITIAL at
 * least) by the same incremental migration as growth, here in slices of SHRINK_SLICE old slots with the shard lock dropped between
 * slices, so no thread waits more than one slice (about 50 us here) for its shard. With
 * only_quiet, a shard is shrunk only if it did not change since livetable_note_quiet().
 * The longest lock hold goes to *max_hold_ns. Called by trims (trim/trimmer.c), never on
 * the hot path. Returns the bytes unmapped. */
#define SHRINK_SLICE 8192u
size_t livetable_release_unused(bool only_quiet, uint64_t *max_hold_ns)
{
    size_t released = 0;
    for (uint32_t n = 0; n < NSHARDS; n++) {
        struct shard *s = &shards[n];
        /* unlocked peek: most shards are not worth the lock */
        uint32_t cap = __atomic_load_n(&s->cap, __ATOMIC_RELAXED);
        uint64_t count = __atomic_load_n(&s->count, __ATOMIC_RELAXED);
        if (!cap || (count && (cap <= SHARD_INITIAL || count * 10 >= (uint64_t)cap * 3))) continue;
        if (only_quiet && shard_seen[n] != __atomic_load_n(&s->changes, __ATOMIC_RELAXED)) continue;
        if (!count) {
            /* No live block in this heap any more: the whole table goes (the next insert
             * maps a new one), tombstones and all. */
            struct retired r = {0};
            st_lock(&s->lock);
            if (!s->count && !s->old && s->slots) {
                r.p = s->slots;
                r.cap = s->cap;
                s->slots = NULL;
                s->tombs = s->grow_at = s->clean_at = 0;
                __atomic_store_n(&s->cap, 0, __ATOMIC_RELAXED);
            }
            st_unlock(&s->lock);
            if (r.p) released += (size_t)r.cap * sizeof(struct st_slot);
            retire(&r);
            continue;
        }
        uint64_t newcap = next_cap(count);
        if (newcap * 3 > (uint64_t)cap * 2) continue;                  /* not worth a third */
        struct st_slot *ns = meta_map((size_t)newcap * sizeof(struct st_slot));
        if (!ns) continue;
        struct retired r = {0};
        st_lock(&s->lock);
        uint64_t t0 = st_now_ns();
        /* the shard may have changed since the peek: the new table must still fit */
        bool started = !s->old && s->cap == cap && s->count + 1 < pct_of((uint32_t)newcap, SHARD_GROW_PCT) &&
                       start_table(s, newcap, ns);
        uint64_t hold = st_now_ns() - t0;
        st_unlock(&s->lock);
        if (hold > *max_hold_ns) *max_hold_ns = hold;
        if (!started) { meta_unmap(ns, (size_t)newcap * sizeof(struct st_slot)); continue; }
        while (!r.p) {
            st_lock(&s->lock);
            t0 = st_now_ns();
            /* another shrink or growth cannot start while this migration runs (start_table
             * refuses), so the old table is still this one or already retired by a caller */
            bool done = !s->old;
            if (!done) migrate(s, SHRINK_SLICE, &r);
            hold = st_now_ns() - t0;
            st_unlock(&s->lock);
            if (hold > *max_hold_ns) *max_hold_ns = hold;
            if (done) break;
        }
        if (r.p) retire(&r);
        released += ((size_t)cap - newcap) * sizeof(struct st_slot);
    }
    return released;
}
