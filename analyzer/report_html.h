/* report_html.h: what the HTML page (report_html.c) and its inline SVG charts
 * (report_html_charts.c) share. Every chart is plain SVG: no script, no external resource. */
#ifndef SESSTRIM_REPORT_HTML_H
#define SESSTRIM_REPORT_HTML_H

#include "report.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Timelines longer than this keep their lines but drop the per-record point markers. */
#define HTML_MAX_TIMELINE_POINTS 5000

/* Writes s (at most max bytes, stops at NUL) with &, <, >, " and ' escaped. */
void html_esc(FILE *out, const char *s, size_t max);
/* Bytes released from arena `id` by all trims (TRIM_ARENA records). */
uint64_t html_arena_released(const struct st_dump *d, uint32_t arena_id);

void html_chart_layers(FILE *out, const struct st_layers *l);
void html_chart_timeline(FILE *out, const struct st_dump *d);
void html_chart_arenas(FILE *out, const struct st_dump *d);
void html_chart_occupancy(FILE *out, const struct st_dump *d);
void html_chart_family(FILE *out, const struct st_dump *dumps, size_t n);

#ifdef __cplusplus
}
#endif

#endif
