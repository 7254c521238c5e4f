/* heap_churn: threads grow their glibc arenas by several 64 MiB heaps and free them again,
 * round after round, so glibc keeps reserving 64 MiB-aligned PROT_NONE regions (new_heap),
 * committing them, and shrinking or unmapping them (heap_trim) while the shim's dumps,
 * timeline samples and trims look at the same mappings. Anything the shim reads there must
 * be read without faulting: a heap seen in /proc/self/maps may be gone or PROT_NONE a
 * moment later. mallopt raises the mmap threshold (as databases do) so 2 MiB blocks come
 * from the arenas rather than their own mmaps. */
#include <malloc.h>
#include "host.h"

#define BLOCK (2u << 20)
#define BLOCKS 48                        /* 96 MiB per thread and round: two-plus heaps */

static void *grower(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    void *b[BLOCKS];
    for (int round = 0; round < 6; round++) {
        for (int i = 0; i < BLOCKS; i++) {
            b[i] = malloc(BLOCK - 64 * (seed % 8));
            HOST_CHECK(b[i] != NULL, "malloc");
            *(volatile char *)b[i] = 1;  /* one page resident: the reservation is what counts */
        }
        for (int i = BLOCKS - 1; i >= 0; i--) free(b[i]);
        host_churn(300, seed++);
        host_sleep_ms(5);
    }
    return NULL;
}

int main(void)
{
    HOST_CHECK(mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1, "mallopt");
    /* Waves for at least 1.5 s, so several periodic dumps meet the churn. */
    uint64_t until = host_realtime_ns() + 1500000000ull;
    for (int wave = 0; wave < 4 || host_realtime_ns() < until; wave++) {
        pthread_t th[3];
        for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, grower, (void *)(uintptr_t)(wave * 3 + i + 1));
        for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    }
    printf("ok: threads grew and shrank their arenas in waves\n");
    return 0;
}
