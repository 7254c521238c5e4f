/* dump_parts.h: the pieces of a dump, each writing its own records (dump_records.c,
 * smaps.c, timeline.c, stacks.c); dump_writer.c calls them in order. */
#ifndef SESSTRIM_DUMP_PARTS_H
#define SESSTRIM_DUMP_PARTS_H
#include <malloc.h>
#include "shim.h"

struct arena_agg { uint64_t live_bytes, chunk_bytes, count; };
struct site_agg { uint64_t live_bytes, count; };

/* One pass over the live table, shared by every part that needs live totals. */
struct dump_walk {
    uint64_t live_bytes, chunk_bytes, count;
    uint64_t mmapped_bytes, mmapped_count;
    struct arena_agg *arenas;     /* ST_ARENA_MAX entries, mapped for the dump */
    struct site_agg *sites;       /* nsites entries, indexed by site id */
    uint32_t nsites;
    struct mallinfo2 mallinfo;    /* glibc's totals, taken once right after the walk */
};
void dump_walk_live(struct dump_walk *w);
void dump_walk_release(struct dump_walk *w);

void dump_process_record(struct st_dump_writer *w, int reason, const struct dump_walk *walk);
/* The settings in force (SESSTRIM_*, parsed SESSTRIM_TRIM, glibc's malloc variables);
 * written by dump_process_record right after the PROCESS record. */
void dump_config_record(struct st_dump_writer *w);
void dump_arena_records(struct st_dump_writer *w, const struct dump_walk *walk);
void dump_thread_records(struct st_dump_writer *w);
void dump_mapping_records(struct st_dump_writer *w);     /* smaps.c */
void dump_site_records(struct st_dump_writer *w, const struct dump_walk *walk); /* stacks.c */
void timeline_dump_records(struct st_dump_writer *w);   /* timeline.c */
void dump_module_records(struct st_dump_writer *w);     /* stacks.c: module map, build ids */
/* occupancy.c: resident pages of each arena bucketed by live bytes, and the sites pinning
 * the sparsely used ones. */
void dump_occupancy_records(struct st_dump_writer *w, const struct dump_walk *walk);

/* timeline.c: samples and events kept in shim memory for the dump's timeline. */
void timeline_sample(uint32_t event, uint64_t arg);
uint64_t live_bytes_now(void);   /* from thread counters: cheap */

/* stacks.c */
uint32_t stacks_count(void);     /* sites recorded so far; ids are 1..count */

/* fork support of the pieces with locks */
void dump_after_fork_child(void);
#endif
