/* closerange_files: a daemon closes every inherited fd (close_range(3, ~0U), what closefrom
 * does) and opens its own files and pipes; they reuse the numbers the shim held (stack
 * unwinder pipe, log file, signal wake pipe). Nothing but the program may then write to or
 * read from them: the program checks its pipe message arrives intact, and the runner
 * compares its files byte for byte with the plain run. */
#include <linux/close_range.h>
#include <pthread.h>
#include <sys/syscall.h>
#include "host.h"

static void *churner(void *arg)
{
    host_churn(30000, (unsigned)(uintptr_t)arg);
    return NULL;
}

int main(void)
{
    HOST_CHECK(syscall(SYS_close_range, 3u, ~0u, 0u) == 0, "close_range: %s", strerror(errno));
    int p[2];
    HOST_CHECK(pipe(p) == 0, "pipe");
    int data = open("data.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
    HOST_CHECK(data >= 0, "open data.txt");
    int p2[2];
    HOST_CHECK(pipe(p2) == 0, "pipe 2");
    int log = open("own.log", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    HOST_CHECK(log >= 0, "open own.log");
    printf("fds: pipe %d %d, data %d, pipe %d %d, log %d\n", p[0], p[1], data, p2[0], p2[1], log);

    const char msg[] = "message through the program's own pipe\n";
    host_write_all(p[1], msg, sizeof msg - 1, "pipe");
    host_write_all(p2[1], msg, sizeof msg - 1, "pipe 2");
    /* Time and allocations for every shim thread and sampler to act on its stale fds. */
    for (int round = 0; round < 6; round++) {
        pthread_t th[2];
        for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, churner, (void *)(uintptr_t)(round * 2 + i + 1));
        for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
        char line[64];
        int n = snprintf(line, sizeof line, "round %d\n", round);
        host_write_all(data, line, (size_t)n, "data.txt");
        host_write_all(log, line, (size_t)n, "own.log");
        host_sleep_ms(40);
    }
    char buf[256];
    ssize_t n = read(p[0], buf, sizeof buf);
    HOST_CHECK(n == (ssize_t)sizeof msg - 1 && memcmp(buf, msg, sizeof msg - 1) == 0,
               "pipe 1 returned %zd bytes, not the program's message", n);
    n = read(p2[0], buf, sizeof buf);
    HOST_CHECK(n == (ssize_t)sizeof msg - 1 && memcmp(buf, msg, sizeof msg - 1) == 0,
               "pipe 2 returned %zd bytes, not the program's message", n);
    /* Nothing else may be waiting in the pipes either. */
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    fcntl(p2[0], F_SETFL, O_NONBLOCK);
    HOST_CHECK(read(p[0], buf, sizeof buf) < 0 && read(p2[0], buf, sizeof buf) < 0, "extra bytes in a pipe");
    /* The file offset is the program's: reading back from the start gives what it wrote. */
    off_t end = lseek(data, 0, SEEK_CUR);
    printf("data.txt offset %lld\n", (long long)end);
    printf("ok\n");
    return 0;
}
