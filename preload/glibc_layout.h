/* glibc_layout.h: glibc's malloc internals as the shim reads them, the one place that
 * knows them: struct malloc_state, heap_info and malloc_chunk field offsets for glibc
 * 2.28..2.39 on x86-64 (identical there; see ../shared/notes/glibc-malloc.md). Every read
 * through these offsets must be of memory validated first (safe_read.h, arena_stats.h). */
#ifndef SESSTRIM_GLIBC_LAYOUT_H
#define SESSTRIM_GLIBC_LAYOUT_H

/* struct malloc_state */
#define MSTATE_MUTEX 0                /* int futex: 0 free, 1 held, 2 held with waiters */
#define MSTATE_FLAGS 4
#define MSTATE_HAVE_FASTCHUNKS 8
#define MSTATE_FASTBINS 16            /* mfastbinptr fastbinsY[10], fd safe-linked (>= 2.32) */
#define MSTATE_NFASTBINS 10
#define MSTATE_TOP 96
#define MSTATE_LAST_REMAINDER 104
#define MSTATE_BINS 112               /* mchunkptr bins[254]: fd, bk pairs of 127 bins */
#define MSTATE_NBINS 128              /* bin indexes 1..127 are used; 1 = unsorted */
#define MSTATE_NEXT 2160
#define MSTATE_ATTACHED 2176
#define MSTATE_SYSTEM_MEM 2184
#define MSTATE_MAX_SYSTEM_MEM 2192
#define MSTATE_SIZEOF 2200

/* struct heap_info (arena.c): 48 bytes since 2.35 (pagesize added), 32 before */
#define HEAPINFO_AR_PTR 0
#define HEAPINFO_PREV 8
#define HEAPINFO_SIZE 16              /* bytes of the heap that are read-write */
#define HEAPINFO_SIZEOF 48

/* struct malloc_chunk: prev_size@0, size@8, fd@16, bk@24, fd_nextsize@32, bk_nextsize@40 */
#define CHUNK_SIZE_OFF 8
#define CHUNK_FD_OFF 16
#define CHUNK_BK_OFF 24
#define CHUNK_HDR 16                  /* prev_size + size: what precedes user memory */
#define CHUNK_FREE_HDR 48             /* sizeof(struct malloc_chunk): a free chunk's words */
#define CHUNK_MINSIZE 32
#define CHUNK_ALIGN 16                /* MALLOC_ALIGNMENT */
#define CHUNK_PREV_INUSE 0x1u
#define CHUNK_IS_MMAPPED 0x2u
#define CHUNK_NON_MAIN 0x4u
#define CHUNK_FLAGS 0x7u

/* bin_at(av, i): the fake chunk whose fd/bk words are bins[2(i-1)], bins[2(i-1)+1]. */
#define MSTATE_BIN_AT(state, i) ((state) + MSTATE_BINS + (uintptr_t)((i) - 1) * 16 - CHUNK_FD_OFF)
#define MSTATE_UNSORTED_BIN 1

#endif
