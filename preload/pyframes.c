/* pyframes.c: the native side of the Python binding (issue 11): Python frames in allocation
 * sites (below), a dump on SIGTERM for multiprocessing workers (at the end), and two small
 * read-only queries the binding needs and the public C API does not offer:
 *  - sesstrim_impl_session_stats: a session's counters now, so the pytest plugin can fail a
 *    test on its leftovers without writing a dump per test;
 *  - sesstrim_impl_block_owner: the session that owns a live block and that session's
 *    parent, so a failed keep() can say why it failed.
 * Both are called from Python through ctypes (python/sesstrim/__init__.py); neither
 * allocates, both take at most one live-table shard lock. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include "pyframes.h"
#include "service.h"
#include "sessions.h"

/* The order of out[] is part of the binding's contract (SESSTRIM_STAT_* in pyframes.h). */
ST_API(int, session_stats, (uint64_t id, uint64_t *out), (id, out))
{
    if (!id || !out) return -1;
    struct st_session *s = sess_slot_of_ref((uint32_t)id);
    if (!s || __atomic_load_n(&s->id, __ATOMIC_ACQUIRE) != id) return -1;
    struct st_rec_session r;
    sess_fill_record(s, &r);
    /* The slot may have been recycled while we read it (the session ended and its last
     * block was freed): then the figures belong to someone else; say "unknown". */
    if (__atomic_load_n(&s->id, __ATOMIC_ACQUIRE) != id) return -1;
    uint64_t v[SESSTRIM_STAT_COUNT] = {
        [SESSTRIM_STAT_LIVE_BYTES] = r.live_bytes,
        [SESSTRIM_STAT_LIVE_COUNT] = r.live_count,
        [SESSTRIM_STAT_PEAK_BYTES] = r.peak_bytes,
        [SESSTRIM_STAT_TOTAL_BYTES] = r.total_alloc_bytes,
        [SESSTRIM_STAT_TOTAL_ALLOCS] = r.total_allocs,
        [SESSTRIM_STAT_FREES] = r.frees,
        [SESSTRIM_STAT_KEPT_IN_BYTES] = r.kept_in_bytes,
        [SESSTRIM_STAT_THREADS_SEEN] = r.threads_seen,
        [SESSTRIM_STAT_PARENT_ID] = r.parent_id,
        [SESSTRIM_STAT_ENDED] = (r.flags & ST_SESSION_ENDED) ? 1 : 0,
    };
    memcpy(out, v, sizeof v);
    return 0;
}

struct owner_ctx { uint32_t ref; };

static void read_owner(struct st_entry *e, void *arg)
{
    ((struct owner_ctx *)arg)->ref = e->session;
}

/* out[0]: owner session id (0: the block belongs to no session), out[1]: its parent id
 * (0: a top-level session). -1 when ptr is not the start of a live block the shim saw. */
ST_API(int, block_owner, (const void *ptr, uint64_t *out), (ptr, out))
{
    if (!ptr || !out) return -1;
    struct owner_ctx c = { 0 };
    if (!livetable_update((uintptr_t)ptr, read_owner, &c)) return -1;
    out[0] = out[1] = 0;
    struct st_session *s = c.ref ? sess_slot_of_ref(c.ref) : NULL;
    if (s) {
        out[0] = __atomic_load_n(&s->id, __ATOMIC_ACQUIRE);
        out[1] = s->parent_id;
    }
    return 0;
}

/* ---------------------------------------------------------------- Python frames */
/*
 * How the stack is read without allocating. CPython's public frame API allocates on 3.11+
 * (PyEval_GetFrame materialises a frame object, which can run the garbage collector), and
 * PyUnicode_AsUTF8 may allocate its UTF-8 cache: neither may run inside malloc. So only
 * four calls that read state are made (Py_IsInitialized, _Py_IsFinalizing, PyGILState_Check,
 * PyGILState_GetThisThreadState, plus PyCode_Addr2Line, which decodes the line table in
 * place) and the rest is read from CPython's structs with the offsets of the running
 * version, x86-64 default builds of 3.9 to 3.13 (taken from each version's headers:
 * offsetof over PyThreadState, _PyCFrame, _PyInterpreterFrame / PyFrameObject,
 * PyCodeObject, PyASCIIObject). Any other version, a free-threaded build, or a symbol
 * missing: no Python frames, nothing else changes. Every pointer read is checked for
 * NULL and every code object for its type before use.
 */
struct py_layout {
    int minor;
    int ts_frame;        /* PyThreadState: frame (3.9/10), cframe (3.11/12), current_frame (3.13) */
    int cframe_frame;    /* _PyCFrame.current_frame, -1: none */
    int f_code, f_back, f_instr, f_owner;  /* frame fields; f_owner -1: none */
    int co_filename, co_name, co_code, co_firsttraceable;
    int ascii_size, compact_size;
};

static const struct py_layout layouts[] = {
    { 9, 24, -1, 32, 24, 104, -1, 104, 112, -1, -1, 48, 72 },
    { 10, 24, -1, 32, 24, 96, -1, 104, 112, -1, -1, 48, 72 },
    { 11, 56, 8, 32, 48, 56, 69, 112, 128, 184, 168, 48, 72 },
    { 12, 56, 0, 0, 8, 56, 70, 112, 128, 192, 176, 40, 56 },
    { 13, 72, -1, 0, 8, 56, 70, 112, 128, 200, 184, 40, 56 },
};

#define OWNED_BY_GENERATOR 1
#define OWNED_BY_CSTACK 3        /* 3.12+: the C-stack entry frame, not Python code */

static void loc_fork_prepare(void);
static void loc_fork_release(void);

static struct {
    int (*is_initialized)(void);
    int (*is_finalizing)(void);
    int (*gil_check)(void);
    void *(*this_thread_state)(void);
    int (*addr2line)(void *code, int addr);
    void *code_type;
    const struct py_layout *lay;
} py;
static int py_state;   /* 0 not looked at, 1 ready, -1 no Python / unsupported / turned off */

static int is_libpython(struct dl_phdr_info *info, size_t len, void *found)
{
    (void)len;
    if (info->dlpi_name && strstr(info->dlpi_name, "/libpython")) *(int *)found = 1;
    return *(int *)found;
}

/* Is this a CPython process? Asked without dlsym: a failed dlsym allocates its error message
 * (dlerror), which stays allocated and moves the host's heap (a C program's page layout
 * changed measurably). The interpreter is a python* executable or loads libpython. */
static bool looks_like_python(void)
{
    char exe[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        const char *base = strrchr(exe, '/');
        if (!strncmp(base ? base + 1 : exe, "python", 6)) return true;
    }
    int found = 0;
    dl_iterate_phdr(is_libpython, &found);
    return found;
}

/* Runs once, from the shim's constructor after the options are parsed (never inside malloc). */
void pyframes_init(void)
{
    py_state = -1;
    if (!st_opt.pyframes) return;
    if (!looks_like_python()) return;
    void *init = dlsym(RTLD_DEFAULT, "Py_IsInitialized");
    const char *(*version)(void) = init ? (const char *(*)(void))dlsym(RTLD_DEFAULT, "Py_GetVersion") : NULL;
    const char *v = version ? version() : NULL;     /* "3.11.7 (main, ...) [GCC ...]" */
    if (v && v[0] == '3' && v[1] == '.' && !strstr(v, "free-threading")) {
        int minor = atoi(v + 2);
        for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++)
            if (layouts[i].minor == minor) py.lay = &layouts[i];
    }
    if (py.lay) {
        py.is_initialized = (int (*)(void))init;
        py.is_finalizing = (int (*)(void))dlsym(RTLD_DEFAULT, "_Py_IsFinalizing");
        if (!py.is_finalizing) py.is_finalizing = (int (*)(void))dlsym(RTLD_DEFAULT, "Py_IsFinalizing");
        py.gil_check = (int (*)(void))dlsym(RTLD_DEFAULT, "PyGILState_Check");
        py.this_thread_state = (void *(*)(void))dlsym(RTLD_DEFAULT, "PyGILState_GetThisThreadState");
        py.addr2line = (int (*)(void *, int))dlsym(RTLD_DEFAULT, "PyCode_Addr2Line");
        py.code_type = dlsym(RTLD_DEFAULT, "PyCode_Type");
        if (py.is_finalizing && py.gil_check && py.this_thread_state && py.addr2line && py.code_type &&
            pthread_atfork(loc_fork_prepare, loc_fork_release, loc_fork_release) == 0)
            py_state = 1;
    }
}

static inline void *read_ptr(const void *base, int off)
{
    void *p;
    memcpy(&p, (const char *)base + off, sizeof p);
    return p;
}

/* A str object's text as UTF-8 into out (at most cap-1 bytes, NUL-terminated), without
 * allocating: compact strings only (every identifier and file name CPython makes). The
 * bit positions of kind/compact in PyASCIIObject.state are the same in 3.9 to 3.13. */
static uint32_t read_str(const void *s, char *out, uint32_t cap)
{
    if (!s) return 0;
    int64_t len;
    uint32_t state;
    memcpy(&len, (const char *)s + 16, sizeof len);
    memcpy(&state, (const char *)s + 32, sizeof state);
    uint32_t kind = (state >> 2) & 7, compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
    if (!compact || len < 0) return 0;
    const unsigned char *data = (const unsigned char *)s + (ascii ? py.lay->ascii_size : py.lay->compact_size);
    uint32_t n = 0;
    for (int64_t i = 0; i < len; i++) {
        uint32_t c = kind == 1 ? data[i] : kind == 2 ? ((const uint16_t *)(const void *)data)[i]
                                                     : ((const uint32_t *)(const void *)data)[i];
        char enc[4];
        uint32_t k;
        if (c < 0x80) { enc[0] = (char)c; k = 1; }
        else if (c < 0x800) { enc[0] = (char)(0xC0 | c >> 6); enc[1] = (char)(0x80 | (c & 0x3F)); k = 2; }
        else if (c < 0x10000) { enc[0] = (char)(0xE0 | c >> 12); enc[1] = (char)(0x80 | ((c >> 6) & 0x3F));
                                enc[2] = (char)(0x80 | (c & 0x3F)); k = 3; }
        else { enc[0] = (char)(0xF0 | c >> 18); enc[1] = (char)(0x80 | ((c >> 12) & 0x3F));
               enc[2] = (char)(0x80 | ((c >> 6) & 0x3F)); enc[3] = (char)(0x80 | (c & 0x3F)); k = 4; }
        if (n + k >= cap) break;
        memcpy(out + n, enc, k);
        n += k;
    }
    out[n] = 0;
    return n;
}

/* ---- the location table: (file, function, line) -> id, in memory mapped by the shim */
#define LOC_FILE_MAX 120
#define LOC_FUNC_MAX 64
#define LOC_MAX 16384u              /* locations kept; beyond, frames are dropped */
#define LOC_INDEX (LOC_MAX * 2)

struct pyloc {
    uint64_t hash;
    int32_t line;
    uint16_t file_len, func_len;
    char file[LOC_FILE_MAX], func[LOC_FUNC_MAX];
};

static st_lock_t loc_lock;
static struct pyloc *locs;          /* ids 1..nlocs */
static uint32_t *loc_index;
static uint32_t nlocs;
static bool loc_failed;

/* A fork while another thread holds loc_lock must not hand the child a held lock. */
static void loc_fork_prepare(void) { st_lock(&loc_lock); }
static void loc_fork_release(void) { st_unlock(&loc_lock); }

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* The code object's file name, keeping its tail (the informative end of a long path). */
static uint32_t code_file(const void *code, char *out)
{
    char tmp[512];
    uint32_t n = read_str(read_ptr(code, py.lay->co_filename), tmp, sizeof tmp);
    if (n < LOC_FILE_MAX) { memcpy(out, tmp, n); return n; }
    uint32_t keep = LOC_FILE_MAX - 4, from = n - keep;
    while (from < n && ((unsigned char)tmp[from] & 0xC0) == 0x80) from++;   /* UTF-8 boundary */
    memcpy(out, "...", 3);
    memcpy(out + 3, tmp + from, n - from);
    return 3 + (n - from);
}

static uint32_t loc_id(const void *code, int line)
{
    char file[LOC_FILE_MAX], func[LOC_FUNC_MAX];
    uint32_t flen = code_file(code, file);
    uint32_t nlen = read_str(read_ptr(code, py.lay->co_name), func, sizeof func);
    uint64_t h = fnv(fnv(fnv(0xcbf29ce484222325ull, file, flen), func, nlen), &line, sizeof line);
    uint32_t id = 0;
    st_lock(&loc_lock);
    if (!locs && !loc_failed) {
        locs = meta_map(sizeof(struct pyloc) * (LOC_MAX + 1));
        loc_index = meta_map(sizeof(uint32_t) * LOC_INDEX);
        loc_failed = !locs || !loc_index;
    }
    if (!loc_failed) {
        uint32_t i = (uint32_t)h & (LOC_INDEX - 1);
        for (; loc_index[i]; i = (i + 1) & (LOC_INDEX - 1)) {
            struct pyloc *l = &locs[loc_index[i]];
            if (l->hash == h && l->line == line && l->file_len == flen && l->func_len == nlen &&
                !memcmp(l->file, file, flen) && !memcmp(l->func, func, nlen)) {
                id = loc_index[i];
                break;
            }
        }
        if (!id && nlocs < LOC_MAX) {
            id = nlocs + 1;
            struct pyloc *l = &locs[id];
            l->hash = h;
            l->line = line;
            l->file_len = (uint16_t)flen;
            l->func_len = (uint16_t)nlen;
            memcpy(l->file, file, flen);
            memcpy(l->func, func, nlen);
            loc_index[i] = id;
            __atomic_store_n(&nlocs, id, __ATOMIC_RELEASE);   /* the dump reads ids 1..nlocs */
        }
    }
    st_unlock(&loc_lock);
    return id;
}

/* The innermost interpreter frame of tstate, or NULL. */
static const void *top_frame(const void *tstate)
{
    const void *f = read_ptr(tstate, py.lay->ts_frame);
    if (f && py.lay->cframe_frame >= 0) f = read_ptr(f, py.lay->cframe_frame);
    return f;
}

/* The line of frame f running code. 3.9: f_lasti counts bytes; 3.10: code units; 3.11+:
 * the instruction pointer, as in _PyInterpreterFrame_LASTI. */
static int frame_line(const void *f, const void *code)
{
    int addr;
    if (py.lay->co_code < 0) {
        int lasti;
        memcpy(&lasti, (const char *)f + py.lay->f_instr, sizeof lasti);
        addr = py.lay->minor == 9 ? lasti : lasti * 2;
    } else {
        const char *instr = read_ptr(f, py.lay->f_instr);
        addr = (int)(instr - ((const char *)code + py.lay->co_code));
        if (addr < 0) addr = -1;
    }
    return py.addr2line((void *)code, addr);
}

/* 3.11+: frames not yet started (their first instructions set up cells) or belonging to
 * the C stack have no line to show, as in _PyFrame_IsIncomplete. */
static bool frame_skipped(const void *f, const void *code)
{
    if (py.lay->f_owner < 0) return false;
    char owner = *((const char *)f + py.lay->f_owner);
    if (owner == OWNED_BY_CSTACK && py.lay->minor >= 12) return true;
    if (owner == OWNED_BY_GENERATOR) return false;
    int first;
    memcpy(&first, (const char *)code + py.lay->co_firsttraceable, sizeof first);
    const char *instr = read_ptr(f, py.lay->f_instr);
    return instr < (const char *)code + py.lay->co_code + 2 * first;
}

uint32_t pyframes_prepend(uint64_t *frames, uint32_t n, uint32_t cap)
{
    if (__atomic_load_n(&py_state, __ATOMIC_RELAXED) != 1) return n;
    if (!py.is_initialized() || py.is_finalizing() || !py.gil_check()) return n;
    const void *tstate = py.this_thread_state();
    if (!tstate) return n;                       /* a thread Python does not know */
    uint64_t py_frames[PYFRAMES_DEPTH];
    uint32_t k = 0;
    const void *f = top_frame(tstate);
    for (int guard = 0; f && k < PYFRAMES_DEPTH && guard < 256; guard++, f = read_ptr(f, py.lay->f_back)) {
        const void *code = read_ptr(f, py.lay->f_code);
        if (!code || read_ptr(code, 8) != py.code_type || frame_skipped(f, code)) continue;
        uint32_t id = loc_id(code, frame_line(f, code));
        if (id) py_frames[k++] = PYFRAME_TAG | id;
    }
    if (!k) return n;
    uint32_t keep_c = n + k <= cap ? n : cap - k;
    memmove(frames + k, frames, keep_c * sizeof *frames);
    memcpy(frames, py_frames, k * sizeof *frames);
    return k + keep_c;
}

void pyframes_dump_records(struct st_dump_writer *w)
{
    uint32_t n = __atomic_load_n(&nlocs, __ATOMIC_ACQUIRE);
    for (uint32_t id = 1; id <= n; id++) {
        struct pyloc l;
        st_lock(&loc_lock);
        l = locs[id];
        st_unlock(&loc_lock);
        struct st_rec_pyframe r = { .id = id, .line = l.line, .file_len = l.file_len, .func_len = l.func_len };
        char var[LOC_FILE_MAX + LOC_FUNC_MAX];
        memcpy(var, l.file, l.file_len);
        memcpy(var + l.file_len, l.func, l.func_len);
        dump_put(w, ST_REC_PYFRAME, &r, sizeof r, var, (uint32_t)(l.file_len + l.func_len));
    }
}

/* ---------------------------------------------------------------- dump on SIGTERM */
/* multiprocessing's Pool.terminate() stops workers with SIGTERM, which skips the exit dump.
 * A Python-level handler cannot write it (CPython runs it between bytecodes, and a worker
 * blocked in SemLock.acquire can miss it: Pool.terminate then hangs), so the binding asks
 * the shim's own SIGTERM dump (preload/service.c: a C handler hands the signal to the
 * service thread, which dumps and re-raises it with the default action). 0 when it is on
 * in this process, -1 otherwise (SESSTRIM_DUMP unset, or SIGTERM has another handler). */
ST_EXPORT int sesstrim_impl_dump_on_sigterm(void) { return service_dump_on_sigterm(); }
