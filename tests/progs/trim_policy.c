/* trim_policy.c: drives one trim policy's condition on and off in phases and writes a
 * dump at the end of each phase, so a test can see which trims happened in which phase. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sesstrim.h"

static const char *dir;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static uint64_t rss_mib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long vm = 0, res = 0;
    if (f) { if (fscanf(f, "%llu %llu", &vm, &res) != 2) res = 0; fclose(f); }
    return res * (uint64_t)sysconf(_SC_PAGESIZE) >> 20;
}


/* Write DIR/<name>.dump through the shim's API. */
static void dump(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.dump", dir, name);
    if (sesstrim_dump(path) != 0) { fprintf(stderr, "trim_policy: dump %s failed\n", path); exit(3); }
    printf("dump %s rss_mib=%llu\n", name, (unsigned long long)rss_mib());
    fflush(stdout);
}

/* Allocation activity on this thread for `ms`: the idle clock never stands still. */
static void churn_ms(long ms)
{
    uint64_t end = now_ms() + (uint64_t)ms;
    volatile char *sink;
    while (now_ms() < end) {
        for (int i = 0; i < 100; i++) {
            sink = malloc(64 + (size_t)i);
            sink[0] = 1;
            free((void *)sink);
        }
        sleep_ms(1);
    }
}

/* glibc raises its mmap threshold to a freed mmapped chunk's size (and the trim threshold
 * to twice that): from then on arena tops below that stay resident. */
static void raise_glibc_thresholds(void)
{
    void *big = malloc(16 << 20);     /* under glibc's 32 MiB cap for the dynamic threshold */
    memset(big, 1, 16 << 20);
    __asm__ volatile("" : : "r"(big) : "memory");  /* or the compiler drops all three */
    free(big);
}

struct garbage { size_t bytes; int keep; void **blocks; size_t n; };

/* Fill a worker thread's arena with 256 KiB blocks, then free them there (or keep them). */
static void *make_garbage(void *arg)
{
    struct garbage *g = arg;
    g->n = g->bytes / (256 << 10);
    g->blocks = malloc(g->n * sizeof *g->blocks);
    for (size_t i = 0; i < g->n; i++) {
        g->blocks[i] = malloc(256 << 10);
        memset(g->blocks[i], (int)i, 256 << 10);
    }
    if (!g->keep) {
        for (size_t i = 0; i < g->n; i++) free(g->blocks[i]);
        free(g->blocks);
        g->blocks = NULL;
    }
    return NULL;
}

static void garbage_in_threads(struct garbage *g, int nthreads)
{
    pthread_t th[16];
    for (int i = 0; i < nthreads; i++) pthread_create(&th[i], NULL, make_garbage, &g[i]);
    for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
}

static void release_kept(struct garbage *g, int nthreads)
{
    for (int t = 0; t < nthreads; t++) {
        for (size_t i = 0; i < g[t].n; i++) free(g[t].blocks[i]);
        free(g[t].blocks);
        g[t].blocks = NULL;
    }
}

/* Print each of this process's threads as "thread NAME sigblk HEX". */
static void list_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[512], name[64] = "", line[256], sigblk[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f) { if (fgets(name, sizeof name, f)) name[strcspn(name, "\n")] = 0; fclose(f); }
        snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
        f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f))
            if (!strncmp(line, "SigBlk:", 7)) sscanf(line + 7, "%31s", sigblk);
        if (f) fclose(f);
        printf("thread %s sigblk %s\n", name, sigblk);
    }
    if (d) closedir(d);
    fflush(stdout);
}


/* A thread that allocates and frees a little every `period_ms` until told to stop: a
 * heartbeat, an event loop's housekeeping. Its arena is in use the whole time. */
struct heartbeat { long period_ms; int stop; };

static void *heartbeat_main(void *arg)
{
    struct heartbeat *h = arg;
    pthread_setname_np(pthread_self(), "heartbeat");
    while (!__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE)) {
        volatile char *p = malloc(256);
        p[0] = 1;
        free((void *)p);
        sleep_ms(h->period_ms);
    }
    return NULL;
}

/* Churn 256 KiB blocks in a thread's own arena for `ms`, keeping up to 32 MiB live, then
 * free everything: a busy phase that leaves its arena full of free memory. */
struct churner { long ms; };

static void *churn_big(void *arg)
{
    struct churner *c = arg;
    enum { N = 128, BLOCK = 256 << 10 };
    void *blocks[N] = {0};
    uint64_t end = now_ms() + (uint64_t)c->ms;
    for (unsigned i = 0; now_ms() < end; i++) {
        unsigned k = (i * 7919u) % N;
        free(blocks[k]);
        blocks[k] = malloc(BLOCK);
        memset(blocks[k], (int)i, BLOCK);
        __asm__ volatile("" : : "r"(blocks[k]) : "memory");
        if (i % 64 == 0) sleep_ms(1);
    }
    for (int k = 0; k < N; k++) free(blocks[k]);
    return NULL;
}

/* xfree: a producer fills its own arena with blocks and goes idle (alive); a consumer,
 * whose own arena saw one allocation at its start, then frees the producer's blocks one
 * every ms/6: the producer's arena is in use the whole time, the consumer's is not. */
struct xfree { long period_ms; size_t n; void **blocks; int stop; };

static void *xfree_producer(void *arg)
{
    struct xfree *x = arg;
    pthread_setname_np(pthread_self(), "producer");
    for (size_t i = 0; i < x->n; i++) {
        x->blocks[i] = malloc(1 << 20);
        memset(x->blocks[i], (int)i, 1 << 20);
    }
    __atomic_store_n(&x->stop, 1, __ATOMIC_RELEASE);     /* filled: the consumer may start */
    while (__atomic_load_n(&x->stop, __ATOMIC_ACQUIRE) != 2) sleep_ms(10);
    return NULL;
}

static void *xfree_consumer(void *arg)
{
    struct xfree *x = arg;
    pthread_setname_np(pthread_self(), "consumer");
    volatile char *own = malloc(4096);   /* its home arena: one allocation, kept */
    own[0] = 1;
    for (size_t i = 0; i < x->n; i++) {
        free(x->blocks[i]);
        sleep_ms(x->period_ms);
    }
    dump("freeing");
    free((void *)own);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: trim_policy idle|rss|every|session|free|busy-idle|heartbeat|xfree|main|table|threads|fork|api DIR [MS]\n");
        return 64;
    }
    const char *mode = argv[1];
    dir = argv[2];
    long ms = argc > 3 ? atol(argv[3]) : 300;   /* the policy's duration, for phase lengths */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!sesstrim_active()) { fprintf(stderr, "trim_policy: the shim is not preloaded\n"); return 77; }

    if (!strcmp(mode, "idle")) {
        /* busy: activity all the time for 4 idle periods; then idle for 4 periods. */
        churn_ms(4 * ms);
        dump("busy");
        sleep_ms(4 * ms);
        dump("idle");
        churn_ms(2 * ms);
        sleep_ms(4 * ms);
        dump("idle2");
    } else if (!strcmp(mode, "rss")) {
        /* below the mark, then freed-but-resident memory pushes RSS above it, then live
         * memory keeps it above (a trim cannot help: no trim loop). */
        raise_glibc_thresholds();
        churn_ms(4 * ms);
        dump("below");
        /* 6 x 24 MiB: each arena's top stays under glibc's raised trim threshold. */
        struct garbage g[6];
        for (int i = 0; i < 6; i++) g[i] = (struct garbage){24 << 20, 0, 0, 0};
        garbage_in_threads(g, 6);
        printf("above rss_mib=%llu\n", (unsigned long long)rss_mib());
        sleep_ms(6 * ms);
        dump("freed");
        struct garbage k[2] = {{96 << 20, 1, 0, 0}, {96 << 20, 1, 0, 0}};
        garbage_in_threads(k, 2);
        printf("live rss_mib=%llu\n", (unsigned long long)rss_mib());
        sleep_ms(4 * ms);
        dump("live");
        sleep_ms(6 * ms);
        dump("live2");
        sleep_ms(6 * ms);
        dump("live3");
        /* The live memory is freed, all but each thread's last block, which keeps the rest
         * out of glibc's reach (in a bin, not the top), and the program goes idle: RSS
         * stays above the mark unless the trigger, disarmed while the memory was live,
         * re-arms. */
        for (int t = 0; t < 2; t++) {
            for (size_t i = 0; i + 1 < k[t].n; i++) free(k[t].blocks[i]);
            k[t].blocks[0] = k[t].blocks[k[t].n - 1];
            k[t].n = 1;
        }
        printf("released rss_mib=%llu\n", (unsigned long long)rss_mib());
        sleep_ms(6 * ms);
        dump("released");
        release_kept(k, 2);
    } else if (!strcmp(mode, "every")) {
        churn_ms(10 * ms);
        dump("end");
    } else if (!strcmp(mode, "session")) {
        sesstrim_session_t s = sesstrim_session_begin("request");
        churn_ms(4 * ms);
        dump("open");
        sesstrim_session_end(s);
        sleep_ms(4 * ms);
        dump("ended");
    } else if (!strcmp(mode, "free")) {
        /* in use (not free) memory above the threshold, then the same freed. */
        raise_glibc_thresholds();
        struct garbage k[4] = {{32 << 20, 1, 0, 0}, {32 << 20, 1, 0, 0}, {32 << 20, 1, 0, 0}, {32 << 20, 1, 0, 0}};
        garbage_in_threads(k, 4);
        sleep_ms(6 * ms);
        dump("inuse");
        /* Free them on the threads' arenas (free() routes by chunk, not by caller). */
        release_kept(k, 4);
        sleep_ms(6 * ms);
        dump("freed");
        sleep_ms(6 * ms);
        dump("after");
    } else if (!strcmp(mode, "busy-idle")) {
        /* Two threads churn big blocks in their arenas (busy), then stop with it all freed
         * and stay idle. */
        raise_glibc_thresholds();
        struct churner c = {4 * ms};
        pthread_t th[2];
        for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, churn_big, &c);
        for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
        dump("busy");
        sleep_ms(6 * ms);
        dump("idle");
    } else if (!strcmp(mode, "xfree")) {
        raise_glibc_thresholds();
        struct xfree x = {ms / 6 > 0 ? ms / 6 : 1, 24, NULL, 0};   /* 24 MiB: under glibc's raised trim threshold (32 MiB) */
        x.blocks = calloc(x.n, sizeof *x.blocks);
        pthread_t pth, cth;
        pthread_create(&pth, NULL, xfree_producer, &x);
        while (__atomic_load_n(&x.stop, __ATOMIC_ACQUIRE) != 1) sleep_ms(1);
        pthread_create(&cth, NULL, xfree_consumer, &x);
        pthread_join(cth, NULL);
        sleep_ms(6 * ms);
        dump("after");
        __atomic_store_n(&x.stop, 2, __ATOMIC_RELEASE);
        pthread_join(pth, NULL);
        free(x.blocks);
    } else if (!strcmp(mode, "heartbeat")) {
        /* A heartbeat allocates every ms/6 on its own arena for the whole run, while four
         * workers leave 96 MiB of freed memory in theirs and go idle. */
        raise_glibc_thresholds();
        struct heartbeat hb = {ms / 6 > 0 ? ms / 6 : 1, 0};
        pthread_t hth;
        pthread_create(&hth, NULL, heartbeat_main, &hb);
        sleep_ms(ms);
        struct garbage g[4];
        for (int i = 0; i < 4; i++) g[i] = (struct garbage){24 << 20, 0, 0, 0};
        garbage_in_threads(g, 4);
        printf("freed rss_mib=%llu\n", (unsigned long long)rss_mib());
        sleep_ms(6 * ms);
        dump("idle");
        __atomic_store_n(&hb.stop, 1, __ATOMIC_RELEASE);
        pthread_join(hth, NULL);
    } else if (!strcmp(mode, "main")) {
        /* Single-threaded: 64 MiB freed in the main arena, kept out of its top by a live
         * block after it, so glibc's own trimming on free cannot release it. */
        raise_glibc_thresholds();
        enum { N = 256, BLOCK = 256 << 10 };
        static void *blocks[N];
        for (int i = 0; i < N; i++) {
            blocks[i] = malloc(BLOCK);
            memset(blocks[i], i, BLOCK);
            __asm__ volatile("" : : "r"(blocks[i]) : "memory");  /* keep the compiler from eliding them */
        }
        void *guard = malloc(BLOCK);      /* from the top, after the blocks: no free chunk fits it */
        for (int i = 0; i < N; i++) free(blocks[i]);
        printf("freed rss_mib=%llu\n", (unsigned long long)rss_mib());
        sleep_ms(6 * ms);
        dump("main");
        __asm__ volatile("" : : "r"(guard) : "memory");
        free(guard);
    } else if (!strcmp(mode, "table")) {
        /* A burst of 1 M small live blocks grows the shim's live table; once they are
         * freed, a trim gives the table's unused memory back too. */
        enum { N = 1 << 20 };
        void **v = malloc(N * sizeof *v);
        for (int i = 0; i < N; i++) {
            v[i] = malloc(16);
            __asm__ volatile("" : : "r"(v[i]) : "memory");
        }
        for (int i = 0; i < N; i++) free(v[i]);
        free(v);
        uint64_t before = rss_mib();
        long long released = sesstrim_trim();
        printf("table before_mib=%llu after_mib=%llu released=%lld\n", (unsigned long long)before,
               (unsigned long long)rss_mib(), released);
        dump("table");
    } else if (!strcmp(mode, "threads")) {
        churn_ms(ms);
        list_threads();
    } else if (!strcmp(mode, "fork")) {
        churn_ms(ms);
        pid_t pid = fork();
        if (pid == 0) {
            churn_ms(2 * ms);
            sleep_ms(4 * ms);
            list_threads();
            dump("child");
            _exit(0);
        }
        churn_ms(2 * ms);
        int st;
        waitpid(pid, &st, 0);
        sleep_ms(4 * ms);
        dump("parent");
        return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
    } else if (!strcmp(mode, "api")) {
        /* What the API trim releases beyond malloc_trim(0). */
        raise_glibc_thresholds();
        struct garbage g[4] = {{24 << 20, 0, 0, 0}, {24 << 20, 0, 0, 0}, {24 << 20, 0, 0, 0}, {24 << 20, 0, 0, 0}};
        garbage_in_threads(g, 4);
        uint64_t before = rss_mib();
        extern int malloc_trim(size_t);
        malloc_trim(0);
        uint64_t after_glibc = rss_mib();
        long long released = sesstrim_trim();
        uint64_t after_api = rss_mib();
        printf("api before_mib=%llu after_malloc_trim_mib=%llu after_api_mib=%llu released=%lld\n",
               (unsigned long long)before, (unsigned long long)after_glibc,
               (unsigned long long)after_api, released);
        dump("api");
    } else {
        fprintf(stderr, "trim_policy: unknown mode %s\n", mode);
        return 64;
    }
    return 0;
}
