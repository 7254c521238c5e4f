/* vfork_exec: vfork() shares the parent's memory and stack until exec or _exit; no fork
 * handler runs and the child must not allocate. A shim that does work around vfork (or
 * treats it as fork) corrupts the parent. Children exec /bin/sh printing a line, or _exit;
 * threads allocate meanwhile. */
#include <pthread.h>
#include <sys/wait.h>
#include "host.h"


int main(void)
{
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, host_churn_until_stop, (void *)(uintptr_t)(i + 1));
    char *args[] = {"/bin/sh", "-c", "echo exec from vfork child $0", "n", NULL};
    fflush(stdout);
    for (int i = 0; i < 60; i++) {
        char num[16];
        snprintf(num, sizeof num, "%d", i);
        args[3] = num;
        pid_t pid = vfork();
        if (pid == 0) {
            if (i % 3 == 0) execv(args[0], args);
            _exit(i % 3 == 0 ? 127 : 3);
        }
        HOST_CHECK(pid > 0, "vfork: %s", strerror(errno));
        int st;
        HOST_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st), "child %d status %#x", i, st);
        HOST_CHECK(WEXITSTATUS(st) == (i % 3 == 0 ? 0 : 3), "child %d exit %d", i, WEXITSTATUS(st));
    }
    __atomic_store_n(&host_stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    printf("ok\n");
    return 0;
}
