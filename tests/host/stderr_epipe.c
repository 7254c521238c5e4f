/* stderr_epipe: the program's stderr is a pipe whose reader has gone (a log collector that
 * died), and the program never writes to it, so SIGPIPE keeps its default action. A shim
 * that writes a line there uninvited kills the host with SIGPIPE. */
#include <pthread.h>
#include "host.h"

int main(void)
{
    int p[2];
    HOST_CHECK(pipe(p) == 0, "pipe");
    HOST_CHECK(dup2(p[1], 2) == 2, "dup2");
    close(p[1]);
    close(p[0]);                         /* no reader: a write to fd 2 raises SIGPIPE */
    for (int round = 0; round < 4; round++) {
        host_trim_bait_round(round);
        host_sleep_ms(100);
    }
    printf("ok: still alive\n");
    return 0;
}
