/* table_model.c: drives the shim's live table through every state it has (first insert,
 * growth with an incremental migration running, churn that fills it with tombstones and
 * rebuilds it, cross-thread frees of 90% of the blocks, a shrink by sesstrim_trim, sessions moved by
 * sesstrim_keep, a dump taken while other threads churn, every block freed and a trim) and prints what the program knows
 * is live at each checkpoint, so a test can compare the dump with it exactly.
 * usage: table_model DIR THREADS PER_THREAD
 *        table_model DIR sites      (run with SESSTRIM_STACKS=all)
 * writes DIR/{grown,churned,shrunk,kept,emptied}.bin and prints, per checkpoint:
 *   <name> count <live blocks> bytes <requested bytes>
 *   <name> session <id> bytes <live bytes in that session>     (one line per session)
 * Sizes are 16..2064 bytes, every 997th block 200 KiB (an mmapped chunk); every other
 * block is allocated inside its thread's session.
 * The "sites" mode allocates from 400 distinct call stacks (20 functions x recursion depths
 * 0..19), n + 1 blocks from the n-th, so that every site id the table packs (18 bits, split
 * over three words) is exercised, writes DIR/sites.bin and prints "sites <n> count <k>". */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sesstrim.h"

#define MAXT 16
struct blk { void *p; size_t size; sesstrim_session_t s; };
static int nthreads;
static long per;
static struct blk *blocks[MAXT];
static sesstrim_session_t sess[MAXT], kept_to;
static pthread_barrier_t bar;
static volatile int churning;

static uint64_t rnd(uint64_t *x) { *x ^= *x << 13; *x ^= *x >> 7; *x ^= *x << 17; return *x; }
static size_t size_for(uint64_t r, long i) { return i % 997 == 0 ? 200 * 1024 : 16 + (size_t)(r % 2049); }

static void put(struct blk *b, int t, uint64_t r, long i)
{
    b->size = size_for(r, i);
    b->s = (i & 1) ? sess[t] : 0;
    if (b->s) sesstrim_session_enter(b->s);
    b->p = malloc(b->size);
    if (b->s) sesstrim_session_leave(b->s);
    if (!b->p) abort();
    memset(b->p, (int)i, b->size < 64 ? b->size : 64);
}

static void *worker(void *arg)
{
    int t = (int)(intptr_t)arg;
    uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(t + 1);
    struct blk *mine = blocks[t];
    for (long i = 0; i < per; i++) put(&mine[i], t, rnd(&x), i);          /* grow */
    pthread_barrier_wait(&bar);                                          /* main dumps "grown" */
    pthread_barrier_wait(&bar);
    for (long n = 0; n < 3 * per; n++) {                                 /* churn */
        long i = (long)(rnd(&x) % (uint64_t)per);
        if (n % 5 == 0) {                                                 /* realloc keeps the session */
            size_t ns = size_for(rnd(&x), i);
            void *np = realloc(mine[i].p, ns);
            if (!np) abort();
            mine[i].p = np;
            mine[i].size = ns;
        } else {
            free(mine[i].p);
            put(&mine[i], t, rnd(&x), i);
        }
    }
    pthread_barrier_wait(&bar);                                          /* main dumps "churned" */
    pthread_barrier_wait(&bar);
    struct blk *next = blocks[(t + 1) % nthreads];                       /* cross-thread frees */
    for (long i = 0; i < per; i++)
        if (i % 20 > 1) { free(next[i].p); next[i].p = NULL; }  /* i % 20 == 1: in a session */
    pthread_barrier_wait(&bar);                                          /* main trims, dumps "shrunk" */
    pthread_barrier_wait(&bar);
    for (long i = 1; i < per; i += 60)                                  /* blocks of sess[t] move */
        if (mine[i].p && mine[i].s && sesstrim_keep(mine[i].p, kept_to) == 0) mine[i].s = kept_to;
    pthread_barrier_wait(&bar);                                          /* main dumps "kept" */
    pthread_barrier_wait(&bar);
    for (long i = 0; i < per; i++) { free(mine[i].p); mine[i].p = NULL; }
    pthread_barrier_wait(&bar);                                          /* main trims, dumps "emptied" */
    return NULL;
}

static void report(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    if (sesstrim_dump(path) != 0) { fprintf(stderr, "dump %s failed\n", path); exit(1); }
    uint64_t count = 0, bytes = 0, sb[MAXT + 1] = {0};
    for (int t = 0; t < nthreads; t++)
        for (long i = 0; i < per; i++) {
            struct blk *b = &blocks[t][i];
            if (!b->p) continue;
            count++;
            bytes += b->size;
            for (int k = 0; k < nthreads; k++) if (b->s && b->s == sess[k]) sb[k] += b->size;
            if (b->s && b->s == kept_to) sb[MAXT] += b->size;
        }
    printf("%s count %llu bytes %llu\n", name, (unsigned long long)count, (unsigned long long)bytes);
    for (int k = 0; k < nthreads; k++)
        printf("%s session %llu bytes %llu\n", name, (unsigned long long)sess[k], (unsigned long long)sb[k]);
    printf("%s session %llu bytes %llu\n", name, (unsigned long long)kept_to, (unsigned long long)sb[MAXT]);
    fflush(stdout);
}

static void *make_sessions(void *arg)
{
    (void)arg;
    char name[32];
    for (int t = 0; t < nthreads; t++) {
        snprintf(name, sizeof name, "model-%d", t);
        sess[t] = sesstrim_session_begin(name);
    }
    kept_to = sesstrim_session_begin("kept");
    return NULL;
}

/* A thread that keeps the table busy (its own blocks, outside the counted ones) while the
 * main thread dumps: the dump's walk meets shards mid-migration. */
static void *busy(void *arg)
{
    (void)arg;
    void *ring[4096] = {0};
    uint64_t x = 12345;
    for (long n = 0; churning; n++) {
        long i = (long)(rnd(&x) % 4096);
        free(ring[i]);
        ring[i] = malloc(16 + rnd(&x) % 512);
    }
    for (int i = 0; i < 4096; i++) free(ring[i]);
    return NULL;
}

/* 20 functions with distinct return addresses, each recursing to a given depth. */
#define NFN 20
#define NDEPTH 20
static void *sink[NFN * NDEPTH * (NFN * NDEPTH + 1) / 2];
static long nsink;
typedef void (*fn_t)(int depth, int n);
static fn_t fns[NFN];
#define DEFINE_FN(k)                                                                  \
    static __attribute__((noinline)) void fn##k(int depth, int n)                     \
    {                                                                                 \
        if (depth > 0) { fns[k](depth - 1, n); __asm__ volatile("" ::: "memory"); return; } \
        for (int i = 0; i < n; i++) sink[nsink++] = malloc(24 + k);                   \
    }
DEFINE_FN(0) DEFINE_FN(1) DEFINE_FN(2) DEFINE_FN(3) DEFINE_FN(4) DEFINE_FN(5) DEFINE_FN(6)
DEFINE_FN(7) DEFINE_FN(8) DEFINE_FN(9) DEFINE_FN(10) DEFINE_FN(11) DEFINE_FN(12) DEFINE_FN(13)
DEFINE_FN(14) DEFINE_FN(15) DEFINE_FN(16) DEFINE_FN(17) DEFINE_FN(18) DEFINE_FN(19)

static int sites_mode(const char *dir)
{
    fn_t all[NFN] = {fn0, fn1, fn2, fn3, fn4, fn5, fn6, fn7, fn8, fn9, fn10, fn11, fn12, fn13,
                     fn14, fn15, fn16, fn17, fn18, fn19};
    memcpy(fns, all, sizeof all);
    int site = 0;
    for (int k = 0; k < NFN; k++)
        for (int d = 0; d < NDEPTH; d++, site++) {
            fns[k](d, site + 1);
            printf("sites %d count %d\n", site, site + 1);
        }
    char path[4096];
    snprintf(path, sizeof path, "%s/sites.bin", dir);
    if (sesstrim_dump(path) != 0) { fprintf(stderr, "dump %s failed\n", path); return 1; }
    for (long i = 0; i < nsink; i++) free(sink[i]);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[2], "sites")) return sites_mode(argv[1]);
    if (argc != 4) { fprintf(stderr, "usage: %s DIR THREADS PER_THREAD\n", argv[0]); return 2; }
    nthreads = atoi(argv[2]);
    per = atol(argv[3]);
    if (nthreads < 2 || nthreads > MAXT || per < 100) { fprintf(stderr, "bad arguments\n"); return 2; }
    if (!sesstrim_active()) { fprintf(stderr, "run under the shim\n"); return 2; }
    for (int t = 0; t < nthreads; t++) blocks[t] = calloc((size_t)per, sizeof **blocks);
    /* begin() makes a session current on the calling thread (and threads it creates):
     * sessions are begun on a thread of their own, and the workers enter them per block. */
    pthread_t maker;
    pthread_create(&maker, NULL, make_sessions, NULL);
    pthread_join(maker, NULL);
    pthread_barrier_init(&bar, NULL, (unsigned)nthreads + 1);
    pthread_t th[MAXT], b;
    for (int t = 0; t < nthreads; t++) pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t);
    pthread_barrier_wait(&bar);
    churning = 1;
    pthread_create(&b, NULL, busy, NULL);
    report(argv[1], "grown");
    churning = 0;
    pthread_join(b, NULL);
    pthread_barrier_wait(&bar);
    pthread_barrier_wait(&bar);
    report(argv[1], "churned");
    pthread_barrier_wait(&bar);
    pthread_barrier_wait(&bar);
    if (sesstrim_trim() < 0) { fprintf(stderr, "trim failed\n"); return 1; }
    report(argv[1], "shrunk");
    pthread_barrier_wait(&bar);
    pthread_barrier_wait(&bar);
    report(argv[1], "kept");
    pthread_barrier_wait(&bar);
    pthread_barrier_wait(&bar);
    if (sesstrim_trim() < 0) { fprintf(stderr, "trim failed\n"); return 1; }
    report(argv[1], "emptied");
    for (int t = 0; t < nthreads; t++) pthread_join(th[t], NULL);
    return 0;
}
