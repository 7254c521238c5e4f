/* report.h: the analyzer's internal interfaces between its parts: derived numbers (model),
 * advice, symbols, and the four outputs (text, JSON, HTML, diff). */
#ifndef SESSTRIM_REPORT_H
#define SESSTRIM_REPORT_H

#include <stdio.h>
#include <stdbool.h>
#include "dump_reader.h"

#ifdef __cplusplus
extern "C" {
#endif

struct st_report_opts {
    int top_n;                  /* rows in "top" tables, default 10 */
    bool symbolize;             /* resolve site frames with libdw */
};

/* ---- model.c: numbers derived from one dump (the RSS layers) */
/* Bytes; every field but rss and heap_unresident is one layer, and the layers sum to rss
 * (unless heap_unresident > 0: the arenas claim more than is resident). */
struct st_layers {
    uint64_t rss;
    uint64_t live_heap;         /* requested bytes of live allocations */
    uint64_t allocator_overhead;/* chunk bytes - requested bytes */
    uint64_t free_bins, free_fast, free_top, free_tcache_est; /* free in arenas, resident */
    uint64_t free_partial;      /* free bytes on heap pages that also hold live data */
    uint64_t glibc_mmapped;     /* glibc's own mmapped chunks */
    uint64_t program_mmaps;     /* the program's anonymous mmaps */
    uint64_t shim;              /* sesstrim's own tables (what it mapped) */
    uint64_t files;             /* file-backed and shared: code, libraries, mapped files */
    uint64_t rest;              /* thread stacks, other anonymous memory */
    uint64_t heap_unresident;   /* heap numbers beyond RSS: allocated, never touched */
};
void model_layers(const struct st_dump *d, struct st_layers *out);
uint64_t layers_free_total(const struct st_layers *l);
/* The layers as rows, in report order, labelled once for every output: key (JSON and
 * diff), label (text and HTML), bytes, depth 1 for the parts of "free in arenas". */
#define ST_LAYER_ROWS 13
struct st_layer_row { const char *key, *label; uint64_t bytes; int depth; };
size_t model_layer_rows(const struct st_layers *l, struct st_layer_row rows[ST_LAYER_ROWS]);

/* Per-arena view used by several outputs: bytes that are free but still resident. */
uint64_t arena_free_bytes(const struct st_rec_arena *a);     /* bins + fastbins + top */
uint64_t arena_free_resident(const struct st_rec_arena *a);  /* the resident part of it */
/* Resident whole pages inside free bin chunks (estimated for a main arena read through
 * mallinfo2), and free bytes on resident pages that also hold live data. */
uint64_t arena_bins_resident(const struct st_rec_arena *a);
uint64_t arena_free_partial(const struct st_rec_arena *a);
/* Distinct threads that allocated from it (ARENA_THREAD records), else glibc's count. */
uint64_t arena_threads(const struct st_dump *d, const struct st_rec_arena *a);
/* Lookups by id: NULL when the dump does not have it (ids come from an untrusted file). */
const struct st_rec_thread *model_thread(const struct st_dump *d, uint32_t idx);
const struct st_rec_arena *model_arena(const struct st_dump *d, uint32_t id);
/* "thread 3 'worker'", "thread 3" (compact: "3 worker", for table cells), or "other threads"
 * for the writer's overflow cell (idx 4294967295); returns buf. */
const char *model_thread_label(const struct st_dump *d, uint32_t idx, bool compact, char *buf, size_t len);
const struct st_dump_site *model_site(const struct st_dump *d, uint32_t id);
/* The one "top N" ordering: indices 0..n-1 by key, largest first, ties in record order.
 * NULL when n is 0 or out of memory; free() it. The rank_* keys are the ones outputs share. */
struct st_ranked { uint64_t key; size_t index; };
struct st_ranked *model_rank(const struct st_dump *d, size_t n, uint64_t (*key)(const struct st_dump *d, size_t i));
uint64_t rank_site_live(const struct st_dump *d, size_t i);
uint64_t rank_session_live(const struct st_dump *d, size_t i);
uint64_t rank_thread_live(const struct st_dump *d, size_t i);
/* Page occupancy over all arenas: resident pages by bucket, and bytes per page. */
void model_occupancy(const struct st_dump *d, uint64_t pages[ST_OCC_BUCKETS], uint64_t *page_size);
size_t model_threads_alive(const struct st_dump *d);
/* Orders a process family in place: each parent before its children, depth first, otherwise
 * keeping the given order. 0, or -1 when out of memory (order unchanged). */
int model_family_order(struct st_dump *dumps, size_t n);
/* How many ancestors of dumps[i] are among the dumps (for indenting a family in the order
 * model_family_order made: every output lists a family in that one order). */
size_t model_family_depth(const struct st_dump *dumps, size_t n, size_t i);
/* Human units: "612.0 MiB", "4.0 KiB", "17 B"; returns buf. */
const char *fmt_bytes(uint64_t bytes, char *buf, size_t len);
/* Percent of part in whole, 0 when whole is 0. */
double share_pct(uint64_t part, uint64_t whole);
const char *trigger_name(uint32_t trigger);
/* A trim's flags as their ST_TRIM_FLAGS names joined by sep ("malloc_trim,idle-all"), "-"
 * for none, unknown bits as "0x.."; returns buf. */
const char *trim_flags_text(uint32_t flags, const char *sep, char *buf, size_t len);
/* What the top chunks of a trim gave back: the record's own field, or for a dump from a
 * writer before it (no top/bin/slice figures at all) the sum of its per-arena rows. */
uint64_t model_trim_tops(const struct st_dump *d, const struct st_rec_trim *t);
const char *reason_name(uint32_t reason);
const char *event_name(uint32_t event);
const char *mapping_kind_name(uint32_t kind);

/* A family of dumps: the same pid twice is one process seen twice (the latest counts, the
 * earlier shows the change); resident shared memory (file-backed or shared mappings with
 * the same name, size and permissions) counts once in the family total. */
struct st_family {
    size_t processes;           /* distinct pids */
    uint64_t rss_bytes;         /* latest dump per pid, shared memory once */
    uint64_t rss_sum_bytes;     /* the plain sum of the latest dumps' RSS */
    uint64_t live_bytes;
};
/* Is dumps[i] the latest of its pid (ties: the first given)? */
bool model_is_latest(const struct st_dump *dumps, size_t n, size_t i);
/* The dump of the same pid just before dumps[i] in time, or NULL. */
const struct st_dump *model_previous(const struct st_dump *dumps, size_t n, size_t i);
void model_family(const struct st_dump *dumps, size_t n, struct st_family *out);
/* The CONFIG record: "SESSTRIM_TRIM=idle=2s, SESSTRIM_ARENA_MAX=4, glibc trim_threshold=..."
 * (or "no trim policy"); config_trim_policy: a SESSTRIM_TRIM trigger was in force;
 * config_trim_threshold: the threshold set by sesstrim or the environment, -1 unset. */
void model_config_describe(const struct st_dump *d, char *buf, size_t len);
bool config_trim_policy(const struct st_dump *d);
int64_t config_trim_threshold(const struct st_dump *d);

/* ---- advice.c: rules that fire only when a ratio and the bytes at stake are both large */
struct st_advice {
    char id[32];                /* stable key, e.g. "trim-thread-tops" */
    uint64_t bytes_at_stake;
    char text[1024];            /* one line with its numbers */
};
size_t advice_compute(const struct st_dump *d, struct st_advice *out, size_t max);

/* ---- symbols.c: frames -> function, file:line, offline with libdw */
struct st_symbolizer;
struct st_symbolizer *symbolizer_new(const struct st_dump *d);
/* Without debug info: every frame becomes "module+0xoff" (--no-symbols). */
struct st_symbolizer *symbolizer_new_offsets(const struct st_dump *d);
/* The right one for the options: symbolizer_new or symbolizer_new_offsets. */
struct st_symbolizer *symbolizer_for(const struct st_dump *d, const struct st_report_opts *o);
/* The one frame formatter: frame f of site as "func (file:line)", "func (module)",
 * "module+0xoff" or "0xaddr"; a Python frame as "function (file.py:line)" from the dump's
 * PYFRAME records. Always NUL-terminates. */
void symbolize_frame(struct st_symbolizer *s, const struct st_dump_site *site, uint32_t f, char *out, size_t outlen);
/* The MODULE record an address of `site` falls in (index set when not NULL), or NULL. */
const struct st_dump_module *symbols_module_of(const struct st_dump *d, const struct st_dump_site *site,
                                               uint64_t addr, size_t *index);
void symbolizer_free(struct st_symbolizer *s);
/* C++ or Rust (legacy and v0) name demangled with libiberty, malloc'd; NULL when `name` is
 * not a mangled name. */
char *demangle_symbol(const char *name);

/* ---- outputs. Each returns 0, or 2 after printing a one-line error. */
int report_text(FILE *out, struct st_dump *dumps, size_t n, const struct st_report_opts *o);
int report_json(FILE *out, struct st_dump *dumps, size_t n, const struct st_report_opts *o);
int report_html(const char *path, struct st_dump *dumps, size_t n, const struct st_report_opts *o);
int report_diff(FILE *out, struct st_dump *old_dump, struct st_dump *new_dump, bool json,
                const struct st_report_opts *o);

#ifdef __cplusplus
}
#endif
#endif
