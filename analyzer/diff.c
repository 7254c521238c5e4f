/* diff.c: `sesstrim-report --diff OLD NEW`: what grew between two dumps of one program,
 * by RSS layer, session name, allocation site (module-relative frames), arena and thread. */
#include "report.h"
#include "json_writer.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define DIFF_METRICS 4

/* One section of the diff: rows are matched by key; metric 0 decides the order. */
struct diff_section {
    const char *name;           /* JSON key and text heading */
    const char *key_name;       /* what a row's key is ("name", "id", "frames") */
    const char *metrics[DIFF_METRICS];
    int nmetrics;
    bool metric0_is_bytes;
    struct diff_row *rows;
    size_t n, cap;
};

struct diff_row {
    char *key;                  /* match key, owned */
    char *label;                /* what a person reads, owned */
    uint64_t old_v[DIFF_METRICS], new_v[DIFF_METRICS];
    bool in_old, in_new;
};

/* ---- small formatting helpers */

static int64_t delta_of(uint64_t oldv, uint64_t newv)
{
    return newv >= oldv ? (int64_t)(newv - oldv) : -(int64_t)(oldv - newv);
}

static void fmt_delta(char *out, size_t len, int64_t d, bool bytes)
{
    char mag[32];
    uint64_t a = d < 0 ? (uint64_t)(-(d + 1)) + 1u : (uint64_t)d;
    if (bytes) fmt_bytes(a, mag, sizeof mag);
    else snprintf(mag, sizeof mag, "%" PRIu64, a);
    snprintf(out, len, "%s%s", d < 0 ? "-" : d > 0 ? "+" : "", mag);
}

static void fmt_ratio(char *out, size_t len, uint64_t oldv, uint64_t newv)
{
    if (oldv == 0) snprintf(out, len, newv ? "from 0" : "");
    else snprintf(out, len, "%+.0f%%", 100.0 * ((double)newv - (double)oldv) / (double)oldv);
}

static char *dup_bounded(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    char *r = malloc(n + 1);
    if (!r) return NULL;
    memcpy(r, s, n);
    r[n] = 0;
    return r;
}

/* ---- building sections */

static int section_add(struct diff_section *sec, bool is_new, const char *key, const char *label,
                       const uint64_t *values)
{
    if (sec->n == sec->cap) {
        size_t cap = sec->cap ? sec->cap * 2 : 64;
        struct diff_row *r = realloc(sec->rows, cap * sizeof *r);
        if (!r) return -1;
        sec->rows = r;
        sec->cap = cap;
    }
    struct diff_row *row = &sec->rows[sec->n];
    memset(row, 0, sizeof *row);
    row->key = dup_bounded(key, 1u << 16);
    row->label = dup_bounded(label, 1u << 12);
    if (!row->key || !row->label) { free(row->key); free(row->label); return -1; }
    for (int m = 0; m < sec->nmetrics; m++) {
        if (is_new) row->new_v[m] = values[m];
        else row->old_v[m] = values[m];
    }
    row->in_new = is_new;
    row->in_old = !is_new;
    sec->n++;
    return 0;
}

static int cmp_key(const void *a, const void *b)
{
    const struct diff_row *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c) return c;
    return (int)x->in_new - (int)y->in_new;
}

static int cmp_growth(const void *a, const void *b)
{
    const struct diff_row *x = a, *y = b;
    int64_t dx = delta_of(x->old_v[0], x->new_v[0]), dy = delta_of(y->old_v[0], y->new_v[0]);
    if (dx != dy) return dx > dy ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* Fold rows with equal keys (summing, so repeated session or thread names aggregate),
 * then order by growth of metric 0. */
static void section_finish(struct diff_section *sec)
{
    if (sec->n == 0) return;
    qsort(sec->rows, sec->n, sizeof *sec->rows, cmp_key);
    size_t w = 0;
    for (size_t r = 0; r < sec->n; r++) {
        if (w > 0 && strcmp(sec->rows[w - 1].key, sec->rows[r].key) == 0) {
            struct diff_row *dst = &sec->rows[w - 1], *src = &sec->rows[r];
            for (int m = 0; m < sec->nmetrics; m++) {
                dst->old_v[m] += src->old_v[m];
                dst->new_v[m] += src->new_v[m];
            }
            dst->in_old |= src->in_old;
            dst->in_new |= src->in_new;
            if (src->in_new && !dst->in_new) { free(dst->label); dst->label = src->label; src->label = NULL; }
            free(src->key);
            free(src->label);
            continue;
        }
        sec->rows[w++] = sec->rows[r];
    }
    sec->n = w;
    qsort(sec->rows, sec->n, sizeof *sec->rows, cmp_growth);
}

static void section_free(struct diff_section *sec)
{
    for (size_t r = 0; r < sec->n; r++) { free(sec->rows[r].key); free(sec->rows[r].label); }
    free(sec->rows);
    sec->rows = NULL;
    sec->n = sec->cap = 0;
}

/* ---- the five comparisons */

static int add_layers(struct diff_section *sec, const struct st_dump *d, bool is_new)
{
    struct st_layers l;
    memset(&l, 0, sizeof l);
    model_layers(d, &l);
    struct st_layer_row rows[ST_LAYER_ROWS];
    size_t n = model_layer_rows(&l, rows);
    for (size_t i = 0; i < n; i++) {
        uint64_t v[DIFF_METRICS] = {rows[i].bytes};
        if (section_add(sec, is_new, rows[i].key, rows[i].label, v)) return -1;
    }
    return 0;
}

static int add_sessions(struct diff_section *sec, const struct st_dump *d, bool is_new)
{
    for (size_t i = 0; i < d->n_sessions; i++) {
        const struct st_rec_session *s = &d->sessions[i];
        char name[ST_SESSION_NAME_MAX + 1];
        snprintf(name, sizeof name, "%.*s", (int)strnlen(s->name, sizeof s->name), s->name);
        if (!name[0]) snprintf(name, sizeof name, "(unnamed)");
        uint64_t v[DIFF_METRICS] = {s->live_bytes, s->live_count, 1, s->total_alloc_bytes};
        if (section_add(sec, is_new, name, name, v)) return -1;
    }
    return 0;
}

/* Raw addresses move with ASLR between runs; module path + offset does not. A Python
 * frame's id is the shim's, per run: its location is the key. */
static void frame_key(const struct st_dump *d, const struct st_dump_site *site, uint64_t addr, char *out, size_t len)
{
    const struct st_dump_pyframe *py = st_dump_pyframe(d, addr);
    const struct st_dump_module *mod = py ? NULL : symbols_module_of(d, site, addr, NULL);
    if (py) snprintf(out, len, "py:%s:%s:%d", py->file, py->func, py->p.line);
    else if (mod) snprintf(out, len, "%s+0x%" PRIx64, mod->path, addr - mod->m.base);
    else snprintf(out, len, "0x%" PRIx64, addr);
}

static int add_sites(struct diff_section *sec, const struct st_dump *d, bool is_new,
                     const struct st_report_opts *o)
{
    struct st_symbolizer *sym = symbolizer_for(d, o);
    int rc = 0;
    for (size_t i = 0; i < d->n_sites && rc == 0; i++) {
        const struct st_dump_site *s = &d->sites[i];
        size_t cap = 64 + (size_t)s->s.nframes * 560, used = 0;
        char *key = malloc(cap);
        char label[600] = "";
        if (!key) { rc = -1; break; }
        key[0] = 0;
        for (uint32_t f = 0; f < s->s.nframes && s->frames; f++) {
            char part[560];
            frame_key(d, s, s->frames[f], part, sizeof part);
            used += (size_t)snprintf(key + used, cap - used, "%s%s", f ? ";" : "", part);
            if (f < 2) {
                char fl[280];
                symbolize_frame(sym, s, f, fl, sizeof fl);
                size_t ll = strlen(label);
                snprintf(label + ll, sizeof label - ll, "%s%s", f ? " < " : "", fl);
            }
        }
        if (!key[0]) snprintf(key, cap, "site#%u", s->s.id);
        if (!label[0]) snprintf(label, sizeof label, "site %u (no frames)", s->s.id);
        uint64_t v[DIFF_METRICS] = {s->s.live_bytes, s->s.live_count, s->s.total_bytes, s->s.total_allocs};
        rc = section_add(sec, is_new, key, label, v);
        free(key);
    }
    if (sym) symbolizer_free(sym);
    return rc;
}

static int add_arenas(struct diff_section *sec, const struct st_dump *d, bool is_new)
{
    for (size_t i = 0; i < d->n_arenas; i++) {
        const struct st_rec_arena *a = &d->arenas[i];
        char key[32], label[48];
        snprintf(key, sizeof key, "%010u", a->id);   /* zero-padded: sorts like the number */
        snprintf(label, sizeof label, "%u%s", a->id, a->kind == ST_ARENA_MAIN ? " (main)" : "");
        uint64_t v[DIFF_METRICS] = {a->resident_bytes, a->live_bytes,
                                    arena_free_bytes(a), a->system_bytes};
        if (section_add(sec, is_new, key, label, v)) return -1;
    }
    return 0;
}

static int add_threads(struct diff_section *sec, const struct st_dump *d, bool is_new)
{
    for (size_t i = 0; i < d->n_threads; i++) {
        const struct st_rec_thread *t = &d->threads[i];
        char name[24];
        snprintf(name, sizeof name, "%.*s", (int)strnlen(t->name, sizeof t->name), t->name);
        if (!name[0]) snprintf(name, sizeof name, "(unnamed)");
        uint64_t v[DIFF_METRICS] = {t->live_bytes, t->live_count, 1, t->alloc_bytes};
        if (section_add(sec, is_new, name, name, v)) return -1;
    }
    return 0;
}

/* ---- output */

static const char *status_of(const struct diff_row *r)
{
    if (!r->in_old) return "new";
    if (!r->in_new) return "gone";
    return r->new_v[0] > r->old_v[0] ? "grew" : r->new_v[0] < r->old_v[0] ? "shrank" : "same";
}

static void print_text_section(FILE *out, const struct diff_section *sec, int top_n)
{
    size_t grew = 0, shrank = 0, same = 0;
    int64_t grew_total = 0, shrank_total = 0;
    for (size_t r = 0; r < sec->n; r++) {
        int64_t d = delta_of(sec->rows[r].old_v[0], sec->rows[r].new_v[0]);
        if (d > 0) { grew++; grew_total += d; }
        else if (d < 0) { shrank++; shrank_total += d; }
        else same++;
    }
    char gt[40], st[40];
    fmt_delta(gt, sizeof gt, grew_total, sec->metric0_is_bytes);
    fmt_delta(st, sizeof st, shrank_total, sec->metric0_is_bytes);
    fprintf(out, "\n%s by %s (%s; %zu grew %s, %zu shrank %s, %zu unchanged)\n", sec->name,
            sec->key_name, sec->metrics[0], grew, gt, shrank, st, same);
    if (sec->n == 0) { fprintf(out, "  (none in either dump)\n"); return; }
    size_t shown = 0;
    /* growth first (the list is sorted that way), then the largest shrinks */
    for (size_t pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < sec->n; i++) {
            const struct diff_row *r = pass == 0 ? &sec->rows[i] : &sec->rows[sec->n - 1 - i];
            int64_t d = delta_of(r->old_v[0], r->new_v[0]);
            if (pass == 0 ? d <= 0 : d >= 0) break;
            if (pass == 0 && (int)shown >= top_n) break;
            if (pass == 1 && i >= 3) break;
            char ov[32], nv[32], dv[40], pct[16];
            if (sec->metric0_is_bytes) { fmt_bytes(r->old_v[0], ov, sizeof ov); fmt_bytes(r->new_v[0], nv, sizeof nv); }
            else { snprintf(ov, sizeof ov, "%" PRIu64, r->old_v[0]); snprintf(nv, sizeof nv, "%" PRIu64, r->new_v[0]); }
            fmt_delta(dv, sizeof dv, d, sec->metric0_is_bytes);
            fmt_ratio(pct, sizeof pct, r->old_v[0], r->new_v[0]);
            fprintf(out, "  %-11s %-6s %10s -> %10s  (%s)  %s", dv, pct, ov, nv, status_of(r), r->label);
            if (sec->nmetrics > 1 && strcmp(sec->metrics[1], "live_count") == 0)
                fprintf(out, "  [count %" PRIu64 " -> %" PRIu64 "]", r->old_v[1], r->new_v[1]);
            fputc('\n', out);
            shown++;
        }
        if (pass == 0 && shrank) fprintf(out, "  shrank most:\n");
    }
}

/* The JSON goes through the one writer (json_writer.c): names from the dumps are escaped
 * to valid UTF-8 exactly as in --json. */
static void json_section(struct jw *w, const struct diff_section *sec)
{
    static const char *sides[3] = {"old", "new", "delta"};
    jw_array(w, sec->name);
    for (size_t i = 0; i < sec->n; i++) {
        const struct diff_row *r = &sec->rows[i];
        jw_object(w, NULL);
        if (strcmp(sec->key_name, "id") == 0) jw_u64(w, sec->key_name, strtoull(r->key, NULL, 10));
        else jw_string(w, sec->key_name, r->key);
        jw_string(w, "label", r->label);
        jw_string(w, "status", status_of(r));
        for (int side = 0; side < 3; side++) {
            jw_object(w, sides[side]);
            for (int m = 0; m < sec->nmetrics; m++) {
                if (side == 0) jw_u64(w, sec->metrics[m], r->old_v[m]);
                else if (side == 1) jw_u64(w, sec->metrics[m], r->new_v[m]);
                else jw_i64(w, sec->metrics[m], delta_of(r->old_v[m], r->new_v[m]));
            }
            jw_end_object(w);
        }
        jw_end_object(w);
    }
    jw_end_array(w);
}

static void json_dump_ident(struct jw *w, const char *side, const struct st_dump *d)
{
    jw_object(w, side);
    jw_string(w, "path", d->path);
    jw_u64(w, "pid", d->process.pid);
    jw_string_n(w, "exe", d->process.exe, sizeof d->process.exe);
    jw_u64(w, "time_ns", d->process.time_ns);
    jw_u64(w, "live_count", d->process.live_count);
    jw_u64(w, "total_allocs", d->process.total_allocs);
    jw_end_object(w);
}

static void json_change(struct jw *w, const char *key, uint64_t oldv, uint64_t newv)
{
    jw_object(w, key);
    jw_u64(w, "old", oldv);
    jw_u64(w, "new", newv);
    jw_i64(w, "delta", delta_of(oldv, newv));
    jw_end_object(w);
}

int report_diff(FILE *out, struct st_dump *old_dump, struct st_dump *new_dump, bool json,
                const struct st_report_opts *o)
{
    struct diff_section secs[] = {
        {.name = "layers", .key_name = "name", .metrics = {"bytes"}, .nmetrics = 1, .metric0_is_bytes = true},
        {.name = "sessions", .key_name = "name", .metrics = {"live_bytes", "live_count", "sessions", "alloc_bytes"},
         .nmetrics = 4, .metric0_is_bytes = true},
        {.name = "sites", .key_name = "frames", .metrics = {"live_bytes", "live_count", "total_bytes", "total_allocs"},
         .nmetrics = 4, .metric0_is_bytes = true},
        {.name = "arenas", .key_name = "id", .metrics = {"resident_bytes", "live_bytes", "free_bytes", "system_bytes"},
         .nmetrics = 4, .metric0_is_bytes = true},
        {.name = "threads", .key_name = "name", .metrics = {"live_bytes", "live_count", "threads", "alloc_bytes"},
         .nmetrics = 4, .metric0_is_bytes = true},
    };
    const size_t nsecs = sizeof secs / sizeof secs[0];
    int top_n = o && o->top_n > 0 ? o->top_n : 10;
    int rc = 0;
    for (int side = 0; side < 2 && rc == 0; side++) {
        const struct st_dump *d = side ? new_dump : old_dump;
        bool is_new = side == 1;
        rc |= add_layers(&secs[0], d, is_new);
        rc |= add_sessions(&secs[1], d, is_new);
        rc |= add_sites(&secs[2], d, is_new, o);
        rc |= add_arenas(&secs[3], d, is_new);
        rc |= add_threads(&secs[4], d, is_new);
    }
    if (rc) {
        fprintf(stderr, "sesstrim-report: out of memory while comparing dumps\n");
        for (size_t s = 0; s < nsecs; s++) section_free(&secs[s]);
        return 2;
    }
    for (size_t s = 0; s < nsecs; s++) section_finish(&secs[s]);

    const struct st_rec_process *po = &old_dump->process, *pn = &new_dump->process;
    bool same_exe = strncmp(po->exe, pn->exe, sizeof po->exe) == 0;
    if (json) {
        struct jw w;
        jw_init(&w, out);
        jw_object(&w, NULL);
        json_dump_ident(&w, "old", old_dump);
        json_dump_ident(&w, "new", new_dump);
        jw_bool(&w, "same_program", same_exe);
        json_change(&w, "rss", po->rss_bytes, pn->rss_bytes);
        json_change(&w, "live_bytes", po->live_bytes, pn->live_bytes);
        for (size_t s = 0; s < nsecs; s++) json_section(&w, &secs[s]);
        jw_end_object(&w);
    } else {
        char ov[32], nv[32], dv[40], pct[16];
        fprintf(out, "sesstrim diff: %s (pid %u) -> %s (pid %u)\n", old_dump->path, po->pid,
                new_dump->path, pn->pid);
        if (!same_exe)
            fprintf(out, "warning: different programs (%s vs %s): matches by name may mislead\n",
                    po->exe, pn->exe);
        fmt_bytes(po->rss_bytes, ov, sizeof ov);
        fmt_bytes(pn->rss_bytes, nv, sizeof nv);
        fmt_delta(dv, sizeof dv, delta_of(po->rss_bytes, pn->rss_bytes), true);
        fmt_ratio(pct, sizeof pct, po->rss_bytes, pn->rss_bytes);
        fprintf(out, "RSS         %10s -> %10s  %s %s\n", ov, nv, dv, pct);
        fmt_bytes(po->live_bytes, ov, sizeof ov);
        fmt_bytes(pn->live_bytes, nv, sizeof nv);
        fmt_delta(dv, sizeof dv, delta_of(po->live_bytes, pn->live_bytes), true);
        fmt_ratio(pct, sizeof pct, po->live_bytes, pn->live_bytes);
        fprintf(out, "live heap   %10s -> %10s  %s %s  (%" PRIu64 " -> %" PRIu64 " allocations)\n",
                ov, nv, dv, pct, po->live_count, pn->live_count);
        for (size_t s = 0; s < nsecs; s++) print_text_section(out, &secs[s], top_n);
    }
    for (size_t s = 0; s < nsecs; s++) section_free(&secs[s]);
    if (ferror(out)) {
        fprintf(stderr, "sesstrim-report: error writing the diff\n");
        return 2;
    }
    return 0;
}
