/* dumpgen.c: write a synthetic but valid sesstrim dump from a small text spec, so tests can
 * check the analyzer against numbers they chose; options damage the file for the bad corpus.
 *
 * Usage: dumpgen [--version N] [--magic STR] [--endian HEX] [--no-end] [--bad-count]
 *                [--truncate N] [--flip OFFSET] SPEC OUT       (SPEC "-" reads stdin)
 * Spec: one record per line, "<kind> field=value ...", '#' starts a comment. Field names are
 * the struct members of include/sesstrim_dump.h (process pid=7 rss_bytes=64M exe=/bin/x).
 * Numbers take K/M/G (binary) suffixes and 0x. Strings may be "double quoted".
 * Extra keys: mapping name=, module path= build_id=HEX, site frames=A,B,.., config env=A=1;B=2,
 * pyframe file= func= (the variable part; file_len/func_len follow unless set after them),
 * (its int64 settings default to -1, unset),
 * timeline resident=A,B,.. (narenas follows), occupancy pages=b0,..,b10,
 * any record fixed=N (fixed_size written; beyond the struct it is filled with 0xAB) and
 * claim_total=N (the total_size the header claims, payload unchanged),
 * "record type=N fixed=N total=N" writes a record of any type filled with zeros. */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sesstrim_dump.h"

struct field { const char *name; size_t off, size; char kind; /* u number, s string */ };

/* The field tables come from the record lists in sesstrim_dump.h: every field of every
 * record can be set by name, numbers ('u', 4 or 8 bytes) or char arrays ('s'); other arrays
 * (build_id, pages, ...) have their own keys below. */
#define KIND_(v) _Generic((v), char *: 's', uint16_t: 'u', uint32_t: 'u', int32_t: 'u', uint64_t: 'u', int64_t: 'u', \
                                default: 0)
#define FIELD_(type, name, dim, json) \
    {#name, offsetof(struct REC_, name), sizeof(((struct REC_ *)0)->name), KIND_(((struct REC_ *)0)->name)},
#define END_FIELDS {NULL, 0, 0, 0}
#define TABLE_(var, list) static const struct field var[] = {list(FIELD_) END_FIELDS};

#define REC_ st_rec_process
TABLE_(f_process, ST_FIELDS_PROCESS)
#undef REC_
#define REC_ st_rec_arena
TABLE_(f_arena, ST_FIELDS_ARENA)
#undef REC_
#define REC_ st_rec_arena_thread
TABLE_(f_arena_thread, ST_FIELDS_ARENA_THREAD)
#undef REC_
#define REC_ st_rec_thread
TABLE_(f_thread, ST_FIELDS_THREAD)
#undef REC_
#define REC_ st_rec_xfree
TABLE_(f_xfree, ST_FIELDS_XFREE)
#undef REC_
#define REC_ st_rec_mmaps
TABLE_(f_mmaps, ST_FIELDS_MMAPS)
#undef REC_
#define REC_ st_rec_mapping
TABLE_(f_mapping, ST_FIELDS_MAPPING)
#undef REC_
#define REC_ st_rec_session
TABLE_(f_session, ST_FIELDS_SESSION)
#undef REC_
#define REC_ st_rec_session_summary
TABLE_(f_session_summary, ST_FIELDS_SESSION_SUMMARY)
#undef REC_
#define REC_ st_rec_session_site
TABLE_(f_session_site, ST_FIELDS_SESSION_SITE)
#undef REC_
#define REC_ st_rec_site
TABLE_(f_site, ST_FIELDS_SITE)
#undef REC_
#define REC_ st_rec_module
TABLE_(f_module, ST_FIELDS_MODULE)
#undef REC_
#define REC_ st_rec_trim
TABLE_(f_trim, ST_FIELDS_TRIM)
#undef REC_
#define REC_ st_rec_trim_arena
TABLE_(f_trim_arena, ST_FIELDS_TRIM_ARENA)
#undef REC_
#define REC_ st_rec_timeline
TABLE_(f_timeline, ST_FIELDS_TIMELINE)
#undef REC_
#define REC_ st_rec_occupancy
TABLE_(f_occupancy, ST_FIELDS_OCCUPANCY)
#undef REC_
#define REC_ st_rec_pin
TABLE_(f_pin, ST_FIELDS_PIN)
#undef REC_
#define REC_ st_rec_config
TABLE_(f_config, ST_FIELDS_CONFIG)
#undef REC_
#define REC_ st_rec_pyframe
TABLE_(f_pyframe, ST_FIELDS_PYFRAME)
#undef REC_

struct kind { const char *name; uint16_t type; size_t size; const struct field *fields; };
static const struct kind kinds[] = {
    {"process", ST_REC_PROCESS, sizeof(struct st_rec_process), f_process},
    {"arena", ST_REC_ARENA, sizeof(struct st_rec_arena), f_arena},
    {"arena_thread", ST_REC_ARENA_THREAD, sizeof(struct st_rec_arena_thread), f_arena_thread},
    {"thread", ST_REC_THREAD, sizeof(struct st_rec_thread), f_thread},
    {"xfree", ST_REC_XFREE, sizeof(struct st_rec_xfree), f_xfree},
    {"mmaps", ST_REC_MMAPS, sizeof(struct st_rec_mmaps), f_mmaps},
    {"mapping", ST_REC_MAPPING, sizeof(struct st_rec_mapping), f_mapping},
    {"session", ST_REC_SESSION, sizeof(struct st_rec_session), f_session},
    {"session_summary", ST_REC_SESSION_SUMMARY, sizeof(struct st_rec_session_summary), f_session_summary},
    {"session_site", ST_REC_SESSION_SITE, sizeof(struct st_rec_session_site), f_session_site},
    {"site", ST_REC_SITE, sizeof(struct st_rec_site), f_site},
    {"module", ST_REC_MODULE, sizeof(struct st_rec_module), f_module},
    {"trim", ST_REC_TRIM, sizeof(struct st_rec_trim), f_trim},
    {"trim_arena", ST_REC_TRIM_ARENA, sizeof(struct st_rec_trim_arena), f_trim_arena},
    {"timeline", ST_REC_TIMELINE, sizeof(struct st_rec_timeline), f_timeline},
    {"occupancy", ST_REC_OCCUPANCY, sizeof(struct st_rec_occupancy), f_occupancy},
    {"pin", ST_REC_PIN, sizeof(struct st_rec_pin), f_pin},
    {"config", ST_REC_CONFIG, sizeof(struct st_rec_config), f_config},
    {"pyframe", ST_REC_PYFRAME, sizeof(struct st_rec_pyframe), f_pyframe},
    {"record", 0, 0, NULL},
};

static unsigned char *out_buf;
static size_t out_len, out_cap;
static uint64_t records_written;
static int line_no;

static void die(const char *msg, const char *arg)
{
    fprintf(stderr, "dumpgen: line %d: %s%s\n", line_no, msg, arg ? arg : "");
    exit(1);
}

static void emit(const void *p, size_t n)
{
    if (out_len + n > out_cap) {
        out_cap = (out_len + n) * 2 + 4096;
        out_buf = realloc(out_buf, out_cap);
        if (!out_buf) die("out of memory", NULL);
    }
    if (p) memcpy(out_buf + out_len, p, n);
    else memset(out_buf + out_len, 0, n);
    out_len += n;
}

static uint64_t parse_number(const char *s)
{
    char *end;
    uint64_t v = strtoull(s, &end, 0);
    if (end == s) die("not a number: ", s);
    switch (toupper((unsigned char)*end)) {
    case 'K': v <<= 10; end++; break;
    case 'M': v <<= 20; end++; break;
    case 'G': v <<= 30; end++; break;
    default: break;
    }
    if (*end) die("not a number: ", s);
    return v;
}

/* Comma-separated numbers; returns how many. */
static size_t parse_list(const char *s, uint64_t *out, size_t max)
{
    size_t n = 0;
    char buf[64];
    while (*s) {
        size_t k = strcspn(s, ",");
        if (k >= sizeof buf) die("list item too long: ", s);
        if (n == max) die("list too long: ", s);
        memcpy(buf, s, k);
        buf[k] = 0;
        out[n++] = parse_number(buf);
        s += k;
        if (*s == ',') s++;
    }
    return n;
}

static void store(unsigned char *rec, const struct field *f, const char *val)
{
    if (f->kind == 's') {
        size_t n = strlen(val);
        memset(rec + f->off, 0, f->size);
        memcpy(rec + f->off, val, n < f->size ? n : f->size); /* may fill it unterminated on purpose */
        return;
    }
    uint64_t v = parse_number(val);
    if (f->size == 2) { uint16_t v16 = (uint16_t)v; memcpy(rec + f->off, &v16, 2); }
    else if (f->size == 4) { uint32_t v32 = (uint32_t)v; memcpy(rec + f->off, &v32, 4); }
    else memcpy(rec + f->off, &v, 8);
}

#define MAX_VAR 65536

static void write_record(uint16_t type, const unsigned char *fixed, size_t fixed_len,
                         const unsigned char *var, size_t var_len, uint64_t claim_total)
{
    struct st_record_header rh = {type, (uint16_t)fixed_len, (uint32_t)(fixed_len + var_len)};
    if (claim_total) rh.total_size = (uint32_t)claim_total;
    emit(&rh, sizeof rh);
    emit(fixed, fixed_len);
    emit(var, var_len);
    size_t pad = (8 - (fixed_len + var_len) % 8) % 8;
    emit(NULL, pad);
    records_written++;
}

/* Split one spec line into words, honouring "double quotes". */
static int split_words(char *line, char **words, int max)
{
    int n = 0;
    char *p = line;
    while (*p) {
        while (isspace((unsigned char)*p)) p++;
        if (!*p || *p == '#') break;
        if (n == max) die("too many fields", NULL);
        words[n++] = p;
        char *w = p;
        int quoted = 0;
        while (*p && (quoted || !isspace((unsigned char)*p))) {
            if (*p == '"') { quoted = !quoted; p++; continue; }
            *w++ = *p++;
        }
        if (*p) p++;
        *w = 0;
    }
    return n;
}

static void spec_line(char *line)
{
    char *words[96];
    int nw = split_words(line, words, 96);
    if (nw == 0) return;
    const struct kind *k = NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i].name, words[0]) == 0) k = &kinds[i];
    if (!k) die("unknown record kind: ", words[0]);

    static unsigned char rec[4096], var[MAX_VAR];
    memset(rec, 0xAB, sizeof rec); /* bytes past the struct: a "newer writer's" fields */
    memset(rec, 0, k->size);
    if (k->type == ST_REC_CONFIG) { /* unset (-1) unless the spec gives a value */
        struct st_rec_config *c = (struct st_rec_config *)rec;
        c->arena_max = c->trim_threshold = c->env_arena_max = c->env_trim_threshold = c->env_mmap_threshold = -1;
    }
    size_t var_len = 0, fixed_len = k->size;
    uint16_t type = k->type;
    uint64_t claim_total = 0, list[MAX_VAR / 8];
    for (int i = 1; i < nw; i++) {
        char *eq = strchr(words[i], '=');
        if (!eq) die("expected key=value: ", words[i]);
        *eq = 0;
        const char *key = words[i], *val = eq + 1;
        const struct field *f = NULL;
        for (const struct field *c = k->fields; c && c->name; c++)
            if (c->kind && strcmp(c->name, key) == 0) f = c; /* kind 0: arrays, set by their own keys */
        if (f) { store(rec, f, val); continue; }
        if (strcmp(key, "fixed") == 0) {
            fixed_len = parse_number(val);
            if (fixed_len > sizeof rec) die("fixed too large", NULL);
        } else if (strcmp(key, "claim_total") == 0) {
            claim_total = parse_number(val);
        } else if (strcmp(key, "type") == 0 && !k->fields) {
            type = (uint16_t)parse_number(val);
        } else if (strcmp(key, "total") == 0 && !k->fields) {
            var_len = parse_number(val);
            if (var_len < fixed_len || var_len - fixed_len > MAX_VAR) die("bad total", NULL);
            var_len -= fixed_len;
            memset(var, 0, var_len);
        } else if ((strcmp(key, "name") == 0 && k->type == ST_REC_MAPPING) ||
                   (strcmp(key, "path") == 0 && k->type == ST_REC_MODULE)) {
            var_len = strlen(val) + 1;
            if (var_len > MAX_VAR) die("string too long", NULL);
            memcpy(var, val, var_len);
        } else if ((strcmp(key, "file") == 0 || strcmp(key, "func") == 0) && k->type == ST_REC_PYFRAME) {
            /* file then function, no NULs: the length fields say where each ends */
            struct st_rec_pyframe *pf = (struct st_rec_pyframe *)rec;
            size_t n = strlen(val);
            if (var_len + n > MAX_VAR) die("string too long", NULL);
            if (key[1] == 'i') {   /* file: goes first */
                memmove(var + n, var + pf->file_len, pf->func_len);
                memcpy(var, val, n);
                pf->file_len = (uint16_t)n;
            } else {
                memcpy(var + pf->file_len, val, n);
                pf->func_len = (uint16_t)n;
            }
            var_len = (size_t)pf->file_len + pf->func_len;
        } else if (strcmp(key, "env") == 0 && k->type == ST_REC_CONFIG) {
            /* "A=1;B=2" -> "A=1\0B=2\0" */
            var_len = strlen(val) + 1;
            if (var_len > MAX_VAR) die("string too long", NULL);
            memcpy(var, val, var_len);
            for (size_t b = 0; b < var_len; b++) if (var[b] == ';') var[b] = 0;
        } else if (strcmp(key, "build_id") == 0 && k->type == ST_REC_MODULE) {
            struct st_rec_module *m = (struct st_rec_module *)rec;
            size_t n = strlen(val) / 2;
            if (n > sizeof m->build_id) die("build id too long", NULL);
            for (size_t b = 0; b < n; b++) {
                char hex[3] = {val[2 * b], val[2 * b + 1], 0};
                m->build_id[b] = (uint8_t)strtoul(hex, NULL, 16);
            }
            m->build_id_len = (uint32_t)n;
        } else if ((strcmp(key, "frames") == 0 && k->type == ST_REC_SITE) ||
                   (strcmp(key, "resident") == 0 && k->type == ST_REC_TIMELINE)) {
            size_t n = parse_list(val, list, MAX_VAR / 8);
            memcpy(var, list, n * 8);
            var_len = n * 8;
            uint32_t n32 = (uint32_t)n;
            memcpy(rec + (k->type == ST_REC_SITE ? offsetof(struct st_rec_site, nframes)
                                                 : offsetof(struct st_rec_timeline, narenas)), &n32, 4);
        } else if (strcmp(key, "pages") == 0 && k->type == ST_REC_OCCUPANCY) {
            struct st_rec_occupancy *o = (struct st_rec_occupancy *)rec;
            if (parse_list(val, list, ST_OCC_BUCKETS) != ST_OCC_BUCKETS) die("pages needs 11 numbers", NULL);
            memcpy(o->pages, list, sizeof o->pages);
        } else {
            die("unknown field: ", key);
        }
    }
    write_record(type, rec, fixed_len, var, var_len, claim_total);
}

static void usage(void)
{
    fprintf(stderr, "usage: dumpgen [--version N] [--magic STR] [--endian HEX] [--no-end] [--bad-count]\n"
                    "               [--truncate N] [--flip OFFSET] SPEC OUT\n");
    exit(1);
}

int main(int argc, char **argv)
{
    long version = SESSTRIM_DUMP_VERSION, truncate_at = -1, flip_at = -1;
    const char *magic = SESSTRIM_DUMP_MAGIC;
    uint32_t endian = SESSTRIM_DUMP_ENDIAN_CHECK;
    int no_end = 0, bad_count = 0, argi = 1;
    for (; argi < argc && strncmp(argv[argi], "--", 2) == 0; argi++) {
        const char *o = argv[argi];
        if (strcmp(o, "--no-end") == 0) { no_end = 1; continue; }
        if (strcmp(o, "--bad-count") == 0) { bad_count = 1; continue; }
        if (argi + 1 >= argc) usage();
        const char *v = argv[++argi];
        if (strcmp(o, "--version") == 0) version = strtol(v, NULL, 0);
        else if (strcmp(o, "--magic") == 0) magic = v;
        else if (strcmp(o, "--endian") == 0) endian = (uint32_t)strtoul(v, NULL, 16);
        else if (strcmp(o, "--truncate") == 0) truncate_at = strtol(v, NULL, 0);
        else if (strcmp(o, "--flip") == 0) flip_at = strtol(v, NULL, 0);
        else usage();
    }
    if (argc - argi != 2) usage();
    FILE *in = strcmp(argv[argi], "-") == 0 ? stdin : fopen(argv[argi], "r");
    if (!in) { perror(argv[argi]); return 1; }

    struct st_dump_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, magic, strnlen(magic, sizeof h.magic));
    h.version = (uint16_t)version;
    h.header_size = sizeof h;
    h.endian_check = endian;
    emit(&h, sizeof h);

    char line[8192];
    while (fgets(line, sizeof line, in)) {
        line_no++;
        spec_line(line);
    }
    if (in != stdin) fclose(in);

    if (!no_end) {
        struct st_rec_end end = {records_written + (bad_count ? 1 : 0),
                                 st_fnv1a64(ST_FNV1A64_INIT, out_buf, out_len)};
        write_record(ST_REC_END, (const unsigned char *)&end, sizeof end, NULL, 0, 0);
    }
    if (flip_at >= 0 && (size_t)flip_at < out_len) out_buf[flip_at] ^= 0x40;
    size_t len = truncate_at >= 0 && (size_t)truncate_at < out_len ? (size_t)truncate_at : out_len;

    FILE *out = fopen(argv[argi + 1], "wb");
    if (!out || fwrite(out_buf, 1, len, out) != len || fclose(out) != 0) {
        perror(argv[argi + 1]);
        return 1;
    }
    free(out_buf);
    return 0;
}
