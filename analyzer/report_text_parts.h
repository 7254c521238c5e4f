/* report_text_parts.h: the sections of the text report that live in report_text_parts.c,
 * so that report_text.c stays short. Internal to the text output. */
#ifndef SESSTRIM_REPORT_TEXT_PARTS_H
#define SESSTRIM_REPORT_TEXT_PARTS_H

#include "report.h"

void text_config(FILE *o, const struct st_dump *d);   /* one "settings in force" line */
void text_family(FILE *o, const struct st_dump *dumps, size_t n);
void text_xfree(FILE *o, const struct st_dump *d, const struct st_report_opts *opt);
void text_mmaps(FILE *o, const struct st_dump *d);
void text_sessions(FILE *o, const struct st_dump *d, const struct st_report_opts *opt, struct st_symbolizer *sym);
void text_sites(FILE *o, const struct st_dump *d, const struct st_report_opts *opt, struct st_symbolizer *sym);
void text_occupancy(FILE *o, const struct st_dump *d, const struct st_report_opts *opt,
                    struct st_symbolizer *sym);
void text_timeline(FILE *o, const struct st_dump *d);
void text_trims(FILE *o, const struct st_dump *d, const struct st_report_opts *opt);
void text_advice(FILE *o, const struct st_dump *d);

#endif
