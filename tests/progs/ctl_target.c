/* ctl_target: a small server-like program for the control socket tests. It allocates and
 * frees in a loop (so the shim's lazy start points are reached), holds ~8 MiB live in two
 * sessions, and prints one numbered, checksummed line per iteration so a test can check its
 * output is intact; the time each iteration took (us) is on the line for bench figures.
 * usage: ctl_target SECONDS STOPFILE [THREADS [fork]]  (ends at SECONDS or when STOPFILE exists)
 * Each time STOPFILE.close appears it is removed and every fd from 3 up is closed
 * (close_range), as daemons do: the shim must notice its control socket is gone. With
 * "fork", a child is forked after "ready" and runs the same loop ("child PID" printed). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "sesstrim.h"

static const char *stop;
void *volatile sink;   /* allocations escape: the compiler may not elide malloc/free pairs */
static double secs;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static void *worker(void *arg)
{
    /* A thread arena with a freed top: something for trims to give back. */
    char *blocks[64];
    for (int i = 0; i < 64; i++) { blocks[i] = malloc(64 << 10); memset(blocks[i], 1, 64 << 10); }
    for (int i = 0; i < 64; i++) free(blocks[i]);
    while (access(stop, F_OK) != 0) { sink = malloc(4096); free(sink); usleep(20000); }
    (void)arg;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) return 2;
    secs = atof(argv[1]);
    stop = argv[2];
    int nthreads = argc > 3 ? atoi(argv[3]) : 2;
    sesstrim_session_t a = sesstrim_session_begin("client-a");
    void *keep_a = malloc(6 << 20); memset(keep_a, 2, 6 << 20);
    sesstrim_session_end(a);
    sesstrim_session_t b = sesstrim_session_begin("client-b");
    void *keep_b = malloc(2 << 20); memset(keep_b, 3, 2 << 20);
    pthread_t th[16];
    if (nthreads > 16) nthreads = 16;
    for (int i = 0; i < nthreads; i++) pthread_create(&th[i], NULL, worker, NULL);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    pid_t child = -1;
    if (argc > 4 && !strcmp(argv[4], "fork")) {
        child = fork();
        if (child == 0) { printf("child %d\n", (int)getpid()); fflush(stdout); }
    }
    char closefile[4096];
    snprintf(closefile, sizeof closefile, "%s.close", stop);
    double t0 = now();
    uint64_t sum = 0;
    for (long it = 0; now() - t0 < secs && access(stop, F_OK) != 0; it++) {
        double s = now();
        /* ~1 MiB of churn per iteration: the shim's sampled-stack point is reached often. */
        for (int k = 0; k < 64; k++) { char *p = malloc(16384); p[0] = (char)k; sink = p; sum += (unsigned char)((char *)sink)[0]; free(sink); }
        double us = (now() - s) * 1e6;
        printf("iter %ld sum %llu us %.0f\n", it, (unsigned long long)sum, us);
        fflush(stdout);
        if (child != 0 && access(closefile, F_OK) == 0) {
            unlink(closefile);
            syscall(SYS_close_range, 3u, ~0u, 0u);
            printf("closed fds\n");
            fflush(stdout);
        }
        usleep(10000);
    }
    if (child == 0) _exit(0);      /* the child: its threads were the parent's */
    if (child > 0) waitpid(child, NULL, 0);
    FILE *f = fopen(stop, "a"); if (f) fclose(f);
    for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
    sesstrim_session_end(b);
    free(keep_a); free(keep_b);
    printf("done\n");
    return 0;
}
