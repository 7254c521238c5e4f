/* core_kinds.c: one allocation of every kind (memalign family, calloc, realloc, reallocarray,
 * an mmapped chunk) and the program's own mmaps, with a dump before and after each phase. */
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "sesstrim.h"

/* Published so the compiler cannot elide an allocation it sees only freed. */
void *volatile published[16];

int main(int argc, char **argv)
{
    if (argc < 5) { fprintf(stderr, "usage: core_kinds DUMP0 DUMP1 DUMP2 FILE\n"); return 1; }
    printf("start\n");
    fflush(stdout);
    if (sesstrim_dump(argv[1]) != 0 && sesstrim_active()) return 2;
    size_t expected = 0;
    void *a = memalign(64, 100);             expected += 100;
    void *b = NULL;
    if (posix_memalign(&b, 256, 300)) return 3;
    expected += 300;
    void *c = aligned_alloc(128, 512);       expected += 512;
    void *d = valloc(1000);                  expected += 1000;
    void *e = pvalloc(5000);                 expected += 5000;
    void *f = calloc(10, 70);                expected += 700;
    void *g = malloc(100);
    g = realloc(g, 4000);                    expected += 4000;  /* realloc'd size counts */
    void *h = reallocarray(NULL, 30, 10);    expected += 300;
    void *big = malloc(3 << 20);             expected += 3 << 20; /* above the mmap threshold */
    memset(big, 1, 3 << 20);
    void *all[] = {a, b, c, d, e, f, g, h, big};
    for (unsigned i = 0; i < sizeof all / sizeof all[0]; i++) published[i] = all[i];
    if (((uintptr_t)a & 63) || ((uintptr_t)b & 255) || ((uintptr_t)c & 127) || ((uintptr_t)d & 4095)) return 4;
    /* the program's own mappings: 3 MiB anonymous, 2 pages of a file */
    size_t anon_len = 3 << 20;
    char *anon = mmap(NULL, anon_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int fd = open(argv[4], O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, 8192) != 0) return 5;
    char *file = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (anon == MAP_FAILED || file == MAP_FAILED) return 6;
    memset(anon, 2, anon_len);
    if (sesstrim_dump(argv[2]) != 0 && sesstrim_active()) return 7;
    /* frees, and a partial munmap: 1 MiB off the anonymous map, the file unmapped */
    free(a); free(b); free(c); free(d); free(e); free(f); free(g); free(h); free(big);
    munmap(anon + (2 << 20), 1 << 20);
    munmap(file, 8192);
    close(fd);
    if (sesstrim_dump(argv[3]) != 0 && sesstrim_active()) return 8;
    printf("expected_live=%zu mmapped=%d anon=%zu file=%d anon_after=%zu\n", expected, 3 << 20, anon_len, 8192,
           anon_len - (1 << 20));
    return 0;
}
