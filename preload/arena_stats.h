/* arena_stats.h: per-arena numbers read from glibc under the arena lock (arena_stats.c),
 * used by the dump writer, the timeline and the trim engine. */
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

/* Heaps of arena `id` (main: the brk heap). Returns how many were written. */
int arena_heap_ranges(uint32_t id, struct st_range *out, int max);
bool arena_collect(uint32_t id, struct st_arena_glibc *out);
uint64_t resident_bytes(uintptr_t start, uintptr_t end);

#endif
