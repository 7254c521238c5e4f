/* sigdump_children: SESSTRIM_DUMP_SIGNAL sent to a forked child must make that child dump,
 * never the parent (the wake pipe must not be shared across fork). The program signals the
 * child, waits for the child's dump file, SIGKILLs the child (no exit dump), and leaves
 * with _exit (whose exit dump is not a signal dump), so the only signal dump may be the child's: the
 * runner checks the dump directory. Without SESSTRIM_DUMP_SIGNAL no signal is sent. */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "host.h"

int main(void)
{
    int sig = host_dump_signal();
    const char *pattern = getenv("SESSTRIM_DUMP");
    int go[2];
    HOST_CHECK(pipe(go) == 0, "pipe");
    pid_t child = fork();
    HOST_CHECK(child >= 0, "fork");
    if (child == 0) {
        close(go[1]);
        host_churn(2000, 3);
        char c;
        while (read(go[0], &c, 1) < 0 && errno == EINTR) {}  /* until the parent is done */
        _exit(0);
    }
    close(go[0]);
    host_side("parent", getpid());
    host_side("child", child);
    host_sleep_ms(100);                   /* the child's service thread is up */
    if (sig && pattern) {
        char path[512] = "";
        const char *at = strstr(pattern, "%p");
        if (at) snprintf(path, sizeof path, "%.*s%d%s", (int)(at - pattern), pattern, (int)child, at + 2);
        kill(child, sig);
        struct stat st;
        for (int i = 0; i < 300 && path[0] && stat(path, &st) != 0; i++) host_sleep_ms(10);
        host_sleep_ms(100);               /* a wrong process dumping would have done so */
        kill(child, SIGKILL);
    } else {
        close(go[1]);
    }
    int st;
    waitpid(child, &st, 0);
    host_write_all(1, "ok\n", 3, "stdout");
    _exit(0);
}
