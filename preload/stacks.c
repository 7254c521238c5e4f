/* stacks.c: allocation sites: sampled (or every) allocation stacks unwound with libunwind,
 * deduplicated into dense site ids, and the module map the analyzer symbolises them with. */
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "shim.h"
#include "dump_parts.h"
#include "pyframes.h"   /* issue 11: Python frames, see pyframes.c */

#define SITE_MAX_FRAMES 32
#define UNWIND_DEPTH (SITE_MAX_FRAMES + 16)   /* room for libunwind's and the shim's frames */
#define SITES_PER_CHUNK 2048u
#define SITE_CHUNKS 128u
#define MAX_SITES (SITES_PER_CHUNK * SITE_CHUNKS - 1)
_Static_assert(MAX_SITES < (1u << ST_ENTRY_SITE_BITS), "site ids must fit the live table's slot");
#define INDEX_MIN_CAP 4096u

struct site {
    uint64_t hash;
    uint32_t nframes, epoch;           /* epoch: the module map its frames belong to */
    double est_bytes, est_allocs;      /* what the samples stand for (exact in `all` mode) */
    uint64_t frames[SITE_MAX_FRAMES];  /* innermost first: the caller of malloc */
};

/* Sites live in chunks that never move, so a site's address is stable once made; the
 * index (open addressing over site ids, keyed by frame hash) is rebuilt when it grows. */
static void sites_repair(uint32_t i);
ST_LOCK_DEFINE(sites_lock, ST_RANK_SITES, sites_repair);
static struct site *site_chunks[SITE_CHUNKS];
static uint32_t nsites;               /* ids 1..nsites are in use; read with acquire */
static uint32_t *index_slots;
static uint32_t index_cap;
static bool full_logged;

ST_TLS int64_t st_sample_countdown;   /* 0: the first allocation of a thread seeds it */
static ST_TLS uint64_t prng_state;     /* 0: not seeded yet */

/* The shim's own code: its frames (malloc wrapper, track, here) are cut off each stack. */
static uintptr_t shim_text_start, shim_text_end;

/* Threads inside libunwind now: a fork child that inherits a non-zero count may have
 * inherited a held libunwind lock too. */
static uint32_t unwinders;
static bool dl_unsafe;                /* fork child: the loader's lock may be held for ever */

static inline struct site *site_at(uint32_t id)
{
    return &site_chunks[id / SITES_PER_CHUNK][id % SITES_PER_CHUNK];
}

/* ---------------------------------------------------------------- sampling arithmetic */
/* No libm in the preload: small series good to ~1e-7, plenty for sampling weights. */
static double ln_approx(double x)   /* x > 0, normal */
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int exponent = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
    double m;
    memcpy(&m, &bits, sizeof m);       /* [1, 2) */
    if (m > 1.4142135623730951) { m *= 0.5; exponent++; }
    double z = (m - 1) / (m + 1), z2 = z * z;   /* |z| < 0.172 */
    double ln_m = 2 * z * (1 + z2 * (1.0 / 3 + z2 * (1.0 / 5 + z2 * (1.0 / 7 + z2 * (1.0 / 9)))));
    return exponent * 0.6931471805599453 + ln_m;
}

static double exp_neg(double x)     /* e^-x for x >= 0 */
{
    if (x > 700) return 0;
    double y = x * 1.4426950408889634;  /* in powers of two: 2^-k * 2^-f */
    int64_t k = (int64_t)y;
    double t = -(y - (double)k) * 0.6931471805599453;   /* (-ln 2, 0] */
    double p = 1 + t * (1 + t * (1.0 / 2 + t * (1.0 / 6 + t * (1.0 / 24 + t * (1.0 / 120 +
               t * (1.0 / 720 + t * (1.0 / 5040 + t * (1.0 / 40320))))))));
    uint64_t scale_bits = (uint64_t)(1023 - k) << 52;
    double scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    return p * scale;
}

/* Sample points fall on the byte stream as a Poisson process of rate 1/mean, so an
 * allocation of `size` bytes is sampled with probability 1 - e^(-size/mean). */
static double sample_probability(double size, double mean)
{
    if (size < 1) size = 1;
    double x = size / mean;
    if (x < 0.01) return x * (1 - x / 2 * (1 - x / 3 * (1 - x / 4)));
    return 1 - exp_neg(x);
}

static uint64_t prng_next(void)
{
    uint64_t x = prng_state;           /* xorshift64* */
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    prng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static void prng_seed(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
                 ((uint64_t)syscall(SYS_gettid) * 0x9E3779B97F4A7C15ull) ^ (uint64_t)(uintptr_t)&prng_state;
    prng_state = s ? s : 0x9E3779B97F4A7C15ull;
}

/* Bytes to the next sample point: exponential with mean stack_sample_bytes. */
static int64_t next_interval(void)
{
    double u = (double)((prng_next() >> 11) + 1) * 0x1p-53;     /* (0, 1] */
    double bytes = -ln_approx(u) * (double)st_opt.stack_sample_bytes;
    if (bytes >= 0x1p62) return (int64_t)1 << 62;
    return (int64_t)bytes + 1;
}

/* ---------------------------------------------------------------- the site table */
static uint64_t frames_hash(const uint64_t *frames, uint32_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    for (uint32_t i = 0; i < n; i++) {
        h = (h ^ frames[i]) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return h;
}

static void index_put(uint32_t *slots, uint32_t cap, uint64_t hash, uint32_t id)
{
    uint32_t i = (uint32_t)hash & (cap - 1);
    while (slots[i]) i = (i + 1) & (cap - 1);
    slots[i] = id;
}

/* Keep the index at most half full. Under sites_lock; meta_map takes no lock. */
static bool index_make_room(void)
{
    if (index_cap && (nsites + 1) * 2 <= index_cap) return true;
    uint32_t cap = index_cap ? index_cap * 2 : INDEX_MIN_CAP;
    uint32_t *fresh = meta_map((size_t)cap * sizeof *fresh);
    if (!fresh) return index_cap && nsites + 1 < index_cap - index_cap / 8;  /* still probe-able */
    for (uint32_t id = 1; id <= nsites; id++) index_put(fresh, cap, site_at(id)->hash, id);
    meta_unmap(index_slots, (size_t)index_cap * sizeof *index_slots);
    index_slots = fresh;
    index_cap = cap;
    return true;
}

/* The id of this stack, made on first sight; 0 when the table is full or memory ran out.
 * The same addresses under another module map epoch are another site: after an unload
 * they may be another library's code. */
static uint32_t site_find_or_add(const uint64_t *frames, uint32_t n, uint32_t epoch, double est_bytes,
                                 double est_allocs)
{
    uint64_t hash = frames_hash(frames, n) ^ ((uint64_t)epoch * 0x9E3779B97F4A7C15ull);
    st_lock(&sites_lock);
    uint32_t id = 0;
    if (index_cap) {
        for (uint32_t i = (uint32_t)hash & (index_cap - 1); index_slots[i]; i = (i + 1) & (index_cap - 1)) {
            struct site *s = site_at(index_slots[i]);
            if (s->hash == hash && s->nframes == n && s->epoch == epoch &&
                !memcmp(s->frames, frames, n * sizeof *frames)) {
                id = index_slots[i];
                break;
            }
        }
    }
    if (!id && nsites < MAX_SITES && index_make_room()) {
        uint32_t fresh = nsites + 1;
        struct site **chunk = &site_chunks[fresh / SITES_PER_CHUNK];
        if (!*chunk) *chunk = meta_map(SITES_PER_CHUNK * sizeof(struct site));
        if (*chunk) {
            struct site *s = site_at(fresh);
            s->hash = hash;
            s->nframes = n;
            s->epoch = epoch;
            memcpy(s->frames, frames, n * sizeof *frames);
            index_put(index_slots, index_cap, hash, fresh);
            __atomic_store_n(&nsites, fresh, __ATOMIC_RELEASE);
            id = fresh;
        }
    }
    if (id) {
        site_at(id)->est_bytes += est_bytes;
        site_at(id)->est_allocs += est_allocs;
    }
    bool log_full = !id && !full_logged;
    if (log_full) full_logged = true;
    st_unlock(&sites_lock);
    if (log_full)
        st_log("stacks: site table full (%u sites) or out of memory; further new stacks count as unknown",
               nsites);
    return id;
}

uint32_t stacks_count(void) { return __atomic_load_n(&nsites, __ATOMIC_ACQUIRE); }

/* ---------------------------------------------------------------- the module registry */
/*
 * Every module seen loaded since start, with the module map epochs it was loaded in, so a
 * frame is named against the modules loaded when it was captured (a library unloaded with
 * dlclose and another mapped at its addresses must not take over its frames). The epoch
 * counts the refreshes that found a module gone; loads alone do not change what an address
 * already captured means, so they do not start an epoch. A module is alive in epochs
 * [first_epoch, gone_epoch), gone_epoch 0 = still loaded at dump time.
 *
 * A site's epoch is not the current one but the earliest its frames mean the same in: the
 * highest first_epoch of the modules its frames are in (0 for the modules loaded before any
 * unload, the program and its libraries). So a stack keeps one site across unloads of
 * libraries it does not run in, and splits only when its own code was loaded after one.
 *
 * Refreshed when glibc's load/unload counters (dl_phdr_info.dlpi_adds / dlpi_subs) moved:
 * checked at every capture with one dl_iterate_phdr call that stops at the first object
 * (libunwind walks the same list per unwind), and at dump time. One refresher at a time,
 * with no lock of ours held across dl_iterate_phdr (a thread allocating inside a program's
 * own dl_iterate_phdr callback holds the loader lock and may land here): a thread that
 * finds a refresh under way keeps the current epoch. Entries never move (chunks), are
 * published by the count with release, and only gone_epoch changes later.
 */
#define MODS_PER_CHUNK 64u
#define MOD_CHUNKS 1024u              /* 65 536 modules over a run, the reader's limit */
#define MOD_PATH_MAX 512

struct mod_entry {
    uint64_t base, size;
    uint32_t first_epoch, gone_epoch;
    uint32_t stamp;                   /* the last refresh that saw it loaded */
    uint32_t build_id_len;
    uint8_t build_id[32];
    char path[MOD_PATH_MAX];
};

/* The loaded modules with first_epoch > 0, the only ones that can raise a site's epoch,
 * copied by the refresher under a sequence count for captures to read without a lock. More
 * than LATE_MAX of them: captures fall back to the current epoch. */
#define LATE_MAX 256u
struct late_mod { uint64_t base, size; uint32_t first_epoch; };
static struct late_mod late_mods[LATE_MAX];
static uint32_t nlate;                /* UINT32_MAX: too many, use the current epoch */
static uint32_t late_seq;             /* odd while the refresher rewrites late_mods */

static struct mod_entry *mod_chunks[MOD_CHUNKS];
static uint32_t nmods;                /* entries 0..nmods-1 are published (acquire) */
static uint32_t map_epoch;
static uint64_t seen_adds, seen_subs; /* the loader's counters the registry reflects */
static uint32_t mod_refreshing;
static uint32_t mod_stamp;            /* refresher only */
static bool mods_full_logged;

static inline struct mod_entry *mod_at(uint32_t i) { return &mod_chunks[i / MODS_PER_CHUNK][i % MODS_PER_CHUNK]; }

static uint32_t build_id_of(const struct dl_phdr_info *info, uint8_t *out, uint32_t max);

/* The span a frame can point into: from the lowest PT_LOAD page to the end of the last
 * executable segment, relative to the load base. 0 when there is no executable segment. */
static uintptr_t module_span(const struct dl_phdr_info *info, uintptr_t *lowest_out)
{
    uintptr_t lowest = UINTPTR_MAX, exec_end = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD) continue;
        uintptr_t start = (ph->p_vaddr & ~(uintptr_t)4095);
        if (start < lowest) lowest = start;
        if ((ph->p_flags & PF_X) && ph->p_vaddr + ph->p_memsz > exec_end) exec_end = ph->p_vaddr + ph->p_memsz;
    }
    *lowest_out = lowest;
    return exec_end ? exec_end - lowest : 0;
}

static int loader_counters(struct dl_phdr_info *info, size_t len, void *arg)
{
    uint64_t *c = arg;
    if (len >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
        c[0] = info->dlpi_adds;
        c[1] = info->dlpi_subs;
    }
    return 1;                          /* the counters are global: the first object will do */
}

struct refresh_ctx { uint32_t stamp, first_new; bool main_done; };

static int module_seen(struct dl_phdr_info *info, size_t len, void *arg)
{
    (void)len;
    struct refresh_ctx *ctx = arg;
    uintptr_t lowest;
    uintptr_t size = module_span(info, &lowest);
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    bool is_main = !name[0] && !ctx->main_done;
    if (!name[0]) ctx->main_done = true;
    if (!size) return 0;               /* nothing a frame could point into */
    uint64_t base = info->dlpi_addr + lowest;
    uint32_t n = nmods;                /* the refresher is the only writer */
    for (uint32_t i = 0; i < n; i++) {
        struct mod_entry *e = mod_at(i);
        if (e->base == base && e->size == size && !__atomic_load_n(&e->gone_epoch, __ATOMIC_RELAXED) &&
            (is_main || !strncmp(e->path, name, MOD_PATH_MAX - 1))) {
            e->stamp = ctx->stamp;
            return 0;
        }
    }
    if (n >= MODS_PER_CHUNK * MOD_CHUNKS) {
        if (!mods_full_logged) st_log("stacks: module registry full (%u modules); later modules are not named", n);
        mods_full_logged = true;
        return 0;
    }
    struct mod_entry **chunk = &mod_chunks[n / MODS_PER_CHUNK];
    if (!*chunk && !(*chunk = meta_map(MODS_PER_CHUNK * sizeof(struct mod_entry)))) return 0;
    struct mod_entry *e = mod_at(n);
    memset(e, 0, sizeof *e);
    e->base = base;
    e->size = size;
    e->stamp = ctx->stamp;
    e->build_id_len = build_id_of(info, e->build_id, sizeof e->build_id);
    if (is_main) {
        /* The first object with no name is the main program. */
        ssize_t k = readlink(ST_PROC_SELF "/exe", e->path, sizeof e->path - 1);
        e->path[k > 0 ? k : 0] = 0;
    } else {
        size_t k = strlen(name);
        if (k >= sizeof e->path) k = sizeof e->path - 1;
        memcpy(e->path, name, k);
    }
    __atomic_store_n(&nmods, n + 1, __ATOMIC_RELEASE);   /* first_epoch is set after the walk */
    return 0;
}

/* Bring the registry up to the loaded modules. counters: the loader's (adds, subs) that
 * made the caller look, or NULL to read them here. Returns false when another thread is
 * refreshing. */
static bool modules_refresh(const uint64_t *counters)
{
    if (__atomic_exchange_n(&mod_refreshing, 1, __ATOMIC_ACQUIRE)) return false;
    uint64_t c[2] = {0, 0};
    if (counters) memcpy(c, counters, sizeof c);
    else dl_iterate_phdr(loader_counters, c);
    struct refresh_ctx ctx = {.stamp = ++mod_stamp, .first_new = nmods};
    dl_iterate_phdr(module_seen, &ctx);
    uint32_t n = nmods, epoch = map_epoch;
    bool gone = false;
    for (uint32_t i = 0; i < ctx.first_new; i++) {
        struct mod_entry *e = mod_at(i);
        if (!e->gone_epoch && e->stamp != ctx.stamp) gone = true;
    }
    if (gone) {
        epoch++;
        for (uint32_t i = 0; i < ctx.first_new; i++) {
            struct mod_entry *e = mod_at(i);
            if (!e->gone_epoch && e->stamp != ctx.stamp) __atomic_store_n(&e->gone_epoch, epoch, __ATOMIC_RELAXED);
        }
    }
    for (uint32_t i = ctx.first_new; i < n; i++) __atomic_store_n(&mod_at(i)->first_epoch, epoch, __ATOMIC_RELAXED);
    /* Entries are appended in time order, so first_epoch never decreases along the
     * registry: the late modules are a tail of it. */
    /* A sequence count without fences (TSan does not model them): every store after the
     * odd count is a release, so a reader whose acquire load sees one of them sees the odd
     * count too when it reads the count again. */
    uint32_t k = 0;
    __atomic_store_n(&late_seq, late_seq + 1, __ATOMIC_RELAXED);
    for (uint32_t i = n; i-- > 0 && mod_at(i)->first_epoch > 0;) {
        const struct mod_entry *e = mod_at(i);
        if (e->gone_epoch) continue;
        if (k == LATE_MAX) { k = UINT32_MAX; break; }
        __atomic_store_n(&late_mods[k].base, e->base, __ATOMIC_RELEASE);
        __atomic_store_n(&late_mods[k].size, e->size, __ATOMIC_RELEASE);
        __atomic_store_n(&late_mods[k].first_epoch, e->first_epoch, __ATOMIC_RELEASE);
        k++;
    }
    __atomic_store_n(&nlate, k, __ATOMIC_RELEASE);
    __atomic_store_n(&late_seq, late_seq + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&map_epoch, epoch, __ATOMIC_RELEASE);
    __atomic_store_n(&seen_adds, c[0], __ATOMIC_RELAXED);
    __atomic_store_n(&seen_subs, c[1], __ATOMIC_RELAXED);
    __atomic_store_n(&mod_refreshing, 0, __ATOMIC_RELEASE);
    return true;
}

/* The highest first_epoch among the late modules holding one of the frames; false when the
 * late list was being rewritten (twice in a row) or is too long. */
static bool frames_epoch(const uint64_t *frames, uint32_t n, uint32_t *out)
{
    for (int tries = 0; tries < 2; tries++) {
        uint32_t seq = __atomic_load_n(&late_seq, __ATOMIC_ACQUIRE);
        if (seq & 1) continue;
        uint32_t k = __atomic_load_n(&nlate, __ATOMIC_ACQUIRE), epoch = 0;
        if (k > LATE_MAX) return false;
        for (uint32_t m = 0; m < k; m++) {
            uint64_t base = __atomic_load_n(&late_mods[m].base, __ATOMIC_ACQUIRE);
            uint64_t size = __atomic_load_n(&late_mods[m].size, __ATOMIC_ACQUIRE);
            uint32_t first = __atomic_load_n(&late_mods[m].first_epoch, __ATOMIC_ACQUIRE);
            if (first <= epoch) continue;
            for (uint32_t f = 0; f < n; f++)
                if (frames[f] - base < size) { epoch = first; break; }
        }
        if (__atomic_load_n(&late_seq, __ATOMIC_RELAXED) == seq) {
            *out = epoch;
            return true;
        }
    }
    return false;
}

/* The module map epoch of a stack captured now (see above); refreshes the registry first
 * when a library was loaded or unloaded since the last look. */
static uint32_t modules_epoch_of(const uint64_t *frames, uint32_t n)
{
    if (!__atomic_load_n(&dl_unsafe, __ATOMIC_RELAXED)) {
        uint64_t c[2] = {0, 0};
        __atomic_add_fetch(&unwinders, 1, __ATOMIC_SEQ_CST);   /* a loader walk, as an unwind */
        dl_iterate_phdr(loader_counters, c);
        if (c[0] != __atomic_load_n(&seen_adds, __ATOMIC_RELAXED) ||
            c[1] != __atomic_load_n(&seen_subs, __ATOMIC_RELAXED))
            modules_refresh(c);
        __atomic_sub_fetch(&unwinders, 1, __ATOMIC_RELEASE);
    }
    uint32_t epoch;
    return frames_epoch(frames, n, &epoch) ? epoch : __atomic_load_n(&map_epoch, __ATOMIC_ACQUIRE);
}

/* ---------------------------------------------------------------- capture */
static inline bool in_shim_text(uintptr_t ip) { return ip >= shim_text_start && ip < shim_text_end; }

/* Two ways to unwind, both from libunwind. unw_backtrace is fast but builds a trace cache
 * per calling thread (256 KiB, all touched at creation: ~4.5 MiB resident at idle in a
 * 16-thread pool, the very memory this tool exists to return). A plain unw_step walk keeps
 * no such cache but pays a signal-mask syscall per frame in Debian's libunwind. So the
 * threads that sample often (hot allocators, where speed matters) get the fast path, at most
 * FAST_THREADS of them: stacks never cost more than about 1 MiB of unwinder cache. */
#define FAST_THREADS 4
#define FAST_AFTER_SAMPLES 64
static uint32_t fast_threads;
static ST_TLS uint32_t thread_samples;
static ST_TLS bool thread_fast;

static int unwind_by_steps(void **raw)
{
    unw_context_t uc;
    unw_cursor_t cursor;
    if (unw_getcontext(&uc) != 0 || unw_init_local(&cursor, &uc) != 0) return 0;
    int n = 0;
    do {
        unw_word_t ip;
        if (unw_get_reg(&cursor, UNW_REG_IP, &ip) != 0 || ip == 0) break;
        raw[n++] = (void *)(uintptr_t)ip;
    } while (n < UNWIND_DEPTH && unw_step(&cursor) > 0);
    return n;
}

static bool use_fast_path(void)
{
    /* Not every thread under `all`: the trace cache costs 256 KiB and ~0.6 ms per thread
     * (glibc's tst-malloc-tcache-leak, 100 k short threads: 65 s -> 7.5 s without it). */
    if (thread_fast) return true;
    if (++thread_samples < FAST_AFTER_SAMPLES) return false;
    uint32_t n = __atomic_load_n(&fast_threads, __ATOMIC_RELAXED);
    while (n < FAST_THREADS)
        if (__atomic_compare_exchange_n(&fast_threads, &n, n + 1, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return thread_fast = true;
    return false;
}

/* libunwind's one-time set-up (memory validation probe, address space, DWARF caches:
 * ~65 k instructions and ~60 signal-mask syscalls), done by the first unwind rather than at
 * start (issue 13). Step walks use a per-thread DWARF cache (no lock); the policy must be set
 * before any walk. A thread that finds the set-up under way elsewhere, or re-entered from a
 * signal handler, gets no stack for this one sample instead of waiting. If that first walk
 * finds no frame, libunwind cannot unwind this process: no walk is tried again. */
static int warm_state;   /* atomic: 0 not yet, 1 under way (or failed), 2 done */

static int unwind(void **raw)
{
    __atomic_add_fetch(&unwinders, 1, __ATOMIC_SEQ_CST);
    int n = 0, s = __atomic_load_n(&warm_state, __ATOMIC_ACQUIRE);
    if (ST_LIKELY(s == 2)) {
        n = use_fast_path() ? unw_backtrace(raw, UNWIND_DEPTH) : unwind_by_steps(raw);
    } else if (s == 0 && __atomic_compare_exchange_n(&warm_state, &s, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
        unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
        n = unwind_by_steps(raw);
        if (n > 0) __atomic_store_n(&warm_state, 2, __ATOMIC_RELEASE);
        else st_log("stacks: libunwind cannot unwind this process; no stacks are recorded");
    }
    __atomic_sub_fetch(&unwinders, 1, __ATOMIC_RELEASE);
    return n > 0 ? n : 0;
}

uint32_t stacks_capture(size_t size)
{
    double weight = 1;
    if (st_opt.stacks_mode == ST_STACKS_SAMPLE) {
        if (ST_UNLIKELY(prng_state == 0)) {
            /* This thread's first sample point, counted from the start of this allocation. */
            prng_seed();
            int64_t first = next_interval();
            if (first > (int64_t)size) {
                st_sample_countdown = first - (int64_t)size;
                return 0;
            }
        }
        st_sample_countdown = next_interval();
        weight = 1 / sample_probability((double)size, (double)st_opt.stack_sample_bytes);
    } else if (st_opt.stacks_mode == ST_STACKS_ALL) {
        st_sample_countdown = 0;
    } else {
        st_sample_countdown = INT64_MAX;
        return 0;
    }
    void *raw[UNWIND_DEPTH];
    int n = unwind(raw);
    /* libunwind's own frame(s) first, then the shim's, then the program's. */
    int at = 0;
    while (at < n && !in_shim_text((uintptr_t)raw[at])) at++;
    while (at < n && in_shim_text((uintptr_t)raw[at])) at++;
    if (at >= n) return 0;
    uint64_t frames[SITE_MAX_FRAMES];
    uint32_t nframes = 0;
    for (; at < n && nframes < SITE_MAX_FRAMES; at++) frames[nframes++] = (uint64_t)(uintptr_t)raw[at];
    nframes = pyframes_prepend(frames, nframes, SITE_MAX_FRAMES);   /* issue 11: Python frames first */
    /* After the unwind: the frames are on this stack, so their modules stay loaded while
     * the loader's counters are compared (and the registry brought up to date). */
    return site_find_or_add(frames, nframes, modules_epoch_of(frames, nframes), weight * (double)size, weight);
}

/* ---------------------------------------------------------------- life cycle */
static int find_shim_text(struct dl_phdr_info *info, size_t len, void *ctx)
{
    (void)len;
    uintptr_t me = (uintptr_t)ctx;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr, end = start + ph->p_memsz;
        if (me >= start && me < end) {
            shim_text_start = start;
            shim_text_end = end;
            return 1;
        }
    }
    return 0;
}

/* Fork child. No waiting in the parent (a fork from a signal handler that interrupted an
 * unwind on the same thread would wait forever). If any thread was inside libunwind or the
 * site table at fork time, the child may have inherited a held libunwind lock or a torn
 * index: sampled stacks are off in that child, said once. */
static void stacks_off_in_child(const char *why)
{
    if (st_opt.stacks_mode == ST_STACKS_OFF) return;
    st_opt.stacks_mode = ST_STACKS_OFF;
    st_info("fork child: %s at fork time; sampled stacks off in this process", why);
}

static void sites_repair(uint32_t i) { (void)i; stacks_off_in_child("the stack-site table was being changed"); }

void stacks_after_fork_child(void)
{
    if (__atomic_load_n(&unwinders, __ATOMIC_RELAXED)) {
        /* libunwind and the module walk both go through dl_iterate_phdr, which holds glibc's
         * dl_load_write_lock; a child forked meanwhile inherits it held, and glibc does not
         * reset it there. Neither may run again in this child. */
        dl_unsafe = true;
        stacks_off_in_child("a thread was unwinding or walking the loaded modules");
    }
    unwinders = 0;
}

void stacks_init(void)
{
    if (st_opt.stacks_mode == ST_STACKS_OFF) return;
    dl_iterate_phdr(find_shim_text, (void *)(uintptr_t)&stacks_capture);
    if (!shim_text_start) {
        st_log("stacks: cannot find the shim's own code; SESSTRIM_STACKS=off");
        st_opt.stacks_mode = ST_STACKS_OFF;
        return;
    }
    /* libunwind itself is set up by the first sample (unwind), and the module registry by
     * the first capture (modules_epoch_of: glibc's load counters differ from the zeros
     * seen so far): most short processes never take a sample, and that set-up was a third
     * of the shim's start cost. */
}

/* ---------------------------------------------------------------- dump */
void dump_site_records(struct st_dump_writer *w, const struct dump_walk *walk)
{
    uint32_t n = stacks_count();
    double mean = st_opt.stacks_mode == ST_STACKS_SAMPLE ? (double)st_opt.stack_sample_bytes : 0;
    for (uint32_t id = 1; id <= n; id++) {
        struct site s;
        st_lock(&sites_lock);
        s = *site_at(id);
        st_unlock(&sites_lock);
        struct st_rec_site r;
        memset(&r, 0, sizeof r);
        r.id = id;
        r.nframes = s.nframes;
        r.module_epoch = s.epoch;
        if (walk->sites && id < walk->nsites) {
            double bytes = (double)walk->sites[id].live_bytes, count = (double)walk->sites[id].count;
            /* The raw samples too: the analyzer scales them itself and bounds the estimate
             * by the exact totals (live_* below stay for readers older than these fields). */
            r.sampled_live_bytes = walk->sites[id].live_bytes;
            r.sampled_live_count = walk->sites[id].count;
            /* Sampled: each live sample stands for 1/p allocations of its size; the site's
             * mean size stands in for each one's (exact when a site allocates one size). */
            if (mean > 0 && count > 0) {
                double p = sample_probability(bytes / count, mean);
                bytes /= p;
                count /= p;
            }
            r.live_bytes = (uint64_t)(bytes + 0.5);
            r.live_count = (uint64_t)(count + 0.5);
        }
        r.total_bytes = (uint64_t)(s.est_bytes + 0.5);
        r.total_allocs = (uint64_t)(s.est_allocs + 0.5);
        dump_put(w, ST_REC_SITE, &r, sizeof r, s.frames, s.nframes * (uint32_t)sizeof(uint64_t));
    }
    pyframes_dump_records(w);   /* issue 11: the locations of the Python frames above */
}

/* The GNU build id from the object's PT_NOTE segments; 0 if it has none. */
static uint32_t build_id_of(const struct dl_phdr_info *info, uint8_t *out, uint32_t max)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE) continue;
        uintptr_t align = ph->p_align == 8 ? 8 : 4;
        const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
        const unsigned char *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const unsigned char *name = p + sizeof *nh;
            const unsigned char *desc = name + ((nh->n_namesz + align - 1) & ~(align - 1));
            const unsigned char *next = desc + ((nh->n_descsz + align - 1) & ~(align - 1));
            if (desc + nh->n_descsz > end || next <= p) break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && !memcmp(name, "GNU", 4)) {
                uint32_t len = nh->n_descsz < max ? nh->n_descsz : max;
                memcpy(out, desc, len);
                return len;
            }
            p = next;
        }
    }
    return 0;
}

void dump_module_records(struct st_dump_writer *w)
{
    if (st_opt.stacks_mode == ST_STACKS_OFF && stacks_count() == 0) return;
    /* Counted like an unwind: glibc does not reset its loader lock in a fork child, so a
     * child forked while this walk held it must not walk again (stacks_after_fork_child). */
    __atomic_add_fetch(&unwinders, 1, __ATOMIC_SEQ_CST);
    if (!dl_unsafe) modules_refresh(NULL);
    __atomic_sub_fetch(&unwinders, 1, __ATOMIC_RELEASE);
    uint32_t n = __atomic_load_n(&nmods, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < n; i++) {
        const struct mod_entry *e = mod_at(i);
        struct st_rec_module m;
        memset(&m, 0, sizeof m);
        m.base = e->base;
        m.size = e->size;
        m.build_id_len = e->build_id_len;
        memcpy(m.build_id, e->build_id, sizeof m.build_id);
        m.first_epoch = __atomic_load_n(&e->first_epoch, __ATOMIC_RELAXED);
        m.gone_epoch = __atomic_load_n(&e->gone_epoch, __ATOMIC_RELAXED);
        dump_put(w, ST_REC_MODULE, &m, sizeof m, e->path, (uint32_t)strnlen(e->path, sizeof e->path));
    }
}
