/* report_text.c: the report for a person: the RSS layers first, then arenas, threads,
 * mmaps, sessions, sites, occupancy, timeline, trims and advice, in aligned columns. */
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
    if (p->flags & ST_PROC_FOREIGN_MALLOC) fprintf(o, "  arena logic off: malloc is not glibc's\n");
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
    if (d->unknown_records)
        fprintf(o, "  %zu records of unknown type skipped (written by a newer sesstrim)\n", d->unknown_records);
}

static void layer_row(FILE *o, const char *name, uint64_t v, uint64_t rss, const char *note)
{
    fprintf(o, "  %-24s %12s %6.1f%%%s%s\n", name, B(v), share_pct(v, rss), note ? "   " : "", note ? note : "");
}

static void summary(FILE *o, const struct st_dump *d)
{
    const struct st_rec_process *p = &d->process;
    struct st_layers l;
    model_layers(d, &l);
    fprintf(o, "\nSummary: RSS at dump time and where it goes\n");
    fprintf(o, "  %-24s %12s          anon %s, file %s, virtual %s\n", "RSS", B(l.rss), B(p->rss_anon_bytes),
            B(p->rss_file_bytes), B(p->vm_bytes));
    char note[96];
    snprintf(note, sizeof note, "%llu live allocations", (unsigned long long)p->live_count);
    layer_row(o, "live heap", l.live_heap, l.rss, note);
    layer_row(o, "allocator overhead", l.allocator_overhead, l.rss, "chunk headers and rounding");
    layer_row(o, "free in arenas", layers_free_total(&l), l.rss, "resident, reusable by malloc");
    layer_row(o, "  in bins", l.free_bins, l.rss, NULL);
    layer_row(o, "  in fastbins", l.free_fast, l.rss, NULL);
    layer_row(o, "  in top chunks", l.free_top, l.rss, NULL);
    layer_row(o, "  in tcache (estimate)", l.free_tcache_est, l.rss, NULL);
    snprintf(note, sizeof note, "%llu chunks", (unsigned long long)p->glibc_mmapped_count);
    layer_row(o, "glibc mmapped chunks", l.glibc_mmapped, l.rss, note);
    layer_row(o, "program's mmaps", l.program_mmaps, l.rss, NULL);
    snprintf(note, sizeof note, "code, libraries, stacks; the shim mapped %s for its tables", B(p->meta_bytes));
    layer_row(o, "the rest", l.rest, l.rss, note);
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
                (unsigned long long)arena_threads(a), a->attached_threads);
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
        const char *state = t->flags & ST_THREAD_SHIM ? "shim" : t->flags & ST_THREAD_EXITED ? "exited"
                          : t->flags & ST_THREAD_MAIN ? "main" : "alive";
        fprintf(o, "  %5u %8u %-16s %6s %10llu %10llu %12s %10llu %12s %s\n", t->idx, t->tid,
                t->name[0] ? t->name : "-", arena, (unsigned long long)t->allocs, (unsigned long long)t->frees,
                B(t->live_bytes), (unsigned long long)t->cross_frees, B(t->cross_free_bytes), state);
    }
    if (d->n_threads > limit) fprintf(o, "  ... %zu more threads\n", d->n_threads - limit);
    free(v);
}

int report_text(FILE *out, struct st_dump *dumps, size_t n, const struct st_report_opts *o)
{
    if (n > 1) text_family(out, dumps, n);
    for (size_t i = 0; i < n; i++) {
        const struct st_dump *d = &dumps[i];
        if (n > 1) fprintf(out, "\n==== process %zu of %zu: pid %u ====\n", i + 1, n, d->process.pid);
        header(out, d);
        summary(out, d);
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
        text_advice(out, d);
    }
    return 0;
}
