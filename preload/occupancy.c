/* occupancy.c: page occupancy of arena heaps (issue 5). Placeholder until it lands:
 * no OCCUPANCY or PIN records are written. */
#include "shim.h"
#include "dump_parts.h"

void dump_occupancy_records(struct st_dump_writer *w, const struct dump_walk *walk) { (void)w; (void)walk; }
