/* dump_reader.h: load a dump file into memory, validating every byte before use.
 * Shared by sesstrim-report and the tests; never crashes on bad input. */
#ifndef SESSTRIM_DUMP_READER_H
#define SESSTRIM_DUMP_READER_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "sesstrim_dump.h"

#ifdef __cplusplus
extern "C" {
#endif

struct st_dump_mapping { struct st_rec_mapping m; char name[256]; };
struct st_dump_site { struct st_rec_site s; uint64_t *frames; };
struct st_dump_module { struct st_rec_module m; char path[512]; };
struct st_dump_timeline { struct st_rec_timeline t; uint64_t *arena_resident; };
/* A Python frame's location; file and function as written (cut to fit, NUL-terminated). */
struct st_dump_pyframe { struct st_rec_pyframe p; char file[256]; char func[128]; };

/* One dump, every record type in an array in file order. On load, derived numbers are
 * filled from raw counters: thread live_bytes/live_count (clamped at 0), and site
 * live_bytes/live_count scaled from their raw samples and bounded by the process's exact
 * live and allocated totals. */
struct st_dump {
    char path[512];
    uint16_t version;
    struct st_rec_process process;
    struct st_rec_arena *arenas;             size_t n_arenas;
    struct st_rec_arena_thread *arena_threads; size_t n_arena_threads;
    struct st_rec_thread *threads;           size_t n_threads;
    struct st_rec_xfree *xfrees;             size_t n_xfrees;
    struct st_rec_mmaps mmaps;               bool has_mmaps;
    struct st_dump_mapping *mappings;        size_t n_mappings;
    struct st_rec_session *sessions;         size_t n_sessions;
    struct st_rec_session_summary session_summary; bool has_session_summary;
    struct st_rec_session_site *session_sites; size_t n_session_sites;
    struct st_dump_site *sites;              size_t n_sites;
    struct st_dump_module *modules;          size_t n_modules;
    struct st_rec_trim *trims;               size_t n_trims;
    struct st_rec_trim_arena *trim_arenas;   size_t n_trim_arenas;
    struct st_dump_timeline *timeline;       size_t n_timeline;
    struct st_rec_occupancy *occupancy;      size_t n_occupancy;
    struct st_rec_pin *pins;                 size_t n_pins;
    struct st_dump_pyframe *pyframes;        size_t n_pyframes;
    struct st_rec_config config;             bool has_config;
    char config_env[4096];                   size_t config_env_len; /* "NAME=value\0"... */
    size_t unknown_records;                  /* skipped: written by a newer shim */
};

/* Load and validate `path`. 0 on success; -1 with a one-line reason in err. */
int st_dump_load(const char *path, struct st_dump *out, char *err, size_t errlen);
/* Same, from a buffer (the fuzz target uses this). */
int st_dump_parse(const void *data, size_t len, struct st_dump *out, char *err, size_t errlen);
void st_dump_free(struct st_dump *d);
/* The location of a Python frame (a site frame with st_is_pyframe), or NULL when the dump
 * has no PYFRAME record with its id. */
const struct st_dump_pyframe *st_dump_pyframe(const struct st_dump *d, uint64_t frame);

#ifdef __cplusplus
}
#endif
#endif
