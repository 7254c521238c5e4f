/* sesstrim.h: the public C API for programs that want to mark sessions, trim or dump.
 * Header-only: calls look the shim up at run time and do nothing when it is not preloaded. */
#ifndef SESSTRIM_H
#define SESSTRIM_H

/*
 * No library to link: each call resolves `sesstrim_impl_<name>` with dlsym(RTLD_DEFAULT)
 * once and caches the pointer. Without LD_PRELOAD=libsesstrim.so every call returns its
 * "nothing happened" value (0 or -1) and costs one cached pointer test.
 * (glibc >= 2.34 has dlsym in libc; on older systems link with -ldl.)
 *
 * Sessions
 *  - A session is a named scope. Every allocation made by a thread while a session is
 *    current on it is tagged with that session, wherever it is later freed.
 *  - The current session is per thread. begin() pushes a new session on the calling
 *    thread (nested inside the current one, which becomes its parent); end() ends it and
 *    pops it from the calling thread. Allocations go to the innermost session.
 *  - enter()/leave() make an open session current on another thread (a worker pool serving
 *    one client) without creating a new one. leave() must pair with enter().
 *  - Threads created while a session is current inherit it, unless
 *    SESSTRIM_SESSION_INHERIT=off.
 *  - A free is credited to the session owning the pointer, whichever thread frees it.
 *  - When a session ends, whatever it still owns is its leftover: counted, logged above
 *    SESSTRIM_SESSION_LEFTOVER_LOG bytes, and recorded in the dump.
 *  - keep(ptr, to) moves ownership of a live allocation to another session; to == 0 means
 *    the parent of the session owning ptr (Ray's `keep`: hand a result to the caller).
 */

#include <stddef.h>
#include <stdint.h>
#include <dlfcn.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t sesstrim_session_t; /* 0 means "no session" */

/* Internal: the shim's entry points, looked up by name. */
typedef int (*sesstrim__active_fn)(void);
typedef sesstrim_session_t (*sesstrim__session_begin_fn)(const char *);
typedef int (*sesstrim__session_end_fn)(sesstrim_session_t);
typedef int (*sesstrim__session_enter_fn)(sesstrim_session_t);
typedef int (*sesstrim__session_leave_fn)(sesstrim_session_t);
typedef sesstrim_session_t (*sesstrim__session_current_fn)(void);
typedef int (*sesstrim__keep_fn)(const void *, sesstrim_session_t);
typedef long long (*sesstrim__trim_fn)(void);
typedef int (*sesstrim__dump_fn)(const char *);

#define SESSTRIM__LOOKUP(type, name)                                                     \
    static type sesstrim__fn_##name;                                                      \
    static int sesstrim__done_##name;                                                     \
    if (!__atomic_load_n(&sesstrim__done_##name, __ATOMIC_ACQUIRE)) {                     \
        __atomic_store_n(&sesstrim__fn_##name,                                            \
                         (type)dlsym(RTLD_DEFAULT, "sesstrim_impl_" #name), __ATOMIC_RELAXED); \
        __atomic_store_n(&sesstrim__done_##name, 1, __ATOMIC_RELEASE);                    \
    }                                                                                     \
    type fn = __atomic_load_n(&sesstrim__fn_##name, __ATOMIC_RELAXED)

/* 1 when the shim is loaded in this process, else 0. */
static inline int sesstrim_active(void)
{
    SESSTRIM__LOOKUP(sesstrim__active_fn, active);
    return fn ? fn() : 0;
}

/* Begin a session named `name` (copied, at most 63 bytes kept) on this thread.
 * Returns its id, or 0 without the shim. */
static inline sesstrim_session_t sesstrim_session_begin(const char *name)
{
    SESSTRIM__LOOKUP(sesstrim__session_begin_fn, session_begin);
    return fn ? fn(name) : 0;
}

/* End session `id`: leftovers are recorded; it is popped from this thread if current.
 * 0 on success, -1 if unknown, already ended, or no shim. */
static inline int sesstrim_session_end(sesstrim_session_t id)
{
    SESSTRIM__LOOKUP(sesstrim__session_end_fn, session_end);
    return fn ? fn(id) : -1;
}

/* Make open session `id` current on this thread (nesting). 0 ok, -1 otherwise. */
static inline int sesstrim_session_enter(sesstrim_session_t id)
{
    SESSTRIM__LOOKUP(sesstrim__session_enter_fn, session_enter);
    return fn ? fn(id) : -1;
}

/* Undo the matching enter(id) on this thread. 0 ok, -1 if id is not current here. */
static inline int sesstrim_session_leave(sesstrim_session_t id)
{
    SESSTRIM__LOOKUP(sesstrim__session_leave_fn, session_leave);
    return fn ? fn(id) : -1;
}

/* The innermost session current on this thread, 0 if none. */
static inline sesstrim_session_t sesstrim_session_current(void)
{
    SESSTRIM__LOOKUP(sesstrim__session_current_fn, session_current);
    return fn ? fn() : 0;
}

/* Transfer ownership of live allocation `ptr` to session `to` (0: the owner's parent).
 * 0 ok, -1 if ptr is not a tracked live allocation, `to` is not open, or no shim. */
static inline int sesstrim_keep(const void *ptr, sesstrim_session_t to)
{
    SESSTRIM__LOOKUP(sesstrim__keep_fn, keep);
    return fn ? fn(ptr, to) : -1;
}

/* Run the arena-aware trim now. Returns bytes released, or -1 without the shim. */
static inline long long sesstrim_trim(void)
{
    SESSTRIM__LOOKUP(sesstrim__trim_fn, trim);
    return fn ? fn() : -1;
}

/* Write a dump now to `path` (NULL: the SESSTRIM_DUMP pattern). 0 ok, -1 on error. */
static inline int sesstrim_dump(const char *path)
{
    SESSTRIM__LOOKUP(sesstrim__dump_fn, dump);
    return fn ? fn(path) : -1;
}

#undef SESSTRIM__LOOKUP

#ifdef __cplusplus
}
#endif

#endif
