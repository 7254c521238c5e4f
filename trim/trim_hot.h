/* trim_hot.h: the trim's one call on the free path. preload/hooks_malloc.c calls
 * trim_note_free(e->arena) for every tracked free (account_free: free and realloc), with
 * the arena the freed chunk belongs to (st_entry.arena). The trimmer reads and clears the
 * marks at each tick: an arena whose chunks were freed in that tick was in use, whichever
 * thread freed them (trim/trimmer.c, update_arena_activity). */
#ifndef SESSTRIM_TRIM_HOT_H
#define SESSTRIM_TRIM_HOT_H

#include "shim.h"

/* One cache line per arena: a free marks only its own arena's line, and only the first
 * free of a tick stores (later ones just load a line nobody writes until the next tick),
 * so threads freeing into different arenas never share a line, and a thread freeing into
 * its own arena keeps the line in its core's cache. */
struct trim_arena_mark {
    unsigned char freed;          /* 1: a chunk of this arena was freed since the last tick */
} __attribute__((aligned(64)));

extern struct trim_arena_mark trim_arena_freed[ST_ARENA_MAX];

/* `arena`: the freed entry's arena code (st_entry.arena). Codes of no arena (mmapped
 * chunks 0xFFFF, unknown 0xFFFE) are ignored. Never blocks, never allocates; safe from
 * any thread, any time after the shim's constructor. */
static inline void trim_note_free(uint32_t arena)
{
    if (arena >= ST_ARENA_MAX) return;
    if (!__atomic_load_n(&trim_arena_freed[arena].freed, __ATOMIC_RELAXED))
        __atomic_store_n(&trim_arena_freed[arena].freed, 1, __ATOMIC_RELAXED);
}

#endif
