/* shim.h: what the parts of libsesstrim.so share: options, logging, the shim's own memory,
 * thread records, arena registry and the live-allocation table. Everything here runs inside
 * the host process, so it must not call malloc and must never crash the host. */
#ifndef SESSTRIM_SHIM_H
#define SESSTRIM_SHIM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

#include "../include/sesstrim_dump.h"

#define ST_EXPORT __attribute__((visibility("default")))
/* An entry point of the public API (include/sesstrim.h) that takes shim locks on the
 * program's thread: its body runs with the shim's guard up, as malloc's bookkeeping does, so
 * a signal handler that interrupts it and allocates passes through instead of waiting for a
 * lock its own thread holds (tests/host/session_signal, keep_signal). Written
 *   ST_API(ret, name, (params), (args)) { body }
 * it defines sesstrim_impl_<name>. */
#define ST_API(ret, name, params, args)                                                   \
    static ret st_api_##name params;                                                      \
    ST_EXPORT ret sesstrim_impl_##name params                                             \
    {                                                                                     \
        st_in_shim++;                                                                     \
        ret r_ = st_api_##name args;                                                      \
        st_in_shim--;                                                                     \
        return r_;                                                                        \
    }                                                                                     \
    static ret st_api_##name params
#define ST_TLS __thread __attribute__((tls_model("initial-exec")))
#define ST_LIKELY(x) __builtin_expect(!!(x), 1)
#define ST_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---------------------------------------------------------------- options.c */
/* Every SESSTRIM_* option is one row of one table, indexed by enum st_option (as mimalloc's
 * src/options.c): name, parser, field, default, limits, doc. Parsed once in the constructor;
 * a bad value logs one warning and keeps the default; a SESSTRIM_* variable that is no
 * option gets one warning naming the closest option. */
enum st_log_target { ST_LOG_STDERR = 0, ST_LOG_OFF = 1, ST_LOG_FILE = 2 };
enum st_stacks_mode { ST_STACKS_OFF = 0, ST_STACKS_SAMPLE = 1, ST_STACKS_ALL = 2 };

enum st_option {
    ST_OPT_DUMP, ST_OPT_LOG, ST_OPT_TRIM, ST_OPT_ARENA_MAX, ST_OPT_TRIM_THRESHOLD,
    ST_OPT_STACKS, ST_OPT_DUMP_SIGNAL, ST_OPT_DUMP_INTERVAL, ST_OPT_TIMELINE_INTERVAL,
    ST_OPT_DUMP_ON_SESSION_END, ST_OPT_SESSION_LEFTOVER_LOG, ST_OPT_SESSION_INHERIT,
    ST_OPT_SESSIONS_KEPT, ST_OPT_CONTROL, ST_OPT_METRICS, ST_OPT_METRICS_INTERVAL,
    ST_OPT_METRICS_SESSIONS, ST_OPT_DUMP_ON_TERM, ST_OPT_FOLLOW_CHILDREN, ST_OPT_RUN_PID,
    ST_OPT_PYFRAMES, ST_OPT_COUNT_
};

struct st_options {
    char dump_path[512];          /* SESSTRIM_DUMP, empty: no dump at exit */
    int log_target;               /* SESSTRIM_LOG */
    bool log_info;                /* informational lines too (SESSTRIM_LOG=stderr or a path) */
    char log_path[512];
    int stacks_mode;              /* SESSTRIM_STACKS */
    uint64_t stack_sample_bytes;  /* sample=BYTES, default 512 KiB */
    char trim_policy[512];        /* SESSTRIM_TRIM, raw text: trim/policy.c parses it */
    long arena_max;               /* SESSTRIM_ARENA_MAX, 0 = leave glibc's default */
    long trim_threshold;          /* SESSTRIM_TRIM_THRESHOLD, -1 = leave glibc's default */
    int dump_signal;              /* SESSTRIM_DUMP_SIGNAL, 0 = none */
    uint64_t dump_interval_ms;    /* SESSTRIM_DUMP_INTERVAL, 0 = no periodic dumps */
    uint64_t timeline_interval_ms;/* SESSTRIM_TIMELINE_INTERVAL, timeline sample period */
    bool dump_on_session_end;     /* SESSTRIM_DUMP_ON_SESSION_END */
    uint64_t session_leftover_log;/* SESSTRIM_SESSION_LEFTOVER_LOG bytes */
    bool session_inherit;         /* SESSTRIM_SESSION_INHERIT */
    uint64_t sessions_kept;       /* SESSTRIM_SESSIONS_KEPT: ended sessions kept in detail */
    bool control;                 /* SESSTRIM_CONTROL: the control socket (control.c) */
    bool pyframes;                /* SESSTRIM_PYFRAMES: Python frames in sampled stacks (pyframes.c) */
    char metrics_path[512];       /* SESSTRIM_METRICS: Prometheus text file, empty: none */
    uint64_t metrics_interval_ms; /* SESSTRIM_METRICS_INTERVAL */
    uint64_t metrics_sessions;    /* SESSTRIM_METRICS_SESSIONS: sessions named in metrics */
    bool dump_on_term;            /* SESSTRIM_DUMP_ON_TERM: SIGTERM/SIGINT write a dump */
    bool follow_children;         /* SESSTRIM_FOLLOW_CHILDREN: exec'd descendants traced */
    uint64_t run_pid;             /* SESSTRIM_RUN_PID: the process `sesstrim run` launched */
};
extern struct st_options st_opt;

/* One row. parse() reads `value` into the field at `offset` of st_options (the row's own
 * limits applied) and returns false if malformed, leaving the field untouched. `def` is
 * parsed like a user value, so a default is always valid; "" means unset. */
struct st_option_desc {
    const char *name;
    bool (*parse)(const struct st_option_desc *d, const char *value);
    size_t offset;
    const char *def;
    uint64_t min, max;            /* numeric options: accepted range */
    const char *doc;
};
extern const struct st_option_desc st_option_table[ST_OPT_COUNT_];
void options_parse(void);
/* Write "NAME=value" lines (the value as given in the environment, or the default with
 * " (default)") into buf; returns the length (truncated to fit, NUL-terminated). */
size_t options_describe(char *buf, size_t len);
/* The option name closest to `name` (edit distance), for the typo warning. */
const char *options_closest(const char *name, size_t n);
/* units.c: the value parsers shared by options and trim policies. Sizes: a number (decimals
 * allowed) with b, k/kb/kib, m.., g.., t.. (powers of 1024), bare = bytes. Durations: ns, us,
 * ms, s, m/min, h, bare = seconds. n is the text's length; false if malformed. */
bool st_parse_size(const char *s, size_t n, uint64_t *out);
bool st_parse_duration_ns(const char *s, size_t n, uint64_t *out_ns);
bool st_ieq_n(const char *a, size_t n, const char *lower); /* ASCII case-insensitive */

/* ---------------------------------------------------------------- log.c */
/* One line per call, written with write(2) from a stack buffer: safe anywhere but in a
 * signal handler. Prefix "sesstrim[pid]: ". */
void st_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* warnings */
/* Informational lines (trims, dumps written, session leftovers): only when SESSTRIM_LOG
 * asked for them (stderr or a file); the default writes warnings alone. */
void st_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void st_log_reopen(void);         /* after options_parse, and in a fork child */
uint64_t st_now_ns(void);         /* CLOCK_MONOTONIC */
uint64_t st_realtime_ns(void);
/* Read a small file (a /proc entry) into buf, NUL-terminated. Returns bytes read, 0 on
 * failure. No allocation. */
size_t st_read_small_file(const char *path, char *buf, size_t len);
/* Every file the shim opens goes through this: O_CLOEXEC, and moved at once to a number at
 * or above ST_HIGH_FD, so the few microseconds it sits on a low number are all the program
 * can see of it (a program's open() that expects 3 got 4 while a shim thread read /proc or
 * wrote a dump). Falls back to the low fd when RLIMIT_NOFILE is below ST_HIGH_FD. */
#define ST_HIGH_FD 1000
int st_open_high(const char *path, int flags, mode_t mode);
/* A /proc file of the calling thread (ST_PROC_SELF "/statm", "/maps", "/smaps"): kept open,
 * identity-checked, by shim threads; opened per call elsewhere. Close with st_close_proc. */
int st_open_proc(const char *path);
void st_close_proc(int fd);
/* Format with %p (pid), %t (unix time, whole seconds) and %n (the number the next dump of
 * this process gets: st_dumps_written + 1) expanded. Returns false if it does not fit. */
extern uint32_t st_dumps_written;  /* dumps this process wrote; a fork child starts at 0 */
bool st_expand_path(const char *pattern, char *out, size_t outlen);

/* ---------------------------------------------------------------- metamem.c */
/* The shim's own memory: anonymous mmaps, never glibc's arenas (we measure those).
 * meta_alloc is a size-class free-list allocator; blocks are zeroed. Thread-safe. */
void *meta_alloc(size_t size);
void meta_free(void *p, size_t size);
void *meta_map(size_t size);      /* whole pages, for tables; returns NULL on failure */
void meta_unmap(void *p, size_t size);
uint64_t meta_bytes_mapped(void);
uint64_t meta_bytes_resident(void);  /* resident pages of what meta_map mapped (mincore) */

/* ---------------------------------------------------------------- lock.h */
#include "lock.h"
void st_lock_yield(void);         /* sched_yield, for the few waits that are not locks */

/* ---------------------------------------------------------------- invariants */
/* Where the shim trusts data it did not produce (glibc's layout, a table entry), the check
 * is written once with ST_ASSERT(cond, what, off): debug and test builds (-DST_DEBUG) abort
 * naming `what`; release builds log it once and run `off`, a statement that turns the
 * feature relying on it off, so the host keeps running (musl mallocng's "assert where you
 * trust", without taking the host down). */
void st_assert_failed(const char *what, const char *file, int line);
#ifdef ST_DEBUG
#define ST_ASSERT(cond, what, off) do { if (ST_UNLIKELY(!(cond))) st_assert_failed(what, __FILE__, __LINE__); } while (0)
#else
#define ST_ASSERT(cond, what, off) do { if (ST_UNLIKELY(!(cond))) { st_assert_failed(what, __FILE__, __LINE__); off; } } while (0)
#endif

/* ---------------------------------------------------------------- threads.c */
#define ST_XFREE_SLOTS 16         /* per-thread "freed memory of thread X" cells */
#define ST_NO_ARENA UINT32_MAX

struct st_xfree_cell { uint32_t alloc_idx; uint32_t used; uint64_t count, bytes; };

/* A thread's record. Counters written only by the owning thread are updated with relaxed
 * atomic load+store (BUMP: no locked instruction) and read with relaxed loads (by
 * the dump); counters other threads touch are atomics. Records outlive their thread.
 * live bytes = alloc_bytes - (freed_bytes - cross_free_bytes) - freed_by_others_bytes. */
#define ST_THREAD_ARENAS 8

struct st_thread {
    uint32_t idx, tid, parent_idx, flags;
    uint64_t start_ns, exit_ns;
    uint64_t allocs, frees, alloc_bytes, freed_bytes;     /* realloc = one free + one alloc */
    uint64_t cross_frees, cross_free_bytes;   /* frees it did of memory others allocated */
    uint64_t freed_by_others, freed_by_others_bytes;      /* atomic: written by other threads */
    uint32_t home_arena;                      /* arena of its latest allocation */
    uint32_t home_slot;                       /* index of home_arena in arena_ids */
    uint32_t n_arenas;                        /* arenas it allocated from (first 8 kept) */
    uint32_t arena_ids[ST_THREAD_ARENAS];
    uint64_t arena_allocs[ST_THREAD_ARENAS + 1]; /* last cell: arenas beyond the first 8 */
    char name[16];
    struct st_xfree_cell xfree[ST_XFREE_SLOTS];
    uint64_t xfree_other_count, xfree_other_bytes;    /* cells overflowed */
    struct st_thread *next;       /* registry list, append-only */
};

/* The calling thread's record, created on first use. Never NULL after the shim started;
 * falls back to a shared "unknown thread" record if metadata memory ran out. */
extern ST_TLS struct st_thread *st_tls_thread;
struct st_thread *thread_self_slow(void);
static inline struct st_thread *thread_self(void)
{
    struct st_thread *t = st_tls_thread;
    return ST_LIKELY(t != NULL) ? t : thread_self_slow();
}
void threads_init(void);          /* constructor: the main thread's record, exit key */
struct st_thread *thread_by_idx(uint32_t idx);
struct st_thread *threads_first(void);       /* iterate with ->next */
/* Sum of allocs+frees over all threads: a cheap activity clock for idle detection. */
uint64_t threads_activity(void);
void threads_after_fork_child(void);
/* Shim threads alive (trimmer, service): the reaper ends the process when only they are
 * left, as glibc does when the last thread exits (see threads.c). */
void threads_shim_started(void);

/* ---------------------------------------------------------------- glibc versions */
/* The floor: the library links against dlsym/dladdr/pthread_* at GLIBC_2.34 (libpthread and
 * libdl merged into libc) and mallinfo2 at 2.33, so it does not load on an older glibc at all
 * (tests/scripts/test_glibc_floor.sh checks the built library's objdump -T against this).
 * Arena internals are read from the floor up to the newest glibc whose malloc_state and
 * heap_info layout was checked against its source (2.39); every version in that range has
 * safe-linking (2.32+), which the fastbin walk decodes. Newer: accounting only, one line. */
#define ST_GLIBC_FLOOR_MINOR 34
#define ST_GLIBC_VERIFIED_MAX_MINOR 39

/* ---------------------------------------------------------------- glibc_arena.c */
/* Which glibc arena served a pointer, read from the chunk header while it is live. */
#define ST_ARENA_MMAPPED (UINT32_MAX - 1) /* glibc mmapped the chunk on its own */
#define ST_ARENA_UNKNOWN (UINT32_MAX - 2) /* arena logic off (foreign malloc, unverified) */
#define ST_ARENA_MAX 1024

struct st_arena {
    uintptr_t state;              /* struct malloc_state * inside glibc */
    uint32_t id;
    uint32_t kind;                /* enum st_arena_kind */
    uint32_t threads_seen;        /* atomic */
    uint32_t reserved;
};

extern bool st_arena_logic;       /* true when chunk headers and heap_info may be read */
extern uint64_t st_heap_max_size;
void glibc_arena_init(void);      /* version check, hugetlb tunable, main arena discovery */
/* Chunk size (incl. header) and arena id of a live glibc pointer. */
uint32_t arena_of(const void *ptr, size_t *chunk_size);
size_t usable_size_of(const void *ptr);
uint32_t arena_count(void);
const struct st_arena *arena_get(uint32_t id);
/* The calling thread allocated from arena `id` for the first time: record the pair. */
void arena_note_thread(uint32_t id, struct st_thread *t);
/* glibc's own arena mutex (an int futex: 0 free, 1 held, 2 held with waiters), taken with
 * glibc's protocol so the shim and malloc exclude each other. Hold it briefly, call
 * nothing that allocates while holding it. */
void arena_lock(uintptr_t state);
bool arena_trylock(uintptr_t state);
void arena_unlock(uintptr_t state);
/* Walk glibc's arena ring from a known thread arena and register any the shim has not
 * seen (including main_arena). Safe without locks: arenas are never freed. */
void arena_discover_all(void);
void arena_registry_after_fork_child(void);
uint64_t st_heapinfo_size(void);  /* sizeof(heap_info) for this glibc: 48, or 32 before 2.35 */

/* glibc's malloc_state / heap_info / chunk layout: glibc_layout.h, the one place. */
#include "glibc_layout.h"

/* ---------------------------------------------------------------- livetable.c */
/* Every live allocation: pointer -> entry, in tables the shim maps itself. Sharded by the
 * 64 MiB heap a pointer lives in, so threads on their own arenas rarely share a lock. */
struct st_entry {
    uintptr_t ptr;                /* live pointer */
    uint64_t size;                /* requested bytes */
    uint32_t thread_idx;
    uint32_t session;             /* session ref (sessions.c), 0 none */
    uint32_t site;                /* allocation site id (stacks), 0 none */
    uint16_t arena;               /* arena id; 0xFFFF mmapped chunk, 0xFFFE unknown */
    uint16_t overhead;            /* chunk bytes - requested bytes, saturated at 65535 */
};
/* Chunk bytes (glibc's size incl. header) without touching the block: readers of the table
 * never dereference user pointers, so even a stale entry cannot fault. */
static inline uint64_t entry_chunk_bytes(const struct st_entry *e) { return e->size + e->overhead; }
#define ST_ENTRY_ARENA_MMAPPED 0xFFFFu
/* The table packs an entry into 24 bytes (livetable.h): thread idx in 20 bits (the top
 * value is the overflow record), site ids in 18. */
#define ST_THREAD_IDX_LIMIT 0xFFFFFu  /* thread records get idx < this */
#define ST_ENTRY_SITE_BITS 18
#define ST_ENTRY_ARENA_UNKNOWN 0xFFFEu

/* livetable_insert(e) (false: out of metadata memory) and livetable_remove(ptr, out) (copies
 * the entry out; false if the shim never saw ptr) are inline in livetable.h. */
/* Apply fn to the live entry of ptr under its shard lock. false if not found. */
bool livetable_update(uintptr_t ptr, void (*fn)(struct st_entry *, void *), void *ctx);
/* Visit every live entry, one shard locked at a time. Pointers seen are still live. */
void livetable_walk(void (*fn)(const struct st_entry *, void *), void *ctx);
uint64_t livetable_count(void);
static inline uint16_t entry_arena_code(uint32_t arena)
{
    if (arena == ST_ARENA_MMAPPED) return ST_ENTRY_ARENA_MMAPPED;
    if (arena >= ST_ENTRY_ARENA_UNKNOWN) return ST_ENTRY_ARENA_UNKNOWN;
    return (uint16_t)arena;
}

/* ---------------------------------------------------------------- hooks_malloc.c */
/* The glibc entry points the shim forwards to (or the next allocator's, if foreign). */
struct st_real {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*memalign)(size_t, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*malloc_usable_size)(void *);
};
extern struct st_real st_real;
extern ST_TLS int st_in_shim;     /* recursion guard: >0 while inside the shim */
extern ST_TLS int st_in_alloc;    /* >0 while this thread is inside glibc's malloc family */
extern ST_TLS uint32_t st_cur_session; /* the innermost session ref on this thread */
extern bool st_started;           /* constructor finished */
void hooks_malloc_resolve(void);
void *next_symbol(const char *name); /* RTLD_NEXT, as the program's versioned references bind */
void *symbol_as_bound(void *scope, const char *name);
/* The loaded object whose PT_LOAD segments hold addr: its load base in *base and its file
 * name ("" for the main program), or NULL if none does. A walk of the loaded objects'
 * program headers: dladdr's nearest-symbol scan over libc's symbol table costs ~90 k
 * instructions a call (process.c; issue 13). Not from inside malloc (dl_iterate_phdr locks). */
const char *st_object_of(const void *addr, uintptr_t *base);
void hooks_malloc_start(void);    /* end of the constructor: tracking begins */
void hooks_malloc_detour(void);   /* send the next allocation through the slow path once */
extern bool st_foreign_malloc;    /* the next malloc is not glibc's (jemalloc, tcmalloc...) */
/* Process-wide totals (relaxed atomics, read at dump). */
extern uint64_t st_untracked_frees;

/* ---------------------------------------------------------------- hooks_mmap.c */
struct st_rec_mmaps;
void mmaps_snapshot(struct st_rec_mmaps *out);

/* ---------------------------------------------------------------- process.c */
/* timeline.c: record an event (ST_EV_TRIM with the trim seq, ST_EV_SESSION_END with the
 * session id) on the dump's timeline; a no-op unless SESSTRIM_TIMELINE_INTERVAL is set. */
void timeline_event(uint32_t event, uint64_t arg);

/* Current RSS from /proc/self/statm (bytes); 0 if unreadable. Allocation-free. */
uint64_t proc_rss_bytes(void);
/* /proc of the calling thread, not of the process: once the main thread has called
 * pthread_exit() the thread-group leader is a zombie whose /proc/PID/statm reads 0 and
 * whose exe link is gone; /proc/thread-self sees the same mm from a live thread. */
#define ST_PROC_SELF "/proc/thread-self"
/* Fork child: the shim threads are restarted by the child's first allocation. */
extern bool st_child_restart;
void process_child_restart(void);
extern pid_t st_pid;
extern uint64_t st_start_realtime_ns;
extern uint32_t st_process_flags;   /* ST_PROC_FORK_CHILD, ST_PROC_UNVERIFIED_GLIBC */

/* ---------------------------------------------------------------- dump_writer.c */
/* A buffered writer over a file descriptor; records are appended with dump_put. */
struct st_dump_writer;
int dump_put(struct st_dump_writer *w, uint16_t type, const void *fixed, uint16_t fixed_size,
             const void *var, uint32_t var_size);
/* Write a complete dump; path NULL means the SESSTRIM_DUMP pattern. 0 ok, -1 error
 * (already logged). Serialised: one dump at a time. */
int dump_write(const char *path, int reason);

/* ---------------------------------------------------------------- control.c (issue 12) */
/* Starts the service thread and its control socket once the process has lived 1 s. Cheap
 * (one relaxed load once started or not wanted); call it from points reached regularly by
 * a running program, never from a signal or atfork handler nor with a shim lock held. */
void control_maybe_start(void);

/* ---------------------------------------------------------------- stacks.c (issue 5) */
/* Sampled allocation stacks: each thread counts bytes down to its next sample (mean
 * st_opt.stack_sample_bytes, exponentially distributed); `all` samples every allocation.
 * stacks_capture unwinds with libunwind, deduplicates and returns a site id (0: none). */
extern ST_TLS int64_t st_sample_countdown;
uint32_t stacks_capture(size_t size);
void stacks_init(void);           /* constructor: warm the unwinder (its first call allocates) */
void stacks_after_fork_child(void); /* a fork that interrupted an unwind turns stacks off */
void timeline_after_fork_child(void); /* the child's timeline starts empty */
static inline uint32_t stacks_site_for(size_t size)
{
    if (st_opt.stacks_mode == ST_STACKS_OFF) return 0;
    st_sample_countdown -= (int64_t)size;
    if (ST_LIKELY(st_sample_countdown > 0)) return 0;
    st_in_shim++;                 /* the unwinder may allocate on first use */
    uint32_t site = stacks_capture(size);
    st_in_shim--;
    return site;
}

/* ---------------------------------------------------------------- sessions.c (issue 3) */
/* Hot-path hooks: cheap when ref == 0. */
void sessions_on_alloc(uint32_t ref, uint64_t bytes, struct st_thread *t);
void sessions_on_free(uint32_t ref, uint64_t bytes);
/* A new thread starts: enter the session it inherited. */
void sessions_thread_start(struct st_thread *t, uint32_t inherited);
int sessions_dump_records(struct st_dump_writer *w);
void sessions_after_fork_child(void);

/* ---------------------------------------------------------------- trim/ (issue 4) */
void trim_init(void);             /* parse SESSTRIM_TRIM, apply mallopt pass-throughs */
void trim_on_session_end(void);
long long trim_now(int trigger);  /* enum st_trim_trigger; returns bytes released */
int trim_dump_records(struct st_dump_writer *w);
void trim_after_fork_child(void);
void trim_child_restart(void);    /* fork child, first allocation: the trimmer again */
void trim_totals(uint64_t *count, uint64_t *released); /* trims run, bytes released (records.c) */

#endif
