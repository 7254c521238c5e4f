/* cancel_fputs: a thread cancelled while blocked inside fputs (write on a full pipe is a
 * cancellation point) must leave the stream unlocked: glibc's cleanup runs through
 * libgcc_s's unwinder. If the shim's unwinder replaces _Unwind_* for the program, the
 * cleanup is skipped and the next fputs on that stream hangs (the runner's timeout). */
#include <pthread.h>
#include "host.h"

static FILE *out;

static void *blocked_writer(void *arg)
{
    (void)arg;
    char line[1024];
    memset(line, 'x', sizeof line - 2);
    line[sizeof line - 2] = '\n';
    line[sizeof line - 1] = 0;
    for (;;) fputs(line, out);           /* the pipe fills; write blocks; cancel lands here */
    return NULL;
}

static void *drainer(void *arg)
{
    int fd = *(int *)arg;
    char buf[4096];
    long total = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        total += n;
        if (memchr(buf, 'E', (size_t)n)) break;
    }
    return (void *)total;
}

int main(void)
{
    int p[2];
    HOST_CHECK(pipe(p) == 0, "pipe");
    out = fdopen(p[1], "w");
    HOST_CHECK(out != NULL, "fdopen");
    for (int round = 0; round < 3; round++) {
        pthread_t th;
        pthread_create(&th, NULL, blocked_writer, NULL);
        host_sleep_ms(80);               /* pipe full, writer blocked in write() */
        pthread_cancel(th);
        void *ret;
        pthread_join(th, &ret);
        HOST_CHECK(ret == PTHREAD_CANCELED, "writer not cancelled");
        pthread_t d;
        pthread_create(&d, NULL, drainer, &p[0]);
        fputs("END\n", out);             /* hangs if the cancelled thread kept the lock */
        fflush(out);
        pthread_join(d, NULL);
        printf("round %d: the stream is usable after cancel\n", round);
    }
    return 0;
}
