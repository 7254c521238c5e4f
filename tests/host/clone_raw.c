/* clone_raw: threads and processes made with the raw clone syscall, as runtimes with their
 * own schedulers (Go, some JITs) do: no pthread_create, no TLS of their own, no atfork
 * handlers. (1) CLONE_VM|CLONE_THREAD threads that only make syscalls while the main
 * thread allocates; (2) processes cloned without CLONE_VM that report through a pipe and
 * exit without allocating. (A raw-cloned child that allocates is not tested: any shim thread
 * that takes glibc's arena lock, as malloc_trim and mallinfo2 do, can leave it held in such
 * a child; with the shim that program is no longer single-threaded.) */
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "host.h"

static volatile int done[4];

static int raw_thread(void *arg)
{
    int i = (int)(uintptr_t)arg;
    char c = 'a' + (char)i;
    for (int k = 0; k < 1000; k++) syscall(SYS_getpid);
    (void)c;
    __atomic_store_n(&done[i], 1, __ATOMIC_RELEASE);
    syscall(SYS_exit, 0);              /* only this thread ends */
    return 0;
}

int main(void)
{
    const size_t stack_size = 64 << 10;
    for (int i = 0; i < 4; i++) {
        char *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        HOST_CHECK(stack != MAP_FAILED, "mmap stack");
        int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
        int tid = clone(raw_thread, stack + stack_size, flags, (void *)(uintptr_t)i);
        HOST_CHECK(tid > 0, "clone thread: %s", strerror(errno));
        host_churn(3000, (unsigned)i + 1);
    }
    for (int i = 0; i < 4; i++)
        while (!__atomic_load_n(&done[i], __ATOMIC_ACQUIRE)) host_sleep_ms(1);
    printf("raw threads done\n");
    int p[2];
    HOST_CHECK(pipe(p) == 0, "pipe");
    for (int i = 0; i < 40; i++) {
        host_churn(500, (unsigned)i);
        host_sleep_ms(3);                /* shim threads get to run between clones */
        pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
        HOST_CHECK(pid >= 0, "clone process: %s", strerror(errno));
        if (pid == 0) {
            char c = (char)('a' + i % 26);
            syscall(SYS_write, p[1], &c, 1);
            syscall(SYS_exit_group, 4);
        }
        char c;
        HOST_CHECK(read(p[0], &c, 1) == 1 && c == 'a' + i % 26, "cloned child %d: no message", i);
        int st;
        HOST_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 4, "cloned child %d status %#x", i, st);
    }
    printf("raw processes done\n");
    return 0;
}
