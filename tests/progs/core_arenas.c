/* core_arenas.c: N named threads, alive at the same time, each keeping K blocks of S bytes
 * live; dumps while they are alive (arena per thread) and after they exited. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sesstrim.h"

static int nthreads = 4, blocks = 2000, size = 1000, big = 0;
static pthread_barrier_t allocated, dumped;
static void ***kept;

static void *worker(void *arg)
{
    long i = (long)arg;
    char name[16];
    snprintf(name, sizeof name, "worker-%ld", i);
    pthread_setname_np(pthread_self(), name);
    kept[i] = malloc(sizeof(void *) * (size_t)(blocks + big));
    for (int k = 0; k < blocks; k++) {
        kept[i][k] = malloc((size_t)size);
        memset(kept[i][k], (int)i, (size_t)size);
    }
    for (int k = 0; k < big; k++) kept[i][blocks + k] = malloc(1 << 20);  /* mmapped chunks */
    pthread_barrier_wait(&allocated);
    pthread_barrier_wait(&dumped);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: core_arenas DUMP_ALIVE DUMP_AFTER [threads blocks size big]\n"); return 1; }
    if (argc > 3) nthreads = atoi(argv[3]);
    if (argc > 4) blocks = atoi(argv[4]);
    if (argc > 5) size = atoi(argv[5]);
    if (argc > 6) big = atoi(argv[6]);
    kept = calloc((size_t)nthreads, sizeof *kept);
    pthread_barrier_init(&allocated, NULL, (unsigned)nthreads + 1);
    pthread_barrier_init(&dumped, NULL, (unsigned)nthreads + 1);
    pthread_t th[256];
    for (long i = 0; i < nthreads; i++) pthread_create(&th[i], NULL, worker, (void *)i);
    pthread_barrier_wait(&allocated);
    int rc1 = sesstrim_dump(argv[1]);
    pthread_barrier_wait(&dumped);
    for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
    int rc2 = sesstrim_dump(argv[2]);
    printf("threads=%d blocks=%d size=%d big=%d dump=%d,%d\n", nthreads, blocks, size, big, rc1, rc2);
    return rc1 || rc2;
}
