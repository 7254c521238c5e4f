/* threads.c: a record per thread (created on its first allocation), the pthread_create
 * wrapper that records parent, start and inherited session, and exit via a TLS key. */
#include <dlfcn.h>
#include <linux/futex.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "shim.h"
#include "service.h"

ST_TLS struct st_thread *st_tls_thread;

/* idx -> record, two levels so lookups need no lock and records never move. */
#define IDX_PAGE 1024u
#define IDX_PAGES 1024u
_Static_assert(IDX_PAGE * IDX_PAGES >= ST_THREAD_IDX_LIMIT, "every idx a record may get has a page");
static struct st_thread **idx_pages[IDX_PAGES];
static uint32_t next_idx;
static struct st_thread *list_head, *list_tail;
/* Fork child, a thread was being appended: the tail may lag. Find it again. */
static void list_repair(uint32_t i)
{
    (void)i;
    list_tail = list_head;
    while (list_tail && list_tail->next) list_tail = list_tail->next;
}
ST_LOCK_DEFINE(list_lock, ST_RANK_THREADS, list_repair);
static pthread_key_t exit_key;
static bool exit_key_ok;
/* Shared by threads whose record could not be mapped: counts stay roughly right. */
static struct st_thread overflow_thread = {.idx = UINT32_MAX, .parent_idx = UINT32_MAX,
                                           .home_arena = ST_NO_ARENA, .name = "(overflow)"};

void st_lock_yield(void) { sched_yield(); }

/* ---- the reaper: a shim thread must never keep a process alive.
 * glibc ends the process with exit(0) when its last thread exits (nptl start_thread and
 * __libc_start_call_main: "if this is the last thread we terminate the process"), judged by
 * its thread counter __nptl_nthreads (GLIBC_PRIVATE, exported since 2.34). With shim threads
 * running, the program's last thread is no longer glibc's last one, so nothing would end
 * the process (a main that calls pthread_exit() hung, with SIGTERM pending forever because
 * shim threads block every signal). That can only happen once the main thread has called
 * pthread_exit() (otherwise the process ends through exit()), so only then is a reaper
 * started: it sleeps, is woken by every program thread that exits, watches glibc's counter
 * for a little while, and when only shim threads are left calls exit(0) itself, exactly what
 * glibc's last thread would have done (atexit handlers, stdio flush, our exit dump). */
static int *nptl_nthreads;            /* NULL: not found, the reaper is off */
static uint32_t shim_threads;         /* atomic: shim threads alive, the reaper included */
static int exit_word;                 /* futex: bumped by every exiting program thread */
static int reaper_started;            /* atomic */

void threads_shim_started(void) { __atomic_add_fetch(&shim_threads, 1, __ATOMIC_ACQ_REL); }

static bool only_shim_threads_left(void)
{
    int n = __atomic_load_n(nptl_nthreads, __ATOMIC_ACQUIRE);
    return n > 0 && (uint32_t)n <= __atomic_load_n(&shim_threads, __ATOMIC_ACQUIRE);
}

static void *reaper_main(void *arg)
{
    (void)arg;
    prctl(PR_SET_NAME, "sesstrim-reaper", 0, 0, 0);
    __atomic_or_fetch(&thread_self()->flags, ST_THREAD_SHIM, __ATOMIC_RELAXED);
    for (;;) {
        int seen = __atomic_load_n(&exit_word, __ATOMIC_ACQUIRE);
        /* An exiting thread decrements glibc's counter right after its TSD destructors
         * (microseconds): look every millisecond for 200 ms, then sleep until the next exit
         * (a 1 s timeout covers threads that ended without passing our destructor). */
        for (int i = 0; i < 200; i++) {
            if (only_shim_threads_left()) exit(0);
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        struct timespec second = {1, 0};
        if (__atomic_load_n(&exit_word, __ATOMIC_ACQUIRE) == seen)
            syscall(SYS_futex, &exit_word, FUTEX_WAIT_PRIVATE, seen, &second, NULL, 0);
    }
    return NULL;
}

static void program_thread_exiting(bool is_main)
{
    if (!nptl_nthreads || !__atomic_load_n(&shim_threads, __ATOMIC_ACQUIRE)) return;
    if (__atomic_load_n(&reaper_started, __ATOMIC_ACQUIRE)) {
        __atomic_add_fetch(&exit_word, 1, __ATOMIC_ACQ_REL);
        syscall(SYS_futex, &exit_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        return;
    }
    if (!is_main || __atomic_exchange_n(&reaper_started, 1, __ATOMIC_ACQ_REL)) return;
    __atomic_add_fetch(&shim_threads, 1, __ATOMIC_ACQ_REL);
    st_in_shim++;
    int rc = shim_thread_create_raw(reaper_main, NULL);
    st_in_shim--;
    if (rc != 0) {
        __atomic_sub_fetch(&shim_threads, 1, __ATOMIC_ACQ_REL);
        st_log("main thread exited: cannot start the reaper thread (error %d); the process may "
               "outlive its last thread", rc);
    }
}

static void on_thread_exit(void *p)
{
    struct st_thread *t = p;
    __atomic_store_n(&t->exit_ns, st_realtime_ns(), __ATOMIC_RELAXED);
    prctl(PR_GET_NAME, t->name, 0, 0, 0);
    __atomic_or_fetch(&t->flags, ST_THREAD_EXITED, __ATOMIC_RELEASE);
    uint32_t flags = __atomic_load_n(&t->flags, __ATOMIC_RELAXED);
    if (!(flags & ST_THREAD_SHIM)) program_thread_exiting(flags & ST_THREAD_MAIN);
}

struct st_thread *thread_self_slow(void)
{
    st_in_shim++;
    struct st_thread *t = meta_alloc(sizeof *t);
    if (!t) {
        st_in_shim--;
        return &overflow_thread;
    }
    t->tid = (uint32_t)syscall(SYS_gettid);
    t->parent_idx = UINT32_MAX;
    t->home_arena = ST_NO_ARENA;
    t->start_ns = st_realtime_ns();
    if (t->tid == (uint32_t)getpid()) t->flags |= ST_THREAD_MAIN;
    st_lock(&list_lock);
    uint32_t idx = next_idx;
    uint32_t page = idx / IDX_PAGE;
    if (idx < ST_THREAD_IDX_LIMIT && !idx_pages[page])
        idx_pages[page] = meta_alloc(IDX_PAGE * sizeof(struct st_thread *));
    if (idx >= ST_THREAD_IDX_LIMIT || !idx_pages[page]) {
        st_unlock(&list_lock);
        meta_free(t, sizeof *t);
        st_in_shim--;
        return &overflow_thread;
    }
    next_idx++;
    t->idx = idx;
    __atomic_store_n(&idx_pages[page][idx % IDX_PAGE], t, __ATOMIC_RELEASE);
    /* Readers walk the list without the lock: publish t after it is complete. */
    if (list_tail) __atomic_store_n(&list_tail->next, t, __ATOMIC_RELEASE);
    else __atomic_store_n(&list_head, t, __ATOMIC_RELEASE);
    list_tail = t;
    st_unlock(&list_lock);
    st_tls_thread = t;
    if (exit_key_ok) pthread_setspecific(exit_key, t);
    st_in_shim--;
    return t;
}

void threads_init(void)
{
    nptl_nthreads = dlsym(RTLD_DEFAULT, "__nptl_nthreads");
    exit_key_ok = pthread_key_create(&exit_key, on_thread_exit) == 0;
    struct st_thread *t = thread_self();
    if (exit_key_ok && t != &overflow_thread) pthread_setspecific(exit_key, t);
}

struct st_thread *thread_by_idx(uint32_t idx)
{
    if (idx / IDX_PAGE >= IDX_PAGES) return NULL;
    struct st_thread **page = __atomic_load_n(&idx_pages[idx / IDX_PAGE], __ATOMIC_ACQUIRE);
    return page ? __atomic_load_n(&page[idx % IDX_PAGE], __ATOMIC_ACQUIRE) : NULL;
}

struct st_thread *threads_first(void) { return __atomic_load_n(&list_head, __ATOMIC_ACQUIRE); }

uint64_t threads_activity(void)
{
    uint64_t sum = 0;
    for (struct st_thread *t = threads_first(); t; t = __atomic_load_n(&t->next, __ATOMIC_ACQUIRE))
        sum += __atomic_load_n(&t->allocs, __ATOMIC_RELAXED) + __atomic_load_n(&t->frees, __ATOMIC_RELAXED);
    return sum;
}

void threads_after_fork_child(void)
{
    /* Only the forking thread lives on; the parent's shim threads and reaper did not. */
    __atomic_store_n(&shim_threads, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&reaper_started, 0, __ATOMIC_RELAXED);
    uint64_t now = st_realtime_ns();
    for (struct st_thread *t = threads_first(); t; t = t->next) {
        if (t == st_tls_thread) continue;
        if (!(t->flags & ST_THREAD_EXITED)) { t->exit_ns = now; t->flags |= ST_THREAD_EXITED; }
        t->flags |= ST_THREAD_FORK_PARENT;
    }
    if (st_tls_thread) {
        st_tls_thread->tid = (uint32_t)syscall(SYS_gettid);
        st_tls_thread->flags |= ST_THREAD_MAIN;
    }
}


/* ---- pthread_create */
struct start_args {
    void *(*start)(void *);
    void *arg;
    uint32_t parent_idx;
    uint32_t session;
};

static void *thread_trampoline(void *p)
{
    struct start_args a = *(struct start_args *)p;
    meta_free(p, sizeof a);
    struct st_thread *t = thread_self();
    __atomic_store_n(&t->parent_idx, a.parent_idx, __ATOMIC_RELAXED);
    sessions_thread_start(t, a.session);
    return a.start(a.arg);
}

typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
static pthread_create_fn next_pthread_create;

ST_EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                             void *(*start)(void *), void *arg)
{
    pthread_create_fn real = __atomic_load_n(&next_pthread_create, __ATOMIC_ACQUIRE);
    if (!real) {
        st_in_shim++;
        real = (pthread_create_fn)dlsym(RTLD_NEXT, "pthread_create");
        st_in_shim--;
        if (!real) return EAGAIN;
        __atomic_store_n(&next_pthread_create, real, __ATOMIC_RELEASE);
    }
    struct start_args *a = st_started ? meta_alloc(sizeof *a) : NULL;
    if (!a) return real(thread, attr, start, arg);
    a->start = start;
    a->arg = arg;
    a->parent_idx = thread_self()->idx;
    a->session = st_opt.session_inherit ? st_cur_session : 0;
    int rc = real(thread, attr, thread_trampoline, a);
    if (rc != 0) meta_free(a, sizeof *a);
    control_maybe_start();
    return rc;
}
