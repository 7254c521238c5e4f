/* trim.h: what the files of trim/ share: the parsed SESSTRIM_TRIM policy, the arena pass
 * and the record ring. Internal to libsesstrim.so; the core only sees shim.h. */
#ifndef SESSTRIM_TRIM_INTERNAL_H
#define SESSTRIM_TRIM_INTERNAL_H

#include "shim.h"

/* ---------------------------------------------------------------- policy.c */
/* SESSTRIM_TRIM parsed. Every duration is in ns, every size in bytes; 0 means "off"
 * for a trigger. The grammar is documented in docs/trim.md. */
struct trim_policy {
    /* triggers */
    uint64_t idle_ns;             /* idle=DUR: an arena whose threads did no malloc/free in it for DUR */
    uint64_t idle_all_ns;         /* idle-all=DUR: no malloc/free by any thread for DUR */
    uint64_t rss_high;            /* rss>SIZE: resident set above SIZE */
    uint64_t every_ns;            /* every=DUR: periodic */
    bool session_end;             /* session-end: after a session ends */
    uint64_t free_resident;       /* free-resident>SIZE: free but resident heap bytes */
    /* settings */
    uint64_t min_interval_ns;     /* min-interval=DUR: between two policy trims */
    uint64_t check_ns;            /* check=DUR: trimmer tick, 0 = derived */
    uint64_t quiet_ns;            /* quiet=DUR: an arena active within DUR is skipped */
    uint64_t pad;                 /* pad=SIZE: top bytes left resident per arena */
    bool glibc_pass;              /* glibc=on|off: run malloc_trim(0) first (default off) */
    unsigned bad_tokens;          /* tokens ignored with a warning */
};

#define TRIM_DEFAULT_MIN_INTERVAL_NS 1000000000ull   /* 1 s */
#define TRIM_DEFAULT_QUIET_NS        1000000000ull   /* 1 s */
#define TRIM_MAX_TICK_NS             250000000ull    /* 250 ms */
#define TRIM_MIN_TICK_NS             100000ull       /* 100 us */

/* Parse `text` (may be NULL or empty: no policy). Never fails: each bad token gets one
 * st_log line naming it and is ignored. */
void trim_policy_parse(const char *text, struct trim_policy *out);
bool trim_policy_has_trigger(const struct trim_policy *p);
/* The trimmer's sleep between checks, derived from the triggers unless check= was set. */
uint64_t trim_policy_tick_ns(const struct trim_policy *p);
/* "idle=2s,rss>512M" style summary for the start-up log line. */
void trim_policy_describe(const struct trim_policy *p, char *buf, size_t len);
/* Exposed for the unit tests' reasoning and reuse: "64M" -> bytes, "300us" -> ns. */

/* ---------------------------------------------------------------- arena_trim.c */
/* The pseudo arena id under which the glibc malloc_trim(0) pass (glibc=on) is recorded:
 * glibc walks every arena itself, so its release is measured as a whole (RSS delta). */
#define TRIM_ARENA_GLIBC_PASS ST_TRIM_ARENA_GLIBC_PASS

/* st_rec_trim.flags */
#define TRIM_F_GLIBC_PASS 0x1u
#define TRIM_F_IDLE_ALL 0x2u
#define TRIM_F_CORRUPT 0x4u

struct trim_arena_result {
    uint32_t arena_id;
    uint64_t released_bytes;
    uint64_t duration_ns;
};

struct trim_pass {
    /* inputs */
    bool wait_for_lock;           /* true: take a held arena lock like glibc does (API) */
    const bool *busy;             /* busy[arena id]: skip it (NULL: none busy) */
    const bool *only;             /* only[arena id]: visit just these (NULL: every arena) */
    uint64_t pad;
    /* outputs */
    uint32_t trimmed, skipped, slices;
    uint64_t released_bytes, top_released, bin_released;
    uint64_t max_hold_ns;         /* longest single lock hold (wall time) */
    uint64_t max_hold_cpu_ns;     /* the trimmer's CPU time within that hold: the rest was
                                   * time off CPU (descheduled) or in the kernel's waits */
    bool corrupt;                 /* a free list failed validation somewhere */
    uint32_t n_results;
    struct trim_arena_result results[ST_ARENA_MAX];
};

/* Each selected arena (main_arena included once found), under its own lock taken in slices
 * of at most ~0.2 ms of work (steps of at most 128 KiB; a slice also ends as soon as a
 * thread waits for the lock), dropped between slices:
 * MADV_DONTNEED on the resident pages of the top chunk beyond its header and `pad`, then on
 * the whole pages inside free chunks of the unsorted bin and the bins of page size and up,
 * past each chunk's own 48 bytes. Arenas whose lock is held right now are skipped unless
 * wait_for_lock. Caller holds the trim lock. */
void arena_trim_all(struct trim_pass *pass);
/* Free-but-resident bytes: what arena_trim_all would release now, measured the same way
 * (mincore, same slices); arenas marked busy or whose lock is held right now are not
 * counted. Caller holds the trim lock. */
uint64_t arena_free_resident(const bool *busy);

/* ---------------------------------------------------------------- trimmer.c */
/* The one trim routine: every trigger ends up here. `busy` and `only` may be NULL;
 * `flags` are TRIM_F_* to record. Caller holds the trim lock. Returns bytes released. */
long long trim_run_locked(int trigger, const bool *busy, const bool *only, uint32_t flags);
void trim_lock(void);
void trim_unlock(void);
extern struct trim_policy trim_pol;
/* The last trim_run_locked's pass (trim lock held): which arenas it reached. */
const struct trim_pass *trim_last_pass(void);

/* preload/livetable.c (its header belongs to the core): the shim's own unused live-table
 * memory, given back on each trim (only_quiet: just shards unchanged since the last
 * livetable_note_quiet(), which the trimmer calls every tick). Returns the bytes
 * unmapped; raises *max_hold_ns to the longest shard-lock hold of the rebuilds. */
size_t livetable_release_unused(bool only_quiet, uint64_t *max_hold_ns);
void livetable_note_quiet(void);

/* ---------------------------------------------------------------- records.c */
/* `glibc` (may be NULL) is the malloc_trim(0) pass, `a[n]` the per-arena top results. */
void trim_records_add(const struct st_rec_trim *t, const struct trim_arena_result *glibc,
                      const struct trim_arena_result *a, uint32_t n);
uint32_t trim_records_next_seq(void);
void trim_records_after_fork_child(void);

/* Trigger names: st_trim_trigger_name in include/sesstrim_dump.h (one table with the report). */

#endif
