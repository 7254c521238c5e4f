/* exit_during_churn: exit() from a non-main thread while other threads allocate and free as
 * fast as they can: the exit dump and atexit handlers run beside live allocators. The exit
 * status and atexit output must be the program's. */
#include <pthread.h>
#include "host.h"

static void at_exit(void) { host_write_all(1, "atexit ran\n", 11, "stdout"); }

static void *churn(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (;;) host_churn(500, seed++);
    return NULL;
}

static void *exiter(void *arg)
{
    (void)arg;
    host_sleep_ms(200);
    exit(42);
}

int main(void)
{
    atexit(at_exit);
    pthread_t th[4], e;
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, churn, (void *)(uintptr_t)(i + 1));
    pthread_create(&e, NULL, exiter, NULL);
    for (;;) host_churn(100, 99);
}
