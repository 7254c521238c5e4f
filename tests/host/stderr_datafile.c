/* stderr_datafile: the program closes stderr and opens a data file, which gets fd 2. The
 * shim must not write log lines into it (it is no longer the stderr the shim was given).
 * The runner compares data.bin byte for byte with the plain run. */
#include <pthread.h>
#include "host.h"

int main(void)
{
    close(2);
    int fd = open("data.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
    HOST_CHECK(fd == 2, "data file got fd %d, not 2", fd);
    for (int round = 0; round < 5; round++) {
        host_trim_bait_round(round);
        unsigned char rec[32];
        for (unsigned i = 0; i < sizeof rec; i++) rec[i] = (unsigned char)(round * 31 + i);
        host_write_all(fd, rec, sizeof rec, "data.bin");
        host_sleep_ms(80);           /* idle: idle trims fire here */
    }
    printf("ok\n");
    return 0;
}
