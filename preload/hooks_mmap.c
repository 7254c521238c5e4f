/* hooks_mmap.c: the program's own mmap/munmap/mremap, kept as a table of live regions so
 * the report can say how much of RSS the program mapped itself (anonymous vs file). */
#include <dlfcn.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "shim.h"

#define uthash_malloc(sz) meta_alloc(sz)
#define uthash_free(ptr, sz) meta_free(ptr, sz)
#define uthash_fatal(msg) do { st_log("mmap table: %s; tracking of the program's mmaps stops", msg); mmaps_broken = true; return; } while (0)
#define HASH_NONFATAL_OOM 1
#include <uthash.h>

/* glibc's own mmaps (malloc heaps, mmapped chunks, thread stacks) never pass through
 * these wrappers: they are made inside libc, so this table holds the program's alone. */
struct region {
    uintptr_t start;
    size_t len;
    bool anon;
    UT_hash_handle hh;
};

static struct region *regions;
static bool mmaps_broken;
/* Fork child, the table was being changed by another thread: it may be torn. Stop using
 * it (the child's report says its mmaps are unknown) rather than walk a half-linked hash. */
static void regions_repair(uint32_t i) { (void)i; regions = NULL; mmaps_broken = true; }
ST_LOCK_DEFINE(regions_lock, ST_RANK_MMAPS, regions_repair);
static struct st_rec_mmaps totals;

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);
typedef int (*munmap_fn)(void *, size_t);
typedef void *(*mremap_fn)(void *, size_t, size_t, int, ...);
static mmap_fn next_mmap;
static munmap_fn next_munmap;
static mremap_fn next_mremap;

static void resolve(void)
{
    st_in_shim++;
    next_mmap = (mmap_fn)dlsym(RTLD_NEXT, "mmap");
    next_munmap = (munmap_fn)dlsym(RTLD_NEXT, "munmap");
    next_mremap = (mremap_fn)dlsym(RTLD_NEXT, "mremap");
    st_in_shim--;
}

static void account(bool anon, int64_t bytes, int64_t count)
{
    if (anon) { totals.anon_bytes += (uint64_t)bytes; totals.anon_count += (uint64_t)count; }
    else { totals.file_bytes += (uint64_t)bytes; totals.file_count += (uint64_t)count; }
}

static void region_add(uintptr_t start, size_t len, bool anon)
{
    if (mmaps_broken || len == 0) return;
    struct region *r = meta_alloc(sizeof *r);
    if (!r) return;
    r->start = start;
    r->len = len;
    r->anon = anon;
    HASH_ADD(hh, regions, start, sizeof(uintptr_t), r);
    if (mmaps_broken) { meta_free(r, sizeof *r); return; }
    account(anon, (int64_t)len, 1);
}

static void region_del(struct region *r)
{
    HASH_DELETE(hh, regions, r);
    account(r->anon, -(int64_t)r->len, -1);
    meta_free(r, sizeof *r);
}

/* Forget [start, start+len): whole regions go, partial overlaps are trimmed or split.
 * The exact-start case is the common one and costs a hash lookup; overlaps scan. */
static bool region_remove_range(uintptr_t start, size_t len)
{
    uintptr_t end = start + len;
    struct region *r, *tmp;
    bool touched = false;
    HASH_FIND(hh, regions, &start, sizeof(uintptr_t), r);
    if (r && r->len <= len) {
        size_t had = r->len;
        region_del(r);
        if (had == len) return true;
        touched = true;
    }
    for (;;) {
        struct region *hit = NULL;
        HASH_ITER(hh, regions, r, tmp) {
            if (r->start + r->len > start && r->start < end) { hit = r; break; }
        }
        if (!hit) return touched;
        touched = true;
        uintptr_t rs = hit->start, re = hit->start + hit->len;
        bool anon = hit->anon;
        region_del(hit);
        if (rs < start) region_add(rs, start - rs, anon);
        if (re > end) region_add(end, re - end, anon);
    }
}

static inline bool tracking(void) { return st_started && !st_in_shim; }

ST_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (ST_UNLIKELY(!next_mmap)) resolve();
    void *p = next_mmap ? next_mmap(addr, len, prot, flags, fd, off)
                        : (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    if (p != MAP_FAILED && tracking()) {
        st_in_shim++;
        st_lock(&regions_lock);
        totals.mmap_calls++;
        if (flags & MAP_FIXED) region_remove_range((uintptr_t)p, len);
        region_add((uintptr_t)p, (len + 4095) & ~(size_t)4095, (flags & MAP_ANONYMOUS) != 0);
        st_unlock(&regions_lock);
        st_in_shim--;
    }
    return p;
}

ST_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return mmap(addr, len, prot, flags, fd, off);
}

ST_EXPORT int munmap(void *addr, size_t len)
{
    if (ST_UNLIKELY(!next_munmap)) resolve();
    int rc = next_munmap ? next_munmap(addr, len) : (int)syscall(SYS_munmap, addr, len);
    if (rc == 0 && tracking()) {
        st_in_shim++;
        st_lock(&regions_lock);
        totals.munmap_calls++;
        if (!region_remove_range((uintptr_t)addr, (len + 4095) & ~(size_t)4095)) totals.untracked_munmaps++;
        st_unlock(&regions_lock);
        st_in_shim--;
    }
    return rc;
}

ST_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    void *new_addr = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        new_addr = va_arg(ap, void *);
        va_end(ap);
    }
    if (ST_UNLIKELY(!next_mremap)) resolve();
    void *p = next_mremap ? next_mremap(old, old_len, new_len, flags, new_addr)
                          : (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
    if (p != MAP_FAILED && tracking()) {
        st_in_shim++;
        st_lock(&regions_lock);
        totals.mremap_calls++;
        struct region *r;
        uintptr_t key = (uintptr_t)old;
        HASH_FIND(hh, regions, &key, sizeof(uintptr_t), r);
        if (r) {
            bool anon = r->anon;
            region_remove_range((uintptr_t)old, (old_len + 4095) & ~(size_t)4095);
            region_add((uintptr_t)p, (new_len + 4095) & ~(size_t)4095, anon);
        }
        st_unlock(&regions_lock);
        st_in_shim--;
    }
    return p;
}

void mmaps_snapshot(struct st_rec_mmaps *out)
{
    st_lock(&regions_lock);
    *out = totals;
    st_unlock(&regions_lock);
}


