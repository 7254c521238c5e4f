/* sessions.c: session scopes (issue 3): the slot registry, per-thread session stacks, the
 * hot-path accounting hooks and the exported sesstrim_impl_* session API. */
#include <inttypes.h>
#include <string.h>
#include "sessions.h"


/* ---------------------------------------------------------------- registry */
/* Slots live in chunks mapped on demand; chunk pointers are published once and never
 * unmapped, so the hot path reads them without a lock. Index 0 is never used: ref 0 means
 * "no session". Free slots form a LIFO list under registry_lock. */
static struct st_session *chunks[SESS_MAX_CHUNKS];
static uint32_t slots_used_hwm = 1;      /* next never-used slot index */
static uint32_t free_head;               /* 0: empty */
/* Fork child, another thread was taking or returning a slot: the free list may be torn.
 * Drop it (those slots are not reused in the child). */
static void registry_repair(uint32_t i) { (void)i; free_head = 0; }
ST_LOCK_DEFINE(registry_lock, ST_RANK_SESSIONS, registry_repair);
static uint32_t serial_next = 1;
static uint64_t open_sessions;           /* atomic */
static int full_warned;

static inline struct st_session *slot_at(uint32_t idx)
{
    struct st_session *c = __atomic_load_n(&chunks[idx >> SESS_CHUNK_SHIFT], __ATOMIC_ACQUIRE);
    return c ? &c[idx & (SESS_CHUNK_SLOTS - 1)] : NULL;
}

struct st_session *sess_slot_of_ref(uint32_t ref)
{
    struct st_session *s = slot_at(ref & SESS_IDX_MASK);
    if (ST_UNLIKELY(!s) || __atomic_load_n(&s->ref, __ATOMIC_ACQUIRE) != ref) return NULL;
    return s;
}

/* The slot of an open session by public id, or NULL. */
static struct st_session *open_slot_of_id(uint64_t id)
{
    if (!id) return NULL;
    struct st_session *s = sess_slot_of_ref((uint32_t)id);
    if (!s || __atomic_load_n(&s->id, __ATOMIC_ACQUIRE) != id) return NULL;
    if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != SESS_OPEN) return NULL;
    return s;
}

/* Take a slot and give it a fresh ref and id. Counters were zeroed when it was freed. */
static struct st_session *slot_acquire(void)
{
    st_lock(&registry_lock);
    uint32_t idx = free_head;
    struct st_session *s = NULL;
    if (idx) {
        s = slot_at(idx);
        free_head = s->next_free;
    } else if (slots_used_hwm <= SESS_IDX_MASK) {
        idx = slots_used_hwm;
        uint32_t c = idx >> SESS_CHUNK_SHIFT;
        if (!chunks[c]) {
            struct st_session *mem = meta_map(sizeof(struct st_session) * SESS_CHUNK_SLOTS);
            if (mem) __atomic_store_n(&chunks[c], mem, __ATOMIC_RELEASE);
        }
        if (chunks[c]) {
            slots_used_hwm++;
            s = slot_at(idx);
        }
    }
    if (!s) {
        int warn = !full_warned;
        full_warned = 1;
        st_unlock(&registry_lock);
        if (warn) st_log("sessions: no free session slot (%u in use or out of memory): "
                         "new sessions are not tracked", SESS_IDX_MASK);
        return NULL;
    }
    uint32_t serial = serial_next++;
    if (!serial_next) serial_next = 1;
    s->generation = (s->generation + 1) & (UINT32_MAX >> SESS_IDX_BITS);
    uint32_t ref = (s->generation << SESS_IDX_BITS) | idx;
    s->next_free = 0;
    __atomic_store_n(&s->id, ((uint64_t)serial << 32) | ref, __ATOMIC_RELAXED);
    __atomic_store_n(&s->state, SESS_OPEN, __ATOMIC_RELAXED);
    __atomic_store_n(&s->ref, ref, __ATOMIC_RELEASE);
    st_unlock(&registry_lock);
    __atomic_add_fetch(&open_sessions, 1, __ATOMIC_RELAXED);
    return s;
}

/* Return an ended, empty slot. A thread that still tags with the old ref is ignored from
 * here on: sess_slot_of_ref sees the ref change first. */
static void slot_release(struct st_session *s)
{
    uint32_t idx = s->ref & SESS_IDX_MASK;
    __atomic_store_n(&s->ref, 0, __ATOMIC_RELEASE);
    uint32_t generation = s->generation;
    /* Word by word, atomically: a thread that read the old ref just before it changed may
     * still be adding to these counters (its update is then lost, never torn). */
    _Static_assert(offsetof(struct st_session, total_alloc_bytes) % 8 == 0 &&
                   (sizeof(struct st_session) - offsetof(struct st_session, total_alloc_bytes)) % 8 == 0,
                   "session counters are cleared as 64-bit words");
    for (uint64_t *w = (uint64_t *)((char *)s + offsetof(struct st_session, total_alloc_bytes));
         w < (uint64_t *)(s + 1); w++)
        __atomic_store_n(w, 0, __ATOMIC_RELAXED);
    s->generation = generation;
    st_lock(&registry_lock);
    s->next_free = free_head;
    free_head = idx;
    __atomic_store_n(&s->state, SESS_FREE, __ATOMIC_RELEASE);
    st_unlock(&registry_lock);
}

/* Whoever observes "ended and empty" first recycles the slot; the CAS makes it once. */
static void try_recycle(struct st_session *s)
{
    uint32_t expect = SESS_ENDED;
    if (__atomic_compare_exchange_n(&s->state, &expect, SESS_RECYCLING, false,
                                    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
        slot_release(s);
}

void sess_registry_visit(void (*fn)(const struct st_session *, void *), void *ctx)
{
    st_lock(&registry_lock);
    for (uint32_t i = 1; i < slots_used_hwm; i++) {
        struct st_session *s = slot_at(i);
        uint32_t st = s ? __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) : SESS_FREE;
        if (st != SESS_FREE && st != SESS_RECYCLING) fn(s, ctx);
    }
    st_unlock(&registry_lock);
}

static uint32_t threads_seen(const struct st_session *s)
{
    uint32_t n = 0;
    for (size_t i = 0; i < SESS_THREAD_BITS / 64; i++)
        n += (uint32_t)__builtin_popcountll(__atomic_load_n(&s->threads[i], __ATOMIC_RELAXED));
    return n;
}

/* The name is read by dumps while its slot may be recycled and renamed: copied as
 * relaxed atomic words (a name may come out torn between two sessions, never UB). */
_Static_assert(ST_SESSION_NAME_MAX % 8 == 0 && offsetof(struct st_session, name) % 8 == 0, "name words");
static void name_load(char *dst, const char *src)
{
    for (size_t i = 0; i < ST_SESSION_NAME_MAX; i += 8) {
        uint64_t w = __atomic_load_n((const uint64_t *)(const void *)(src + i), __ATOMIC_RELAXED);
        memcpy(dst + i, &w, 8);
    }
}
static void name_store(char *dst, const char *src)
{
    for (size_t i = 0; i < ST_SESSION_NAME_MAX; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, 8);
        __atomic_store_n((uint64_t *)(void *)(dst + i), w, __ATOMIC_RELAXED);
    }
}

void sess_fill_record(const struct st_session *s, struct st_rec_session *out)
{
    memset(out, 0, sizeof *out);
    out->id = __atomic_load_n(&s->id, __ATOMIC_RELAXED);
    out->parent_id = __atomic_load_n(&s->parent_id, __ATOMIC_RELAXED);
    out->begin_ns = __atomic_load_n(&s->begin_ns, __ATOMIC_RELAXED);
    out->end_ns = __atomic_load_n(&s->end_ns, __ATOMIC_RELAXED);
    struct sess_live live = sess_live_of(s);
    out->live_bytes = live.bytes;
    out->live_count = live.count;
    out->peak_bytes = __atomic_load_n(&s->peak_bytes, __ATOMIC_RELAXED);
    out->total_alloc_bytes = __atomic_load_n(&s->total_alloc_bytes, __ATOMIC_RELAXED);
    out->total_allocs = __atomic_load_n(&s->total_allocs, __ATOMIC_RELAXED);
    out->frees = __atomic_load_n(&s->frees, __ATOMIC_RELAXED);
    out->kept_in_bytes = __atomic_load_n(&s->kept_in_bytes, __ATOMIC_RELAXED);
    out->kept_in_count = __atomic_load_n(&s->kept_in_count, __ATOMIC_RELAXED);
    out->threads_seen = threads_seen(s);
    uint32_t st = __atomic_load_n(&s->state, __ATOMIC_RELAXED);
    out->flags = (st == SESS_ENDED || st == SESS_RECYCLING) ? ST_SESSION_ENDED : 0;
    name_load(out->name, s->name);
}

/* ---------------------------------------------------------------- hot path */
static inline void raise_peak(struct st_session *s, uint64_t live)
{
    uint64_t peak = __atomic_load_n(&s->peak_bytes, __ATOMIC_RELAXED);
    while (live > peak && (int64_t)live > 0 &&
           !__atomic_compare_exchange_n(&s->peak_bytes, &peak, live, true,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
}

/* An ended session's slot is recycled once it owns nothing. Called after a seq-cst add
 * to frees or kept_out_count: end() stores ENDED and then reads those counters, we add
 * and then read the state, so one of the two always sees the other. */
static inline void recycle_if_empty(struct st_session *s)
{
    if (ST_UNLIKELY(__atomic_load_n(&s->state, __ATOMIC_SEQ_CST) == SESS_ENDED) &&
        sess_live_of(s).count == 0)
        try_recycle(s);
}

void sessions_on_alloc(uint32_t ref, uint64_t bytes, struct st_thread *t)
{
    (void)t;
    struct st_session *s = sess_slot_of_ref(ref);
    if (ST_UNLIKELY(!s)) return;
    uint64_t total = __atomic_add_fetch(&s->total_alloc_bytes, bytes, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->total_allocs, 1, __ATOMIC_RELAXED);
    raise_peak(s, total + __atomic_load_n(&s->kept_in_bytes, __ATOMIC_RELAXED)
                  - __atomic_load_n(&s->kept_out_bytes, __ATOMIC_RELAXED)
                  - __atomic_load_n(&s->freed_bytes, __ATOMIC_RELAXED));
}

void sessions_on_free(uint32_t ref, uint64_t bytes)
{
    struct st_session *s = sess_slot_of_ref(ref);
    if (ST_UNLIKELY(!s)) return;
    __atomic_add_fetch(&s->freed_bytes, bytes, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->frees, 1, __ATOMIC_SEQ_CST);
    recycle_if_empty(s); /* s may be recycled from here on */
}

/* ---------------------------------------------------------------- per-thread stacks */
/* Public ids, innermost last. Initial-exec TLS: zero in every new thread, no allocation. */
static ST_TLS uint64_t stack_ids[SESS_STACK_DEPTH];
static ST_TLS uint32_t stack_depth;
static int depth_warned;

static void publish_current(void)
{
    st_cur_session = stack_depth ? (uint32_t)stack_ids[stack_depth - 1] : 0;
}

static void mark_thread(struct st_session *s)
{
    struct st_thread *t = thread_self();
    uint32_t bit = t ? t->idx % SESS_THREAD_BITS : 0;
    uint64_t mask = 1ull << (bit % 64);
    if (!(__atomic_load_n(&s->threads[bit / 64], __ATOMIC_RELAXED) & mask))
        __atomic_fetch_or(&s->threads[bit / 64], mask, __ATOMIC_RELAXED);
}

static bool stack_full(void)
{
    if (ST_LIKELY(stack_depth < SESS_STACK_DEPTH)) return false;
    if (!__atomic_exchange_n(&depth_warned, 1, __ATOMIC_RELAXED))
        st_log("sessions: more than %d sessions nested on one thread: ignoring the "
               "innermost ones", SESS_STACK_DEPTH);
    return true;
}

static bool stack_push(uint64_t id)
{
    if (stack_full()) return false;
    stack_ids[stack_depth++] = id;
    publish_current();
    return true;
}

/* Remove the innermost occurrence of id from this thread's stack. */
static bool stack_remove(uint64_t id)
{
    for (uint32_t i = stack_depth; i-- > 0;) {
        if (stack_ids[i] != id) continue;
        memmove(&stack_ids[i], &stack_ids[i + 1], (stack_depth - i - 1) * sizeof stack_ids[0]);
        stack_depth--;
        publish_current();
        return true;
    }
    return false;
}

void sessions_thread_start(struct st_thread *t, uint32_t inherited)
{
    (void)t;
    if (!inherited || !st_opt.session_inherit) return;
    struct st_session *s = sess_slot_of_ref(inherited);
    if (!s || __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != SESS_OPEN) return;
    uint64_t id = __atomic_load_n(&s->id, __ATOMIC_ACQUIRE);
    if ((uint32_t)id != inherited) return;
    if (stack_push(id)) mark_thread(s);
}

/* ---------------------------------------------------------------- API */
ST_EXPORT int sesstrim_impl_active(void) { return 1; }

static void copy_name(char *dst, const char *name, uint64_t id)
{
    size_t n = 0;
    if (name) {
        while (n < ST_SESSION_NAME_MAX - 1 && name[n]) n++;
        memcpy(dst, name, n);
    }
    if (n == 0) {
        /* Unnamed: "session-<serial>", written without stdio. */
        char digits[12];
        int nd = 0;
        uint32_t serial = (uint32_t)(id >> 32);
        do { digits[nd++] = (char)('0' + serial % 10); serial /= 10; } while (serial);
        memcpy(dst, "session-", 8);
        n = 8;
        while (nd) dst[n++] = digits[--nd];
    }
    dst[n] = 0;
}

ST_API(uint64_t, session_begin, (const char *name), (name))
{
    if (stack_full()) return 0;
    struct st_session *s = slot_acquire();
    if (!s) return 0;
    uint64_t id = s->id;
    uint64_t parent = stack_depth ? stack_ids[stack_depth - 1] : 0;
    struct st_session *ps = parent ? sess_slot_of_ref((uint32_t)parent) : NULL;
    if (ps && __atomic_load_n(&ps->id, __ATOMIC_RELAXED) == parent) {
        __atomic_store_n(&s->parent_id, parent, __ATOMIC_RELAXED);
        __atomic_store_n(&s->parent_ref, (uint32_t)parent, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&s->begin_ns, st_realtime_ns(), __ATOMIC_RELAXED);
    char buf[ST_SESSION_NAME_MAX] = {0};
    copy_name(buf, name, id);
    name_store(s->name, buf);
    mark_thread(s);
    stack_push(id);
    return id;
}

/* Leftover sites need stacks; with them off every entry has site 0 and the walk would
 * only repeat the totals. */
static uint32_t leftover_sites(uint32_t ref, uint64_t leftover_count, struct sess_site_total *out)
{
    if (!leftover_count || st_opt.stacks_mode == ST_STACKS_OFF) return 0;
    return sess_leftover_sites(ref, out);
}

ST_API(int, session_end, (uint64_t id), (id))
{
    struct st_session *s = open_slot_of_id(id);
    uint32_t expect = SESS_OPEN;
    if (!s || !__atomic_compare_exchange_n(&s->state, &expect, SESS_ENDING, false,
                                           __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
        return -1;
    stack_remove(id);
    __atomic_sub_fetch(&open_sessions, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&s->end_ns, st_realtime_ns(), __ATOMIC_RELAXED);

    /* ENDING pins the slot (no recycling) while the record is taken. */
    struct st_rec_session rec;
    sess_fill_record(s, &rec);
    rec.flags |= ST_SESSION_ENDED;
    rec.leftover_bytes = rec.live_bytes;
    rec.leftover_count = rec.live_count;
    struct sess_site_total sites[SESS_SITES_KEPT];
    uint32_t nsites = leftover_sites((uint32_t)id, rec.leftover_count, sites);
    sess_history_add(&rec, sites, nsites);

    __atomic_store_n(&s->state, SESS_ENDED, __ATOMIC_SEQ_CST);
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* the ENDED store before reading counters */
    if (sess_live_of(s).count == 0) try_recycle(s);
    s = NULL; /* may be recycled from here on */

    if (rec.leftover_bytes > st_opt.session_leftover_log)
        st_info("session %" PRIu64 " \"%s\" ended leaving %" PRIu64 " bytes in %" PRIu64
               " allocations", id, rec.name, rec.leftover_bytes, rec.leftover_count);
    timeline_event(ST_EV_SESSION_END, id);
    trim_on_session_end();
    if (st_opt.dump_on_session_end) dump_write(NULL, ST_DUMP_SESSION_END);
    return 0;
}

ST_API(int, session_enter, (uint64_t id), (id))
{
    struct st_session *s = open_slot_of_id(id);
    if (!s || !stack_push(id)) return -1;
    mark_thread(s);
    return 0;
}

/* Pops the innermost occurrence of id whether enter() or begin() pushed it, so an
 * acceptor thread can begin a session and hand it to workers. Works on ended sessions:
 * a worker may leave after another thread ended the session. */
ST_API(int, session_leave, (uint64_t id), (id))
{
    return id && stack_remove(id) ? 0 : -1;
}

ST_EXPORT uint64_t sesstrim_impl_session_current(void)
{
    return stack_depth ? stack_ids[stack_depth - 1] : 0;
}

/* ---------------------------------------------------------------- keep */
struct keep_ctx { uint64_t to_id; int result; };

/* Runs under the live table's shard lock, so a concurrent free of the same pointer sees
 * either the old owner or the new one, never a half-moved entry. */
static void keep_entry(struct st_entry *e, void *arg)
{
    struct keep_ctx *k = arg;
    struct st_session *from = e->session ? sess_slot_of_ref(e->session) : NULL;
    uint64_t to_id = k->to_id;
    if (!to_id) {
        to_id = from ? __atomic_load_n(&from->parent_id, __ATOMIC_RELAXED) : 0;
        if (!to_id) return;
    }
    struct st_session *to = open_slot_of_id(to_id);
    if (!to) return;
    k->result = 0;
    if (from == to) return;
    e->session = (uint32_t)to_id;
    __atomic_add_fetch(&to->kept_in_bytes, e->size, __ATOMIC_RELAXED);
    __atomic_add_fetch(&to->kept_in_count, 1, __ATOMIC_RELAXED);
    raise_peak(to, sess_live_of(to).bytes);
    if (from) {
        __atomic_add_fetch(&from->kept_out_bytes, e->size, __ATOMIC_RELAXED);
        __atomic_add_fetch(&from->kept_out_count, 1, __ATOMIC_SEQ_CST);
        recycle_if_empty(from);
    }
}

ST_API(int, keep, (const void *ptr, uint64_t to), (ptr, to))
{
    if (!ptr) return -1;
    struct keep_ctx k = { to, -1 };
    if (!livetable_update((uintptr_t)ptr, keep_entry, &k)) return -1;
    return k.result;
}

/* ---------------------------------------------------------------- dump and fork */
uint64_t sessions_open_count(void) { return __atomic_load_n(&open_sessions, __ATOMIC_RELAXED); }

void sessions_after_fork_child(void)
{
}
