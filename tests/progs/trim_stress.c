/* trim_stress.c: threads churning malloc/calloc/realloc/free with content verification
 * (and cross-thread frees) while trims run; exits 1 on the first corrupted byte. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sesstrim.h"

#define SLOTS 256
#define EXCHANGE 64

struct block { uint64_t *p; size_t size; uint64_t seed; };

static int n_threads = 4;
static double seconds = 3;
static int api_trim;                  /* a thread calling sesstrim_trim() back to back */
static long api_trim_gap_us = 300;
static int fork_churn;                /* a thread forking short-lived children meanwhile */
static atomic_long forks, fork_failures;
static atomic_int stop;
static atomic_long errors, ops, api_trims, api_trim_failures;
static struct block exchange[EXCHANGE]; /* blocks handed to whichever thread takes them */
static atomic_int exchange_lock[EXCHANGE];

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17;
    return *s;
}

static uint64_t word_at(uint64_t seed, size_t i) { return seed ^ (i * 0x9E3779B97F4A7C15ull); }

static void fill(struct block *b)
{
    size_t words = b->size / 8;
    for (size_t i = 0; i < words; i++) b->p[i] = word_at(b->seed, i);
}

static void fail(const char *what, const struct block *b, size_t i, uint64_t got)
{
    atomic_fetch_add(&errors, 1);
    fprintf(stderr, "CORRUPTION (%s): block %p size %zu word %zu: got %016llx want %016llx\n", what,
            (void *)b->p, b->size, i, (unsigned long long)got,
            (unsigned long long)word_at(b->seed, i));
    fflush(stderr);
    _exit(1);
}

/* Small blocks: every word. Large: head, tail and one word in every page, which is what
 * a wrongly released page would lose (it reads back as zeros). */
static void verify(const struct block *b, size_t upto_bytes, const char *what)
{
    size_t words = upto_bytes / 8;
    if (words <= 512) {
        for (size_t i = 0; i < words; i++)
            if (b->p[i] != word_at(b->seed, i)) fail(what, b, i, b->p[i]);
        return;
    }
    for (size_t i = 0; i < 64; i++)
        if (b->p[i] != word_at(b->seed, i)) fail(what, b, i, b->p[i]);
    for (size_t i = words - 64; i < words; i++)
        if (b->p[i] != word_at(b->seed, i)) fail(what, b, i, b->p[i]);
    for (size_t i = 64; i < words; i += 512 - 7)
        if (b->p[i] != word_at(b->seed, i)) fail(what, b, i, b->p[i]);
}

static size_t pick_size(uint64_t *s)
{
    uint64_t r = rnd(s) % 100;
    if (r < 60) return 16 + rnd(s) % 1024;            /* tcache and fastbin sizes */
    if (r < 90) return 1024 + rnd(s) % (64 << 10);    /* bins */
    return (64 << 10) + rnd(s) % (960 << 10);         /* grows tops, triggers heap_trim */
}

static void *churn(void *arg)
{
    uint64_t s = 0x1234567ull + (uint64_t)(uintptr_t)arg * 0x100000001b3ull;
    struct block slots[SLOTS];
    memset(slots, 0, sizeof slots);
    long local_ops = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        struct block *b = &slots[rnd(&s) % SLOTS];
        uint64_t op = rnd(&s) % 100;
        if (!b->p) {
            b->size = pick_size(&s) & ~(size_t)7;
            if (b->size < 8) b->size = 8;
            b->seed = rnd(&s);
            if (op < 30) {
                b->p = calloc(1, b->size);
                if (!b->p) continue;
                /* calloc may skip clearing memory it believes fresh: released pages
                 * must read back as zeros, so check. */
                for (size_t i = 0; i < b->size / 8; i += (b->size > 4096 ? 509 : 1))
                    if (b->p[i] != 0) {
                        fprintf(stderr, "CORRUPTION (calloc not zero): %p word %zu\n", (void *)b->p, i);
                        _exit(1);
                    }
            } else {
                b->p = malloc(b->size);
                if (!b->p) continue;
            }
            fill(b);
        } else if (op < 25) {
            size_t nsize = pick_size(&s) & ~(size_t)7;
            if (nsize < 8) nsize = 8;
            uint64_t *np = realloc(b->p, nsize);
            if (!np) continue;
            b->p = np;
            verify(b, nsize < b->size ? nsize : b->size, "realloc");
            b->size = nsize;
            fill(b);
        } else if (op < 35) {
            /* Hand it to another thread: it will be freed into this thread's arena from
             * there, like the decode pool's consumer. */
            unsigned k = (unsigned)(rnd(&s) % EXCHANGE);
            if (atomic_exchange(&exchange_lock[k], 1)) continue;
            struct block other = exchange[k];
            verify(b, b->size, "handoff");
            exchange[k] = *b;
            atomic_store(&exchange_lock[k], 0);
            if (other.p) { verify(&other, other.size, "cross-thread free"); free(other.p); }
            memset(b, 0, sizeof *b);
        } else {
            verify(b, b->size, "free");
            free(b->p);
            memset(b, 0, sizeof *b);
        }
        local_ops++;
    }
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].p) { verify(&slots[i], slots[i].size, "final"); free(slots[i].p); }
    atomic_fetch_add(&ops, local_ops);
    return NULL;
}

static void *trimmer(void *arg)
{
    (void)arg;
    if (!sesstrim_active()) return NULL;
    struct timespec gap = {0, api_trim_gap_us * 1000};
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        if (sesstrim_trim() < 0) atomic_fetch_add(&api_trim_failures, 1);
        atomic_fetch_add(&api_trims, 1);
        nanosleep(&gap, NULL);
    }
    return NULL;
}

/* Fork while trims and churn run: the child must not inherit a held lock (it allocates,
 * verifies and exits; a deadlock shows as a timeout), and must exit cleanly. */
static void *forker(void *arg)
{
    (void)arg;
    struct timespec gap = {0, 5 * 1000 * 1000};
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        pid_t pid = fork();
        if (pid == 0) {
            struct block b = {NULL, 64 << 10, 42};
            for (int i = 0; i < 50; i++) {
                b.p = malloc(b.size);
                if (!b.p) _exit(3);
                fill(&b);
                verify(&b, b.size, "fork child");
                free(b.p);
            }
            _exit(0);
        }
        if (pid < 0) { atomic_fetch_add(&fork_failures, 1); continue; }
        int st = 0;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) atomic_fetch_add(&fork_failures, 1);
        atomic_fetch_add(&forks, 1);
        nanosleep(&gap, NULL);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) n_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--api-trim")) api_trim = 1;
        else if (!strcmp(argv[i], "--fork")) fork_churn = 1;
        else if (!strcmp(argv[i], "--api-gap-us") && i + 1 < argc) api_trim_gap_us = atol(argv[++i]);
        else { fprintf(stderr, "usage: trim_stress [--threads N] [--seconds S] [--api-trim] [--api-gap-us US] [--fork]\n"); return 64; }
    }
    if (n_threads < 1 || n_threads > 64) n_threads = 4;
    /* One big buffer freed first raises glibc's thresholds: thread-arena tops then stay
     * large and resident, which is what the top pass releases. */
    void *big = malloc(8 << 20);
    memset(big, 1, 8 << 20);
    __asm__ volatile("" : : "r"(big) : "memory");  /* or the compiler drops all three */
    free(big);

    pthread_t th[64], tt, tf;
    for (int i = 0; i < n_threads; i++) pthread_create(&th[i], NULL, churn, (void *)(uintptr_t)(i + 1));
    if (api_trim) pthread_create(&tt, NULL, trimmer, NULL);
    if (fork_churn) pthread_create(&tf, NULL, forker, NULL);
    struct timespec d = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&d, NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < n_threads; i++) pthread_join(th[i], NULL);
    if (api_trim) pthread_join(tt, NULL);
    if (fork_churn) pthread_join(tf, NULL);
    for (int k = 0; k < EXCHANGE; k++)
        if (exchange[k].p) { verify(&exchange[k], exchange[k].size, "final exchange"); free(exchange[k].p); }
    printf("trim_stress: threads=%d ops=%ld api_trims=%ld api_trim_failures=%ld forks=%ld "
           "fork_failures=%ld errors=%ld\n", n_threads, atomic_load(&ops), atomic_load(&api_trims),
           atomic_load(&api_trim_failures), atomic_load(&forks), atomic_load(&fork_failures),
           atomic_load(&errors));
    return atomic_load(&errors) || atomic_load(&fork_failures) ? 1 : 0;
}
