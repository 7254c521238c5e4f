/* arena_stats.h: per-arena numbers read from glibc under the arena lock (arena_stats.c),
 * used by the dump writer, the timeline and the trim engine, and the one validated walker
 * of glibc's free lists that both the stats and the trim use. */
#ifndef SESSTRIM_ARENA_STATS_H
#define SESSTRIM_ARENA_STATS_H
#include "shim.h"

#define ST_MAX_HEAPS 256

struct st_range { uintptr_t start; size_t len; };

struct st_arena_glibc {
    uint64_t system_mem, max_system_mem, attached_threads;
    uintptr_t top;
    uint64_t top_size, top_resident;
    uint64_t free_bins, free_fast, free_bins_resident;
    uint64_t heaps, heap_bytes, resident;
    bool partial;                 /* a free list looked wrong: walk stopped early */
};

/* Heaps of arena `id` (main: the brk heap), read-write parts only. Takes the arena lock
 * (waits for it). Returns how many were written; 0 if the layout does not check out. */
int arena_heap_ranges(uint32_t id, struct st_range *out, int max);
bool arena_collect(uint32_t id, struct st_arena_glibc *out);
/* Resident bytes of the whole pages within [start, end) (mincore; unmapped = 0). */
uint64_t resident_bytes(uintptr_t start, uintptr_t end);

/* glibc_arena.c: [brk heap start, current break): where main_arena's chunks are. false
 * before the brk heap exists. */
bool arena_main_heap_range(uintptr_t *start, uintptr_t *end);
/* A mapping starting at `start` is a heap of an arena the shim registered: its heap_info
 * is read with a read that cannot fault (any mapping may start on a heap boundary). */
bool arena_is_glibc_heap(uintptr_t start);

/* ---- the validated free-list walker (stats and trim)
 * Opened under the arena's lock: the arena's heaps are read (heap_info via st_safe_read,
 * ar_ptr must be this arena, sizes within the heap bound; main arena: the brk heap up to
 * the current break). Then a chunk is read only if it is 16-aligned and [chunk, chunk +
 * size) lies inside one of those read-write ranges, and a list is followed only while
 * each link is mirrored (glibc's own check: p->fd->bk == p). The first bad link marks the
 * view corrupt and stops that list; nothing outside the ranges is ever dereferenced. */
struct st_fl {
    uintptr_t state;
    bool main;
    int nr;
    bool corrupt;
    struct st_range r[ST_MAX_HEAPS];
};
/* Lock held. false: the heaps do not look like glibc's (then use nothing). */
bool fl_open_locked(const struct st_arena *a, struct st_fl *fl);
/* The top chunk, validated: [*start, *start + *size) inside a range. false if not. */
bool fl_top(struct st_fl *fl, uintptr_t *start, uint64_t *size);
/* Visit the chunks of bin i (1 = unsorted, 2..127) from its oldest end (following bk),
 * skipping the first `skip`. visit(chunk, size, ctx) returns false to stop. Returns the
 * number of chunks passed (skipped + visited). */
uint32_t fl_walk_bin(struct st_fl *fl, int i, uint32_t skip,
                     bool (*visit)(uintptr_t chunk, uint64_t size, void *ctx), void *ctx);
/* glibc's bin index of a large chunk size (largebin_index_64): bins from
 * fl_bin_index(page size) up hold chunks that may contain whole free pages. */
int fl_large_bin_index(uint64_t size);

#endif
