/* hooks_malloc.c: the malloc family. Each wrapper forwards to the next allocator and
 * records the result in the live table; the bookkeeping runs under a TLS recursion guard. */
#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <string.h>
#include "shim.h"
#include "livetable.h"
#include "trim_hot.h"

ST_TLS int st_in_shim;
ST_TLS uint32_t st_cur_session;
bool st_started;
bool st_foreign_malloc;
struct st_real st_real;
uint64_t st_untracked_frees;

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

/* ---- bootstrap: dlsym allocates while we look up the next malloc. Those few blocks come
 * from a static buffer; free ignores them, realloc copies them out. */
#define BOOT_SIZE (256 * 1024)
static char boot_buf[BOOT_SIZE] __attribute__((aligned(64)));
static size_t boot_used;

static inline bool is_boot(const void *p)
{
    return (const char *)p >= boot_buf && (const char *)p < boot_buf + BOOT_SIZE;
}

static void *boot_alloc(size_t size, size_t align)
{
    if (align < 16) align = 16;
    size_t start = __atomic_load_n(&boot_used, __ATOMIC_RELAXED), at, end;
    do {
        at = (start + 16 + align - 1) & ~(align - 1);
        end = at + size;
        if (end > BOOT_SIZE || end < at) return NULL;
    } while (!__atomic_compare_exchange_n(&boot_used, &start, end, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    ((size_t *)(boot_buf + at))[-1] = size;
    return boot_buf + at;  /* zero already: the buffer is never reused */
}

/* ---- resolution of the next allocator, once */
/* Which of two definitions the dynamic linker meets first: objects are searched in load
 * order, the order dl_iterate_phdr reports them. */
struct order_ctx { const char *a, *b; const char *first; };
static int order_visit(struct dl_phdr_info *info, size_t len, void *arg)
{
    (void)len;
    struct order_ctx *c = arg;
    const char *n = info->dlpi_name ? info->dlpi_name : "";
    if (c->a && !strcmp(n, c->a)) { c->first = c->a; return 1; }
    if (c->b && !strcmp(n, c->b)) { c->first = c->b; return 1; }
    return 0;
}
static void *earlier(void *a, void *b)
{
    if (!a || !b || a == b) return a ? a : b;
    /* st_object_of, not dladdr: dladdr scans the object's whole symbol table to name the
     * nearest symbol, 65-90 k instructions a call here (a quarter of a short process's
     * start-up cost, bench/bench_forkexec.sh); only the object is wanted. */
    const char *na = st_object_of(a, NULL), *nb = st_object_of(b, NULL);
    if (!na || !nb) return a;
    struct order_ctx c = {na, nb, NULL};
    dl_iterate_phdr(order_visit, &c);
    return c.first == nb ? b : a;
}

/* The definition of a malloc-family symbol the program's own references bind to (scope
 * RTLD_DEFAULT) or the next one after the shim (RTLD_NEXT). Programs reference
 * malloc@GLIBC_2.2.5 (x86-64's base version), which an unversioned definition (ours,
 * jemalloc's) satisfies and so does a non-default version: glibc's libc_malloc_debug.so
 * defines only malloc@GLIBC_2.2.5, which plain dlsym never returns. The earlier of the two
 * lookups in search order is the one the linker picks; using it keeps glibc's malloc
 * debugging (MALLOC_CHECK_, mtrace, mcheck) working behind the shim instead of bypassed. */
void *symbol_as_bound(void *scope, const char *name)
{
    return earlier(dlsym(scope, name), dlvsym(scope, name, "GLIBC_2.2.5"));
}
void *next_symbol(const char *name) { return symbol_as_bound(RTLD_NEXT, name); }

static int resolve_state;  /* 0 not yet, 1 in progress, 2 done */

void hooks_malloc_resolve(void)
{
    int expected = 0;
    if (!__atomic_compare_exchange_n(&resolve_state, &expected, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(&resolve_state, __ATOMIC_ACQUIRE) != 2) st_lock_yield();
        return;
    }
    st_in_shim++;
    struct st_real r;
    r.malloc = (void *(*)(size_t))next_symbol("malloc");
    r.free = (void (*)(void *))next_symbol("free");
    r.calloc = (void *(*)(size_t, size_t))next_symbol("calloc");
    r.realloc = (void *(*)(void *, size_t))next_symbol("realloc");
    r.memalign = (void *(*)(size_t, size_t))next_symbol("memalign");
    r.posix_memalign = (int (*)(void **, size_t, size_t))next_symbol("posix_memalign");
    r.aligned_alloc = (void *(*)(size_t, size_t))next_symbol("aligned_alloc");
    r.valloc = (void *(*)(size_t))next_symbol("valloc");
    r.pvalloc = (void *(*)(size_t))next_symbol("pvalloc");
    r.malloc_usable_size = (size_t (*)(void *))next_symbol("malloc_usable_size");
    /* Whatever is missing falls back to glibc's own exported entry points. */
    if (!r.malloc || !r.free || !r.calloc || !r.realloc) {
        r.malloc = __libc_malloc; r.free = __libc_free;
        r.calloc = __libc_calloc; r.realloc = __libc_realloc;
    }
    if (!r.memalign) r.memalign = __libc_memalign;
    if (!r.valloc) r.valloc = __libc_valloc;
    if (!r.pvalloc) r.pvalloc = __libc_pvalloc;
    /* Compare objects, not addresses: tcmalloc exports its own __libc_malloc, so a reference
     * to __libc_malloc can bind to tcmalloc. Only glibc defines gnu_get_libc_version. */
    uintptr_t next_base = 0, libc_base = 1;
    void *libc_marker = dlsym(RTLD_DEFAULT, "gnu_get_libc_version");
    st_foreign_malloc = !(libc_marker && st_object_of((void *)r.malloc, &next_base) &&
                          st_object_of(libc_marker, &libc_base) && next_base == libc_base);
    st_real = r;
    st_in_shim--;
    __atomic_store_n(&resolve_state, 2, __ATOMIC_RELEASE);
}

/* True once the next allocator is resolved and the constructor has run: one flag, so the
 * hot path tests one global and one TLS word. */
static bool hooks_live;
void hooks_malloc_start(void) { __atomic_store_n(&hooks_live, resolve_state == 2, __ATOMIC_RELEASE); }
void hooks_malloc_detour(void) { __atomic_store_n(&hooks_live, false, __ATOMIC_RELEASE); }

static __attribute__((noinline)) bool must_bypass_slow(void)
{
    if (__atomic_load_n(&resolve_state, __ATOMIC_ACQUIRE) != 2) {
        if (st_in_shim) return true;
        hooks_malloc_resolve();
    }
    if (st_in_shim || !st_started) return true;
    if (ST_UNLIKELY(__atomic_load_n(&st_child_restart, __ATOMIC_ACQUIRE))) {
        process_child_restart();
        hooks_malloc_start();
    }
    return false;
}

/* Returns true when the caller must bypass tracking: inside the shim on this thread (a
 * signal handler that interrupted the shim lands here, and passes straight through to
 * glibc: the shim's locks are never waited for by the thread that holds them), before the
 * constructor finished. Resolves on first use. */
static inline bool must_bypass(void)
{
    if (ST_LIKELY(__atomic_load_n(&hooks_live, __ATOMIC_RELAXED) && !st_in_shim)) return false;
    return must_bypass_slow();
}
static inline bool resolving_here(void) { return resolve_state != 2 && st_in_shim; }

/* ---- inside glibc's allocator: a per-thread depth, so fork() knows when a signal handler
 * interrupted this thread while it may hold a glibc arena lock (process.c). */
ST_TLS int st_in_alloc;
#define IN_ALLOC(call) ({ st_in_alloc++; __typeof__(call) r_ = (call); st_in_alloc--; r_; })
#define IN_ALLOC_VOID(call) do { st_in_alloc++; call; st_in_alloc--; } while (0)

/* ---- accounting */
static void note_arena_slow(struct st_thread *t, uint32_t arena)
{
    uint32_t slot, n = t->n_arenas;
    for (slot = 0; slot < n; slot++)
        if (t->arena_ids[slot] == arena) break;
    if (slot == n) {
        arena_note_thread(arena, t);
        if (n < ST_THREAD_ARENAS) {
            __atomic_store_n(&t->arena_ids[n], arena, __ATOMIC_RELAXED);
            __atomic_store_n(&t->n_arenas, n + 1, __ATOMIC_RELEASE);  /* the id before the count */
        } else {
            slot = ST_THREAD_ARENAS;
        }
    }
    __atomic_store_n(&t->home_arena, arena, __ATOMIC_RELAXED);
    t->home_slot = slot;
}

/* A counter only its owner thread writes: a relaxed load and store (no locked instruction),
 * so the dump's relaxed loads from other threads are not C11 data races. */
#define BUMP(field, v) __atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (v), __ATOMIC_RELAXED)

/* The guard st_in_shim is raised for the whole of the bookkeeping: a signal handler that
 * interrupts it and calls malloc/free (glog, crash reporters and backtrace libraries do)
 * must not wait for a shard lock its own thread holds; it passes through, untracked. */
static inline void track_guarded(void *p, size_t size, uint32_t session)
{
    struct st_thread *t = thread_self();
    size_t chunk;
    uint32_t arena = arena_of(p, &chunk);
    struct st_entry e = {.ptr = (uintptr_t)p, .size = size, .thread_idx = t->idx,
                         .session = session, .site = stacks_site_for(size),
                         .arena = entry_arena_code(arena),
                         .overhead = (uint16_t)(chunk - size > 65535 ? 65535 : chunk - size)};
    livetable_insert(&e);
    BUMP(t->allocs, 1);
    BUMP(t->alloc_bytes, size);
    /* issue 12: every 4096th allocation of a thread, see if the control socket is due. */
    if (ST_UNLIKELY((t->allocs & 4095) == 0)) control_maybe_start();
    if (arena < ST_ARENA_UNKNOWN) {
        if (ST_UNLIKELY(arena != t->home_arena)) note_arena_slow(t, arena);
        BUMP(t->arena_allocs[t->home_slot], 1);
    }
    if (session) sessions_on_alloc(session, size, t);
}

static inline void track(void *p, size_t size, uint32_t session)
{
    st_in_shim++;
    track_guarded(p, size, session);
    st_in_shim--;
}

static void note_cross_free(struct st_thread *t, const struct st_entry *e)
{
    BUMP(t->cross_frees, 1);
    BUMP(t->cross_free_bytes, e->size);
    struct st_thread *owner = thread_by_idx(e->thread_idx);
    if (owner) {
        __atomic_add_fetch(&owner->freed_by_others, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&owner->freed_by_others_bytes, e->size, __ATOMIC_RELAXED);
    }
    for (unsigned i = 0; i < ST_XFREE_SLOTS; i++) {
        struct st_xfree_cell *c = &t->xfree[i];
        if (!c->used) {
            c->alloc_idx = e->thread_idx;
            __atomic_store_n(&c->used, 1, __ATOMIC_RELEASE);
        } else if (c->alloc_idx != e->thread_idx) {
            continue;
        }
        BUMP(c->count, 1);
        BUMP(c->bytes, e->size);
        return;
    }
    BUMP(t->xfree_other_count, 1);
    BUMP(t->xfree_other_bytes, e->size);
}

/* Counters for a tracked entry that was freed (its table entry already removed). */
static inline void account_free(const struct st_entry *e)
{
    struct st_thread *t = thread_self();
    BUMP(t->frees, 1);
    BUMP(t->freed_bytes, e->size);
    trim_note_free(e->arena);          /* per-arena idleness counts the chunk's arena (trim_hot.h) */
    if (ST_UNLIKELY(e->thread_idx != t->idx)) note_cross_free(t, e);
    if (e->session) sessions_on_free(e->session, e->size);
}

static inline bool untrack(void *p, struct st_entry *e)
{
    st_in_shim++;
    bool found = livetable_remove((uintptr_t)p, e);
    if (ST_LIKELY(found)) account_free(e);
    else __atomic_add_fetch(&st_untracked_frees, 1, __ATOMIC_RELAXED);
    st_in_shim--;
    return found;
}

/* ---- the interposed entry points */
ST_EXPORT void *malloc(size_t size)
{
    if (ST_UNLIKELY(must_bypass())) {
        if (resolving_here()) return boot_alloc(size, 16);
        return IN_ALLOC(st_real.malloc(size));
    }
    void *p = IN_ALLOC(st_real.malloc(size));
    if (ST_LIKELY(p != NULL)) track(p, size, st_cur_session);
    return p;
}

ST_EXPORT void free(void *p)
{
    if (!p || ST_UNLIKELY(is_boot(p))) return;
    if (ST_UNLIKELY(must_bypass())) { IN_ALLOC_VOID(st_real.free(p)); return; }
    struct st_entry e;
    untrack(p, &e);
    IN_ALLOC_VOID(st_real.free(p));
}

ST_EXPORT void *calloc(size_t n, size_t size)
{
    if (ST_UNLIKELY(must_bypass())) {
        if (resolving_here()) {
            size_t total;
            if (__builtin_mul_overflow(n, size, &total)) return NULL;
            return boot_alloc(total, 16);
        }
        return IN_ALLOC(st_real.calloc(n, size));
    }
    void *p = IN_ALLOC(st_real.calloc(n, size));
    if (ST_LIKELY(p != NULL)) track(p, n * size, st_cur_session);
    return p;
}

ST_EXPORT void *realloc(void *p, size_t size)
{
    if (ST_UNLIKELY(p && is_boot(p))) {
        void *np = malloc(size);
        if (np) memcpy(np, p, ((size_t *)p)[-1] < size ? ((size_t *)p)[-1] : size);
        return np;
    }
    if (ST_UNLIKELY(must_bypass())) {
        if (resolving_here()) return p ? NULL : boot_alloc(size, 16);
        return IN_ALLOC(st_real.realloc(p, size));
    }
    if (!p) {
        void *np = IN_ALLOC(st_real.realloc(NULL, size));
        if (np) track(np, size, st_cur_session);
        return np;
    }
    /* Remove the old entry BEFORE the real realloc: once glibc frees the old block another
     * thread may get the same address and insert its own entry. */
    struct st_entry old;
    st_in_shim++;
    bool had = livetable_remove((uintptr_t)p, &old);
    st_in_shim--;
    void *np = IN_ALLOC(st_real.realloc(p, size));
    st_in_shim++;
    if (!np && size != 0) {
        if (had) livetable_insert(&old);  /* failed: p is still live and unchanged */
        st_in_shim--;
        return NULL;
    }
    if (had) account_free(&old);
    else __atomic_add_fetch(&st_untracked_frees, 1, __ATOMIC_RELAXED);
    st_in_shim--;
    /* The block keeps its owning session: a worker growing a client's buffer outside the
     * client's session must not orphan it. */
    if (np) track(np, size, had ? old.session : st_cur_session);
    return np;
}

ST_EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) { errno = ENOMEM; return NULL; }
    return realloc(p, total);
}

static inline void *aligned_common(void *p, size_t size)
{
    if (ST_LIKELY(p != NULL)) track(p, size, st_cur_session);
    return p;
}

ST_EXPORT void *memalign(size_t align, size_t size)
{
    if (ST_UNLIKELY(must_bypass())) {
        if (resolving_here()) return boot_alloc(size, align);
        return IN_ALLOC(st_real.memalign(align, size));
    }
    return aligned_common(IN_ALLOC(st_real.memalign(align, size)), size);
}

ST_EXPORT void *aligned_alloc(size_t align, size_t size)
{
    bool bypass = must_bypass();              /* resolves st_real on first use: read it after */
    if (ST_UNLIKELY(bypass) && resolving_here()) return boot_alloc(size, align);
    void *p = IN_ALLOC((st_real.aligned_alloc ? st_real.aligned_alloc : st_real.memalign)(align, size));
    return ST_UNLIKELY(bypass) ? p : aligned_common(p, size);
}

ST_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    bool bypass = must_bypass();
    if (ST_UNLIKELY(bypass) && resolving_here()) {
        *out = boot_alloc(size, align);
        return *out ? 0 : ENOMEM;
    }
    int rc;
    if (st_real.posix_memalign) {
        rc = IN_ALLOC(st_real.posix_memalign(out, align, size));
    } else {
        if (align % sizeof(void *) || (align & (align - 1)) || !align) return EINVAL;
        *out = IN_ALLOC(st_real.memalign(align, size));
        rc = *out ? 0 : ENOMEM;
    }
    if (rc == 0 && !bypass) aligned_common(*out, size);
    return rc;
}

ST_EXPORT void *valloc(size_t size)
{
    if (ST_UNLIKELY(must_bypass())) {
        if (resolving_here()) return boot_alloc(size, 4096);
        return IN_ALLOC(st_real.valloc(size));
    }
    return aligned_common(IN_ALLOC(st_real.valloc(size)), size);
}

ST_EXPORT void *pvalloc(size_t size)
{
    if (ST_UNLIKELY(must_bypass())) {
        if (resolving_here()) return boot_alloc((size + 4095) & ~(size_t)4095, 4096);
        return IN_ALLOC(st_real.pvalloc(size));
    }
    return aligned_common(IN_ALLOC(st_real.pvalloc(size)), size);
}

ST_EXPORT size_t malloc_usable_size(void *p)
{
    if (!p) return 0;
    if (is_boot(p)) return ((size_t *)p)[-1];
    if (resolve_state != 2) hooks_malloc_resolve();
    return st_real.malloc_usable_size ? st_real.malloc_usable_size(p) : usable_size_of(p);
}
