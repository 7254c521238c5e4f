/* core_idle.c: allocates BYTES in 1 KiB blocks, prints "ready", then idles until the file
 * STOP exists (or 20 s pass) so a test can signal it or let periodic work happen. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: core_idle BYTES STOPFILE\n"); return 1; }
    long bytes = atol(argv[1]);
    for (long done = 0; done < bytes; done += 1024) {
        char *p = malloc(1024);
        memset(p, 7, 1024);
    }
    printf("ready\n");
    fflush(stdout);
    for (int i = 0; i < 2000 && access(argv[2], F_OK) != 0; i++) usleep(10000);
    return 0;
}
