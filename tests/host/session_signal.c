/* session_signal: a signal handler that allocates and frees interrupts the program inside
 * sesstrim_session_begin and sesstrim_session_end, which take the session registry's lock
 * (a slot is taken at begin, recycled at end or at the free of an ended session's last
 * block). The handler keeps one block alive from one run to the next: allocated while an
 * inner session is current, it belongs to that session, outlives its end, and its free in
 * a later run of the handler recycles the ended session's slot, under the registry lock
 * the interrupted begin or end may hold on the same thread. Re-entry must pass through,
 * never wait for a lock its own thread holds.
 *
 * The main thread makes no glibc allocation while the timer runs, so plain glibc is never
 * re-entered: without the shim the session calls are no-ops and the program runs to the end. */
#include <sys/time.h>
#include "host.h"
#include "sesstrim.h"

static volatile sig_atomic_t handled;
static volatile unsigned long sessions_done;

static void on_alarm(int sig)
{
    static void *pending;
    static unsigned long last_run = ~0ul;
    /* At most once per session the main thread began and ended: a handler slower than the
     * timer's period must not starve the loop. */
    if (sig != SIGALRM || sessions_done == last_run) return;
    last_run = sessions_done;
    int saved = errno;
    free(pending);
    pending = malloc(64);
    handled++;
    errno = saved;
}

int main(void)
{
    free(malloc(64));
    host_on_signal(SIGALRM, on_alarm);
    struct itimerval it = {{0, 50}, {0, 50}};
    setitimer(ITIMER_REAL, &it, NULL);
    while (handled < 3000) {
        sesstrim_session_t inner = sesstrim_session_begin("inner");
        sesstrim_session_end(inner);
        sessions_done++;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("ok: the handler allocated and freed while the main thread began and ended sessions\n");
    return 0;
}
