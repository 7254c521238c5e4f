/* log.c: the shim's one-line messages, clocks and dump-path expansion.
 * Everything writes with write(2) from stack buffers: no malloc, no stdio. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "shim.h"

/* No fd is held between two lines. A daemon may close every inherited fd (close_range,
 * closefrom) and open its own files on the same numbers, or close stderr and open a data
 * file as fd 2: a kept fd would then write our lines into the program's files. So a log
 * file is opened, written and closed per line (O_APPEND: lines from several threads and
 * processes do not interleave), and stderr is written only while fd 2 is still the file it
 * was when the shim started (same device and inode), and only for warnings unless
 * SESSTRIM_LOG asked for every line: by default the shim writes nothing uninvited into the
 * program's streams (programs that check their stderr broke on trim lines). */
static bool stderr_known;
static dev_t stderr_dev;
static ino_t stderr_ino;

int st_open_high(const char *path, int flags, mode_t mode)
{
    int fd = open(path, flags | O_CLOEXEC, mode);
    if (fd < 0 || fd >= ST_HIGH_FD) return fd;
    int high = fcntl(fd, F_DUPFD_CLOEXEC, ST_HIGH_FD);
    if (high < 0) return fd;          /* RLIMIT_NOFILE below ST_HIGH_FD: keep the low one */
    /* Close the low number only if it is still our file: a program that dup2()'d over it
     * meanwhile owns it now (a lost fd of ours is better than a closed one of theirs). */
    struct stat a, b;
    if (fstat(fd, &a) == 0 && fstat(high, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) close(fd);
    return high;
}

/* /proc files a shim thread reads on every tick (statm, maps, smaps) stay open above
 * ST_HIGH_FD, one set per shim thread: opening them each time put a file on the lowest free
 * fd for a few microseconds tick after tick, and the close that followed could hit the
 * program's file if it had dup2()'d over that number in between. Each use first checks the
 * fd is still the same file (device and inode); if not, the number is left to the program
 * and the file is opened again. Program threads open and close per call. */
#define PROC_CACHED 3
static ST_TLS struct { int fd; dev_t dev; ino_t ino; uint64_t lost_ns; } proc_fds[PROC_CACHED];
static ST_TLS bool proc_fds_init;

static int proc_slot(const char *path)
{
    static const char *const names[PROC_CACHED] = {ST_PROC_SELF "/statm", ST_PROC_SELF "/maps", ST_PROC_SELF "/smaps"};
    for (int i = 0; i < PROC_CACHED; i++) if (!strcmp(path, names[i])) return i;
    return -1;
}

int st_open_proc(const char *path)
{
    struct st_thread *t = st_tls_thread;
    int i = proc_slot(path);
    if (i < 0 || !t || !(__atomic_load_n(&t->flags, __ATOMIC_RELAXED) & ST_THREAD_SHIM))
        return st_open_high(path, O_RDONLY, 0);
    if (!proc_fds_init) {
        for (int k = 0; k < PROC_CACHED; k++) proc_fds[k].fd = -1;
        proc_fds_init = true;
    }
    struct stat sb;
    if (proc_fds[i].fd >= 0 && fstat(proc_fds[i].fd, &sb) == 0 && sb.st_dev == proc_fds[i].dev &&
        sb.st_ino == proc_fds[i].ino && lseek(proc_fds[i].fd, 0, SEEK_SET) == 0)
        return proc_fds[i].fd;
    /* Lost (the program closed every fd, e.g. close_range, and is likely opening its own
     * right now): wait 200 ms before opening again, so our brief low fd does not land in
     * the middle of that; the caller treats the file as unreadable meanwhile. */
    uint64_t now = st_now_ns();
    if (proc_fds[i].fd >= 0) { proc_fds[i].fd = -1; proc_fds[i].lost_ns = now; }
    if (proc_fds[i].lost_ns && now - proc_fds[i].lost_ns < 200000000ull) { errno = EAGAIN; return -1; }
    int fd = st_open_high(path, O_RDONLY, 0);
    if (fd < ST_HIGH_FD || fstat(fd, &sb) != 0) return fd;   /* not cacheable: closed after use */
    proc_fds[i].fd = fd;
    proc_fds[i].dev = sb.st_dev;
    proc_fds[i].ino = sb.st_ino;
    return fd;
}

void st_close_proc(int fd)
{
    for (int i = 0; proc_fds_init && i < PROC_CACHED; i++) if (proc_fds[i].fd == fd) return;
    close(fd);
}

void st_log_reopen(void)
{
    struct stat sb;
    stderr_known = fstat(2, &sb) == 0;
    if (stderr_known) { stderr_dev = sb.st_dev; stderr_ino = sb.st_ino; }
    if (st_opt.log_target != ST_LOG_FILE) return;
    char path[512];
    int fd = st_expand_path(st_opt.log_path, path, sizeof path)
           ? st_open_high(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600) : -1;
    if (fd >= 0) { close(fd); return; }
    int err = errno;
    st_opt.log_target = ST_LOG_STDERR;
    st_opt.log_info = false;
    st_log("SESSTRIM_LOG=%s: cannot open (%s); warnings go to stderr", st_opt.log_path, strerror(err));
}

static int open_target(bool *close_after)
{
    *close_after = false;
    if (st_opt.log_target == ST_LOG_OFF) return -1;
    if (st_opt.log_target == ST_LOG_FILE) {
        char path[512];
        if (!st_expand_path(st_opt.log_path, path, sizeof path)) return -1;
        int fd = st_open_high(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600);
        if (fd >= 0) *close_after = true;
        /* Unwritable now (the program may be out of fds): the line is dropped, never sent to
         * the program's stderr instead. An unwritable path at start was said there once. */
        return fd;
    }
    struct stat sb;
    if (!stderr_known || fstat(2, &sb) != 0 || sb.st_dev != stderr_dev || sb.st_ino != stderr_ino) return -1;
    return 2;
}

/* A line must never kill the host: if fd 2 is a pipe whose reader is gone, write() raises
 * SIGPIPE, whose default action ends the process. Block it for the write and, if this write
 * raised it (it was not already pending), take it back off the thread's pending set. */
static void write_no_sigpipe(int fd, const char *buf, size_t len)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t w = write(fd, buf, len);
    if (w < 0 && errno == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void emit(const char *fmt, va_list ap)
{
    char line[768];
    int saved_errno = errno;
    int n = snprintf(line, sizeof line, "sesstrim[%d]: ", (int)getpid());
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    if (m < 0) m = 0;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    bool close_after;
    int fd = open_target(&close_after);
    if (fd >= 0) {
        write_no_sigpipe(fd, line, len);
        if (close_after) close(fd);
    }
    errno = saved_errno;
}

void st_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(fmt, ap);
    va_end(ap);
}

void st_info(const char *fmt, ...)
{
    if (!st_opt.log_info) return;
    va_list ap;
    va_start(ap, fmt);
    emit(fmt, ap);
    va_end(ap);
}

void st_assert_failed(const char *what, const char *file, int line)
{
#ifdef ST_DEBUG
    char buf[256];
    int n = snprintf(buf, sizeof buf, "sesstrim[%d]: invariant failed: %s (%s:%d)\n", (int)getpid(), what, file, line);
    if (n > 0) (void)!write(2, buf, (size_t)(n < (int)sizeof buf ? n : (int)sizeof buf - 1));
    abort();
#else
    static int said;
    if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
        st_log("invariant failed: %s (%s:%d); that feature is off from here on", what, file, line);
#endif
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
uint64_t st_now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
uint64_t st_realtime_ns(void) { return clock_ns(CLOCK_REALTIME); }

size_t st_read_small_file(const char *path, char *buf, size_t len)
{
    int fd = st_open_proc(path);
    if (fd < 0) return 0;
    size_t have = 0;
    ssize_t n;
    while (have < len - 1 && (n = read(fd, buf + have, len - 1 - have)) > 0) have += (size_t)n;
    st_close_proc(fd);
    buf[have] = 0;
    return have;
}

bool st_expand_path(const char *pattern, char *out, size_t outlen)
{
    size_t o = 0;
    for (const char *p = pattern; *p; p++) {
        char num[32];
        const char *piece = num;
        size_t plen;
        if (p[0] == '%' && p[1] == 'p') {
            plen = (size_t)snprintf(num, sizeof num, "%d", (int)getpid());
            p++;
        } else if (p[0] == '%' && p[1] == 't') {
            plen = (size_t)snprintf(num, sizeof num, "%lld", (long long)time(NULL));
            p++;
        } else if (p[0] == '%' && p[1] == 'n') {
            /* The next dump's number in this process: 1 for the first. */
            plen = (size_t)snprintf(num, sizeof num, "%u", __atomic_load_n(&st_dumps_written, __ATOMIC_RELAXED) + 1);
            p++;
        } else if (p[0] == '%' && p[1] == '%') {
            num[0] = '%'; plen = 1; p++;
        } else {
            piece = p; plen = 1;
        }
        if (o + plen >= outlen) return false;
        memcpy(out + o, piece, plen);
        o += plen;
    }
    out[o] = 0;
    return o > 0;
}
