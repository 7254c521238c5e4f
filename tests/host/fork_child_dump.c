/* fork_child_dump: a forked child's dump describes the child only: its own start time (not
 * the parent's), its own threads, no trims or timeline samples from before the fork. The
 * parent runs threads, sessions, trims and time first; the child allocates and exits
 * normally (exit dump). The runner reads the child's dump with sesstrim-report --json and
 * compares with the fork time left in HOST_SIDE. */
#include <pthread.h>
#include <sys/wait.h>
#include <sesstrim.h>
#include "host.h"

static void *worker(void *arg)
{
    sesstrim_session_t s = sesstrim_session_begin("parent-work");
    host_churn(20000, (unsigned)(uintptr_t)arg);
    void *big = malloc(8 << 20);
    memset(big, 1, 8 << 20);
    free(big);
    sesstrim_session_end(s);
    return NULL;
}

int main(void)
{
    pthread_t th[3];
    for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    sesstrim_trim();
    host_sleep_ms(250);                  /* the parent's timeline and policy trims run */
    sesstrim_trim();
    host_side("parent", getpid());
    host_side("fork_ns", (long long)host_realtime_ns());
    pid_t child = fork();
    HOST_CHECK(child >= 0, "fork");
    if (child == 0) {
        host_side("child", getpid());
        void *keep = malloc(100000);
        memset(keep, 3, 100000);
        host_churn(1000, 9);
        host_sleep_ms(50);
        exit(0);                         /* the exit dump, under the child's pid */
    }
    int st;
    HOST_CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
    printf("ok\n");
    return 0;
}
