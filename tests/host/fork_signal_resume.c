/* fork_signal_resume: a handler forks, and the child RETURNS from the handler and carries
 * on with what the interrupted thread was doing (a snapshot child that keeps running the
 * program's loop), here allocating and freeing. The handler interrupts the main thread at
 * any point of malloc and free, including inside the shim's bookkeeping while it holds a
 * live-table shard lock: the child resumes there, and what the shim does in the child
 * (repairing state another thread may have torn) must not pull the table out from under
 * the interrupted operation of the surviving thread itself.
 *
 * Plain glibc runs this without fault: the process is single-threaded, so glibc's fork
 * takes no malloc lock and the child's thread finishes its interrupted malloc or free on
 * the arena it had (glibc's tst-mallocfork2 kind). The parent's handler reaps each child
 * at once (waitpid is async-signal-safe) and counts the ones that did not exit 0. */
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include "host.h"

static volatile sig_atomic_t forks, bad, in_child;
static volatile int first_bad_status;
static volatile unsigned long progress, forked_at = ~0ul;

static void on_alarm(int sig)
{
    (void)sig;
    /* at most one fork per step of the main loop: a child slower than the timer's period
     * must not starve the loop (the handler would fork again at once, forever) */
    if (in_child || progress == forked_at) return;
    forked_at = progress;
    int saved = errno;
    pid_t pid = fork();
    if (pid == 0) {
        in_child = 1;            /* resume the interrupted loop; it exits after some rounds */
        errno = saved;
        return;
    }
    if (pid > 0) {
        int st = 0;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { if (!bad) first_bad_status = st; bad++; }
        forks++;
    }
    errno = saved;
}

int main(void)
{
    enum { LIVE = 256 };
    static void *live[LIVE];
    pid_t parent = getpid();
    host_on_signal(SIGALRM, on_alarm);
    struct itimerval it = {{0, 300}, {0, 300}};
    setitimer(ITIMER_REAL, &it, NULL);
    unsigned long child_rounds = 0, i = 0;
    while (forks < 150) {
        unsigned k = (unsigned)(i++ % LIVE);
        free(live[k]);
        live[k] = malloc(16 + (i % 200));
        if (!live[k]) _exit(3);
        progress++;
        if (in_child && ++child_rounds > 1000) {
            for (k = 0; k < LIVE; k++) free(live[k]);
            _exit(0);
        }
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    if (getpid() != parent) _exit(0);   /* forked between the last count and the timer's end */
    for (unsigned k = 0; k < LIVE; k++) free(live[k]);
    HOST_CHECK(bad == 0, "%d of %d children that resumed after fork() in a handler failed (first: wait status 0x%x)",
               (int)bad, (int)forks, first_bad_status);
    printf("ok\n");
    return 0;
}
