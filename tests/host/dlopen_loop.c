/* dlopen_loop: libraries loaded and unloaded in a loop from several threads (plugins). The
 * loader allocates, runs constructors, and unmaps code the shim's stack sampler or site
 * table may have seen. */
#include <dlfcn.h>
#include <pthread.h>
#include "host.h"

static const char *libs[] = {"libresolv.so.2", "libanl.so.1", "libutil.so.1", "libnss_files.so.2"};

static void *loader(void *arg)
{
    int base = (int)(uintptr_t)arg;
    long opened = 0;
    for (int i = 0; i < 150; i++) {
        void *h = dlopen(libs[(base + i) % 4], RTLD_NOW | RTLD_LOCAL);
        if (!h) return (void *)-1;
        opened++;
        host_churn(50, (unsigned)i);
        if (dlclose(h) != 0) return (void *)-2;
    }
    return (void *)opened;
}

int main(void)
{
    pthread_t th[3];
    for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, loader, (void *)(uintptr_t)i);
    long total = 0;
    for (int i = 0; i < 3; i++) {
        void *r;
        pthread_join(th[i], &r);
        HOST_CHECK((long)r > 0, "loader %d failed: %s", i, dlerror());
        total += (long)r;
    }
    printf("ok: %ld dlopen/dlclose pairs\n", total);
    return 0;
}
