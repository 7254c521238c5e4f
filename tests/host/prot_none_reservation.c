/* prot_none_reservation: JIT runtimes and GC heaps reserve address space PROT_NONE. One that
 * starts on a 64 MiB boundary looks, by address, like a glibc heap: a dump or trim that
 * reads it without validating it first faults. The program makes such reservations (one
 * anonymous, one MAP_NORESERVE, one partly committed), then asks for a trim and a dump and
 * exits (exit dump); with SESSTRIM_DUMP_SIGNAL set it also sends itself that signal, and
 * periodic dumps run beside. */
#include <pthread.h>
#include <sys/mman.h>
#include <sesstrim.h>
#include "host.h"

#define MIB (1ul << 20)

static void *reserve_aligned(size_t size, int flags)
{
    size_t span = size + 64 * MIB;
    char *raw = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
    HOST_CHECK(raw != MAP_FAILED, "mmap reserve: %s", strerror(errno));
    char *start = (char *)(((uintptr_t)raw + 64 * MIB - 1) & ~(uintptr_t)(64 * MIB - 1));
    if (start > raw) munmap(raw, (size_t)(start - raw));
    char *end = start + size;
    if (raw + span > end) munmap(end, (size_t)(raw + span - end));
    return start;
}

static void *worker(void *arg)
{
    host_churn(10000, (unsigned)(uintptr_t)arg);
    return NULL;
}

int main(void)
{
    char *a = reserve_aligned(64 * MIB, 0);
    char *b = reserve_aligned(128 * MIB, MAP_NORESERVE);
    char *c = reserve_aligned(64 * MIB, 0);
    /* c: its first page stays PROT_NONE, a later page is committed and written. */
    HOST_CHECK(mprotect(c + 4 * MIB, MIB, PROT_READ | PROT_WRITE) == 0, "mprotect");
    memset(c + 4 * MIB, 7, MIB);
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    sesstrim_trim();
    const char *side = getenv("HOST_SIDE");
    char path[512];
    snprintf(path, sizeof path, "%s/api-dump.bin", side ? side : "/tmp");
    if (side) sesstrim_dump(path);       /* returns -1 without the shim: not printed */
    int sig = host_dump_signal();
    if (sig) raise(sig);                 /* a signal dump too, when the shim listens */
    host_sleep_ms(150);                  /* periodic dumps and timeline samples */
    printf("ok: reservations at 64 MiB boundaries: %d %d %d\n",
           ((uintptr_t)a & (64 * MIB - 1)) == 0, ((uintptr_t)b & (64 * MIB - 1)) == 0,
           ((uintptr_t)c & (64 * MIB - 1)) == 0);
    return 0;
}
