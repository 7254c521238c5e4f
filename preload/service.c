/* service.c: the shim's background thread: dumps on SESSTRIM_DUMP_SIGNAL (the handler only
 * writes a byte to a pipe), periodic dumps and timeline samples. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include "shim.h"
#include "dump_parts.h"
#include "service.h"

static int wake_pipe[2] = {-1, -1};
static bool service_wanted;

typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

int shim_thread_create(void *(*fn)(void *), void *arg)
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

static void on_dump_signal(int sig)
{
    (void)sig;
    int saved = errno;
    char c = 1;
    ssize_t w = write(wake_pipe[1], &c, 1);
    (void)w;
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
        int timeout = -1;
        if (due) timeout = due > now ? (int)((due - now + 999999) / 1000000) : 0;
        struct pollfd pfd = {.fd = wake_pipe[0], .events = POLLIN};
        int r = poll(&pfd, wake_pipe[0] >= 0 ? 1 : 0, timeout);
        if (r > 0 && (pfd.revents & POLLIN)) {
            char buf[64];
            while (read(wake_pipe[0], buf, sizeof buf) > 0) {}
            dump_write(NULL, ST_DUMP_SIGNAL);
        }
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
        if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
            st_log("SESSTRIM_DUMP_SIGNAL: pipe failed (%s); signal dumps off", strerror(errno));
        } else {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_dump_signal;
            sa.sa_flags = SA_RESTART;
            sigemptyset(&sa.sa_mask);
            if (sigaction(st_opt.dump_signal, &sa, NULL) != 0)
                st_log("SESSTRIM_DUMP_SIGNAL=%d: sigaction failed (%s)", st_opt.dump_signal, strerror(errno));
        }
    }
    if (shim_thread_create(service_main, NULL) != 0)
        st_log("could not start the service thread: no signal/periodic dumps or timeline");
}

void service_after_fork_child(void)
{
    if (service_wanted && shim_thread_create(service_main, NULL) != 0)
        st_log("fork child: could not restart the service thread");
}
