/* session_scenarios.c: session scenarios for tests/unit/test_sessions.cpp. Each scenario does
 * a known set of allocations in sessions, writes a dump, and prints its own bookkeeping. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "sesstrim.h"

/*
 * Usage: session_scenarios SCENARIO DUMP_PATH [ARG]
 * Output: "key value" lines, the program's own count of what each session should hold.
 * The test compares them with the dump. Nothing is printed while a session is current
 * (stdio's first use mallocs its buffer), so sessions only see the allocations below.
 */

/* Called through volatile pointers: the compiler must not elide a malloc/free pair whose
 * memory is never used, since the sessions are meant to see every one of them. */
static void *(*volatile alloc_fn)(size_t) = malloc;
static void (*volatile free_fn)(void *) = free;
#define malloc(n) alloc_fn(n)
#define free(p) free_fn(p)

static const char *dump_path;
static char out[8192];
static size_t out_len;

static void note(const char *key, unsigned long long value)
{
    out_len += (size_t)snprintf(out + out_len, sizeof out - out_len, "%s %llu\n", key, value);
}

static int finish(void)
{
    int rc = sesstrim_dump(dump_path);
    note("dump_rc", (unsigned long long)(long long)rc);
    fputs(out, stdout);
    return 0;
}

/* ----------------------------------------------------------- nesting */
static int nesting(void)
{
    sesstrim_session_t outer = sesstrim_session_begin("outer");
    char *a = malloc(1000);
    sesstrim_session_t inner = sesstrim_session_begin("inner");
    note("current_is_inner", sesstrim_session_current() == inner);
    char *b = malloc(2000);
    char *c = malloc(300);
    free(c);
    sesstrim_session_end(inner);
    note("current_is_outer", sesstrim_session_current() == outer);
    char *d = malloc(500);
    note("outer_id", outer);
    note("inner_id", inner);
    note("outer_live", 1000 + 500);
    note("outer_count", 2);
    note("inner_leftover", 2000);
    note("inner_total", 2300);
    note("inner_peak", 2300);
    int rc = finish();
    sesstrim_session_end(outer);
    free(a); free(b); free(d);
    return rc;
}

/* ----------------------------------------------------------- enter/leave across threads */
#define POOL_THREADS 2
#define POOL_BLOCKS 5
static sesstrim_session_t pool_id;
static void *pool_blocks[POOL_THREADS][POOL_BLOCKS];
static int pool_ok[POOL_THREADS];

static size_t pool_block_size(int t, int i) { return 100 * (size_t)(t + 1) + (size_t)i; }

static void *pool_worker(void *arg)
{
    int t = (int)(long)arg;
    void *outside = malloc(4321);          /* before enter: not the pool's */
    int ok = sesstrim_session_current() == 0;
    ok &= sesstrim_session_enter(pool_id) == 0;
    ok &= sesstrim_session_current() == pool_id;
    for (int i = 0; i < POOL_BLOCKS; i++) pool_blocks[t][i] = malloc(pool_block_size(t, i));
    ok &= sesstrim_session_leave(pool_id) == 0;
    ok &= sesstrim_session_current() == 0;
    ok &= sesstrim_session_leave(pool_id) == -1;   /* not current any more */
    free(outside);
    pool_ok[t] = ok;
    return NULL;
}

static int enter_leave(void)
{
    pthread_t th[POOL_THREADS];
    pool_id = sesstrim_session_begin("pool");
    sesstrim_session_leave(pool_id);       /* the acceptor hands it over */
    note("main_current_after_leave", sesstrim_session_current());
    for (long t = 0; t < POOL_THREADS; t++) pthread_create(&th[t], NULL, pool_worker, (void *)t);
    for (int t = 0; t < POOL_THREADS; t++) pthread_join(th[t], NULL);
    unsigned long long live = 0, count = 0;
    for (int t = 0; t < POOL_THREADS; t++)
        for (int i = 0; i < POOL_BLOCKS; i++) { live += pool_block_size(t, i); count++; }
    /* main frees one block of each worker: cross-thread frees credited to the pool */
    for (int t = 0; t < POOL_THREADS; t++) {
        free(pool_blocks[t][0]);
        live -= pool_block_size(t, 0);
        count--;
    }
    note("workers_ok", pool_ok[0] && pool_ok[1]);
    note("pool_live", live);
    note("pool_count", count);
    note("pool_frees", POOL_THREADS);
    note("pool_threads", POOL_THREADS + 1);
    return finish();
}

/* ----------------------------------------------------------- cross-thread frees */
#define XF_BLOCKS 10
#define XF_FREED 4
static void *xf_blocks[XF_BLOCKS];

static void *xf_freer(void *arg)
{
    (void)arg;
    sesstrim_session_t other = sesstrim_session_begin("other");
    for (int i = 0; i < XF_FREED; i++) free(xf_blocks[i]);
    sesstrim_session_end(other);
    return NULL;
}

static int xfree(void)
{
    pthread_t th;
    sesstrim_session_t owner = sesstrim_session_begin("owner");
    unsigned long long live = 0;
    for (int i = 0; i < XF_BLOCKS; i++) {
        xf_blocks[i] = malloc(64 + (size_t)i * 8);
        if (i >= XF_FREED) live += 64 + (unsigned long long)i * 8;
    }
    sesstrim_session_leave(owner);         /* create the freer outside any session */
    pthread_create(&th, NULL, xf_freer, NULL);
    pthread_join(th, NULL);
    note("owner_live", live);
    note("owner_count", XF_BLOCKS - XF_FREED);
    note("owner_frees", XF_FREED);
    note("other_frees", 0);
    note("other_live", 0);
    return finish();
}

/* ----------------------------------------------------------- keep */
static int keep(void)
{
    sesstrim_session_t parent = sesstrim_session_begin("parent");
    sesstrim_session_t child = sesstrim_session_begin("child");
    char *result = malloc(4096);
    char *temp = malloc(100);
    char *named = malloc(333);
    free(temp);
    note("keep_rc", (unsigned long long)(sesstrim_keep(result, 0) + 1));          /* 1: ok */
    note("keep_named_rc", (unsigned long long)(sesstrim_keep(named, parent) + 1));
    char on_stack;
    note("keep_untracked_rc", (unsigned long long)(sesstrim_keep(&on_stack, 0) + 1)); /* 0 */
    sesstrim_session_end(child);
    note("keep_to_ended_rc", (unsigned long long)(sesstrim_keep(result, child) + 1)); /* 0 */
    note("child_leftover", 0);
    note("child_total", 4096 + 100 + 333);
    note("parent_live", 4096 + 333);
    note("parent_kept_in", 4096 + 333);
    note("parent_kept_in_count", 2);
    int rc = finish();
    sesstrim_session_end(parent);
    free(result); free(named);
    return rc;
}

/* ----------------------------------------------------------- inheritance */
#define INH_BLOCKS 3
#define INH_SIZE 777
static void *inh_blocks[INH_BLOCKS];
static sesstrim_session_t inh_seen;

static void *inh_thread(void *arg)
{
    (void)arg;
    inh_seen = sesstrim_session_current();
    for (int i = 0; i < INH_BLOCKS; i++) inh_blocks[i] = malloc(INH_SIZE);
    return NULL;
}

static void *noop_thread(void *arg) { return arg; }

static int inherit(void)
{
    pthread_t th;
    /* Warm glibc's stack cache so the measured pthread_create reuses a stack and its TLS
     * instead of allocating them inside the session. */
    pthread_create(&th, NULL, noop_thread, NULL);
    pthread_join(th, NULL);
    sesstrim_session_t spawner = sesstrim_session_begin("spawner");
    pthread_create(&th, NULL, inh_thread, NULL);
    pthread_join(th, NULL);
    note("spawner_id", spawner);
    note("child_saw", inh_seen);
    note("thread_bytes", INH_BLOCKS * INH_SIZE);
    note("thread_count", INH_BLOCKS);
    int rc = finish();
    sesstrim_session_end(spawner);
    return rc;
}

/* ----------------------------------------------------------- churn */
static int churn(long n, long leak_every)
{
    unsigned long long leaked = 0, leaky = 0;
    for (long i = 0; i < n; i++) {
        sesstrim_session_t s = sesstrim_session_begin("churn");
        void *p = malloc(64);
        void *q = malloc(200);
        free(p);
        if (leak_every && i % leak_every == 0) { leaked += 200; leaky++; }
        else free(q);
        sesstrim_session_end(s);
    }
    note("sessions", (unsigned long long)n);
    note("leaked_bytes", leaked);
    note("leaky_sessions", leaky);
    return finish();
}

/* ----------------------------------------------------------- fork */
/* The child keeps the session current on the forking thread and its memory; each
 * process then accounts on its own. The child dumps to DUMP_PATH.child. */
static int forked(void)
{
    sesstrim_session_t s = sesstrim_session_begin("across-fork");
    void *before = malloc(1000);
    pid_t pid = fork();
    if (pid == 0) {
        void *in_child = malloc(500);
        char path[600];
        snprintf(path, sizeof path, "%s.child", dump_path);
        int rc = sesstrim_dump(path);
        free(in_child);
        _exit(rc == 0 && sesstrim_session_current() == s ? 0 : 1);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    void *in_parent = malloc(300);
    note("child_ok", WIFEXITED(status) && WEXITSTATUS(status) == 0);
    note("child_live", 1000 + 500);
    note("parent_live", 1000 + 300);
    int rc = finish();
    sesstrim_session_end(s);
    free(before); free(in_parent);
    return rc;
}

/* ----------------------------------------------------------- concurrent */
/* Threads begin and end short sessions while handing blocks to each other to free (so
 * ended sessions get their leftovers freed later, by other threads, and their slots are
 * recycled from the free path), and all use one shared session through enter/leave.
 * Leftovers at each end depend on timing; the totals do not. */
#define CC_THREADS 4
#define CC_STACK 4096
static pthread_mutex_t cc_lock = PTHREAD_MUTEX_INITIALIZER;
static void *cc_stack[CC_STACK];
static int cc_depth;
static long cc_rounds;
static sesstrim_session_t cc_shared;
static unsigned long long cc_session_bytes[CC_THREADS], cc_shared_bytes[CC_THREADS];

static void *cc_worker(void *arg)
{
    int t = (int)(long)arg;
    uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(t + 1);
    for (long i = 0; i < cc_rounds; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        size_t a = 16 + x % 2000, b = 16 + (x >> 20) % 3000, c = 16 + (x >> 40) % 500;
        sesstrim_session_t s = sesstrim_session_begin("cc");
        void *own = malloc(a);
        void *handed = malloc(b);
        cc_session_bytes[t] += a + b;
        sesstrim_session_enter(cc_shared);
        void *shared = malloc(c);
        cc_shared_bytes[t] += c;
        sesstrim_session_leave(cc_shared);
        free(own);
        void *other = NULL;
        pthread_mutex_lock(&cc_lock);
        if (cc_depth == CC_STACK || (cc_depth && (x & 1))) other = cc_stack[--cc_depth];
        cc_stack[cc_depth++] = handed;
        pthread_mutex_unlock(&cc_lock);
        sesstrim_session_end(s);
        free(other);                           /* often a block of someone else's session */
        free(shared);                          /* credited to the shared session */
    }
    return NULL;
}

static int concurrent(long rounds)
{
    pthread_t th[CC_THREADS];
    cc_rounds = rounds;
    cc_shared = sesstrim_session_begin("cc-shared");
    sesstrim_session_leave(cc_shared);
    for (long t = 0; t < CC_THREADS; t++) pthread_create(&th[t], NULL, cc_worker, (void *)t);
    for (int t = 0; t < CC_THREADS; t++) pthread_join(th[t], NULL);
    while (cc_depth) free(cc_stack[--cc_depth]);
    unsigned long long session_bytes = 0, shared_bytes = 0;
    for (int t = 0; t < CC_THREADS; t++) {
        session_bytes += cc_session_bytes[t];
        shared_bytes += cc_shared_bytes[t];
    }
    note("sessions", (unsigned long long)(CC_THREADS * rounds));
    note("session_alloc_bytes", session_bytes);
    note("session_allocs", 2ull * CC_THREADS * (unsigned long long)rounds);
    note("shared_alloc_bytes", shared_bytes);
    note("shared_threads", CC_THREADS + 1);
    return finish();
}

/* ----------------------------------------------------------- no shim */
static int noshim(void)
{
    int ok = sesstrim_active() == 0;
    sesstrim_session_t s = sesstrim_session_begin("nothing");
    ok &= s == 0;
    ok &= sesstrim_session_current() == 0;
    ok &= sesstrim_session_enter(s) == -1;
    ok &= sesstrim_session_leave(s) == -1;
    char *p = malloc(10);
    ok &= sesstrim_keep(p, 0) == -1;
    free(p);
    ok &= sesstrim_session_end(s) == -1;
    ok &= sesstrim_trim() == -1;
    ok &= sesstrim_dump(dump_path) == -1;
    printf("noshim_ok %d\n", ok);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s nesting|enter_leave|xfree|keep|inherit|fork|concurrent N|churn N LEAK_EVERY|"
                        "noshim DUMP_PATH\n", argv[0]);
        return 2;
    }
    const char *what = argv[1];
    dump_path = argv[2];
    if (!strcmp(what, "nesting")) return nesting();
    if (!strcmp(what, "enter_leave")) return enter_leave();
    if (!strcmp(what, "xfree")) return xfree();
    if (!strcmp(what, "keep")) return keep();
    if (!strcmp(what, "inherit")) return inherit();
    if (!strcmp(what, "churn"))
        return churn(argc > 3 ? atol(argv[3]) : 1000, argc > 4 ? atol(argv[4]) : 0);
    if (!strcmp(what, "noshim")) return noshim();
    if (!strcmp(what, "fork")) return forked();
    if (!strcmp(what, "concurrent")) return concurrent(argc > 3 ? atol(argv[3]) : 20000);
    fprintf(stderr, "unknown scenario %s\n", what);
    return 2;
}
