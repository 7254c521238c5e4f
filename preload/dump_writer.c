/* dump_writer.c: writes a dump (format: include/sesstrim_dump.h) atomically: a private
 * temporary file beside the target, then rename; never follows a symlink, mode 0600. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "shim.h"
#include "arena_stats.h"
#include "dump_parts.h"

struct st_dump_writer {
    int fd;
    bool failed;
    uint64_t hash, records, bytes;
    size_t used;
    unsigned char buf[64 * 1024];
};

static struct st_dump_writer writer;   /* used under dump_lock only */
ST_LOCK_DEFINE(dump_lock, ST_RANK_DUMP, NULL);
static uint32_t dump_owner_tid;
static uint32_t dump_seq;

static void w_flush(struct st_dump_writer *w)
{
    size_t off = 0;
    while (off < w->used && !w->failed) {
        ssize_t n = write(w->fd, w->buf + off, w->used - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { w->failed = true; break; }
        off += (size_t)n;
    }
    w->used = 0;
}

static void w_bytes(struct st_dump_writer *w, const void *data, size_t len, bool hashed)
{
    if (hashed) w->hash = st_fnv1a64(w->hash, data, len);
    w->bytes += len;
    const unsigned char *p = data;
    while (len) {
        size_t room = sizeof w->buf - w->used;
        size_t n = len < room ? len : room;
        memcpy(w->buf + w->used, p, n);
        w->used += n; p += n; len -= n;
        if (w->used == sizeof w->buf) w_flush(w);
    }
}

static void w_record(struct st_dump_writer *w, uint16_t type, const void *fixed, uint16_t fixed_size,
                     const void *var, uint32_t var_size, bool hashed)
{
    static const unsigned char zeros[8];
    struct st_record_header h = {.type = type, .fixed_size = fixed_size, .total_size = fixed_size + var_size};
    w_bytes(w, &h, sizeof h, hashed);
    w_bytes(w, fixed, fixed_size, hashed);
    if (var_size) w_bytes(w, var, var_size, hashed);
    size_t pad = (8 - (h.total_size & 7)) & 7;
    if (pad) w_bytes(w, zeros, pad, hashed);
}

int dump_put(struct st_dump_writer *w, uint16_t type, const void *fixed, uint16_t fixed_size,
             const void *var, uint32_t var_size)
{
    if (w->failed) return -1;
    if ((uint64_t)fixed_size + var_size > SESSTRIM_DUMP_MAX_RECORD) return -1;
    w_record(w, type, fixed, fixed_size, var, var_size, true);
    w->records++;
    return w->failed ? -1 : 0;
}

static void write_all_records(struct st_dump_writer *w, int reason)
{
    struct dump_walk walk;
    dump_walk_live(&walk);
    dump_process_record(w, reason, &walk);
    dump_arena_records(w, &walk);
    dump_thread_records(w);
    struct st_rec_mmaps mm;
    mmaps_snapshot(&mm);
    dump_put(w, ST_REC_MMAPS, &mm, sizeof mm, NULL, 0);
    dump_mapping_records(w);
    sessions_dump_records(w);
    trim_dump_records(w);
    dump_site_records(w, &walk);
    dump_module_records(w);
    dump_occupancy_records(w, &walk);
    timeline_dump_records(w);
    dump_walk_release(&walk);
}

static int write_to(const char *path, int reason)
{
    char tmp[600];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%d.%u", path, (int)getpid(), ++dump_seq);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        st_log("dump: path too long: %s", path);
        return -1;
    }
    int fd = st_open_high(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (fd < 0) {
        /* A periodic dump is tried again next period, and a program that ran out of fds
         * is not told so on its own stderr each time: those go to the info log only. */
        if (reason == ST_DUMP_PERIODIC || errno == EMFILE || errno == ENFILE)
            st_info("dump: cannot create %s: %s; no dump written", tmp, strerror(errno));
        else
            st_log("dump: cannot create %s: %s; no dump written", tmp, strerror(errno));
        return -1;
    }
    struct st_dump_writer *w = &writer;
    w->fd = fd; w->failed = false; w->hash = ST_FNV1A64_INIT; w->records = 0; w->used = 0; w->bytes = 0;
    struct st_dump_header h = {.version = SESSTRIM_DUMP_VERSION, .header_size = sizeof h,
                               .endian_check = SESSTRIM_DUMP_ENDIAN_CHECK};
    memcpy(h.magic, SESSTRIM_DUMP_MAGIC, SESSTRIM_DUMP_MAGIC_LEN);
    w_bytes(w, &h, sizeof h, true);
    write_all_records(w, reason);
    struct st_rec_end end = {.record_count = w->records, .fnv1a64 = w->hash};
    w_record(w, ST_REC_END, &end, sizeof end, NULL, 0, false);
    w_flush(w);
    int saved = errno;
    if (close(fd) != 0 && !w->failed) { w->failed = true; saved = errno; }
    if (w->failed) {
        st_log("dump: writing %s failed: %s; no dump written", tmp, strerror(saved));
        unlink(tmp);
        return -1;
    }
    /* rename replaces a symlink at `path` instead of following it. */
    if (rename(tmp, path) != 0) {
        st_log("dump: cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int dump_write(const char *path, int reason)
{
    char expanded[512];
    const char *pattern = path && *path ? path : st_opt.dump_path;
    if (!pattern[0]) {
        st_log("dump: no path given and SESSTRIM_DUMP is unset; no dump written");
        return -1;
    }
    uint32_t me = (uint32_t)syscall(SYS_gettid);
    if (__atomic_load_n(&dump_owner_tid, __ATOMIC_RELAXED) == me) return -1;  /* re-entered */
    st_in_shim++;
    st_lock(&dump_lock);
    __atomic_store_n(&dump_owner_tid, me, __ATOMIC_RELAXED);
    int rc = -1;
    /* Expanded under the lock: %n is this dump's number, the same for no two dumps. */
    if (!st_expand_path(pattern, expanded, sizeof expanded))
        st_log("dump: path '%s' too long after expansion; no dump written", pattern);
    else if ((rc = write_to(expanded, reason)) == 0)
        __atomic_add_fetch(&st_dumps_written, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&dump_owner_tid, 0, __ATOMIC_RELAXED);
    st_unlock(&dump_lock);
    st_in_shim--;
    if (rc == 0 && reason != ST_DUMP_PERIODIC) st_info("dump written: %s", expanded);
    return rc;
}

uint32_t st_dumps_written;

void dump_after_fork_child(void) { dump_owner_tid = 0; st_dumps_written = 0; }

ST_API(int, dump, (const char *path), (path))
{
    if (!st_started) return -1;
    return dump_write(path, ST_DUMP_API);
}
