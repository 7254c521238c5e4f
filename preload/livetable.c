/* livetable.c: every live allocation, pointer -> st_entry, in open-addressing tables the
 * shim maps itself. Sharded by the glibc heap a pointer lives in (see below). */
#include <string.h>
#include "shim.h"
#include "livetable.h"

struct shard shards[NSHARDS] = {[0 ... NSHARDS - 1] = {.lock = ST_LOCK_INIT(ST_RANK_SHARD)}};

/* Fork child, another thread was inside this shard: its slots may be mid-rebuild. Start the
 * shard empty; its live pointers are then frees of untracked memory in the child (counted),
 * and the old slot array is left mapped (a bounded leak, once per torn shard per fork). */
static void shard_repair(uint32_t i)
{
    struct shard *s = &shards[i];
    s->slots = NULL;
    __atomic_store_n(&s->mask, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->count, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->freed, 0, __ATOMIC_RELAXED);
}
ST_LOCK_REGISTER(shards, &shards[0].lock, NSHARDS, sizeof(struct shard), "live table shard", shard_repair);

/*
 * Why shard by heap: each glibc thread arena lives in its own 64 MiB-aligned heaps, and a
 * thread keeps allocating from one arena. Hashing (ptr >> 26) picks the shard, so threads
 * on different arenas take different shard locks and their cache lines never bounce.
 * Within a shard: linear probing with backward-shift deletion (no tombstones), load <= 0.5
 * (short probe runs matter more than the 32 bytes an empty slot costs).
 *
 * Invariant relied on by the dump and by sessions: an entry is removed (under its shard
 * lock) BEFORE the pointer is handed to the real free, so any entry seen under the lock is
 * a live pointer whose chunk header may be read.
 */

bool livetable_grow(struct shard *s)
{
    /* Rebuild at the same size only when live entries fill under a quarter of it; otherwise
     * double. Measured on the churn bench: the roomier table rebuilds and probes less, and
     * that beat a smaller, more cache-friendly one. */
    uint32_t cap = s->mask ? s->mask + 1 : 0;
    uint32_t newcap = !cap ? SHARD_INITIAL : (s->count + 1) * 4 <= cap ? cap : cap * 2;
    if (newcap == 0) return false;
    struct st_entry *ns = meta_map((size_t)newcap * sizeof(struct st_entry));
    if (!ns) return false;
    uint32_t nmask = newcap - 1;
    if (s->slots) {
        for (uint32_t i = 0; i < cap; i++) {
            uintptr_t p = s->slots[i].ptr;
            if (!p || (p & SLOT_FREED)) continue;
            uint32_t j = home_slot(p, nmask);
            while (ns[j].ptr) j = (j + 1) & nmask;
            ns[j] = s->slots[i];
        }
        meta_unmap(s->slots, (size_t)cap * sizeof(struct st_entry));
    }
    s->slots = ns;
    __atomic_store_n(&s->mask, nmask, __ATOMIC_RELAXED);   /* peeked at unlocked by trims */
    __atomic_store_n(&s->freed, 0, __ATOMIC_RELAXED);
    return true;
}

bool livetable_update(uintptr_t ptr, void (*fn)(struct st_entry *, void *), void *ctx)
{
    struct shard *s = shard_of(ptr);
    st_lock(&s->lock);
    int64_t i = livetable_find_slot(s, ptr);
    if (i >= 0) fn(&s->slots[i], ctx);
    st_unlock(&s->lock);
    return i >= 0;
}

void livetable_walk(void (*fn)(const struct st_entry *, void *), void *ctx)
{
    for (uint32_t n = 0; n < NSHARDS; n++) {
        struct shard *s = &shards[n];
        st_lock(&s->lock);
        if (s->slots)
            for (uint32_t i = 0; i <= s->mask; i++)
                if (s->slots[i].ptr && !(s->slots[i].ptr & SLOT_FREED)) fn(&s->slots[i], ctx);
        st_unlock(&s->lock);
    }
}

uint64_t livetable_count(void)
{
    uint64_t c = 0;
    for (uint32_t n = 0; n < NSHARDS; n++) c += __atomic_load_n(&shards[n].count, __ATOMIC_RELAXED);
    return c;
}


/* Each shard's (count + freed) at the trimmer's last tick: a shard still at the same
 * value when a trim comes is not in use, and its rebuild will stall nobody. */
static uint64_t shard_seen[NSHARDS];

void livetable_note_quiet(void)
{
    for (uint32_t n = 0; n < NSHARDS; n++)
        shard_seen[n] = __atomic_load_n(&shards[n].count, __ATOMIC_RELAXED) +
                        __atomic_load_n(&shards[n].freed, __ATOMIC_RELAXED) * 0x10001ull;
}

/* Give back table memory a past peak left: a shard whose live entries fill under an
 * eighth of it (freed slots dominate) is rebuilt at the smallest power of two that keeps
 * its load at or under a quarter (SHARD_INITIAL at least), dropping the freed slots, and
 * the old table is unmapped. Called by trims (trim/trimmer.c), never on the hot path. The
 * new table is mapped before and the old one unmapped after the shard's lock is held, so
 * the lock covers one pass over the old table's slots (about 10 ms per million slots
 * here; the longest goes to *max_hold_ns), so with only_quiet a shard is rebuilt only if
 * it did not change since livetable_note_quiet(); shards are done one at a time. Returns
 * the bytes unmapped. */
size_t livetable_release_unused(bool only_quiet, uint64_t *max_hold_ns)
{
    size_t released = 0;
    for (uint32_t n = 0; n < NSHARDS; n++) {
        struct shard *s = &shards[n];
        /* unlocked peek: most shards are not worth the lock */
        uint32_t mask = __atomic_load_n(&s->mask, __ATOMIC_RELAXED);
        uint64_t count = __atomic_load_n(&s->count, __ATOMIC_RELAXED);
        if (mask + 1 <= SHARD_INITIAL || (count + 1) * 8 > (uint64_t)mask + 1) continue;
        if (only_quiet && shard_seen[n] != count + __atomic_load_n(&s->freed, __ATOMIC_RELAXED) * 0x10001ull)
            continue;
        uint32_t newcap = SHARD_INITIAL;
        while ((uint64_t)newcap < (count + 1) * 4) newcap *= 2;
        if (newcap * 2 > mask + 1) continue;
        struct st_entry *ns = meta_map((size_t)newcap * sizeof(struct st_entry));
        if (!ns) continue;
        struct st_entry *old = NULL;
        uint32_t oldcap = 0;
        st_lock(&s->lock);
        uint64_t t0 = st_now_ns();
        /* the shard may have changed since the peek: the new table must still fit */
        if (s->slots && s->mask == mask && (s->count + 1) * 2 <= newcap) {
            uint32_t nmask = newcap - 1;
            for (uint32_t i = 0; i <= mask; i++) {
                uintptr_t p = s->slots[i].ptr;
                if (!p || (p & SLOT_FREED)) continue;
                uint32_t j = home_slot(p, nmask);
                while (ns[j].ptr) j = (j + 1) & nmask;
                ns[j] = s->slots[i];
            }
            old = s->slots;
            oldcap = mask + 1;
            s->slots = ns;
            __atomic_store_n(&s->mask, nmask, __ATOMIC_RELAXED);
            __atomic_store_n(&s->freed, 0, __ATOMIC_RELAXED);
        }
        uint64_t hold = st_now_ns() - t0;
        st_unlock(&s->lock);
        if (hold > *max_hold_ns) *max_hold_ns = hold;
        if (old) {
            meta_unmap(old, (size_t)oldcap * sizeof(struct st_entry));
            released += (size_t)(oldcap - newcap) * sizeof(struct st_entry);
        } else {
            meta_unmap(ns, (size_t)newcap * sizeof(struct st_entry));
        }
    }
    return released;
}
