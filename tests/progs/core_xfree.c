/* core_xfree.c: a producer thread allocates M blocks of S bytes, a consumer thread frees
 * them all (cross-thread frees), then the process dumps. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include "sesstrim.h"

static int count = 5000, size = 700;
static void **blocks;
static pthread_barrier_t handed;

static void *producer(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "producer");
    for (int i = 0; i < count; i++) blocks[i] = malloc((size_t)size);
    pthread_barrier_wait(&handed);
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "consumer");
    pthread_barrier_wait(&handed);
    for (int i = 0; i < count; i++) free(blocks[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) return 1;
    if (argc > 2) count = atoi(argv[2]);
    if (argc > 3) size = atoi(argv[3]);
    blocks = calloc((size_t)count, sizeof *blocks);
    pthread_barrier_init(&handed, NULL, 2);
    pthread_t p, c;
    pthread_create(&p, NULL, producer, NULL);
    pthread_create(&c, NULL, consumer, NULL);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    return sesstrim_dump(argv[1]) != 0;
}
