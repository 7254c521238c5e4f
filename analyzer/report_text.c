/* report_text.c: the report for a person: the RSS layers and the advice first, then arenas,
 * threads, mmaps, sessions, sites, occupancy, timeline and trims, in aligned columns. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "report.h"
#include "report_text_parts.h"

#define B(v) fmt_bytes((v), (char[32]){0}, 32)

static void header(FILE *o, const struct st_dump *d)
{
    const struct st_rec_process *p = &d->process;
    fprintf(o, "sesstrim report: %s (pid %u, ppid %u)\n", p->exe[0] ? p->exe : "?", p->pid, p->ppid);
    char when[64] = "?";
    time_t t = (time_t)(p->time_ns / 1000000000ull);
    struct tm tm;
    if (p->time_ns && gmtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    double ran = p->time_ns > p->start_ns && p->start_ns ? (double)(p->time_ns - p->start_ns) / 1e9 : 0.0;
    fprintf(o, "  dump %s, format v%u, written at %s (%s) after %.1f s\n", d->path[0] ? d->path : "-", d->version,
            reason_name(p->reason), when, ran);
    if (p->cmdline[0]) fprintf(o, "  command: %s\n", p->cmdline);
    if (p->glibc_version[0])
        fprintf(o, "  glibc %s%s\n", p->glibc_version,
                p->flags & ST_PROC_ARENA_LOGIC ? ", arena logic on: arenas read from glibc's own structures" : "");
    if (p->flags & ST_PROC_NOT_INTERPOSED)
        fprintf(o, "  WARNING: another malloc was bound ahead of sesstrim: the program's allocations were not seen\n");
    if (p->flags & ST_PROC_MALLOC_DEBUG)
        fprintf(o, "  arena logic off: glibc's malloc debugging (libc_malloc_debug.so) serves malloc\n");
    else if (p->flags & ST_PROC_FOREIGN_MALLOC) fprintf(o, "  arena logic off: malloc is not glibc's\n");
    else if (p->flags & ST_PROC_UNVERIFIED_GLIBC)
        fprintf(o, "  arena logic off: glibc %s is outside the verified range, accounting only\n",
                p->glibc_version[0] ? p->glibc_version : "?");
    else if (!(p->flags & ST_PROC_ARENA_LOGIC)) fprintf(o, "  arena logic off\n");
    if (p->flags & ST_PROC_STACKS) {
        if (p->stack_sample_bytes <= 1) fprintf(o, "  stacks: every allocation\n");
        else fprintf(o, "  stacks: sampled every %s allocated\n", B(p->stack_sample_bytes));
    } else {
        fprintf(o, "  stacks: off\n");
    }
    if (p->flags & ST_PROC_FORK_CHILD) fprintf(o, "  forked child: counters start at the fork\n");
    if (p->reason == ST_DUMP_EXIT) {
        /* An exit dump shows what the program left at exit, after its own cleanup; the
         * timeline keeps the running state. */
        uint64_t peak = 0;
        for (size_t i = 0; i < d->n_timeline; i++)
            if (d->timeline[i].t.rss_bytes > peak) peak = d->timeline[i].t.rss_bytes;
        fprintf(o, "  written at exit: the state after the program's own cleanup");
        if (peak > p->rss_bytes) fprintf(o, "; while running RSS reached %s (timeline)", B(peak));
        fprintf(o, "\n");
    }
    text_config(o, d);
    if (d->unknown_records)
        fprintf(o, "  %zu records of unknown type skipped (written by a newer sesstrim)\n", d->unknown_records);
}

static void summary(FILE *o, const struct st_dump *d)
{
    const struct st_rec_process *p = &d->process;
    struct st_layers l;
    model_layers(d, &l);
    struct st_layer_row rows[ST_LAYER_ROWS];
    size_t n = model_layer_rows(&l, rows);
    fprintf(o, "\nSummary: RSS at dump time and where it goes (the layers add up to RSS)\n");
    fprintf(o, "  %-32s %12s          anon %s, file %s, virtual %s\n", "RSS", B(l.rss), B(p->rss_anon_bytes),
            B(p->rss_file_bytes), B(p->vm_bytes));
    for (size_t i = 0; i < n; i++) {
        char label[40], note[128] = "";
        snprintf(label, sizeof label, "%s%s", rows[i].depth ? "  " : "", rows[i].label);
        if (!strcmp(rows[i].key, "live_heap"))
            snprintf(note, sizeof note, "%llu live allocations", (unsigned long long)p->live_count);
        else if (!strcmp(rows[i].key, "allocator_overhead")) snprintf(note, sizeof note, "chunk headers and rounding");
        else if (!strcmp(rows[i].key, "free_total")) snprintf(note, sizeof note, "resident, reusable by malloc");
        else if (!strcmp(rows[i].key, "glibc_mmapped"))
            snprintf(note, sizeof note, "%llu chunks", (unsigned long long)p->glibc_mmapped_count);
        else if (!strcmp(rows[i].key, "shim")) snprintf(note, sizeof note, "%s mapped", B(p->meta_bytes));
        else if (!strcmp(rows[i].key, "rest")) snprintf(note, sizeof note, "thread stacks, other anonymous memory");
        fprintf(o, "  %-32s %12s %6.1f%%%s%s\n", label, B(rows[i].bytes), share_pct(rows[i].bytes, l.rss),
                note[0] ? "   " : "", note);
    }
    if (l.heap_unresident)
        fprintf(o, "  the heap numbers exceed RSS by %s: allocated pages never touched\n", B(l.heap_unresident));
    fprintf(o, "  allocations %llu, frees %llu, untracked frees %llu\n", (unsigned long long)p->total_allocs,
            (unsigned long long)p->total_frees, (unsigned long long)p->untracked_frees);
}

static void arenas(FILE *o, const struct st_dump *d)
{
    if (d->n_arenas == 0) {
        fprintf(o, "\nArenas: none recorded%s\n", d->process.flags & ST_PROC_ARENA_LOGIC ? "" : " (arena logic off)");
        return;
    }
    uint64_t live = 0, res = 0;
    for (size_t i = 0; i < d->n_arenas; i++) {
        live += d->arenas[i].live_bytes;
        res += d->arenas[i].resident_bytes;
    }
    fprintf(o, "\nArenas: %zu, live %s, resident %s\n", d->n_arenas, B(live), B(res));
    fprintf(o, "  %4s %-6s %12s %10s %12s %12s %12s %12s %7s %8s\n", "id", "kind", "live", "count", "free",
            "top", "resident", "system", "threads", "attached");
    for (size_t i = 0; i < d->n_arenas; i++) {
        const struct st_rec_arena *a = &d->arenas[i];
        fprintf(o, "  %4u %-6s %12s %10llu %12s %12s %12s %12s %7llu %8u\n", a->id,
                a->kind == ST_ARENA_MAIN ? "main" : "thread", B(a->live_bytes), (unsigned long long)a->live_count,
                B(arena_free_bytes(a)), B(a->top_bytes), B(a->resident_bytes), B(a->system_bytes),
                (unsigned long long)arena_threads(d, a), a->attached_threads);
    }
}

static int cmp_thread_idx(const void *x, const void *y)
{
    const struct st_rec_thread *a = *(const struct st_rec_thread *const *)x, *b = *(const struct st_rec_thread *const *)y;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static void threads(FILE *o, const struct st_dump *d, const struct st_report_opts *opt)
{
    if (d->n_threads == 0) {
        fprintf(o, "\nThreads: none recorded\n");
        return;
    }
    const struct st_rec_thread **v = malloc(d->n_threads * sizeof *v);
    if (!v) return;
    for (size_t i = 0; i < d->n_threads; i++) v[i] = &d->threads[i];
    qsort(v, d->n_threads, sizeof *v, cmp_thread_idx);
    size_t limit = opt->top_n > 64 ? (size_t)opt->top_n : 64;
    fprintf(o, "\nThreads: %zu (%zu alive)\n", d->n_threads, model_threads_alive(d));
    fprintf(o, "  %5s %8s %-16s %6s %10s %10s %12s %10s %12s %s\n", "idx", "tid", "name", "arena", "allocs", "frees",
            "live", "x-frees", "x-freed", "state");
    for (size_t i = 0; i < d->n_threads && i < limit; i++) {
        const struct st_rec_thread *t = v[i];
        char arena[16] = "-";
        if (t->home_arena == UINT32_MAX - 1) snprintf(arena, sizeof arena, "mmap");
        else if (t->home_arena == UINT32_MAX - 2) snprintf(arena, sizeof arena, "?");
        else if (t->home_arena != UINT32_MAX) snprintf(arena, sizeof arena, "%u", t->home_arena);
        const char *state = t->flags & ST_THREAD_SHIM ? "shim" : t->flags & ST_THREAD_FORK_PARENT ? "parent's"
                          : t->flags & ST_THREAD_EXITED ? "exited"
                          : t->flags & ST_THREAD_MAIN ? "main" : "alive";
        fprintf(o, "  %5u %8u %-16s %6s %10llu %10llu %12s %10llu %12s %s\n", t->idx, t->tid,
                t->name[0] ? t->name : "-", arena, (unsigned long long)t->allocs, (unsigned long long)t->frees,
                B(t->live_bytes), (unsigned long long)t->cross_frees, B(t->cross_free_bytes), state);
    }
    if (d->n_threads > limit) fprintf(o, "  ... %zu more threads\n", d->n_threads - limit);
    free(v);
}

/* What changed since the earlier dump of the same process. */
static void change_since(FILE *o, const struct st_dump *d, const struct st_dump *prev)
{
    double secs = (double)(d->process.time_ns - prev->process.time_ns) / 1e9;
    char dr[40], dl[40];
    int64_t rss = (int64_t)(d->process.rss_bytes - prev->process.rss_bytes);
    int64_t live = (int64_t)(d->process.live_bytes - prev->process.live_bytes);
    snprintf(dr, sizeof dr, "%s%s", rss < 0 ? "-" : "+", B(rss < 0 ? (uint64_t)-rss : (uint64_t)rss));
    snprintf(dl, sizeof dl, "%s%s", live < 0 ? "-" : "+", B(live < 0 ? (uint64_t)-live : (uint64_t)live));
    fprintf(o, "  change since the dump %.1f s earlier (%s): RSS %s -> %s (%s), live heap %s -> %s (%s)\n", secs,
            prev->path[0] ? prev->path : "-", B(prev->process.rss_bytes), B(d->process.rss_bytes), dr,
            B(prev->process.live_bytes), B(d->process.live_bytes), dl);
}

int report_text(FILE *out, struct st_dump *dumps, size_t n, const struct st_report_opts *o)
{
    struct st_family fam;
    model_family(dumps, n, &fam);
    if (fam.processes > 1) text_family(out, dumps, n);
    for (size_t i = 0; i < n; i++) {
        const struct st_dump *d = &dumps[i];
        if (!model_is_latest(dumps, n, i)) continue; /* an earlier view of a process shown below */
        if (fam.processes > 1) fprintf(out, "\n==== pid %u ====\n", d->process.pid);
        header(out, d);
        const struct st_dump *prev = model_previous(dumps, n, i);
        if (prev) change_since(out, d, prev);
        summary(out, d);
        text_advice(out, d); /* what to do comes right after where the memory is */
        arenas(out, d);
        threads(out, d, o);
        text_xfree(out, d, o);
        text_mmaps(out, d);
        struct st_symbolizer *sym = symbolizer_for(d, o);
        text_sessions(out, d, o, sym);
        text_sites(out, d, o, sym);
        text_occupancy(out, d, o, sym);
        symbolizer_free(sym);
        text_timeline(out, d);
        text_trims(out, d, o);
    }
    return 0;
}
