/* sesstrim_dump.h: the dump file format, the one definition shared by the writer
 * (preload/dump_writer.c) and the reader (analyzer/dump_reader.c). Spec: docs/dump-format.md. */
#ifndef SESSTRIM_DUMP_H
#define SESSTRIM_DUMP_H

#include <stdint.h>

/*
 * Layout, little-endian, every record 8-byte aligned:
 *
 *   st_dump_header
 *   { st_record_header, payload[total_size], pad to 8 } ...
 *   st_record_header{ST_REC_END}, st_rec_end
 *
 * Compatibility rules (why the record header carries two sizes):
 *  - fixed_size is sizeof(the record's struct) as the writer knew it. A reader copies
 *    min(fixed_size, sizeof(its struct)) into a zeroed struct, so fields added at the end
 *    by a newer writer are ignored by an older reader and read as 0 by a newer one.
 *  - Bytes from fixed_size to total_size are the record's variable part (frames, paths).
 *  - Unknown record types are skipped. Fields are only ever appended, never reordered.
 *  - SESSTRIM_DUMP_VERSION changes only for incompatible changes; readers reject
 *    versions newer than SESSTRIM_DUMP_VERSION_MAX_READ.
 *  - The END record holds the record count and an FNV-1a 64 hash of every byte before
 *    the END record header: a missing END means truncation, a bad hash corruption.
 */

#define SESSTRIM_DUMP_MAGIC "SESSTRM\x01"
#define SESSTRIM_DUMP_MAGIC_LEN 8
#define SESSTRIM_DUMP_VERSION 1
#define SESSTRIM_DUMP_VERSION_MAX_READ 1
#define SESSTRIM_DUMP_ENDIAN_CHECK 0x01020304u
#define SESSTRIM_DUMP_MAX_RECORD (64u << 20) /* a reader refuses larger records */

struct st_dump_header {
    char magic[8];
    uint16_t version;
    uint16_t header_size;   /* sizeof(struct st_dump_header) as written */
    uint32_t endian_check;  /* SESSTRIM_DUMP_ENDIAN_CHECK */
    uint64_t reserved;
};

struct st_record_header {
    uint16_t type;          /* enum st_record_type */
    uint16_t fixed_size;    /* size of the fixed struct part as written */
    uint32_t total_size;    /* payload bytes (fixed + variable), excluding padding */
};

/*
 * Every record type, described once: X(NAME, type value, struct, last field a version-1
 * writer wrote, at most this many per dump (0: bounded by the file only)).
 * Expanded into enum st_record_type, the reader's minimum sizes and limits, and its name
 * table; adding a record type is one line here plus its struct, its reader array and its
 * output. ST_REC_END (0xFFFF) ends the list and is not part of it.
 */
#define ST_RECORD_TYPES(X) \
    X(PROCESS, 1, st_rec_process, cmdline, 1)            /* exactly one, first */ \
    X(ARENA, 2, st_rec_arena, threads_seen, 0) \
    X(ARENA_THREAD, 3, st_rec_arena_thread, allocs, 0)  /* thread x arena it allocated from */ \
    X(THREAD, 4, st_rec_thread, name, 0) \
    X(XFREE, 5, st_rec_xfree, bytes, 0)                 /* one cell of the cross-thread free matrix */ \
    X(MMAPS, 6, st_rec_mmaps, untracked_munmaps, 1)     /* the program's own mmaps, summarised */ \
    X(MAPPING, 7, st_rec_mapping, perms, 1u << 20)      /* one /proc/self/smaps entry; var: name */ \
    X(SESSION, 8, st_rec_session, name, 0) \
    X(SESSION_SUMMARY, 9, st_rec_session_summary, ended_sessions_total, 1) \
    X(SESSION_SITE, 10, st_rec_session_site, count, 0)  /* leftovers of a session by site */ \
    X(SITE, 11, st_rec_site, total_allocs, 0)           /* var: uint64_t frames[nframes] */ \
    X(MODULE, 12, st_rec_module, build_id, 1u << 16)    /* var: path */ \
    X(TRIM, 13, st_rec_trim, arenas_skipped, 0) \
    X(TRIM_ARENA, 14, st_rec_trim_arena, duration_ns, 0) \
    X(TIMELINE, 15, st_rec_timeline, event_arg, 0)      /* var: uint64_t resident[narenas] */ \
    X(OCCUPANCY, 16, st_rec_occupancy, pages, 0) \
    X(PIN, 17, st_rec_pin, bytes, 0)                    /* a site pinning sparse pages */ \
    X(CONFIG, 18, st_rec_config, env_mmap_threshold, 1) /* settings in force; var: environment */

enum st_record_type {
#define ST_REC_ENUM_(name, value, type, last, max) ST_REC_##name = value,
    ST_RECORD_TYPES(ST_REC_ENUM_)
#undef ST_REC_ENUM_
    ST_REC_END = 0xFFFF,
};

/* The largest known type value, from the list (a union's size is its largest member's):
 * per-type arrays are sized ST_REC_LAST_KNOWN + 1. */
#define ST_REC_SIZE_(name, value, type, last, max) char name[value];
union st_rec_type_max_ { ST_RECORD_TYPES(ST_REC_SIZE_) };
#undef ST_REC_SIZE_
#define ST_REC_LAST_KNOWN (sizeof(union st_rec_type_max_))

/* st_rec_process.flags */
#define ST_PROC_ARENA_LOGIC   0x1u  /* arena attribution read glibc internals */
#define ST_PROC_FOREIGN_MALLOC 0x2u /* malloc was not glibc's: arena logic off */
#define ST_PROC_UNVERIFIED_GLIBC 0x4u /* glibc version outside the verified range */
#define ST_PROC_STACKS        0x8u
#define ST_PROC_FORK_CHILD    0x10u

/* Each enum's values and names, once: X(NAME, value, "name"). The names are what the
 * report, its JSON and the shim's log print. */
#define ST_DUMP_REASONS(X) \
    X(EXIT, 1, "exit") X(API, 2, "api") X(SIGNAL, 3, "signal") \
    X(PERIODIC, 4, "periodic") X(SESSION_END, 5, "session-end")
/* Trigger names are SESSTRIM_TRIM's own keywords ("every", not "periodic"). */
#define ST_TRIM_TRIGGERS(X) \
    X(IDLE, 1, "idle") X(RSS, 2, "rss") X(PERIODIC, 3, "every") \
    X(SESSION_END, 4, "session-end") X(FREE_RESIDENT, 5, "free-resident") X(API, 6, "api")
#define ST_EVENTS(X) X(SAMPLE, 0, "sample") X(TRIM, 1, "trim") X(SESSION_END, 2, "session-end") X(DUMP, 3, "dump")
#define ST_MAPPING_KINDS(X) \
    X(OTHER, 0, "other") X(BRK_HEAP, 1, "brk_heap") X(ARENA_HEAP, 2, "arena_heap") X(STACK, 3, "stack") \
    X(ANON, 4, "anon") X(FILE, 5, "file") X(SHIM, 6, "shim") X(GLIBC_MMAP_CHUNK, 7, "glibc_mmap_chunk")

/* st_rec_process.reason: why this dump was written */
enum st_dump_reason {
#define ST_ENUM_(name, value, text) ST_DUMP_##name = value,
    ST_DUMP_REASONS(ST_ENUM_)
#undef ST_ENUM_
};

struct st_rec_process {
    uint32_t pid, ppid;
    uint32_t flags, reason;
    uint64_t time_ns;           /* CLOCK_REALTIME at dump */
    uint64_t start_ns;          /* CLOCK_REALTIME when the shim started */
    uint64_t rss_bytes, rss_anon_bytes, rss_file_bytes, vm_bytes;
    uint64_t live_bytes;        /* requested bytes of tracked live allocations */
    uint64_t live_chunk_bytes;  /* glibc chunk bytes of the same (incl. overhead) */
    uint64_t live_count;
    uint64_t total_allocs, total_frees;
    uint64_t untracked_frees;   /* free/realloc of pointers the shim never saw */
    uint64_t glibc_mmapped_bytes, glibc_mmapped_count; /* tracked mmapped chunks */
    /* mallinfo2() at dump time */
    uint64_t mi_arena, mi_ordblks, mi_hblks, mi_hblkhd, mi_uordblks, mi_fordblks, mi_keepcost;
    uint64_t meta_bytes;        /* memory the shim mapped for itself */
    uint64_t heap_max_size;     /* glibc HEAP_MAX_SIZE in force (hugetlb aware) */
    uint64_t page_size;
    uint64_t stack_sample_bytes;/* 0: stacks off, 1: every allocation */
    char glibc_version[16];
    char exe[256];
    char cmdline[256];          /* argv joined by spaces, truncated */
    /* Appended: the resident part of meta_bytes (mincore over the shim's own mappings),
     * the report's "sesstrim's own tables" layer. 0 from older writers: meta_bytes is used. */
    uint64_t meta_resident_bytes;
};

enum st_arena_kind { ST_ARENA_MAIN = 0, ST_ARENA_THREAD = 1 };

struct st_rec_arena {
    uint32_t id;                /* 0 = main arena, 1.. thread arenas in discovery order */
    uint32_t kind;              /* enum st_arena_kind */
    uint64_t address;           /* the malloc_state, for cross-referencing logs */
    uint64_t live_bytes, live_chunk_bytes, live_count;
    uint64_t system_bytes, max_system_bytes;
    uint64_t heaps, heap_bytes;
    uint64_t free_bin_bytes;    /* free chunks in small/large/unsorted bins */
    uint64_t free_fast_bytes;   /* free chunks in fastbins */
    uint64_t top_bytes;         /* size of the top chunk */
    uint64_t top_resident_bytes;
    uint64_t free_resident_bytes; /* resident pages inside free chunks (bins) */
    uint64_t resident_bytes;    /* resident pages of the arena's heaps */
    uint32_t attached_threads;  /* glibc's own count at dump time */
    uint32_t threads_seen;      /* distinct threads that allocated from it */
};

struct st_rec_arena_thread {
    uint32_t arena_id, thread_idx;
    uint64_t allocs;
};

#define ST_THREAD_EXITED 0x1u
#define ST_THREAD_MAIN   0x2u
#define ST_THREAD_SHIM   0x4u   /* the shim's own trimmer thread */

struct st_rec_thread {
    uint32_t idx;               /* the shim's thread index; 0 = main thread */
    uint32_t tid;
    uint32_t parent_idx;
    uint32_t flags;
    uint64_t start_ns, exit_ns;
    uint64_t allocs, frees, alloc_bytes, freed_bytes;
    /* Written as 0: the counters above are read at slightly different moments, so the
     * writer does not subtract them; the reader derives live bytes and clamps at 0
     * (live = alloc_bytes - (freed_bytes - cross_free_bytes) - freed_by_others_bytes). */
    uint64_t live_bytes, live_count;
    uint64_t cross_frees, cross_free_bytes;   /* it freed memory others allocated */
    uint64_t freed_by_others, freed_by_others_bytes;
    uint32_t home_arena;        /* arena of its most recent allocation, UINT32_MAX none */
    uint32_t reserved;
    char name[16];
};

struct st_rec_xfree {
    uint32_t freer_idx, alloc_idx;
    uint64_t count, bytes;
};

struct st_rec_mmaps {
    uint64_t anon_bytes, anon_count, file_bytes, file_count;
    uint64_t mmap_calls, munmap_calls, mremap_calls;
    uint64_t untracked_munmaps;
};

enum st_mapping_kind {
#define ST_ENUM_(name, value, text) ST_MAP_##name = value,
    ST_MAPPING_KINDS(ST_ENUM_)
#undef ST_ENUM_
};

struct st_rec_mapping {
    uint64_t start, end;
    uint64_t rss, pss, anonymous, private_dirty, swap;
    uint32_t kind;              /* enum st_mapping_kind */
    uint32_t perms;             /* bit 0 r, 1 w, 2 x, 3 shared */
};

#define ST_SESSION_ENDED 0x1u
#define ST_SESSION_NAME_MAX 64

struct st_rec_session {
    uint64_t id, parent_id;
    uint64_t begin_ns, end_ns;
    uint64_t live_bytes, live_count, peak_bytes;
    uint64_t total_alloc_bytes, total_allocs, frees;
    uint64_t leftover_bytes, leftover_count;  /* live at end (ended sessions) */
    uint64_t kept_in_bytes, kept_in_count;    /* received by keep/transfer */
    uint32_t threads_seen;
    uint32_t flags;
    char name[ST_SESSION_NAME_MAX];
};

struct st_rec_session_summary {
    uint64_t folded_sessions;   /* ended sessions no longer kept individually */
    uint64_t folded_alloc_bytes, folded_allocs;
    uint64_t folded_leftover_bytes, folded_leftover_count;
    uint64_t open_sessions, ended_sessions_total;
};

struct st_rec_session_site {
    uint64_t session_id;
    uint32_t site_id, reserved;
    uint64_t bytes, count;
};

struct st_rec_site {
    uint32_t id;
    uint32_t nframes;
    uint64_t live_bytes, live_count;
    uint64_t total_bytes, total_allocs;   /* sampled allocations attributed to it */
    /* Appended: the live samples themselves, unscaled (bytes and count of the sampled
     * allocations still live). The reader scales them by process.stack_sample_bytes; 0 with
     * live_count != 0 means an older writer (live_* already scaled). */
    uint64_t sampled_live_bytes, sampled_live_count;
};

struct st_rec_module {
    uint64_t base, size;        /* executable mapping's load base and span */
    uint32_t build_id_len, reserved;
    uint8_t build_id[32];
};

enum st_trim_trigger {
#define ST_ENUM_(name, value, text) ST_TRIG_##name = value,
    ST_TRIM_TRIGGERS(ST_ENUM_)
#undef ST_ENUM_
};

struct st_rec_trim {
    uint32_t seq, trigger;      /* enum st_trim_trigger */
    uint64_t time_ns;
    uint64_t rss_before, rss_after;
    uint64_t released_bytes;
    uint64_t duration_ns;
    uint32_t arenas_trimmed, arenas_skipped;
};

/* st_rec_trim_arena.arena_id of the row for glibc's own malloc_trim(0) pass, measured for
 * all arenas at once; the other rows are the top-chunk releases, one per thread arena. */
#define ST_TRIM_ARENA_GLIBC_PASS 0xFFFFFFFFu

struct st_rec_trim_arena {
    uint32_t seq, arena_id;
    uint64_t released_bytes, duration_ns;
};

enum st_event {
#define ST_ENUM_(name, value, text) ST_EV_##name = value,
    ST_EVENTS(ST_ENUM_)
#undef ST_ENUM_
};

struct st_rec_timeline {
    uint64_t time_ns;
    uint64_t rss_bytes, live_bytes, heap_resident_bytes;
    uint32_t event;             /* enum st_event */
    uint32_t narenas;           /* variable part: uint64_t resident per arena id */
    uint64_t event_arg;         /* trim seq or session id */
};

#define ST_OCC_BUCKETS 11       /* live bytes per page: 0, (0,10%], (10,20%] .. (90,100%] */

struct st_rec_occupancy {
    uint32_t arena_id, reserved;
    uint64_t page_size;
    uint64_t pages[ST_OCC_BUCKETS];
};

struct st_rec_pin {
    uint32_t arena_id, site_id;
    uint64_t pages;             /* resident pages under 10% occupancy it holds live bytes in */
    uint64_t bytes;
};

/* The configuration in force when the dump was written, parsed (what the shim acted on),
 * followed by the raw environment it came from: NUL-terminated "NAME=value" strings for
 * every SESSTRIM_*, GLIBC_TUNABLES and MALLOC_* variable. -1: not set. */
#define ST_CONFIG_DUMP_ON_SESSION_END 0x1u
#define ST_CONFIG_SESSION_INHERIT     0x2u
#define ST_CONFIG_TRIM_SESSION_END    0x4u   /* SESSTRIM_TRIM has session-end */
#define ST_CONFIG_TRIM_GLIBC_PASS     0x8u   /* glibc=on: malloc_trim(0) runs first */

struct st_rec_config {
    uint32_t stacks_mode;       /* SESSTRIM_STACKS: 0 off, 1 sampled, 2 every allocation */
    uint32_t flags;             /* ST_CONFIG_* */
    uint64_t stack_sample_bytes;
    int64_t arena_max;          /* SESSTRIM_ARENA_MAX applied with mallopt, -1 unset */
    int64_t trim_threshold;     /* SESSTRIM_TRIM_THRESHOLD applied with mallopt, -1 unset */
    uint32_t dump_signal, log_target;
    uint64_t dump_interval_ns, timeline_interval_ns;
    uint64_t session_leftover_log, sessions_kept;
    /* SESSTRIM_TRIM parsed; 0 = trigger off */
    uint64_t trim_idle_ns, trim_rss_high, trim_every_ns, trim_free_resident;
    uint64_t trim_min_interval_ns, trim_check_ns, trim_quiet_ns, trim_pad;
    uint32_t trim_bad_tokens, reserved;
    /* glibc's own settings from the environment, parsed; -1 = not set */
    int64_t env_arena_max;      /* MALLOC_ARENA_MAX or glibc.malloc.arena_max */
    int64_t env_trim_threshold; /* MALLOC_TRIM_THRESHOLD_ or glibc.malloc.trim_threshold */
    int64_t env_mmap_threshold; /* MALLOC_MMAP_THRESHOLD_ or glibc.malloc.mmap_threshold */
};

struct st_rec_end {
    uint64_t record_count;      /* records before END */
    uint64_t fnv1a64;           /* hash of every byte before END's record header */
};

#define ST_FNV1A64_INIT 0xcbf29ce484222325ull
static inline uint64_t st_fnv1a64(uint64_t h, const void *data, uint64_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    for (uint64_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

#endif
