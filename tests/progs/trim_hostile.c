/* trim_hostile.c: memory a dump or a trim must not read. `protnone DIR` maps a PROT_NONE
 * reservation on a 64 MiB boundary (JIT runtimes and GC heaps make these; glibc's thread
 * heaps sit on the same boundaries) and writes a dump. `corrupt` frees a chunk into a
 * thread arena's unsorted bin, overwrites its bk link with an unmapped address (a
 * use-after-free in the host), then lets the free-resident measurement and an API trim
 * walk that bin. Both print "survived" and exit 0 unless the shim faulted. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "sesstrim.h"

#define HEAP_ALIGN (64ul << 20)

static void say(const char *s) { if (write(1, s, strlen(s)) < 0) _exit(5); }

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A PROT_NONE reservation starting exactly on a 64 MiB boundary. */
static void *aligned_reservation(void)
{
    size_t len = 3 * HEAP_ALIGN;
    char *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return NULL;
    uintptr_t a = ((uintptr_t)p + HEAP_ALIGN - 1) & ~(HEAP_ALIGN - 1);
    /* Keep [a, a + 64 MiB) and give the rest back, so the mapping starts on the boundary. */
    if (a > (uintptr_t)p) munmap(p, a - (uintptr_t)p);
    uintptr_t end = (uintptr_t)p + len;
    if (end > a + HEAP_ALIGN) munmap((void *)(a + HEAP_ALIGN), end - (a + HEAP_ALIGN));
    return (void *)a;
}

struct victim { char *keep, *freed, *guard; };

/* On a thread of its own, so the chunk is in a thread arena: A, a guard after it so A does
 * not merge into top, then free A: above tcache sizes it lands in the unsorted bin. */
static void *make_victim(void *arg)
{
    struct victim *v = arg;
    v->keep = malloc(200);             /* the chunk before A stays in use: no merging back */
    v->freed = malloc(64 << 10);
    v->guard = malloc(200);
    memset(v->freed, 7, 64 << 10);
    free(v->freed);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: trim_hostile protnone|corrupt DIR\n"); return 64; }
    if (!sesstrim_active()) { fprintf(stderr, "trim_hostile: the shim is not preloaded\n"); return 77; }
    char path[1024];
    snprintf(path, sizeof path, "%s/hostile.dump", argv[2]);
    if (!strcmp(argv[1], "protnone")) {
        void *r = aligned_reservation();
        if (!r) { perror("mmap"); return 2; }
        printf("reservation %p\n", r);
        fflush(stdout);
        if (sesstrim_dump(path) != 0) { fprintf(stderr, "dump failed\n"); return 3; }
        say("survived\n");
        return 0;
    }
    if (!strcmp(argv[1], "corrupt")) {
        struct victim v;
        pthread_t th;
        pthread_create(&th, NULL, make_victim, &v);
        pthread_join(th, NULL);
        /* From here on no malloc or free: glibc itself would abort on the broken list. The
         * freed chunk's bk is the second word of its user memory. */
        ((uintptr_t *)v.freed)[1] = (uintptr_t)0x1000;
        say("corrupted\n");
        sleep_ms(400);                  /* free-resident>1K is measured every tick */
        sesstrim_trim();
        say("survived\n");
        _exit(0);                       /* exit handlers would free into the broken arena */
    }
    fprintf(stderr, "trim_hostile: unknown mode %s\n", argv[1]);
    return 64;
}
