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
    s->mask = 0;
    s->count = s->freed = 0;
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
    s->mask = nmask;
    s->freed = 0;
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


