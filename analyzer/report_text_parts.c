/* report_text_parts.c: the later sections of the text report (family table, cross-thread
 * matrix, mmaps, sessions, sites, occupancy, timeline, trims, advice). */
#include <stdlib.h>
#include <string.h>
#include "report_text_parts.h"

#define B(v) fmt_bytes((v), (char[32]){0}, 32)
#define MAX_ADVICE 32

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

void text_config(FILE *o, const struct st_dump *d)
{
    char buf[1024];
    if (!d->has_config) {
        fprintf(o, "  settings: not recorded (dump from an older sesstrim)\n");
        return;
    }
    model_config_describe(d, buf, sizeof buf);
    fprintf(o, "  settings in force: %s\n", buf);
}

void text_family(FILE *o, const struct st_dump *dumps, size_t n)
{
    struct st_family f;
    model_family(dumps, n, &f);
    fprintf(o, "Process family: %zu processes, RSS %s in total (shared memory counted once; %s summed), live heap %s\n",
            f.processes, B(f.rss_bytes), B(f.rss_sum_bytes), B(f.live_bytes));
    fprintf(o, "  %8s %8s %-24s %12s %12s %6s %7s %8s\n", "pid", "ppid", "exe", "rss", "live", "arenas",
            "threads", "sessions");
    for (size_t i = 0; i < n; i++) {
        const struct st_dump *d = &dumps[i];
        if (!model_is_latest(dumps, n, i)) continue;
        size_t depth = model_family_depth(dumps, n, i);
        char exe[48];
        int ind = depth > 4 ? 8 : (int)depth * 2;
        snprintf(exe, sizeof exe, "%*s%s%s", ind > 2 ? ind - 2 : 0, "", depth ? "`-" : "",
                 d->process.exe[0] ? base_name(d->process.exe) : "?");
        fprintf(o, "  %8u %8u %-24s %12s %12s %6zu %7zu %8zu%s\n", d->process.pid, d->process.ppid, exe,
                B(d->process.rss_bytes), B(d->process.live_bytes), d->n_arenas, d->n_threads, d->n_sessions,
                model_previous(dumps, n, i) ? "   (latest of several dumps)" : "");
    }
    fprintf(o, "  %8s %8s %-24s %12s %12s\n", "total", "", "", B(f.rss_bytes), B(f.live_bytes));
}

static uint64_t xfree_key(const struct st_dump *d, size_t i) { return d->xfrees[i].bytes; }

#define MATRIX_MAX 8

void text_xfree(FILE *o, const struct st_dump *d, const struct st_report_opts *opt)
{
    if (d->n_xfrees == 0) {
        fprintf(o, "\nCross-thread frees: none\n");
        return;
    }
    /* Distinct freers and allocators; a matrix while it fits on a screen, else a list. */
    uint32_t rows[MATRIX_MAX], cols[MATRIX_MAX];
    size_t nr = 0, nc = 0;
    bool fits = true;
    uint64_t total = 0, count = 0;
    for (size_t i = 0; i < d->n_xfrees; i++) {
        const struct st_rec_xfree *x = &d->xfrees[i];
        total += x->bytes;
        count += x->count;
        size_t r = 0, c = 0;
        while (r < nr && rows[r] != x->freer_idx) r++;
        while (c < nc && cols[c] != x->alloc_idx) c++;
        if (r == nr) { if (nr == MATRIX_MAX) fits = false; else rows[nr++] = x->freer_idx; }
        if (c == nc) { if (nc == MATRIX_MAX) fits = false; else cols[nc++] = x->alloc_idx; }
    }
    fprintf(o, "\nCross-thread frees: %llu frees, %s (freed by the row thread, allocated by the column thread)\n",
            (unsigned long long)count, B(total));
    char lab[64];
    if (fits) {
        fprintf(o, "  %-20s", "freer \\ allocator");
        for (size_t c = 0; c < nc; c++) fprintf(o, " %16.16s", model_thread_label(d, cols[c], true, lab, sizeof lab));
        fprintf(o, "\n");
        for (size_t r = 0; r < nr; r++) {
            fprintf(o, "  %-20.20s", model_thread_label(d, rows[r], true, lab, sizeof lab));
            for (size_t c = 0; c < nc; c++) {
                uint64_t bytes = 0, cnt = 0;
                for (size_t i = 0; i < d->n_xfrees; i++)
                    if (d->xfrees[i].freer_idx == rows[r] && d->xfrees[i].alloc_idx == cols[c]) {
                        bytes += d->xfrees[i].bytes;
                        cnt += d->xfrees[i].count;
                    }
                fprintf(o, " %16s", cnt ? B(bytes) : "-");
            }
            fprintf(o, "\n");
        }
        return;
    }
    struct st_ranked *r = model_rank(d, d->n_xfrees, xfree_key);
    if (!r) return;
    fprintf(o, "  %-20s    %-20s %10s %12s\n", "freer", "allocator", "count", "bytes");
    for (size_t i = 0; i < d->n_xfrees && i < (size_t)opt->top_n; i++) {
        const struct st_rec_xfree *x = &d->xfrees[r[i].index];
        char lab2[64];
        fprintf(o, "  %-20.20s <- %-20.20s %10llu %12s\n", model_thread_label(d, x->freer_idx, true, lab, sizeof lab),
                model_thread_label(d, x->alloc_idx, true, lab2, sizeof lab2), (unsigned long long)x->count, B(x->bytes));
    }
    if (d->n_xfrees > (size_t)opt->top_n) fprintf(o, "  ... %zu more pairs\n", d->n_xfrees - (size_t)opt->top_n);
    free(r);
}

void text_mmaps(FILE *o, const struct st_dump *d)
{
    const struct st_rec_mmaps *m = &d->mmaps;
    if (!d->has_mmaps || (m->mmap_calls == 0 && m->anon_count == 0 && m->file_count == 0)) {
        fprintf(o, "\nProgram mmaps: none%s\n", d->has_mmaps ? " (no mmap calls)" : " recorded");
        return;
    }
    fprintf(o, "\nProgram mmaps (live, made by the program itself)\n");
    fprintf(o, "  %-10s %8llu maps %12s\n", "anonymous", (unsigned long long)m->anon_count, B(m->anon_bytes));
    fprintf(o, "  %-10s %8llu maps %12s\n", "file", (unsigned long long)m->file_count, B(m->file_bytes));
    fprintf(o, "  calls: mmap %llu, munmap %llu, mremap %llu, munmap of unknown ranges %llu\n",
            (unsigned long long)m->mmap_calls, (unsigned long long)m->munmap_calls,
            (unsigned long long)m->mremap_calls, (unsigned long long)m->untracked_munmaps);
}

static uint64_t open_key(const struct st_dump *d, size_t i)
{
    const struct st_rec_session *s = &d->sessions[i];
    return s->flags & ST_SESSION_ENDED ? 0 : s->live_bytes + 1;
}

static uint64_t ended_key(const struct st_dump *d, size_t i)
{
    const struct st_rec_session *s = &d->sessions[i];
    return s->flags & ST_SESSION_ENDED ? s->leftover_bytes + 1 : 0;
}

static void session_rows(FILE *o, const struct st_dump *d, struct st_ranked *r, size_t limit)
{
    size_t shown = 0, more = 0;
    for (size_t i = 0; i < d->n_sessions; i++) {
        if (r[i].key == 0) break;
        if (shown == limit) { more++; continue; }
        const struct st_rec_session *s = &d->sessions[r[i].index];
        bool ended = s->flags & ST_SESSION_ENDED;
        fprintf(o, "  %11llu %-24.24s %-6s %12s %10llu %12s %12s %12s %8llu\n", (unsigned long long)s->id,
                s->name[0] ? s->name : "-", ended ? "ended" : "open", B(s->live_bytes),
                (unsigned long long)s->live_count, B(s->peak_bytes), B(s->total_alloc_bytes),
                ended ? B(s->leftover_bytes) : "-", (unsigned long long)s->leftover_count);
        shown++;
    }
    if (more) fprintf(o, "  ... %zu more\n", more);
}

static uint64_t session_site_key(const struct st_dump *d, size_t i)
{
    return d->session_sites[i].bytes;
}

#define LEFTOVER_SESSIONS 3
#define LEFTOVER_SITES 3

/* Where the leftovers of the sessions that left the most were allocated. */
static void leftover_sites(FILE *o, const struct st_dump *d, struct st_ranked *ended, struct st_symbolizer *sym)
{
    if (d->n_session_sites == 0) return;
    struct st_ranked *by_bytes = model_rank(d, d->n_session_sites, session_site_key);
    if (!by_bytes) return;
    for (size_t i = 0; i < d->n_sessions && i < LEFTOVER_SESSIONS; i++) {
        if (ended[i].key <= 1) break; /* key is leftover bytes + 1 for ended sessions */
        const struct st_rec_session *s = &d->sessions[ended[i].index];
        size_t shown = 0;
        for (size_t k = 0; k < d->n_session_sites && shown < LEFTOVER_SITES; k++) {
            const struct st_rec_session_site *ss = &d->session_sites[by_bytes[k].index];
            if (ss->session_id != s->id) continue;
            if (shown++ == 0) fprintf(o, "  leftovers of '%s' (session %llu) by site:\n", s->name, (unsigned long long)s->id);
            const struct st_dump_site *site = model_site(d, ss->site_id);
            char where[512] = "(site not in dump)";
            if (site && site->s.nframes) symbolize_frame(sym, site, 0, where, sizeof where);
            fprintf(o, "    site %6u %12s %8llu allocations  %s\n", ss->site_id, B(ss->bytes),
                    (unsigned long long)ss->count, where);
        }
    }
    free(by_bytes);
}

void text_sessions(FILE *o, const struct st_dump *d, const struct st_report_opts *opt, struct st_symbolizer *sym)
{
    const struct st_rec_session_summary *ss = &d->session_summary;
    if (d->n_sessions == 0 && (!d->has_session_summary || (ss->ended_sessions_total == 0 && ss->open_sessions == 0))) {
        fprintf(o, "\nSessions: none\n");
        return;
    }
    size_t open = 0;
    for (size_t i = 0; i < d->n_sessions; i++) open += !(d->sessions[i].flags & ST_SESSION_ENDED);
    fprintf(o, "\nSessions: %zu open, %zu ended kept", open, d->n_sessions - open);
    if (d->has_session_summary)
        fprintf(o, ", %llu ended in total (%llu folded: %s allocated, %s left over)",
                (unsigned long long)ss->ended_sessions_total, (unsigned long long)ss->folded_sessions,
                B(ss->folded_alloc_bytes), B(ss->folded_leftover_bytes));
    fprintf(o, "\n");
    if (d->n_sessions == 0) return;
    fprintf(o, "  %11s %-24s %-6s %12s %10s %12s %12s %12s %8s\n", "id", "name", "state", "live", "count", "peak",
            "allocated", "leftovers", "left#");
    struct st_ranked *r = model_rank(d, d->n_sessions, open_key);
    if (r) session_rows(o, d, r, (size_t)opt->top_n);
    free(r);
    r = model_rank(d, d->n_sessions, ended_key);
    if (r) {
        session_rows(o, d, r, (size_t)opt->top_n);
        leftover_sites(o, d, r, sym);
    }
    free(r);
}

#define SITE_FRAMES 3

void text_sites(FILE *o, const struct st_dump *d, const struct st_report_opts *opt, struct st_symbolizer *sym)
{
    if (d->n_sites == 0) {
        fprintf(o, "\nTop sites: none (stacks %s)\n", d->process.flags & ST_PROC_STACKS ? "recorded no site" : "off");
        return;
    }
    struct st_ranked *r = model_rank(d, d->n_sites, rank_site_live);
    if (!r) return;
    fprintf(o, "\nTop sites by live bytes (%zu sites%s)\n", d->n_sites,
            d->process.stack_sample_bytes > 1 ? ", sampled: bytes are estimates" : "");
    fprintf(o, "  %6s %12s %10s %12s %10s  %s\n", "site", "live", "count", "allocated", "allocs", "where");
    for (size_t i = 0; i < d->n_sites && i < (size_t)opt->top_n; i++) {
        const struct st_dump_site *s = &d->sites[r[i].index];
        char where[512] = "(no frames)";
        if (s->s.nframes) symbolize_frame(sym, s, 0, where, sizeof where);
        fprintf(o, "  %6u %12s %10llu %12s %10llu  %s\n", s->s.id, B(s->s.live_bytes),
                (unsigned long long)s->s.live_count, B(s->s.total_bytes), (unsigned long long)s->s.total_allocs,
                where);
        for (uint32_t f = 1; f < s->s.nframes && f < SITE_FRAMES; f++) {
            symbolize_frame(sym, s, f, where, sizeof where);
            fprintf(o, "  %6s %12s %10s %12s %10s  <- %s\n", "", "", "", "", "", where);
        }
    }
    free(r);
}

static const char *bucket_label(int b, char *buf, size_t len)
{
    if (b == 0) snprintf(buf, len, "empty");
    else snprintf(buf, len, "%d-%d%%", (b - 1) * 10, b * 10);
    return buf;
}

static uint64_t pin_key(const struct st_dump *d, size_t i) { return d->pins[i].pages; }

void text_occupancy(FILE *o, const struct st_dump *d, const struct st_report_opts *opt, struct st_symbolizer *sym)
{
    uint64_t pages[ST_OCC_BUCKETS], ps, total = 0, maxp = 0;
    model_occupancy(d, pages, &ps);
    for (int b = 0; b < ST_OCC_BUCKETS; b++) {
        total += pages[b];
        if (pages[b] > maxp) maxp = pages[b];
    }
    if (total == 0) {
        fprintf(o, "\nPage occupancy: none recorded\n");
        return;
    }
    fprintf(o, "\nPage occupancy: %llu resident heap pages of %s, by the live bytes each holds\n",
            (unsigned long long)total, B(ps));
    char lab[16];
    for (int b = 0; b < ST_OCC_BUCKETS; b++) {
        int bar = (int)(maxp ? (pages[b] * 40 + maxp - 1) / maxp : 0);
        fprintf(o, "  %-8s %10llu pages %12s %5.1f%% %.*s\n", bucket_label(b, lab, sizeof lab),
                (unsigned long long)pages[b], B(pages[b] * ps), share_pct(pages[b], total), bar,
                "########################################");
    }
    if (d->n_pins == 0) return;
    struct st_ranked *r = model_rank(d, d->n_pins, pin_key);
    if (!r) return;
    fprintf(o, "  pinned (pages under 10%% live that a site still holds bytes in):\n");
    for (size_t i = 0; i < d->n_pins && i < (size_t)opt->top_n; i++) {
        const struct st_rec_pin *p = &d->pins[r[i].index];
        const struct st_dump_site *s = model_site(d, p->site_id);
        char where[512] = "(site not in dump)";
        if (s && s->s.nframes) symbolize_frame(sym, s, 0, where, sizeof where);
        fprintf(o, "    site %6u arena %4u %8llu pages %12s live  %s\n", p->site_id, p->arena_id,
                (unsigned long long)p->pages, B(p->bytes), where);
    }
    free(r);
}

#define SPARK_WIDTH 60

/* One row of block characters, each column the largest value of its samples. */
static void spark_row(FILE *o, const char *name, const struct st_dump *d, int arena)
{
    static const char *levels[] = {"\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586", "\u2587", "\u2588"};
    size_t n = d->n_timeline, w = n < SPARK_WIDTH ? n : SPARK_WIDTH;
    uint64_t col[SPARK_WIDTH] = {0}, maxv = 0, first = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        const struct st_dump_timeline *t = &d->timeline[i];
        uint64_t v = arena < 0 ? (arena == -1 ? t->t.rss_bytes : arena == -2 ? t->t.live_bytes
                                                                             : t->t.heap_resident_bytes)
                               : ((uint32_t)arena < t->t.narenas ? t->arena_resident[arena] : 0);
        size_t c = i * w / n;
        if (v > col[c]) col[c] = v;
        if (v > maxv) maxv = v;
        if (i == 0) first = v;
        last = v;
    }
    fprintf(o, "  %-14s ", name);
    for (size_t c = 0; c < w; c++) fputs(levels[maxv ? col[c] * 7 / maxv : 0], o);
    fprintf(o, "%*s %10s -> %-10s max %s\n", (int)(SPARK_WIDTH - w), "", B(first), B(last), B(maxv));
}

void text_timeline(FILE *o, const struct st_dump *d)
{
    size_t n = d->n_timeline;
    if (n == 0) {
        fprintf(o, "\nTimeline: none recorded\n");
        return;
    }
    uint64_t t0 = d->timeline[0].t.time_ns, t1 = d->timeline[n - 1].t.time_ns;
    fprintf(o, "\nTimeline: %zu samples over %.1f s\n", n, t1 > t0 ? (double)(t1 - t0) / 1e9 : 0.0);
    if (n >= 4) {
        /* Linear growth and a plateau look alike in one number; the two halves tell them apart. */
        const struct st_rec_timeline *a = &d->timeline[0].t, *m = &d->timeline[n / 2].t, *z = &d->timeline[n - 1].t;
        fprintf(o, "  live heap %s -> %s in the first half, -> %s in the second; RSS %s -> %s -> %s\n",
                B(a->live_bytes), B(m->live_bytes), B(z->live_bytes), B(a->rss_bytes), B(m->rss_bytes),
                B(z->rss_bytes));
    }
    spark_row(o, "RSS", d, -1);
    spark_row(o, "live heap", d, -2);
    spark_row(o, "heap resident", d, -3);
    /* The arenas that held the most at some point, four at most. */
    uint32_t narenas = 0;
    for (size_t i = 0; i < n; i++)
        if (d->timeline[i].t.narenas > narenas) narenas = d->timeline[i].t.narenas;
    bool shown[4096] = {false};
    for (int k = 0; k < 4; k++) {
        uint64_t best = 0;
        int best_a = -1;
        for (uint32_t a = 0; a < narenas && a < 4096; a++) {
            if (shown[a]) continue;
            for (size_t i = 0; i < n; i++)
                if (a < d->timeline[i].t.narenas && d->timeline[i].arena_resident[a] > best) {
                    best = d->timeline[i].arena_resident[a];
                    best_a = (int)a;
                }
        }
        if (best_a < 0) break;
        shown[best_a] = true;
        char name[32];
        snprintf(name, sizeof name, "arena %d", best_a);
        spark_row(o, name, d, best_a);
    }
    char events[SPARK_WIDTH + 1];
    size_t w = n < SPARK_WIDTH ? n : SPARK_WIDTH;
    memset(events, ' ', w);
    events[w] = 0;
    size_t nev = 0;
    for (size_t i = 0; i < n; i++) {
        char mark = d->timeline[i].t.event == ST_EV_TRIM ? 'T' : d->timeline[i].t.event == ST_EV_SESSION_END ? 's'
                  : d->timeline[i].t.event == ST_EV_DUMP ? 'D' : 0;
        if (!mark) continue;
        events[i * w / n] = mark;
        nev++;
    }
    if (nev) fprintf(o, "  %-14s %s   (T trim, s session end, D dump)\n", "events", events);
}

void text_trims(FILE *o, const struct st_dump *d, const struct st_report_opts *opt)
{
    if (d->n_trims == 0) {
        fprintf(o, "\nTrims: none\n");
        return;
    }
    uint64_t released = 0, dur = 0, glibc = 0, tops = 0, bins = 0, shim = 0;
    uint32_t last_seq = 0;
    for (size_t i = 0; i < d->n_trims; i++) {
        released += d->trims[i].released_bytes;
        tops += model_trim_tops(d, &d->trims[i]);
        bins += d->trims[i].bin_released_bytes;
        shim += d->trims[i].shim_released_bytes;
        dur += d->trims[i].duration_ns;
        if (d->trims[i].seq > last_seq) last_seq = d->trims[i].seq;
    }
    for (size_t i = 0; i < d->n_trim_arenas; i++)
        if (d->trim_arenas[i].arena_id == ST_TRIM_ARENA_GLIBC_PASS) glibc += d->trim_arenas[i].released_bytes;
    /* The shim keeps the latest trims only: the highest seq is how many ran. */
    fprintf(o, "\nTrims: %u", last_seq > d->n_trims ? last_seq : (uint32_t)d->n_trims);
    if (last_seq > d->n_trims) fprintf(o, " (the latest %zu kept)", d->n_trims);
    /* The per-arena rows hold what each arena gave back, top chunk and free-bin pages together. */
    fprintf(o, ", released %s in total (malloc_trim(0) pass %s, thread arenas %s: top chunks %s, pages in free bins %s;"
               " sesstrim's own tables %s), %.1f ms spent\n",
            B(released), B(glibc), B(released > glibc ? released - glibc : 0), B(tops), B(bins), B(shim),
            (double)dur / 1e6);
    fprintf(o, "  %6s %9s %-13s %11s %11s %11s %11s %11s %11s %9s %9s %6s %7s  %s\n", "seq", "at (s)", "trigger",
            "rss before", "rss after", "released", "by tops", "by bins", "shim", "ms", "lock ms", "slices",
            "arenas", "flags");
    size_t limit = (size_t)opt->top_n, first = d->n_trims > limit ? d->n_trims - limit : 0;
    if (first) fprintf(o, "  ... %zu earlier trims\n", first);
    for (size_t i = first; i < d->n_trims; i++) {
        const struct st_rec_trim *t = &d->trims[i];
        double at = t->time_ns > d->process.start_ns && d->process.start_ns
                        ? (double)(t->time_ns - d->process.start_ns) / 1e9 : 0.0;
        char arenas[32], flags[96];
        snprintf(arenas, sizeof arenas, "%u/%u", t->arenas_trimmed, t->arenas_trimmed + t->arenas_skipped);
        fprintf(o, "  %6u %9.2f %-13s %11s %11s %11s %11s %11s %11s %9.2f %9.3f %6u %7s  %s\n", t->seq, at,
                trigger_name(t->trigger), B(t->rss_before), B(t->rss_after), B(t->released_bytes),
                B(model_trim_tops(d, t)), B(t->bin_released_bytes), B(t->shim_released_bytes),
                (double)t->duration_ns / 1e6, (double)t->max_lock_hold_ns / 1e6, t->slices, arenas,
                trim_flags_text(t->flags, ",", flags, sizeof flags));
    }
    fprintf(o, "  (lock ms: the longest time one arena lock was held; flags: malloc_trim = glibc's pass ran first,"
               " idle-all = every arena idle, free-list-invalid = a free list failed validation and was skipped)\n");
}

void text_advice(FILE *o, const struct st_dump *d)
{
    struct st_advice adv[MAX_ADVICE];
    size_t n = advice_compute(d, adv, MAX_ADVICE);
    if (n == 0) {
        fprintf(o, "\nAdvice: none (no rule found both a large ratio and at least 10 MiB at stake)\n");
        return;
    }
    fprintf(o, "\nAdvice\n");
    for (size_t i = 0; i < n; i++) fprintf(o, "  * %s\n", adv[i].text);
}
