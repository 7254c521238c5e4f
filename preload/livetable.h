/* livetable.h: the live table's shards, its packed slot and its two hot operations, inline
 * so that malloc and free pay no call for them. The rest of the table is in livetable.c. */
#ifndef SESSTRIM_LIVETABLE_H
#define SESSTRIM_LIVETABLE_H
#include "shim.h"

/*
 * Why shard by heap: each glibc thread arena lives in its own 64 MiB-aligned heaps, and a
 * thread keeps allocating from one arena. Hashing (ptr >> 26) picks the shard, so threads
 * on different arenas take different shard locks and their cache lines never bounce.
 *
 * Within a shard: linear probing over packed 24-byte slots, any capacity (not only powers
 * of two). A remove leaves a tombstone unless the next slot is empty (then the slot and
 * the tombstones right before it become empty: no probe can run past them), and an insert
 * takes the first tombstone or empty slot of its probe run. Past SHARD_GROW_PCT live, or
 * SHARD_CLEAN_PCT live plus tombstones, the shard moves to a new table sized for its live
 * entries at SHARD_NEW_PCT, which drops the tombstones and lets the table follow its live
 * count up and down: 24 B / 0.80 = 30 to 24 B / 0.64 = 37.5 B of metadata per live
 * allocation at rest (issue 13's bound is 40). Measured on bench/churn (one thread, 10 k
 * live, callgrind): backward-shift deletion instead of tombstones cost 1190 instructions
 * per malloc/free pair (the scan to the end of each cluster at this load), this table 950,
 * the previous one 800 (32-byte slots, power-of-two capacities at load 0.15 to 0.7: 69 B
 * per live allocation, and a rebuild in one go under the lock that paused the thread that
 * triggered it for up to 1.1 ms at 4096 live blocks in bench/latency). Lower loads (50% new,
 * 75% grow) saved only 2% of the instructions: the cost is in packing and probing, not in
 * the probe length.
 *
 * A move never pauses: the new table is mapped and the old one migrated incrementally,
 * MIGRATE_STEP old slots on each insert or remove that meets it (Redis's incremental rehash
 * is the model). While a migration runs, lookups try the new table and then the old one;
 * the old table only loses entries (a migrated or removed entry becomes a tombstone, so
 * probes in it still run to the end of their cluster) and is unmapped when its last slot
 * has moved. Trims shrink a quiet shard the same way (livetable.c).
 *
 * Invariant relied on by the dump and by sessions: an entry is removed (under its shard
 * lock) BEFORE the pointer is handed to the real free, so any entry seen under the lock is
 * a live pointer whose chunk header may be read.
 */
#define SHARD_BITS 6
#define NSHARDS (1u << SHARD_BITS)
#define SHARD_INITIAL 256u           /* slots (6 KiB); >= 128: home_slot adds up to 127. A heap with few
                                       * blocks (glibc maps a 64 MiB heap per arena, and more) costs its
                                       * shard little: 1024 slots were 0.45 MiB of idle RSS over 17
                                       * heaps in the decode pool (issue 9) */
/* Loads in percent of the capacity (overridable for measuring, as bench runs do). */
#ifndef SHARD_GROW_PCT
#define SHARD_GROW_PCT 80u            /* live entries past this: move to a bigger table */
#endif
#ifndef SHARD_CLEAN_PCT
#define SHARD_CLEAN_PCT 92u           /* live + tombstones past this: move, dropping tombstones */
#endif
#ifndef SHARD_NEW_PCT
#define SHARD_NEW_PCT 64u             /* a new table's load: its live entries at 64% */
#endif
#define MIGRATE_STEP 8u               /* old slots moved per table operation during a migration */

/* One slot: 24 bytes, three words (the fields of struct st_entry, packed):
 *   w0: ptr >> 3 (44 bits) | arena code (16) | site bits 0-3 (4)
 *   w1: requested size (44) | overhead (16)   | site bits 4-7 (4)
 *   w2: session ref (32)    | thread idx (20) | site bits 8-17 (10) | 2 spare
 * A pointer is packable if it is 8-aligned and below 2^47 (x86-64 user space without a
 * 5-level-paging hint); a size if it is below 2^44 (16 TiB). Anything else is not tracked
 * (insert returns false, the free counts as untracked): a cost in accuracy, never safety. */
struct st_slot { uint64_t w0, w1, w2; };
#define SLOT_KEY_BITS 44
#define SLOT_KEY_MASK ((1ull << SLOT_KEY_BITS) - 1)
#define SLOT_TOMB UINT64_MAX                  /* a removed entry: key 2^44-1 is never packable */
#define SLOT_THREAD_NONE 0xFFFFFu             /* thread idx UINT32_MAX (the overflow record) */
_Static_assert(sizeof(struct st_slot) == 24, "metadata per live allocation: 24 bytes a slot");
_Static_assert(ST_THREAD_IDX_LIMIT <= SLOT_THREAD_NONE, "thread idx must fit 20 bits, the top value reserved");
_Static_assert(ST_ENTRY_SITE_BITS == 18, "site bits are split 4 + 4 + 10 across the slot's words");

struct shard {
    st_lock_t lock;
    uint32_t cap;                  /* slots in `slots`; 0 until the first insert */
    uint32_t count;                /* live entries, both tables (read unlocked: relaxed) */
    uint32_t grow_at;              /* live count past which the table grows (0: no table yet) */
    uint32_t clean_at;             /* live + tombstones past which it is rebuilt */
    uint32_t tombs;                /* tombstones in `slots` */
    uint32_t changes;              /* inserts + removes, wrapping: trims see a quiet shard */
    uint32_t old_cap;              /* slots in `old`; 0 when no migration runs */
    uint32_t old_pos;              /* next old slot to migrate */
    struct st_slot *slots;
    struct st_slot *old;
} __attribute__((aligned(64)));       /* padded to a cache line by its alignment */

_Static_assert(sizeof(struct shard) == 64, "one shard header per cache line: no false sharing");
_Static_assert((NSHARDS & (NSHARDS - 1)) == 0, "shard_of takes the top SHARD_BITS of a hash");
extern struct shard shards[NSHARDS];
/* Out of line: growth, migration and the lookups that must see the old table. */
bool livetable_insert_slow(const struct st_entry *e);
bool livetable_remove_slow(uintptr_t ptr, struct st_entry *out);

static inline struct shard *shard_of(uintptr_t ptr)
{
    uint64_t h = (uint64_t)(ptr >> 26) * 0x9E3779B97F4A7C15ull;
    return &shards[h >> (64 - SHARD_BITS)];
}

static inline bool slot_packable(uintptr_t ptr, uint64_t size)
{
    return !(ptr & 7) && ptr - 8 < (1ull << 47) - 16 && !(size >> SLOT_KEY_BITS);
}

static inline uint64_t slot_key(uintptr_t ptr) { return (uint64_t)ptr >> 3; }

static inline void slot_pack(struct st_slot *s, const struct st_entry *e)
{
    uint64_t site = e->site, thread = e->thread_idx >= SLOT_THREAD_NONE ? SLOT_THREAD_NONE : e->thread_idx;
    s->w0 = slot_key(e->ptr) | (uint64_t)e->arena << 44 | (site & 0xF) << 60;
    s->w1 = e->size | (uint64_t)e->overhead << 44 | ((site >> 4) & 0xF) << 60;
    s->w2 = (uint64_t)e->session | thread << 32 | (site >> 8) << 52;
}

static inline void slot_unpack(const struct st_slot *s, struct st_entry *e)
{
    uint32_t thread = (uint32_t)(s->w2 >> 32) & 0xFFFFF;
    e->ptr = (uintptr_t)((s->w0 & SLOT_KEY_MASK) << 3);
    e->size = s->w1 & SLOT_KEY_MASK;
    e->thread_idx = thread == SLOT_THREAD_NONE ? UINT32_MAX : thread;
    e->session = (uint32_t)s->w2;
    e->site = (uint32_t)((s->w0 >> 60) | ((s->w1 >> 60) << 4) | (((s->w2 >> 52) & 0x3FF) << 8));
    e->arena = (uint16_t)(s->w0 >> 44);
    e->overhead = (uint16_t)(s->w1 >> 44);
}

/* Pages are hashed, addresses within a page are not: the chunks of one 4 KiB page land in
 * one run of 128 slots, in address order. Programs allocate and free in address order a lot
 * (building a list, then freeing it; a fresh heap carved front to back), and then inserts
 * and removes walk the table sequentially instead of missing the cache on every call
 * (glibc's tst-malloc_info, 13 M 40-byte blocks in 4 threads: 7.0 s of user time in the
 * shim with a plain hash of the address, 3.6 s with this one; glibc alone 0.6 s). The page
 * hash is mapped onto [0, cap) by a multiply (Lemire's fastrange), so cap need not be a
 * power of two. */
static inline uint32_t home_slot(uint64_t key, uint32_t cap)
{
    uint64_t h = (key >> 9) * 0x9E3779B97F4A7C15ull;             /* key >> 9: the page */
    uint32_t i = (uint32_t)(((h >> 32) * cap) >> 32) + (uint32_t)((key >> 2) & 127);
    return i >= cap ? i - cap : i;
}
static inline uint32_t slot_next(uint32_t i, uint32_t cap) { return i + 1 == cap ? 0 : i + 1; }

/* The slot holding key, or -1. Probes run over tombstones to the first empty slot. */
static inline int64_t table_find(const struct st_slot *t, uint32_t cap, uint64_t key)
{
    if (!t) return -1;
    uint64_t w;
    for (uint32_t i = home_slot(key, cap); (w = t[i].w0) != 0; i = slot_next(i, cap))
        if ((w & SLOT_KEY_MASK) == key) return i;
    return -1;
}

/* Where an insert of key goes: the first empty slot or tombstone of its probe run, or the
 * slot of a stale entry of the same pointer met before either (its free bypassed the shim;
 * a stale twin further on costs accuracy, never safety: entries are never dereferenced). */
static inline uint32_t table_insert_slot(const struct st_slot *t, uint32_t cap, uint64_t key)
{
    uint32_t i = home_slot(key, cap);
    uint64_t w;
    while ((w = t[i].w0) != 0 && w != SLOT_TOMB && (w & SLOT_KEY_MASK) != key) i = slot_next(i, cap);
    return i;
}

/* Remove slot i. If the next slot is empty no probe can run past i, so i becomes empty
 * and so do the tombstones right before it (Knuth's "deletion with look-ahead"); otherwise
 * i becomes a tombstone. Returns the change in tombstones. */
static inline int32_t table_erase(struct st_slot *t, uint32_t cap, uint32_t i)
{
    if (t[slot_next(i, cap)].w0 != 0) { t[i].w0 = SLOT_TOMB; return 1; }
    int32_t gone = 0;
    do {
        t[i].w0 = 0;
        i = i ? i - 1 : cap - 1;
        gone--;
    } while (t[i].w0 == SLOT_TOMB);
    return gone + 1;
}

/* Under the shard lock, with room in the current table: e into its slot (a tombstone or
 * empty slot becomes a live entry; a stale entry of the same pointer is overwritten). */
static inline __attribute__((always_inline)) void shard_put(struct shard *s, const struct st_entry *e)
{
    uint32_t i = table_insert_slot(s->slots, s->cap, slot_key(e->ptr));
    uint64_t w = s->slots[i].w0;
    if (w == SLOT_TOMB) s->tombs--;
    if (w == 0 || w == SLOT_TOMB) __atomic_store_n(&s->count, s->count + 1, __ATOMIC_RELAXED);  /* read unlocked */
    slot_pack(&s->slots[i], e);
    __atomic_store_n(&s->changes, s->changes + 1, __ATOMIC_RELAXED);
}

static inline __attribute__((always_inline)) bool livetable_insert(const struct st_entry *e)
{
    if (ST_UNLIKELY(!slot_packable(e->ptr, e->size))) return false;
    struct shard *s = shard_of(e->ptr);
    st_lock(&s->lock);
    if (ST_UNLIKELY(s->old || s->count >= s->grow_at || s->count + s->tombs >= s->clean_at)) {
        st_unlock(&s->lock);
        return livetable_insert_slow(e);
    }
    shard_put(s, e);
    st_unlock(&s->lock);
    return true;
}

static inline __attribute__((always_inline)) bool livetable_remove(uintptr_t ptr, struct st_entry *out)
{
    if (ST_UNLIKELY(ptr & 7)) return false;                /* never packed, so never inserted */
    struct shard *s = shard_of(ptr);
    st_lock(&s->lock);
    if (ST_UNLIKELY(s->old != NULL)) {
        st_unlock(&s->lock);
        return livetable_remove_slow(ptr, out);
    }
    int64_t i = table_find(s->slots, s->cap, slot_key(ptr));
    if (i < 0) { st_unlock(&s->lock); return false; }
    slot_unpack(&s->slots[i], out);
    s->tombs += table_erase(s->slots, s->cap, (uint32_t)i);
    __atomic_store_n(&s->count, s->count - 1, __ATOMIC_RELAXED);
    __atomic_store_n(&s->changes, s->changes + 1, __ATOMIC_RELAXED);
    st_unlock(&s->lock);
    return true;
}

#endif
