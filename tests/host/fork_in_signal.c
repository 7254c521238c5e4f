/* fork_in_signal: fork() is async-signal-safe; a handler that forks may interrupt the main
 * thread inside fork() itself, including inside the shim's fork handlers (glibc's
 * tst-mallocfork2 kind). Children exit at once; the parent reaps them. A hang is caught by
 * the runner's timeout. */
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include "host.h"

static volatile sig_atomic_t in_handler_forks;

static void on_alarm(int sig)
{
    (void)sig;
    int saved = errno;
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    if (pid > 0) in_handler_forks++;
    errno = saved;
}

int main(void)
{
    host_on_signal(SIGALRM, on_alarm);
    struct itimerval it = {{0, 200}, {0, 200}};
    setitimer(ITIMER_REAL, &it, NULL);
    int forks = 0;
    while (forks < 400 || in_handler_forks < 100) {
        pid_t pid = fork();
        if (pid == 0) {
            void *p = malloc(100);       /* the child's allocator works */
            free(p);
            _exit(0);
        }
        if (pid > 0) forks++;
        void *p = malloc(forks % 4096 + 1);
        free(p);
        while (waitpid(-1, NULL, WNOHANG) > 0) {}
        if (forks > 20000) break;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {}
    HOST_CHECK(errno == ECHILD, "waitpid: %s", strerror(errno));
    printf("ok\n");
    return 0;
}
