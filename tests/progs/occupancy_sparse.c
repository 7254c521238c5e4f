/* occupancy_sparse.c: one thread (or main) fills its arena with TOTAL bytes of ~4 KiB blocks
 * and a small block every STRIDE bytes, frees all but the small ones, and the program dumps.
 * It prints its own count of the pages the survivors sit on and of the pages they span. */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sesstrim.h"

#define FILLER_SIZE 4000
#define SURVIVOR_SIZE 64
#define PAGE 4096ul

static long total = 64l << 20, stride = 64l << 10;
static void **fillers, **survivors;
static long nfillers, nsurvivors;

static __attribute__((noinline)) void *filler_block(void)
{
    void *p = malloc(FILLER_SIZE);
    if (p) memset(p, 0x5a, FILLER_SIZE);   /* every page resident */
    return p;
}

static __attribute__((noinline)) void *survivor_block(void)
{
    void *p = malloc(SURVIVOR_SIZE);
    if (p) memset(p, 0x11, SURVIVOR_SIZE);
    return p;
}

static int cmp_addr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

static void *work(void *arg)
{
    (void)arg;
    long per_stride = stride / (FILLER_SIZE + 16);
    for (long made = 0; made < total;) {
        survivors[nsurvivors++] = survivor_block();
        for (long k = 1; k < per_stride && made < total; k++) {
            fillers[nfillers++] = filler_block();
            made += FILLER_SIZE;
        }
        made += SURVIVOR_SIZE;
    }
    for (long i = 0; i < nfillers; i++) free(fillers[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: occupancy_sparse DUMP [TOTAL_BYTES STRIDE_BYTES [thread|main]]\n");
        return 1;
    }
    if (argc > 3) { total = atol(argv[2]); stride = atol(argv[3]); }
    /* Pointer arrays outside the arena under test: mmapped by glibc (large), from main. */
    long max_blocks = total / FILLER_SIZE + 16;
    fillers = malloc((size_t)max_blocks * sizeof *fillers);
    survivors = malloc((size_t)max_blocks * sizeof *survivors);
    /* Allocated before the blocks so it cannot land among them in the main arena. */
    uintptr_t *pages = malloc((size_t)max_blocks * 2 * sizeof *pages);
    if (!fillers || !survivors || !pages) return 1;
    if (argc > 4 && !strcmp(argv[4], "main")) {
        work(NULL);                    /* main arena: the brk heap */
    } else {
        pthread_t th;
        pthread_create(&th, NULL, work, NULL);
        pthread_join(th, NULL);
    }

    /* The pages each survivor's chunk covers: [p - 16, p - 16 + chunk), chunk = usable + 8. */
    long npages = 0;
    uintptr_t lowest = UINTPTR_MAX, highest = 0;
    long chunk_bytes = 0;
    for (long i = 0; i < nsurvivors; i++) {
        uintptr_t start = (uintptr_t)survivors[i] - 16;
        uintptr_t end = start + malloc_usable_size(survivors[i]) + 8;
        chunk_bytes += (long)(end - start);
        for (uintptr_t pg = start / PAGE; pg <= (end - 1) / PAGE; pg++) pages[npages++] = pg;
        if (start < lowest) lowest = start;
        if (end > highest) highest = end;
    }
    qsort(pages, (size_t)npages, sizeof *pages, cmp_addr);
    long distinct = 0;
    for (long i = 0; i < npages; i++) distinct += i == 0 || pages[i] != pages[i - 1];
    long span = (long)((highest - 1) / PAGE - lowest / PAGE + 1);
    int rc = sesstrim_dump(argv[1]);
    printf("survivors=%ld survivor_size=%d survivor_chunk_bytes=%ld sparse_pages=%ld span_pages=%ld dump=%d\n",
           nsurvivors, SURVIVOR_SIZE, chunk_bytes, distinct, span, rc);
    return rc != 0;
}
