/* tsan_harness.c: the shim's preload/ and trim/ sources, compiled with ThreadSanitizer into
 * one executable with their interposed entry points renamed (tsan_rename.h says why), driven
 * from many threads at once: the malloc family with cross-thread frees and reallocs,
 * sessions (begin/end/enter/leave/keep), API trims next to the trimmer thread, dumps next to
 * the service thread's periodic and signal dumps and timeline samples, the program's own
 * mmaps, short-lived threads, and fork() while all of that runs.
 *
 * Usage: tsan_harness [--threads N] [--iters N] [--forks N] [--signals N] DIR
 *   DIR receives the API dumps (api-<thread>.bin, final.bin, child-<pid>.bin).
 * Options come from the environment as in a preloaded process (SESSTRIM_TRIM, ...);
 * ST_TSAN_GLIBC=1 makes the shim forward to glibc's malloc instead of TSan's.
 * Exit 0: every API call returned what its contract says (checked below) and every fork
 * child exited 0. TSan itself fails the run (exit 66) on any report. The harness never reads
 * or writes the contents of an allocated block, so glibc's reuse of blocks (invisible to
 * TSan in ST_TSAN_GLIBC mode) cannot be mistaken for a race in the shim. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the shim, renamed (tsan_rename.h) */
void *st_tsan_malloc(size_t);
void st_tsan_free(void *);
void *st_tsan_calloc(size_t, size_t);
void *st_tsan_realloc(void *, size_t);
void *st_tsan_reallocarray(void *, size_t, size_t);
void *st_tsan_memalign(size_t, size_t);
void *st_tsan_aligned_alloc(size_t, size_t);
int st_tsan_posix_memalign(void **, size_t, size_t);
void *st_tsan_valloc(size_t);
size_t st_tsan_malloc_usable_size(void *);
void *st_tsan_mmap(void *, size_t, int, int, int, off_t);
int st_tsan_munmap(void *, size_t);
void *st_tsan_mremap(void *, size_t, size_t, int, ...);
pid_t st_tsan_fork(void);
int st_tsan_pthread_create(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
/* ---- its API (include/sesstrim.h looks these up by name in a preloaded process) */
int sesstrim_impl_active(void);
uint64_t sesstrim_impl_session_begin(const char *);
int sesstrim_impl_session_end(uint64_t);
int sesstrim_impl_session_enter(uint64_t);
int sesstrim_impl_session_leave(uint64_t);
uint64_t sesstrim_impl_session_current(void);
int sesstrim_impl_keep(const void *, uint64_t);
long long sesstrim_impl_trim(void);
int sesstrim_impl_dump(const char *);

/* ---- what the renamed dlsym/dlvsym/syscall of the shim's translation units call */
static void *libc_handle(void)
{
    static void *h;
    void *v = __atomic_load_n(&h, __ATOMIC_ACQUIRE);
    if (!v) {
        v = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
        __atomic_store_n(&h, v, __ATOMIC_RELEASE);
    }
    return v;
}

static int glibc_mode(void)
{
    const char *e = getenv("ST_TSAN_GLIBC");
    return e && *e == '1';
}

static int is_malloc_family(const char *name)
{
    static const char *const names[] = {"malloc", "free", "calloc", "realloc", "memalign", "posix_memalign",
                                        "aligned_alloc", "valloc", "pvalloc", "malloc_usable_size", NULL};
    for (int i = 0; names[i]; i++)
        if (!strcmp(name, names[i])) return 1;
    return 0;
}

/* RTLD_NEXT is relative to the caller's object: this function is in the same executable as
 * the shim's code, so the answer is the one the shim would get itself. */
void *st_tsan_dlsym(void *handle, const char *name)
{
    if (handle == RTLD_NEXT && glibc_mode() && is_malloc_family(name)) return dlsym(libc_handle(), name);
    return dlsym(handle, name);
}

void *st_tsan_dlvsym(void *handle, const char *name, const char *version)
{
    if (handle == RTLD_NEXT && glibc_mode() && is_malloc_family(name)) return dlvsym(libc_handle(), name, version);
    return dlvsym(handle, name, version);
}

long st_tsan_syscall(long nr, ...)
{
    va_list ap;
    va_start(ap, nr);
    long a[6];
    for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
    va_end(ap);
    switch (nr) {
    case SYS_mmap: {
        void *p = mmap((void *)a[0], (size_t)a[1], (int)a[2], (int)a[3], (int)a[4], (off_t)a[5]);
        if (p == MAP_FAILED) return -1;       /* what glibc's syscall() returns on failure */
        return (long)p;
    }
    case SYS_munmap:
        return munmap((void *)a[0], (size_t)a[1]) == 0 ? 0 : -1;
    default:
        return syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    }
}

/* ---- libunwind's pthread calls (sanitize.mk renames them in a copy of its archive).
 * libunwind is not instrumented, so TSan sees nothing of the data its mutexes guard; routed
 * through TSan's interceptors its calls only crashed the harness: its per-thread cache's
 * key destructor locks a mutex after TSan has already torn down the exiting thread's state
 * (__tsan::MutexPreLock on freed thread state, from __nptl_deallocate_tsd). glibc's own
 * functions, looked up in libc itself, are what the real library calls. */
#define LIBC_FN(name) \
    static __typeof__(&name) cached; \
    __typeof__(&name) fn = __atomic_load_n(&cached, __ATOMIC_RELAXED); \
    if (!fn) __atomic_store_n(&cached, fn = (__typeof__(&name))dlsym(libc_handle(), #name), __ATOMIC_RELAXED)
int st_unw_pthread_mutex_lock(pthread_mutex_t *m)
{
    LIBC_FN(pthread_mutex_lock);
    return fn(m);
}
int st_unw_pthread_mutex_unlock(pthread_mutex_t *m)
{
    LIBC_FN(pthread_mutex_unlock);
    return fn(m);
}
int st_unw_pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a)
{
    LIBC_FN(pthread_mutex_init);
    return fn(m, a);
}
int st_unw_pthread_once(pthread_once_t *o, void (*init)(void))
{
    LIBC_FN(pthread_once);
    return fn(o, init);
}
int st_unw_pthread_key_create(pthread_key_t *k, void (*destructor)(void *))
{
    LIBC_FN(pthread_key_create);
    return fn(k, destructor);
}
int st_unw_pthread_setspecific(pthread_key_t k, const void *v)
{
    LIBC_FN(pthread_setspecific);
    return fn(k, v);
}

/* ---- the run */
static const char *dir;
static int n_threads = 6, n_iters = 4000, n_forks = 8, n_signals = 20;
static uint64_t shared_session;
static int failures;

#define FAIL(...) do { fprintf(stderr, "tsan_harness: " __VA_ARGS__); fputc('\n', stderr); \
                       __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED); } while (0)

/* Blocks handed between threads: one thread allocates, another frees or reallocs. */
#define XCHG 64
static void *xchg[XCHG];
static unsigned xchg_n;
static pthread_mutex_t xchg_lock = PTHREAD_MUTEX_INITIALIZER;

static void *xchg_swap(void *give)
{
    pthread_mutex_lock(&xchg_lock);
    void *take = NULL;
    if (xchg_n > 0 && (!give || xchg_n == XCHG)) take = xchg[--xchg_n];
    if (give) {
        if (xchg_n < XCHG) xchg[xchg_n++] = give;
        else { pthread_mutex_unlock(&xchg_lock); st_tsan_free(give); return take; }
    }
    pthread_mutex_unlock(&xchg_lock);
    return take;
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17;
    return *s;
}

static size_t rsize(uint64_t *s)
{
    uint64_t r = rnd(s);
    switch (r % 8) {
    case 0: return 1 + r % 16;
    case 1: case 2: case 3: return 16 + (r >> 8) % 512;
    case 4: case 5: return 512 + (r >> 8) % 8192;
    case 6: return 8192 + (r >> 8) % (128 << 10);
    default: return (128 << 10) + (r >> 8) % (256 << 10);   /* glibc mmaps these */
    }
}

static void *any_alloc(uint64_t *s)
{
    size_t n = rsize(s);
    void *p = NULL;
    switch (rnd(s) % 8) {
    case 0: p = st_tsan_calloc(1 + n / 64, 64); break;
    case 1: p = st_tsan_realloc(NULL, n); break;
    case 2: p = st_tsan_memalign(64, n); break;
    case 3: if (st_tsan_posix_memalign(&p, 256, n) != 0) p = NULL; break;
    case 4: p = st_tsan_aligned_alloc(4096, (n + 4095) & ~(size_t)4095); break;
    case 5: p = st_tsan_reallocarray(NULL, 1 + n / 8, 8); break;
    case 6: p = st_tsan_valloc(n); break;
    default: p = st_tsan_malloc(n); break;
    }
    if (!p) FAIL("allocation of %zu bytes failed", n);
    return p;
}

#define SLOTS 32

static void *short_thread(void *arg)
{
    uint64_t s = (uintptr_t)arg | 1;
    void *p[8];
    for (int i = 0; i < 8; i++) p[i] = any_alloc(&s);
    for (int i = 0; i < 8; i++) {
        if (i % 2) st_tsan_free(p[i]);
        else if (p[i]) xchg_swap(p[i]);      /* outlives its thread: freed by another */
    }
    return NULL;
}

static void session_round(uint64_t *s, void **slot, int me)
{
    char name[32];
    snprintf(name, sizeof name, "w%d", me);
    /* Half the time inside the shared session, which then is the new session's parent. */
    int nested = rnd(s) % 2;
    if (nested && sesstrim_impl_session_enter(shared_session) != 0) FAIL("enter of the open shared session failed");
    uint64_t id = sesstrim_impl_session_begin(name);
    if (!id) { FAIL("session_begin returned 0"); return; }
    if (sesstrim_impl_session_current() != id) FAIL("session_current is not the session just begun");
    void *a = any_alloc(s), *b = any_alloc(s);
    /* keep: hand `a` to the shared session (by id, or as the parent: to = 0), while other
     * threads free, keep and end sessions around it. */
    if (a && sesstrim_impl_keep(a, nested && rnd(s) % 2 ? 0 : shared_session) != 0) FAIL("keep of a live block failed");
    if (rnd(s) % 2) {
        /* a nested session inside this one, ended first */
        uint64_t inner = sesstrim_impl_session_begin("inner");
        void *c = any_alloc(s);
        if (sesstrim_impl_session_end(inner) != 0) FAIL("session_end(inner) failed");
        st_tsan_free(c);
    }
    if (sesstrim_impl_session_end(id) != 0) FAIL("session_end failed");
    if (sesstrim_impl_session_end(id) != -1) FAIL("second session_end of the same id did not fail");
    if (nested && sesstrim_impl_session_leave(shared_session) != 0) FAIL("leave after enter failed");
    void *give = xchg_swap(a);           /* a: freed by whoever takes it, leftover until then */
    st_tsan_free(give);
    st_tsan_free(*slot);
    *slot = b;
}

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    uint64_t s = 0x9E3779B97F4A7C15ull * (uint64_t)(me + 1);
    void *slot[SLOTS] = {0};
    char path[512];
    for (int it = 0; it < n_iters; it++) {
        unsigned op = (unsigned)(rnd(&s) % 1000);
        void **p = &slot[rnd(&s) % SLOTS];
        if (op < 350) {
            st_tsan_free(*p);
            *p = any_alloc(&s);
        } else if (op < 500) {
            void *np = st_tsan_realloc(*p, rsize(&s));
            if (np) *p = np; else FAIL("realloc failed");
        } else if (op < 650) {
            st_tsan_free(*p);
            *p = NULL;
        } else if (op < 800) {
            /* cross-thread: give ours, take one another thread allocated; free or grow it */
            void *got = xchg_swap(*p);
            *p = NULL;
            if (got && rnd(&s) % 2) *p = st_tsan_realloc(got, rsize(&s));
            else st_tsan_free(got);
        } else if (op < 880) {
            session_round(&s, p, me);
        } else if (op < 930) {
            if (sesstrim_impl_session_enter(shared_session) != 0) FAIL("enter of the open shared session failed");
            st_tsan_free(*p);
            *p = any_alloc(&s);
            if (sesstrim_impl_session_leave(shared_session) != 0) FAIL("leave after enter failed");
        } else if (op < 945) {
            if (*p && st_tsan_malloc_usable_size(*p) == 0) FAIL("usable size 0 for a live block");
        } else if (op < 960) {
            size_t len = (1 + rnd(&s) % 16) << 12;
            void *m = st_tsan_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED) { FAIL("mmap failed"); continue; }
            if (rnd(&s) % 2) {
                void *g = st_tsan_mremap(m, len, len * 2, MREMAP_MAYMOVE);
                if (g != MAP_FAILED) { m = g; len *= 2; }
            }
            st_tsan_munmap(m, len);
        } else if (op < 975) {
            if (sesstrim_impl_trim() < 0) FAIL("trim returned < 0");
        } else if (op < 985) {
            pthread_t th;
            if (st_tsan_pthread_create(&th, NULL, short_thread, (void *)(uintptr_t)rnd(&s)) == 0) pthread_join(th, NULL);
            else FAIL("pthread_create failed");
        } else if (op < 989) {
            snprintf(path, sizeof path, "%s/api-%d.bin", dir, me);
            if (sesstrim_impl_dump(path) != 0) FAIL("dump to %s failed", path);
        }
    }
    for (int i = 0; i < SLOTS; i++) st_tsan_free(slot[i]);
    return NULL;
}

/* fork() while the workers run: the child allocates, uses a session, trims, dumps and
 * exits; a child that fails any of those exits non-zero. */
static void *forker(void *arg)
{
    (void)arg;
    for (int i = 0; i < n_forks; i++) {
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
        pid_t pid = st_tsan_fork();
        if (pid < 0) { FAIL("fork failed: %s", strerror(errno)); continue; }
        if (pid == 0) {
            int bad = 0;
            void *p = st_tsan_malloc(1000);
            uint64_t id = sesstrim_impl_session_begin("child");
            void *q = st_tsan_calloc(10, 100);
            bad |= !p || !q || !id;
            bad |= sesstrim_impl_session_end(id) != 0;
            st_tsan_free(q);
            st_tsan_free(p);
            bad |= sesstrim_impl_trim() < 0;
            char path[512];
            snprintf(path, sizeof path, "%s/child-%d.bin", dir, (int)getpid());
            bad |= sesstrim_impl_dump(path) != 0;
            _exit(bad);
        }
        int st;
        if (waitpid(pid, &st, 0) != pid) FAIL("waitpid failed");
        else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) FAIL("fork child %d: status 0x%x", (int)pid, st);
    }
    return NULL;
}

static void *signaller(void *arg)
{
    int sig = (int)(intptr_t)arg;
    for (int i = 0; i < n_signals; i++) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
        kill(getpid(), sig);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int i;
    for (i = 1; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--threads")) n_threads = v;
        else if (!strcmp(argv[i], "--iters")) n_iters = v;
        else if (!strcmp(argv[i], "--forks")) n_forks = v;
        else if (!strcmp(argv[i], "--signals")) n_signals = v;
        else { fprintf(stderr, "tsan_harness: unknown option %s\n", argv[i]); return 2; }
    }
    if (i + 1 != argc || n_threads < 1 || n_threads > 64) {
        fprintf(stderr, "usage: tsan_harness [--threads N] [--iters N] [--forks N] [--signals N] DIR\n");
        return 2;
    }
    dir = argv[i];
    if (sesstrim_impl_active() != 1) { fprintf(stderr, "tsan_harness: shim not active\n"); return 1; }
    shared_session = sesstrim_impl_session_begin("shared");
    if (!shared_session) { fprintf(stderr, "tsan_harness: no shared session\n"); return 1; }
    /* The shared session stays open on other threads after main leaves it. */
    if (sesstrim_impl_session_leave(shared_session) != 0) FAIL("main could not leave the shared session");

    pthread_t th[64], fk, sg;
    for (int t = 0; t < n_threads; t++)
        if (st_tsan_pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t) != 0) { FAIL("pthread_create"); return 1; }
    int have_fork = n_forks > 0 && st_tsan_pthread_create(&fk, NULL, forker, NULL) == 0;
    const char *sigopt = getenv("SESSTRIM_DUMP_SIGNAL");
    int have_sig = sigopt && *sigopt && n_signals > 0 &&
                   st_tsan_pthread_create(&sg, NULL, signaller, (void *)(intptr_t)SIGUSR2) == 0;
    for (int t = 0; t < n_threads; t++) pthread_join(th[t], NULL);
    if (have_fork) pthread_join(fk, NULL);
    if (have_sig) pthread_join(sg, NULL);
    for (void *p; (p = xchg_swap(NULL)) != NULL;) st_tsan_free(p);
    if (sesstrim_impl_session_end(shared_session) != 0) FAIL("end of the shared session failed");
    char path[512];
    snprintf(path, sizeof path, "%s/final.bin", dir);
    if (sesstrim_impl_dump(path) != 0) FAIL("final dump failed");
    int f = __atomic_load_n(&failures, __ATOMIC_RELAXED);
    printf("tsan_harness: %d threads x %d iterations, %d forks, %d signals: %d failures\n", n_threads, n_iters,
           have_fork ? n_forks : 0, have_sig ? n_signals : 0, f);
    return f ? 1 : 0;
}
