/* metamem.c: memory for the shim's own bookkeeping, mapped with raw syscalls so it never
 * lands in (or is counted with) the glibc arenas that the shim measures. */
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "shim.h"
#include "arena_stats.h"

/* Size classes 16 B .. 4 KiB (powers of two), carved from 1 MiB regions; bigger blocks
 * are mapped whole. Freed blocks go on a per-class list: metadata churn stays bounded. */
#define META_MIN_SHIFT 4
#define META_MAX_SHIFT 12
#define META_CLASSES (META_MAX_SHIFT - META_MIN_SHIFT + 1)
#define META_REGION (1u << 20)

struct free_block { struct free_block *next; };

static struct free_block *free_lists[META_CLASSES];
static char *region_cur, *region_end;
/* Fork child, another thread was inside meta_alloc/meta_free: a list may be half linked.
 * Abandon the free lists and the current region (a leak bounded by what they held). */
static void meta_repair(uint32_t i)
{
    (void)i;
    __builtin_memset(free_lists, 0, sizeof free_lists);
    region_cur = region_end = NULL;
}
ST_LOCK_DEFINE(meta_lock, ST_RANK_META, meta_repair);
static uint64_t mapped_bytes;

/* Where the shim's mappings are, so a dump can measure how much of them is resident (the
 * report's "sesstrim's own tables" layer). Bounded; regions beyond it count as resident. */
#define META_REGIONS_MAX 1024
static struct { uintptr_t start; size_t len; } regions[META_REGIONS_MAX];
static unsigned nregions;
static uint64_t untracked_bytes;
/* Taken inside meta_lock (meta_alloc maps a new region): its own, innermost rank. A torn
 * entry in a fork child only skews the resident measure: nothing to repair. */
ST_LOCK_DEFINE(regions_lock, ST_RANK_META_REGIONS, NULL);

static void region_note(void *p, size_t size)
{
    st_lock(&regions_lock);
    if (nregions < META_REGIONS_MAX) regions[nregions++].start = (uintptr_t)p, regions[nregions - 1].len = size;
    else untracked_bytes += size;
    st_unlock(&regions_lock);
}

static void region_forget(void *p, size_t size)
{
    st_lock(&regions_lock);
    unsigned i = 0;
    while (i < nregions && regions[i].start != (uintptr_t)p) i++;
    if (i < nregions) regions[i] = regions[--nregions];
    else if (untracked_bytes >= size) untracked_bytes -= size;
    st_unlock(&regions_lock);
}

uint64_t meta_bytes_resident(void)
{
    st_lock(&regions_lock);
    uint64_t r = untracked_bytes;
    for (unsigned i = 0; i < nregions; i++) r += resident_bytes(regions[i].start, regions[i].start + regions[i].len);
    st_unlock(&regions_lock);
    return r;
}

void *meta_map(size_t size)
{
    size = (size + 4095) & ~(size_t)4095;
    void *p = (void *)syscall(SYS_mmap, NULL, size, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || (uintptr_t)p > (uintptr_t)-4096) return NULL;
    __atomic_add_fetch(&mapped_bytes, size, __ATOMIC_RELAXED);
    region_note(p, size);
    return p;
}

void meta_unmap(void *p, size_t size)
{
    if (!p) return;
    size = (size + 4095) & ~(size_t)4095;
    region_forget(p, size);
    syscall(SYS_munmap, p, size);
    __atomic_sub_fetch(&mapped_bytes, size, __ATOMIC_RELAXED);
}

uint64_t meta_bytes_mapped(void) { return __atomic_load_n(&mapped_bytes, __ATOMIC_RELAXED); }

static unsigned class_of(size_t size)
{
    unsigned c = 0;
    while (((size_t)1 << (c + META_MIN_SHIFT)) < size) c++;
    return c;
}

void *meta_alloc(size_t size)
{
    if (size == 0) size = 1;
    if (size > ((size_t)1 << META_MAX_SHIFT)) return meta_map(size);
    unsigned c = class_of(size);
    size_t bsize = (size_t)1 << (c + META_MIN_SHIFT);
    st_lock(&meta_lock);
    struct free_block *b = free_lists[c];
    if (b) {
        free_lists[c] = b->next;
        st_unlock(&meta_lock);
        __builtin_memset(b, 0, bsize);
        return b;
    }
    if (region_cur + bsize > region_end) {
        char *r = meta_map(META_REGION);
        if (!r) { st_unlock(&meta_lock); return NULL; }
        region_cur = r;                 /* the tail of the old region is abandoned: < 4 KiB */
        region_end = r + META_REGION;
    }
    void *p = region_cur;               /* fresh mmap memory is already zero */
    region_cur += bsize;
    st_unlock(&meta_lock);
    return p;
}

void meta_free(void *p, size_t size)
{
    if (!p) return;
    if (size == 0) size = 1;
    if (size > ((size_t)1 << META_MAX_SHIFT)) { meta_unmap(p, size); return; }
    unsigned c = class_of(size);
    struct free_block *b = p;
    st_lock(&meta_lock);
    b->next = free_lists[c];
    free_lists[c] = b;
    st_unlock(&meta_lock);
}

