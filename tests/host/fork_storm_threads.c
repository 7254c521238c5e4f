/* fork_storm_threads: forks in a storm while two threads churn malloc/free, from two
 * forking threads at once; children start a thread, allocate, and half of them exit through
 * exit() (atexit handlers, the exit dump), half through _exit. Every child must exit with
 * its own status: no inherited lock may be held in the child. */
#include <pthread.h>
#include <sys/wait.h>
#include "host.h"


static void *child_thread(void *arg)
{
    host_churn(300, 5);
    return arg;
}

static void *forker(void *arg)
{
    int base = (int)(uintptr_t)arg;
    for (int i = 0; i < 20; i++) {
        pid_t pid = fork();
        if (pid < 0) return (void *)1;
        if (pid == 0) {
            pthread_t t;
            if (pthread_create(&t, NULL, child_thread, NULL) != 0) _exit(90);
            pthread_join(t, NULL);
            void *p = malloc(5000);
            free(p);
            if (i % 2) exit((base + i) % 50);
            _exit((base + i) % 50);
        }
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != (base + i) % 50) return (void *)2;
    }
    return NULL;
}

int main(void)
{
    pthread_t th[2], fk[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, host_churn_until_stop, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < 2; i++) pthread_create(&fk[i], NULL, forker, (void *)(uintptr_t)(i * 7));
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(fk[i], &r);
        HOST_CHECK(r == NULL, "forker %d: %s", i, r == (void *)1 ? "fork failed" : "a child exited wrongly");
    }
    __atomic_store_n(&host_stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    printf("ok: 40 children\n");
    return 0;
}
