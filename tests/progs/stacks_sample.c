/* stacks_sample.c: allocates TOTAL bytes in blocks of BLOCK bytes from one call site,
 * freeing each at once, then dumps: the sampled site's totals estimate what was allocated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sesstrim.h"

static __attribute__((noinline)) void churn(long blocks, size_t block)
{
    for (long i = 0; i < blocks; i++) {
        char *p = malloc(block);
        if (!p) abort();
        p[0] = (char)i;
        *(volatile char *)&p[block - 1] = 1;
        free(p);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: stacks_sample DUMP TOTAL_BYTES BLOCK_BYTES\n");
        return 1;
    }
    long total = atol(argv[2]);
    size_t block = (size_t)atol(argv[3]);
    long blocks = total / (long)block;
    churn(blocks, block);
    int rc = sesstrim_dump(argv[1]);
    printf("blocks=%ld block=%zu dump=%d\n", blocks, block, rc);
    return rc != 0;
}
