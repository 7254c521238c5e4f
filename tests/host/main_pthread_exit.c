/* main_pthread_exit: the main thread calls pthread_exit() while workers still run (daemons,
 * coroutine runtimes). When the last program thread returns, glibc ends the process with
 * exit(0): atexit handlers run and the exit status is 0. A shim thread must not keep the
 * process alive (the runner's timeout turns that into HANG), and the exit dump, written
 * after the leader died, must still carry RSS and exe (the runner checks the dump). */
#include <pthread.h>
#include "host.h"

static void at_exit(void)
{
    /* The runner compares this file and stdout with the plain run. */
    int fd = open("atexit.txt", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) { host_write_all(fd, "atexit ran\n", 11, "atexit.txt"); close(fd); }
    host_write_all(1, "atexit handler ran\n", 19, "stdout");
}

static void *worker(void *arg)
{
    unsigned n = (unsigned)(uintptr_t)arg;
    host_sleep_ms(150);              /* outlive the main thread by a few ticks */
    host_churn(20000, n);
    void *keep = malloc(1 << 20);    /* live at exit: the exit dump has something to show */
    memset(keep, 1, 1 << 20);
    return keep;
}

int main(void)
{
    atexit(at_exit);
    pthread_t th[3];
    for (unsigned i = 0; i < 3; i++)
        HOST_CHECK(pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i + 1)) == 0, "pthread_create");
    for (unsigned i = 0; i < 3; i++) pthread_detach(th[i]);
    printf("main thread exits first\n");
    fflush(stdout);
    pthread_exit(NULL);
}
