/* process.c: the shim's life cycle: the constructor that wires every part, the exit dump,
 * fork handling (the child keeps working and dumps under its own pid) and RSS. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#include "shim.h"
#include "dump_parts.h"
#include "service.h"

pid_t st_pid;
uint64_t st_start_realtime_ns;
uint32_t st_process_flags;

uint64_t proc_rss_bytes(void)
{
    char buf[128];
    if (!st_read_small_file("/proc/self/statm", buf, sizeof buf)) return 0;
    char *p = strchr(buf, ' ');
    return p ? strtoull(p + 1, NULL, 10) * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

static void at_exit_dump(void)
{
    if (!st_started) return;
    if (st_opt.dump_path[0]) dump_write(NULL, ST_DUMP_EXIT);
}

/* Fork: hold every shim lock across fork() so the child never inherits one half-taken.
 * The order is the lock order used everywhere else (outermost first). */
static void fork_prepare(void)
{
    st_in_shim++;
    trim_before_fork();
    dump_lock_for_fork();
    sessions_lock_all();
    mmaps_lock_all();
    livetable_lock_all();
    threads_lock_for_fork();
    meta_lock_for_fork();
}

static void fork_parent(void)
{
    meta_unlock_for_fork();
    threads_unlock_for_fork();
    livetable_unlock_all();
    mmaps_unlock_all();
    sessions_unlock_all();
    dump_unlock_for_fork();
    trim_after_fork_parent();
    st_in_shim--;
}

static void fork_child(void)
{
    meta_after_fork_child();
    threads_unlock_for_fork();
    livetable_unlock_all();
    mmaps_unlock_all();
    sessions_unlock_all();
    dump_after_fork_child();
    arena_registry_after_fork_child();
    st_pid = getpid();
    st_process_flags |= ST_PROC_FORK_CHILD;
    threads_after_fork_child();
    sessions_after_fork_child();
    trim_after_fork_child();
    service_after_fork_child();
    st_in_shim--;
}

typedef pid_t (*fork_fn)(void);

/* fork is wrapped only to make sure the shim is started; the work is in the atfork
 * handlers, which also cover fork() called from inside libc (e.g. by system()). */
ST_EXPORT pid_t fork(void)
{
    static fork_fn next_fork;
    if (!next_fork) {
        st_in_shim++;
        next_fork = (fork_fn)dlsym(RTLD_NEXT, "fork");
        st_in_shim--;
        if (!next_fork) return -1;
    }
    return next_fork();
}

static void check_interposition(void)
{
    void *first = dlsym(RTLD_DEFAULT, "malloc");
    if (first && first != (void *)&malloc) {
        Dl_info info;
        const char *who = dladdr(first, &info) && info.dli_fname ? info.dli_fname : "another library";
        st_log("malloc comes from %s, loaded ahead of sesstrim: allocations will not be tracked", who);
    }
    if (st_foreign_malloc) {
        Dl_info info;
        const char *who = dladdr((void *)st_real.malloc, &info) && info.dli_fname ? info.dli_fname : "?";
        st_log("malloc is not glibc's (%s): arena attribution off, allocations still tracked", who);
    }
}

__attribute__((constructor)) static void shim_start(void)
{
    st_in_shim++;
    hooks_malloc_resolve();
    st_pid = getpid();
    st_start_realtime_ns = st_realtime_ns();
    options_parse();              /* opens the log itself, before warning about anything */
    check_interposition();
    if (!st_foreign_malloc) {
        glibc_arena_init();
        if (!st_arena_logic) st_process_flags |= ST_PROC_UNVERIFIED_GLIBC;
    }
    threads_init();
    stacks_init();
    if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0)
        st_log("pthread_atfork failed: a fork child may inherit a busy lock");
    trim_init();
    atexit(at_exit_dump);
    st_started = true;
    hooks_malloc_start();
    service_start();
    st_in_shim--;
}
