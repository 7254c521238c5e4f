/* truth_layout.c: a program that knows its own memory layout, for the truth suite
 * (tests/scripts/test_truth.sh). It builds one layout, writes a dump with sesstrim_dump(),
 * then reads /proc/self/smaps_rollup and prints what it did and what the kernel says as
 * "key value" lines (bytes) on stdout.
 *
 * Usage: truth_layout SCENARIO DUMP [FILE-OR-LIB]
 *   files     maps FILE (>= 32 MiB) and reads every page; 16 MiB anonymous mmap, touched;
 *             20 MiB live heap in 64 KiB blocks
 *   fragment  4 threads, each allocates 8192 blocks of 4000 bytes and frees every other one
 *   main      one thread: 64 MiB in 4 KiB blocks, all freed but the last (free, not top)
 *   churn     200 short threads, each in a session, allocating and freeing
 *   fork      64 MiB shared anonymous mapping, touched; two forked children dump too
 *             (DUMP must contain %p); the parent waits for them
 *   dlopen    dlopen FILE-OR-LIB, call nothing, dlclose; 8 MiB live heap */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "sesstrim.h"

#define MiB (1024ul * 1024ul)

static void say(const char *key, unsigned long long v) { printf("%s %llu\n", key, v); }

/* smaps_rollup's "Rss:" etc. in bytes, and status's RssFile/RssShmem. */
static void kernel_view(void)
{
    static const char *keys[][2] = {{"/proc/self/smaps_rollup", "Rss:"}, {"/proc/self/smaps_rollup", "Anonymous:"},
                                    {"/proc/self/status", "RssFile:"}, {"/proc/self/status", "RssShmem:"},
                                    {"/proc/self/status", "RssAnon:"}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        FILE *f = fopen(keys[i][0], "r");
        char line[256];
        unsigned long long kb = 0;
        while (f && fgets(line, sizeof line, f))
            if (!strncmp(line, keys[i][1], strlen(keys[i][1]))) kb = strtoull(line + strlen(keys[i][1]), NULL, 10);
        if (f) fclose(f);
        char name[64];
        snprintf(name, sizeof name, "kernel_%.*s", (int)strlen(keys[i][1]) - 1, keys[i][1]);
        say(name, kb * 1024);
    }
}

static void touch(volatile char *p, size_t len)
{
    for (size_t i = 0; i < len; i += 4096) p[i] = 1;
}

static void *fragment_thread(void *arg)
{
    (void)arg;
    enum { N = 8192, SZ = 4000 };
    static __thread void *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(SZ);
        memset(blocks[i], 1, SZ);
    }
    for (int i = 0; i < N; i += 2) free(blocks[i]);
    return (void *)blocks; /* the odd ones stay live */
}

static void *churn_thread(void *arg)
{
    (void)arg;
    sesstrim_session_t s = sesstrim_session_begin("churn");
    void *p[64];
    for (int i = 0; i < 64; i++) p[i] = malloc(1000 + i * 10);
    for (int i = 0; i < 64; i++) free(p[i]);
    sesstrim_session_end(s);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: truth_layout SCENARIO DUMP [FILE-OR-LIB]\n");
        return 2;
    }
    const char *sc = argv[1], *dump = argv[2];
    if (!strcmp(sc, "files")) {
        int fd = argc > 3 ? open(argv[3], O_RDONLY) : -1;
        struct stat sb;
        if (fd < 0 || fstat(fd, &sb) != 0) { perror("open"); return 2; }
        volatile char *f = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (f == MAP_FAILED) { perror("mmap"); return 2; }
        unsigned sum = 0;
        for (off_t i = 0; i < sb.st_size; i += 4096) sum += (unsigned char)f[i];
        char *a = mmap(NULL, 16 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        touch(a, 16 * MiB);
        enum { NB = 320 };
        static void *heap[NB];
        for (int i = 0; i < NB; i++) { heap[i] = malloc(64 * 1024); memset(heap[i], 2, 64 * 1024); }
        say("file_mapped", (unsigned long long)sb.st_size);
        say("anon_mmap", 16 * MiB);
        say("live_heap", NB * 64 * 1024ull);
        say("checksum", sum);
    } else if (!strcmp(sc, "fragment")) {
        pthread_t t[4];
        for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, fragment_thread, NULL);
        for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
        say("threads", 4);
        say("freed", 4ull * 4096 * 4000);
        say("live_heap", 4ull * 4096 * 4000);
    } else if (!strcmp(sc, "main")) {
        size_t n = 64 * MiB / 4096;
        void **b = malloc(n * sizeof *b);
        for (size_t i = 0; i < n; i++) { b[i] = malloc(4096 - 16); memset(b[i], 3, 4096 - 16); }
        for (size_t i = 0; i + 1 < n; i++) free(b[i]);
        say("freed", (n - 1) * 4096ull);
    } else if (!strcmp(sc, "churn")) {
        for (int round = 0; round < 20; round++) {
            pthread_t t[10];
            for (int i = 0; i < 10; i++) pthread_create(&t[i], NULL, churn_thread, NULL);
            for (int i = 0; i < 10; i++) pthread_join(t[i], NULL);
        }
        say("threads", 200);
    } else if (!strcmp(sc, "fork")) {
        char *shared = mmap(NULL, 64 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        touch(shared, 64 * MiB);
        fflush(stdout);
        for (int c = 0; c < 2; c++) {
            pid_t pid = fork();
            if (pid == 0) {
                touch(shared, 64 * MiB); /* the children use the same pages */
                int rc = sesstrim_dump(dump);
                _exit(rc == 0 ? 0 : 3);
            }
            int st = 0;
            waitpid(pid, &st, 0);
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { fprintf(stderr, "child dump failed\n"); return 3; }
        }
        say("shared", 64 * MiB);
    } else if (!strcmp(sc, "dlopen")) {
        void *h = argc > 3 ? dlopen(argv[3], RTLD_NOW) : NULL;
        if (!h) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 2; }
        dlclose(h);
        void *p = malloc(8 * MiB);
        memset(p, 4, 8 * MiB);
        say("live_heap", 8 * MiB);
    } else {
        fprintf(stderr, "unknown scenario %s\n", sc);
        return 2;
    }
    if (sesstrim_dump(dump) != 0) { fprintf(stderr, "sesstrim_dump failed\n"); return 3; }
    kernel_view();
    say("pid", (unsigned long long)getpid());
    return 0;
}
