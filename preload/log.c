/* log.c: the shim's one-line messages, clocks and dump-path expansion.
 * Everything writes with write(2) from stack buffers: no malloc, no stdio. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "shim.h"

static int log_fd = 2;

void st_log_reopen(void)
{
    if (log_fd > 2) close(log_fd);
    log_fd = 2;
    if (st_opt.log_target == ST_LOG_OFF) {
        log_fd = -1;
    } else if (st_opt.log_target == ST_LOG_FILE) {
        char path[512];
        if (!st_expand_path(st_opt.log_path, path, sizeof path)) {
            st_log("SESSTRIM_LOG=%s: path too long, logging to stderr", st_opt.log_path);
            return;
        }
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
            st_log("SESSTRIM_LOG=%s: cannot open (%s), logging to stderr", path, strerror(errno));
            return;
        }
        log_fd = fd;
    }
}

void st_log(const char *fmt, ...)
{
    if (log_fd < 0) return;
    char line[768];
    int saved_errno = errno;
    int n = snprintf(line, sizeof line, "sesstrim[%d]: ", (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) m = 0;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(log_fd, line, len);
    (void)w;
    errno = saved_errno;
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
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    size_t have = 0;
    ssize_t n;
    while (have < len - 1 && (n = read(fd, buf + have, len - 1 - have)) > 0) have += (size_t)n;
    close(fd);
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
