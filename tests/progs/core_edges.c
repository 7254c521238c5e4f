/* core_edges.c: the malloc family's edge cases; prints what each returned so a test can
 * compare a run under the shim with a plain one, line by line. */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *volatile published;

#define SHOW(what, expr) do { errno = 0; void *p_ = (expr); published = p_; \
    printf("%-34s %s errno=%d\n", what, p_ ? "ptr" : "NULL", p_ ? 0 : errno); } while (0)

/* Sizes the compiler cannot see, so it cannot reject the calls at build time. */
volatile size_t huge = SIZE_MAX, half = SIZE_MAX / 2;

int main(void)
{
    void *p = malloc(0);
    printf("%-34s %s usable>=0 %d\n", "malloc(0)", p ? "ptr" : "NULL", malloc_usable_size(p) < 64);
    p = realloc(p, 0);                       /* glibc frees and returns NULL */
    printf("%-34s %s\n", "realloc(p, 0)", p ? "ptr" : "NULL");
    free(p);
    free(NULL);
    SHOW("calloc overflow", calloc(half, 4));
    SHOW("malloc(SIZE_MAX)", malloc(huge));
    SHOW("reallocarray overflow", reallocarray(NULL, half, 4));
    void *volatile q = malloc(100);
    SHOW("realloc huge keeps the block", realloc(q, huge - 4096));
    memset(q, 1, 100);                       /* still ours after the failed realloc */
    free(q);
    void *r = NULL;
    printf("%-34s rc=%d\n", "posix_memalign(3)", posix_memalign(&r, 3, 10));
    printf("%-34s rc=%d\n", "posix_memalign(0)", posix_memalign(&r, 0, 10));
    int rc = posix_memalign(&r, 64, 0);
    printf("%-34s rc=%d\n", "posix_memalign(64, 0)", rc);
    if (!rc) free(r);
    SHOW("aligned_alloc(3, 10)", aligned_alloc(3, 10));
    SHOW("memalign(1 << 20, 10)", memalign(1 << 20, 10));
    free(published);
    printf("%-34s %zu\n", "malloc_usable_size(NULL)", malloc_usable_size(NULL));
    return 0;
}
