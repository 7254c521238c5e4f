/* lock.c: the slow path of the shim's lock (futex), the debug-build rank checker and the
 * fork-child walk over every registered lock. The protocol is Drepper's "Futexes Are
 * Tricky" mutex #2 with the owner's tid as the held value (lock.h). */
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "shim.h"

/* Spin this many pauses before sleeping: a shard or counter critical section is a few
 * dozen nanoseconds, so a holder that is running releases well within it; a holder that
 * was descheduled (threads outnumber cores) is waited for in the kernel, not by spinning. */
#define SPIN_PAUSES 100

static long futex(int *word, int op, int val)
{
    return syscall(SYS_futex, word, op, val, NULL, NULL, 0);
}

ST_TLS int st_lock_tid;

int st_lock_tid_init(void)
{
    st_lock_tid = (int)syscall(SYS_gettid) & ST_LOCK_TID_MASK;
    return st_lock_tid;
}

void st_lock_slow(st_lock_t *l)
{
    int me = st_lock_me();
    for (int i = 0; i < SPIN_PAUSES; i++) {
        __builtin_ia32_pause();
        int expected = 0;
        if (__atomic_load_n(&l->word, __ATOMIC_RELAXED) == 0 &&
            __atomic_compare_exchange_n(&l->word, &expected, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return;
    }
    /* Mark "maybe waiters" and sleep until the word is released; once taken this way it
     * stays marked (a waiter may remain), so its unlock wakes one. */
    for (;;) {
        int w = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
        if (w == 0) {
            if (__atomic_compare_exchange_n(&l->word, &w, me | ST_LOCK_WAITERS, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                return;
            continue;
        }
        if (!(w & ST_LOCK_WAITERS) &&
            !__atomic_compare_exchange_n(&l->word, &w, w | ST_LOCK_WAITERS, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            continue;
        futex(&l->word, FUTEX_WAIT_PRIVATE, w | ST_LOCK_WAITERS);
    }
}

void st_lock_wake(st_lock_t *l) { futex(&l->word, FUTEX_WAKE_PRIVATE, 1); }

/* ---------------------------------------------------------------- witness (debug) */
#ifdef ST_DEBUG
#define WITNESS_DEPTH 16
static ST_TLS uint16_t held[WITNESS_DEPTH];
static ST_TLS uint32_t nheld;

static void witness_die(const char *what, unsigned have, unsigned want)
{
    char line[160];
    int n = snprintf(line, sizeof line, "sesstrim[%d]: lock order violated: %s (holding rank %u, taking rank %u)\n",
                     (int)getpid(), what, have, want);
    if (n > 0) (void)!write(2, line, (size_t)n);
    abort();
}

void st_witness_acquire(const st_lock_t *l)
{
    if (l->rank == ST_RANK_NONE) witness_die("lock without a rank", 0, 0);
    if (nheld && held[nheld - 1] >= l->rank) witness_die("rank not above the innermost held lock", held[nheld - 1], l->rank);
    if (nheld < WITNESS_DEPTH) held[nheld] = l->rank;
    nheld++;
}

void st_witness_release(const st_lock_t *l)
{
    if (!nheld) witness_die("release of a lock not held", 0, l->rank);
    nheld--;
    if (nheld < WITNESS_DEPTH && held[nheld] != l->rank) witness_die("locks released out of order", held[nheld], l->rank);
}
#endif

/* ---------------------------------------------------------------- fork child */
extern const struct st_lock_reg __start_st_locks[] __attribute__((weak));
extern const struct st_lock_reg __stop_st_locks[] __attribute__((weak));

void st_locks_after_fork_child(void)
{
    /* A lock the forking thread holds: fork() was called by a signal handler that
     * interrupted this thread inside the shim, and the child will return into that critical
     * section and finish it (tests/host/fork_signal_resume). Its owner field is this
     * thread's tid in the parent (st_lock_tid); it takes the child's tid, and nobody waits
     * on it in the child. The debug witness's held list is this thread's too, and stays
     * right. */
    int parent_me = st_lock_tid, me = st_lock_tid_init();
    for (unsigned rank = 1; rank < ST_RANK_COUNT; rank++) {
        for (const struct st_lock_reg *r = __start_st_locks; r && r < __stop_st_locks; r++) {
            for (uint32_t i = 0; i < r->count; i++) {
                st_lock_t *l = (st_lock_t *)((char *)r->first + (size_t)i * r->stride);
                if (l->rank != rank || !l->word) continue;
                if (parent_me && (l->word & ST_LOCK_TID_MASK) == parent_me) {
                    l->word = me;
                    continue;
                }
                if (r->repair) r->repair(i);
                l->word = 0;
            }
        }
    }
}
