/* fd_exhaustion: the program lowers RLIMIT_NOFILE and opens files until EMFILE, then keeps
 * allocating with no fd left (the shim's dumps, timeline samples and /proc reads fail
 * then: they must fail quietly). The number of fds it got must be the plain number: a shim
 * that holds fds between uses takes them from the program. A shim thread reading /proc or
 * writing a dump holds one for microseconds, which a program racing it can see once; so the
 * count is taken three times, 17 ms apart, and the largest kept: a held fd shows in all.
 * It holds every fd past the age (1 s) at which the shim opens its control socket. */
#include <sys/resource.h>
#include "host.h"

int main(void)
{
    struct rlimit rl = {48, 48};
    HOST_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit: %s", strerror(errno));
    int fds[64], n = 0, best = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        while (n > 0) close(fds[--n]);
        while (n < 64) {
            int fd = open("/dev/null", O_RDONLY);
            if (fd < 0) { HOST_CHECK(errno == EMFILE, "open: %s", strerror(errno)); break; }
            fds[n++] = fd;
        }
        if (n > best) best = n;
        host_sleep_ms(17);            /* not all three inside one dump (every 50 ms in b) */
    }
    printf("opened %d fds before EMFILE\n", best);
    fflush(stdout);
    for (int round = 0; round < 4; round++) {
        host_trim_bait_round(round);     /* threads still start: no fd needed */
        host_sleep_ms(60);
    }
    /* Still out of fds past 1 s of age, when the shim opens its control socket: that
     * attempt must fail quietly (no line on stderr) and be retried later. */
    host_sleep_ms(1100);
    while (n > 0) close(fds[--n]);
    int fd = open("/dev/null", O_RDONLY);
    printf("after closing them the next open returns %d\n", fd);
    return 0;
}
