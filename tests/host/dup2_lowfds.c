/* dup2_lowfds: the program dup2()s its own files over low fds (2 and 3..15), replacing
 * whatever the shim may have held there, and keeps writing through them while threads
 * allocate. Each fd's file must hold only the program's bytes (the runner compares). */
#include <pthread.h>
#include "host.h"

int main(void)
{
    int a = open("low-a.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int b = open("low-b.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    HOST_CHECK(a >= 0 && b >= 0, "open");
    /* Park the originals above the range so the set of fds written never depends on which
     * numbers open() returned. */
    int moved_a = fcntl(a, F_DUPFD, 100), moved_b = fcntl(b, F_DUPFD, 100);
    close(a); close(b);
    for (int fd = 2; fd < 16; fd++) {
        HOST_CHECK(dup2(fd % 2 ? moved_a : moved_b, fd) == fd, "dup2 %d", fd);
    }
    for (int round = 0; round < 5; round++) {
        host_trim_bait_round(round);
        for (int fd = 2; fd < 16; fd++) {
                char line[32];
            int n = snprintf(line, sizeof line, "fd %d round %d\n", fd, round);
            host_write_all(fd, line, (size_t)n, "low fd");
        }
        host_sleep_ms(60);
    }
    printf("ok\n");
    return 0;
}
