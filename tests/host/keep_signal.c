/* keep_signal: a signal handler that allocates interrupts the program inside the shim's
 * API calls that look a block up in the live table (sesstrim_keep, sesstrim_block_owner)
 * and inside session end (an end with leftovers, here blocks kept into the session, walks
 * the live table for their sites). Those calls hold a live-table shard lock; the handler's
 * malloc and free must pass through like they do when the handler interrupts malloc
 * itself, never wait for a lock their own thread holds. (session_signal.c covers the
 * session registry's lock on its own.)
 *
 * The main thread makes no glibc allocation while the timer runs (only API calls on blocks
 * allocated before), so plain glibc is never re-entered: without the shim the API calls are
 * no-ops and the program runs to the end. The handler's blocks come from the same heap as
 * the main thread's, so they hash to the same shards. */
#include <sys/time.h>
#include "host.h"
#include <dlfcn.h>
#include "sesstrim.h"

#define NBLOCKS 4096
static volatile sig_atomic_t handled;
static volatile unsigned long progress, seen = ~0ul;

static void on_alarm(int sig)
{
    (void)sig;
    /* once per step of the main loop: a handler slower than the timer's period (the shim
     * unwinds its allocations with SESSTRIM_STACKS=all) must not starve the loop */
    if (progress == seen) return;
    seen = progress;
    int saved = errno;
    void *a = malloc(48);
    void *b = malloc(100);
    free(a);
    free(b);
    handled++;
    errno = saved;
}

int main(void)
{
    static void *blocks[NBLOCKS];
    for (int i = 0; i < NBLOCKS; i++) HOST_CHECK((blocks[i] = malloc(32)) != NULL, "malloc failed");
    free(malloc(48));
    free(malloc(100));
    sesstrim_session_t s = sesstrim_session_begin("keep_signal");
    host_on_signal(SIGALRM, on_alarm);
    struct itimerval it = {{0, 50}, {0, 50}};
    setitimer(ITIMER_REAL, &it, NULL);
    uint64_t owner[2];
    /* the Python plugin's lookup, not in sesstrim.h: found only under the shim */
    int (*block_owner)(const void *, uint64_t *) = (int (*)(const void *, uint64_t *))dlsym(RTLD_DEFAULT, "sesstrim_impl_block_owner");
    while (handled < 3000) {
        for (int i = 0; i < NBLOCKS; i++) {
            sesstrim_keep(blocks[i], s);
            if (block_owner) block_owner(blocks[i], owner);
            progress++;
        }
        for (int k = 0; k < 64; k++) {
            sesstrim_session_t inner = sesstrim_session_begin("inner");
            for (int i = 0; i < 64; i++) sesstrim_keep(blocks[i], inner);
            sesstrim_session_end(inner);
            progress++;
        }
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    sesstrim_session_end(s);
    for (int i = 0; i < NBLOCKS; i++) free(blocks[i]);
    printf("ok: the handler allocated while the main thread was in keep and block_owner\n");
    return 0;
}
