/* churn.c: the multi-threaded malloc/free churn used to measure the shim's overhead:
 * T threads x N malloc/free pairs, sizes 16..4096 B, S live slots per thread. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "sesstrim.h"

static long pairs = 2000000, slots = 10000;
static int threads = 2, use_session = 0;

static void *worker(void *arg)
{
    uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(uintptr_t)arg + 1;
    void **slot = calloc((size_t)slots, sizeof *slot);
    sesstrim_session_t s = use_session ? sesstrim_session_begin("churn") : 0;
    for (long i = 0; i < pairs; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        long k = (long)(x % (uint64_t)slots);
        size_t size = 16 + (size_t)((x >> 32) % 4081);
        free(slot[k]);
        slot[k] = malloc(size);
        if (!slot[k]) abort();
        *(volatile char *)slot[k] = 1;
    }
    for (long k = 0; k < slots; k++) free(slot[k]);
    if (use_session) sesstrim_session_end(s);
    free(slot);
    return NULL;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--pairs") && i + 1 < argc) pairs = atol(argv[++i]);
        else if (!strcmp(argv[i], "--slots") && i + 1 < argc) slots = atol(argv[++i]);
        else if (!strcmp(argv[i], "--session")) use_session = 1;
        else { fprintf(stderr, "usage: churn [--threads T] [--pairs N] [--slots S] [--session]\n"); return 1; }
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pthread_t th[256];
    if (threads < 1 || threads > 256) threads = 2;
    for (int t = 0; t < threads; t++) pthread_create(&th[t], NULL, worker, (void *)(uintptr_t)(t + 1));
    for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    /* wall seconds, then CPU seconds: CPU time is the steadier figure on a shared machine */
    printf("%.3f %.3f\n", (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9, cpu);
    return 0;
}
