/* stacks_paths.c: two distinct call paths keep known numbers of blocks live (path A with
 * malloc, path B with calloc), then the program dumps: the sites must match them exactly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sesstrim.h"

static void **kept_a, **kept_b;

static __attribute__((noinline)) void build_path_a(long count, size_t size)
{
    for (long i = 0; i < count; i++) {
        kept_a[i] = malloc(size);
        memset(kept_a[i], 0xa, size);
    }
}

static __attribute__((noinline)) void build_path_b(long count, size_t size)
{
    for (long i = 0; i < count; i++) {
        kept_b[i] = calloc(1, size);
        ((char *)kept_b[i])[0] = 0xb;
    }
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: stacks_paths DUMP COUNT_A SIZE_A COUNT_B SIZE_B\n");
        return 1;
    }
    long count_a = atol(argv[2]), count_b = atol(argv[4]);
    size_t size_a = (size_t)atol(argv[3]), size_b = (size_t)atol(argv[5]);
    /* Static pointer arrays: no allocation but the two paths' own. */
    static void *slots_a[100000], *slots_b[100000];
    if (count_a > 100000 || count_b > 100000) return 1;
    kept_a = slots_a;
    kept_b = slots_b;
    build_path_a(count_a, size_a);
    build_path_b(count_b, size_b);
    int rc = sesstrim_dump(argv[1]);
    printf("a=%ld x %zu b=%ld x %zu dump=%d\n", count_a, size_a, count_b, size_b, rc);
    return rc != 0;
}
