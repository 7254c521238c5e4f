/* first_fd: the program's first open() returns 3 and its first pipe() the next two numbers,
 * exactly as without the shim (CPython's pass_fds tests count on it). The shim may not hold
 * fds between uses. */
#include <pthread.h>
#include "host.h"

static void *worker(void *arg)
{
    host_churn(5000, 7);
    return arg;
}

int main(void)
{
    /* Let the shim's threads start and its samplers run first. */
    pthread_t th;
    pthread_create(&th, NULL, worker, NULL);
    pthread_join(th, NULL);
    host_sleep_ms(60);
    int fd = open("/dev/null", O_RDONLY);
    int p[2];
    HOST_CHECK(pipe(p) == 0, "pipe");
    printf("first open %d, pipe %d %d\n", fd, p[0], p[1]);
    return 0;
}
