/* service.c: the shim's background thread: dumps on SESSTRIM_DUMP_SIGNAL (the handler only
 * wakes a futex), periodic dumps and timeline samples. */
#include <dlfcn.h>
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include "shim.h"
#include "dump_parts.h"
#include "service.h"

/* The signal handler wakes the service thread through a futex word in this process's own
 * memory: no fd (a pipe's fds were closed or reused by daemons that close every inherited fd,
 * and a forked child shared the parent's pipe, so signalling one process dumped another). */
static int wake_word;                 /* 1: a dump signal arrived */
static bool service_wanted;

typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

int shim_thread_create_raw(void *(*fn)(void *), void *arg)
{
    st_in_shim++;
    pthread_create_fn real = (pthread_create_fn)dlsym(RTLD_NEXT, "pthread_create");
    st_in_shim--;
    if (!real) return -1;
    /* Block every signal before creating it, so it is born with them blocked: a host's
     * handler never runs on a shim thread, and a trim or dump is never interrupted. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 << 10);   /* they keep big buffers static */
    pthread_t th;
    st_in_shim++;
    int rc = real(&th, &attr, fn, arg);
    st_in_shim--;
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

int shim_thread_create(void *(*fn)(void *), void *arg)
{
    int rc = shim_thread_create_raw(fn, arg);
    if (rc == 0) threads_shim_started();
    return rc;
}

static void on_dump_signal(int sig)
{
    (void)sig;
    int saved = errno;
    __atomic_store_n(&wake_word, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &wake_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    errno = saved;
}

static uint64_t min_nonzero(uint64_t a, uint64_t b) { return !a ? b : !b ? a : a < b ? a : b; }

static void *service_main(void *arg)
{
    (void)arg;
    prctl(PR_SET_NAME, "sesstrim-svc", 0, 0, 0);
    struct st_thread *me = thread_self();
    __atomic_or_fetch(&me->flags, ST_THREAD_SHIM, __ATOMIC_RELAXED);
    uint64_t now = st_now_ns();
    uint64_t next_sample = st_opt.timeline_interval_ms ? now + st_opt.timeline_interval_ms * 1000000 : 0;
    uint64_t next_dump = st_opt.dump_interval_ms ? now + st_opt.dump_interval_ms * 1000000 : 0;
    if (next_sample) timeline_sample(ST_EV_SAMPLE, 0);
    for (;;) {
        now = st_now_ns();
        uint64_t due = min_nonzero(next_sample, next_dump);
        struct timespec ts, *tsp = NULL;
        if (due) {
            uint64_t wait = due > now ? due - now : 0;
            ts.tv_sec = (time_t)(wait / 1000000000ull);
            ts.tv_nsec = (long)(wait % 1000000000ull);
            tsp = &ts;
        }
        if (!__atomic_load_n(&wake_word, __ATOMIC_ACQUIRE) && (!tsp || ts.tv_sec || ts.tv_nsec))
            syscall(SYS_futex, &wake_word, FUTEX_WAIT_PRIVATE, 0, tsp, NULL, 0);
        if (__atomic_exchange_n(&wake_word, 0, __ATOMIC_ACQ_REL))
            dump_write(NULL, ST_DUMP_SIGNAL);
        now = st_now_ns();
        if (next_sample && now >= next_sample) {
            timeline_sample(ST_EV_SAMPLE, 0);
            next_sample += st_opt.timeline_interval_ms * 1000000;
            if (next_sample < now) next_sample = now + st_opt.timeline_interval_ms * 1000000;
        }
        if (next_dump && now >= next_dump) {
            dump_write(NULL, ST_DUMP_PERIODIC);
            next_dump = now + st_opt.dump_interval_ms * 1000000;
        }
    }
    return NULL;
}

void service_start(void)
{
    service_wanted = st_opt.dump_signal || st_opt.dump_interval_ms || st_opt.timeline_interval_ms;
    if (!service_wanted) return;
    if ((st_opt.dump_signal || st_opt.dump_interval_ms) && !st_opt.dump_path[0]) {
        st_log("SESSTRIM_DUMP_SIGNAL/SESSTRIM_DUMP_INTERVAL need SESSTRIM_DUMP=path: those dumps are off");
    }
    if (st_opt.dump_signal) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_dump_signal;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (sigaction(st_opt.dump_signal, &sa, NULL) != 0)
            st_log("SESSTRIM_DUMP_SIGNAL=%d: sigaction failed (%s)", st_opt.dump_signal, strerror(errno));
    }
    if (shim_thread_create(service_main, NULL) != 0)
        st_log("could not start the service thread: no signal/periodic dumps or timeline");
}

void service_after_fork_child(void)
{
    /* A signal the parent received before fork is the parent's, not the child's. */
    __atomic_store_n(&wake_word, 0, __ATOMIC_RELAXED);
}

void service_child_restart(void)
{
    if (service_wanted && shim_thread_create(service_main, NULL) != 0)
        st_log("fork child: could not restart the service thread");
}
