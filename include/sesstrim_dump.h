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

enum st_record_type {
    ST_REC_PROCESS = 1,         /* exactly one, first after the header */
    ST_REC_ARENA = 2,
    ST_REC_ARENA_THREAD = 3,    /* which threads allocated from which arena */
    ST_REC_THREAD = 4,
    ST_REC_XFREE = 5,           /* one cell of the cross-thread free matrix */
    ST_REC_MMAPS = 6,           /* the program's own mmaps, summarised */
    ST_REC_MAPPING = 7,         /* one line of /proc/self/smaps; variable part: name */
    ST_REC_SESSION = 8,
    ST_REC_SESSION_SUMMARY = 9, /* ended sessions folded to keep memory bounded */
    ST_REC_SESSION_SITE = 10,   /* leftovers of a session by allocation site */
    ST_REC_SITE = 11,           /* variable part: uint64_t frames[nframes] */
    ST_REC_MODULE = 12,         /* variable part: path */
    ST_REC_TRIM = 13,
    ST_REC_TRIM_ARENA = 14,
    ST_REC_TIMELINE = 15,       /* variable part: uint64_t arena_resident[narenas] */
    ST_REC_OCCUPANCY = 16,
    ST_REC_PIN = 17,            /* a site pinning sparsely used pages of an arena */
    ST_REC_END = 0xFFFF,
};

/* st_rec_process.flags */
#define ST_PROC_ARENA_LOGIC   0x1u  /* arena attribution read glibc internals */
#define ST_PROC_FOREIGN_MALLOC 0x2u /* malloc was not glibc's: arena logic off */
#define ST_PROC_UNVERIFIED_GLIBC 0x4u /* glibc version outside the verified range */
#define ST_PROC_STACKS        0x8u
#define ST_PROC_FORK_CHILD    0x10u
#define ST_PROC_NOT_INTERPOSED 0x20u /* another malloc comes first: the program's allocations
                                        are not seen (the dump says nothing about them) */
#define ST_PROC_MALLOC_DEBUG  0x40u /* glibc's libc_malloc_debug.so serves malloc behind the shim */

/* st_rec_process.reason: why this dump was written */
enum st_dump_reason {
    ST_DUMP_EXIT = 1, ST_DUMP_API = 2, ST_DUMP_SIGNAL = 3,
    ST_DUMP_PERIODIC = 4, ST_DUMP_SESSION_END = 5,
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
#define ST_THREAD_FORK_PARENT 0x8u /* in a fork child: a thread of the parent (it did not
                                       survive fork; only its allocations were inherited) */
#define ST_THREAD_SHIM   0x4u   /* the shim's own trimmer thread */

struct st_rec_thread {
    uint32_t idx;               /* the shim's thread index; 0 = main thread */
    uint32_t tid;
    uint32_t parent_idx;
    uint32_t flags;
    uint64_t start_ns, exit_ns;
    uint64_t allocs, frees, alloc_bytes, freed_bytes;
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
    ST_MAP_OTHER = 0, ST_MAP_BRK_HEAP = 1, ST_MAP_ARENA_HEAP = 2, ST_MAP_STACK = 3,
    ST_MAP_ANON = 4, ST_MAP_FILE = 5, ST_MAP_SHIM = 6, ST_MAP_GLIBC_MMAP_CHUNK = 7,
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
};

struct st_rec_module {
    uint64_t base, size;        /* executable mapping's load base and span */
    uint32_t build_id_len, reserved;
    uint8_t build_id[32];
};

enum st_trim_trigger {
    ST_TRIG_IDLE = 1, ST_TRIG_RSS = 2, ST_TRIG_PERIODIC = 3,
    ST_TRIG_SESSION_END = 4, ST_TRIG_FREE_RESIDENT = 5, ST_TRIG_API = 6,
};

/* Fields after arenas_skipped were added later (older dumps end there: read as 0).
 * max_lock_hold_ns: the longest an arena lock was held by this trim in one slice;
 * top_released_bytes / bin_released_bytes: what the top-chunk and bin passes released
 * (released_bytes also counts glibc's malloc_trim pass with glibc=on); slices: lock holds;
 * flags: 0x1 malloc_trim(0) ran first (glibc=on or no arena logic), 0x2 an idle-all= trim
 * (the whole process was quiet), 0x4 a free list failed validation (that arena was left);
 * shim_released_bytes: the shim's own live-table memory unmapped (not in released_bytes). */
struct st_rec_trim {
    uint32_t seq, trigger;      /* enum st_trim_trigger */
    uint64_t time_ns;
    uint64_t rss_before, rss_after;
    uint64_t released_bytes;
    uint64_t duration_ns;
    uint32_t arenas_trimmed, arenas_skipped;
    uint64_t max_lock_hold_ns;
    uint64_t top_released_bytes, bin_released_bytes;
    uint32_t slices, flags;
    uint64_t shim_released_bytes;
};

/* st_rec_trim_arena.arena_id of the row for glibc's own malloc_trim(0) pass, measured for
 * all arenas at once; the other rows are the top-chunk releases, one per thread arena. */
#define ST_TRIM_ARENA_GLIBC_PASS 0xFFFFFFFFu

struct st_rec_trim_arena {
    uint32_t seq, arena_id;
    uint64_t released_bytes, duration_ns;
};

enum st_event {
    ST_EV_SAMPLE = 0, ST_EV_TRIM = 1, ST_EV_SESSION_END = 2, ST_EV_DUMP = 3,
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
