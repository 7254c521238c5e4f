/* advice.c: MEMORY DOCTOR style rules. A rule fires only when a ratio and the bytes at
 * stake are both large, and every line carries the numbers that made it fire. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "report.h"

#define MIN_STAKE (10ull << 20)   /* below this nobody should change a setting */
#define MIN_RATIO 1.3             /* "what it costs" over "what it would cost without" */

struct advice_list { struct st_advice *items; size_t n, max; };

static void add(struct advice_list *l, const char *id, uint64_t stake, const char *fmt, ...)
{
    if (l->n >= l->max) return;
    struct st_advice *a = &l->items[l->n++];
    memset(a, 0, sizeof *a);
    snprintf(a->id, sizeof a->id, "%s", id);
    a->bytes_at_stake = stake;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->text, sizeof a->text, fmt, ap);
    va_end(ap);
}

/* RSS with the stake over RSS without it. */
static double ratio_without(uint64_t total, uint64_t stake)
{
    if (stake >= total) return stake ? 1e9 : 1.0;
    return (double)total / (double)(total - stake);
}

static bool fires(uint64_t total, uint64_t stake)
{
    return stake >= MIN_STAKE && ratio_without(total, stake) >= MIN_RATIO;
}

/* Bytes at stake are never more than the process holds. */
static uint64_t bounded(const struct st_dump *d, uint64_t stake)
{
    return d->process.rss_bytes && stake > d->process.rss_bytes ? d->process.rss_bytes : stake;
}

/* Trims that ran with `trigger` (0: any), from the kept TRIM records. */
static size_t trims_by(const struct st_dump *d, uint32_t trigger)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n_trims; i++) n += !trigger || d->trims[i].trigger == trigger;
    return n;
}

/* What to do about free memory a trim would return. Without a policy: the policy to try.
 * With one in force: that it ran (and memory came back since), or why it did not fire. */
static void trim_remedy(const struct st_dump *d, uint64_t stake, char *out, size_t len)
{
    char b1[32], b2[32], pol[160];
    if (!config_trim_policy(d)) {
        snprintf(out, len, "SESSTRIM_TRIM=idle=2s would return it%s",
                 d->has_config ? "" : " (the dump does not say which policy was in force)");
        return;
    }
    model_config_describe(d, pol, sizeof pol);
    char *semi = strchr(pol, ',');
    if (semi) *semi = 0; /* just the SESSTRIM_TRIM part */
    const struct st_rec_config *c = &d->config;
    size_t ran = trims_by(d, 0);
    if (ran) {
        snprintf(out, len, "%.150s was in force and trimmed %zu times; this much was free again at the dump: "
                 "a shorter trigger (or a trim at the end of each burst of work) keeps it down", pol, ran);
        return;
    }
    /* Did not fire: say which condition was never met. */
    char why[200] = "";
    size_t used = 0;
    if (c->trim_rss_high && d->process.rss_bytes < c->trim_rss_high)
        used += (size_t)snprintf(why + used, sizeof why - used, "RSS %s stayed below rss>%s; ",
                                 fmt_bytes(d->process.rss_bytes, b1, sizeof b1), fmt_bytes(c->trim_rss_high, b2, sizeof b2));
    if (used < sizeof why && c->trim_free_resident && stake < c->trim_free_resident)
        used += (size_t)snprintf(why + used, sizeof why - used, "free resident %s stayed below free-resident>%s; ",
                                 fmt_bytes(stake, b1, sizeof b1), fmt_bytes(c->trim_free_resident, b2, sizeof b2));
    if (used < sizeof why && c->trim_idle_ns)
        used += (size_t)snprintf(why + used, sizeof why - used, "malloc/free never paused for the idle time; ");
    if (used < sizeof why && c->trim_every_ns && d->process.time_ns - d->process.start_ns < c->trim_every_ns)
        used += (size_t)snprintf(why + used, sizeof why - used, "the process ran less than one every= period; ");
    if (used >= 2 && used < sizeof why) why[used - 2] = 0;
    snprintf(out, len, "%.150s was in force but never fired%s%.200s", pol, why[0] ? ": " : "", why);
}

static void rule_thread_tops(const struct st_dump *d, struct advice_list *l)
{
    uint64_t tops = 0, n = 0;
    for (size_t i = 0; i < d->n_arenas; i++) {
        const struct st_rec_arena *a = &d->arenas[i];
        if (a->kind != ST_ARENA_THREAD || a->top_resident_bytes == 0) continue;
        tops += a->top_resident_bytes;
        n++;
    }
    tops = bounded(d, tops);
    if (!fires(d->process.rss_bytes, tops)) return;
    char b1[32], b2[32], b3[32], remedy[600];
    trim_remedy(d, tops, remedy, sizeof remedy);
    add(l, "trim-thread-tops", tops,
        "%s free in %llu thread-arena top chunks (RSS %s -> ~%s without them): malloc_trim() never "
        "touches them; %s",
        fmt_bytes(tops, b1, sizeof b1), (unsigned long long)n, fmt_bytes(d->process.rss_bytes, b2, sizeof b2),
        fmt_bytes(d->process.rss_bytes - tops, b3, sizeof b3), remedy);
}

static void rule_free_bins(const struct st_dump *d, struct advice_list *l)
{
    uint64_t bins = 0, n = 0;
    for (size_t i = 0; i < d->n_arenas; i++) {
        uint64_t b = arena_bins_resident(&d->arenas[i]);
        if (b == 0) continue;
        bins += b;
        n++;
    }
    bins = bounded(d, bins);
    if (!fires(d->process.rss_bytes, bins)) return;
    char b1[32], b2[32], remedy[600];
    trim_remedy(d, bins, remedy, sizeof remedy);
    add(l, "trim-free-bins", bins,
        "%s resident in whole free pages of %llu arenas' bins (%.0f%% of RSS %s): malloc_trim(0) returns "
        "them; %s",
        fmt_bytes(bins, b1, sizeof b1), (unsigned long long)n, share_pct(bins, d->process.rss_bytes),
        fmt_bytes(d->process.rss_bytes, b2, sizeof b2), remedy);
}

/* Free bytes scattered over pages that still hold live data: no trim returns them. */
static void rule_fragmentation(const struct st_dump *d, struct advice_list *l)
{
    uint64_t partial = 0, n = 0;
    for (size_t i = 0; i < d->n_arenas; i++) {
        uint64_t p = arena_free_partial(&d->arenas[i]);
        partial += p;
        n += p != 0;
    }
    partial = bounded(d, partial);
    if (!fires(d->process.rss_bytes, partial)) return;
    char b1[32], b2[32];
    add(l, "fragmentation", partial,
        "%s free in %llu arenas sits on pages that also hold live data (%.0f%% of RSS %s): no trim can return "
        "it; allocate long-lived and short-lived objects apart (pools by lifetime)%s",
        fmt_bytes(partial, b1, sizeof b1), (unsigned long long)n, share_pct(partial, d->process.rss_bytes),
        fmt_bytes(d->process.rss_bytes, b2, sizeof b2),
        d->n_pins ? "; the page occupancy table names the sites that pin them"
        : d->process.flags & ST_PROC_STACKS ? "; the top sites show who holds the live data there"
                                            : "; with SESSTRIM_STACKS=sample=512K the report names the sites");
}

/* Pages no trim can free: resident, holding a little live data. */
static void rule_occupancy(const struct st_dump *d, struct advice_list *l)
{
    uint64_t pages[ST_OCC_BUCKETS], page_size;
    model_occupancy(d, pages, &page_size);
    uint64_t total = 0;
    for (int b = 0; b < ST_OCC_BUCKETS; b++) total += pages[b];
    uint64_t sparse = pages[1], sparse_bytes = bounded(d, sparse * page_size);
    uint64_t base = d->process.rss_bytes ? d->process.rss_bytes : total * page_size;
    if (!fires(base, sparse_bytes)) return;

    /* The three biggest pinning sites, by pages pinned. */
    char who[256] = "";
    size_t used = 0;
    uint32_t top_ids[3] = {0};
    uint64_t top_pages[3] = {0};
    for (size_t i = 0; i < d->n_pins; i++) {
        const struct st_rec_pin *p = &d->pins[i];
        for (int k = 0; k < 3; k++) {
            if (p->pages > top_pages[k]) {
                for (int j = 2; j > k; j--) { top_pages[j] = top_pages[j - 1]; top_ids[j] = top_ids[j - 1]; }
                top_pages[k] = p->pages;
                top_ids[k] = p->site_id;
                break;
            }
        }
    }
    for (int k = 0; k < 3 && top_pages[k]; k++) {
        int w = snprintf(who + used, sizeof who - used, "%s site #%u (%llu pages)", k ? "," : "", top_ids[k],
                         (unsigned long long)top_pages[k]);
        if (w < 0 || (size_t)w >= sizeof who - used) break;
        used += (size_t)w;
    }
    char b1[32];
    add(l, "page-occupancy", sparse_bytes,
        "page occupancy: %.0f%% of resident heap pages (%llu of %llu, %s) hold < 10%% live bytes; no trim "
        "can free them%s%s",
        share_pct(sparse, total), (unsigned long long)sparse, (unsigned long long)total,
        fmt_bytes(sparse_bytes, b1, sizeof b1), used ? ", pinned by" : "", who);
}

/* Fewer arenas share their free space: what the extra arenas cost in free resident bytes. */
static void rule_arena_max(const struct st_dump *d, struct advice_list *l)
{
    uint64_t n_thread = 0, free_res = 0, resident = 0;
    for (size_t i = 0; i < d->n_arenas; i++) {
        const struct st_rec_arena *a = &d->arenas[i];
        resident += a->resident_bytes;
        if (a->kind != ST_ARENA_THREAD) continue;
        n_thread++;
        free_res += arena_free_resident(a);
    }
    if (n_thread < 4) return;
    uint64_t suggest = n_thread / 4 < 2 ? 2 : n_thread / 4;
    /* Already capped at (or below) what it would suggest: nothing to gain. */
    if (d->has_config && ((d->config.arena_max > 0 && (uint64_t)d->config.arena_max <= suggest + 1) ||
                          (d->config.env_arena_max > 0 && (uint64_t)d->config.env_arena_max <= suggest + 1)))
        return;
    uint64_t saved = bounded(d, (uint64_t)((double)free_res * (1.0 - (double)suggest / (double)n_thread)));
    if (!fires(d->process.rss_bytes, saved)) return;
    char b1[32], b2[32];
    add(l, "malloc-arena-max", saved,
        "%llu thread arenas hold %s free but resident: MALLOC_ARENA_MAX=%llu would trade up to %s of RSS "
        "for lock contention between threads",
        (unsigned long long)n_thread, fmt_bytes(free_res, b1, sizeof b1), (unsigned long long)(suggest + 1),
        fmt_bytes(saved, b2, sizeof b2));
}

static void rule_session_leftovers(const struct st_dump *d, struct advice_list *l)
{
    uint64_t left = 0, n = 0, worst = 0;
    const struct st_rec_session *worst_s = NULL;
    for (size_t i = 0; i < d->n_sessions; i++) {
        const struct st_rec_session *s = &d->sessions[i];
        if (!(s->flags & ST_SESSION_ENDED) || s->leftover_bytes == 0) continue;
        left += s->leftover_bytes;
        n++;
        if (s->leftover_bytes > worst) { worst = s->leftover_bytes; worst_s = s; }
    }
    if (d->has_session_summary) {
        left += d->session_summary.folded_leftover_bytes;
        if (d->session_summary.folded_leftover_bytes) n += d->session_summary.folded_sessions;
    }
    /* Leftovers were measured when each session ended; what is live now bounds what can
     * still be theirs (an exit dump after cleanup has little left). */
    uint64_t live = d->process.live_bytes;
    uint64_t still = left < live ? left : live;
    if (!fires(live, still)) return;
    char b1[32], b2[32], b3[32], b4[32];
    add(l, "session-leftovers", still,
        "%llu ended sessions left %s live when they ended (largest '%s' %s); up to %s of it (%.0f%% of the "
        "live heap %s) can still be theirs: free it at session end or hand it over on purpose with "
        "sesstrim_keep()",
        (unsigned long long)n, fmt_bytes(left, b1, sizeof b1), worst_s ? worst_s->name : "?",
        fmt_bytes(worst, b3, sizeof b3), fmt_bytes(still, b4, sizeof b4), share_pct(still, live),
        fmt_bytes(live, b2, sizeof b2));
}

static void rule_cross_thread(const struct st_dump *d, struct advice_list *l)
{
    uint64_t bytes = 0, count = 0, best = 0;
    const struct st_rec_xfree *top = NULL;
    for (size_t i = 0; i < d->n_xfrees; i++) {
        const struct st_rec_xfree *x = &d->xfrees[i];
        bytes += x->bytes;
        count += x->count;
        if (x->bytes > best) { best = x->bytes; top = x; }
    }
    uint64_t freed = 0;
    for (size_t i = 0; i < d->n_threads; i++) freed += d->threads[i].freed_bytes;
    if (freed < bytes) freed = bytes;
    if (!fires(freed, bytes) || !top) return;
    char b1[32], b2[32], fr[64], al[64];
    const char *remedy = config_trim_policy(d) ? "pool buffers per consumer" :
                         "pool buffers per consumer or SESSTRIM_TRIM=idle=2s returns it";
    add(l, "cross-thread-frees", bytes,
        "%s (%.0f%% of freed bytes, %llu frees) freed by another thread than the allocating one; largest: "
        "%s frees %s allocated by %s. Producer/consumer: the producer's arena keeps the memory; %s",
        fmt_bytes(bytes, b1, sizeof b1), share_pct(bytes, freed), (unsigned long long)count,
        model_thread_label(d, top->freer_idx, false, fr, sizeof fr), fmt_bytes(top->bytes, b2, sizeof b2),
        model_thread_label(d, top->alloc_idx, false, al, sizeof al), remedy);
}

static void rule_untracked(const struct st_dump *d, struct advice_list *l)
{
    const struct st_rec_process *p = &d->process;
    uint64_t total = p->total_frees + p->untracked_frees;
    if (p->untracked_frees < 1000 || share_pct(p->untracked_frees, total) < 1.0) return;
    add(l, "untracked-frees", 0,
        "%llu frees (%.1f%% of all) of pointers the shim never saw allocated (%s): the live numbers do not "
        "include those allocations",
        (unsigned long long)p->untracked_frees, share_pct(p->untracked_frees, total),
        p->flags & ST_PROC_FORK_CHILD ? "this is a forked child: memory the parent allocated before the fork"
                                      : "allocated before the shim started tracking, or by another allocator");
}

/* glibc returns the main arena's top to the system on free() only above trim_threshold,
 * which it raises with every large free (up to 64 MiB) unless the threshold was set: a
 * fixed small threshold is the no-code fix for a fat main-arena top. */
static void rule_trim_threshold(const struct st_dump *d, struct advice_list *l)
{
    const struct st_rec_arena *main_arena = model_arena(d, 0);
    if (!main_arena) return;
    uint64_t top = bounded(d, main_arena->top_resident_bytes);
    int64_t set = config_trim_threshold(d);
    if (set >= 0 && (uint64_t)set < top / 2) return; /* set already and small: glibc trims */
    if (!fires(d->process.rss_bytes, top)) return;
    char b1[32];
    add(l, "trim-threshold", top,
        "%s free at the top of the main arena stays resident: glibc gives it back on free() only above "
        "trim_threshold%s; GLIBC_TUNABLES=glibc.malloc.trim_threshold=131072 fixes it without code",
        fmt_bytes(top, b1, sizeof b1), set >= 0 ? " (set here, but larger than this top)" : ", which it raises with "
        "every large free unless set");
}

static void rule_foreign(const struct st_dump *d, struct advice_list *l)
{
    if (!(d->process.flags & ST_PROC_FOREIGN_MALLOC)) return;
    add(l, "foreign-malloc", 0,
        "malloc is not glibc's (another allocator is preloaded): arena numbers and trims are off, "
        "only per-thread and per-session accounting is shown");
}

size_t advice_compute(const struct st_dump *d, struct st_advice *out, size_t max)
{
    struct advice_list l = {out, 0, max};
    rule_foreign(d, &l);
    rule_thread_tops(d, &l);
    rule_free_bins(d, &l);
    rule_fragmentation(d, &l);
    rule_occupancy(d, &l);
    rule_arena_max(d, &l);
    rule_session_leftovers(d, &l);
    rule_cross_thread(d, &l);
    rule_untracked(d, &l);
    rule_trim_threshold(d, &l);
    return l.n;
}
