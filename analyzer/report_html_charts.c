/* report_html_charts.c: the inline SVG charts of the HTML report: RSS layers, timeline,
 * arena bars (live / free / released), page-occupancy histograms and the process family. */
#include "report_html.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#define CHART_W 960

static const char *arena_palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
#define PALETTE_N (sizeof arena_palette / sizeof arena_palette[0])

void html_esc(FILE *out, const char *s, size_t max)
{
    for (size_t i = 0; i < max && s[i]; i++) {
        switch (s[i]) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default:
            if ((unsigned char)s[i] < 0x20) fputc(' ', out);
            else fputc(s[i], out);
        }
    }
}

uint64_t html_arena_released(const struct st_dump *d, uint32_t arena_id)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < d->n_trim_arenas; i++)
        if (d->trim_arenas[i].arena_id == arena_id) sum += d->trim_arenas[i].released_bytes;
    return sum;
}

/* A tick step of 1, 2 or 5 times a power of ten, giving about `ticks` ticks over span. */
static double nice_step(double span, int ticks)
{
    if (span <= 0) return 1;
    double raw = span / ticks, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/* Byte axis in one binary unit so labels read "40 MiB", not "41943040". */
struct byte_axis { double top, step, unit; const char *unit_name; };

static struct byte_axis byte_axis_for(uint64_t max_bytes)
{
    static const char *names[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    struct byte_axis ax = {0, 0, 1, names[0]};
    int u = 0;
    while (u < 5 && (double)max_bytes >= ax.unit * 1024.0) { ax.unit *= 1024.0; u++; }
    ax.unit_name = names[u];
    double v = (double)max_bytes / ax.unit;
    if (v <= 0) v = 1;
    ax.step = nice_step(v, 5);
    ax.top = ceil(v / ax.step) * ax.step * ax.unit;
    ax.step *= ax.unit;
    return ax;
}

static void title_bytes(FILE *out, const char *what, uint64_t bytes)
{
    char b[32];
    fprintf(out, "<title>%s: %s</title>", what, fmt_bytes(bytes, b, sizeof b));
}

/* ---- summary: the RSS layers as one stacked bar */

void html_chart_layers(FILE *out, const struct st_layers *l)
{
    /* The model's rows, less "free in arenas" (its parts are drawn), each with a colour. */
    static const char *colors[] = {"#2f6fd0", "#8db3ea", "#f3a73b", "#fbd38d", "#f7c873", "#e0672f",
                                   "#f1dca7", "#9b59b6", "#3aa876", "#c0392b", "#7f8c8d", "#b9bec6"};
    struct st_layer_row rows[ST_LAYER_ROWS];
    size_t nrows = model_layer_rows(l, rows), n = 0;
    struct { const char *key, *color; char label[64]; uint64_t v; } layers[ST_LAYER_ROWS];
    for (size_t i = 0; i < nrows; i++) {
        if (!strcmp(rows[i].key, "free_total")) continue;
        layers[n].key = rows[i].key;
        snprintf(layers[n].label, sizeof layers[n].label, "%s%s", rows[i].depth ? "free " : "", rows[i].label);
        layers[n].color = colors[n % (sizeof colors / sizeof colors[0])];
        layers[n].v = rows[i].bytes;
        n++;
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) sum += layers[i].v;
    uint64_t total = sum > l->rss ? sum : l->rss;
    const double bar_w = CHART_W - 20;
    char b[32];
    fprintf(out, "<svg class=\"chart layers\" width=\"%d\" height=\"64\" viewBox=\"0 0 %d 64\" "
                 "data-rss=\"%" PRIu64 "\" role=\"img\" aria-label=\"RSS layers\">\n",
            CHART_W, CHART_W, l->rss);
    double x = 10;
    for (size_t i = 0; i < n; i++) {
        double w = total ? bar_w * (double)layers[i].v / (double)total : 0;
        fprintf(out, "<rect class=\"layer\" data-layer=\"%s\" data-bytes=\"%" PRIu64 "\" x=\"%.2f\" y=\"8\" "
                     "width=\"%.2f\" height=\"34\" fill=\"%s\">",
                layers[i].key, layers[i].v, x, w, layers[i].color);
        title_bytes(out, layers[i].label, layers[i].v);
        fputs("</rect>\n", out);
        if (w > 80)
            fprintf(out, "<text x=\"%.1f\" y=\"30\" fill=\"#fff\" style=\"fill:#fff\" font-weight=\"600\">%s</text>\n",
                    x + 6, fmt_bytes(layers[i].v, b, sizeof b));
        x += w;
    }
    fprintf(out, "<text x=\"10\" y=\"58\">0</text><text x=\"%.0f\" y=\"58\" text-anchor=\"end\">RSS %s</text>\n",
            10 + bar_w, fmt_bytes(l->rss, b, sizeof b));
    fputs("</svg>\n<div class=\"legend\">", out);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "<span class=\"item\"><span class=\"sw\" style=\"background:%s\"></span>%s "
                     "<b>%s</b> <small>%.1f%%</small></span>",
                layers[i].color, layers[i].label, fmt_bytes(layers[i].v, b, sizeof b),
                share_pct(layers[i].v, l->rss ? l->rss : total));
    fputs("</div>\n", out);
}

/* ---- timeline: RSS, live bytes, heap resident, per-arena resident, events */

enum { TL_H = 300, TL_LEFT = 74, TL_RIGHT = 16, TL_TOP = 12, TL_BOTTOM = 34 };

struct tl_scale { uint64_t t0; double span_s; struct byte_axis y; };

static double tl_x(const struct tl_scale *s, uint64_t t_ns)
{
    double sec = t_ns >= s->t0 ? (double)(t_ns - s->t0) / 1e9 : 0;
    return TL_LEFT + (CHART_W - TL_LEFT - TL_RIGHT) * (s->span_s > 0 ? sec / s->span_s : 0.5);
}

static double tl_y(const struct tl_scale *s, uint64_t bytes)
{
    double plot_h = TL_H - TL_TOP - TL_BOTTOM;
    return TL_TOP + plot_h - plot_h * (s->y.top > 0 ? (double)bytes / s->y.top : 0);
}

static void tl_axes(FILE *out, const struct tl_scale *s)
{
    for (double v = 0; v <= s->y.top * 1.0001; v += s->y.step) {
        double y = tl_y(s, (uint64_t)v);
        fprintf(out, "<line class=\"grid\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e8eb\"/>"
                     "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g %s</text>\n",
                TL_LEFT, CHART_W - TL_RIGHT, y, y, TL_LEFT - 6, y + 4, v / s->y.unit, s->y.unit_name);
    }
    double step = nice_step(s->span_s > 0 ? s->span_s : 1, 8);
    bool ms = s->span_s < 2;
    for (double t = 0; t <= s->span_s * 1.0001; t += step) {
        double x = tl_x(s, s->t0 + (uint64_t)(t * 1e9));
        fprintf(out, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#999\"/>"
                     "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g %s</text>\n",
                x, x, TL_H - TL_BOTTOM, TL_H - TL_BOTTOM + 4, x, TL_H - TL_BOTTOM + 17,
                ms ? t * 1000 : t, ms ? "ms" : "s");
    }
    fprintf(out, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#999\"/>\n", TL_LEFT,
            CHART_W - TL_RIGHT, TL_H - TL_BOTTOM, TL_H - TL_BOTTOM);
}

static uint64_t tl_value(const struct st_dump_timeline *p, int series)
{
    switch (series) {
    case 0: return p->t.rss_bytes;
    case 1: return p->t.live_bytes;
    default: return p->t.heap_resident_bytes;
    }
}

void html_chart_timeline(FILE *out, const struct st_dump *d)
{
    if (d->n_timeline == 0) {
        fputs("<p class=\"none\">No timeline in this dump (set SESSTRIM_TIMELINE_INTERVAL=ms to record one).</p>\n", out);
        return;
    }
    struct tl_scale s;
    uint64_t t_last = 0, max_bytes = 0;
    uint32_t max_arenas = 0;
    s.t0 = d->timeline[0].t.time_ns;
    for (size_t i = 0; i < d->n_timeline; i++) {
        const struct st_dump_timeline *p = &d->timeline[i];
        if (p->t.time_ns < s.t0) s.t0 = p->t.time_ns;
        if (p->t.time_ns > t_last) t_last = p->t.time_ns;
        for (int k = 0; k < 3; k++) if (tl_value(p, k) > max_bytes) max_bytes = tl_value(p, k);
        for (uint32_t a = 0; a < p->t.narenas && p->arena_resident; a++)
            if (p->arena_resident[a] > max_bytes) max_bytes = p->arena_resident[a];
        if (p->t.narenas > max_arenas) max_arenas = p->t.narenas;
    }
    if (max_arenas > 64) max_arenas = 64;   /* beyond that the lines are noise */
    s.span_s = (double)(t_last - s.t0) / 1e9;
    s.y = byte_axis_for(max_bytes);
    fprintf(out, "<svg class=\"chart timeline\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                 "data-records=\"%zu\" role=\"img\" aria-label=\"timeline\">\n",
            CHART_W, TL_H, CHART_W, TL_H, d->n_timeline);
    tl_axes(out, &s);

    /* events under the lines, so the data stays readable */
    size_t n_events = 0;
    for (size_t i = 0; i < d->n_timeline; i++) {
        const struct st_rec_timeline *t = &d->timeline[i].t;
        if (t->event == ST_EV_SAMPLE) continue;
        const char *color = t->event == ST_EV_TRIM ? "#2ca02c" : t->event == ST_EV_SESSION_END ? "#9467bd" : "#777";
        double x = tl_x(&s, t->time_ns);
        fprintf(out, "<g class=\"event event-%s\" data-arg=\"%" PRIu64 "\"><line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" "
                     "y2=\"%d\" stroke=\"%s\" stroke-dasharray=\"%s\" stroke-width=\"1.2\"/>"
                     "<path d=\"M%.1f %d l-4 -7 h8 z\" fill=\"%s\"/><title>%s %" PRIu64 " at +%.3f s</title></g>\n",
                event_name(t->event), t->event_arg, x, x, TL_TOP, TL_H - TL_BOTTOM, color,
                t->event == ST_EV_TRIM ? "4 2" : "1 3", x, TL_TOP + 7, color, event_name(t->event),
                t->event_arg, (double)(t->time_ns - s.t0) / 1e9);
        n_events++;
    }

    for (uint32_t a = 0; a < max_arenas; a++) {
        fprintf(out, "<polyline class=\"series series-arena\" data-arena-id=\"%u\" fill=\"none\" stroke=\"%s\" "
                     "stroke-width=\"1.2\" stroke-opacity=\"0.75\" stroke-dasharray=\"5 3\" points=\"",
                a, arena_palette[a % PALETTE_N]);
        for (size_t i = 0; i < d->n_timeline; i++) {
            const struct st_dump_timeline *p = &d->timeline[i];
            if (a < p->t.narenas && p->arena_resident)
                fprintf(out, "%.1f,%.1f ", tl_x(&s, p->t.time_ns), tl_y(&s, p->arena_resident[a]));
        }
        fputs("\"/>\n", out);
    }
    static const struct { const char *cls, *color; double width; } series[] = {
        {"series-rss", "#d62728", 2.2}, {"series-live", "#2f6fd0", 2.2}, {"series-heap", "#f3a73b", 1.6},
    };
    for (int k = 0; k < 3; k++) {
        fprintf(out, "<polyline class=\"series %s\" fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" points=\"",
                series[k].cls, series[k].color, series[k].width);
        for (size_t i = 0; i < d->n_timeline; i++)
            fprintf(out, "%.1f,%.1f ", tl_x(&s, d->timeline[i].t.time_ns), tl_y(&s, tl_value(&d->timeline[i], k)));
        fputs("\"/>\n", out);
    }
    if (d->n_timeline <= HTML_MAX_TIMELINE_POINTS) {
        for (size_t i = 0; i < d->n_timeline; i++) {
            const struct st_rec_timeline *t = &d->timeline[i].t;
            char rb[32], lb[32];
            fprintf(out, "<circle class=\"tl-point\" data-i=\"%zu\" data-rss=\"%" PRIu64 "\" data-live=\"%" PRIu64
                         "\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.4\" fill=\"#d62728\"><title>+%.3f s: RSS %s, live %s%s%s</title></circle>\n",
                    i, t->rss_bytes, t->live_bytes, tl_x(&s, t->time_ns), tl_y(&s, t->rss_bytes),
                    (double)(t->time_ns - s.t0) / 1e9, fmt_bytes(t->rss_bytes, rb, sizeof rb),
                    fmt_bytes(t->live_bytes, lb, sizeof lb), t->event ? ", " : "", t->event ? event_name(t->event) : "");
        }
    }
    fputs("</svg>\n<div class=\"legend\">"
          "<span class=\"item\"><span class=\"sw\" style=\"background:#d62728\"></span>RSS</span>"
          "<span class=\"item\"><span class=\"sw\" style=\"background:#2f6fd0\"></span>live bytes</span>"
          "<span class=\"item\"><span class=\"sw\" style=\"background:#f3a73b\"></span>heap resident</span>", out);
    for (uint32_t a = 0; a < max_arenas && a < 12; a++)
        fprintf(out, "<span class=\"item\"><span class=\"sw dashed\" style=\"border-color:%s\"></span>arena %u</span>",
                arena_palette[a % PALETTE_N], a);
    if (max_arenas > 12) fprintf(out, "<span class=\"item\">... %u arenas</span>", max_arenas);
    fprintf(out, "<span class=\"item\"><span class=\"sw dashed\" style=\"border-color:#2ca02c\"></span>trim</span>"
                 "<span class=\"item\"><span class=\"sw dashed\" style=\"border-color:#9467bd\"></span>session end</span>"
                 "</div>\n<p class=\"note\">%zu samples over %.1f s, %zu events%s.</p>\n",
            d->n_timeline, s.span_s, n_events,
            d->n_timeline > HTML_MAX_TIMELINE_POINTS ? " (point markers omitted: too many samples)" : "");
}

/* ---- arenas: one bar per arena, live / free / released */

enum { AR_ROW = 26, AR_LABEL = 120, AR_BAR = 400 };

void html_chart_arenas(FILE *out, const struct st_dump *d)
{
    if (d->n_arenas == 0) {
        fputs("<p class=\"none\">No arena records (arena logic off in this process).</p>\n", out);
        return;
    }
    uint64_t scale = 1;
    for (size_t i = 0; i < d->n_arenas; i++) {
        const struct st_rec_arena *a = &d->arenas[i];
        uint64_t t = a->live_chunk_bytes + arena_free_resident(a) + html_arena_released(d, a->id);
        if (t > scale) scale = t;
    }
    int h = (int)d->n_arenas * AR_ROW + 8;
    fprintf(out, "<svg class=\"chart arenas\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" data-arenas=\"%zu\" "
                 "role=\"img\" aria-label=\"arenas\">\n", CHART_W, h, CHART_W, h, d->n_arenas);
    for (size_t i = 0; i < d->n_arenas; i++) {
        const struct st_rec_arena *a = &d->arenas[i];
        /* free pages a trim already returned stay in the bins: count only the resident part,
         * so released bytes are not shown twice */
        uint64_t seg[3] = {a->live_chunk_bytes, arena_free_resident(a), html_arena_released(d, a->id)};
        static const char *cls[3] = {"seg-live", "seg-free", "seg-released"};
        static const char *what[3] = {"live (chunk bytes)", "free, still resident", "released by trims"};
        static const char *color[3] = {"#2f6fd0", "#f3a73b", "#a9d8b0"};
        int y = 4 + (int)i * AR_ROW;
        fprintf(out, "<g class=\"arena-bar\" data-arena-id=\"%u\" data-live=\"%" PRIu64 "\" data-free=\"%" PRIu64
                     "\" data-released=\"%" PRIu64 "\" data-free-total=\"%" PRIu64 "\"><text x=\"0\" y=\"%d\">arena %u%s</text>",
                a->id, seg[0], seg[1], seg[2], arena_free_bytes(a), y + 15, a->id, a->kind == ST_ARENA_MAIN ? " (main)" : "");
        double x = AR_LABEL;
        for (int k = 0; k < 3; k++) {
            double w = (double)AR_BAR * (double)seg[k] / (double)scale;
            fprintf(out, "<rect class=\"seg %s\" data-bytes=\"%" PRIu64 "\" x=\"%.2f\" y=\"%d\" width=\"%.2f\" "
                         "height=\"18\" fill=\"%s\"%s>",
                    cls[k], seg[k], x, y + 2, w, color[k], k == 2 ? " stroke=\"#5fae6c\" stroke-dasharray=\"2 2\"" : "");
            title_bytes(out, what[k], seg[k]);
            fputs("</rect>", out);
            x += w;
        }
        char lb[32], fb[32], rb[32], resb[32];
        fprintf(out, "<text x=\"%d\" y=\"%d\">%s live · %s free · %s released · %s resident</text></g>\n",
                AR_LABEL + AR_BAR + 10, y + 15, fmt_bytes(seg[0], lb, sizeof lb), fmt_bytes(seg[1], fb, sizeof fb),
                fmt_bytes(seg[2], rb, sizeof rb), fmt_bytes(a->resident_bytes, resb, sizeof resb));
    }
    fputs("</svg>\n<div class=\"legend\">"
          "<span class=\"item\"><span class=\"sw\" style=\"background:#2f6fd0\"></span>live</span>"
          "<span class=\"item\"><span class=\"sw\" style=\"background:#f3a73b\"></span>free, still resident (bins + fastbins + top)</span>"
          "<span class=\"item\"><span class=\"sw\" style=\"background:#a9d8b0\"></span>released by trims (total)</span>"
          "</div>\n", out);
}

/* ---- page occupancy: one small histogram per arena */

static const char *occ_color(int bucket)
{
    if (bucket == 0) return "#b9bec6";      /* empty resident pages: a trim can return them */
    if (bucket == 1) return "#d62728";      /* pinned by a few live bytes */
    if (bucket <= 4) return "#f3a73b";
    return "#2f6fd0";
}

void html_chart_occupancy(FILE *out, const struct st_dump *d)
{
    if (d->n_occupancy == 0) {
        fputs("<p class=\"none\">No page-occupancy records in this dump.</p>\n", out);
        return;
    }
    enum { W = 300, H = 150, L = 44, B = 30, T = 8 };
    fputs("<div class=\"occ-grid\">\n", out);
    for (size_t i = 0; i < d->n_occupancy; i++) {
        const struct st_rec_occupancy *o = &d->occupancy[i];
        uint64_t max = 1, total = 0;
        for (int b = 0; b < ST_OCC_BUCKETS; b++) {
            if (o->pages[b] > max) max = o->pages[b];
            total += o->pages[b];
        }
        double sparse = share_pct(o->pages[0] + o->pages[1], total);
        fprintf(out, "<div class=\"card\"><div class=\"card-title\">arena %u: %" PRIu64 " resident pages, "
                     "<b>%.0f%%</b> hold &lt; 10%% live bytes</div>\n", o->arena_id, total, sparse);
        fprintf(out, "<svg class=\"chart occupancy\" data-arena-id=\"%u\" width=\"%d\" height=\"%d\" "
                     "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"page occupancy\">\n",
                o->arena_id, W, H, W, H);
        double plot_h = H - T - B, slot = (double)(W - L - 6) / ST_OCC_BUCKETS;
        fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%" PRIu64 "</text><text x=\"%d\" y=\"%d\" "
                     "text-anchor=\"end\">0</text><line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#999\"/>\n",
                L - 4, T + 10, max, L - 4, H - B, L, W - 6, H - B, H - B);
        for (int b = 0; b < ST_OCC_BUCKETS; b++) {
            double bh = plot_h * (double)o->pages[b] / (double)max;
            double x = L + slot * b + 2;
            fprintf(out, "<rect class=\"occ-bar\" data-bucket=\"%d\" data-pages=\"%" PRIu64 "\" x=\"%.1f\" y=\"%.1f\" "
                         "width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>%s%d%%: %" PRIu64 " pages</title></rect>",
                    b, o->pages[b], x, H - B - bh, slot - 4, bh, occ_color(b), b == 0 ? "" : "up to ",
                    b * 10, o->pages[b]);
            fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" style=\"font-size:9.5px\">%d</text>",
                    x + (slot - 4) / 2, H - B + 13, b * 10);
            fputc('\n', out);
        }
        fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">live bytes per page, up to %%</text>\n",
                L + (W - L) / 2, H - 3);
        fputs("</svg></div>\n", out);
    }
    fputs("</div>\n<div class=\"legend\">"
          "<span class=\"item\"><span class=\"sw\" style=\"background:#b9bec6\"></span>empty (trim can return)</span>"
          "<span class=\"item\"><span class=\"sw\" style=\"background:#d62728\"></span>&le; 10% live: pinned</span>"
          "<span class=\"item\"><span class=\"sw\" style=\"background:#f3a73b\"></span>10&ndash;40%</span>"
          "<span class=\"item\"><span class=\"sw\" style=\"background:#2f6fd0\"></span>&gt; 40%</span></div>\n", out);
}

/* ---- process family: one bar per process, live vs the rest of its RSS */

void html_chart_family(FILE *out, const struct st_dump *dumps, size_t n)
{
    uint64_t max = 1;
    for (size_t i = 0; i < n; i++) if (dumps[i].process.rss_bytes > max) max = dumps[i].process.rss_bytes;
    for (size_t i = 0; i < n; i++) if (dumps[i].process.live_bytes > max) max = dumps[i].process.live_bytes;
    int h = (int)n * AR_ROW + 8;
    fprintf(out, "<svg class=\"chart family\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" data-processes=\"%zu\" "
                 "role=\"img\" aria-label=\"process family\">\n", CHART_W, h, CHART_W, h, n);
    for (size_t i = 0; i < n; i++) {
        const struct st_rec_process *p = &dumps[i].process;
        uint64_t live = p->live_bytes < p->rss_bytes ? p->live_bytes : p->rss_bytes;
        int y = 4 + (int)i * AR_ROW;
        double wl = (double)AR_BAR * (double)live / (double)max;
        double wr = (double)AR_BAR * (double)(p->rss_bytes - live) / (double)max;
        char rb[32], lb[32];
        fprintf(out, "<g class=\"proc-bar\" data-pid=\"%u\" data-ppid=\"%u\"><text x=\"0\" y=\"%d\">pid %u</text>"
                     "<rect class=\"seg seg-live\" x=\"%d\" y=\"%d\" width=\"%.2f\" height=\"18\" fill=\"#2f6fd0\"/>"
                     "<rect class=\"seg seg-rest\" x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"18\" fill=\"#b9bec6\"/>"
                     "<text x=\"%d\" y=\"%d\">%s live of %s RSS</text></g>\n",
                p->pid, p->ppid, y + 15, p->pid, AR_LABEL, y + 2, wl, AR_LABEL + wl, y + 2, wr,
                AR_LABEL + AR_BAR + 10, y + 15, fmt_bytes(p->live_bytes, lb, sizeof lb),
                fmt_bytes(p->rss_bytes, rb, sizeof rb));
    }
    fputs("</svg>\n", out);
}
