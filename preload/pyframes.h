/* pyframes.h: the native side of the Python binding (pyframes.c). The binding mirrors
 * these indexes in python/sesstrim/__init__.py (_STAT_FIELDS): append, never reorder. */
#ifndef SESSTRIM_PYFRAMES_H
#define SESSTRIM_PYFRAMES_H
#include "shim.h"

enum {
    SESSTRIM_STAT_LIVE_BYTES = 0,   /* owned now: allocated + kept in - kept out - freed */
    SESSTRIM_STAT_LIVE_COUNT,
    SESSTRIM_STAT_PEAK_BYTES,
    SESSTRIM_STAT_TOTAL_BYTES,      /* allocated over its life */
    SESSTRIM_STAT_TOTAL_ALLOCS,
    SESSTRIM_STAT_FREES,
    SESSTRIM_STAT_KEPT_IN_BYTES,
    SESSTRIM_STAT_THREADS_SEEN,
    SESSTRIM_STAT_PARENT_ID,        /* 0: top-level */
    SESSTRIM_STAT_ENDED,            /* 1 once ended */
    SESSTRIM_STAT_COUNT
};

/* Fill out[SESSTRIM_STAT_COUNT] with session id's counters. 0, or -1 if id is unknown
 * (never begun, or ended and its slot recycled because it owned nothing any more). */
int sesstrim_impl_session_stats(uint64_t id, uint64_t *out);
/* out[0] = owner session id of the live block at ptr (0: none), out[1] = its parent id.
 * 0, or -1 if ptr is not the start of a live block the shim tracked. */
int sesstrim_impl_block_owner(const void *ptr, uint64_t *out);

#endif
