/* trim_bench.c: the workloads of bench/bench_trim.sh, with the latency of every single
 * malloc and free measured. `--workload decode`: the decode pool (samples/decode_pool:
 * workers decode ~1 MiB buffers, a consumer frees most, the pool then idles holding
 * little); `--heartbeat-ms N` adds a thread allocating every N ms for the whole run (a
 * service's heartbeat). `--workload server`: threads churning mixed sizes for a fixed
 * number of operations, then idle. Prints one RESULT line: baseline, live and idle RSS,
 * busy-phase wall time, and worst and 99.99th-percentile single-call latency. */
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

static int threads = 16, queue = 128, trim_at_idle;
static long buffers = 2000, keep_every = 100, idle_ms = 2500, heartbeat_ms, trim_every_ms;
static long server_ops = 400000;
static size_t size = 1 << 20, big = 8 << 20;
static const char *workload = "decode";

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* open/read, not fopen: at idle the process allocates nothing itself */
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

/* ---- latency: per-thread log-linear histograms (1 us buckets below 1024 us, then 64 per
 * power of two: under 1.6% error) plus the exact max. 19 KiB per thread, of which a
 * few pages are ever touched: the histograms are part of the idle RSS every row reports,
 * and must not grow with the latencies a row happens to see. */
#define LAT_LINEAR 1024u
#define LAT_SUB 64u
#define LAT_BUCKETS (LAT_LINEAR + 22u * LAT_SUB)
struct lat { uint64_t *h; uint64_t max_ns, n; };
static struct lat *lats;              /* one per measuring thread, made before the run */
static int n_lats;

static unsigned lat_bucket(uint64_t us)
{
    if (us < LAT_LINEAR) return (unsigned)us;
    unsigned e = 63u - (unsigned)__builtin_clzll(us);           /* >= 10 */
    unsigned b = LAT_LINEAR + (e - 10u) * LAT_SUB + (unsigned)((us >> (e - 6u)) & (LAT_SUB - 1u));
    return b < LAT_BUCKETS ? b : LAT_BUCKETS - 1u;
}

/* The upper end of bucket b, in us. */
static uint64_t lat_bucket_top(unsigned b)
{
    if (b < LAT_LINEAR) return b + 1u;
    unsigned e = 10u + (b - LAT_LINEAR) / LAT_SUB, sub = (b - LAT_LINEAR) % LAT_SUB;
    return ((uint64_t)(LAT_SUB + sub + 1u)) << (e - 6u);
}

static inline void lat_add(struct lat *l, uint64_t ns)
{
    l->h[lat_bucket(ns / 1000)]++;
    if (ns > l->max_ns) l->max_ns = ns;
    l->n++;
}

static void *timed_malloc(struct lat *l, size_t n)
{
    uint64_t t0 = now_ns();
    void *p = malloc(n);
    lat_add(l, now_ns() - t0);
    if (!p) { perror("malloc"); exit(1); }
    return p;
}

static void timed_free(struct lat *l, void *p)
{
    uint64_t t0 = now_ns();
    free(p);
    lat_add(l, now_ns() - t0);
}

static void lat_summary(uint64_t *max_ns, uint64_t *p9999_ns)
{
    uint64_t total = 0, mx = 0;
    for (int i = 0; i < n_lats; i++) { total += lats[i].n; if (lats[i].max_ns > mx) mx = lats[i].max_ns; }
    uint64_t want = total - total / 10000, seen = 0;
    *p9999_ns = 0;
    for (uint64_t b = 0; b < LAT_BUCKETS && total; b++) {
        for (int i = 0; i < n_lats; i++) seen += lats[i].h[b];
        if (seen >= want) { *p9999_ns = lat_bucket_top((unsigned)b) * 1000; break; }
    }
    *max_ns = mx;
}

/* ---- the heartbeat and the periodic malloc_trim(0) caller */
static atomic_int stop_bg;

static void *heartbeat(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_bg)) {
        volatile char *p = malloc(512);
        p[0] = 1;
        free((void *)p);
        sleep_ms(heartbeat_ms);
    }
    return NULL;
}

static void *trimmer(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_bg)) {
        malloc_trim(0);
        sleep_ms(trim_every_ms);
    }
    return NULL;
}

/* ---- decode pool (as samples/decode_pool) */
struct job { unsigned char *buf; size_t len; long seq; };
static struct job *ring;
static int ring_head, ring_tail, ring_count;
static pthread_mutex_t ring_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ring_not_full = PTHREAD_COND_INITIALIZER, ring_not_empty = PTHREAD_COND_INITIALIZER;
static atomic_long next_job;
static pthread_mutex_t phase_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t phase_cv = PTHREAD_COND_INITIALIZER;
static int phase;                     /* 0 waiting, 1 running, 2 shutting down */
static unsigned char **kept;
static size_t kept_n, kept_bytes;

static void wait_phase(int want)
{
    pthread_mutex_lock(&phase_mu);
    while (phase < want) pthread_cond_wait(&phase_cv, &phase_mu);
    pthread_mutex_unlock(&phase_mu);
}

static void set_phase(int p)
{
    pthread_mutex_lock(&phase_mu);
    phase = p;
    pthread_cond_broadcast(&phase_cv);
    pthread_mutex_unlock(&phase_mu);
}

static void *decoder(void *arg)
{
    struct lat *l = arg;
    wait_phase(1);
    for (;;) {
        long seq = atomic_fetch_add(&next_job, 1);
        if (seq >= buffers) break;
        size_t len = size * 3 / 4 + (size_t)(mix((uint64_t)seq * 7 + 3) % (size / 2 + 1));
        unsigned char *buf = timed_malloc(l, len);
        uint64_t x = mix((uint64_t)seq + 1);
        for (size_t i = 0; i + 8 <= len; i += 8) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; memcpy(buf + i, &x, 8); }
        pthread_mutex_lock(&ring_mu);
        while (ring_count == queue) pthread_cond_wait(&ring_not_full, &ring_mu);
        ring[ring_tail] = (struct job){buf, len, seq};
        ring_tail = (ring_tail + 1) % queue;
        ring_count++;
        pthread_cond_signal(&ring_not_empty);
        pthread_mutex_unlock(&ring_mu);
    }
    wait_phase(2);                    /* an idle pool: the workers stay */
    return NULL;
}

static void *consumer(void *arg)
{
    struct lat *l = arg;
    for (long done = 0; done < buffers; done++) {
        pthread_mutex_lock(&ring_mu);
        while (ring_count == 0) pthread_cond_wait(&ring_not_empty, &ring_mu);
        struct job j = ring[ring_head];
        ring_head = (ring_head + 1) % queue;
        ring_count--;
        pthread_cond_signal(&ring_not_full);
        pthread_mutex_unlock(&ring_mu);
        if (keep_every > 0 && j.seq % keep_every == 0) { kept[kept_n++] = j.buf; kept_bytes += j.len; }
        else timed_free(l, j.buf);
    }
    return NULL;
}

static atomic_int servers_done;

/* ---- busy server: each thread keeps 512 slots of mixed sizes and replaces one per op */
static void *server(void *arg)
{
    struct lat *l = arg;
    enum { SLOTS = 512 };
    void *slot[SLOTS] = {0};
    uint64_t s = mix((uint64_t)(uintptr_t)arg);
    wait_phase(1);
    for (long op = 0; op < server_ops; op++) {
        s = mix(s + (uint64_t)op);
        unsigned k = (unsigned)(s % SLOTS), r = (unsigned)((s >> 16) % 100);
        size_t n = r < 70 ? 16 + (s >> 24) % 1024 : r < 95 ? 1024 + (s >> 24) % (32 << 10) : (64 << 10) + (s >> 24) % (448 << 10);
        if (slot[k]) timed_free(l, slot[k]);
        slot[k] = timed_malloc(l, n);
        memset(slot[k], (int)op, n < 256 ? n : 256);
    }
    for (int k = 0; k < SLOTS; k++) free(slot[k]);   /* the server's load ends: all freed */
    atomic_fetch_add(&servers_done, 1);
    wait_phase(2);
    return NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: trim_bench [--workload decode|server] [--threads N] [--buffers N] [--size B]\n"
                    "       [--ops N] [--idle-ms MS] [--heartbeat-ms MS] [--trim-every-ms MS] [--trim-at-idle]\n");
    exit(64);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--trim-at-idle")) { trim_at_idle = 1; continue; }
        if (!v) usage();
        i++;
        if (!strcmp(a, "--workload")) { workload = v; continue; }
        long n = atol(v);
        if (!strcmp(a, "--threads")) threads = (int)n;
        else if (!strcmp(a, "--buffers")) buffers = n;
        else if (!strcmp(a, "--size")) size = (size_t)n;
        else if (!strcmp(a, "--ops")) server_ops = n;
        else if (!strcmp(a, "--idle-ms")) idle_ms = n;
        else if (!strcmp(a, "--heartbeat-ms")) heartbeat_ms = n;
        else if (!strcmp(a, "--trim-every-ms")) trim_every_ms = n;
        else usage();
    }
    int decode = !strcmp(workload, "decode");
    if (!decode && strcmp(workload, "server")) usage();
    setvbuf(stdout, NULL, _IOLBF, 0);
    n_lats = threads + 1;
    lats = calloc((size_t)n_lats, sizeof *lats);
    for (int i = 0; i < n_lats; i++) lats[i].h = calloc(LAT_BUCKETS, sizeof(uint64_t));
    ring = calloc((size_t)queue, sizeof *ring);
    kept = calloc((size_t)(buffers / (keep_every ? keep_every : 1) + 1), sizeof *kept);
    pthread_t *th = calloc((size_t)threads + 1, sizeof *th), hb, tr;
    for (int i = 0; i < threads; i++) pthread_create(&th[i], NULL, decode ? decoder : server, &lats[i]);
    if (decode) pthread_create(&th[threads], NULL, consumer, &lats[threads]);
    if (heartbeat_ms) pthread_create(&hb, NULL, heartbeat, NULL);
    if (trim_every_ms) pthread_create(&tr, NULL, trimmer, NULL);
    sleep_ms(50);
    uint64_t baseline = rss_bytes();
    if (big) {                        /* raises glibc's thresholds, as in the decode pool */
        unsigned char *b = malloc(big);
        memset(b, 1, big);
        __asm__ volatile("" : : "r"(b) : "memory");
        free(b);
    }
    uint64_t t0 = now_ns();
    set_phase(1);
    if (decode) pthread_join(th[threads], NULL);
    else while (atomic_load(&servers_done) < threads) sleep_ms(1);   /* they stay, idle */
    uint64_t busy_ns = now_ns() - t0;
    uint64_t peak = rss_bytes();
    if (trim_at_idle) malloc_trim(0);
    printf("IDLE from now on\n");          /* for a snapshot of /proc/PID/smaps at idle */
    uint64_t rss = peak;
    for (long slept = 0; slept < idle_ms; slept += 100) { sleep_ms(100); rss = rss_bytes(); }
    uint64_t max_ns, p9999_ns, calls = 0;
    lat_summary(&max_ns, &p9999_ns);
    for (int i = 0; i < n_lats; i++) calls += lats[i].n;
    printf("RESULT baseline_kib=%llu live_kib=%llu busy_ms=%.1f peak_rss_kib=%llu idle_rss_kib=%llu "
           "max_us=%.1f p9999_us=%.1f calls=%llu\n",
           (unsigned long long)(baseline >> 10), (unsigned long long)(kept_bytes >> 10), busy_ns / 1e6,
           (unsigned long long)(peak >> 10), (unsigned long long)(rss >> 10), max_ns / 1e3, p9999_ns / 1e3,
           (unsigned long long)calls);
    atomic_store(&stop_bg, 1);
    set_phase(2);
    for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);   /* the consumer was joined */
    if (heartbeat_ms) pthread_join(hb, NULL);
    if (trim_every_ms) pthread_join(tr, NULL);
    return 0;
}
