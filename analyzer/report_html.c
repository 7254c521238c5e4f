/* report_html.c: `sesstrim-report --html FILE`: one self-contained page (inline CSS and SVG,
 * no script, nothing fetched) with a section per process; the charts are in report_html_charts.c. */
#include "report_html.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TABLE_ROWS 200

static const char page_css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:0;"
    "background:#f4f5f7;color:#1d2330}"
    "header.page{background:#1f2d3d;color:#fff;padding:14px 24px}header.page h1{margin:0;font-size:20px}"
    "header.page p{margin:4px 0 0;color:#c5cdd8;font-size:13px}"
    "main{max-width:1000px;margin:0 auto;padding:8px 16px 40px}"
    "section.process,section.family{background:#fff;border:1px solid #dde1e6;border-radius:8px;"
    "padding:12px 20px 20px;margin:16px 0}"
    "h2{font-size:18px;margin:6px 0 4px}h3{font-size:15px;margin:22px 0 6px;border-bottom:1px solid #eceef1;"
    "padding-bottom:3px}.sub{color:#5b6472;font-size:13px;margin:0 0 8px;word-break:break-all}"
    "dl.facts{display:grid;grid-template-columns:repeat(4,auto 1fr);gap:2px 10px;font-size:13px;margin:8px 0}"
    "dl.facts dt{color:#5b6472}dl.facts dd{margin:0;font-weight:600}"
    "table{border-collapse:collapse;width:100%;font-size:12.5px}"
    "th,td{padding:3px 7px;border-bottom:1px solid #eceef1;text-align:right;vertical-align:top}"
    "th{background:#f7f8fa;color:#3b4350;font-weight:600}.l{text-align:left}"
    "td.frames{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:11.5px;text-align:left}"
    "svg{display:block;max-width:100%;height:auto}svg text{font-size:11px;fill:#3b4350}"
    ".legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;margin:4px 0 6px}"
    ".legend .sw{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:4px;"
    "vertical-align:-1px}.legend .sw.dashed{height:0;border-top:3px dashed;width:14px;vertical-align:3px}"
    ".occ-grid{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #e3e6ea;border-radius:6px;"
    "padding:6px 8px}.card-title{font-size:12px;margin-bottom:2px}"
    ".none,.note{color:#6b7280;font-size:12.5px}.warn{color:#a12a2a;font-weight:600}"
    "ul.advice{padding-left:18px}ul.advice li{margin:3px 0}.tag{display:inline-block;background:#eef2f8;"
    "border-radius:3px;padding:0 5px;font-size:11.5px;color:#34507a;margin-right:4px}";

static const char *bytes_s(uint64_t b, char *buf, size_t len) { return fmt_bytes(b, buf, len); }

static void fmt_time_utc(uint64_t ns, char *buf, size_t len)
{
    time_t t = (time_t)(ns / 1000000000ull);
    struct tm tm;
    if (ns == 0 || !gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
        snprintf(buf, len, "unknown");
}

static double secs_since(uint64_t t, uint64_t start)
{
    return t >= start ? (double)(t - start) / 1e9 : -((double)(start - t) / 1e9);
}

/* ---- process header and facts */

static void process_header(FILE *out, const struct st_dump *d, const struct st_layers *l)
{
    const struct st_rec_process *p = &d->process;
    char b1[32], b2[32], tm[40];
    fprintf(out, "<h2>pid %u <small class=\"sub\">(parent %u)</small> &mdash; ", p->pid, p->ppid);
    const char *base = strrchr(p->exe, '/');
    html_esc(out, base ? base + 1 : p->exe, sizeof p->exe);
    fputs("</h2>\n<p class=\"sub\">", out);
    html_esc(out, p->cmdline[0] ? p->cmdline : p->exe, sizeof p->cmdline);
    fputs("<br>dump file ", out);
    html_esc(out, d->path, sizeof d->path);
    fmt_time_utc(p->time_ns, tm, sizeof tm);
    fprintf(out, ", written at %s (%s), %.1f s after the shim started</p>\n", tm, reason_name(p->reason),
            secs_since(p->time_ns, p->start_ns));
    if (p->flags & ST_PROC_NOT_INTERPOSED)
        fputs("<p class=\"warn\">another malloc was bound ahead of sesstrim: the program's allocations were not seen.</p>\n", out);
    if (p->flags & ST_PROC_FOREIGN_MALLOC)
        fputs("<p class=\"warn\">malloc is not glibc's in this process: arena figures are off.</p>\n", out);
    if (p->flags & ST_PROC_UNVERIFIED_GLIBC)
        fputs("<p class=\"warn\">glibc version outside the verified range: arena figures may be wrong.</p>\n", out);
    fputs("<dl class=\"facts\">", out);
    fprintf(out, "<dt>RSS</dt><dd>%s</dd><dt>live heap</dt><dd>%s</dd>", bytes_s(l->rss, b1, sizeof b1),
            bytes_s(p->live_bytes, b2, sizeof b2));
    fprintf(out, "<dt>live allocations</dt><dd>%" PRIu64 "</dd><dt>allocs / frees</dt><dd>%" PRIu64 " / %" PRIu64 "</dd>",
            p->live_count, p->total_allocs, p->total_frees);
    fprintf(out, "<dt>free in arenas</dt><dd>%s</dd><dt>arenas / threads</dt><dd>%zu / %zu</dd>",
            bytes_s(layers_free_total(l), b1, sizeof b1), d->n_arenas, d->n_threads);
    fprintf(out, "<dt>sessions</dt><dd>%zu</dd><dt>trims</dt><dd>%zu</dd>", d->n_sessions, d->n_trims);
    fprintf(out, "<dt>glibc</dt><dd>");
    html_esc(out, p->glibc_version, sizeof p->glibc_version);
    fprintf(out, "</dd><dt>shim metadata</dt><dd>%s</dd>", bytes_s(p->meta_bytes, b1, sizeof b1));
    fputs("</dl>\n", out);
}

/* ---- tables */

static void thread_name(const struct st_dump *d, uint32_t idx, FILE *out)
{
    char lab[64];
    model_thread_label(d, idx, false, lab, sizeof lab);
    html_esc(out, lab, sizeof lab);
}

static void table_threads(FILE *out, const struct st_dump *d, int top_n)
{
    fputs("<h3>Threads</h3>\n", out);
    if (d->n_threads == 0) { fputs("<p class=\"none\">No thread records.</p>\n", out); return; }
    struct st_ranked *order = model_rank(d, d->n_threads, rank_thread_live);
    if (!order) return;
    fputs("<table class=\"threads\"><tr><th>#</th><th>tid</th><th class=\"l\">name</th><th class=\"l\">state</th>"
          "<th>allocs</th><th>frees</th><th>allocated</th><th>live</th><th>live count</th>"
          "<th>freed others'</th><th>freed by others</th><th>arena</th></tr>\n", out);
    size_t rows = d->n_threads < MAX_TABLE_ROWS ? d->n_threads : MAX_TABLE_ROWS;
    for (size_t i = 0; i < rows; i++) {
        const struct st_rec_thread *t = &d->threads[order[i].index];
        char b1[32], b2[32], b3[32], b4[32];
        fprintf(out, "<tr class=\"thread\"><td>%u</td><td>%u</td><td class=\"l\">", t->idx, t->tid);
        html_esc(out, t->name, sizeof t->name);
        fprintf(out, "</td><td class=\"l\">%s%s%s</td>", t->flags & ST_THREAD_MAIN ? "main " : "",
                t->flags & ST_THREAD_SHIM ? "shim " : "", t->flags & ST_THREAD_EXITED ? "exited" : "running");
        fprintf(out, "<td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%s</td><td>%s</td><td>%" PRIu64 "</td>"
                     "<td>%s</td><td>%s</td>",
                t->allocs, t->frees, bytes_s(t->alloc_bytes, b1, sizeof b1), bytes_s(t->live_bytes, b2, sizeof b2),
                t->live_count, bytes_s(t->cross_free_bytes, b3, sizeof b3),
                bytes_s(t->freed_by_others_bytes, b4, sizeof b4));
        if (t->home_arena == UINT32_MAX) fputs("<td>-</td></tr>\n", out);
        else fprintf(out, "<td>%u</td></tr>\n", t->home_arena);
    }
    fputs("</table>\n", out);
    if (d->n_threads > rows) fprintf(out, "<p class=\"note\">%zu more threads not shown.</p>\n", d->n_threads - rows);
    free(order);

    if (d->n_xfrees == 0) return;
    /* the heaviest cells of the cross-thread free matrix */
    size_t shown = 0;
    bool *used = calloc(d->n_xfrees, sizeof *used);
    if (!used) return;
    fputs("<p class=\"note\">Cross-thread frees (who freed whose memory), largest first:</p>\n"
          "<table class=\"xfree\"><tr><th class=\"l\">freed by</th><th class=\"l\">allocated by</th><th>frees</th>"
          "<th>bytes</th></tr>\n", out);
    while (shown < (size_t)top_n && shown < d->n_xfrees) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < d->n_xfrees; i++)
            if (!used[i] && (best == SIZE_MAX || d->xfrees[i].bytes > d->xfrees[best].bytes)) best = i;
        used[best] = true;
        char b[32];
        fputs("<tr><td class=\"l\">", out);
        thread_name(d, d->xfrees[best].freer_idx, out);
        fputs("</td><td class=\"l\">", out);
        thread_name(d, d->xfrees[best].alloc_idx, out);
        fprintf(out, "</td><td>%" PRIu64 "</td><td>%s</td></tr>\n", d->xfrees[best].count,
                bytes_s(d->xfrees[best].bytes, b, sizeof b));
        shown++;
    }
    fputs("</table>\n", out);
    free(used);
}

static void table_sessions(FILE *out, const struct st_dump *d)
{
    fputs("<h3>Sessions</h3>\n", out);
    if (d->has_session_summary) {
        const struct st_rec_session_summary *s = &d->session_summary;
        char b1[32], b2[32];
        fprintf(out, "<p class=\"note\">%" PRIu64 " open, %" PRIu64 " ended in total; %" PRIu64 " ended sessions folded "
                     "(%s allocated, %s left over).</p>\n", s->open_sessions, s->ended_sessions_total,
                s->folded_sessions, bytes_s(s->folded_alloc_bytes, b1, sizeof b1),
                bytes_s(s->folded_leftover_bytes, b2, sizeof b2));
    }
    if (d->n_sessions == 0) { fputs("<p class=\"none\">No sessions in this dump.</p>\n", out); return; }
    struct st_ranked *order = model_rank(d, d->n_sessions, rank_session_live);
    if (!order) return;
    fputs("<table class=\"sessions\"><tr><th>id</th><th class=\"l\">name</th><th>parent</th><th class=\"l\">state</th>"
          "<th>live</th><th>live count</th><th>peak</th><th>allocated</th><th>allocs</th><th>leftover</th>"
          "<th>kept in</th><th>duration</th></tr>\n", out);
    size_t rows = d->n_sessions < MAX_TABLE_ROWS ? d->n_sessions : MAX_TABLE_ROWS;
    for (size_t i = 0; i < rows; i++) {
        const struct st_rec_session *s = &d->sessions[order[i].index];
        char b1[32], b2[32], b3[32], b4[32], b5[32], dur[32] = "-";
        bool ended = s->flags & ST_SESSION_ENDED;
        if (ended && s->end_ns >= s->begin_ns) snprintf(dur, sizeof dur, "%.3f s", (double)(s->end_ns - s->begin_ns) / 1e9);
        fprintf(out, "<tr class=\"session\"><td>%" PRIu64 "</td><td class=\"l\">", s->id);
        html_esc(out, s->name, sizeof s->name);
        fprintf(out, "</td><td>%" PRIu64 "</td><td class=\"l\">%s</td><td>%s</td><td>%" PRIu64 "</td><td>%s</td>"
                     "<td>%s</td><td>%" PRIu64 "</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
                s->parent_id, ended ? "ended" : "open", bytes_s(s->live_bytes, b1, sizeof b1), s->live_count,
                bytes_s(s->peak_bytes, b2, sizeof b2), bytes_s(s->total_alloc_bytes, b3, sizeof b3), s->total_allocs,
                bytes_s(s->leftover_bytes, b4, sizeof b4), bytes_s(s->kept_in_bytes, b5, sizeof b5), dur);
    }
    fputs("</table>\n", out);
    if (d->n_sessions > rows) fprintf(out, "<p class=\"note\">%zu more sessions not shown.</p>\n", d->n_sessions - rows);
    free(order);
}

/* Frames read as in every output: symbols.c's one formatter. */
static void write_frame(FILE *out, struct st_symbolizer *sym, const struct st_dump_site *site, uint32_t f)
{
    char buf[600];
    symbolize_frame(sym, site, f, buf, sizeof buf);
    html_esc(out, buf, sizeof buf);
}

static void table_sites(FILE *out, const struct st_dump *d, struct st_symbolizer *sym, int top_n)
{
    fputs("<h3>Top allocation sites (live bytes)</h3>\n", out);
    if (d->n_sites == 0) { fputs("<p class=\"none\">No allocation sites (stacks off?).</p>\n", out); return; }
    struct st_ranked *order = model_rank(d, d->n_sites, rank_site_live);
    if (!order) return;
    fputs("<table class=\"sites\"><tr><th>site</th><th>live</th><th>live count</th><th>allocated (sampled)</th>"
          "<th>allocs</th><th class=\"l\">stack</th></tr>\n", out);
    for (int shown = 0; shown < top_n && (size_t)shown < d->n_sites; shown++) {
        const struct st_dump_site *s = &d->sites[order[shown].index];
        char b1[32], b2[32];
        fprintf(out, "<tr class=\"site\"><td>%u</td><td>%s</td><td>%" PRIu64 "</td><td>%s</td><td>%" PRIu64 "</td>"
                     "<td class=\"frames\">", s->s.id, bytes_s(s->s.live_bytes, b1, sizeof b1), s->s.live_count,
                bytes_s(s->s.total_bytes, b2, sizeof b2), s->s.total_allocs);
        for (uint32_t f = 0; f < s->s.nframes && f < 6 && s->frames; f++) {
            if (f) fputs("<br>", out);
            write_frame(out, sym, s, f);
        }
        if (s->s.nframes > 6) fprintf(out, "<br>... %u more frames", s->s.nframes - 6);
        fputs("</td></tr>\n", out);
    }
    fputs("</table>\n", out);
    free(order);
}

static void table_pins(FILE *out, const struct st_dump *d, struct st_symbolizer *sym)
{
    if (d->n_pins == 0) return;
    fputs("<p class=\"note\">Sites holding live bytes in sparsely used pages (these pages no trim can free):</p>\n"
          "<table class=\"pins\"><tr><th>arena</th><th>site</th><th>pages</th><th>live bytes in them</th>"
          "<th class=\"l\">allocated at</th></tr>\n", out);
    for (size_t i = 0; i < d->n_pins && i < MAX_TABLE_ROWS; i++) {
        char b[32];
        const struct st_dump_site *site = model_site(d, d->pins[i].site_id);
        fprintf(out, "<tr class=\"pin\"><td>%u</td><td>%u</td><td>%" PRIu64 "</td><td>%s</td><td class=\"frames\">",
                d->pins[i].arena_id, d->pins[i].site_id, d->pins[i].pages, bytes_s(d->pins[i].bytes, b, sizeof b));
        if (site && site->s.nframes && site->frames) write_frame(out, sym, site, 0);
        else fputs("-", out);
        fputs("</td></tr>\n", out);
    }
    fputs("</table>\n", out);
}

static void table_trims(FILE *out, const struct st_dump *d)
{
    fputs("<h3>Trims</h3>\n", out);
    if (d->n_trims == 0) { fputs("<p class=\"none\">No trims ran.</p>\n", out); return; }
    uint64_t total = 0;
    for (size_t i = 0; i < d->n_trims; i++) total += d->trims[i].released_bytes;
    char tb[32];
    fprintf(out, "<p class=\"note\">%zu trims released %s in total.</p>\n", d->n_trims, bytes_s(total, tb, sizeof tb));
    fputs("<table class=\"trims\"><tr><th>seq</th><th class=\"l\">trigger</th><th>at</th><th>RSS before</th>"
          "<th>RSS after</th><th>released</th><th>by tops</th><th>by bins</th><th>shim tables</th><th>took</th>"
          "<th>longest lock</th><th>slices</th><th>arenas trimmed / skipped</th><th class=\"l\">flags</th></tr>\n", out);
    size_t rows = d->n_trims < MAX_TABLE_ROWS ? d->n_trims : MAX_TABLE_ROWS;
    for (size_t i = 0; i < rows; i++) {
        const struct st_rec_trim *t = &d->trims[i];
        char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32], fl[96];
        fprintf(out, "<tr class=\"trim\"><td>%u</td><td class=\"l\">%s</td><td>+%.2f s</td><td>%s</td><td>%s</td>"
                     "<td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%.2f ms</td><td>%.3f ms</td><td>%u</td>"
                     "<td>%u / %u</td><td class=\"l\">%s</td></tr>\n",
                t->seq, trigger_name(t->trigger), secs_since(t->time_ns, d->process.start_ns),
                bytes_s(t->rss_before, b1, sizeof b1), bytes_s(t->rss_after, b2, sizeof b2),
                bytes_s(t->released_bytes, b3, sizeof b3), bytes_s(model_trim_tops(d, t), b4, sizeof b4),
                bytes_s(t->bin_released_bytes, b5, sizeof b5), bytes_s(t->shim_released_bytes, b6, sizeof b6),
                (double)t->duration_ns / 1e6, (double)t->max_lock_hold_ns / 1e6, t->slices, t->arenas_trimmed,
                t->arenas_skipped, trim_flags_text(t->flags, ", ", fl, sizeof fl));
    }
    fputs("</table>\n", out);
    if (d->n_trims > rows) fprintf(out, "<p class=\"note\">%zu more trims not shown.</p>\n", d->n_trims - rows);
}

static void list_advice(FILE *out, const struct st_dump *d)
{
    struct st_advice adv[32];
    size_t n = advice_compute(d, adv, sizeof adv / sizeof adv[0]);
    fputs("<h3 class=\"advice-head\">Advice</h3>\n", out);
    if (n == 0) { fputs("<p class=\"none\">Nothing to act on: no rule found both a large ratio and many bytes at stake.</p>\n", out); return; }
    fputs("<ul class=\"advice\">\n", out);
    for (size_t i = 0; i < n; i++) {
        char b[32];
        fputs("<li class=\"advice-item\"><span class=\"tag\">", out);
        html_esc(out, adv[i].id, sizeof adv[i].id);
        fprintf(out, "</span><b>%s</b> at stake: ", bytes_s(adv[i].bytes_at_stake, b, sizeof b));
        html_esc(out, adv[i].text, sizeof adv[i].text);
        fputs("</li>\n", out);
    }
    fputs("</ul>\n", out);
}

/* ---- the page */

static void process_section(FILE *out, const struct st_dump *d, const struct st_report_opts *o, int top_n)
{
    struct st_layers l;
    model_layers(d, &l);
    struct st_symbolizer *sym = symbolizer_for(d, o);
    fprintf(out, "<section class=\"process\" id=\"pid-%u\" data-pid=\"%u\" data-ppid=\"%u\">\n", d->process.pid,
            d->process.pid, d->process.ppid);
    /* What a person needs first: the summary (where the RSS goes) and the advice, then the
     * tables, then the charts that explain them in detail. */
    process_header(out, d, &l);
    fputs("<h3 class=\"summary-head\">Where the RSS goes</h3>\n", out);
    html_chart_layers(out, &l);
    list_advice(out, d);
    table_sessions(out, d);
    table_sites(out, d, sym, top_n);
    table_threads(out, d, top_n);
    table_trims(out, d);
    fputs("<h3>Timeline</h3>\n", out);
    html_chart_timeline(out, d);
    fputs("<h3>Arenas</h3>\n", out);
    html_chart_arenas(out, d);
    fputs("<h3>Page occupancy</h3>\n", out);
    html_chart_occupancy(out, d);
    table_pins(out, d, sym);
    fputs("</section>\n", out);
    if (sym) symbolizer_free(sym);
}

/* One row; the dumps are already in family order (model_family_order), parents first. */
static void family_row(FILE *out, const struct st_dump *dumps, size_t n, size_t at)
{
    const struct st_rec_process *p = &dumps[at].process;
    char b1[32], b2[32];
    int depth = (int)model_family_depth(dumps, n, at);
    fprintf(out, "<tr class=\"family-row\" data-pid=\"%u\" data-ppid=\"%u\"><td class=\"l\" style=\"padding-left:%dpx\">"
                 "<a href=\"#pid-%u\">%u</a></td><td>%u</td><td class=\"l\">", p->pid, p->ppid,
            7 + (depth > 32 ? 32 : depth) * 18, p->pid, p->pid, p->ppid);
    html_esc(out, p->cmdline[0] ? p->cmdline : p->exe, 120);
    fprintf(out, "</td><td>%s</td><td>%s</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td class=\"l\">%s</td></tr>\n",
            bytes_s(p->rss_bytes, b1, sizeof b1), bytes_s(p->live_bytes, b2, sizeof b2), p->live_count,
            p->total_allocs, reason_name(p->reason));
}

static void family_section(FILE *out, const struct st_dump *dumps, size_t n)
{
    struct st_family f;
    model_family(dumps, n, &f);
    char b1[32], b2[32];
    fprintf(out, "<section class=\"family\"><h2>Process family: %zu processes</h2>\n<p class=\"sub\">%s RSS and %s live "
                 "heap in total (shared memory counted once).</p>\n",
            f.processes, bytes_s(f.rss_bytes, b1, sizeof b1), bytes_s(f.live_bytes, b2, sizeof b2));
    html_chart_family(out, dumps, n);
    fputs("<table class=\"family\"><tr><th class=\"l\">pid</th><th>parent</th><th class=\"l\">command</th><th>RSS</th>"
          "<th>live</th><th>live count</th><th>allocs</th><th class=\"l\">dump</th></tr>\n", out);
    for (size_t i = 0; i < n; i++) /* an earlier dump of a pid is not a row of its own */
        if (model_is_latest(dumps, n, i)) family_row(out, dumps, n, i);
    fputs("</table></section>\n", out);
}

int report_html(const char *path, struct st_dump *dumps, size_t n, const struct st_report_opts *o)
{
    FILE *out = fopen(path, "w");
    if (!out) {
        fprintf(stderr, "sesstrim-report: cannot write %s: %m\n", path);
        return 2;
    }
    int top_n = o && o->top_n > 0 ? o->top_n : 10;
    fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                 "<title>sesstrim report</title>\n<style>%s</style></head><body>\n", page_css);
    fputs("<header class=\"page\"><h1>sesstrim report</h1><p>", out);
    if (n == 1) {
        fprintf(out, "pid %u, ", dumps[0].process.pid);
        html_esc(out, dumps[0].process.exe, sizeof dumps[0].process.exe);
    } else {
        fprintf(out, "%zu processes", n);
    }
    fputs("</p></header>\n<main>\n", out);
    struct st_family fam;
    model_family(dumps, n, &fam);
    if (fam.processes > 1) family_section(out, dumps, n);
    for (size_t i = 0; i < n; i++)
        if (model_is_latest(dumps, n, i)) process_section(out, &dumps[i], o, top_n);
    fputs("</main></body></html>\n", out);
    bool failed = ferror(out) != 0;
    if (fclose(out) != 0 || failed) {
        fprintf(stderr, "sesstrim-report: error writing %s\n", path);
        return 2;
    }
    return 0;
}
