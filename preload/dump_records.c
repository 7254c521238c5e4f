/* dump_records.c: the process, arena and thread records of a dump, from one walk over the
 * live table plus glibc's arena state and the thread registry. */
#include <gnu/libc-version.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "shim.h"
#include "arena_stats.h"
#include "dump_parts.h"
#include "trim.h"

extern char **environ;

static void walk_entry(const struct st_entry *e, void *ctx)
{
    struct dump_walk *w = ctx;
    uint64_t chunk = entry_chunk_bytes(e);
    w->live_bytes += e->size;
    w->chunk_bytes += chunk;
    w->count++;
    if (e->arena == ST_ENTRY_ARENA_MMAPPED) {
        w->mmapped_bytes += chunk;
        w->mmapped_count++;
    } else if (e->arena < ST_ARENA_MAX && w->arenas) {
        w->arenas[e->arena].live_bytes += e->size;
        w->arenas[e->arena].chunk_bytes += chunk;
        w->arenas[e->arena].count++;
    }
    if (w->sites && e->site && e->site < w->nsites) {
        w->sites[e->site].live_bytes += e->size;
        w->sites[e->site].count++;
    }
}

void dump_walk_live(struct dump_walk *w)
{
    memset(w, 0, sizeof *w);
    w->arenas = meta_map(ST_ARENA_MAX * sizeof(struct arena_agg));
    w->nsites = stacks_count() + 1;
    w->sites = meta_map(w->nsites * sizeof(struct site_agg));
    if (!w->sites) w->nsites = 0;
    livetable_walk(walk_entry, w);
    w->mallinfo = mallinfo2();    /* locks every arena: once per dump */
}

void dump_walk_release(struct dump_walk *w)
{
    meta_unmap(w->arenas, ST_ARENA_MAX * sizeof(struct arena_agg));
    if (w->sites) meta_unmap(w->sites, w->nsites * sizeof(struct site_agg));
}

static uint64_t status_kb(const char *status, const char *key)
{
    const char *p = strstr(status, key);
    return p ? strtoull(p + strlen(key), NULL, 10) * 1024 : 0;
}

void dump_process_record(struct st_dump_writer *w, int reason, const struct dump_walk *walk)
{
    struct st_rec_process p;
    memset(&p, 0, sizeof p);
    p.pid = (uint32_t)getpid();
    p.ppid = (uint32_t)getppid();
    p.flags = (st_arena_logic ? ST_PROC_ARENA_LOGIC : 0) | (st_foreign_malloc ? ST_PROC_FOREIGN_MALLOC : 0) |
              (st_opt.stacks_mode != ST_STACKS_OFF ? ST_PROC_STACKS : 0) | st_process_flags;
    p.reason = (uint32_t)reason;
    p.time_ns = st_realtime_ns();
    p.start_ns = st_start_realtime_ns;
    char status[4096];
    if (st_read_small_file(ST_PROC_SELF "/status", status, sizeof status)) {
        p.rss_bytes = status_kb(status, "VmRSS:");
        p.rss_anon_bytes = status_kb(status, "RssAnon:");
        p.rss_file_bytes = status_kb(status, "RssFile:");
        p.vm_bytes = status_kb(status, "VmSize:");
    }
    p.live_bytes = walk->live_bytes;
    p.live_chunk_bytes = walk->chunk_bytes;
    p.live_count = walk->count;
    for (struct st_thread *t = threads_first(); t; t = __atomic_load_n(&t->next, __ATOMIC_ACQUIRE)) {
        p.total_allocs += __atomic_load_n(&t->allocs, __ATOMIC_RELAXED);
        p.total_frees += __atomic_load_n(&t->frees, __ATOMIC_RELAXED);
    }
    p.untracked_frees = __atomic_load_n(&st_untracked_frees, __ATOMIC_RELAXED);
    p.glibc_mmapped_bytes = walk->mmapped_bytes;
    p.glibc_mmapped_count = walk->mmapped_count;
    const struct mallinfo2 mi = walk->mallinfo;
    p.mi_arena = mi.arena; p.mi_ordblks = mi.ordblks; p.mi_hblks = mi.hblks; p.mi_hblkhd = mi.hblkhd;
    p.mi_uordblks = mi.uordblks; p.mi_fordblks = mi.fordblks; p.mi_keepcost = mi.keepcost;
    p.meta_bytes = meta_bytes_mapped();
    p.meta_resident_bytes = meta_bytes_resident();
    p.heap_max_size = st_heap_max_size;
    p.page_size = (uint64_t)sysconf(_SC_PAGESIZE);
    p.stack_sample_bytes = st_opt.stacks_mode == ST_STACKS_ALL ? 1 :
                           st_opt.stacks_mode == ST_STACKS_SAMPLE ? st_opt.stack_sample_bytes : 0;
    strncpy(p.glibc_version, gnu_get_libc_version(), sizeof p.glibc_version - 1);
    ssize_t n = readlink(ST_PROC_SELF "/exe", p.exe, sizeof p.exe - 1);
    if (n < 0) p.exe[0] = 0;
    size_t len = st_read_small_file(ST_PROC_SELF "/cmdline", p.cmdline, sizeof p.cmdline);
    for (size_t i = 0; i + 1 < len; i++) if (!p.cmdline[i]) p.cmdline[i] = ' ';
    dump_put(w, ST_REC_PROCESS, &p, sizeof p, NULL, 0);
    dump_config_record(w);
}

static bool env_is(const char *e, const char *prefix)
{
    return strncmp(e, prefix, strlen(prefix)) == 0;
}

/* A decimal value after "name=" inside `s` (GLIBC_TUNABLES: "a.b=1:c.d=2"); -1 if absent. */
static int64_t tunable(const char *s, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = s; p && *p;) {
        if (strncmp(p, name, n) == 0 && p[n] == '=') return strtoll(p + n + 1, NULL, 0);
        p = strchr(p, ':');
        if (p) p++;
    }
    return -1;
}

/* The settings in force, parsed, and the environment they came from. The environment is
 * read through environ (no getenv copies, no allocation); the variable part holds at most
 * 4 KiB of "NAME=value\0" strings. */
void dump_config_record(struct st_dump_writer *w)
{
    struct st_rec_config c;
    memset(&c, 0, sizeof c);
    c.stacks_mode = (uint32_t)st_opt.stacks_mode;
    c.stack_sample_bytes = st_opt.stack_sample_bytes;
    c.arena_max = st_opt.arena_max > 0 ? st_opt.arena_max : -1;
    c.trim_threshold = st_opt.trim_threshold;
    c.dump_signal = (uint32_t)st_opt.dump_signal;
    c.log_target = (uint32_t)st_opt.log_target;
    c.dump_interval_ns = st_opt.dump_interval_ms * 1000000ull;
    c.timeline_interval_ns = st_opt.timeline_interval_ms * 1000000ull;
    c.session_leftover_log = st_opt.session_leftover_log;
    c.sessions_kept = st_opt.sessions_kept;
    c.flags = (st_opt.dump_on_session_end ? ST_CONFIG_DUMP_ON_SESSION_END : 0) |
              (st_opt.session_inherit ? ST_CONFIG_SESSION_INHERIT : 0) |
              (trim_pol.session_end ? ST_CONFIG_TRIM_SESSION_END : 0) |
              (trim_pol.glibc_pass ? ST_CONFIG_TRIM_GLIBC_PASS : 0);
    c.trim_idle_ns = trim_pol.idle_ns;
    c.trim_rss_high = trim_pol.rss_high;
    c.trim_every_ns = trim_pol.every_ns;
    c.trim_free_resident = trim_pol.free_resident;
    c.trim_min_interval_ns = trim_pol.min_interval_ns;
    c.trim_check_ns = trim_pol.check_ns;
    c.trim_quiet_ns = trim_pol.quiet_ns;
    c.trim_pad = trim_pol.pad;
    c.trim_bad_tokens = trim_pol.bad_tokens;
    c.env_arena_max = c.env_trim_threshold = c.env_mmap_threshold = -1;

    static char env[4096];      /* under the dump lock */
    size_t used = 0;
    for (char **e = environ; e && *e; e++) {
        const char *v = *e;
        if (!env_is(v, "SESSTRIM_") && !env_is(v, "GLIBC_TUNABLES=") && !env_is(v, "MALLOC_")) continue;
        if (env_is(v, "GLIBC_TUNABLES=")) {
            const char *t = v + strlen("GLIBC_TUNABLES=");
            int64_t x;
            if ((x = tunable(t, "glibc.malloc.arena_max")) >= 0) c.env_arena_max = x;
            if ((x = tunable(t, "glibc.malloc.trim_threshold")) >= 0) c.env_trim_threshold = x;
            if ((x = tunable(t, "glibc.malloc.mmap_threshold")) >= 0) c.env_mmap_threshold = x;
        }
        /* glibc reads the old variables after the tunables, so they win when both are set */
        if (env_is(v, "MALLOC_ARENA_MAX=")) c.env_arena_max = strtoll(v + 17, NULL, 0);
        if (env_is(v, "MALLOC_TRIM_THRESHOLD_=")) c.env_trim_threshold = strtoll(v + 23, NULL, 0);
        if (env_is(v, "MALLOC_MMAP_THRESHOLD_=")) c.env_mmap_threshold = strtoll(v + 23, NULL, 0);
        size_t len = strlen(v) + 1;
        if (used + len > sizeof env) continue;
        memcpy(env + used, v, len);
        used += len;
    }
    dump_put(w, ST_REC_CONFIG, &c, sizeof c, env, (uint32_t)used);
}

/* With no thread arena ever created, main_arena's address cannot be found (glibc does not
 * export it), but then it is the only arena and mallinfo2 describes it exactly: keepcost
 * is its top chunk, which ends the brk heap. */
static void main_arena_from_mallinfo(struct st_rec_arena *r, uint32_t narenas, const struct mallinfo2 *m)
{
    if (narenas > 1) return;
    const struct mallinfo2 mi = *m;
    r->system_bytes = mi.arena;
    r->top_bytes = mi.keepcost;
    r->free_bin_bytes = mi.fordblks - mi.fsmblks - mi.keepcost;
    r->free_fast_bytes = mi.fsmblks;
    struct st_range heap;
    if (arena_heap_ranges(0, &heap, 1) == 1) {
        r->heaps = 1;
        r->heap_bytes = heap.len;
        r->resident_bytes = resident_bytes(heap.start, heap.start + heap.len);
        uintptr_t end = heap.start + heap.len;
        if (mi.keepcost <= heap.len) r->top_resident_bytes = resident_bytes(end - mi.keepcost, end);
    }
}

void dump_arena_records(struct st_dump_writer *w, const struct dump_walk *walk)
{
    if (!st_arena_logic) return;
    arena_discover_all();
    uint32_t n = arena_count();
    for (uint32_t id = 0; id < n; id++) {
        const struct st_arena *a = arena_get(id);
        if (!a) continue;
        /* main_arena is always reported: mallinfo2 describes it even when its address is
         * unknown and nothing is live there */
        if (id != 0 && !a->state && walk->arenas && walk->arenas[id].count == 0) continue;
        struct st_rec_arena r;
        memset(&r, 0, sizeof r);
        r.id = id;
        r.kind = id == 0 ? ST_ARENA_MAIN : ST_ARENA_THREAD;
        r.address = a->state;
        if (walk->arenas) {
            r.live_bytes = walk->arenas[id].live_bytes;
            r.live_chunk_bytes = walk->arenas[id].chunk_bytes;
            r.live_count = walk->arenas[id].count;
        }
        struct st_arena_glibc g;
        if (arena_collect(id, &g)) {
            r.system_bytes = g.system_mem;
            r.max_system_bytes = g.max_system_mem;
            r.heaps = g.heaps;
            r.heap_bytes = g.heap_bytes;
            r.free_bin_bytes = g.free_bins;
            r.free_fast_bytes = g.free_fast;
            r.top_bytes = g.top_size;
            r.top_resident_bytes = g.top_resident;
            r.free_resident_bytes = g.free_bins_resident;
            r.resident_bytes = g.resident;
            r.attached_threads = (uint32_t)g.attached_threads;
        }
        else if (id == 0) main_arena_from_mallinfo(&r, n, &walk->mallinfo);
        r.threads_seen = __atomic_load_n(&a->threads_seen, __ATOMIC_RELAXED);
        dump_put(w, ST_REC_ARENA, &r, sizeof r, NULL, 0);
    }
}

static void thread_name(struct st_thread *t, char *out)
{
    /* t->name is written by the thread's exit (before its EXITED flag, released) or by the
     * trimmer for itself at start: read only after the acquire of EXITED. */
    bool exited = __atomic_load_n(&t->flags, __ATOMIC_ACQUIRE) & ST_THREAD_EXITED;
    if (exited) {
        memcpy(out, t->name, 16);
        out[15] = 0;
        return;
    }
    char path[64], buf[32];
    snprintf(path, sizeof path, "/proc/self/task/%u/comm", t->tid);
    size_t n = st_read_small_file(path, buf, sizeof buf);
    if (n && buf[n - 1] == '\n') buf[--n] = 0;
    if (!n) { memcpy(out, "?", 2); return; }
    size_t k = n < 15 ? n : 15;
    memcpy(out, buf, k);
    out[k] = 0;
}

void dump_thread_records(struct st_dump_writer *w)
{
#define LD(f) __atomic_load_n(&(f), __ATOMIC_RELAXED)   /* counters their owner bumps */
    for (struct st_thread *t = threads_first(); t; t = __atomic_load_n(&t->next, __ATOMIC_ACQUIRE)) {
        struct st_rec_thread r;
        memset(&r, 0, sizeof r);
        r.idx = t->idx; r.tid = t->tid; r.parent_idx = LD(t->parent_idx);
        r.flags = __atomic_load_n(&t->flags, __ATOMIC_ACQUIRE);
        r.start_ns = t->start_ns; r.exit_ns = LD(t->exit_ns);
        r.allocs = LD(t->allocs); r.frees = LD(t->frees);
        r.alloc_bytes = LD(t->alloc_bytes); r.freed_bytes = LD(t->freed_bytes);
        r.cross_frees = LD(t->cross_frees); r.cross_free_bytes = LD(t->cross_free_bytes);
        r.freed_by_others = __atomic_load_n(&t->freed_by_others, __ATOMIC_RELAXED);
        r.freed_by_others_bytes = __atomic_load_n(&t->freed_by_others_bytes, __ATOMIC_RELAXED);
        /* live_bytes/live_count stay 0: the counters above were read at different moments
         * (other threads keep freeing), so only the reader derives and clamps them. */
        r.home_arena = LD(t->home_arena);
        thread_name(t, r.name);
        dump_put(w, ST_REC_THREAD, &r, sizeof r, NULL, 0);
        uint32_t na = __atomic_load_n(&t->n_arenas, __ATOMIC_ACQUIRE);
        for (uint32_t i = 0; i < na && i < ST_THREAD_ARENAS; i++) {
            struct st_rec_arena_thread at = {.arena_id = LD(t->arena_ids[i]), .thread_idx = t->idx,
                                             .allocs = LD(t->arena_allocs[i])};
            dump_put(w, ST_REC_ARENA_THREAD, &at, sizeof at, NULL, 0);
        }
        for (unsigned i = 0; i < ST_XFREE_SLOTS; i++) {
            const struct st_xfree_cell *c = &t->xfree[i];
            if (!__atomic_load_n(&c->used, __ATOMIC_ACQUIRE)) break;
            struct st_rec_xfree x = {.freer_idx = t->idx, .alloc_idx = c->alloc_idx,
                                     .count = LD(c->count), .bytes = LD(c->bytes)};
            dump_put(w, ST_REC_XFREE, &x, sizeof x, NULL, 0);
        }
        if (LD(t->xfree_other_count)) {
            struct st_rec_xfree x = {.freer_idx = t->idx, .alloc_idx = UINT32_MAX,
                                     .count = LD(t->xfree_other_count), .bytes = LD(t->xfree_other_bytes)};
            dump_put(w, ST_REC_XFREE, &x, sizeof x, NULL, 0);
        }
    }
#undef LD
}
