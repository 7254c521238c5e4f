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
/* SIGTERM (while its action is the default) first dumps to the SESSTRIM_DUMP pattern, then
 * kills the process as before. For multiprocessing workers. 0 installed, -1 not. */
int sesstrim_impl_dump_on_sigterm(void);

/* ---------------------------------------------------------------- Python frames */
/*
 * At a sampled allocation made by a thread that runs Python code and holds the GIL, the
 * Python stack (innermost first, at most PYFRAMES_DEPTH frames) is put in front of the
 * site's C frames. A Python frame is stored as PYFRAME_TAG | location id; the location
 * (file, function, line) is in a table dumped as ST_REC_PYFRAME records, which
 * sesstrim-report reads and prints in the sites' stacks.
 */
#define PYFRAME_TAG ST_PYFRAME_TAG         /* the record and the tag: include/sesstrim_dump.h */
#define PYFRAMES_DEPTH 12

/* Prepend this thread's Python frames to frames[0..n) (capacity cap), dropping the
 * outermost C frames if needed. Returns the new count. Never allocates, never takes a
 * Python lock; a thread without the GIL, a thread Python does not know, an interpreter
 * starting or finalizing, or an unsupported CPython version gets no Python frames. */
uint32_t pyframes_prepend(uint64_t *frames, uint32_t n, uint32_t cap);
struct st_dump_writer;
void pyframes_dump_records(struct st_dump_writer *w);
void pyframes_init(void);        /* from the constructor: is this CPython, which layout (SESSTRIM_PYFRAMES) */

#endif
