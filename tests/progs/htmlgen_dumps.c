/* htmlgen_dumps.c: writes one synthetic but well-formed dump with every record type, its
 * shape set by key=value arguments, so HTML and diff tests can predict what they must show. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sesstrim_dump.h"

/* Arguments: OUT then key=value among the names below. `scale` multiplies what grows
 * (live bytes of arenas, sessions, sites, threads) so two runs make a diff pair. */
struct gen_params {
    long pid, ppid, arenas, threads, sessions, sites, timeline, trims, pins;
    double scale;
    const char *exe, *name_prefix;
};

static struct gen_params params = {
    .pid = 4242, .ppid = 1, .arenas = 4, .threads = 3, .sessions = 5, .sites = 6,
    .timeline = 40, .trims = 3, .pins = 2, .scale = 1.0,
    .exe = "/usr/bin/synthetic-server", .name_prefix = "req",
};

static unsigned char *buf;
static size_t buf_len, buf_cap;
static uint64_t records;

static void put_bytes(const void *p, size_t n)
{
    if (buf_len + n > buf_cap) {
        buf_cap = (buf_len + n) * 2 + 4096;
        buf = realloc(buf, buf_cap);
        if (!buf) { perror("realloc"); exit(1); }
    }
    memcpy(buf + buf_len, p, n);
    buf_len += n;
}

static void put_record(uint16_t type, const void *fixed, size_t fixed_size,
                       const void *var, size_t var_size)
{
    struct st_record_header h = { type, (uint16_t)fixed_size, (uint32_t)(fixed_size + var_size) };
    static const unsigned char zeros[8];
    put_bytes(&h, sizeof h);
    put_bytes(fixed, fixed_size);
    if (var_size) put_bytes(var, var_size);
    size_t pad = (8 - (fixed_size + var_size) % 8) % 8;
    put_bytes(zeros, pad);
    records++;
}

#define MIB (1024ull * 1024ull)
#define SCALED(x) ((uint64_t)((double)(x) * params.scale))
#define MODULE_BASE 0x555500000000ull

static uint64_t arena_live(long i) { return SCALED((uint64_t)(i + 1) * 8 * MIB); }
static uint64_t arena_free(long i) { return (uint64_t)(i + 1) * 2 * MIB; }
static uint64_t arena_top(long i) { return (uint64_t)(i + 1) * 1 * MIB; }

static void write_process(void)
{
    struct st_rec_process p;
    memset(&p, 0, sizeof p);
    p.pid = (uint32_t)params.pid;
    p.ppid = (uint32_t)params.ppid;
    p.flags = ST_PROC_ARENA_LOGIC | ST_PROC_STACKS;
    p.reason = ST_DUMP_EXIT;
    p.start_ns = 1700000000ull * 1000000000ull;
    p.time_ns = p.start_ns + (uint64_t)(params.timeline + 1) * 100000000ull;
    uint64_t live = 0, free_b = 0;
    for (long i = 0; i < params.arenas; i++) { live += arena_live(i); free_b += arena_free(i) + arena_top(i); }
    p.live_bytes = live;
    p.live_chunk_bytes = live + live / 16;
    p.live_count = live / 256;
    p.total_allocs = p.live_count * 3;
    p.total_frees = p.live_count * 2;
    p.glibc_mmapped_bytes = 4 * MIB;
    p.glibc_mmapped_count = 2;
    p.rss_bytes = p.live_chunk_bytes + free_b + p.glibc_mmapped_bytes + 6 * MIB + 12 * MIB;
    p.rss_anon_bytes = p.rss_bytes - 12 * MIB;
    p.rss_file_bytes = 12 * MIB;
    p.vm_bytes = p.rss_bytes * 4;
    p.mi_arena = live + free_b;
    p.mi_uordblks = p.live_chunk_bytes;
    p.mi_fordblks = free_b;
    p.meta_bytes = 2 * MIB;
    p.heap_max_size = 64 * MIB;
    p.page_size = 4096;
    p.stack_sample_bytes = 524288;
    snprintf(p.glibc_version, sizeof p.glibc_version, "2.36");
    snprintf(p.exe, sizeof p.exe, "%s", params.exe);
    snprintf(p.cmdline, sizeof p.cmdline, "%s --port 8080 <mode=\"synthetic\">", params.exe);
    put_record(ST_REC_PROCESS, &p, sizeof p, NULL, 0);
}

static void write_arenas_and_threads(void)
{
    for (long i = 0; i < params.arenas; i++) {
        struct st_rec_arena a;
        memset(&a, 0, sizeof a);
        a.id = (uint32_t)i;
        a.kind = i == 0 ? ST_ARENA_MAIN : ST_ARENA_THREAD;
        a.address = 0x7f0000000000ull + (uint64_t)i * 0x4000000ull;
        a.live_bytes = arena_live(i);
        a.live_chunk_bytes = a.live_bytes + a.live_bytes / 16;
        a.live_count = a.live_bytes / 256;
        a.free_bin_bytes = arena_free(i);
        a.free_fast_bytes = 64 * 1024;
        a.top_bytes = arena_top(i);
        a.top_resident_bytes = a.top_bytes;
        a.free_resident_bytes = a.free_bin_bytes / 2;
        a.system_bytes = a.live_chunk_bytes + a.free_bin_bytes + a.free_fast_bytes + a.top_bytes;
        a.max_system_bytes = a.system_bytes + 4 * MIB;
        a.heaps = i == 0 ? 0 : 1 + a.system_bytes / (64 * MIB);
        a.heap_bytes = i == 0 ? 0 : a.heaps * 64 * MIB;
        a.resident_bytes = a.live_chunk_bytes + a.free_resident_bytes + a.top_resident_bytes;
        a.attached_threads = 1;
        a.threads_seen = 1;
        put_record(ST_REC_ARENA, &a, sizeof a, NULL, 0);
    }
    for (long t = 0; t < params.threads; t++) {
        struct st_rec_thread th;
        memset(&th, 0, sizeof th);
        th.idx = (uint32_t)t;
        th.tid = (uint32_t)(params.pid + t);
        th.parent_idx = 0;
        th.flags = t == 0 ? ST_THREAD_MAIN : 0;
        th.allocs = 1000 * (uint64_t)(t + 1);
        th.frees = 900 * (uint64_t)(t + 1);
        th.live_bytes = SCALED((uint64_t)(t + 1) * MIB);
        th.live_count = 100 * (uint64_t)(t + 1);
        th.alloc_bytes = th.live_bytes * 4;
        th.freed_bytes = th.alloc_bytes - th.live_bytes;
        th.cross_frees = (uint64_t)t * 10;
        th.cross_free_bytes = (uint64_t)t * 4096;
        th.home_arena = params.arenas ? (uint32_t)(t % params.arenas) : UINT32_MAX;
        if (t == 0) snprintf(th.name, sizeof th.name, "main");
        else snprintf(th.name, sizeof th.name, "worker-%d", (int)(t % 100000));
        put_record(ST_REC_THREAD, &th, sizeof th, NULL, 0);
        if (params.arenas) {
            struct st_rec_arena_thread at = { th.home_arena, th.idx, th.allocs };
            put_record(ST_REC_ARENA_THREAD, &at, sizeof at, NULL, 0);
        }
    }
    if (params.threads > 1) {
        struct st_rec_xfree x = { 1, 0, 10, 4096 };
        put_record(ST_REC_XFREE, &x, sizeof x, NULL, 0);
    }
    struct st_rec_mmaps mm = { 3 * MIB, 3, 1 * MIB, 1, 4, 0, 0, 0 };
    put_record(ST_REC_MMAPS, &mm, sizeof mm, NULL, 0);
    struct st_rec_mapping m;
    memset(&m, 0, sizeof m);
    m.start = MODULE_BASE;
    m.end = MODULE_BASE + 0x10000;
    m.rss = 0x8000;
    m.kind = ST_MAP_FILE;
    m.perms = 5;
    put_record(ST_REC_MAPPING, &m, sizeof m, params.exe, strlen(params.exe));
}

static void write_sessions_and_sites(void)
{
    for (long s = 0; s < params.sessions; s++) {
        struct st_rec_session ss;
        memset(&ss, 0, sizeof ss);
        ss.id = (uint64_t)s + 1;
        ss.begin_ns = 1700000000ull * 1000000000ull + (uint64_t)s * 1000000ull;
        ss.live_bytes = SCALED((uint64_t)(s + 1) * 512 * 1024);
        ss.live_count = (uint64_t)(s + 1) * 10;
        ss.peak_bytes = ss.live_bytes * 2;
        ss.total_alloc_bytes = ss.peak_bytes * 3;
        ss.total_allocs = ss.live_count * 5;
        ss.frees = ss.total_allocs - ss.live_count;
        ss.threads_seen = 1;
        if (s % 2 == 1) {
            ss.flags = ST_SESSION_ENDED;
            ss.end_ns = ss.begin_ns + 5000000ull;
            ss.leftover_bytes = ss.live_bytes;
            ss.leftover_count = ss.live_count;
        }
        snprintf(ss.name, sizeof ss.name, "%s-%ld", params.name_prefix, s);
        put_record(ST_REC_SESSION, &ss, sizeof ss, NULL, 0);
    }
    struct st_rec_session_summary sum = { 7, 7 * MIB, 700, 128 * 1024, 3,
                                          (uint64_t)params.sessions / 2 + 1, 7 + (uint64_t)params.sessions / 2 };
    put_record(ST_REC_SESSION_SUMMARY, &sum, sizeof sum, NULL, 0);

    struct st_rec_module mod;
    memset(&mod, 0, sizeof mod);
    mod.base = MODULE_BASE;
    mod.size = 0x10000;
    mod.build_id_len = 4;
    memcpy(mod.build_id, "\xde\xad\xbe\xef", 4);
    put_record(ST_REC_MODULE, &mod, sizeof mod, params.exe, strlen(params.exe));

    for (long i = 0; i < params.sites; i++) {
        struct st_rec_site site;
        memset(&site, 0, sizeof site);
        site.id = (uint32_t)i + 1;
        site.nframes = 3;
        site.live_bytes = SCALED((uint64_t)(params.sites - i) * 256 * 1024);
        site.live_count = (uint64_t)(params.sites - i) * 4;
        site.total_bytes = site.live_bytes * 2;
        site.total_allocs = site.live_count * 2;
        uint64_t frames[3] = { MODULE_BASE + 0x1000 + (uint64_t)i * 0x40, MODULE_BASE + 0x2000,
                               MODULE_BASE + 0x3000 };
        put_record(ST_REC_SITE, &site, sizeof site, frames, sizeof frames);
        if (params.sessions) {
            struct st_rec_session_site sst = { 1 + (uint64_t)(i % params.sessions), site.id, 0,
                                               site.live_bytes / 2, site.live_count / 2 };
            put_record(ST_REC_SESSION_SITE, &sst, sizeof sst, NULL, 0);
        }
    }
}

static void write_trims_timeline_occupancy(void)
{
    uint64_t t0 = 1700000000ull * 1000000000ull;
    long trim_every = params.trims ? params.timeline / (params.trims + 1) : 0;
    for (long k = 0; k < params.trims; k++) {
        struct st_rec_trim tr;
        memset(&tr, 0, sizeof tr);
        tr.seq = (uint32_t)k + 1;
        tr.trigger = ST_TRIG_IDLE;
        tr.time_ns = t0 + (uint64_t)((k + 1) * trim_every) * 100000000ull;
        tr.rss_before = 200 * MIB;
        tr.released_bytes = (uint64_t)(k + 1) * 3 * MIB;
        tr.rss_after = tr.rss_before - tr.released_bytes;
        tr.duration_ns = 250000;
        tr.arenas_trimmed = (uint32_t)params.arenas;
        put_record(ST_REC_TRIM, &tr, sizeof tr, NULL, 0);
        for (long i = 0; i < params.arenas; i++) {
            struct st_rec_trim_arena ta = { tr.seq, (uint32_t)i, (uint64_t)(i + 1) * MIB, 50000 };
            put_record(ST_REC_TRIM_ARENA, &ta, sizeof ta, NULL, 0);
        }
    }
    uint64_t resident[64];
    long narenas = params.arenas < 64 ? params.arenas : 64;
    for (long k = 0; k < params.timeline; k++) {
        struct st_rec_timeline tl;
        memset(&tl, 0, sizeof tl);
        tl.time_ns = t0 + (uint64_t)k * 100000000ull;
        /* a ramp that levels off, so the chart has shape */
        double ramp = params.timeline > 1 ? (double)k / (double)(params.timeline - 1) : 1.0;
        double level = ramp < 0.6 ? ramp / 0.6 : 1.0;
        tl.live_bytes = (uint64_t)(level * (double)SCALED(80 * MIB)) + MIB;
        tl.heap_resident_bytes = tl.live_bytes + 8 * MIB;
        tl.rss_bytes = tl.heap_resident_bytes + 20 * MIB;
        tl.narenas = (uint32_t)narenas;
        for (long i = 0; i < narenas; i++) resident[i] = tl.heap_resident_bytes / (uint64_t)narenas;
        if (trim_every && k > 0 && k % trim_every == 0 && k / trim_every <= params.trims) {
            tl.event = ST_EV_TRIM;
            tl.event_arg = (uint64_t)(k / trim_every);
        } else if (k % 7 == 3) {
            tl.event = ST_EV_SESSION_END;
            tl.event_arg = (uint64_t)k;
        }
        put_record(ST_REC_TIMELINE, &tl, sizeof tl, resident, (size_t)narenas * sizeof(uint64_t));
    }
    for (long i = 0; i < params.arenas; i++) {
        struct st_rec_occupancy occ;
        memset(&occ, 0, sizeof occ);
        occ.arena_id = (uint32_t)i;
        occ.page_size = 4096;
        for (int b = 0; b < ST_OCC_BUCKETS; b++)
            occ.pages[b] = (uint64_t)((b * 37 + i * 11) % 97 + 3) * (uint64_t)(i + 1);
        put_record(ST_REC_OCCUPANCY, &occ, sizeof occ, NULL, 0);
        for (long p = 0; p < params.pins && p < params.sites; p++) {
            struct st_rec_pin pin = { (uint32_t)i, (uint32_t)p + 1, (uint64_t)(10 * (p + 1)),
                                      (uint64_t)(p + 1) * 1024 };
            put_record(ST_REC_PIN, &pin, sizeof pin, NULL, 0);
        }
    }
}

static void parse_arg(const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq) { fprintf(stderr, "htmlgen_dumps: expected key=value, got '%s'\n", arg); exit(2); }
    size_t klen = (size_t)(eq - arg);
    const char *v = eq + 1;
    struct { const char *key; long *dst; } longs[] = {
        {"pid", &params.pid}, {"ppid", &params.ppid}, {"arenas", &params.arenas},
        {"threads", &params.threads}, {"sessions", &params.sessions}, {"sites", &params.sites},
        {"timeline", &params.timeline}, {"trims", &params.trims}, {"pins", &params.pins},
    };
    for (size_t i = 0; i < sizeof longs / sizeof longs[0]; i++)
        if (strlen(longs[i].key) == klen && !strncmp(arg, longs[i].key, klen)) {
            *longs[i].dst = strtol(v, NULL, 0);
            if (*longs[i].dst < 0) *longs[i].dst = 0;
            return;
        }
    if (klen == 5 && !strncmp(arg, "scale", 5)) { params.scale = strtod(v, NULL); return; }
    if (klen == 3 && !strncmp(arg, "exe", 3)) { params.exe = v; return; }
    if (klen == 7 && !strncmp(arg, "session", 7)) { params.name_prefix = v; return; }
    fprintf(stderr, "htmlgen_dumps: unknown key in '%s'\n", arg);
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: htmlgen_dumps OUT [pid= ppid= arenas= threads= sessions= sites= "
                        "timeline= trims= pins= scale= exe= session=]\n");
        return 2;
    }
    for (int i = 2; i < argc; i++) parse_arg(argv[i]);

    struct st_dump_header hdr;
    memset(&hdr, 0, sizeof hdr);
    memcpy(hdr.magic, SESSTRIM_DUMP_MAGIC, SESSTRIM_DUMP_MAGIC_LEN);
    hdr.version = SESSTRIM_DUMP_VERSION;
    hdr.header_size = sizeof hdr;
    hdr.endian_check = SESSTRIM_DUMP_ENDIAN_CHECK;
    put_bytes(&hdr, sizeof hdr);

    write_process();
    write_arenas_and_threads();
    write_sessions_and_sites();
    write_trims_timeline_occupancy();

    struct st_rec_end end = { records, st_fnv1a64(ST_FNV1A64_INIT, buf, buf_len) };
    struct st_record_header eh = { ST_REC_END, sizeof end, sizeof end };
    put_bytes(&eh, sizeof eh);
    put_bytes(&end, sizeof end);

    FILE *f = fopen(argv[1], "wb");
    if (!f || fwrite(buf, 1, buf_len, f) != buf_len || fclose(f) != 0) {
        perror(argv[1]);
        return 1;
    }
    free(buf);
    return 0;
}
