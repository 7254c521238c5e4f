/* stacks.c: allocation sites (issue 5). Placeholder until sampled libunwind stacks land:
 * no site is recorded, so entries carry site 0 and the dump has no SITE records. */
#include "shim.h"
#include "dump_parts.h"

ST_TLS int64_t st_sample_countdown = INT64_MAX;  /* placeholder: never samples */
uint32_t stacks_capture(size_t size) { (void)size; st_sample_countdown = INT64_MAX; return 0; }
void stacks_init(void) {}
uint32_t stacks_count(void) { return 0; }
void dump_site_records(struct st_dump_writer *w, const struct dump_walk *walk) { (void)w; (void)walk; }
void dump_module_records(struct st_dump_writer *w) { (void)w; }
