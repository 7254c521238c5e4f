/* arena_trim.c: the shim's own release of free memory, arena by arena, under glibc's own
 * arena lock taken in short slices: (1) the resident pages of the top chunk beyond its
 * header (malloc_trim(0) never touches a thread arena's top), (2) the whole pages inside
 * free chunks of the unsorted bin and of the bins of page size and up (what glibc's mtrim
 * releases), never the chunk's own words (prev_size, size, fd, bk, fd/bk_nextsize). The
 * same sweep, without madvise, measures free-but-resident bytes for free-resident>. Every
 * chunk is found through the validated walker of arena_stats.c. */
#include <sched.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "trim.h"
#include "arena_stats.h"

/* A lock hold ends after the step that crosses SLICE_NS, or as soon as a thread waits for
 * the lock. Short holds matter more than their cost: a hold is wall time, and the longer
 * it is, the likelier the trimmer is descheduled inside it (then a waiter waits for the
 * scheduler, milliseconds on a loaded machine). */
#define SLICE_NS 200000ull
#define STEP_BYTES (128ull << 10)     /* one mincore + madvise step: ~10-40 us when resident */
#define MAX_SLICES_PER_ARENA 100000u  /* a sweep that cannot progress must still end */

static uint64_t page_size(void)
{
    static uint64_t ps;
    if (!ps) ps = (uint64_t)sysconf(_SC_PAGESIZE);
    return ps;
}

enum { PHASE_TOP, PHASE_BINS, PHASE_DONE };

/* One arena's sweep, kept across slices (the lock is dropped between them). */
struct sweep {
    bool release;                 /* false: only measure */
    uint64_t pad;
    int phase;
    uintptr_t top_upper;          /* top pages at and above this are done */
    int bin;                      /* bin being walked, its position, offset in that chunk */
    uint32_t pos;
    uint64_t chunk_off;
    uint64_t deadline;
    const int *lock_word;         /* the arena's lock: 2 = a thread waits for it */
    bool stopped;                 /* the visitor ran out of slice */
    bool progressed;              /* this slice did any work (not only re-walking) */
    uint64_t top_bytes, bin_bytes;/* released (or measured resident) */
};

static struct st_fl fl;               /* guarded by the trim lock */

/* End the hold now: its time is up, or a thread is waiting for the arena. */
static bool slice_over(const struct sweep *s)
{
    return __atomic_load_n(s->lock_word, __ATOMIC_RELAXED) > 1 || st_now_ns() >= s->deadline;
}

/* Release (or measure) whole pages in [lo, hi), one step at a time, from `lo` upward;
 * returns where it stopped (hi when done). */
static uintptr_t pages_up(struct sweep *s, uintptr_t lo, uintptr_t hi, uint64_t *bytes)
{
    while (lo < hi) {
        uintptr_t step_hi = hi - lo > STEP_BYTES ? lo + STEP_BYTES : hi;
        uint64_t res = resident_bytes(lo, step_hi);
        if (res && s->release) madvise((void *)lo, step_hi - lo, MADV_DONTNEED);
        *bytes += res;
        lo = step_hi;
        s->progressed = true;
        if (slice_over(s)) break;
    }
    return lo;
}

/* The top: released from its high end down, so glibc's next allocations from its low end
 * keep their pages. For a thread arena the top must end exactly where its heap's used part
 * ends, for main_arena at the current break: else this is not the layout we know. */
static void sweep_top(struct sweep *s)
{
    uint64_t ps = page_size();
    uintptr_t top;
    uint64_t size;
    if (!fl_top(&fl, &top, &size) || top + size != fl.r[0].start + fl.r[0].len) {
        static bool warned;
        if (!__atomic_exchange_n(&warned, true, __ATOMIC_RELAXED))
            st_log("trim: an arena's top chunk does not match glibc's layout; its top is left alone");
        s->phase = PHASE_BINS;
        return;
    }
    uintptr_t lo = (top + CHUNK_HDR + s->pad + ps - 1) & ~(uintptr_t)(ps - 1);
    uintptr_t hi = (top + size) & ~(uintptr_t)(ps - 1);
    if (hi > s->top_upper) hi = s->top_upper;
    while (hi > lo) {
        uintptr_t step_lo = hi - lo > STEP_BYTES ? hi - STEP_BYTES : lo;
        uint64_t res = resident_bytes(step_lo, hi);
        if (res && s->release) madvise((void *)step_lo, hi - step_lo, MADV_DONTNEED);
        s->top_bytes += res;
        s->progressed = true;
        hi = step_lo;
        s->top_upper = hi;
        if (hi > lo && slice_over(s)) return;
    }
    s->phase = PHASE_BINS;
}

static bool bin_chunk(uintptr_t p, uint64_t size, void *ctx)
{
    struct sweep *s = ctx;
    uint64_t ps = page_size();
    /* glibc's mtrim: from the first page boundary past the free chunk's own words */
    uintptr_t lo = (p + CHUNK_FREE_HDR + ps - 1) & ~(uintptr_t)(ps - 1);
    uintptr_t hi = (p + size) & ~(uintptr_t)(ps - 1);
    if (hi > lo) {
        uintptr_t from = lo + s->chunk_off < hi ? lo + s->chunk_off : lo;
        uintptr_t at = pages_up(s, from, hi, &s->bin_bytes);
        if (at < hi) {                /* out of slice inside this chunk: resume here */
            s->chunk_off = at - lo;
            s->stopped = true;
            return false;
        }
    }
    s->chunk_off = 0;
    s->pos++;
    s->progressed = true;
    if (slice_over(s)) { s->stopped = true; return false; }
    return true;
}

static void sweep_bins(struct sweep *s)
{
    int first = fl_large_bin_index(page_size());
    while (s->bin < MSTATE_NBINS) {
        if (s->bin > 1 && s->bin < first) s->bin = first;   /* smaller chunks hold no page */
        s->stopped = false;
        fl_walk_bin(&fl, s->bin, s->pos, bin_chunk, s);
        if (fl.corrupt) { s->phase = PHASE_DONE; return; }
        if (s->stopped) return;
        s->bin++;
        s->pos = 0;
        s->chunk_off = 0;
        if (s->bin < MSTATE_NBINS && slice_over(s)) return;
    }
    s->phase = PHASE_DONE;
}

/* One lock hold. Lock held; fl opened. Progress is any move of the saved position. */
static void sweep_slice(struct sweep *s)
{
    int phase = s->phase, bin = s->bin;
    uint32_t pos = s->pos;
    uint64_t off = s->chunk_off;
    uintptr_t top_upper = s->top_upper;
    if (s->phase == PHASE_TOP) sweep_top(s);
    if (s->phase == PHASE_BINS && !slice_over(s)) sweep_bins(s);
    s->progressed = phase != s->phase || bin != s->bin || pos != s->pos || off != s->chunk_off ||
                    top_upper != s->top_upper;
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool lock_arena(const struct st_arena *a, bool wait)
{
    if (wait) { arena_lock(a->state); return true; }
    return __atomic_load_n((int *)a->state, __ATOMIC_RELAXED) == 0 && arena_trylock(a->state);
}

/* The trimmer's CPU time since it last slept. A task that has run for a while is the one
 * the scheduler preempts next (its slice is used up), and a preempted lock holder keeps
 * the arena's threads waiting until it runs again, for milliseconds on a loaded machine:
 * the holds are not longer in CPU time (tens of us), they are off CPU. So a lock is taken
 * only early in a burst: past BURST_CPU_NS the trimmer first sleeps, and wakes with a
 * fresh slice. This costs the trim wall time, never the program. Policy sweeps (the
 * trimmer thread) only: an API caller waits for locks like glibc, and is the program's. */
#define BURST_CPU_NS 100000ull
#define BURST_SLEEP_NS 500000L
static uint64_t burst_cpu0;           /* guarded by the trim lock */

static void fresh_burst_if_due(void)
{
    uint64_t c = thread_cpu_ns();
    if (c - burst_cpu0 < BURST_CPU_NS) return;
    struct timespec ts = {0, BURST_SLEEP_NS};
    nanosleep(&ts, NULL);
    burst_cpu0 = thread_cpu_ns();
}

/* Sweep one arena in slices. Returns false if it was skipped (lock held right now, or a
 * layout that does not check out). */
static bool sweep_arena(const struct st_arena *a, struct sweep *s, bool wait, struct trim_pass *pass,
                        bool *corrupt)
{
    bool first = true;
    s->phase = PHASE_TOP;
    s->top_upper = UINTPTR_MAX;
    s->bin = 1;
    s->pos = 0;
    s->chunk_off = 0;
    *corrupt = false;
    s->lock_word = (const int *)(a->state + MSTATE_MUTEX);
    for (uint32_t n = 0; n < MAX_SLICES_PER_ARENA && s->phase != PHASE_DONE; n++) {
        if (!wait) fresh_burst_if_due();
        if (!lock_arena(a, wait)) return !first;
        uint64_t t0 = st_now_ns(), c0 = thread_cpu_ns();
        s->deadline = t0 + SLICE_NS;
        if (!fl_open_locked(a, &fl)) {
            arena_unlock(a->state);
            return !first;
        }
        sweep_slice(s);
        if (fl.corrupt) *corrupt = true;
        bool contended = __atomic_load_n(s->lock_word, __ATOMIC_RELAXED) > 1;
        arena_unlock(a->state);
        uint64_t hold = st_now_ns() - t0;
        if (hold > pass->max_hold_ns) {
            pass->max_hold_ns = hold;
            pass->max_hold_cpu_ns = thread_cpu_ns() - c0;
        }
        pass->slices++;
        first = false;
        if (!s->progressed && s->phase != PHASE_DONE) break;   /* re-walking ate the slice */
        /* A thread waited for the arena: it is in use. A policy sweep leaves the rest for
         * the next trim (progress kept is not worth a wait); an API sweep lets the waiter
         * have the lock first (glibc's lock is not fair: an immediate retake would win). */
        if (contended && !wait) return true;
        if (contended) sched_yield();
    }
    return true;
}

static bool selected(const struct trim_pass *pass, uint32_t id)
{
    if (pass->only && !pass->only[id]) return false;
    return !(pass->busy && pass->busy[id]);
}

void arena_trim_all(struct trim_pass *pass)
{
    pass->trimmed = pass->skipped = pass->slices = 0;
    pass->released_bytes = pass->top_released = pass->bin_released = 0;
    pass->max_hold_ns = pass->max_hold_cpu_ns = 0;
    pass->corrupt = false;
    pass->n_results = 0;
    burst_cpu0 = thread_cpu_ns();     /* the trimmer just woke from its tick */
    arena_discover_all();
    uint32_t n = arena_count();
    for (uint32_t id = 0; id < n && pass->n_results < ST_ARENA_MAX; id++) {
        const struct st_arena *a = arena_get(id);
        if (!a || !a->state) continue;
        if (pass->only && !pass->only[id]) continue;
        if (!selected(pass, id)) { pass->skipped++; continue; }
        struct trim_arena_result *res = &pass->results[pass->n_results];
        struct sweep s = {.release = true, .pad = pass->pad};
        uint64_t t0 = st_now_ns();
        bool corrupt;
        bool done = sweep_arena(a, &s, pass->wait_for_lock, pass, &corrupt);
        if (corrupt) {
            pass->corrupt = true;
            static bool warned;
            if (!__atomic_exchange_n(&warned, true, __ATOMIC_RELAXED))
                st_log("trim: arena %u: a free list fails validation (heap corrupted?); the rest of that arena is left alone", id);
        }
        if (!done) { pass->skipped++; continue; }
        res->arena_id = id;
        res->released_bytes = s.top_bytes + s.bin_bytes;
        res->duration_ns = st_now_ns() - t0;
        pass->trimmed++;
        pass->top_released += s.top_bytes;
        pass->bin_released += s.bin_bytes;
        pass->released_bytes += res->released_bytes;
        pass->n_results++;
    }
}

uint64_t arena_free_resident(const bool *busy)
{
    static struct trim_pass measure;  /* guarded by the trim lock; only its counters used */
    measure.max_hold_ns = 0;
    measure.slices = 0;
    measure.wait_for_lock = false;
    burst_cpu0 = thread_cpu_ns();
    arena_discover_all();
    uint64_t total = 0;
    uint32_t n = arena_count();
    for (uint32_t id = 0; id < n; id++) {
        const struct st_arena *a = arena_get(id);
        if (!a || !a->state || (busy && busy[id])) continue;
        struct sweep s = {.release = false};
        bool corrupt;
        if (sweep_arena(a, &s, false, &measure, &corrupt)) total += s.top_bytes + s.bin_bytes;
    }
    return total;
}
