/* process.c: the shim's life cycle: the constructor that wires every part, the exit dump,
 * fork handling (the child keeps working and dumps under its own pid) and RSS. */
#include <dlfcn.h>
#include <link.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <errno.h>
#include <sys/syscall.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#include "shim.h"
#include "pyframes.h"
#include "dump_parts.h"
#include "service.h"

pid_t st_pid;
uint64_t st_start_realtime_ns;
uint32_t st_process_flags;

uint64_t proc_rss_bytes(void)
{
    char buf[128];
    if (!st_read_small_file(ST_PROC_SELF "/statm", buf, sizeof buf)) return 0;
    char *p = strchr(buf, ' ');
    return p ? strtoull(p + 1, NULL, 10) * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

static void at_exit_dump(void)
{
    if (!st_started) return;
    if (st_opt.dump_path[0]) dump_write(NULL, ST_DUMP_EXIT);
}

/* Fork. No shim lock is held across fork() (lock.h says why: stdio's list lock would close a
 * deadlock cycle) and the handlers wait for nothing, so fork() stays usable from a signal
 * handler that interrupted the shim or fork() itself (glibc's tst-mallocfork2). The
 * forking thread only raises its guard, so glibc's own allocations during fork pass
 * through. The child repairs what another thread may have left half-changed (lock.c),
 * then drops what belongs to the parent: its start time, timeline, trims, service threads.
 * Those threads are not restarted here (pthread_create in an atfork handler that may run
 * in a signal handler is not safe): the child's first allocation restarts them. */
static void fork_prepare(void) { st_in_shim++; }
static void fork_parent(void) { st_in_shim--; }

static void fork_child(void)
{
    st_locks_after_fork_child();
    st_pid = (pid_t)syscall(SYS_getpid);
    st_start_realtime_ns = st_realtime_ns();
    st_process_flags |= ST_PROC_FORK_CHILD;
    dump_after_fork_child();
    arena_registry_after_fork_child();
    threads_after_fork_child();
    sessions_after_fork_child();
    stacks_after_fork_child();
    timeline_after_fork_child();
    trim_after_fork_child();
    service_after_fork_child();
    __atomic_store_n(&st_child_restart, true, __ATOMIC_RELEASE);
    hooks_malloc_detour();        /* the next allocation takes the slow path: restart there */
    st_in_shim--;
}

bool st_child_restart;

void process_child_restart(void)
{
    if (!__atomic_exchange_n(&st_child_restart, false, __ATOMIC_ACQ_REL)) return;
    st_in_shim++;
    trim_child_restart();
    service_child_restart();
    st_in_shim--;
}

typedef pid_t (*fork_fn)(void);
static fork_fn next_fork;   /* resolved in the constructor: fork() may be called from a
                               signal handler, where dlsym (which allocates) must not run */

/* fork is wrapped only to make sure the shim is started; the work is in the atfork
 * handlers, which also cover fork() called from inside libc (e.g. by system()). */
/* fork() called by a signal handler that interrupted fork() or malloc/free on the same
 * thread. glibc makes that safe only in a single-threaded process, where its fork takes no
 * lock (tst-mallocfork2); the shim's own threads make every process multi-threaded in
 * glibc's eyes, so glibc's fork would wait for the atfork lock or the arena lock the
 * interrupted call holds: a hang the program would not have without the shim. Such a call
 * goes to _Fork() (glibc 2.34: the async-signal-safe fork, no handlers, no locks) and the
 * shim's child handler runs by hand. (Interrupted inside other glibc locks, e.g. stdio's,
 * fork from a handler is as unsafe as in any multi-threaded program: docs/design.md.) */
static ST_TLS int forking;
static fork_fn raw_fork;

ST_EXPORT pid_t fork(void)
{
    if (!next_fork) {
        st_in_shim++;
        next_fork = (fork_fn)dlsym(RTLD_NEXT, "fork");
        st_in_shim--;
        if (!next_fork) { errno = ENOSYS; return -1; }
    }
    if (ST_UNLIKELY(forking || st_in_alloc) && raw_fork) {
        st_in_shim++;
        pid_t pid = raw_fork();
        if (pid == 0) fork_child();   /* lowers the guard itself */
        else st_in_shim--;
        return pid;
    }
    forking++;
    pid_t pid = next_fork();
    forking--;
    return pid;
}

struct object_query { uintptr_t addr, base; const char *name; };

static int object_visit(struct dl_phdr_info *info, size_t len, void *arg)
{
    (void)len;
    struct object_query *q = arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && q->addr >= start && q->addr - start < ph->p_memsz) {
            q->base = info->dlpi_addr;
            q->name = info->dlpi_name ? info->dlpi_name : "";
            return 1;
        }
    }
    return 0;
}

const char *st_object_of(const void *addr, uintptr_t *base)
{
    struct object_query q = {(uintptr_t)addr, 0, NULL};
    if (!addr || !dl_iterate_phdr(object_visit, &q)) return NULL;
    if (base) *base = q.base;
    return q.name;
}

/* Say, once at start and in every dump, when the shim does not see what it claims to see:
 * another malloc bound ahead of it (jemalloc, tcmalloc or libc_malloc_debug.so listed before
 * it in LD_PRELOAD, or linked into the program), or a non-glibc malloc behind it. */
static void check_interposition(void)
{
    uintptr_t mine = 0, theirs = 0;
    void *first = symbol_as_bound(RTLD_DEFAULT, "malloc");
    const char *first_name = st_object_of(first, &theirs);
    if (first_name && st_object_of((void *)check_interposition, &mine) && theirs != mine) {
        st_process_flags |= ST_PROC_NOT_INTERPOSED;
        st_log("malloc comes from %s, loaded ahead of sesstrim: sesstrim does not see the program's "
               "allocations (put sesstrim first in LD_PRELOAD)", *first_name ? first_name : "the program itself");
    }
    if (st_foreign_malloc) {
        const char *who = st_object_of((void *)st_real.malloc, NULL);
        if (!who || !*who) who = "?";
        if (strstr(who, "libc_malloc_debug")) {
            st_process_flags |= ST_PROC_MALLOC_DEBUG;
            st_log("glibc's malloc debugging (%s) serves malloc behind sesstrim: its checks stay on, "
                   "allocations are tracked, arena attribution is off", who);
        } else {
            st_log("malloc is not glibc's (%s): arena attribution off, allocations still tracked", who);
        }
    }
}

__attribute__((constructor)) static void shim_start(void)
{
    st_in_shim++;
    hooks_malloc_resolve();
    next_fork = (fork_fn)dlsym(RTLD_NEXT, "fork");
    raw_fork = (fork_fn)dlsym(RTLD_DEFAULT, "_Fork");
    st_pid = getpid();
    st_start_realtime_ns = st_realtime_ns();
    options_parse();              /* opens the log itself, before warning about anything */
    if (!service_follow_check()) { st_in_shim--; return; }   /* issue 12: untraced exec'd helper */
    check_interposition();
    if (!st_foreign_malloc) {
        glibc_arena_init();
        if (!st_arena_logic) st_process_flags |= ST_PROC_UNVERIFIED_GLIBC;
    }
    threads_init();
    stacks_init();
    pyframes_init();
    if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0)
        st_log("pthread_atfork failed: a fork child may inherit a busy lock");
    trim_init();
    atexit(at_exit_dump);
    st_started = true;
    hooks_malloc_start();
    service_start();
    st_in_shim--;
}
