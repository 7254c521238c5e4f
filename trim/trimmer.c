/* trimmer.c: the trim entry points the core calls (init, trim_now, session end, fork) and
 * the shim's own trimmer thread that evaluates the SESSTRIM_TRIM policies. */
#include <linux/futex.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "trim.h"
#include "service.h"
#include "trim_hot.h"

struct trim_policy trim_pol;

static bool trimmer_running;
static int wake_word;                 /* futex: 1 = trimmer has something to look at */
static int session_end_pending;
static int trim_busy;                 /* the trim lock: one trim or measurement at a time */

/* A trim takes milliseconds: waiters yield rather than spin a core away. */
void trim_lock(void)
{
    while (__atomic_exchange_n(&trim_busy, 1, __ATOMIC_ACQUIRE)) {
        for (int i = 0; i < 64 && __atomic_load_n(&trim_busy, __ATOMIC_RELAXED); i++)
            __builtin_ia32_pause();
        if (__atomic_load_n(&trim_busy, __ATOMIC_RELAXED)) sched_yield();
    }
}
void trim_unlock(void) { __atomic_store_n(&trim_busy, 0, __ATOMIC_RELEASE); }

/* Bytes as "MiB with one decimal" for st_log, without floating point. */
#define MIB_FMT "%llu.%llu MiB"
/* Rounded to the nearest tenth, as sesstrim-report prints the same bytes. */
#define MIB_TENTHS(b) (((uint64_t)(b) * 10 + (1u << 19)) >> 20)
#define MIB_ARGS(b) (unsigned long long)(MIB_TENTHS(b) / 10), (unsigned long long)(MIB_TENTHS(b) % 10)

static struct trim_pass pass;         /* guarded by the trim lock; too big for a stack */

const struct trim_pass *trim_last_pass(void) { return &pass; }

static void say_fallback_once(void)
{
    static bool said;
    if (!__atomic_exchange_n(&said, true, __ATOMIC_RELAXED))
        st_log("trim: glibc arena internals not readable here; trims fall back to malloc_trim(0)");
}

long long trim_run_locked(int trigger, const bool *busy, const bool *only, uint32_t flags)
{
    uint64_t t0 = st_now_ns();
    uint64_t rss_before = proc_rss_bytes();
    bool logic = st_arena_logic;
    bool glibc_pass = trim_pol.glibc_pass || !logic;
    struct trim_arena_result glibc_res = {.arena_id = TRIM_ARENA_GLIBC_PASS};

    if (!logic) say_fallback_once();
    if (glibc_pass) {
        /* glibc's own pass (glibc=on, or the only one possible): it holds each arena's
         * lock for its whole walk. Measured as a whole. */
        malloc_trim(0);
        uint64_t r1 = proc_rss_bytes();
        glibc_res.released_bytes = rss_before > r1 ? rss_before - r1 : 0;
        glibc_res.duration_ns = st_now_ns() - t0;
        flags |= TRIM_F_GLIBC_PASS;
    }
    memset(&pass, 0, offsetof(struct trim_pass, results));
    if (logic) {
        pass.wait_for_lock = trigger == ST_TRIG_API;
        pass.busy = busy;
        pass.only = only;
        pass.pad = trim_pol.pad;
        arena_trim_all(&pass);
        if (pass.corrupt) flags |= TRIM_F_CORRUPT;
    }
    /* The shim's own peak too: live-table shards that a burst of allocations grew. Policy
     * trims rebuild only shards untouched since the last tick (a rebuild holds the shard's
     * lock for milliseconds); an API trim waits like glibc would and takes them all. */
    uint64_t table_hold_ns = 0;
    uint64_t shim_released = livetable_release_unused(trigger != ST_TRIG_API, &table_hold_ns);
    uint64_t rss_after = proc_rss_bytes();
    uint64_t released = glibc_res.released_bytes + pass.released_bytes;

    struct st_rec_trim rec;
    memset(&rec, 0, sizeof rec);
    rec.seq = trim_records_next_seq();
    rec.trigger = (uint32_t)trigger;
    rec.time_ns = st_realtime_ns();
    rec.rss_before = rss_before;
    rec.rss_after = rss_after;
    rec.released_bytes = released;
    rec.duration_ns = st_now_ns() - t0;
    rec.arenas_trimmed = pass.trimmed;
    rec.arenas_skipped = pass.skipped;
    rec.max_lock_hold_ns = pass.max_hold_ns;
    rec.top_released_bytes = pass.top_released;
    rec.bin_released_bytes = pass.bin_released;
    rec.slices = pass.slices;
    rec.flags = flags;
    rec.shim_released_bytes = shim_released;
    trim_records_add(&rec, glibc_pass ? &glibc_res : NULL, pass.results, pass.n_results);

    st_info("trim #%u %s%s: rss " MIB_FMT " -> " MIB_FMT ", released " MIB_FMT
           " (tops " MIB_FMT ", bins " MIB_FMT "%s), shim tables " MIB_FMT " (lock %llu us), arenas %u trimmed"
           " %u skipped, %llu us, longest arena lock %llu us (%llu us on CPU) in %u slices",
           rec.seq, st_trim_trigger_name((uint32_t)trigger), (flags & TRIM_F_IDLE_ALL) ? "-all" : "",
           MIB_ARGS(rss_before), MIB_ARGS(rss_after), MIB_ARGS(released),
           MIB_ARGS(pass.top_released), MIB_ARGS(pass.bin_released),
           glibc_pass ? ", after malloc_trim(0)" : "", MIB_ARGS(shim_released),
           (unsigned long long)(table_hold_ns / 1000), pass.trimmed, pass.skipped,
           (unsigned long long)(rec.duration_ns / 1000),
           (unsigned long long)(pass.max_hold_ns / 1000),
           (unsigned long long)(pass.max_hold_cpu_ns / 1000), pass.slices);
    timeline_event(ST_EV_TRIM, rec.seq);
    return (long long)released;
}

long long trim_now(int trigger)
{
    trim_lock();
    long long r = trim_run_locked(trigger, NULL, NULL, 0);
    trim_unlock();
    return r;
}

ST_API(long long, trim, (void), ()) { return trim_now(ST_TRIG_API); }

void trim_on_session_end(void)
{
    if (!trim_pol.session_end || !__atomic_load_n(&trimmer_running, __ATOMIC_ACQUIRE)) return;
    /* The ending thread must not pay for a trim: hand it to the trimmer. */
    __atomic_store_n(&session_end_pending, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&wake_word, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &wake_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* ---------------------------------------------------------------- the trimmer thread */

/* Per-arena activity, derived from counters the hot path keeps anyway: a thread's
 * allocations per arena slot (arena_allocs[], arena_ids[]), and the frees of each arena's
 * chunks, whichever thread freed them (trim_hot.h: the free path marks the chunk's arena;
 * the trimmer clears the marks at each tick and counts the ticks that saw one). The
 * trimmer sums them per arena at each tick; an arena whose sum did not move for DUR had no
 * malloc/free of its memory for DUR. Records outlive their threads, so the sums never go
 * back. */
struct trim_arena_mark trim_arena_freed[ST_ARENA_MAX];
static uint64_t arena_free_ticks[ST_ARENA_MAX];
static uint64_t arena_act[ST_ARENA_MAX], arena_act_now[ST_ARENA_MAX];
static uint64_t arena_changed_ns[ST_ARENA_MAX];
static bool arena_busy[ST_ARENA_MAX];          /* changed within quiet= */
static bool arena_idle_armed[ST_ARENA_MAX];    /* idle=: active since its last idle trim */
static bool arena_idle_due[ST_ARENA_MAX];
static bool arena_rss_pending[ST_ARENA_MAX];   /* rss>: busy since the trigger disarmed */

static void update_arena_activity(uint64_t now, uint64_t quiet_ns)
{
    uint32_t n = arena_count();
    if (n > ST_ARENA_MAX) n = ST_ARENA_MAX;
    memset(arena_act_now, 0, n * sizeof arena_act_now[0]);
    for (struct st_thread *t = threads_first(); t; t = __atomic_load_n(&t->next, __ATOMIC_ACQUIRE)) {
        uint32_t na = __atomic_load_n(&t->n_arenas, __ATOMIC_RELAXED);
        if (na > ST_THREAD_ARENAS) na = ST_THREAD_ARENAS;
        for (uint32_t i = 0; i < na; i++) {
            uint32_t id = __atomic_load_n(&t->arena_ids[i], __ATOMIC_RELAXED);
            if (id < n) arena_act_now[id] += __atomic_load_n(&t->arena_allocs[i], __ATOMIC_RELAXED);
        }
    }
    for (uint32_t id = 0; id < n; id++) {
        if (__atomic_load_n(&trim_arena_freed[id].freed, __ATOMIC_RELAXED) &&
            __atomic_exchange_n(&trim_arena_freed[id].freed, 0, __ATOMIC_RELAXED))
            arena_free_ticks[id]++;
        arena_act_now[id] += arena_free_ticks[id];
        if (!arena_changed_ns[id]) arena_changed_ns[id] = now;   /* first seen: idle from now */
        if (arena_act_now[id] != arena_act[id]) {
            arena_act[id] = arena_act_now[id];
            arena_changed_ns[id] = now;
            arena_idle_armed[id] = true;
            arena_rss_pending[id] = true;
        }
        arena_busy[id] = now - arena_changed_ns[id] < quiet_ns;
    }
}

static void wait_tick(uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull)};
    if (!__atomic_load_n(&wake_word, __ATOMIC_ACQUIRE))
        syscall(SYS_futex, &wake_word, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
    __atomic_store_n(&wake_word, 0, __ATOMIC_RELEASE);
}

struct policy_state {
    uint64_t last_trim_ns, last_periodic_ns;
    uint64_t last_activity, last_activity_ns;
    uint64_t quiet_ns;            /* quiet=, at least one tick: "busy" needs a window */
    bool idle_all_armed;
    bool rss_armed;
    uint64_t rss_rearm_above;     /* after a trim left RSS above the mark: fire again here */
};

/* idle=: the armed arenas quiet for idle_ns. */
static bool idle_arenas_due(uint64_t now)
{
    bool any = false;
    uint32_t n = arena_count();
    for (uint32_t id = 0; id < n && id < ST_ARENA_MAX; id++) {
        arena_idle_due[id] = arena_idle_armed[id] && now - arena_changed_ns[id] >= trim_pol.idle_ns;
        any |= arena_idle_due[id];
    }
    return any;
}

/* rss> re-arms once an arena that was busy when it disarmed (or became busy since) has
 * gone quiet and the quiet arenas hold free resident memory worth a trim (an eighth of the
 * mark). All quiet arenas are measured, not only that one: the memory freed while it was
 * busy may be in another arena (a free path without chunk marks counts a thread's frees
 * on its own arena). Each busy-to-quiet change
 * costs one measurement, so a heartbeat resting between beats is no trim loop. */
static bool rss_rearm_by_idle(void)
{
    bool any = false;
    uint32_t n = arena_count();
    for (uint32_t id = 0; id < n && id < ST_ARENA_MAX; id++)
        if (arena_rss_pending[id] && !arena_busy[id]) { arena_rss_pending[id] = false; any = true; }
    if (!any) return false;
    trim_lock();
    uint64_t fr = arena_free_resident(arena_busy);
    trim_unlock();
    return fr > trim_pol.rss_high / 8;
}

/* The first trigger whose condition holds now, or 0. */
static int due_trigger(struct policy_state *s, uint64_t now)
{
    const struct trim_policy *p = &trim_pol;
    if (p->session_end && __atomic_load_n(&session_end_pending, __ATOMIC_ACQUIRE))
        return ST_TRIG_SESSION_END;
    if (p->idle_all_ns && s->idle_all_armed && now - s->last_activity_ns >= p->idle_all_ns)
        return ST_TRIG_IDLE;
    if (p->idle_ns && idle_arenas_due(now)) return ST_TRIG_IDLE;
    if (p->every_ns && now - s->last_periodic_ns >= p->every_ns)
        return ST_TRIG_PERIODIC;
    if (p->rss_high) {
        uint64_t rss = proc_rss_bytes();
        if (rss <= p->rss_high) {
            s->rss_armed = true;
            s->rss_rearm_above = 0;
        } else if (s->rss_armed || (s->rss_rearm_above && rss > s->rss_rearm_above) || rss_rearm_by_idle()) {
            return ST_TRIG_RSS;
        }
    }
    if (p->free_resident) {
        /* Busy arenas are not counted: their trim would skip them, and the trigger would
         * fire every min-interval for nothing. Once they rest they count, and it fires. */
        trim_lock();
        uint64_t fr = arena_free_resident(s->quiet_ns ? arena_busy : NULL);
        trim_unlock();
        if (fr > p->free_resident) return ST_TRIG_FREE_RESIDENT;
    }
    return 0;
}

static void after_trim(struct policy_state *s, int trigger, uint32_t flags, uint64_t now)
{
    s->last_trim_ns = now;
    switch (trigger) {
    case ST_TRIG_SESSION_END: __atomic_store_n(&session_end_pending, 0, __ATOMIC_RELEASE); break;
    case ST_TRIG_IDLE:
        if (flags & TRIM_F_IDLE_ALL) { s->idle_all_armed = false; break; }
        /* An arena it reached rests until its threads use it again; one whose lock was
         * held right then stays due. */
        for (uint32_t i = 0; i < pass.n_results; i++)
            if (pass.results[i].arena_id < ST_ARENA_MAX) arena_idle_armed[pass.results[i].arena_id] = false;
        break;
    case ST_TRIG_PERIODIC: s->last_periodic_ns = now; break;
    case ST_TRIG_RSS: {
        /* RSS still above the mark after a trim: the memory is in use. Do not trim again
         * until RSS grows by another eighth of the mark or dips below it, or an arena
         * busy now (or later) goes quiet. */
        uint64_t rss = proc_rss_bytes();
        if (rss <= trim_pol.rss_high) break;
        s->rss_armed = false;
        s->rss_rearm_above = rss + trim_pol.rss_high / 8;
        uint32_t n = arena_count();
        for (uint32_t id = 0; id < n && id < ST_ARENA_MAX; id++) arena_rss_pending[id] = arena_busy[id];
        break;
    }
    default: break;
    }
}

static void *trimmer_main(void *arg)
{
    (void)arg;
    prctl(PR_SET_NAME, "sesstrim-trim", 0, 0, 0);
    shim_thread_settle();
    struct st_thread *self = thread_self();
    if (self) {
        __atomic_or_fetch(&self->flags, ST_THREAD_SHIM, __ATOMIC_RELEASE);
        memcpy(self->name, "sesstrim-trim", sizeof "sesstrim-trim");
    }
    uint64_t tick = trim_policy_tick_ns(&trim_pol);
    uint64_t now = st_now_ns();
    struct policy_state s = {.last_trim_ns = 0, .last_periodic_ns = now,
                             .last_activity = threads_activity(), .last_activity_ns = now,
                             .quiet_ns = trim_pol.quiet_ns ? (trim_pol.quiet_ns > tick ? trim_pol.quiet_ns : tick) : 0,
                             .idle_all_armed = true, .rss_armed = true};
    for (;;) {
        wait_tick(tick);
        control_maybe_start();        /* a process that rarely allocates still gets its socket */
        now = st_now_ns();
        uint64_t act = threads_activity();
        if (act != s.last_activity) {
            s.last_activity = act;
            s.last_activity_ns = now;
            s.idle_all_armed = true;
        }
        /* Finds main_arena (once) and arenas created since: their activity counts too. */
        arena_discover_all();
        update_arena_activity(now, s.quiet_ns ? s.quiet_ns : tick);
        if (s.last_trim_ns && now - s.last_trim_ns < trim_pol.min_interval_ns) { livetable_note_quiet(); continue; }
        int trigger = due_trigger(&s, now);
        if (!trigger) { livetable_note_quiet(); continue; }
        /* idle-all: everything is quiet by definition; idle: exactly the due arenas.
         * Session end: the arenas that just freed are the ones to trim. The others leave
         * recently busy arenas alone. */
        bool idle_all = trigger == ST_TRIG_IDLE && trim_pol.idle_all_ns && s.idle_all_armed &&
                        now - s.last_activity_ns >= trim_pol.idle_all_ns;
        bool per_arena = trigger == ST_TRIG_IDLE && !idle_all;
        bool use_busy = s.quiet_ns && trigger != ST_TRIG_IDLE && trigger != ST_TRIG_SESSION_END;
        uint32_t flags = idle_all ? TRIM_F_IDLE_ALL : 0;
        trim_lock();
        trim_run_locked(trigger, use_busy ? arena_busy : NULL, per_arena ? arena_idle_due : NULL, flags);
        after_trim(&s, trigger, flags, st_now_ns());
        trim_unlock();
        livetable_note_quiet();
    }
    return NULL;
}

static void start_trimmer(void)
{
    int rc = shim_thread_create(trimmer_main, NULL);
    if (rc != 0) {
        st_log("trim: cannot start the trimmer thread (error %d): policies off", rc);
        return;
    }
    __atomic_store_n(&trimmer_running, true, __ATOMIC_RELEASE);
}

static void apply_mallopt(void)
{
    if (st_opt.arena_max > 0) {
        if (!mallopt(M_ARENA_MAX, (int)st_opt.arena_max))
            st_log("SESSTRIM_ARENA_MAX=%ld: mallopt refused it", st_opt.arena_max);
    }
    if (st_opt.trim_threshold >= 0) {
        if (!mallopt(M_TRIM_THRESHOLD, (int)st_opt.trim_threshold))
            st_log("SESSTRIM_TRIM_THRESHOLD=%ld: mallopt refused it", st_opt.trim_threshold);
    }
}

void trim_init(void)
{
    trim_policy_parse(st_opt.trim_policy, &trim_pol);
    apply_mallopt();
    if (!trim_policy_has_trigger(&trim_pol)) {
        if (st_opt.trim_policy[0] && trim_pol.bad_tokens == 0 &&
            strcmp(st_opt.trim_policy, "off") && strcmp(st_opt.trim_policy, "none"))
            st_log("SESSTRIM_TRIM='%s' names no trigger: nothing will be trimmed automatically",
                   st_opt.trim_policy);
        return;
    }
    char desc[256];
    trim_policy_describe(&trim_pol, desc, sizeof desc);
    st_info("trim policy: %s", desc);
    if (!st_arena_logic) say_fallback_once();
    start_trimmer();
}

/* ---------------------------------------------------------------- fork */

/* No lock is held across fork (preload/lock.h): a trim another thread was running is simply
 * not the child's; glibc's fork itself waits for the arena locks a trim holds. */
static bool restart_in_child;

void trim_after_fork_child(void)
{
    trim_records_after_fork_child();
    __atomic_store_n(&trim_busy, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&wake_word, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&session_end_pending, 0, __ATOMIC_RELAXED);
    memset(arena_changed_ns, 0, sizeof arena_changed_ns);
    memset(arena_act, 0, sizeof arena_act);
    memset(arena_idle_armed, 0, sizeof arena_idle_armed);
    memset(arena_rss_pending, 0, sizeof arena_rss_pending);
    bool was_running = __atomic_load_n(&trimmer_running, __ATOMIC_ACQUIRE);
    __atomic_store_n(&trimmer_running, false, __ATOMIC_RELEASE);
    /* The parent's trimmer did not survive fork(); the child gets its own on its first
     * allocation (trim_child_restart), not from inside the atfork handler. */
    restart_in_child = was_running && trim_policy_has_trigger(&trim_pol);
}

void trim_child_restart(void)
{
    if (restart_in_child) start_trimmer();
    restart_in_child = false;
}
