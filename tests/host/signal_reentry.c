/* signal_reentry: a signal handler that allocates (glog, crash reporters, backtrace
 * libraries do) interrupts the same thread while it is inside the shim's allocation and
 * mmap hooks. Re-entry must pass through, never wait on a lock the interrupted frame holds.
 * SIGALRM comes from setitimer at a high rate; the program runs until the handler has run
 * enough times (a hang is caught by the runner's timeout).
 *
 * glibc's malloc is not reentrant itself, so the two sides are chosen to share no glibc
 * state: each side only takes and returns one chunk at a time from its own tcache bins,
 * warmed up beforehand (no arena lock, no arena list; a tcache bin is touched only by its
 * own size class): main uses 24, 72 and 136 bytes, the handler 48, 100 and 200. Main also
 * makes 40 MiB allocations (above glibc's largest mmap threshold: always their own mmap,
 * no tcache) and both sides make raw mmaps. Plain glibc runs this forever without fault;
 * only a shim that waits on itself when re-entered can hang or crash it. Small chunks of
 * both sides sit in the same heap, so they meet in the same parts of the shim's tables. */
#include <signal.h>
#include <sys/mman.h>
#include <sys/time.h>
#include "host.h"

#define BIG (40ul << 20)
static volatile sig_atomic_t handled;

static void on_alarm(int sig)
{
    (void)sig;
    int saved = errno;
    void *a = malloc(48);
    void *b = malloc(100);
    void *c = realloc(NULL, 200);
    void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m != MAP_FAILED) munmap(m, 4096);
    free(a); free(b); free(c);
    handled++;
    errno = saved;
}

int main(void)
{
    static const size_t sizes[] = {24, 72, 136, 48, 100, 200};
    for (int i = 0; i < 6; i++) free(malloc(sizes[i]));
    host_on_signal(SIGALRM, on_alarm);
    struct itimerval it = {{0, 50}, {0, 50}};     /* as fast as the kernel delivers */
    setitimer(ITIMER_REAL, &it, NULL);
    unsigned long loops = 0;
    while (handled < 3000) {
        for (int k = 0; k < 50; k++) {
            void *x = malloc(24);
            void *y = malloc(72);
            void *z = realloc(NULL, 136);
            HOST_CHECK(x && y && z, "small allocation failed");
            free(x); free(y); free(z);
        }
        void *p = malloc(BIG);
        void *q = calloc(1, BIG);
        void *r = NULL;
        if (posix_memalign(&r, 4096, BIG) != 0) r = NULL;
        void *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        HOST_CHECK(p && q && r && m != MAP_FAILED, "allocation failed");
        munmap(m, 8192);
        free(p); free(q); free(r);
        loops++;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("ok: the handler allocated while the main thread was in the hooks\n");
    return 0;
}
