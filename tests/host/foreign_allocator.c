/* foreign_allocator: run by the runner with jemalloc, tcmalloc or glibc's
 * libc_malloc_debug.so (MALLOC_CHECK_=3) listed in LD_PRELOAD before or after the shim. The
 * program only allocates; its output never changes. What the runner checks beyond the usual
 * comparison: when the shim does not see the program's allocations, or glibc's malloc
 * debugging is active, the shim says so in one line (stderr, or SESSTRIM_LOG). */
#include <pthread.h>
#include "host.h"

static void *worker(void *arg)
{
    host_churn(5000, (unsigned)(uintptr_t)arg);
    return NULL;
}

int main(void)
{
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    char *s = strdup("allocated and freed");
    printf("ok: %s\n", s);
    free(s);
    return 0;
}
