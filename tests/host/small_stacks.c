/* small_stacks: threads with the smallest stack glibc allows (PTHREAD_STACK_MIN, 16 KiB)
 * allocate, and a handler running on an 8 KiB sigaltstack (where crash reporters run)
 * allocates too. Everything the shim does on the allocation path, stack capture included,
 * must fit in what plain glibc needs there; an overflow is a SIGSEGV. */
#include <limits.h>
#include "host.h"

static int handled;                 /* handlers on several threads at once: atomic */

static void on_usr(int sig)
{
    (void)sig;
    void *p = malloc(100);
    void *q = malloc(5000);
    free(p);
    free(q);
    __atomic_add_fetch(&handled, 1, __ATOMIC_RELAXED);
}

static void *small(void *arg)
{
    static const size_t alt_size = 8192;
    stack_t ss = {.ss_sp = malloc(alt_size), .ss_size = alt_size, .ss_flags = 0};
    HOST_CHECK(ss.ss_sp && sigaltstack(&ss, NULL) == 0, "sigaltstack");
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < 200; i++) {
        void *p = malloc(64 + (seed++ % 3000));
        free(p);
        if (i % 20 == 0) pthread_kill(pthread_self(), SIGUSR1);
    }
    stack_t off = {.ss_flags = SS_DISABLE};
    sigaltstack(&off, NULL);
    free(ss.ss_sp);
    return NULL;
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr;
    sa.sa_flags = SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    HOST_CHECK(pthread_attr_setstacksize(&attr, PTHREAD_STACK_MIN) == 0, "setstacksize");
    for (int round = 0; round < 20; round++) {
        pthread_t th[4];
        for (int i = 0; i < 4; i++)
            HOST_CHECK(pthread_create(&th[i], &attr, small, (void *)(uintptr_t)(round * 4 + i)) == 0, "pthread_create");
        for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    }
    pthread_attr_destroy(&attr);
    printf("ok: %d handler runs on 8 KiB alternate stacks, threads on %d-byte stacks\n", __atomic_load_n(&handled, __ATOMIC_RELAXED), (int)PTHREAD_STACK_MIN);
    return 0;
}
