/* livetable.h: the live table's shards and its two hot operations, inline so that malloc
 * and free pay no call for them. The rest of the table is in livetable.c. */
#ifndef SESSTRIM_LIVETABLE_H
#define SESSTRIM_LIVETABLE_H
#include "shim.h"

/*
 * Why shard by heap: each glibc thread arena lives in its own 64 MiB-aligned heaps, and a
 * thread keeps allocating from one arena. Hashing (ptr >> 26) picks the shard, so threads
 * on different arenas take different shard locks and their cache lines never bounce.
 * Within a shard: linear probing, load (live + freed slots) <= 0.7. A free only sets the low
 * bit of the slot's pointer: the slot keeps the address, so when malloc hands the same
 * address out again (tcache is LIFO: the common case) the insert lands on it in place.
 * Freed slots are dropped when the shard is rebuilt (same size if they dominate).
 *
 * Invariant relied on by the dump and by sessions: an entry is removed (under its shard
 * lock) BEFORE the pointer is handed to the real free, so any entry seen under the lock is
 * a live pointer whose chunk header may be read.
 */
#define SHARD_BITS 6
#define NSHARDS (1u << SHARD_BITS)
#define SHARD_INITIAL 1024u

struct shard {
    st_lock_t lock;
    uint32_t mask;                 /* capacity - 1; capacity 0 until first insert */
    uint64_t count;                /* live entries */
    uint64_t freed;                /* slots holding a freed address */
    struct st_entry *slots;
} __attribute__((aligned(64)));       /* padded to a cache line by its alignment */

_Static_assert(sizeof(struct shard) == 64, "one shard header per cache line: no false sharing");
_Static_assert(sizeof(struct st_entry) == 32, "metadata per live allocation: 32 bytes a slot");
_Static_assert((NSHARDS & (NSHARDS - 1)) == 0, "shard_of takes the top SHARD_BITS of a hash");
extern struct shard shards[NSHARDS];
bool livetable_grow(struct shard *s);   /* out of line: rebuilds, dropping freed slots */
#define SLOT_FREED 1u

static inline struct shard *shard_of(uintptr_t ptr)
{
    uint64_t h = (uint64_t)(ptr >> 26) * 0x9E3779B97F4A7C15ull;
    return &shards[h >> (64 - SHARD_BITS)];
}

/* Pages are hashed, addresses within a page are not: the chunks of one 4 KiB page land in
 * one run of 128 slots, in address order. Programs allocate and free in address order a lot
 * (building a list, then freeing it; a fresh heap carved front to back), and then inserts
 * and removes walk the table sequentially instead of missing the cache on every call
 * (glibc's tst-malloc_info, 13 M 40-byte blocks in 4 threads: 7.0 s of user time in the
 * shim with a plain hash of the address, 3.6 s with this one; glibc alone 0.6 s). */
static inline uint32_t home_slot(uintptr_t ptr, uint32_t mask)
{
    uint64_t h = (uint64_t)(ptr >> 12) * 0x9E3779B97F4A7C15ull;
    return ((uint32_t)(h >> 32) + (uint32_t)((ptr >> 5) & 127)) & mask;
}

static inline int64_t livetable_find_slot(struct shard *s, uintptr_t ptr)
{
    if (!s->slots) return -1;
    uint32_t i = home_slot(ptr, s->mask);
    while (s->slots[i].ptr) {
        if (s->slots[i].ptr == ptr) return i;
        i = (i + 1) & s->mask;
    }
    return -1;
}

static inline __attribute__((always_inline)) bool livetable_insert(const struct st_entry *e)
{
    struct shard *s = shard_of(e->ptr);
    st_lock(&s->lock);
    if (ST_UNLIKELY(!s->slots || (s->count + s->freed + 1) * 10 > (uint64_t)(s->mask + 1) * 7)) {
        if (!livetable_grow(s)) { st_unlock(&s->lock); return false; }
    }
    /* Stop at the first empty or freed slot. A live duplicate further on exists only if a
     * free bypassed the shim; it costs accuracy there, never safety (entries are never
     * dereferenced). */
    uint32_t i = home_slot(e->ptr, s->mask);
    uintptr_t p;
    while ((p = s->slots[i].ptr) != 0 && !(p & SLOT_FREED) && p != e->ptr) i = (i + 1) & s->mask;
    if (p == e->ptr) { s->slots[i] = *e; st_unlock(&s->lock); return true; }  /* stale */
    if (p & SLOT_FREED) __atomic_store_n(&s->freed, s->freed - 1, __ATOMIC_RELAXED);
    __atomic_store_n(&s->count, s->count + 1, __ATOMIC_RELAXED);  /* livetable_count reads it unlocked */
    s->slots[i] = *e;
    st_unlock(&s->lock);
    return true;
}

static inline __attribute__((always_inline)) bool livetable_remove(uintptr_t ptr, struct st_entry *out)
{
    struct shard *s = shard_of(ptr);
    st_lock(&s->lock);
    int64_t i = livetable_find_slot(s, ptr);
    if (i < 0) { st_unlock(&s->lock); return false; }
    *out = s->slots[i];
    s->slots[i].ptr |= SLOT_FREED;
    __atomic_store_n(&s->count, s->count - 1, __ATOMIC_RELAXED);
    __atomic_store_n(&s->freed, s->freed + 1, __ATOMIC_RELAXED);  /* peeked at unlocked */
    st_unlock(&s->lock);
    return true;
}

#endif
