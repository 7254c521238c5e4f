/* tsan_rename.h: force-included (-include) into every preload/ and trim/ translation unit of
 * the ThreadSanitizer harness (tests/sanitize/tsan_harness.c), never into the real library.
 *
 * Why: the shim interposes malloc, mmap, fork and pthread_create, and so does TSan's runtime
 * (libtsan.so, loaded ahead of libc). Preloading the shim into a TSan program would put the
 * shim's malloc in front of TSan's, which TSan does not support. Renamed, the shim's entry
 * points are ordinary functions the harness calls (st_tsan_malloc ...), and their
 * dlsym(RTLD_NEXT, "malloc") lookups, made from the harness executable, find TSan's
 * interceptors: every allocation still goes through TSan's allocator, every thread and fork
 * through TSan's bookkeeping. The shim's code is otherwise compiled unchanged.
 *
 * dlsym/dlvsym are renamed too so the harness can choose what RTLD_NEXT "malloc" means:
 * TSan's allocator (default; the shim then sees a foreign malloc and turns its arena logic
 * off, as it does behind jemalloc), or glibc's __libc_malloc (ST_TSAN_GLIBC=1; arena logic,
 * the trim walks and arena stats run, and the harness never touches block contents, so
 * glibc's uninstrumented reuse of blocks cannot look like a race).
 *
 * syscall is renamed so the shim's raw mmap/munmap/mremap (metamem.c maps its own memory
 * with syscall(SYS_mmap)) go through libc's mmap/munmap, which TSan intercepts to reset the
 * shadow of the range: otherwise a range unmapped and mapped again would keep the shadow of
 * its previous life and TSan could report a race between two unrelated lives of the memory.
 * Every other system call is passed through unchanged. */
#ifndef SESSTRIM_TSAN_RENAME_H
#define SESSTRIM_TSAN_RENAME_H

#define malloc             st_tsan_malloc
#define free               st_tsan_free
#define calloc             st_tsan_calloc
#define realloc            st_tsan_realloc
#define reallocarray       st_tsan_reallocarray
#define memalign           st_tsan_memalign
#define aligned_alloc      st_tsan_aligned_alloc
#define posix_memalign     st_tsan_posix_memalign
#define valloc             st_tsan_valloc
#define pvalloc            st_tsan_pvalloc
#define malloc_usable_size st_tsan_malloc_usable_size
#define mmap               st_tsan_mmap
#define mmap64             st_tsan_mmap64
#define munmap             st_tsan_munmap
#define mremap             st_tsan_mremap
#define fork               st_tsan_fork
#define pthread_create     st_tsan_pthread_create
#define dlsym              st_tsan_dlsym
#define dlvsym             st_tsan_dlvsym
#define syscall            st_tsan_syscall

#endif
