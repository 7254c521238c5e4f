/* report_json.c: the --json report (keys documented in docs/report-json.md): every record
 * of every dump plus the derived layers and advice; the first process also at top level. */
#include <stdlib.h>
#include <string.h>
#include "json_writer.h"
#include "report.h"

#define MAX_ADVICE 32

static void process_obj(struct jw *w, const struct st_dump *d)
{
    const struct st_rec_process *p = &d->process, *rec = p;
    jw_object(w, "process");
    ST_FIELDS_PROCESS(JW_RECORD_FIELD_)
    jw_string(w, "reason", reason_name(p->reason));
    jw_object(w, "flags");
    jw_bool(w, "arena_logic", p->flags & ST_PROC_ARENA_LOGIC);
    jw_bool(w, "foreign_malloc", p->flags & ST_PROC_FOREIGN_MALLOC);
    jw_bool(w, "not_interposed", p->flags & ST_PROC_NOT_INTERPOSED);
    jw_bool(w, "malloc_debug", p->flags & ST_PROC_MALLOC_DEBUG);
    jw_bool(w, "unverified_glibc", p->flags & ST_PROC_UNVERIFIED_GLIBC);
    jw_bool(w, "stacks", p->flags & ST_PROC_STACKS);
    jw_bool(w, "fork_child", p->flags & ST_PROC_FORK_CHILD);
    jw_end_object(w);
    jw_object(w, "mallinfo");
    jw_u64(w, "arena", p->mi_arena);
    jw_u64(w, "ordblks", p->mi_ordblks);
    jw_u64(w, "hblks", p->mi_hblks);
    jw_u64(w, "hblkhd", p->mi_hblkhd);
    jw_u64(w, "uordblks", p->mi_uordblks);
    jw_u64(w, "fordblks", p->mi_fordblks);
    jw_u64(w, "keepcost", p->mi_keepcost);
    jw_end_object(w);
    jw_end_object(w);
}

static void config_obj(struct jw *w, const struct st_dump *d)
{
    if (!d->has_config) {
        jw_null(w, "config");
        return;
    }
    const struct st_rec_config *c = &d->config;
    char text[1024];
    model_config_describe(d, text, sizeof text);
    jw_object(w, "config");
    jw_string(w, "summary", text);
    jw_string(w, "stacks", c->stacks_mode == 0 ? "off" : c->stacks_mode == 1 ? "sample" : "all");
    jw_u64(w, "stack_sample_bytes", c->stack_sample_bytes);
    jw_object(w, "trim");
    jw_u64(w, "idle_ns", c->trim_idle_ns);
    jw_u64(w, "rss_high", c->trim_rss_high);
    jw_u64(w, "every_ns", c->trim_every_ns);
    jw_bool(w, "session_end", c->flags & ST_CONFIG_TRIM_SESSION_END);
    jw_u64(w, "free_resident", c->trim_free_resident);
    jw_u64(w, "min_interval_ns", c->trim_min_interval_ns);
    jw_u64(w, "check_ns", c->trim_check_ns);
    jw_u64(w, "quiet_ns", c->trim_quiet_ns);
    jw_u64(w, "pad", c->trim_pad);
    jw_bool(w, "glibc_pass", c->flags & ST_CONFIG_TRIM_GLIBC_PASS);
    jw_u64(w, "bad_tokens", c->trim_bad_tokens);
    jw_end_object(w);
    /* -1 (unset) becomes null */
    const struct { const char *key; int64_t v; } opt[] = {
        {"arena_max", c->arena_max}, {"trim_threshold", c->trim_threshold},
        {"glibc_arena_max", c->env_arena_max}, {"glibc_trim_threshold", c->env_trim_threshold},
        {"glibc_mmap_threshold", c->env_mmap_threshold}};
    for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++) {
        if (opt[i].v < 0) jw_null(w, opt[i].key);
        else jw_u64(w, opt[i].key, (uint64_t)opt[i].v);
    }
    jw_u64(w, "dump_signal", c->dump_signal);
    jw_u64(w, "dump_interval_ns", c->dump_interval_ns);
    jw_u64(w, "timeline_interval_ns", c->timeline_interval_ns);
    jw_bool(w, "dump_on_session_end", c->flags & ST_CONFIG_DUMP_ON_SESSION_END);
    jw_bool(w, "session_inherit", c->flags & ST_CONFIG_SESSION_INHERIT);
    jw_u64(w, "session_leftover_log", c->session_leftover_log);
    jw_u64(w, "sessions_kept", c->sessions_kept);
    jw_array(w, "environment");
    for (size_t at = 0; at < d->config_env_len;) {
        const char *e = d->config_env + at;
        size_t n = strnlen(e, d->config_env_len - at);
        jw_string_n(w, NULL, e, n);
        at += n + 1;
    }
    jw_end_array(w);
    jw_end_object(w);
}

static void layers_obj(struct jw *w, const struct st_dump *d)
{
    struct st_layers l;
    model_layers(d, &l);
    struct st_layer_row rows[ST_LAYER_ROWS];
    size_t n = model_layer_rows(&l, rows);
    jw_object(w, "layers");
    jw_u64(w, "rss", l.rss);
    for (size_t i = 0; i < n; i++) jw_u64(w, rows[i].key, rows[i].bytes);
    jw_u64(w, "heap_unresident", l.heap_unresident);
    jw_end_object(w);
}

static void arenas_arr(struct jw *w, const struct st_dump *d)
{
    jw_array(w, "arenas");
    for (size_t i = 0; i < d->n_arenas; i++) {
        const struct st_rec_arena *a = &d->arenas[i], *rec = a;
        jw_object(w, NULL);
        ST_FIELDS_ARENA(JW_RECORD_FIELD_)
        jw_string(w, "kind", a->kind == ST_ARENA_MAIN ? "main" : "thread");
        jw_u64(w, "free_bytes", arena_free_bytes(a));
        jw_u64(w, "free_resident_total", arena_free_resident(a));
        jw_u64(w, "threads", arena_threads(d, a));
        jw_array(w, "thread_allocs");
        for (size_t k = 0; k < d->n_arena_threads; k++) {
            if (d->arena_threads[k].arena_id != a->id) continue;
            jw_object(w, NULL);
            jw_u64(w, "thread", d->arena_threads[k].thread_idx);
            jw_u64(w, "allocs", d->arena_threads[k].allocs);
            jw_end_object(w);
        }
        jw_end_array(w);
        jw_end_object(w);
    }
    jw_end_array(w);
}

static void threads_arr(struct jw *w, const struct st_dump *d)
{
    jw_array(w, "threads");
    for (size_t i = 0; i < d->n_threads; i++) {
        const struct st_rec_thread *t = &d->threads[i], *rec = t;
        jw_object(w, NULL);
        ST_FIELDS_THREAD(JW_RECORD_FIELD_)
        jw_bool(w, "exited", t->flags & ST_THREAD_EXITED);
        jw_bool(w, "main", t->flags & ST_THREAD_MAIN);
        jw_bool(w, "shim", t->flags & ST_THREAD_SHIM);
        jw_bool(w, "fork_parent", t->flags & ST_THREAD_FORK_PARENT);
        if (t->home_arena == UINT32_MAX) jw_null(w, "home_arena");
        else jw_u64(w, "home_arena", t->home_arena);
        jw_end_object(w);
    }
    jw_end_array(w);
    jw_array(w, "xfree");
    for (size_t i = 0; i < d->n_xfrees; i++) {
        jw_object(w, NULL);
        jw_u64(w, "freer", d->xfrees[i].freer_idx);
        jw_u64(w, "allocator", d->xfrees[i].alloc_idx);
        jw_u64(w, "count", d->xfrees[i].count);
        jw_u64(w, "bytes", d->xfrees[i].bytes);
        jw_end_object(w);
    }
    jw_end_array(w);
}

static void mmaps_obj(struct jw *w, const struct st_dump *d)
{
    if (!d->has_mmaps) {
        jw_null(w, "mmaps");
    } else {
        const struct st_rec_mmaps *rec = &d->mmaps;
        jw_object(w, "mmaps");
        ST_FIELDS_MMAPS(JW_RECORD_FIELD_)
        jw_end_object(w);
    }
    jw_array(w, "mappings");
    for (size_t i = 0; i < d->n_mappings; i++) {
        const struct st_dump_mapping *m = &d->mappings[i];
        const struct st_rec_mapping *rec = &m->m;
        jw_object(w, NULL);
        ST_FIELDS_MAPPING(JW_RECORD_FIELD_)
        jw_string(w, "kind", mapping_kind_name(m->m.kind));
        jw_string(w, "name", m->name);
        jw_end_object(w);
    }
    jw_end_array(w);
}

/* Joins by id without a quadratic scan: sort (key, index) pairs, then find each key's run. */
struct keyed { uint64_t key; size_t index; };

static int cmp_keyed(const void *x, const void *y)
{
    const struct keyed *a = x, *b = y;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

static struct keyed *sort_keys(size_t n, uint64_t (*key)(const struct st_dump *, size_t), const struct st_dump *d)
{
    struct keyed *k = n ? malloc(n * sizeof *k) : NULL;
    if (!k) return NULL;
    for (size_t i = 0; i < n; i++) k[i] = (struct keyed){key(d, i), i};
    qsort(k, n, sizeof *k, cmp_keyed);
    return k;
}

/* First position in k[0..n) with key >= want. */
static size_t lower_bound(const struct keyed *k, size_t n, uint64_t want)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (k[mid].key < want) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static uint64_t session_site_key(const struct st_dump *d, size_t i) { return d->session_sites[i].session_id; }
static uint64_t trim_arena_key(const struct st_dump *d, size_t i) { return d->trim_arenas[i].seq; }

static void sessions_arr(struct jw *w, const struct st_dump *d)
{
    struct keyed *by_session = sort_keys(d->n_session_sites, session_site_key, d);
    size_t n_keyed = by_session ? d->n_session_sites : 0;
    jw_array(w, "sessions");
    for (size_t i = 0; i < d->n_sessions; i++) {
        const struct st_rec_session *s = &d->sessions[i], *rec = s;
        jw_object(w, NULL);
        ST_FIELDS_SESSION(JW_RECORD_FIELD_)
        jw_bool(w, "ended", s->flags & ST_SESSION_ENDED);
        jw_array(w, "leftover_sites");
        for (size_t k = lower_bound(by_session, n_keyed, s->id); k < n_keyed && by_session[k].key == s->id; k++) {
            const struct st_rec_session_site *ss = &d->session_sites[by_session[k].index];
            jw_object(w, NULL);
            jw_u64(w, "site", ss->site_id);
            jw_u64(w, "bytes", ss->bytes);
            jw_u64(w, "count", ss->count);
            jw_end_object(w);
        }
        jw_end_array(w);
        jw_end_object(w);
    }
    jw_end_array(w);
    free(by_session);
    if (!d->has_session_summary) {
        jw_null(w, "session_summary");
        return;
    }
    const struct st_rec_session_summary *rec = &d->session_summary;
    jw_object(w, "session_summary");
    ST_FIELDS_SESSION_SUMMARY(JW_RECORD_FIELD_)
    jw_end_object(w);
}

static void sites_arr(struct jw *w, const struct st_dump *d, const struct st_report_opts *o)
{
    struct st_symbolizer *sym = symbolizer_for(d, o);
    struct st_ranked *v = model_rank(d, d->n_sites, rank_site_live);
    size_t n = v ? d->n_sites : 0;
    jw_array(w, "sites");
    for (size_t i = 0; i < n; i++) {
        const struct st_dump_site *s = &d->sites[v[i].index];
        const struct st_rec_site *rec = &s->s;
        jw_object(w, NULL);
        ST_FIELDS_SITE(JW_RECORD_FIELD_)
        jw_array(w, "frames");
        for (uint32_t f = 0; f < s->s.nframes; f++) {
            char where[512];
            symbolize_frame(sym, s, f, where, sizeof where);
            jw_object(w, NULL);
            jw_u64(w, "addr", s->frames[f]);
            jw_string(w, "where", where);
            const struct st_dump_pyframe *py = st_dump_pyframe(d, s->frames[f]);
            if (py) {
                jw_bool(w, "python", true);
                jw_string(w, "file", py->file);
                jw_string(w, "function", py->func);
                jw_i64(w, "line", py->p.line);
            }
            jw_end_object(w);
        }
        jw_end_array(w);
        jw_end_object(w);
    }
    jw_end_array(w);
    free(v);
    symbolizer_free(sym);
    jw_array(w, "modules");
    for (size_t i = 0; i < d->n_modules; i++) {
        const struct st_dump_module *m = &d->modules[i];
        char hex[2 * sizeof m->m.build_id + 1] = "";
        for (uint32_t b = 0; b < m->m.build_id_len && b < sizeof m->m.build_id; b++)
            snprintf(hex + 2 * b, 3, "%02x", m->m.build_id[b]);
        jw_object(w, NULL);
        jw_string(w, "path", m->path);
        jw_u64(w, "base", m->m.base);
        jw_u64(w, "size", m->m.size);
        jw_string(w, "build_id", hex);
        jw_u64(w, "first_epoch", m->m.first_epoch);
        jw_u64(w, "gone_epoch", m->m.gone_epoch);
        jw_end_object(w);
    }
    jw_end_array(w);
}

static void trims_arr(struct jw *w, const struct st_dump *d)
{
    struct keyed *by_seq = sort_keys(d->n_trim_arenas, trim_arena_key, d);
    size_t n_keyed = by_seq ? d->n_trim_arenas : 0;
    jw_array(w, "trims");
    for (size_t i = 0; i < d->n_trims; i++) {
        const struct st_rec_trim *t = &d->trims[i], *rec = t;
        jw_object(w, NULL);
        ST_FIELDS_TRIM(JW_RECORD_FIELD_)
        jw_string(w, "trigger", trigger_name(t->trigger));
        jw_array(w, "flag_names");
#define ST_FLAG_(name, value, text) if (t->flags & (value)) jw_string(w, NULL, text);
        ST_TRIM_FLAGS(ST_FLAG_)
#undef ST_FLAG_
        jw_end_array(w);
        jw_array(w, "arenas");
        for (size_t k = lower_bound(by_seq, n_keyed, t->seq); k < n_keyed && by_seq[k].key == t->seq; k++) {
            const struct st_rec_trim_arena *ta = &d->trim_arenas[by_seq[k].index];
            jw_object(w, NULL);
            if (ta->arena_id == ST_TRIM_ARENA_GLIBC_PASS) jw_string(w, "arena", "malloc_trim");
            else jw_u64(w, "arena", ta->arena_id);
            jw_u64(w, "released_bytes", ta->released_bytes);
            jw_u64(w, "duration_ns", ta->duration_ns);
            jw_end_object(w);
        }
        jw_end_array(w);
        jw_end_object(w);
    }
    jw_end_array(w);
    free(by_seq);
}

static void timeline_arr(struct jw *w, const struct st_dump *d)
{
    jw_array(w, "timeline");
    for (size_t i = 0; i < d->n_timeline; i++) {
        const struct st_dump_timeline *t = &d->timeline[i];
        const struct st_rec_timeline *rec = &t->t;
        jw_object(w, NULL);
        ST_FIELDS_TIMELINE(JW_RECORD_FIELD_)
        jw_string(w, "event", event_name(t->t.event));
        jw_array(w, "arena_resident");
        for (uint32_t a = 0; a < t->t.narenas; a++) jw_u64(w, NULL, t->arena_resident[a]);
        jw_end_array(w);
        jw_end_object(w);
    }
    jw_end_array(w);
}

static void occupancy_obj(struct jw *w, const struct st_dump *d)
{
    uint64_t pages[ST_OCC_BUCKETS], ps, total = 0;
    model_occupancy(d, pages, &ps);
    jw_object(w, "occupancy");
    jw_u64(w, "page_size", ps);
    jw_array(w, "buckets");
    for (int b = 0; b < ST_OCC_BUCKETS; b++) {
        jw_u64(w, NULL, pages[b]);
        total += pages[b];
    }
    jw_end_array(w);
    jw_u64(w, "total_pages", total);
    jw_u64(w, "sparse_pages", pages[1]);
    jw_array(w, "arenas");
    for (size_t i = 0; i < d->n_occupancy; i++) {
        jw_object(w, NULL);
        jw_u64(w, "arena", d->occupancy[i].arena_id);
        jw_array(w, "pages");
        for (int b = 0; b < ST_OCC_BUCKETS; b++) jw_u64(w, NULL, d->occupancy[i].pages[b]);
        jw_end_array(w);
        jw_end_object(w);
    }
    jw_end_array(w);
    jw_array(w, "pins");
    for (size_t i = 0; i < d->n_pins; i++) {
        jw_object(w, NULL);
        jw_u64(w, "arena", d->pins[i].arena_id);
        jw_u64(w, "site", d->pins[i].site_id);
        jw_u64(w, "pages", d->pins[i].pages);
        jw_u64(w, "bytes", d->pins[i].bytes);
        jw_end_object(w);
    }
    jw_end_array(w);
    jw_end_object(w);
}

static void advice_arr(struct jw *w, const struct st_dump *d)
{
    struct st_advice adv[MAX_ADVICE];
    size_t n = advice_compute(d, adv, MAX_ADVICE);
    jw_array(w, "advice");
    for (size_t i = 0; i < n; i++) {
        jw_object(w, NULL);
        jw_string(w, "id", adv[i].id);
        jw_u64(w, "bytes_at_stake", adv[i].bytes_at_stake);
        jw_string(w, "text", adv[i].text);
        jw_end_object(w);
    }
    jw_end_array(w);
}

/* One process's members. */
static void process_members(struct jw *w, const struct st_dump *dumps, size_t n, size_t i,
                            const struct st_report_opts *o)
{
    const struct st_dump *d = &dumps[i];
    jw_string(w, "dump", d->path);
    jw_u64(w, "dump_version", d->version);
    jw_u64(w, "unknown_records", d->unknown_records);
    process_obj(w, d);
    const struct st_dump *prev = model_previous(dumps, n, i);
    if (!prev) {
        jw_null(w, "previous");
    } else { /* the same process dumped earlier: the change since */
        jw_object(w, "previous");
        jw_string(w, "dump", prev->path);
        jw_u64(w, "time_ns", prev->process.time_ns);
        jw_u64(w, "rss_bytes", prev->process.rss_bytes);
        jw_u64(w, "live_bytes", prev->process.live_bytes);
        jw_double(w, "rss_delta", (double)d->process.rss_bytes - (double)prev->process.rss_bytes);
        jw_double(w, "live_delta", (double)d->process.live_bytes - (double)prev->process.live_bytes);
        jw_end_object(w);
    }
    config_obj(w, d);
    layers_obj(w, d);
    arenas_arr(w, d);
    threads_arr(w, d);
    mmaps_obj(w, d);
    sessions_arr(w, d);
    sites_arr(w, d, o);
    trims_arr(w, d);
    timeline_arr(w, d);
    occupancy_obj(w, d);
    advice_arr(w, d);
}

/* One process: its keys at the top level. Several: "family" and one "processes" entry per
 * process (the latest dump of each pid), nothing repeated. */
int report_json(FILE *out, struct st_dump *dumps, size_t n, const struct st_report_opts *o)
{
    struct st_family fam;
    model_family(dumps, n, &fam);
    struct jw w;
    jw_init(&w, out);
    jw_object(&w, NULL);
    jw_string(&w, "format", "sesstrim-report/1");
    if (fam.processes <= 1) {
        size_t last = 0;
        for (size_t i = 0; i < n; i++)
            if (model_is_latest(dumps, n, i)) last = i;
        process_members(&w, dumps, n, last, o);
    } else {
        jw_object(&w, "family");
        jw_u64(&w, "processes", fam.processes);
        jw_u64(&w, "rss_bytes", fam.rss_bytes);
        jw_u64(&w, "rss_sum_bytes", fam.rss_sum_bytes);
        jw_u64(&w, "live_bytes", fam.live_bytes);
        jw_end_object(&w);
        jw_array(&w, "processes");
        for (size_t i = 0; i < n; i++) {
            if (!model_is_latest(dumps, n, i)) continue;
            jw_object(&w, NULL);
            process_members(&w, dumps, n, i, o);
            jw_end_object(&w);
        }
        jw_end_array(&w);
    }
    jw_end_object(&w);
    return 0;
}
