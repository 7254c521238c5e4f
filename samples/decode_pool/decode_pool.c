/* decode_pool.c: the biofuse case (seed 004) in C: worker threads decode into buffers below
 * the mmap threshold, a consumer frees them, then the process idles holding little live. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sesstrim.h"

struct config {
    int threads;          /* decode workers */
    long buffers;         /* buffers decoded in all */
    size_t size;          /* mean buffer size; each is 75%..125% of it */
    size_t big;           /* the multi-MiB buffer freed first (raises glibc thresholds) */
    long keep_every;      /* the consumer keeps one buffer in this many (live at idle) */
    int queue;            /* buffers in flight between workers and consumer */
    long idle_ms;
    int trim_at_idle;     /* call malloc_trim(0) when idle starts */
    int api_trim_at_idle; /* call sesstrim_trim() when idle starts */
    const char *dump_at_idle; /* sesstrim dump written at the end of the idle phase */
};

static struct config cfg = {16, 2000, 1 << 20, 8 << 20, 100, 128, 3000, 0, 0, NULL};

/* ---- a bounded queue of decoded buffers (a fixed ring: the queue itself never mallocs) */
struct job { unsigned char *buf; size_t len; long seq; uint64_t check; };
static struct job *ring;
static int ring_head, ring_tail, ring_count;
static pthread_mutex_t ring_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ring_not_full = PTHREAD_COND_INITIALIZER, ring_not_empty = PTHREAD_COND_INITIALIZER;

static atomic_long next_job;
static pthread_mutex_t phase_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t phase_cv = PTHREAD_COND_INITIALIZER;
static int phase;         /* 0 waiting, 1 decoding, 2 shutting down */

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static uint64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

/* Read with open/read, not fopen: at idle the process must not allocate at all, or an
 * idle policy would (rightly) never see it idle. */
static uint64_t rss_bytes(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    unsigned long long vm = 0, res = 0;
    if (sscanf(buf, "%llu %llu", &vm, &res) != 2) return 0;
    return res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* "Decode": content computed from the job number, so the consumer can verify it. */
static uint64_t decode_into(unsigned char *buf, size_t len, long seq)
{
    uint64_t x = mix((uint64_t)seq + 1), sum = 0;
    size_t words = len / 8;
    uint64_t *w = (uint64_t *)buf;
    for (size_t i = 0; i < words; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        w[i] = x;
        sum += x;
    }
    memset(buf + words * 8, 0xA5, len - words * 8);
    return sum;
}

static void *worker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&phase_mu);
    while (phase == 0) pthread_cond_wait(&phase_cv, &phase_mu);
    pthread_mutex_unlock(&phase_mu);
    for (;;) {
        long seq = atomic_fetch_add(&next_job, 1);
        if (seq >= cfg.buffers) break;
        size_t len = cfg.size * 3 / 4 + (size_t)(mix((uint64_t)seq * 7 + 3) % (cfg.size / 2 + 1));
        unsigned char *buf = malloc(len);
        if (!buf) { perror("malloc"); exit(1); }
        uint64_t check = decode_into(buf, len, seq);
        pthread_mutex_lock(&ring_mu);
        while (ring_count == cfg.queue) pthread_cond_wait(&ring_not_full, &ring_mu);
        ring[ring_tail] = (struct job){buf, len, seq, check};
        ring_tail = (ring_tail + 1) % cfg.queue;
        ring_count++;
        pthread_cond_signal(&ring_not_empty);
        pthread_mutex_unlock(&ring_mu);
    }
    /* An idle pool: the workers stay, like a ThreadPoolExecutor between requests. */
    pthread_mutex_lock(&phase_mu);
    while (phase != 2) pthread_cond_wait(&phase_cv, &phase_mu);
    pthread_mutex_unlock(&phase_mu);
    return NULL;
}

static unsigned char **kept;
static size_t kept_n, kept_bytes;

static void *consumer(void *arg)
{
    (void)arg;
    for (long done = 0; done < cfg.buffers; done++) {
        pthread_mutex_lock(&ring_mu);
        while (ring_count == 0) pthread_cond_wait(&ring_not_empty, &ring_mu);
        struct job j = ring[ring_head];
        ring_head = (ring_head + 1) % cfg.queue;
        ring_count--;
        pthread_cond_signal(&ring_not_full);
        pthread_mutex_unlock(&ring_mu);
        /* Spot-check the decode: first and last words must match the generator. */
        uint64_t x = mix((uint64_t)j.seq + 1);
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        if (j.len >= 8 && ((uint64_t *)j.buf)[0] != x) {
            fprintf(stderr, "decode_pool: buffer %ld corrupted\n", j.seq);
            exit(2);
        }
        if (cfg.keep_every > 0 && j.seq % cfg.keep_every == 0) {
            kept[kept_n++] = j.buf;
            kept_bytes += j.len;
        } else {
            free(j.buf);
        }
    }
    return NULL;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: decode_pool [--threads N] [--buffers N] [--size BYTES] [--big BYTES]\n"
            "                   [--keep-every N] [--queue N] [--idle-ms MS] [--trim-at-idle]\n"
            "                   [--api-trim-at-idle] [--dump-at-idle PATH]\n");
    exit(64);
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--trim-at-idle")) { cfg.trim_at_idle = 1; continue; }
        if (!strcmp(a, "--api-trim-at-idle")) { cfg.api_trim_at_idle = 1; continue; }
        if (!v) usage();
        if (!strcmp(a, "--dump-at-idle")) { cfg.dump_at_idle = v; i++; continue; }
        char *end;
        errno = 0;
        long long n = strtoll(v, &end, 0);
        if (errno || *end || n < 0) usage();
        if (!strcmp(a, "--threads")) cfg.threads = (int)n;
        else if (!strcmp(a, "--buffers")) cfg.buffers = (long)n;
        else if (!strcmp(a, "--size")) cfg.size = (size_t)n;
        else if (!strcmp(a, "--big")) cfg.big = (size_t)n;
        else if (!strcmp(a, "--keep-every")) cfg.keep_every = (long)n;
        else if (!strcmp(a, "--queue")) cfg.queue = (int)n;
        else if (!strcmp(a, "--idle-ms")) cfg.idle_ms = (long)n;
        else usage();
        i++;
    }
    if (cfg.threads < 1 || cfg.queue < 1 || cfg.size < 64) usage();
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    ring = calloc((size_t)cfg.queue, sizeof *ring);
    kept = calloc((size_t)(cfg.keep_every ? cfg.buffers / cfg.keep_every + 1 : 1), sizeof *kept);
    pthread_t *workers = calloc((size_t)cfg.threads, sizeof *workers);
    if (!ring || !kept || !workers) return 1;
    for (int i = 0; i < cfg.threads; i++) pthread_create(&workers[i], NULL, worker, NULL);
    pthread_t cons;
    pthread_create(&cons, NULL, consumer, NULL);
    sleep_ms(50);
    uint64_t baseline = rss_bytes();
    printf("baseline: rss %.1f MiB (%d workers started)\n", baseline / 1048576.0, cfg.threads);

    /* One multi-MiB buffer, used and freed: glibc raises its mmap threshold to its size
     * and its trim threshold to twice that, so later buffers come from the arenas. */
    if (cfg.big) {
        unsigned char *big = malloc(cfg.big);
        if (!big) return 1;
        memset(big, 1, cfg.big);
        __asm__ volatile("" : : "r"(big) : "memory");  /* or the compiler drops all three */
        free(big);
    }

    uint64_t t0 = now_ns(), cpu0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    pthread_mutex_lock(&phase_mu);
    phase = 1;
    pthread_cond_broadcast(&phase_cv);
    pthread_mutex_unlock(&phase_mu);
    pthread_join(cons, NULL);
    uint64_t decode_ns = now_ns() - t0;
    uint64_t decode_cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    uint64_t peak = rss_bytes();
    printf("decode: %ld buffers of ~%zu KiB by %d workers in %.1f ms, rss %.1f MiB\n",
           cfg.buffers, cfg.size >> 10, cfg.threads, decode_ns / 1e6, peak / 1048576.0);

    if (cfg.trim_at_idle) malloc_trim(0);
    if (cfg.api_trim_at_idle && sesstrim_trim() < 0) fprintf(stderr, "decode_pool: sesstrim not preloaded\n");
    uint64_t live = kept_bytes + (size_t)cfg.queue * sizeof *ring;
    uint64_t idle_start = now_ns(), rss = rss_bytes();
    for (long slept = 0; slept < cfg.idle_ms;) {
        long step = cfg.idle_ms - slept < 500 ? cfg.idle_ms - slept : 500;
        sleep_ms(step);
        slept += step;
        rss = rss_bytes();
        printf("idle %5.1f s: live %.1f MiB, rss %.1f MiB\n", (now_ns() - idle_start) / 1e9,
               live / 1048576.0, rss / 1048576.0);
    }
    if (cfg.dump_at_idle && sesstrim_dump(cfg.dump_at_idle) != 0)
        fprintf(stderr, "decode_pool: no dump written (sesstrim not preloaded?)\n");
    printf("RESULT baseline_kib=%llu live_kib=%llu decode_ms=%.1f decode_cpu_ms=%.1f peak_rss_kib=%llu "
           "idle_rss_kib=%llu\n",
           (unsigned long long)(baseline >> 10), (unsigned long long)(live >> 10), decode_ns / 1e6,
           decode_cpu_ns / 1e6,
           (unsigned long long)(peak >> 10), (unsigned long long)(rss >> 10));

    pthread_mutex_lock(&phase_mu);
    phase = 2;
    pthread_cond_broadcast(&phase_cv);
    pthread_mutex_unlock(&phase_mu);
    for (int i = 0; i < cfg.threads; i++) pthread_join(workers[i], NULL);
    for (size_t i = 0; i < kept_n; i++) free(kept[i]);
    free(kept); free(ring); free(workers);
    return 0;
}
