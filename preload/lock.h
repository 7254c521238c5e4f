/* lock.h: the shim's one kind of lock, its ranks, and the registry the fork handlers walk.
 *
 * Why a lock of our own: the shim runs inside malloc, so it cannot take a pthread mutex that
 * the host (or glibc's fork) could be holding or interleaving with. Why it sleeps: a pure
 * spin-then-sched_yield lock made the 99.99th percentile of a single malloc 1.4-4 ms with 4
 * threads on 2 cores (issue 8); a futex wait after a short spin hands the core to the holder.
 *
 * Ranks (jemalloc's witness is the model): every lock has a rank; a thread may only take a
 * lock whose rank is strictly greater than every lock it holds (locks of the same rank are
 * never nested, except the live table's shards, which only the walkers of the whole table
 * take in index order and which then take nothing else). Debug and test builds
 * (-DST_DEBUG) check this on every acquisition and abort with both ranks named.
 *
 * Fork: the shim holds NO lock across fork(). Holding one from a pthread_atfork prepare
 * handler deadlocks with stdio: glibc takes its stream-list lock after the prepare handlers,
 * so a thread in getline() (holding its FILE lock, calling malloc -> our lock), a thread in
 * fflush(NULL) (holding the list lock, waiting for that FILE) and the forker (holding our
 * lock, waiting for the list lock) wait on each other (glibc's tst-malloc-fork-deadlock).
 * Instead the child, where only the forking thread survives, walks the registry in rank
 * order: a lock that was free at fork time guards consistent data; a lock that was held
 * means another thread was inside that critical section, so the registered repair function
 * makes the data consistent again (dropping what may be torn) before the lock is reset.
 */
#ifndef SESSTRIM_LOCK_H
#define SESSTRIM_LOCK_H

#include <stdbool.h>
#include <stdint.h>

/* Outermost first. A new lock gets a rank here and nowhere else. */
enum st_lock_rank {
    ST_RANK_NONE = 0,
    ST_RANK_DUMP,           /* one dump at a time; takes everything below while writing */
    ST_RANK_TRIM_RECORDS,   /* trim history */
    ST_RANK_SESSION_HIST,   /* ended-session history */
    ST_RANK_SHARD,          /* live table shards */
    ST_RANK_SESSIONS,       /* session registry (keep() recycles a slot under a shard lock) */
    ST_RANK_MMAPS,          /* the program's mmap regions */
    ST_RANK_SITES,          /* stack sites */
    ST_RANK_TIMELINE,       /* timeline samples */
    ST_RANK_ARENAS,         /* arena registry */
    ST_RANK_THREADS,        /* thread list */
    ST_RANK_META,           /* the shim's own allocator: takes only the region list */
    ST_RANK_META_REGIONS,   /* where the shim's mappings are (metamem.c): innermost */
    ST_RANK_COUNT
};

/* The lock word holds its owner: 0 free, else the holder's kernel thread id, with
 * ST_LOCK_WAITERS set when somebody may sleep on it (the futex protocol of Drepper's
 * mutex #2, with the tid in place of 1). Knowing the owner lets a fork child tell a lock its
 * own surviving thread holds (fork() in a signal handler that interrupted the shim: the
 * child returns into the critical section and finishes it) from one a vanished thread held
 * (repaired and reset). Linux tids are below 2^22 (pid_max). */
typedef struct {
    int word;
    uint16_t rank;
    uint16_t pad;
} st_lock_t;
#define ST_LOCK_WAITERS 0x40000000
#define ST_LOCK_TID_MASK 0x3FFFFFFF
extern ST_TLS int st_lock_tid;      /* this thread's tid, 0 until its first lock */
int st_lock_tid_init(void);          /* caches gettid() in st_lock_tid */
static inline int st_lock_me(void)
{
    int me = st_lock_tid;
    return __builtin_expect(me != 0, 1) ? me : st_lock_tid_init();
}
_Static_assert(sizeof(st_lock_t) == 8, "st_lock_t is embedded in 64-byte shard headers");

#define ST_LOCK_INIT(r) {.word = 0, .rank = (r), .pad = 0}

void st_lock_slow(st_lock_t *l);
void st_lock_wake(st_lock_t *l);
#ifdef ST_DEBUG
void st_witness_acquire(const st_lock_t *l);
void st_witness_release(const st_lock_t *l);
#else
static inline void st_witness_acquire(const st_lock_t *l) { (void)l; }
static inline void st_witness_release(const st_lock_t *l) { (void)l; }
#endif

static inline void st_lock(st_lock_t *l)
{
    st_witness_acquire(l);
    int expected = 0;
    if (__builtin_expect(!__atomic_compare_exchange_n(&l->word, &expected, st_lock_me(), false,
                                                      __ATOMIC_ACQUIRE, __ATOMIC_RELAXED), 0))
        st_lock_slow(l);
}

static inline bool st_trylock(st_lock_t *l)
{
    int expected = 0;
    if (!__atomic_compare_exchange_n(&l->word, &expected, st_lock_me(), false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return false;
    st_witness_acquire(l);
    return true;
}

static inline void st_unlock(st_lock_t *l)
{
    st_witness_release(l);
    if (__builtin_expect(__atomic_exchange_n(&l->word, 0, __ATOMIC_RELEASE) & ST_LOCK_WAITERS, 0)) st_lock_wake(l);
}

static inline bool st_lock_held(const st_lock_t *l) { return __atomic_load_n(&l->word, __ATOMIC_RELAXED) != 0; }

/* ---- the registry: one entry per lock (or array of locks), in a linker section, so a new
 * lock is registered where it is defined and the fork child finds every one of them. */
struct st_lock_reg {
    st_lock_t *first;       /* the lock, or the first of `count` locks `stride` bytes apart */
    uint32_t count, stride;
    const char *name;
    /* Called in a fork child for each lock of the entry that was held at fork time (index
     * i), before the lock is reset: make the data it guards consistent. NULL: nothing to
     * repair (the data is consistent at every instant, or rebuilt by the child anyway). */
    void (*repair)(uint32_t i);
};

#define ST_LOCK_REGISTER(id, lockptr, n, stride_, name_, repair_)                       \
    static const struct st_lock_reg st_lockreg_##id                                       \
        __attribute__((used, section("st_locks"), aligned(sizeof(void *)))) =            \
        {(lockptr), (n), (stride_), (name_), (repair_)}

/* Define a static lock with its rank and register it. */
#define ST_LOCK_DEFINE(var, rank, repair_)                                                \
    static st_lock_t var = ST_LOCK_INIT(rank);                                            \
    ST_LOCK_REGISTER(var, &var, 1, 0, #var, repair_)

/* Fork child: every registered lock, in rank order: repair if it was held by another
 * thread, then reset. One the forking thread itself holds is left alone. */
void st_locks_after_fork_child(void);

#endif
