/* unwind_io.c: the libc calls of the shim's private libunwind copy that could touch an fd
 * (scripts/build-libunwind.sh renames them to these). libunwind 1.6 validates an address
 * before reading it by writing one byte from it into a pipe it opened at start (write
 * fails with EFAULT if unreadable), and reopens the pipe when a read on it fails. Here the
 * pipe is two fd numbers no kernel hands out, and the validation is a one-byte st_safe_read
 * (process_vm_readv on ourselves), which fails instead of faulting: no fd is opened, none can be
 * confused with the program's. Every other call goes to libc unchanged. */
#include <errno.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include "shim.h"
#include "safe_read.h"

#define FAKE_READ_FD (-1000001)
#define FAKE_WRITE_FD (-1000002)

static bool readable_byte(const void *addr)
{
    char c;
    return st_safe_read((uintptr_t)addr, &c, 1);
}

int st_unw_pipe2(int fds[2], int flags);
ssize_t st_unw_read(int fd, void *buf, size_t n);
ssize_t st_unw_write(int fd, const void *buf, size_t n);
int st_unw_close(int fd);
long st_unw_syscall(long nr, ...);

int st_unw_pipe2(int fds[2], int flags)
{
    (void)flags;
    fds[0] = FAKE_READ_FD;
    fds[1] = FAKE_WRITE_FD;
    return 0;
}

ssize_t st_unw_read(int fd, void *buf, size_t n)
{
    if (fd == FAKE_READ_FD) { errno = EAGAIN; return -1; }   /* "pipe empty": still open */
    return read(fd, buf, n);
}

ssize_t st_unw_write(int fd, const void *buf, size_t n)
{
    if (fd == FAKE_WRITE_FD) {
        if (!n) return 0;
        if (readable_byte(buf)) return 1;
        errno = EFAULT;
        return -1;
    }
    return write(fd, buf, n);
}

int st_unw_close(int fd)
{
    if (fd == FAKE_READ_FD || fd == FAKE_WRITE_FD) return 0;
    return close(fd);
}

long st_unw_syscall(long nr, ...)
{
    va_list ap;
    va_start(ap, nr);
    long a[6];
    for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
    va_end(ap);
    if (nr == SYS_write) return st_unw_write((int)a[0], (const void *)a[1], (size_t)a[2]);
    return syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
