/* safe_read.h: reads of the process's own memory that cannot fault. The shim reads glibc's
 * internals and the first words of mappings it did not make; a wrong guess must cost a
 * false return, never a SIGSEGV in the host. */
#ifndef SESSTRIM_SAFE_READ_H
#define SESSTRIM_SAFE_READ_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Copy len bytes at addr into out with process_vm_readv on our own pid: the kernel
 * checks the mapping and its protection, so an unmapped or PROT_NONE page is an EFAULT,
 * not a signal. true only if all len bytes were copied. About a microsecond: meant for
 * validating a structure before trusting it, not for walking lists. If the kernel
 * refuses the call (seccomp, very old kernel), every read returns false: callers then
 * treat the memory as unreadable, which switches the features that need it off. */
bool st_safe_read(uintptr_t addr, void *out, size_t len);
/* One aligned word; false if unreadable. */
static inline bool st_safe_word(uintptr_t addr, uintptr_t *out)
{
    return st_safe_read(addr, out, sizeof *out);
}
/* false once the kernel refused process_vm_readv (not merely an unreadable address). */
bool st_safe_read_works(void);


/* One line of /proc/self/maps. perms: 1 r, 2 w, 4 x, 8 shared. path: "" for anonymous,
 * "[heap]", "/usr/lib/...": valid during the callback only. */
struct st_map_line {
    uintptr_t start, end;
    uint32_t perms;
    uint64_t inode;
    const char *path;
};
/* Call fn for each mapping in address order until it returns false. Reads with a stack
 * buffer (no allocation). false if /proc/self/maps could not be opened. */
bool st_maps_each(bool (*fn)(const struct st_map_line *, void *), void *ctx);

#endif
