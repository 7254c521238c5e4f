/* stacks_dlopen.c: libraries come and go during a run. Loads LIB_A, keeps COUNT_A blocks it
 * allocated, unloads it, loads LIB_B (same code, other names: mapped where LIB_A was), keeps
 * COUNT_B blocks from it, dumps with LIB_B still loaded. Prints both load addresses: the
 * test needs them equal. Before the first load and after the second, the program itself
 * keeps 7 blocks of 777 bytes from one call path: one stack over the whole run.
 * Usage: stacks_dlopen DUMP LIB_A LIB_B COUNT_A SIZE_A COUNT_B SIZE_B */
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include "sesstrim.h"

typedef int (*fill_fn)(void **out, int count, size_t size);

static void *kept_a[100000], *kept_b[100000], *kept_main[14];

static __attribute__((noinline)) void keep_main(void **out)
{
    for (int i = 0; i < 7; i++) out[i] = malloc(777);
}

static int load_fill(const char *lib, const char *sym, void **out, int count, size_t size, uintptr_t *base,
                     int unload)
{
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) { fprintf(stderr, "dlopen %s: %s\n", lib, dlerror()); return -1; }
    fill_fn fill = (fill_fn)dlsym(h, sym);
    struct link_map *lm = NULL;
    if (!fill || dlinfo(h, RTLD_DI_LINKMAP, &lm) != 0) { fprintf(stderr, "%s: no %s\n", lib, sym); return -1; }
    *base = lm->l_addr;
    int rc = fill(out, count, size);
    if (unload) dlclose(h);   /* the blocks stay live; the code that allocated them is gone */
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 8) {
        fprintf(stderr, "usage: stacks_dlopen DUMP LIB_A LIB_B COUNT_A SIZE_A COUNT_B SIZE_B\n");
        return 1;
    }
    int count_a = atoi(argv[4]), count_b = atoi(argv[6]);
    size_t size_a = (size_t)atol(argv[5]), size_b = (size_t)atol(argv[7]);
    if (count_a > 100000 || count_b > 100000) return 1;
    uintptr_t base_a = 0, base_b = 0;
    for (int round = 0; round < 2; round++) {
        keep_main(kept_main + 7 * round);   /* one call site: the same stack both times */
        if (round > 0) continue;
        if (load_fill(argv[2], "plug_a_fill", kept_a, count_a, size_a, &base_a, 1) != 0) return 2;
        if (load_fill(argv[3], "plug_b_fill", kept_b, count_b, size_b, &base_b, 0) != 0) return 2;
    }
    int rc = sesstrim_dump(argv[1]);
    printf("base_a=%#lx base_b=%#lx dump=%d\n", (unsigned long)base_a, (unsigned long)base_b, rc);
    return rc != 0;
}
