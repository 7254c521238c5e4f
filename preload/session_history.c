/* session_history.c: what is remembered of ended sessions (the last few in detail, the rest
 * folded into one summary), their leftover sites, and the session records of a dump. */
#include <string.h>
#include "sessions.h"

/*
 * Bounded memory for servers that run millions of sessions: at most SESSTRIM_SESSIONS_KEPT
 * ended sessions are kept in detail. Two FIFO rings, one for sessions that ended with
 * leftovers and one for clean ones; when the total is at capacity the oldest clean
 * session is folded first, so the interesting ones (leftovers) survive longest.
 */
struct hist_rec {
    struct st_rec_session rec;
    uint32_t nsites, reserved;
    struct sess_site_total sites[SESS_SITES_KEPT];
};

struct hist_ring {
    struct hist_rec *recs;
    uint32_t head, count;       /* head: oldest */
};

static struct hist_ring leftover_ring, clean_ring;
/* Fork child, a session was being added: the rings may be torn. Start them empty. */
static void hist_repair(uint32_t i)
{
    (void)i;
    leftover_ring.head = leftover_ring.count = 0;
    clean_ring.head = clean_ring.count = 0;
}
ST_LOCK_DEFINE(hist_lock, ST_RANK_SESSION_HIST, hist_repair);
static uint32_t capacity;
static bool rings_ready;
static uint64_t rings_bytes;
static struct st_rec_session_summary summary;

#define HIST_KEPT_MAX (1u << 20)

/* Called under hist_lock. Sized on first use, after the options were parsed. */
static void rings_init(void)
{
    if (rings_ready) return;
    rings_ready = true;
    uint64_t k = st_opt.sessions_kept;
    if (k > HIST_KEPT_MAX) {
        st_log("sessions: SESSTRIM_SESSIONS_KEPT=%llu is too large, keeping %u",
               (unsigned long long)k, HIST_KEPT_MAX);
        k = HIST_KEPT_MAX;
    }
    if (!k) return;
    size_t bytes = (size_t)k * sizeof(struct hist_rec);
    leftover_ring.recs = meta_map(bytes);
    clean_ring.recs = meta_map(bytes);
    if (!leftover_ring.recs || !clean_ring.recs) {
        st_log("sessions: no memory for the ended-session history: every ended session "
               "is only summarised");
        meta_unmap(leftover_ring.recs, bytes);
        meta_unmap(clean_ring.recs, bytes);
        leftover_ring.recs = clean_ring.recs = NULL;
        return;
    }
    capacity = (uint32_t)k;
    rings_bytes = 2 * (uint64_t)bytes;
}

static void fold(const struct st_rec_session *r)
{
    summary.folded_sessions++;
    summary.folded_alloc_bytes += r->total_alloc_bytes;
    summary.folded_allocs += r->total_allocs;
    summary.folded_leftover_bytes += r->leftover_bytes;
    summary.folded_leftover_count += r->leftover_count;
}

static struct hist_rec *ring_at(struct hist_ring *ring, uint32_t i)
{
    return &ring->recs[(ring->head + i) % capacity];
}

static void ring_drop_oldest(struct hist_ring *ring)
{
    fold(&ring_at(ring, 0)->rec);
    ring->head = (ring->head + 1) % capacity;
    ring->count--;
}

void sess_history_add(const struct st_rec_session *rec, const struct sess_site_total *sites,
                      uint32_t nsites)
{
    st_lock(&hist_lock);
    rings_init();
    summary.ended_sessions_total++;
    if (!capacity) {
        fold(rec);
        st_unlock(&hist_lock);
        return;
    }
    if (leftover_ring.count + clean_ring.count >= capacity)
        ring_drop_oldest(clean_ring.count ? &clean_ring : &leftover_ring);
    struct hist_ring *ring = rec->leftover_count ? &leftover_ring : &clean_ring;
    struct hist_rec *h = ring_at(ring, ring->count++);
    h->rec = *rec;
    h->nsites = nsites > SESS_SITES_KEPT ? SESS_SITES_KEPT : nsites;
    memcpy(h->sites, sites, h->nsites * sizeof h->sites[0]);
    st_unlock(&hist_lock);
}

uint64_t sess_history_meta_bytes(void) { return __atomic_load_n(&rings_bytes, __ATOMIC_RELAXED); }

/* ---------------------------------------------------------------- leftover sites */
/* Walking the live table costs O(live allocations) on the thread that ends the session.
 * A server ending thousands of leaky sessions a second over millions of live allocations
 * must not pay that each time: the walks share a budget of SITE_WALK_ENTRIES_PER_SEC
 * table entries per second (a few milliseconds of CPU), and a session ended when the
 * budget is spent is recorded without its sites. */
#define SITE_WALK_ENTRIES_PER_SEC (2u << 20)
#define SITE_GROUPS 64

struct site_walk {
    uint32_t ref, ngroups;
    struct sess_site_total groups[SITE_GROUPS];
};

static uint64_t walk_window_start_ns, walk_entries_in_window; /* atomics */

static bool walk_allowed(uint64_t entries)
{
    uint64_t now = st_now_ns();
    uint64_t start = __atomic_load_n(&walk_window_start_ns, __ATOMIC_RELAXED);
    if (now - start > 1000000000ull &&
        __atomic_compare_exchange_n(&walk_window_start_ns, &start, now, false,
                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        __atomic_store_n(&walk_entries_in_window, 0, __ATOMIC_RELAXED);
    uint64_t cost = entries + 1;
    if (__atomic_add_fetch(&walk_entries_in_window, cost, __ATOMIC_RELAXED) <= SITE_WALK_ENTRIES_PER_SEC)
        return true;
    __atomic_sub_fetch(&walk_entries_in_window, cost, __ATOMIC_RELAXED);
    return false;
}

static void group_by_site(const struct st_entry *e, void *arg)
{
    struct site_walk *w = arg;
    if (e->session != w->ref) return;
    uint32_t i = 0;
    while (i < w->ngroups && w->groups[i].site != e->site) i++;
    if (i == w->ngroups) {
        if (w->ngroups == SITE_GROUPS) return; /* rare: only the top few are kept anyway */
        w->groups[w->ngroups++] = (struct sess_site_total){ .site = e->site };
    }
    w->groups[i].bytes += e->size;
    w->groups[i].count++;
}

uint32_t sess_leftover_sites(uint32_t ref, struct sess_site_total *out)
{
    if (!walk_allowed(livetable_count())) return 0;
    struct site_walk w = { .ref = ref };
    livetable_walk(group_by_site, &w);
    /* Partial selection sort: the SESS_SITES_KEPT largest by bytes. */
    uint32_t n = w.ngroups < SESS_SITES_KEPT ? w.ngroups : SESS_SITES_KEPT;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t best = i;
        for (uint32_t j = i + 1; j < w.ngroups; j++)
            if (w.groups[j].bytes > w.groups[best].bytes) best = j;
        struct sess_site_total tmp = w.groups[i];
        w.groups[i] = w.groups[best];
        w.groups[best] = tmp;
        out[i] = w.groups[i];
    }
    return n;
}

/* ---------------------------------------------------------------- dump */
struct open_copy { struct st_rec_session *recs; size_t n, cap; };

static void copy_open(const struct st_session *s, void *arg)
{
    struct open_copy *c = arg;
    /* A session being ended right now goes to the history instead: listing it here too
     * would count it twice. */
    if (__atomic_load_n(&s->state, __ATOMIC_RELAXED) != SESS_OPEN) return;
    if (c->recs && c->n < c->cap) sess_fill_record(s, &c->recs[c->n]);
    c->n++;
}

/* An ended session still in its slot has current live counters; one whose slot was
 * recycled has none left (its leftovers were all freed). */
static void refresh_ended(struct st_rec_session *r)
{
    struct st_session *s = sess_slot_of_ref((uint32_t)r->id);
    if (s && __atomic_load_n(&s->id, __ATOMIC_RELAXED) == r->id) {
        struct sess_live live = sess_live_of(s);
        r->live_bytes = live.bytes;
        r->live_count = live.count;
        r->frees = __atomic_load_n(&s->frees, __ATOMIC_RELAXED);
        r->total_alloc_bytes = __atomic_load_n(&s->total_alloc_bytes, __ATOMIC_RELAXED);
        r->total_allocs = __atomic_load_n(&s->total_allocs, __ATOMIC_RELAXED);
        r->kept_in_bytes = __atomic_load_n(&s->kept_in_bytes, __ATOMIC_RELAXED);
        r->kept_in_count = __atomic_load_n(&s->kept_in_count, __ATOMIC_RELAXED);
    } else {
        r->frees += r->live_count;
        r->live_bytes = r->live_count = 0;
    }
}

/* Records are copied under the locks and written after, so a slow dump file never holds
 * up begin/end on other threads. */
int sessions_dump_records(struct st_dump_writer *w)
{
    struct open_copy oc = { 0 };
    sess_registry_visit(copy_open, &oc);
    oc.cap = oc.n + 64;
    size_t open_bytes = oc.cap * sizeof(struct st_rec_session);
    oc.recs = meta_map(open_bytes);
    oc.n = 0;
    if (oc.recs) sess_registry_visit(copy_open, &oc);
    if (oc.n > oc.cap) oc.n = oc.cap;

    st_lock(&hist_lock);
    size_t nhist = (size_t)leftover_ring.count + clean_ring.count;
    size_t hist_bytes = (nhist ? nhist : 1) * sizeof(struct hist_rec);
    struct hist_rec *hist = meta_map(hist_bytes);
    size_t nh = 0;
    if (hist) {
        for (uint32_t i = 0; i < leftover_ring.count; i++) hist[nh++] = *ring_at(&leftover_ring, i);
        for (uint32_t i = 0; i < clean_ring.count; i++) hist[nh++] = *ring_at(&clean_ring, i);
    }
    struct st_rec_session_summary sum = summary;
    st_unlock(&hist_lock);
    sum.open_sessions = sessions_open_count();

    int rc = 0;
    for (size_t i = 0; i < oc.n && rc == 0; i++)
        rc = dump_put(w, ST_REC_SESSION, &oc.recs[i], sizeof oc.recs[i], NULL, 0);
    for (size_t i = 0; i < nh && rc == 0; i++) {
        refresh_ended(&hist[i].rec);
        rc = dump_put(w, ST_REC_SESSION, &hist[i].rec, sizeof hist[i].rec, NULL, 0);
        for (uint32_t j = 0; j < hist[i].nsites && rc == 0; j++) {
            struct st_rec_session_site site = {
                .session_id = hist[i].rec.id, .site_id = hist[i].sites[j].site,
                .bytes = hist[i].sites[j].bytes, .count = hist[i].sites[j].count,
            };
            rc = dump_put(w, ST_REC_SESSION_SITE, &site, sizeof site, NULL, 0);
        }
    }
    if (rc == 0) rc = dump_put(w, ST_REC_SESSION_SUMMARY, &sum, sizeof sum, NULL, 0);
    if (oc.recs) meta_unmap(oc.recs, open_bytes);
    if (hist) meta_unmap(hist, hist_bytes);
    return rc < 0 ? -1 : 0;
}
