/* spawn.c: the per-process cost of the shim. Runs a command ROUNDS x N times under each of
 * K environments, interleaved process by process (A B A B ...: machine noise hits every
 * configuration alike), and prints, per configuration and round, the summed wall time and
 * the summed CPU time of the child and every descendant it waited for (wait4's rusage).
 *
 * Usage: spawn ROUNDS N [-e 'VAR=VAL VAR2=VAL2' | -e -]... -- command [args...]
 *   Each -e names one configuration: LD_PRELOAD is removed from the environment, then the
 *   listed assignments are added ("-": none, plain glibc).
 * Output, one line per configuration and round: CONFIG_INDEX ROUND WALL_S CPU_S
 * Exit status 1 on a usage error or a child that did not exit 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONFIGS 8

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void apply_env(char *spec)
{
    unsetenv("LD_PRELOAD");
    if (!strcmp(spec, "-")) return;
    for (char *tok = strtok(spec, " "); tok; tok = strtok(NULL, " ")) putenv(tok);
}

int main(int argc, char **argv)
{
    if (argc < 5) goto usage;
    int rounds = atoi(argv[1]), n = atoi(argv[2]), k = 0, i = 3;
    char *env[MAX_CONFIGS];
    for (; i < argc && strcmp(argv[i], "--"); i += 2) {
        if (strcmp(argv[i], "-e") || i + 1 >= argc || k == MAX_CONFIGS) goto usage;
        env[k++] = argv[i + 1];
    }
    if (i + 1 >= argc || !k || rounds < 1 || n < 1) goto usage;
    char **cmd = argv + i + 1;
    static double wall[MAX_CONFIGS], cpu[MAX_CONFIGS];
    int bad = 0;
    for (int r = 0; r < rounds; r++) {
        memset(wall, 0, sizeof wall);
        memset(cpu, 0, sizeof cpu);
        for (int j = 0; j < n; j++) {
            for (int c = 0; c < k; c++) {
                double t0 = now_s();
                pid_t pid = fork();
                if (pid < 0) { perror("fork"); return 1; }
                if (pid == 0) {
                    char *spec = strdup(env[c]);
                    apply_env(spec);
                    execvp(cmd[0], cmd);
                    _exit(127);
                }
                int st;
                struct rusage ru;
                if (wait4(pid, &st, 0, &ru) < 0) { perror("wait4"); return 1; }
                wall[c] += now_s() - t0;
                cpu[c] += (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                          (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
                if (!WIFEXITED(st) || WEXITSTATUS(st)) bad = 1;
            }
        }
        for (int c = 0; c < k; c++) printf("%d %d %.6f %.6f\n", c, r, wall[c], cpu[c]);
        fflush(stdout);
    }
    if (bad) fprintf(stderr, "spawn: a child did not exit 0\n");
    return bad;
usage:
    fprintf(stderr, "usage: spawn ROUNDS N [-e 'VAR=VAL ...' | -e -]... -- command [args...]\n");
    return 1;
}
