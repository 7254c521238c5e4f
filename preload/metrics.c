/* metrics.c: what the control socket answers (`stats`, `sessions`, `metrics`) and the
 * SESSTRIM_METRICS file, rendered as text into a caller's buffer (control.c maps it; nothing
 * here calls malloc). Run by the service thread only.
 *
 * Cost, bounded: one read of /proc statm, one mallinfo2() (it takes each arena's lock in
 * turn, as glibc does for malloc_stats), arena_collect() on at most CTL_ARENAS arenas (each
 * under its own lock, free lists walked with a bound), a relaxed read of the thread records
 * and one visit of the session registry (under its lock). Never a walk of the live table:
 * its cost grows with the program's allocations, so it is left to dumps. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "shim.h"
#include "arena_stats.h"
#include "dump_parts.h"
#include "sessions.h"
#include "service.h"

#define CTL_ARENAS 64u              /* arenas detailed; the rest are summed */

void tb_printf(struct tbuf *b, const char *fmt, ...)
{
    if (b->len + 1 >= b->cap) { b->truncated = true; return; }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= b->cap - b->len) { b->len = b->cap - 1; b->truncated = true; }
    else b->len += (size_t)n;
}

/* ---- one snapshot shared by stats and metrics */
struct arena_snap { uint32_t id; uint64_t resident, free, system, top_resident, threads; };
struct snap {
    uint64_t rss, live, live_allocs, meta, uptime_ns;
    struct mallinfo2 mi;
    uint32_t narenas, ndetail;
    struct arena_snap a[CTL_ARENAS];
    uint64_t rest_resident, rest_free, rest_system;   /* arenas beyond CTL_ARENAS */
    uint32_t threads_alive, threads_seen;
    uint64_t trims, trim_released, sessions_open;
    bool arena_logic;
};
static struct snap S;               /* the service thread's; one render at a time */

static void take_snapshot(void)
{
    memset(&S, 0, sizeof S);
    S.rss = proc_rss_bytes();
    S.live = live_bytes_now();
    S.live_allocs = livetable_count();
    S.meta = meta_bytes_mapped();
    S.uptime_ns = st_realtime_ns() - st_start_realtime_ns;
    if (!st_foreign_malloc) S.mi = mallinfo2();
    S.arena_logic = st_arena_logic;
    if (st_arena_logic) {
        arena_discover_all();
        S.narenas = arena_count();
        for (uint32_t id = 0; id < S.narenas; id++) {
            struct st_arena_glibc g;
            if (!arena_collect(id, &g)) continue;
            const struct st_arena *ar = arena_get(id);
            uint64_t freeb = g.free_bins + g.free_fast + g.top_size;
            if (S.ndetail < CTL_ARENAS) {
                struct arena_snap *a = &S.a[S.ndetail++];
                a->id = id;
                a->resident = g.resident;
                a->free = freeb;
                a->system = g.system_mem;
                a->top_resident = g.top_resident;
                a->threads = ar ? __atomic_load_n(&ar->threads_seen, __ATOMIC_RELAXED) : 0;
            } else {
                S.rest_resident += g.resident;
                S.rest_free += freeb;
                S.rest_system += g.system_mem;
            }
        }
    }
    for (struct st_thread *t = threads_first(); t; t = __atomic_load_n(&t->next, __ATOMIC_ACQUIRE)) {
        uint32_t f = __atomic_load_n(&t->flags, __ATOMIC_RELAXED);
        if (f & (ST_THREAD_SHIM | ST_THREAD_FORK_PARENT)) continue;
        S.threads_seen++;
        if (!(f & ST_THREAD_EXITED)) S.threads_alive++;
    }
    trim_totals(&S.trims, &S.trim_released);
    S.sessions_open = sessions_open_count();
}

/* RSS not in the heap or glibc's mmapped chunks: code, stacks, the program's own mmaps and
 * the resident part of the shim's tables (their mapped size is reported apart: how much of
 * it is resident is not known without a walk of the mappings). */
static uint64_t other_resident(uint64_t heap)
{
    uint64_t known = heap + S.mi.hblkhd;
    return S.rss > known ? S.rss - known : 0;
}

static uint64_t heap_resident(void)
{
    uint64_t r = S.rest_resident;
    for (uint32_t i = 0; i < S.ndetail; i++) r += S.a[i].resident;
    return r;
}

/* ---- sessions, largest live bytes first, same names merged (bounded: `keep` entries). */
struct sess_top { char name[ST_SESSION_NAME_MAX]; uint64_t id, live, allocs; uint32_t state, merged; };
struct top_ctx { struct sess_top *e; uint32_t n, keep; uint64_t other_live, other_n, total; };

static void top_add(const struct st_session *s, void *arg)
{
    struct top_ctx *c = arg;
    struct sess_live l = sess_live_of(s);
    uint32_t state = __atomic_load_n(&s->state, __ATOMIC_RELAXED);
    c->total++;
    for (uint32_t i = 0; i < c->n; i++)
        if (!strncmp(c->e[i].name, s->name, ST_SESSION_NAME_MAX)) {
            c->e[i].live += l.bytes; c->e[i].allocs += l.count; c->e[i].merged++;
            return;
        }
    uint32_t slot = c->n;
    if (c->n == c->keep) {
        uint32_t min = 0;
        for (uint32_t i = 1; i < c->n; i++) if (c->e[i].live < c->e[min].live) min = i;
        if (!c->n || c->e[min].live >= l.bytes) { c->other_live += l.bytes; c->other_n++; return; }
        c->other_live += c->e[min].live;
        c->other_n += 1 + c->e[min].merged;
        slot = min;
    } else {
        c->n++;
    }
    struct sess_top *e = &c->e[slot];
    memcpy(e->name, s->name, ST_SESSION_NAME_MAX);
    e->name[ST_SESSION_NAME_MAX - 1] = 0;
    e->id = s->id; e->live = l.bytes; e->allocs = l.count; e->state = state; e->merged = 0;
}

static int by_live_desc(const struct sess_top *a, const struct sess_top *b) { return a->live < b->live ? 1 : a->live > b->live ? -1 : 0; }

/* Sessions into a mapped scratch array: insertion sort (keep <= 1000). */
static bool top_sessions(struct top_ctx *c, uint32_t keep)
{
    memset(c, 0, sizeof *c);
    c->keep = keep;
    if (!keep) { c->e = NULL; }
    else if (!(c->e = meta_map((size_t)keep * sizeof *c->e))) return false;
    sess_registry_visit(top_add, c);
    for (uint32_t i = 1; i < c->n; i++) {
        struct sess_top t = c->e[i];
        uint32_t j = i;
        while (j > 0 && by_live_desc(&c->e[j - 1], &t) > 0) { c->e[j] = c->e[j - 1]; j--; }
        c->e[j] = t;
    }
    return true;
}
static void top_release(struct top_ctx *c) { if (c->e) meta_unmap(c->e, (size_t)c->keep * sizeof *c->e); }

static const char *state_name(uint32_t s) { return s == SESS_OPEN ? "open" : s == SESS_ENDED ? "ended" : "ending"; }

/* ---- stats: "key value" lines, then "arena ..." and "session ..." lines (sesstrim top
 * parses them; the format is documented in man/sesstrim.1). */
void render_stats(struct tbuf *b)
{
    take_snapshot();
    char comm[32] = "";
    st_read_small_file("/proc/self/comm", comm, sizeof comm);
    comm[strcspn(comm, "\n")] = 0;
    tb_printf(b, "pid %d\ncomm %s\nuptime_seconds %.1f\n", (int)st_pid, comm, (double)S.uptime_ns / 1e9);
    uint64_t heap = heap_resident(), mm = S.mi.hblkhd;
    tb_printf(b, "rss_bytes %llu\nheap_resident_bytes %llu\nlive_bytes %llu\nlive_allocations %llu\n"
              "heap_free_bytes %llu\nglibc_mmapped_bytes %llu\nother_resident_bytes %llu\nshim_metadata_bytes %llu\n",
              (unsigned long long)S.rss, (unsigned long long)heap, (unsigned long long)S.live,
              (unsigned long long)S.live_allocs, (unsigned long long)S.mi.fordblks, (unsigned long long)mm,
              (unsigned long long)other_resident(heap), (unsigned long long)S.meta);
    tb_printf(b, "threads %u\nthreads_seen %u\narenas %u\narena_logic %s\ntrims %llu\ntrim_released_bytes %llu\nsessions_open %llu\n",
              S.threads_alive, S.threads_seen, S.narenas, S.arena_logic ? "on" : "off",
              (unsigned long long)S.trims, (unsigned long long)S.trim_released, (unsigned long long)S.sessions_open);
    for (uint32_t i = 0; i < S.ndetail; i++)
        tb_printf(b, "arena %u resident %llu free %llu system %llu top_resident %llu threads %llu\n",
                  S.a[i].id, (unsigned long long)S.a[i].resident, (unsigned long long)S.a[i].free,
                  (unsigned long long)S.a[i].system, (unsigned long long)S.a[i].top_resident,
                  (unsigned long long)S.a[i].threads);
    if (S.narenas > S.ndetail)
        tb_printf(b, "arena other resident %llu free %llu system %llu\n", (unsigned long long)S.rest_resident,
                  (unsigned long long)S.rest_free, (unsigned long long)S.rest_system);
    struct top_ctx c;
    if (top_sessions(&c, 10)) {
        for (uint32_t i = 0; i < c.n; i++)
            tb_printf(b, "session %s live %llu allocations %llu state %s\n", c.e[i].name,
                      (unsigned long long)c.e[i].live, (unsigned long long)c.e[i].allocs, state_name(c.e[i].state));
        top_release(&c);
    }
}

void render_sessions(struct tbuf *b)
{
    struct top_ctx c;
    if (!top_sessions(&c, 1000)) { tb_printf(b, "error: out of memory for the session list\n"); return; }
    tb_printf(b, "# %llu sessions in slots (open, or ended with leftovers); largest live bytes first\n"
              "# id name state live_bytes live_allocations\n", (unsigned long long)c.total);
    for (uint32_t i = 0; i < c.n; i++)
        tb_printf(b, "%llu %s %s %llu %llu%s\n", (unsigned long long)c.e[i].id, c.e[i].name, state_name(c.e[i].state),
                  (unsigned long long)c.e[i].live, (unsigned long long)c.e[i].allocs,
                  c.e[i].merged ? " (same name merged)" : "");
    if (c.other_n) tb_printf(b, "- (other) - %llu -\n", (unsigned long long)c.other_live);
    top_release(&c);
}

/* ---- Prometheus text exposition (version 0.0.4). Every series carries pid and comm, so
 * the files of several processes in one textfile directory never collide. */
static void label_escape(char *out, size_t len, const char *in)
{
    size_t o = 0;
    for (; *in && o + 3 < len; in++) {
        char c = *in;
        if (c == '\\' || c == '"') { out[o++] = '\\'; out[o++] = c; }
        else if (c == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
        else if ((unsigned char)c >= 0x20) out[o++] = c;
    }
    out[o] = 0;
}

static void family(struct tbuf *b, const char *name, const char *type, const char *help)
{
    tb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void render_metrics(struct tbuf *b)
{
    take_snapshot();
    char comm[32] = "", ecomm[72], base[128];
    st_read_small_file("/proc/self/comm", comm, sizeof comm);
    comm[strcspn(comm, "\n")] = 0;
    label_escape(ecomm, sizeof ecomm, comm);
    snprintf(base, sizeof base, "pid=\"%d\",comm=\"%s\"", (int)st_pid, ecomm);
    uint64_t heap = heap_resident(), mm = S.mi.hblkhd;
#define G1(name, help, v) do { family(b, name, "gauge", help); \
        tb_printf(b, "%s{%s} %llu\n", name, base, (unsigned long long)(v)); } while (0)
    family(b, "sesstrim_resident_bytes", "gauge", "Resident set size (layer total) and its parts: heap (arena heaps resident), glibc_mmapped (chunks glibc mmapped), other (code, stacks, other mappings, the shim tables).");
    tb_printf(b, "sesstrim_resident_bytes{%s,layer=\"total\"} %llu\n", base, (unsigned long long)S.rss);
    tb_printf(b, "sesstrim_resident_bytes{%s,layer=\"heap\"} %llu\n", base, (unsigned long long)heap);
    tb_printf(b, "sesstrim_resident_bytes{%s,layer=\"glibc_mmapped\"} %llu\n", base, (unsigned long long)mm);
    tb_printf(b, "sesstrim_resident_bytes{%s,layer=\"other\"} %llu\n", base, (unsigned long long)other_resident(heap));
    G1("sesstrim_live_bytes", "Bytes the program has allocated and not freed (requested sizes).", S.live);
    G1("sesstrim_live_allocations", "Allocations the program has not freed.", S.live_allocs);
    G1("sesstrim_heap_free_bytes", "Free bytes inside glibc's arenas (mallinfo2 fordblks).", S.mi.fordblks);
    G1("sesstrim_shim_mapped_bytes", "Memory the shim mapped for its own tables (an upper bound of their resident size).", S.meta);
    G1("sesstrim_threads", "Program threads alive.", S.threads_alive);
    G1("sesstrim_arenas", "glibc arenas in use.", S.narenas);
    G1("sesstrim_sessions_open", "Sessions begun and not ended.", S.sessions_open);
    family(b, "sesstrim_start_time_seconds", "gauge", "Start time of the process (or of the fork child) since the epoch.");
    tb_printf(b, "sesstrim_start_time_seconds{%s} %.3f\n", base, (double)st_start_realtime_ns / 1e9);
    family(b, "sesstrim_trims_total", "counter", "Trims run (policy, API and control socket).");
    tb_printf(b, "sesstrim_trims_total{%s} %llu\n", base, (unsigned long long)S.trims);
    family(b, "sesstrim_trim_released_bytes_total", "counter", "Bytes of RSS given back to the kernel by trims.");
    tb_printf(b, "sesstrim_trim_released_bytes_total{%s} %llu\n", base, (unsigned long long)S.trim_released);
    if (S.ndetail || S.narenas > S.ndetail) {
        static const char *const what[3][2] = {
            {"sesstrim_arena_resident_bytes", "Resident bytes of a glibc arena's heaps."},
            {"sesstrim_arena_free_bytes", "Free bytes in a glibc arena (bins, fastbins, top chunk)."},
            {"sesstrim_arena_system_bytes", "Bytes a glibc arena obtained from the system."}};
        for (int k = 0; k < 3; k++) {
            family(b, what[k][0], "gauge", what[k][1]);
            for (uint32_t i = 0; i < S.ndetail; i++) {
                uint64_t v = k == 0 ? S.a[i].resident : k == 1 ? S.a[i].free : S.a[i].system;
                tb_printf(b, "%s{%s,arena=\"%u\"} %llu\n", what[k][0], base, S.a[i].id, (unsigned long long)v);
            }
            if (S.narenas > S.ndetail) {
                uint64_t v = k == 0 ? S.rest_resident : k == 1 ? S.rest_free : S.rest_system;
                tb_printf(b, "%s{%s,arena=\"other\"} %llu\n", what[k][0], base, (unsigned long long)v);
            }
        }
    }
    struct top_ctx c;
    if (top_sessions(&c, (uint32_t)st_opt.metrics_sessions)) {
        if (c.n || c.other_n) {
            family(b, "sesstrim_session_live_bytes", "gauge",
                   "Live bytes of the largest sessions by name; the rest summed as session=\"other\".");
            for (uint32_t i = 0; i < c.n; i++) {
                char en[ST_SESSION_NAME_MAX * 2 + 4];
                label_escape(en, sizeof en, c.e[i].name);
                /* "other" is the bucket: a session really named so gets a distinct label. */
                tb_printf(b, "sesstrim_session_live_bytes{%s,session=\"%s%s\"} %llu\n", base, en,
                          strcmp(en, "other") ? "" : "_", (unsigned long long)c.e[i].live);
            }
            if (c.other_n)
                tb_printf(b, "sesstrim_session_live_bytes{%s,session=\"other\"} %llu\n", base, (unsigned long long)c.other_live);
        }
        top_release(&c);
    }
#undef G1
}

/* SESSTRIM_METRICS: rendered, written to PATH.tmp.PID, renamed over PATH (the textfile
 * collector never reads half a file). Mode 0644: the collector usually runs as another
 * user. Never through a symlink at the final name's temp file. */
void metrics_write_file(void)
{
    char path[512], tmp[560];
    if (!st_opt.metrics_path[0] || !st_expand_path(st_opt.metrics_path, path, sizeof path)) return;
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)st_pid);
    size_t cap = 256 << 10;
    char *buf = meta_map(cap);
    if (!buf) return;
    struct tbuf b = {buf, 0, cap, false};
    render_metrics(&b);
    static bool said;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    bool ok = fd >= 0;
    for (size_t off = 0; ok && off < b.len;) {
        ssize_t w = write(fd, buf + off, b.len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) ok = false; else off += (size_t)w;
    }
    if (fd >= 0 && close(fd) != 0) ok = false;
    if (ok && rename(tmp, path) != 0) ok = false;
    if (!ok) {
        if (fd >= 0) unlink(tmp);
        if (!said) { said = true; st_log("SESSTRIM_METRICS: cannot write %s (%s); will retry each interval", path, strerror(errno)); }
    }
    meta_unmap(buf, cap);
}
