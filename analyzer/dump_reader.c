/* dump_reader.c: load a sesstrim dump, validating every byte before it is used.
 * Two passes: first the structure (bounds, sizes, END, hash), then copying into arrays. */
#include "dump_reader.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_DUMP_MAX_FILE (1ull << 30)

/* Fields are only ever appended, so a dump of format version 1 holds at least the fields
 * that existed in version 1. These minimums stay fixed when the structs grow later. */
#define END_OF(type, field) (offsetof(struct type, field) + sizeof(((struct type *)0)->field))

struct record_kind {
    uint16_t type;
    const char *name;
    size_t min_fixed;   /* smallest fixed part a version-1 writer can produce */
    size_t max_count;   /* guard against amplification: 0 means bounded by the file only */
};

static const struct record_kind record_kinds[] = {
#define ST_KIND_(name, value, type, last, max) {ST_REC_##name, #name, END_OF(type, last), max},
    ST_RECORD_TYPES(ST_KIND_)
#undef ST_KIND_
    {ST_REC_END, "END", END_OF(st_rec_end, fnv1a64), 0},
};

static const struct record_kind *kind_of(uint16_t type)
{
    for (size_t i = 0; i < sizeof record_kinds / sizeof record_kinds[0]; i++)
        if (record_kinds[i].type == type) return &record_kinds[i];
    return NULL;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static uint64_t pad8(uint64_t n) { return (n + 7u) & ~(uint64_t)7u; }

/* Copy a record's fixed part: older writers leave our newer fields at 0, newer writers'
 * extra fields are ignored. */
static void copy_fixed(void *dst, size_t dst_size, const unsigned char *payload, uint16_t fixed_size)
{
    memset(dst, 0, dst_size);
    memcpy(dst, payload, fixed_size < dst_size ? fixed_size : dst_size);
}

/* A string from a variable part: stops at the first NUL, always NUL-terminated. */
static void copy_var_string(char *dst, size_t dst_size, const unsigned char *var, size_t var_len)
{
    size_t n = 0;
    while (n < var_len && n + 1 < dst_size && var[n] != 0) n++;
    memcpy(dst, var, n);
    dst[n] = 0;
}

#define TERMINATE(arr) ((arr)[sizeof(arr) - 1] = 0)

struct walk {
    size_t counts[ST_REC_LAST_KNOWN + 1];
    size_t unknown;
    uint64_t records;
};

/* Pass 1: the structure. Every later read is inside a record this pass accepted. */
static int check_structure(const unsigned char *data, size_t len, uint64_t first_record,
                           struct walk *w, char *err, size_t errlen)
{
    uint64_t pos = first_record;
    uint64_t hash = st_fnv1a64(ST_FNV1A64_INIT, data, first_record);
    memset(w, 0, sizeof *w);
    for (;;) {
        if (pos == len) {
            set_err(err, errlen, "truncated at byte %llu (no END record)", (unsigned long long)pos);
            return -1;
        }
        if (len - pos < sizeof(struct st_record_header)) {
            set_err(err, errlen, "truncated at byte %llu (partial record header, no END record)",
                    (unsigned long long)len);
            return -1;
        }
        struct st_record_header rh;
        memcpy(&rh, data + pos, sizeof rh);
        if (rh.total_size > SESSTRIM_DUMP_MAX_RECORD) {
            set_err(err, errlen, "record at byte %llu: size %u exceeds the %u byte limit (corrupt)",
                    (unsigned long long)pos, rh.total_size, SESSTRIM_DUMP_MAX_RECORD);
            return -1;
        }
        if (rh.fixed_size > rh.total_size) {
            set_err(err, errlen, "record at byte %llu: fixed size %u larger than its total size %u (corrupt)",
                    (unsigned long long)pos, rh.fixed_size, rh.total_size);
            return -1;
        }
        uint64_t payload = pos + sizeof rh;
        uint64_t next = payload + pad8(rh.total_size);
        if (next > len) {
            set_err(err, errlen, "truncated at byte %llu (record at byte %llu needs %llu bytes, no END record)",
                    (unsigned long long)len, (unsigned long long)pos, (unsigned long long)(next - pos));
            return -1;
        }
        const struct record_kind *k = kind_of(rh.type);
        if (k && rh.fixed_size < k->min_fixed) {
            set_err(err, errlen, "record %s at byte %llu: fixed size %u below the minimum %zu (corrupt)",
                    k->name, (unsigned long long)pos, rh.fixed_size, k->min_fixed);
            return -1;
        }
        if (rh.type == ST_REC_END) {
            struct st_rec_end end;
            memcpy(&end, data + payload, sizeof end);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
            /* Mutated inputs never keep a valid hash: let the fuzzer reach the copying pass. */
            end.record_count = w->records;
            end.fnv1a64 = hash;
#endif
            if (end.record_count != w->records) {
                set_err(err, errlen, "END record at byte %llu counts %llu records, file has %llu (corrupt)",
                        (unsigned long long)pos, (unsigned long long)end.record_count,
                        (unsigned long long)w->records);
                return -1;
            }
            if (end.fnv1a64 != hash) {
                set_err(err, errlen, "checksum mismatch (FNV-1a %016llx stored, %016llx computed): corrupted",
                        (unsigned long long)end.fnv1a64, (unsigned long long)hash);
                return -1;
            }
            if (next != len) {
                set_err(err, errlen, "%llu unexpected bytes after the END record at byte %llu",
                        (unsigned long long)(len - next), (unsigned long long)pos);
                return -1;
            }
            return 0;
        }
        if (!k) {
            w->unknown++;
        } else {
            w->counts[rh.type]++;
            if (k->max_count && w->counts[rh.type] > k->max_count) {
                set_err(err, errlen, "%zu %s records, at most %zu allowed (corrupt)",
                        w->counts[rh.type], k->name, k->max_count);
                return -1;
            }
            if (rh.type == ST_REC_PYFRAME) {
                struct st_rec_pyframe pf;
                memcpy(&pf, data + payload, sizeof pf);   /* min_fixed is its whole v1 struct */
                if (pf.id == 0 || (uint32_t)pf.file_len + pf.func_len > rh.total_size - rh.fixed_size) {
                    set_err(err, errlen, "record PYFRAME at byte %llu: id %u, file and function of %u + %u bytes in %u "
                            "variable bytes (corrupt)", (unsigned long long)pos, pf.id, pf.file_len, pf.func_len,
                            rh.total_size - rh.fixed_size);
                    return -1;
                }
            }
            if (rh.type == ST_REC_SITE || rh.type == ST_REC_TIMELINE) {
                /* nframes / narenas sit at the same place in both structs' v1 layout;
                 * read them by their own offsets to stay honest. */
                uint32_t n;
                size_t off = rh.type == ST_REC_SITE ? offsetof(struct st_rec_site, nframes)
                                                    : offsetof(struct st_rec_timeline, narenas);
                memcpy(&n, data + payload + off, sizeof n);
                if ((uint64_t)n * 8u > (uint64_t)(rh.total_size - rh.fixed_size)) {
                    set_err(err, errlen, "record %s at byte %llu: %u entries do not fit in %u bytes (corrupt)",
                            k->name, (unsigned long long)pos, n, rh.total_size - rh.fixed_size);
                    return -1;
                }
            }
        }
        w->records++;
        hash = st_fnv1a64(hash, data + pos, next - pos);
        pos = next;
    }
}

static int alloc_array(void **arr, size_t count, size_t elem)
{
    *arr = NULL;
    if (count == 0) return 0;
    *arr = calloc(count, elem);
    return *arr ? 0 : -1;
}

static int allocate_arrays(struct st_dump *d, const struct walk *w)
{
    const size_t *c = w->counts;
    int rc = 0;
    rc |= alloc_array((void **)&d->arenas, c[ST_REC_ARENA], sizeof *d->arenas);
    rc |= alloc_array((void **)&d->arena_threads, c[ST_REC_ARENA_THREAD], sizeof *d->arena_threads);
    rc |= alloc_array((void **)&d->threads, c[ST_REC_THREAD], sizeof *d->threads);
    rc |= alloc_array((void **)&d->xfrees, c[ST_REC_XFREE], sizeof *d->xfrees);
    rc |= alloc_array((void **)&d->mappings, c[ST_REC_MAPPING], sizeof *d->mappings);
    rc |= alloc_array((void **)&d->sessions, c[ST_REC_SESSION], sizeof *d->sessions);
    rc |= alloc_array((void **)&d->session_sites, c[ST_REC_SESSION_SITE], sizeof *d->session_sites);
    rc |= alloc_array((void **)&d->sites, c[ST_REC_SITE], sizeof *d->sites);
    rc |= alloc_array((void **)&d->modules, c[ST_REC_MODULE], sizeof *d->modules);
    rc |= alloc_array((void **)&d->trims, c[ST_REC_TRIM], sizeof *d->trims);
    rc |= alloc_array((void **)&d->trim_arenas, c[ST_REC_TRIM_ARENA], sizeof *d->trim_arenas);
    rc |= alloc_array((void **)&d->timeline, c[ST_REC_TIMELINE], sizeof *d->timeline);
    rc |= alloc_array((void **)&d->occupancy, c[ST_REC_OCCUPANCY], sizeof *d->occupancy);
    rc |= alloc_array((void **)&d->pins, c[ST_REC_PIN], sizeof *d->pins);
    rc |= alloc_array((void **)&d->pyframes, c[ST_REC_PYFRAME], sizeof *d->pyframes);
    return rc;
}

/* Variable-length tails (frames, per-arena residents) come as uint64 arrays. */
static uint64_t *copy_u64s(const unsigned char *src, uint32_t n)
{
    if (n == 0) return NULL;
    uint64_t *a = malloc((size_t)n * sizeof *a);
    if (a) memcpy(a, src, (size_t)n * sizeof *a);
    return a;
}

#define COPY_INTO(arr, cnt) copy_fixed(&(arr)[(cnt)++], sizeof (arr)[0], payload, rh.fixed_size)

/* Pass 2: copy. The structure was checked, so only allocation can fail here. */
static int copy_records(const unsigned char *data, uint64_t first_record, struct st_dump *d,
                        char *err, size_t errlen)
{
    uint64_t pos = first_record;
    for (;;) {
        struct st_record_header rh;
        memcpy(&rh, data + pos, sizeof rh);
        const unsigned char *payload = data + pos + sizeof rh;
        const unsigned char *var = payload + rh.fixed_size;
        size_t var_len = rh.total_size - rh.fixed_size;
        pos += sizeof rh + pad8(rh.total_size);
        switch (rh.type) {
        case ST_REC_END: return 0;
        case ST_REC_PROCESS:
            copy_fixed(&d->process, sizeof d->process, payload, rh.fixed_size);
            TERMINATE(d->process.glibc_version);
            TERMINATE(d->process.exe);
            TERMINATE(d->process.cmdline);
            break;
        case ST_REC_ARENA: COPY_INTO(d->arenas, d->n_arenas); break;
        case ST_REC_ARENA_THREAD: COPY_INTO(d->arena_threads, d->n_arena_threads); break;
        case ST_REC_THREAD:
            COPY_INTO(d->threads, d->n_threads);
            TERMINATE(d->threads[d->n_threads - 1].name);
            break;
        case ST_REC_XFREE: COPY_INTO(d->xfrees, d->n_xfrees); break;
        case ST_REC_MMAPS:
            copy_fixed(&d->mmaps, sizeof d->mmaps, payload, rh.fixed_size);
            d->has_mmaps = true;
            break;
        case ST_REC_MAPPING: {
            struct st_dump_mapping *m = &d->mappings[d->n_mappings++];
            copy_fixed(&m->m, sizeof m->m, payload, rh.fixed_size);
            copy_var_string(m->name, sizeof m->name, var, var_len);
            break;
        }
        case ST_REC_SESSION:
            COPY_INTO(d->sessions, d->n_sessions);
            TERMINATE(d->sessions[d->n_sessions - 1].name);
            break;
        case ST_REC_SESSION_SUMMARY:
            copy_fixed(&d->session_summary, sizeof d->session_summary, payload, rh.fixed_size);
            d->has_session_summary = true;
            break;
        case ST_REC_SESSION_SITE: COPY_INTO(d->session_sites, d->n_session_sites); break;
        case ST_REC_SITE: {
            struct st_dump_site *s = &d->sites[d->n_sites++];
            copy_fixed(&s->s, sizeof s->s, payload, rh.fixed_size);
            s->frames = copy_u64s(var, s->s.nframes);
            if (s->s.nframes && !s->frames) goto oom;
            break;
        }
        case ST_REC_MODULE: {
            struct st_dump_module *m = &d->modules[d->n_modules++];
            copy_fixed(&m->m, sizeof m->m, payload, rh.fixed_size);
            if (m->m.build_id_len > sizeof m->m.build_id) m->m.build_id_len = sizeof m->m.build_id;
            copy_var_string(m->path, sizeof m->path, var, var_len);
            break;
        }
        case ST_REC_TRIM: COPY_INTO(d->trims, d->n_trims); break;
        case ST_REC_TRIM_ARENA: COPY_INTO(d->trim_arenas, d->n_trim_arenas); break;
        case ST_REC_TIMELINE: {
            struct st_dump_timeline *t = &d->timeline[d->n_timeline++];
            copy_fixed(&t->t, sizeof t->t, payload, rh.fixed_size);
            t->arena_resident = copy_u64s(var, t->t.narenas);
            if (t->t.narenas && !t->arena_resident) goto oom;
            break;
        }
        case ST_REC_OCCUPANCY: COPY_INTO(d->occupancy, d->n_occupancy); break;
        case ST_REC_PIN: COPY_INTO(d->pins, d->n_pins); break;
        case ST_REC_PYFRAME: {
            struct st_dump_pyframe *f = &d->pyframes[d->n_pyframes++];
            copy_fixed(&f->p, sizeof f->p, payload, rh.fixed_size);
            copy_var_string(f->file, sizeof f->file, var, f->p.file_len);
            copy_var_string(f->func, sizeof f->func, var + f->p.file_len, f->p.func_len);
            break;
        }
        case ST_REC_CONFIG:
            copy_fixed(&d->config, sizeof d->config, payload, rh.fixed_size);
            d->has_config = true;
            d->config_env_len = var_len < sizeof d->config_env ? var_len : sizeof d->config_env - 1;
            memcpy(d->config_env, var, d->config_env_len);
            d->config_env[d->config_env_len] = 0;
            break;
        default: break; /* unknown: counted in pass 1, skipped here */
        }
    }
oom:
    set_err(err, errlen, "out of memory while loading");
    return -1;
}

static uint64_t sub0(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }
static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* Same formula as the shim's sampler (preload/stacks.c): an allocation of `size` bytes is
 * sampled with probability 1 - exp(-size / mean). */
static double sample_probability(double size, double mean)
{
    if (size < 1) size = 1;
    double p = -expm1(-size / mean);
    return p > 1e-12 ? p : 1e-12;
}

/* Numbers derived from raw counters, here once so every output sees the same:
 * thread live bytes (clamped, never a wrapped ~16 EiB) and sampled site estimates (scaled
 * from the raw samples, never above the exact totals that bound them). */
static void derive_fields(struct st_dump *d)
{
    uint64_t alloc_total = 0;
    for (size_t i = 0; i < d->n_threads; i++) {
        struct st_rec_thread *t = &d->threads[i];
        alloc_total += t->alloc_bytes;
        uint64_t self_freed = sub0(t->freed_bytes, t->cross_free_bytes);
        uint64_t self_frees = sub0(t->frees, t->cross_frees);
        t->live_bytes = sub0(sub0(t->alloc_bytes, self_freed), t->freed_by_others_bytes);
        t->live_count = sub0(sub0(t->allocs, self_frees), t->freed_by_others);
    }
    const struct st_rec_process *p = &d->process;
    double mean = p->stack_sample_bytes > 1 ? (double)p->stack_sample_bytes : 0;
    for (size_t i = 0; i < d->n_sites; i++) {
        struct st_rec_site *s = &d->sites[i].s;
        if (s->sampled_live_count) {
            double bytes = (double)s->sampled_live_bytes, count = (double)s->sampled_live_count;
            if (mean > 0) {
                double prob = sample_probability(bytes / count, mean);
                bytes /= prob;
                count /= prob;
            }
            s->live_bytes = bytes >= 1.8e19 ? UINT64_MAX : (uint64_t)(bytes + 0.5);
            s->live_count = count >= 1.8e19 ? UINT64_MAX : (uint64_t)(count + 0.5);
        }
        /* An estimate is never above the exact total it is part of. */
        s->live_bytes = min_u64(s->live_bytes, p->live_bytes);
        s->live_count = min_u64(s->live_count, p->live_count);
        if (alloc_total) s->total_bytes = min_u64(s->total_bytes, alloc_total);
        if (p->total_allocs) s->total_allocs = min_u64(s->total_allocs, p->total_allocs);
    }
}

int st_dump_parse(const void *data_v, size_t len, struct st_dump *out, char *err, size_t errlen)
{
    const unsigned char *data = data_v;
    memset(out, 0, sizeof *out);
    if (len == 0 || !data) {
        set_err(err, errlen, "empty file, not a sesstrim dump");
        return -1;
    }
    if (len < SESSTRIM_DUMP_MAGIC_LEN || memcmp(data, SESSTRIM_DUMP_MAGIC, SESSTRIM_DUMP_MAGIC_LEN) != 0) {
        if (len >= SESSTRIM_DUMP_MAGIC_LEN && memcmp(data, SESSTRIM_DUMP_MAGIC, 7) == 0)
            set_err(err, errlen, "sesstrim dump of an unknown family (magic byte 8 is 0x%02x)", data[7]);
        else if (len < SESSTRIM_DUMP_MAGIC_LEN && memcmp(data, SESSTRIM_DUMP_MAGIC, len) == 0)
            set_err(err, errlen, "truncated at byte %zu (inside the file header)", len);
        else
            set_err(err, errlen, "not a sesstrim dump (bad magic)");
        return -1;
    }
    if (len > ST_DUMP_MAX_FILE) {
        set_err(err, errlen, "%zu bytes is over the 1 GiB limit of a dump", len);
        return -1;
    }
    struct st_dump_header h;
    if (len < sizeof h) {
        set_err(err, errlen, "truncated at byte %zu (inside the file header)", len);
        return -1;
    }
    memcpy(&h, data, sizeof h);
    if (h.endian_check != SESSTRIM_DUMP_ENDIAN_CHECK) {
        if (h.endian_check == __builtin_bswap32(SESSTRIM_DUMP_ENDIAN_CHECK))
            set_err(err, errlen, "dump written on a big-endian machine: not supported");
        else
            set_err(err, errlen, "bad endianness check 0x%08x (corrupt header)", h.endian_check);
        return -1;
    }
    if (h.version == 0) {
        set_err(err, errlen, "bad format version 0 (corrupt header)");
        return -1;
    }
    if (h.version > SESSTRIM_DUMP_VERSION_MAX_READ) {
        set_err(err, errlen, "dump format version %u, this sesstrim-report reads versions 1..%u (upgrade it)",
                h.version, SESSTRIM_DUMP_VERSION_MAX_READ);
        return -1;
    }
    if (h.header_size < sizeof h || h.header_size % 8 != 0) {
        set_err(err, errlen, "bad header size %u (corrupt header)", h.header_size);
        return -1;
    }
    if (h.header_size > len) {
        set_err(err, errlen, "truncated at byte %zu (inside the file header)", len);
        return -1;
    }

    struct walk w;
    if (check_structure(data, len, h.header_size, &w, err, errlen) != 0) return -1;
    if (w.counts[ST_REC_PROCESS] != 1) {
        set_err(err, errlen, "no PROCESS record (corrupt)");
        return -1;
    }
    out->version = h.version;
    out->unknown_records = w.unknown;
    if (allocate_arrays(out, &w) != 0) {
        st_dump_free(out);
        set_err(err, errlen, "out of memory while loading");
        return -1;
    }
    if (copy_records(data, h.header_size, out, err, errlen) != 0) {
        st_dump_free(out);
        return -1;
    }
    derive_fields(out);
    return 0;
}

static int read_whole_file(const char *path, unsigned char **buf, size_t *len, char *reason, size_t rlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(reason, rlen, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(reason, rlen, "not a regular file");
        close(fd);
        return -1;
    }
    if ((uint64_t)sb.st_size > ST_DUMP_MAX_FILE) {
        snprintf(reason, rlen, "%llu bytes is over the 1 GiB limit of a dump", (unsigned long long)sb.st_size);
        close(fd);
        return -1;
    }
    size_t size = (size_t)sb.st_size;
    unsigned char *b = malloc(size ? size : 1);
    if (!b) {
        snprintf(reason, rlen, "out of memory reading %zu bytes", size);
        close(fd);
        return -1;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, b + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            snprintf(reason, rlen, "read error: %s", strerror(errno));
            free(b);
            close(fd);
            return -1;
        }
        if (n == 0) break; /* shrank under us: parse what we have, it will say truncated */
        got += (size_t)n;
    }
    close(fd);
    *buf = b;
    *len = got;
    return 0;
}

int st_dump_load(const char *path, struct st_dump *out, char *err, size_t errlen)
{
    char reason[400] = "";
    unsigned char *buf = NULL;
    size_t len = 0;
    memset(out, 0, sizeof *out);
    if (read_whole_file(path, &buf, &len, reason, sizeof reason) != 0) {
        set_err(err, errlen, "%s: %s", path, reason);
        return -1;
    }
    int rc = st_dump_parse(buf, len, out, reason, sizeof reason);
    free(buf);
    if (rc != 0) {
        set_err(err, errlen, "%s: %s", path, reason);
        return -1;
    }
    snprintf(out->path, sizeof out->path, "%s", path);
    return 0;
}

void st_dump_free(struct st_dump *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->n_sites; i++) free(d->sites[i].frames);
    for (size_t i = 0; i < d->n_timeline; i++) free(d->timeline[i].arena_resident);
    free(d->arenas);
    free(d->arena_threads);
    free(d->threads);
    free(d->xfrees);
    free(d->mappings);
    free(d->sessions);
    free(d->session_sites);
    free(d->sites);
    free(d->modules);
    free(d->trims);
    free(d->trim_arenas);
    free(d->timeline);
    free(d->occupancy);
    free(d->pins);
    free(d->pyframes);
    memset(d, 0, sizeof *d);
}

const struct st_dump_pyframe *st_dump_pyframe(const struct st_dump *d, uint64_t frame)
{
    if (!st_is_pyframe(frame)) return NULL;
    uint32_t id = ST_PYFRAME_ID(frame);
    /* The shim writes ids 1..n in order: try the direct slot first. */
    if (id && id <= d->n_pyframes && d->pyframes[id - 1].p.id == id) return &d->pyframes[id - 1];
    for (size_t i = 0; i < d->n_pyframes; i++)
        if (d->pyframes[i].p.id == id) return &d->pyframes[i];
    return NULL;
}
