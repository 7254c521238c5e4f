/* many_live.c: the analyzer's size benchmark workload: 64 threads make 1 M allocations of
 * varied sizes between them and keep every one live until exit, when the shim dumps. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Usage: many_live [threads=64] [allocs=1048576]  (allocs in total, split evenly) */

struct worker { long count; unsigned seed; void **kept; uint64_t bytes; };

/* Three call sites, so the dump has more than one stack to keep. */
static __attribute__((noinline)) void *small_object(size_t n) { return malloc(n); }
static __attribute__((noinline)) void *medium_object(size_t n) { return malloc(n); }
static __attribute__((noinline)) void *odd_object(size_t n) { return calloc(1, n); }

static void *work(void *arg)
{
    struct worker *w = arg;
    w->kept = malloc((size_t)w->count * sizeof *w->kept);
    if (!w->kept) return NULL;
    for (long i = 0; i < w->count; i++) {
        w->seed = w->seed * 1103515245u + 12345u;
        unsigned r = w->seed >> 8;
        size_t n;
        void *p;
        switch (r % 3) {
        case 0: n = 16 + r % 112; p = small_object(n); break;
        case 1: n = 128 + r % 896; p = medium_object(n); break;
        default: n = 24 + (r % 40) * 8; p = odd_object(n); break;
        }
        if (!p) return NULL;
        memset(p, (int)i, n < 64 ? n : 64);
        w->kept[i] = p;
        w->bytes += n;
    }
    return w;
}

static long arg_long(int argc, char **argv, const char *key, long def)
{
    size_t kl = strlen(key);
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], key, kl) && argv[i][kl] == '=') return strtol(argv[i] + kl + 1, NULL, 0);
    return def;
}

int main(int argc, char **argv)
{
    long nthreads = arg_long(argc, argv, "threads", 64);
    long total = arg_long(argc, argv, "allocs", 1l << 20);
    if (nthreads < 1 || nthreads > 1024 || total < nthreads) {
        fprintf(stderr, "usage: many_live [threads=1..1024] [allocs>=threads]\n");
        return 2;
    }
    pthread_t *tids = calloc((size_t)nthreads, sizeof *tids);
    struct worker *ws = calloc((size_t)nthreads, sizeof *ws);
    if (!tids || !ws) return 1;
    for (long t = 0; t < nthreads; t++) {
        ws[t].count = total / nthreads + (t < total % nthreads);
        ws[t].seed = (unsigned)(t * 2654435761u + 1);
        if (pthread_create(&tids[t], NULL, work, &ws[t]) != 0) { perror("pthread_create"); return 1; }
    }
    uint64_t bytes = 0, count = 0;
    for (long t = 0; t < nthreads; t++) {
        void *ok = NULL;
        pthread_join(tids[t], &ok);
        if (!ok) { fprintf(stderr, "many_live: thread %ld failed\n", t); return 1; }
        bytes += ws[t].bytes;
        count += (uint64_t)ws[t].count;
    }
    /* everything stays live: the dump at exit sees all of it */
    printf("many_live threads=%ld live_allocs=%llu live_bytes=%llu\n", nthreads, (unsigned long long)count,
           (unsigned long long)bytes);
    return 0;
}
