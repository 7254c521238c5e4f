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
    X(CONFIG, 18, st_rec_config, env_mmap_threshold, 1) /* settings in force; var: environment */ \
    X(PYFRAME, 19, st_rec_pyframe, reserved, 1u << 16)   /* a Python frame's location; var: file, function */

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
#define ST_PROC_NOT_INTERPOSED 0x20u /* another malloc comes first: the program's allocations
                                        are not seen (the dump says nothing about them) */
#define ST_PROC_MALLOC_DEBUG  0x40u /* glibc's libc_malloc_debug.so serves malloc behind the shim */

/* Each enum's values and names, once: X(NAME, value, "name"). The names are what the
 * report, its JSON and the shim's log print. */
#define ST_DUMP_REASONS(X) \
    X(EXIT, 1, "exit") X(API, 2, "api") X(SIGNAL, 3, "signal") \
    X(PERIODIC, 4, "periodic") X(SESSION_END, 5, "session-end")
/* Trigger names are SESSTRIM_TRIM's own keywords ("every", not "periodic"). */
#define ST_TRIM_TRIGGERS(X) \
    X(IDLE, 1, "idle") X(RSS, 2, "rss") X(PERIODIC, 3, "every") \
    X(SESSION_END, 4, "session-end") X(FREE_RESIDENT, 5, "free-resident") X(API, 6, "api")
/* st_rec_trim.flags, named for the report (the shim's trim/trim.h TRIM_F_* are these bits). */
#define ST_TRIM_FLAGS(X) \
    X(GLIBC_PASS, 0x1, "malloc_trim") X(IDLE_ALL, 0x2, "idle-all") X(FREE_LIST_INVALID, 0x4, "free-list-invalid")
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

/* Each record's fields, once: X(type, name, array dimension or empty, json) where json is
 * 1 when the report's JSON prints the field under its own name and 0 when an output
 * formats it itself (a flag word, an enum name, a key renamed). Expanded into the struct
 * (ST_DECLARE_FIELD_), the JSON (analyzer/report_json.c) and the test dump generator's
 * field table (tests/progs/dumpgen.c). Fields are only ever appended. */
#define ST_DECLARE_FIELD_(type, name, dim, json) type name dim;

#define ST_FIELDS_PROCESS(X) \
    X(uint32_t, pid, , 1) X(uint32_t, ppid, , 1) \
    X(uint32_t, flags, , 0) X(uint32_t, reason, , 0) \
    X(uint64_t, time_ns, , 1) /* CLOCK_REALTIME at dump */ \
    X(uint64_t, start_ns, , 1) /* CLOCK_REALTIME when the shim started */ \
    X(uint64_t, rss_bytes, , 1) X(uint64_t, rss_anon_bytes, , 1) X(uint64_t, rss_file_bytes, , 1) X(uint64_t, vm_bytes, , 1) \
    X(uint64_t, live_bytes, , 1) /* requested bytes of tracked live allocations */ \
    X(uint64_t, live_chunk_bytes, , 1) /* glibc chunk bytes of the same (incl. overhead) */ \
    X(uint64_t, live_count, , 1) \
    X(uint64_t, total_allocs, , 1) X(uint64_t, total_frees, , 1) \
    X(uint64_t, untracked_frees, , 1) /* free/realloc of pointers the shim never saw */ \
    X(uint64_t, glibc_mmapped_bytes, , 1) X(uint64_t, glibc_mmapped_count, , 1) /* tracked mmapped chunks */ \
    /* mallinfo2() at dump time */ \
    X(uint64_t, mi_arena, , 0) X(uint64_t, mi_ordblks, , 0) X(uint64_t, mi_hblks, , 0) X(uint64_t, mi_hblkhd, , 0) X(uint64_t, mi_uordblks, , 0) X(uint64_t, mi_fordblks, , 0) X(uint64_t, mi_keepcost, , 0) \
    X(uint64_t, meta_bytes, , 1) /* memory the shim mapped for itself */ \
    X(uint64_t, heap_max_size, , 1) /* glibc HEAP_MAX_SIZE in force (hugetlb aware) */ \
    X(uint64_t, page_size, , 1) \
    X(uint64_t, stack_sample_bytes, , 1) /* 0: stacks off, 1: every allocation */ \
    X(char, glibc_version, [16], 1) \
    X(char, exe, [256], 1) \
    X(char, cmdline, [256], 1) /* argv joined by spaces, truncated */ \
    /* Appended: the resident part of meta_bytes (mincore over the shim's own mappings), \
     * the report's "sesstrim's own tables" layer. 0 from older writers: meta_bytes is used. */ \
    X(uint64_t, meta_resident_bytes, , 1)
struct st_rec_process { ST_FIELDS_PROCESS(ST_DECLARE_FIELD_) };

enum st_arena_kind { ST_ARENA_MAIN = 0, ST_ARENA_THREAD = 1 };

#define ST_FIELDS_ARENA(X) \
    X(uint32_t, id, , 1) /* 0 = main arena, 1.. thread arenas in discovery order */ \
    X(uint32_t, kind, , 0) /* enum st_arena_kind */ \
    X(uint64_t, address, , 1) /* the malloc_state, for cross-referencing logs */ \
    X(uint64_t, live_bytes, , 1) X(uint64_t, live_chunk_bytes, , 1) X(uint64_t, live_count, , 1) \
    X(uint64_t, system_bytes, , 1) X(uint64_t, max_system_bytes, , 1) \
    X(uint64_t, heaps, , 1) X(uint64_t, heap_bytes, , 1) \
    X(uint64_t, free_bin_bytes, , 1) /* free chunks in small/large/unsorted bins */ \
    X(uint64_t, free_fast_bytes, , 1) /* free chunks in fastbins */ \
    X(uint64_t, top_bytes, , 1) /* size of the top chunk */ \
    X(uint64_t, top_resident_bytes, , 1) \
    X(uint64_t, free_resident_bytes, , 1) /* resident pages inside free chunks (bins) */ \
    X(uint64_t, resident_bytes, , 1) /* resident pages of the arena's heaps */ \
    X(uint32_t, attached_threads, , 1) /* glibc's own count at dump time */ \
    X(uint32_t, threads_seen, , 1) /* distinct threads that allocated from it */
struct st_rec_arena { ST_FIELDS_ARENA(ST_DECLARE_FIELD_) };

#define ST_FIELDS_ARENA_THREAD(X) \
    X(uint32_t, arena_id, , 0) X(uint32_t, thread_idx, , 0) \
    X(uint64_t, allocs, , 0)
struct st_rec_arena_thread { ST_FIELDS_ARENA_THREAD(ST_DECLARE_FIELD_) };

#define ST_THREAD_EXITED 0x1u
#define ST_THREAD_MAIN   0x2u
#define ST_THREAD_FORK_PARENT 0x8u /* in a fork child: a thread of the parent (it did not
                                       survive fork; only its allocations were inherited) */
#define ST_THREAD_SHIM   0x4u   /* the shim's own trimmer thread */

#define ST_FIELDS_THREAD(X) \
    X(uint32_t, idx, , 1) /* the shim's thread index; 0 = main thread */ \
    X(uint32_t, tid, , 1) \
    X(uint32_t, parent_idx, , 1) \
    X(uint32_t, flags, , 0) \
    X(uint64_t, start_ns, , 1) X(uint64_t, exit_ns, , 1) \
    X(uint64_t, allocs, , 1) X(uint64_t, frees, , 1) X(uint64_t, alloc_bytes, , 1) X(uint64_t, freed_bytes, , 1) \
    /* Written as 0: the counters above are read at slightly different moments, so the \
     * writer does not subtract them; the reader derives live bytes and clamps at 0 \
     * (live = alloc_bytes - (freed_bytes - cross_free_bytes) - freed_by_others_bytes). */ \
    X(uint64_t, live_bytes, , 1) X(uint64_t, live_count, , 1) \
    X(uint64_t, cross_frees, , 1) X(uint64_t, cross_free_bytes, , 1) /* it freed memory others allocated */ \
    X(uint64_t, freed_by_others, , 1) X(uint64_t, freed_by_others_bytes, , 1) \
    X(uint32_t, home_arena, , 0) /* arena of its most recent allocation, UINT32_MAX none */ \
    X(uint32_t, reserved, , 0) \
    X(char, name, [16], 1)
struct st_rec_thread { ST_FIELDS_THREAD(ST_DECLARE_FIELD_) };

#define ST_FIELDS_XFREE(X) \
    X(uint32_t, freer_idx, , 0) X(uint32_t, alloc_idx, , 0) \
    X(uint64_t, count, , 0) X(uint64_t, bytes, , 0)
struct st_rec_xfree { ST_FIELDS_XFREE(ST_DECLARE_FIELD_) };

#define ST_FIELDS_MMAPS(X) \
    X(uint64_t, anon_bytes, , 1) X(uint64_t, anon_count, , 1) X(uint64_t, file_bytes, , 1) X(uint64_t, file_count, , 1) \
    X(uint64_t, mmap_calls, , 1) X(uint64_t, munmap_calls, , 1) X(uint64_t, mremap_calls, , 1) \
    X(uint64_t, untracked_munmaps, , 1)
struct st_rec_mmaps { ST_FIELDS_MMAPS(ST_DECLARE_FIELD_) };

enum st_mapping_kind {
#define ST_ENUM_(name, value, text) ST_MAP_##name = value,
    ST_MAPPING_KINDS(ST_ENUM_)
#undef ST_ENUM_
};

#define ST_FIELDS_MAPPING(X) \
    X(uint64_t, start, , 1) X(uint64_t, end, , 1) \
    X(uint64_t, rss, , 1) X(uint64_t, pss, , 1) X(uint64_t, anonymous, , 1) X(uint64_t, private_dirty, , 1) X(uint64_t, swap, , 1) \
    X(uint32_t, kind, , 0) /* enum st_mapping_kind */ \
    X(uint32_t, perms, , 1) /* bit 0 r, 1 w, 2 x, 3 shared */
struct st_rec_mapping { ST_FIELDS_MAPPING(ST_DECLARE_FIELD_) };

#define ST_SESSION_ENDED 0x1u
#define ST_SESSION_NAME_MAX 64

#define ST_FIELDS_SESSION(X) \
    X(uint64_t, id, , 1) X(uint64_t, parent_id, , 1) \
    X(uint64_t, begin_ns, , 1) X(uint64_t, end_ns, , 1) \
    X(uint64_t, live_bytes, , 1) X(uint64_t, live_count, , 1) X(uint64_t, peak_bytes, , 1) \
    X(uint64_t, total_alloc_bytes, , 1) X(uint64_t, total_allocs, , 1) X(uint64_t, frees, , 1) \
    X(uint64_t, leftover_bytes, , 1) X(uint64_t, leftover_count, , 1) /* live at end (ended sessions) */ \
    X(uint64_t, kept_in_bytes, , 1) X(uint64_t, kept_in_count, , 1) /* received by keep/transfer */ \
    X(uint32_t, threads_seen, , 1) \
    X(uint32_t, flags, , 0) \
    X(char, name, [ST_SESSION_NAME_MAX], 1)
struct st_rec_session { ST_FIELDS_SESSION(ST_DECLARE_FIELD_) };

#define ST_FIELDS_SESSION_SUMMARY(X) \
    X(uint64_t, folded_sessions, , 1) /* ended sessions no longer kept individually */ \
    X(uint64_t, folded_alloc_bytes, , 1) X(uint64_t, folded_allocs, , 1) \
    X(uint64_t, folded_leftover_bytes, , 1) X(uint64_t, folded_leftover_count, , 1) \
    X(uint64_t, open_sessions, , 1) X(uint64_t, ended_sessions_total, , 1)
struct st_rec_session_summary { ST_FIELDS_SESSION_SUMMARY(ST_DECLARE_FIELD_) };

#define ST_FIELDS_SESSION_SITE(X) \
    X(uint64_t, session_id, , 0) \
    X(uint32_t, site_id, , 0) X(uint32_t, reserved, , 0) \
    X(uint64_t, bytes, , 0) X(uint64_t, count, , 0)
struct st_rec_session_site { ST_FIELDS_SESSION_SITE(ST_DECLARE_FIELD_) };

#define ST_FIELDS_SITE(X) \
    X(uint32_t, id, , 1) \
    X(uint32_t, nframes, , 0) \
    X(uint64_t, live_bytes, , 1) X(uint64_t, live_count, , 1) \
    X(uint64_t, total_bytes, , 1) X(uint64_t, total_allocs, , 1) /* sampled allocations attributed to it */ \
    /* Appended: the live samples themselves, unscaled (bytes and count of the sampled \
     * allocations still live). The reader scales them by process.stack_sample_bytes; 0 with \
     * live_count != 0 means an older writer (live_* already scaled). */ \
    X(uint64_t, sampled_live_bytes, , 1) X(uint64_t, sampled_live_count, , 1) \
    /* Appended: the module map epoch its frames are named in (see MODULE): one in which \
     * every module holding one of its frames was loaded; 0 from older writers, whose single \
     * module map is the one at dump time. */ \
    X(uint32_t, module_epoch, , 1) X(uint32_t, reserved2, , 0)
struct st_rec_site { ST_FIELDS_SITE(ST_DECLARE_FIELD_) };

#define ST_FIELDS_MODULE(X) \
    X(uint64_t, base, , 0) X(uint64_t, size, , 0) /* executable mapping's load base and span */ \
    X(uint32_t, build_id_len, , 0) X(uint32_t, reserved, , 0) \
    X(uint8_t, build_id, [32], 0) \
    /* Appended: the module map epochs it was loaded in, [first_epoch, gone_epoch); \
     * gone_epoch 0 = still loaded at dump time. The shim starts an epoch each time it finds \
     * a module unloaded; a frame of a site is named against the modules alive in the \
     * site's module_epoch. Both 0 from older writers (one map, the one at dump time). */ \
    X(uint32_t, first_epoch, , 0) X(uint32_t, gone_epoch, , 0)
struct st_rec_module { ST_FIELDS_MODULE(ST_DECLARE_FIELD_) };

enum st_trim_trigger {
#define ST_ENUM_(name, value, text) ST_TRIG_##name = value,
    ST_TRIM_TRIGGERS(ST_ENUM_)
#undef ST_ENUM_
};

/* A trigger's name, the one table both the shim's log line and the report print from.
 * "unknown" for a value this header does not list (a newer writer). */
static inline const char *st_trim_trigger_name(uint32_t trigger)
{
    switch (trigger) {
#define ST_CASE_(name, value, text) case value: return text;
    ST_TRIM_TRIGGERS(ST_CASE_)
#undef ST_CASE_
    default: return "unknown";
    }
}

#define ST_FIELDS_TRIM(X) \
    X(uint32_t, seq, , 1) X(uint32_t, trigger, , 0) /* enum st_trim_trigger */ \
    X(uint64_t, time_ns, , 1) \
    X(uint64_t, rss_before, , 1) X(uint64_t, rss_after, , 1) \
    X(uint64_t, released_bytes, , 1) \
    X(uint64_t, duration_ns, , 1) \
    X(uint32_t, arenas_trimmed, , 1) X(uint32_t, arenas_skipped, , 1) \
    /* Appended (trim/): the longest time one arena lock was held, what the top chunks and \
     * the pages inside free bins gave back, how many lock slices the sweep took, flags \
     * (0x1 malloc_trim(0) ran first, 0x2 idle-all, 0x4 a free list failed validation), and the shim's own table bytes \
     * released. 0 from older writers. */ \
    X(uint64_t, max_lock_hold_ns, , 1) \
    X(uint64_t, top_released_bytes, , 1) X(uint64_t, bin_released_bytes, , 1) \
    X(uint32_t, slices, , 1) X(uint32_t, flags, , 1) \
    X(uint64_t, shim_released_bytes, , 1)
struct st_rec_trim { ST_FIELDS_TRIM(ST_DECLARE_FIELD_) };

/* st_rec_trim_arena.arena_id of the row for glibc's own malloc_trim(0) pass, measured for
 * all arenas at once; the other rows are the top-chunk releases, one per thread arena. */
#define ST_TRIM_ARENA_GLIBC_PASS 0xFFFFFFFFu

#define ST_FIELDS_TRIM_ARENA(X) \
    X(uint32_t, seq, , 0) X(uint32_t, arena_id, , 0) \
    X(uint64_t, released_bytes, , 0) X(uint64_t, duration_ns, , 0)
struct st_rec_trim_arena { ST_FIELDS_TRIM_ARENA(ST_DECLARE_FIELD_) };

enum st_event {
#define ST_ENUM_(name, value, text) ST_EV_##name = value,
    ST_EVENTS(ST_ENUM_)
#undef ST_ENUM_
};

#define ST_FIELDS_TIMELINE(X) \
    X(uint64_t, time_ns, , 1) \
    X(uint64_t, rss_bytes, , 1) X(uint64_t, live_bytes, , 1) X(uint64_t, heap_resident_bytes, , 1) \
    X(uint32_t, event, , 0) /* enum st_event */ \
    X(uint32_t, narenas, , 0) /* variable part: uint64_t resident per arena id */ \
    X(uint64_t, event_arg, , 1) /* trim seq or session id */
struct st_rec_timeline { ST_FIELDS_TIMELINE(ST_DECLARE_FIELD_) };

#define ST_OCC_BUCKETS 11       /* live bytes per page: 0, (0,10%], (10,20%] .. (90,100%] */

#define ST_FIELDS_OCCUPANCY(X) \
    X(uint32_t, arena_id, , 0) X(uint32_t, reserved, , 0) \
    X(uint64_t, page_size, , 0) \
    X(uint64_t, pages, [ST_OCC_BUCKETS], 0)
struct st_rec_occupancy { ST_FIELDS_OCCUPANCY(ST_DECLARE_FIELD_) };

#define ST_FIELDS_PIN(X) \
    X(uint32_t, arena_id, , 0) X(uint32_t, site_id, , 0) \
    X(uint64_t, pages, , 0) /* resident pages under 10% occupancy it holds live bytes in */ \
    X(uint64_t, bytes, , 0)
struct st_rec_pin { ST_FIELDS_PIN(ST_DECLARE_FIELD_) };

/* The configuration in force when the dump was written, parsed (what the shim acted on),
 * followed by the raw environment it came from: NUL-terminated "NAME=value" strings for
 * every SESSTRIM_*, GLIBC_TUNABLES and MALLOC_* variable. -1: not set. */
#define ST_CONFIG_DUMP_ON_SESSION_END 0x1u
#define ST_CONFIG_SESSION_INHERIT     0x2u
#define ST_CONFIG_TRIM_SESSION_END    0x4u   /* SESSTRIM_TRIM has session-end */
#define ST_CONFIG_TRIM_GLIBC_PASS     0x8u   /* glibc=on: malloc_trim(0) runs first */

#define ST_FIELDS_CONFIG(X) \
    X(uint32_t, stacks_mode, , 0) /* SESSTRIM_STACKS: 0 off, 1 sampled, 2 every allocation */ \
    X(uint32_t, flags, , 0) /* ST_CONFIG_* */ \
    X(uint64_t, stack_sample_bytes, , 0) \
    X(int64_t, arena_max, , 0) /* SESSTRIM_ARENA_MAX applied with mallopt, -1 unset */ \
    X(int64_t, trim_threshold, , 0) /* SESSTRIM_TRIM_THRESHOLD applied with mallopt, -1 unset */ \
    X(uint32_t, dump_signal, , 0) X(uint32_t, log_target, , 0) \
    X(uint64_t, dump_interval_ns, , 0) X(uint64_t, timeline_interval_ns, , 0) \
    X(uint64_t, session_leftover_log, , 0) X(uint64_t, sessions_kept, , 0) \
    /* SESSTRIM_TRIM parsed; 0 = trigger off */ \
    X(uint64_t, trim_idle_ns, , 0) X(uint64_t, trim_rss_high, , 0) X(uint64_t, trim_every_ns, , 0) X(uint64_t, trim_free_resident, , 0) \
    X(uint64_t, trim_min_interval_ns, , 0) X(uint64_t, trim_check_ns, , 0) X(uint64_t, trim_quiet_ns, , 0) X(uint64_t, trim_pad, , 0) \
    X(uint32_t, trim_bad_tokens, , 0) X(uint32_t, reserved, , 0) \
    /* glibc's own settings from the environment, parsed; -1 = not set */ \
    X(int64_t, env_arena_max, , 0) /* MALLOC_ARENA_MAX or glibc.malloc.arena_max */ \
    X(int64_t, env_trim_threshold, , 0) /* MALLOC_TRIM_THRESHOLD_ or glibc.malloc.trim_threshold */ \
    X(int64_t, env_mmap_threshold, , 0) /* MALLOC_MMAP_THRESHOLD_ or glibc.malloc.mmap_threshold */
struct st_rec_config { ST_FIELDS_CONFIG(ST_DECLARE_FIELD_) };

/* A Python frame (preload/pyframes.c). At a sampled allocation made by a thread running
 * Python code with the GIL, the Python stack is put in front of the site's C frames, each
 * stored as ST_PYFRAME_TAG | id (no user-space address has those top bits); the PYFRAME
 * record with that id gives its location. Variable part: file_len bytes of file name, then
 * func_len bytes of function name, UTF-8, no NULs (a long file name keeps its tail, "..."
 * first). Dumps written before this record was registered used the private type 0x7001
 * with the same layout; the report skips those as unknown. */
#define ST_PYFRAME_TAG 0xFFFE000000000000ull
#define ST_PYFRAME_TAG_MASK 0xFFFF000000000000ull
#define ST_PYFRAME_ID(frame) ((uint32_t)((frame) & 0xFFFFFFFFu))
static inline int st_is_pyframe(uint64_t frame) { return (frame & ST_PYFRAME_TAG_MASK) == ST_PYFRAME_TAG; }

#define ST_FIELDS_PYFRAME(X) \
    X(uint32_t, id, , 0) /* non-zero; the frame value is ST_PYFRAME_TAG | id */ \
    X(int32_t, line, , 0) /* 0 or less: unknown */ \
    X(uint16_t, file_len, , 0) X(uint16_t, func_len, , 0) \
    X(uint32_t, reserved, , 0)
struct st_rec_pyframe { ST_FIELDS_PYFRAME(ST_DECLARE_FIELD_) };

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
