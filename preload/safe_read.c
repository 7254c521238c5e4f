/* safe_read.c: process_vm_readv on self (see safe_read.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include "shim.h"
#include "safe_read.h"

static int refused;                 /* the kernel said ENOSYS/EPERM once: stop asking */

bool st_safe_read(uintptr_t addr, void *out, size_t len)
{
    if (__atomic_load_n(&refused, __ATOMIC_RELAXED) || !addr) return false;
    int saved = errno;              /* the host's errno is not ours to change */
    struct iovec local = {.iov_base = out, .iov_len = len};
    struct iovec remote = {.iov_base = (void *)addr, .iov_len = len};
    /* getpid, not a cached pid: after fork the child must read its own memory. */
    long n = syscall(SYS_process_vm_readv, (long)syscall(SYS_getpid), &local, 1UL, &remote, 1UL, 0UL);
    if (n < 0 && (errno == ENOSYS || errno == EPERM)) __atomic_store_n(&refused, 1, __ATOMIC_RELAXED);
    errno = saved;
    return n == (long)len;
}

bool st_safe_read_works(void) { return !__atomic_load_n(&refused, __ATOMIC_RELAXED); }

static void parse_map_line(char *line, struct st_map_line *m)
{
    char *p = line;
    m->start = strtoull(p, &p, 16);
    if (*p == '-') p++;
    m->end = strtoull(p, &p, 16);
    while (*p == ' ') p++;
    m->perms = (p[0] == 'r' ? 1u : 0) | (p[1] == 'w' ? 2u : 0) | (p[2] == 'x' ? 4u : 0) |
               (p[3] == 's' ? 8u : 0);
    /* perms, offset, dev, then the inode, then the path (maybe empty) */
    for (int field = 0; field < 3 && *p; field++) {
        while (*p && *p != ' ') p++;
        while (*p == ' ') p++;
    }
    m->inode = strtoull(p, &p, 10);
    while (*p == ' ') p++;
    m->path = p;
}

bool st_maps_each(bool (*fn)(const struct st_map_line *, void *), void *ctx)
{
    char buf[8192];
    int saved = errno;
    int fd = st_open_proc(ST_PROC_SELF "/maps");
    if (fd < 0) { errno = saved; return false; }
    size_t have = 0;
    bool go = true;
    while (go) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n <= 0) break;
        have += (size_t)n;
        buf[have] = 0;
        char *line = buf, *nl;
        while (go && (nl = strchr(line, '\n'))) {
            *nl = 0;
            struct st_map_line m;
            parse_map_line(line, &m);
            go = fn(&m, ctx);
            line = nl + 1;
        }
        have = strlen(line);
        if (have == sizeof buf - 1) have = 0;    /* a line longer than the buffer: drop it */
        memmove(buf, line, have);
    }
    st_close_proc(fd);
    errno = saved;
    return true;
}
