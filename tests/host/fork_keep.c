/* fork_keep: fork() racing the session API (begin, keep, enter/leave, end) on other
 * threads, including keeps that empty an ended session (its slot is recycled). The shim's
 * fork handlers and the session paths take shim locks; in any order they must not deadlock
 * (the runner's timeout), and the child must be able to allocate and use the API. Without
 * the shim the API calls are no-ops and the program does the same. */
#include <pthread.h>
#include <sys/wait.h>
#include <sesstrim.h>
#include "host.h"

static volatile int stop;

static void *sessions(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        sesstrim_session_t outer = sesstrim_session_begin("outer");
        sesstrim_session_t inner = sesstrim_session_begin("inner");
        void *p[8];
        for (int i = 0; i < 8; i++) p[i] = malloc(64 + (seed++ % 512));
        sesstrim_keep(p[0], 0);          /* keep from an open session */
        sesstrim_session_end(inner);
        /* Keep the ended session's leftovers to its parent: the last one empties it, so the
         * shim recycles its slot while the pointer's table entry is held. */
        for (int i = 1; i < 8; i++) sesstrim_keep(p[i], 0);
        sesstrim_session_leave(outer);
        sesstrim_session_enter(outer);
        for (int i = 0; i < 8; i++) free(p[i]);
        sesstrim_session_end(outer);
    }
    return NULL;
}

int main(void)
{
    pthread_t th[3];
    for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, sessions, (void *)(uintptr_t)(i + 1));
    int children = 0;
    for (int i = 0; i < 100; i++) {
        pid_t pid = fork();
        HOST_CHECK(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
            sesstrim_session_t s = sesstrim_session_begin("child");
            void *p = malloc(100);
            sesstrim_keep(p, 0);
            free(p);
            sesstrim_session_end(s);
            host_churn(200, (unsigned)i);
            _exit(i % 7);
        }
        int st;
        HOST_CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
        HOST_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == i % 7, "child %d: status %#x", i, st);
        children++;
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    printf("ok: %d children forked beside the session API\n", children);
    return 0;
}
