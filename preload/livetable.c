/* livetable.c: every live allocation, pointer -> st_entry, in open-addressing tables the
 * shim maps itself. Sharded by the glibc heap a pointer lives in (see below). */
#include <string.h>
#include "shim.h"

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
#define SHARD_BITS 6
#define NSHARDS (1u << SHARD_BITS)
#define SHARD_INITIAL 1024u

struct shard {
    st_lock_t lock;
    uint32_t mask;                 /* capacity - 1; capacity 0 until first insert */
    uint64_t count;
    struct st_entry *slots;
    char pad[64 - sizeof(st_lock_t) - sizeof(uint32_t) - sizeof(uint64_t) - sizeof(void *)];
} __attribute__((aligned(64)));

static struct shard shards[NSHARDS];

static inline struct shard *shard_of(uintptr_t ptr)
{
    uint64_t h = (uint64_t)(ptr >> 26) * 0x9E3779B97F4A7C15ull;
    return &shards[h >> (64 - SHARD_BITS)];
}

static inline uint32_t home_slot(uintptr_t ptr, uint32_t mask)
{
    uint64_t h = (uint64_t)(ptr >> 4) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 32) & mask;
}

void livetable_init(void) {}

static bool grow(struct shard *s)
{
    uint32_t newcap = s->mask ? (s->mask + 1) * 2 : SHARD_INITIAL;
    if (newcap == 0) return false;
    struct st_entry *ns = meta_map((size_t)newcap * sizeof(struct st_entry));
    if (!ns) return false;
    uint32_t nmask = newcap - 1;
    if (s->slots) {
        for (uint32_t i = 0; i <= s->mask; i++) {
            if (!s->slots[i].ptr) continue;
            uint32_t j = home_slot(s->slots[i].ptr, nmask);
            while (ns[j].ptr) j = (j + 1) & nmask;
            ns[j] = s->slots[i];
        }
        meta_unmap(s->slots, (size_t)(s->mask + 1) * sizeof(struct st_entry));
    }
    s->slots = ns;
    s->mask = nmask;
    return true;
}

bool livetable_insert(const struct st_entry *e)
{
    struct shard *s = shard_of(e->ptr);
    st_lock(&s->lock);
    if (ST_UNLIKELY(!s->slots || (s->count + 1) * 2 > (uint64_t)(s->mask + 1))) {
        if (!grow(s)) { st_unlock(&s->lock); return false; }
    }
    uint32_t i = home_slot(e->ptr, s->mask);
    while (s->slots[i].ptr) {
        if (s->slots[i].ptr == e->ptr) break;  /* stale: glibc reused a pointer we missed freeing */
        i = (i + 1) & s->mask;
    }
    if (!s->slots[i].ptr) s->count++;
    s->slots[i] = *e;
    st_unlock(&s->lock);
    return true;
}

static inline int64_t find_slot(struct shard *s, uintptr_t ptr)
{
    if (!s->slots) return -1;
    uint32_t i = home_slot(ptr, s->mask);
    while (s->slots[i].ptr) {
        if (s->slots[i].ptr == ptr) return i;
        i = (i + 1) & s->mask;
    }
    return -1;
}

static void delete_slot(struct shard *s, uint32_t i)
{
    uint32_t mask = s->mask, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!s->slots[j].ptr) break;
        uint32_t k = home_slot(s->slots[j].ptr, mask);
        /* Move j back to the hole at i unless its home lies cyclically in (i, j]. */
        bool stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            s->slots[i] = s->slots[j];
            i = j;
        }
    }
    s->slots[i].ptr = 0;
    s->count--;
}

bool livetable_remove(uintptr_t ptr, struct st_entry *out)
{
    struct shard *s = shard_of(ptr);
    st_lock(&s->lock);
    int64_t i = find_slot(s, ptr);
    if (i < 0) { st_unlock(&s->lock); return false; }
    *out = s->slots[i];
    delete_slot(s, (uint32_t)i);
    st_unlock(&s->lock);
    return true;
}

bool livetable_update(uintptr_t ptr, void (*fn)(struct st_entry *, void *), void *ctx)
{
    struct shard *s = shard_of(ptr);
    st_lock(&s->lock);
    int64_t i = find_slot(s, ptr);
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
                if (s->slots[i].ptr) fn(&s->slots[i], ctx);
        st_unlock(&s->lock);
    }
}

uint64_t livetable_count(void)
{
    uint64_t c = 0;
    for (uint32_t n = 0; n < NSHARDS; n++) c += __atomic_load_n(&shards[n].count, __ATOMIC_RELAXED);
    return c;
}

uint64_t livetable_meta_bytes(void)
{
    uint64_t b = 0;
    for (uint32_t n = 0; n < NSHARDS; n++) {
        uint32_t mask = __atomic_load_n(&shards[n].mask, __ATOMIC_RELAXED);
        if (__atomic_load_n(&shards[n].slots, __ATOMIC_RELAXED))
            b += (uint64_t)(mask + 1) * sizeof(struct st_entry);
    }
    return b;
}

void livetable_lock_all(void)
{
    for (uint32_t n = 0; n < NSHARDS; n++) st_lock(&shards[n].lock);
}

void livetable_unlock_all(void)
{
    for (uint32_t n = 0; n < NSHARDS; n++) st_unlock(&shards[n].lock);
}
