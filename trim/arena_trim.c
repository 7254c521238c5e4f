/* arena_trim.c: the shim's own release of free memory, arena by arena, under glibc's own
 * arena lock taken in short slices: (1) the resident pages of the top chunk beyond its
 * header (malloc_trim(0) never touches a thread arena's top), (2) the whole pages inside
 * free chunks of the unsorted bin and of the bins of page size and up (what glibc's mtrim
 * releases), never the chunk's own words (prev_size, size, fd, bk, fd/bk_nextsize). The
 * same sweep, without madvise, measures free-but-resident bytes for free-resident>. Every
 * chunk is found through the validated walker of arena_stats.c. */
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include "trim.h"
#include "arena_stats.h"

#define SLICE_NS 700000ull            /* no new step starts after this much of a lock hold */
#define STEP_BYTES (1ull << 20)       /* one madvise/mincore step: ~0.1-0.3 ms when resident */
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
    bool stopped;                 /* the visitor ran out of slice */
    bool progressed;              /* this slice did any work (not only re-walking) */
    uint64_t top_bytes, bin_bytes;/* released (or measured resident) */
};

static struct st_fl fl;               /* guarded by the trim lock */

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
        if (st_now_ns() >= s->deadline) break;
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
        if (hi > lo && st_now_ns() >= s->deadline) return;
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
    if (st_now_ns() >= s->deadline) { s->stopped = true; return false; }
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
        if (st_now_ns() >= s->deadline && s->bin < MSTATE_NBINS) return;
    }
    s->phase = PHASE_DONE;
}

/* One lock hold. Lock held; fl opened. */
static void sweep_slice(struct sweep *s)
{
    s->progressed = false;
    if (s->phase == PHASE_TOP) sweep_top(s);
    if (s->phase == PHASE_BINS && st_now_ns() < s->deadline) sweep_bins(s);
}

static bool lock_arena(const struct st_arena *a, bool wait)
{
    if (wait) { arena_lock(a->state); return true; }
    return __atomic_load_n((int *)a->state, __ATOMIC_RELAXED) == 0 && arena_trylock(a->state);
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
    for (uint32_t n = 0; n < MAX_SLICES_PER_ARENA && s->phase != PHASE_DONE; n++) {
        /* Between slices, a thread waiting for the arena gets it first: the policy sweep
         * then stops here (progress kept for the next trim is not worth a wait). */
        if (!lock_arena(a, wait)) return !first;
        uint64_t t0 = st_now_ns();
        s->deadline = t0 + SLICE_NS;
        if (!fl_open_locked(a, &fl)) {
            arena_unlock(a->state);
            return !first;
        }
        sweep_slice(s);
        if (fl.corrupt) *corrupt = true;
        arena_unlock(a->state);
        uint64_t hold = st_now_ns() - t0;
        if (hold > pass->max_hold_ns) pass->max_hold_ns = hold;
        pass->slices++;
        first = false;
        if (!s->progressed && s->phase != PHASE_DONE) break;   /* re-walking ate the slice */
        if (s->phase != PHASE_DONE) sched_yield();
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
    pass->max_hold_ns = 0;
    pass->corrupt = false;
    pass->n_results = 0;
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
