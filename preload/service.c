/* service.c: the shim's background thread. It writes dumps on SESSTRIM_DUMP_SIGNAL (the
 * handler only wakes it), periodic dumps, timeline samples and the SESSTRIM_METRICS file,
 * serves the control socket (control.c), and writes the dump a SIGTERM/SIGINT asks for
 * before letting that signal take its default action. It also decides, at start, whether
 * an exec'd descendant is traced at all (SESSTRIM_FOLLOW_CHILDREN).
 *
 * Per-process cost (issue 13): the thread starts at once only when an option needs it;
 * otherwise control_maybe_start() starts it after the process has lived 1 s, so a short
 * process never pays for a thread or a socket. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/syscall.h>
#include <time.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include "shim.h"
#include "dump_parts.h"
#include "service.h"

/* The signal handlers wake the service thread through a futex word in this process's own
 * memory (no fd: a pipe's fds were closed or reused by daemons that close every inherited
 * fd), and, when it waits in poll() on the control socket, by connecting to that socket. */
static int wake_word;                 /* 1: something for the thread to do */
static int dump_requested;            /* 1: a dump signal arrived */
static int term_pending;              /* a SIGTERM/SIGINT waiting for its dump */
static int exit_dump_word;            /* 1: _exit asked for a dump, 2: written */
static int svc_running;               /* atomic: the thread runs in this process */
static bool service_wanted;           /* an option needs the thread from the start */

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

void shim_thread_settle(void)
{
    /* Daemons close every inherited fd (close_range) and open their own first thing in main;
     * a shim thread opening /proc files at that moment races them for the low numbers. The
     * shim's threads start their work 100 ms after the process (or fork child) does. */
    uint64_t since = st_realtime_ns() - st_start_realtime_ns;
    if (since < 100000000ull) {
        struct timespec ts = {0, (long)(100000000ull - since)};
        nanosleep(&ts, NULL);
    }
}

int shim_thread_create(void *(*fn)(void *), void *arg)
{
    int rc = shim_thread_create_raw(fn, arg);
    if (rc == 0) threads_shim_started();
    return rc;
}

static void wake(void)
{
    __atomic_store_n(&wake_word, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &wake_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void on_dump_signal(int sig)
{
    (void)sig;
    int saved = errno;
    __atomic_store_n(&dump_requested, 1, __ATOMIC_RELEASE);
    wake();
    errno = saved;
}

/* ---------------------------------------------------------------- SIGTERM / SIGINT
 * With SESSTRIM_DUMP set, a SIGTERM or SIGINT whose disposition is the default writes a dump
 * first. The handler cannot write it (a dump takes the shim's locks and glibc's arena locks,
 * which the interrupted thread may hold), so it hands the signal to the service thread,
 * which dumps, restores the default action and sends the signal again: the process ends as
 * it would have without the shim (killed by that signal, same wait status). Without a
 * running service thread, or on a second signal while the first is pending, the default
 * action is taken at once (no dump).
 * The handler is invisible: sigaction() and signal() are wrapped so the program reads
 * SIG_DFL (Python, for one, installs its SIGINT handler only over SIG_DFL), and the first
 * handler the program installs replaces ours for good. A SIG_IGN inherited from the parent
 * (nohup) is left alone. */
typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
typedef void (*sighandler_fn)(int);
typedef sighandler_fn (*signal_fn)(int, sighandler_fn);
typedef void (*exit_fn)(int);
static exit_fn real_exit, real_Exit;  /* _exit and _Exit, wrapped below */
static sigaction_fn real_sigaction;
static signal_fn real_signal;
static int ours[2];                   /* atomic: our handler is installed on SIGTERM, SIGINT */

static int term_slot(int sig) { return sig == SIGTERM ? 0 : sig == SIGINT ? 1 : -1; }

static void resolve_signal_functions(void)
{
    if (real_sigaction && real_signal && real_exit) return;
    st_in_shim++;
    real_sigaction = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
    real_signal = (signal_fn)dlsym(RTLD_NEXT, "signal");
    real_exit = (exit_fn)dlsym(RTLD_NEXT, "_exit");
    real_Exit = (exit_fn)dlsym(RTLD_NEXT, "_Exit");
    st_in_shim--;
}

static void take_default_now(int sig)
{
    int k = term_slot(sig);
    if (k >= 0) __atomic_store_n(&ours[k], 0, __ATOMIC_RELEASE);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    real_sigaction(sig, &dfl, NULL);
}

static void on_term_signal(int sig)
{
    int saved = errno;
    int expected = 0;
    if (__atomic_load_n(&svc_running, __ATOMIC_ACQUIRE) &&
        __atomic_compare_exchange_n(&term_pending, &expected, sig, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
        wake();
    } else {
        /* Blocked while this handler runs: delivered, with the default action, on return. */
        take_default_now(sig);
        raise(sig);
    }
    errno = saved;
}

static void finish_term(void)
{
    int sig = __atomic_load_n(&term_pending, __ATOMIC_ACQUIRE);
    if (!sig) return;
    dump_write(NULL, ST_DUMP_SIGNAL);
    int k = term_slot(sig);
    /* If the program installed its own handler meanwhile, it gets the signal instead. */
    if (k >= 0 && __atomic_load_n(&ours[k], __ATOMIC_ACQUIRE)) take_default_now(sig);
    kill(getpid(), sig);
}

static void install_term_handlers(void)
{
    if (!st_opt.dump_path[0] || !st_opt.dump_on_term) return;
    resolve_signal_functions();
    if (!real_sigaction) return;
    static const int sigs[2] = {SIGTERM, SIGINT};
    for (int k = 0; k < 2; k++) {
        struct sigaction old, sa;
        if (real_sigaction(sigs[k], NULL, &old) != 0 || old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO)) continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_term_signal;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        __atomic_store_n(&ours[k], 1, __ATOMIC_RELEASE);
        if (real_sigaction(sigs[k], &sa, NULL) != 0) __atomic_store_n(&ours[k], 0, __ATOMIC_RELEASE);
    }
}

ST_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (ST_UNLIKELY(!real_sigaction)) resolve_signal_functions();
    if (!real_sigaction) { errno = ENOSYS; return -1; }
    int k = term_slot(sig);
    if (k < 0 || !__atomic_load_n(&ours[k], __ATOMIC_ACQUIRE)) return real_sigaction(sig, act, old);
    if (act) __atomic_store_n(&ours[k], 0, __ATOMIC_RELEASE);   /* theirs replaces ours */
    int rc = real_sigaction(sig, act, old);
    if (rc == 0 && old) {
        memset(old, 0, sizeof *old);
        old->sa_handler = SIG_DFL;
    }
    return rc;
}

ST_EXPORT sighandler_fn signal(int sig, sighandler_fn handler)
{
    if (ST_UNLIKELY(!real_signal)) resolve_signal_functions();
    if (!real_signal) { errno = ENOSYS; return SIG_ERR; }
    int k = term_slot(sig);
    if (k < 0 || !__atomic_load_n(&ours[k], __ATOMIC_ACQUIRE)) return real_signal(sig, handler);
    __atomic_store_n(&ours[k], 0, __ATOMIC_RELEASE);
    sighandler_fn prev = real_signal(sig, handler);
    return prev == SIG_ERR ? SIG_ERR : SIG_DFL;
}

/* ---------------------------------------------------------------- _exit
 * exit() writes the exit dump from an atexit handler; _exit and _Exit skip those. Programs
 * that end that way (dash, Python's os._exit in multiprocessing workers, fork children) get
 * their dump from the service thread: the caller asks for it and waits at most
 * EXIT_DUMP_WAIT_NS, then exits. Never written by the calling thread itself: _exit is
 * async-signal-safe and may be called from a handler that interrupted malloc, with an arena
 * lock held; the service thread would then block on it and the wait simply times out.
 * Not covered (documented): no service thread running (SESSTRIM_DUMP unset or
 * SESSTRIM_DUMP_ON_TERM=off, or a fork child that has not allocated since the fork), a
 * vfork child (it shares its parent's memory: the pid check skips it), libc's own internal
 * calls (posix_spawn's child), the exit_group syscall made directly. */
#define EXIT_DUMP_WAIT_NS 3000000000ull

static void dump_before_exit(void)
{
    if (!st_started || !st_opt.dump_path[0] || st_in_shim) return;
    if ((pid_t)syscall(SYS_getpid) != st_pid) return;          /* vfork child */
    if (!__atomic_load_n(&svc_running, __ATOMIC_ACQUIRE)) return;
    int expected = 0;
    if (!__atomic_compare_exchange_n(&exit_dump_word, &expected, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) return;
    wake();
    uint64_t deadline = st_now_ns() + EXIT_DUMP_WAIT_NS;
    for (;;) {
        if (__atomic_load_n(&exit_dump_word, __ATOMIC_ACQUIRE) == 2) return;
        uint64_t now = st_now_ns();
        if (now >= deadline) return;
        struct timespec ts = {(time_t)((deadline - now) / 1000000000ull), (long)((deadline - now) % 1000000000ull)};
        syscall(SYS_futex, &exit_dump_word, FUTEX_WAIT_PRIVATE, 1, &ts, NULL, 0);
    }
}

ST_EXPORT __attribute__((noreturn)) void _exit(int status)
{
    dump_before_exit();
    if (real_exit) real_exit(status);
    for (;;) syscall(SYS_exit_group, status);
}

ST_EXPORT __attribute__((noreturn)) void _Exit(int status)
{
    dump_before_exit();
    if (real_Exit) real_Exit(status);
    for (;;) syscall(SYS_exit_group, status);
}

/* ---------------------------------------------------------------- the thread */
static uint64_t min_nonzero(uint64_t a, uint64_t b) { return !a ? b : !b ? a : a < b ? a : b; }

/* Wait until `due_mono` (0: no deadline) or a wake-up: in poll() on the control socket when
 * it is open (a client wakes it; a wake-up is seen within 250 ms), on the futex word otherwise. */
static void wait_for_work(uint64_t due_mono)
{
    uint64_t now = st_now_ns();
    if (due_mono && due_mono <= now) return;
    if (__atomic_load_n(&wake_word, __ATOMIC_ACQUIRE)) return;
    int fd = control_fd();
    if (fd >= 0) {
        /* A wake-up (dump signal, SIGTERM, _exit) cannot interrupt poll() without an fd of
         * ours to write to, and opening one from a signal handler would sit on a low fd
         * number the program may be about to get: poll at most 250 ms, then look. */
        int ms = 250;
        if (due_mono) {
            uint64_t w = (due_mono - now + 999999) / 1000000;
            if (w < 250) ms = (int)w;
        }
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, ms) > 0 && (p.revents & POLLIN) && control_fd() == fd) control_serve(fd);
        return;
    }
    struct timespec ts, *tsp = NULL;
    if (due_mono) {
        uint64_t w = due_mono - now;
        ts.tv_sec = (time_t)(w / 1000000000ull);
        ts.tv_nsec = (long)(w % 1000000000ull);
        tsp = &ts;
    }
    syscall(SYS_futex, &wake_word, FUTEX_WAIT_PRIVATE, 0, tsp, NULL, 0);
}

/* shim_thread_settle, cut short when the process is ending: a short process that calls
 * _exit (dash does, at the end of every `sh -c`) waited for the thread's 100 ms settle
 * before its exit dump (issue 13: 109 ms a pipeline instead of 10). An ending process opens
 * nothing of its own any more, which is what the settle protects. */
static void settle_unless_ending(void)
{
    for (;;) {
        uint64_t since = st_realtime_ns() - st_start_realtime_ns;
        int woken = __atomic_load_n(&wake_word, __ATOMIC_ACQUIRE);
        if (since >= 100000000ull || __atomic_load_n(&exit_dump_word, __ATOMIC_ACQUIRE) == 1 ||
            __atomic_load_n(&term_pending, __ATOMIC_ACQUIRE))
            return;
        uint64_t left = 100000000ull - since;
        if (woken) {   /* another wake-up (a dump signal) is pending: look again in 10 ms */
            struct timespec ts = {0, (long)(left < 10000000ull ? left : 10000000ull)};
            nanosleep(&ts, NULL);
            continue;
        }
        struct timespec ts = {0, (long)left};
        syscall(SYS_futex, &wake_word, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
    }
}

static void *service_main(void *arg)
{
    (void)arg;
    prctl(PR_SET_NAME, "sesstrim-svc", 0, 0, 0);
    settle_unless_ending();
    struct st_thread *me = thread_self();
    __atomic_or_fetch(&me->flags, ST_THREAD_SHIM, __ATOMIC_RELAXED);
    uint64_t now = st_now_ns();
    const uint64_t ms = 1000000;
    uint64_t next_sample = st_opt.timeline_interval_ms ? now + st_opt.timeline_interval_ms * ms : 0;
    uint64_t next_dump = st_opt.dump_interval_ms ? now + st_opt.dump_interval_ms * ms : 0;
    uint64_t next_metrics = st_opt.metrics_path[0] ? now : 0;
    if (next_sample) timeline_sample(ST_EV_SAMPLE, 0);
    for (;;) {
        uint64_t due = min_nonzero(min_nonzero(next_sample, next_dump), next_metrics);
        uint64_t open_at;
        if (control_due(&open_at)) {
            uint64_t rt = st_realtime_ns();
            uint64_t mono = st_now_ns() + (open_at > rt ? open_at - rt : 0);
            due = min_nonzero(due, mono);
        }
        wait_for_work(due);
        __atomic_store_n(&wake_word, 0, __ATOMIC_RELEASE);
        if (__atomic_load_n(&term_pending, __ATOMIC_ACQUIRE)) finish_term();
        if (__atomic_load_n(&exit_dump_word, __ATOMIC_ACQUIRE) == 1) {
            dump_write(NULL, ST_DUMP_EXIT);
            __atomic_store_n(&exit_dump_word, 2, __ATOMIC_RELEASE);
            syscall(SYS_futex, &exit_dump_word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
        }
        if (__atomic_exchange_n(&dump_requested, 0, __ATOMIC_ACQ_REL)) dump_write(NULL, ST_DUMP_SIGNAL);
        if (control_due(&open_at) && st_realtime_ns() >= open_at) control_open();
        now = st_now_ns();
        if (next_sample && now >= next_sample) {
            timeline_sample(ST_EV_SAMPLE, 0);
            next_sample += st_opt.timeline_interval_ms * ms;
            if (next_sample < now) next_sample = now + st_opt.timeline_interval_ms * ms;
        }
        if (next_dump && now >= next_dump) {
            dump_write(NULL, ST_DUMP_PERIODIC);
            /* A dump may take long (65 k mappings: 7 MB of smaps to read, glibc's
             * tst-free-errno went from 0.7 s to 88 s with a 50 ms interval): periodic dumps
             * never take more than 5% of the time, whatever the interval says. */
            uint64_t took = st_now_ns() - now, gap = st_opt.dump_interval_ms * ms;
            if (took * 20 > gap) gap = took * 20;
            next_dump = now + gap;
        }
        if (next_metrics && now >= next_metrics) {
            metrics_write_file();
            next_metrics = st_now_ns() + st_opt.metrics_interval_ms * ms;
        }
    }
    return NULL;
}

int service_dump_on_sigterm(void)
{
    if (!st_opt.dump_path[0]) return -1;
    st_opt.dump_on_term = true;
    install_term_handlers();
    if (!__atomic_load_n(&ours[0], __ATOMIC_ACQUIRE)) return -1;
    service_ensure_running();
    return __atomic_load_n(&svc_running, __ATOMIC_ACQUIRE) ? 0 : -1;
}

void service_ensure_running(void)
{
    int expected = 0;
    if (!__atomic_compare_exchange_n(&svc_running, &expected, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) return;
    if (shim_thread_create(service_main, NULL) != 0) {
        __atomic_store_n(&svc_running, 0, __ATOMIC_RELEASE);
        static bool said;
        if (!said) { said = true; st_log("could not start the service thread: no signal/periodic dumps, metrics or control socket"); }
    }
}

/* The shim opens its files above ST_HIGH_FD (a dump, a log line, /proc files), which makes
 * the kernel grow the fd table past its initial 64 slots. Grown while other threads share
 * the table, that waits for an RCU grace period (expand_fdtable: synchronize_rcu), ~8 ms of
 * wall time in a process that had the service thread started: every short process run with
 * SESSTRIM_DUMP paid it at its exit dump (issue 13). Grown here, from the constructor, before
 * the shim starts its thread, it costs two syscalls and no wait. Skipped if fd 2 is closed or
 * RLIMIT_NOFILE is lower (st_open_high then keeps low fds anyway). */
static void grow_fd_table(void)
{
    int fd = fcntl(2, F_DUPFD_CLOEXEC, ST_HIGH_FD);
    if (fd >= 0) close(fd);
}

void service_start(void)
{
    service_wanted = st_opt.dump_signal || st_opt.dump_interval_ms || st_opt.timeline_interval_ms ||
                     st_opt.metrics_path[0] || (st_opt.dump_path[0] && st_opt.dump_on_term);
    if ((st_opt.dump_signal || st_opt.dump_interval_ms) && !st_opt.dump_path[0]) {
        st_log("SESSTRIM_DUMP_SIGNAL/SESSTRIM_DUMP_INTERVAL need SESSTRIM_DUMP=path: those dumps are off");
    }
    if (st_opt.dump_signal) {
        resolve_signal_functions();
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_dump_signal;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (!real_sigaction || real_sigaction(st_opt.dump_signal, &sa, NULL) != 0)
            st_log("SESSTRIM_DUMP_SIGNAL=%d: sigaction failed (%s)", st_opt.dump_signal, strerror(errno));
    }
    resolve_signal_functions();   /* now, not from a signal handler calling _exit later */
    install_term_handlers();
    if (service_wanted) {
        grow_fd_table();
        service_ensure_running();
    }
}

void service_after_fork_child(void)
{
    /* A signal the parent received before fork is the parent's, not the child's; its
     * threads did not follow. */
    __atomic_store_n(&wake_word, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&dump_requested, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&term_pending, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&exit_dump_word, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&svc_running, 0, __ATOMIC_RELAXED);
    control_after_fork_child();
}

void service_child_restart(void)
{
    if (service_wanted) service_ensure_running();
}

/* ---------------------------------------------------------------- following exec'd children */
extern char **environ;

/* Remove every LD_PRELOAD entry naming this library (same file name), in place: the string
 * only gets shorter. Children spawned by any means (fork+exec, posix_spawn, system, popen)
 * then start without the shim. */
static void strip_self_from_ld_preload(void)
{
    Dl_info me;
    if (!dladdr((void *)strip_self_from_ld_preload, &me) || !me.dli_fname) return;
    const char *base = strrchr(me.dli_fname, '/');
    base = base ? base + 1 : me.dli_fname;
    size_t blen = strlen(base);
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "LD_PRELOAD=", 11) != 0) continue;
        char *in = *e + 11, *out = in;
        while (*in) {
            size_t n = strcspn(in, ": ");
            const char *slash = NULL;
            for (size_t i = 0; i < n; i++) if (in[i] == '/') slash = in + i;
            const char *name = slash ? slash + 1 : in;
            bool mine = (size_t)(in + n - name) == blen && !memcmp(name, base, blen);
            if (!mine && n) {
                if (out != *e + 11) *out++ = ':';
                memmove(out, in, n);
                out += n;
            }
            in += n;
            while (*in == ':' || *in == ' ') in++;
        }
        *out = 0;
    }
}

bool service_follow_check(void)
{
    if (st_opt.follow_children) return true;
    pid_t me = st_pid;                /* set by the constructor just before */
    if (!st_opt.run_pid) {
        /* No root named: this process is it. Its exec'd image (same pid) stays traced. */
        char v[24];
        snprintf(v, sizeof v, "%d", (int)me);
        setenv("SESSTRIM_RUN_PID", v, 1);
        return true;
    }
    if ((pid_t)st_opt.run_pid == me) return true;
    strip_self_from_ld_preload();
    return false;
}
