/* tsd_destructors: thread-specific data destructors run after the thread's start routine
 * returned, during thread exit, and they free and allocate (caches, per-thread arenas of
 * libraries do). The shim's per-thread state must still be usable then, and again for the
 * destructor rounds glibc repeats when a destructor sets a value anew. */
#include <pthread.h>
#include "host.h"

static pthread_key_t key;
static int rounds_left[8];

static void destroy(void *p)
{
    int idx = *(int *)p;
    free(p);
    if (rounds_left[idx]-- > 0) {          /* set again: glibc runs another round */
        int *q = malloc(sizeof *q + 100);
        *q = idx;
        pthread_setspecific(key, q);
    }
    void *scratch = malloc(4000);
    free(scratch);
}

static void *worker(void *arg)
{
    int idx = (int)(uintptr_t)arg;
    host_churn(3000, (unsigned)idx + 1);
    int *p = malloc(sizeof *p + 100);
    *p = idx;
    rounds_left[idx] = 2;
    pthread_setspecific(key, p);
    return NULL;
}

int main(void)
{
    HOST_CHECK(pthread_key_create(&key, destroy) == 0, "pthread_key_create");
    for (int round = 0; round < 10; round++) {
        pthread_t th[8];
        for (int i = 0; i < 8; i++) pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i);
        for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
        for (int i = 0; i < 8; i++) HOST_CHECK(rounds_left[i] == -1, "thread %d: destructor rounds %d", i, rounds_left[i]);
    }
    printf("ok: 80 threads ran 3 destructor rounds each\n");
    return 0;
}
