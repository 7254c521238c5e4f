/* spawn_children: posix_spawn (glibc uses clone(CLONE_VM|CLONE_VFORK) without fork
 * handlers) of a child whose output comes back through a pipe, while threads allocate. The
 * child inherits LD_PRELOAD and the shim's environment: its output must be exactly the
 * plain one. */
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>
#include "host.h"

extern char **environ;
int main(void)
{
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, host_churn_until_stop, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < 25; i++) {
        int p[2];
        HOST_CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe");
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], 1);
        char num[16];
        snprintf(num, sizeof num, "%d", i);
        char *args[] = {"/bin/sh", "-c", "echo spawned $0; ls /nonexistent-dir-$0 2>&1 | wc -l", num, NULL};
        pid_t pid;
        int rc = posix_spawn(&pid, "/bin/sh", &fa, NULL, args, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        HOST_CHECK(rc == 0, "posix_spawn: %s", strerror(rc));
        char buf[256];
        ssize_t n, have = 0;
        while ((n = read(p[0], buf + have, sizeof buf - 1 - (size_t)have)) > 0) have += n;
        close(p[0]);
        buf[have] = 0;
        int st;
        HOST_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
        fputs(buf, stdout);
    }
    __atomic_store_n(&host_stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    return 0;
}
