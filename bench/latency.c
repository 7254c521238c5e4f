/* latency.c: tail latency of single malloc/free calls when threads outnumber cores, the
 * case where a spinning lock hurts most (issue 8, kind 7). T threads (default 4) each make
 * N malloc/free pairs (sizes 16..4096 B over S live slots) and time every call with
 * CLOCK_MONOTONIC; all latencies go into one histogram per thread (1/64 relative
 * resolution), merged at the end. With --shared 1 the threads share one array of slots
 * (taken and put back with atomic exchanges), so most frees release another thread's block
 * into another arena: the server pattern (one thread allocates a request, another frees
 * it) where allocator and shim locks are contended. Prints one line:
 *   calls <n> p50_ns <v> p99_ns <v> p9999_ns <v> max_ns <v>
 * usage: latency [--threads T] [--pairs N] [--slots S] [--shared 0|1] */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SUB 64                         /* sub-buckets per power of two */
#define NBUCKETS (64 * SUB)

static long pairs = 400000, slots = 4096;
static int nthreads = 4, shared;
static void **shared_slots;

struct hist { uint64_t n, max, b[NBUCKETS]; };

static unsigned bucket_of(uint64_t v)
{
    if (v < SUB) return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);      /* >= 6 */
    return (msb - 5) * SUB + (unsigned)((v >> (msb - 6)) & (SUB - 1));
}

static uint64_t bucket_top(unsigned b)  /* the largest value of bucket b */
{
    if (b < SUB) return b;
    unsigned msb = b / SUB + 5, sub = b % SUB;
    return ((uint64_t)(SUB + sub + 1) << (msb - 6)) - 1;
}

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void record(struct hist *h, uint64_t v)
{
    h->b[bucket_of(v)]++;
    h->n++;
    if (v > h->max) h->max = v;
}

static void *worker(void *arg)
{
    struct hist *h = arg;
    uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(uintptr_t)h + 1;
    void **slot = shared ? shared_slots : calloc((size_t)slots, sizeof *slot);
    if (!slot) abort();
    for (long i = 0; i < pairs && shared; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        long k = (long)(x % (uint64_t)slots);
        size_t size = 16 + (size_t)((x >> 32) % 4081);
        void *old = __atomic_exchange_n(&slot[k], NULL, __ATOMIC_ACQ_REL);
        uint64_t t0 = now_ns();
        free(old);
        uint64_t t1 = now_ns();
        void *p = malloc(size);
        uint64_t t2 = now_ns();
        if (!p) abort();
        *(volatile char *)p = 1;
        record(h, t1 - t0);
        record(h, t2 - t1);
        p = __atomic_exchange_n(&slot[k], p, __ATOMIC_ACQ_REL);
        free(p);                       /* another thread filled it meanwhile: not timed */
    }
    if (shared) return NULL;
    for (long i = 0; i < pairs; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        long k = (long)(x % (uint64_t)slots);
        size_t size = 16 + (size_t)((x >> 32) % 4081);
        uint64_t t0 = now_ns();
        free(slot[k]);
        uint64_t t1 = now_ns();
        slot[k] = malloc(size);
        uint64_t t2 = now_ns();
        if (!slot[k]) abort();
        *(volatile char *)slot[k] = 1;
        record(h, t1 - t0);
        record(h, t2 - t1);
    }
    for (long k = 0; k < slots; k++) free(slot[k]);
    free(slot);
    return NULL;
}

static uint64_t quantile(const struct hist *h, double q)
{
    uint64_t want = (uint64_t)((double)h->n * q), seen = 0;
    for (unsigned b = 0; b < NBUCKETS; b++) {
        seen += h->b[b];
        if (seen > want) return bucket_top(b) < h->max ? bucket_top(b) : h->max;
    }
    return h->max;
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) nthreads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--pairs")) pairs = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--slots")) slots = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--shared")) shared = atoi(argv[i + 1]);
        else { fprintf(stderr, "usage: %s [--threads T] [--pairs N] [--slots S] [--shared 0|1]\n", argv[0]); return 2; }
    }
    if (nthreads < 1 || nthreads > 256 || pairs < 1 || slots < 1) { fprintf(stderr, "bad arguments\n"); return 2; }
    /* Histograms are big (32 KiB each): mapped before the clock starts. */
    struct hist *h = calloc((size_t)nthreads, sizeof *h);
    pthread_t *th = calloc((size_t)nthreads, sizeof *th);
    shared_slots = shared ? calloc((size_t)slots, sizeof *shared_slots) : NULL;
    if (!h || !th || (shared && !shared_slots)) return 1;
    for (int t = 0; t < nthreads; t++) pthread_create(&th[t], NULL, worker, &h[t]);
    for (int t = 0; t < nthreads; t++) pthread_join(th[t], NULL);
    struct hist all;
    memset(&all, 0, sizeof all);
    for (int t = 0; t < nthreads; t++) {
        all.n += h[t].n;
        if (h[t].max > all.max) all.max = h[t].max;
        for (unsigned b = 0; b < NBUCKETS; b++) all.b[b] += h[t].b[b];
    }
    printf("calls %llu p50_ns %llu p99_ns %llu p9999_ns %llu max_ns %llu\n", (unsigned long long)all.n,
           (unsigned long long)quantile(&all, 0.5), (unsigned long long)quantile(&all, 0.99),
           (unsigned long long)quantile(&all, 0.9999), (unsigned long long)all.max);
    if (shared)
        for (long k = 0; k < slots; k++) free(shared_slots[k]);
    free(shared_slots);
    free(h);
    free(th);
    return 0;
}
