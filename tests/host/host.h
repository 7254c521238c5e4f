/* host.h: helpers shared by the hostile-host battery (the programs in tests/host/). Each program is a
 * host the shim must not harm: it prints a deterministic result on stdout, writes its own
 * files in the current directory (the runner compares both byte for byte against a plain
 * run), and exits 0 when its own checks pass. HOST_SIDE, when set, names a directory the
 * runner does not compare: programs leave pids and times there for the runner's checks. */
#ifndef HOST_H
#define HOST_H
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Report a failed check on stderr and exit 1 (the runner shows it). write(2) only: some
 * callers have closed or replaced stdio's fds. */
static inline void host_fail(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    ssize_t w = write(2, buf, (size_t)n);
    (void)w;
    _exit(1);
}
#define HOST_CHECK(cond, ...) do { if (!(cond)) host_fail(__VA_ARGS__); } while (0)

/* Append "key value\n" to $HOST_SIDE/side.txt (not compared; read by the runner). */
static inline void host_side(const char *key, long long value)
{
    const char *dir = getenv("HOST_SIDE");
    if (!dir) return;
    char path[512], line[128];
    snprintf(path, sizeof path, "%s/side.txt", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return;
    int n = snprintf(line, sizeof line, "%s %lld\n", key, value);
    ssize_t w = write(fd, line, (size_t)n);
    (void)w;
    close(fd);
}

static inline void host_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static inline uint64_t host_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Allocation churn with a deterministic pattern: sizes from small to a few MiB so every
 * arena path (tcache, bins, top, mmapped chunks) is used, and stacks are sampled. */
static inline void host_churn(unsigned rounds, unsigned seed)
{
    void *keep[64] = {0};
    for (unsigned i = 0; i < rounds; i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned slot = (seed >> 8) % 64;
        size_t size = (seed >> 16) % 4 == 0 ? ((seed >> 4) % (3u << 20)) + 1 : ((seed >> 4) % 4096) + 1;
        free(keep[slot]);
        keep[slot] = malloc(size);
        if (keep[slot]) memset(keep[slot], (int)(i & 0xff), size < 256 ? size : 256);
    }
    for (unsigned i = 0; i < 64; i++) free(keep[i]);
}

/* Thread body: churn until host_stop is set (programs that need allocating bystanders). */
static volatile int host_stop;
static inline void *host_churn_until_stop(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    while (!__atomic_load_n(&host_stop, __ATOMIC_RELAXED)) host_churn(500, seed++);
    return NULL;
}

/* Thread body: churn, then allocate, touch and free a big block, leaving free memory that
 * trims (and their log lines) act on. */
static inline void *host_trim_bait(void *arg)
{
    host_churn(20000, (unsigned)(uintptr_t)arg);
    size_t big = 24u << 20;
    void *p = malloc(big);
    if (p) memset(p, 1, big);
    free(p);
    return NULL;
}

/* Run host_trim_bait on two threads, seeded by round, and wait for them. */
static inline void host_trim_bait_round(int round)
{
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, host_trim_bait, (void *)(uintptr_t)(round * 2 + i + 1));
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
}

/* Install fn for sig with SA_RESTART, nothing blocked. */
static inline void host_on_signal(int sig, void (*fn)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* The signal named by SESSTRIM_DUMP_SIGNAL (USR1, SIGUSR2, a number), 0 if unset: programs
 * that must exercise the shim's signal dump send it only when the shim listens for it. */
static inline int host_dump_signal(void)
{
    const char *v = getenv("SESSTRIM_DUMP_SIGNAL");
    if (!v || !*v) return 0;
    if (!strncmp(v, "SIG", 3)) v += 3;
    if (!strcmp(v, "USR1")) return SIGUSR1;
    if (!strcmp(v, "USR2")) return SIGUSR2;
    return atoi(v);
}

/* Write all of buf to fd or fail. */
static inline void host_write_all(int fd, const void *buf, size_t len, const char *what)
{
    const char *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        HOST_CHECK(w > 0, "%s: write failed: %s", what, strerror(errno));
        p += w; len -= (size_t)w;
    }
}
#endif
