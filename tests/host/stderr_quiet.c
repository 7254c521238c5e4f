/* stderr_quiet: a program that checks its own stderr (test suites do). It writes known lines
 * to stderr and leaves memory for trims and idle time for them to fire; by default the shim
 * must add nothing to stderr (the runner compares it byte for byte with the plain run in
 * every configuration that leaves SESSTRIM_LOG unset). */
#include <pthread.h>
#include "host.h"

int main(void)
{
    for (int round = 0; round < 4; round++) {
        fprintf(stderr, "program line %d\n", round);
        host_trim_bait_round(round);
        host_sleep_ms(100);              /* idle: idle and periodic trims fire */
    }
    fprintf(stderr, "program done\n");
    printf("ok\n");
    return 0;
}
