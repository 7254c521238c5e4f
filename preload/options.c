/* options.c: the one table of SESSTRIM_* environment options, parsed once at start.
 * One row per option, indexed by enum st_option (shim.h), as mimalloc's src/options.c: a new
 * option is one row and, if its value has a new shape, one parser. A malformed value gets one
 * warning line naming the option and its default; a SESSTRIM_* variable that is not an option
 * gets one line naming the closest one. README.md's table is checked against this one
 * (tests/scripts/test_options_table.sh through `sesstrim options`). */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "shim.h"

struct st_options st_opt;
extern char **environ;

static bool parse_u64_suffixed(const char *s, uint64_t *out, const char *const *suffixes,
                               const uint64_t *mults, size_t nsuffix)
{
    if (!s || !*s || !isdigit((unsigned char)*s)) return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno) return false;
    uint64_t mult = nsuffix ? mults[0] : 1;
    if (*end) {
        size_t i;
        for (i = 0; i < nsuffix; i++)
            if (strcasecmp(end, suffixes[i]) == 0) break;
        if (i == nsuffix) return false;
        mult = mults[i];
    }
    if (mult && v > UINT64_MAX / mult) return false;
    *out = (uint64_t)v * mult;
    return true;
}

static bool parse_bytes_raw(const char *s, uint64_t *out) { return st_parse_size(s, strlen(s), out); }

/* Option intervals are kept in milliseconds: a non-zero value below 1 ms is refused. */
static bool parse_millis_raw(const char *s, uint64_t *out)
{
    uint64_t ns;
    if (!st_parse_duration_ns(s, strlen(s), &ns)) return false;
    if (ns && ns < 1000000) return false;
    *out = ns / 1000000;
    return true;
}

static bool parse_signal_raw(const char *s, int *out)
{
    static const struct { const char *name; int sig; } sigs[] = {
        {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"HUP", SIGHUP}, {"PROF", SIGPROF},
        {"WINCH", SIGWINCH}, {"URG", SIGURG},
    };
    if (strncasecmp(s, "SIG", 3) == 0) s += 3;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (strcasecmp(s, sigs[i].name) == 0) { *out = sigs[i].sig; return true; }
    uint64_t n;
    if (!parse_u64_suffixed(s, &n, NULL, NULL, 0)) return false;
    if (n == 0) { *out = 0; return true; }
    /* Signals the runtime or the kernel needs are refused. */
    if (n >= (uint64_t)NSIG || n == SIGKILL || n == SIGSTOP || n == SIGSEGV || n == SIGBUS ||
        n == SIGFPE || n == SIGILL || n == SIGABRT || n == SIGCHLD || n == SIGPIPE ||
        (n >= (uint64_t)__SIGRTMIN && n < (uint64_t)SIGRTMIN))
        return false;
    *out = (int)n;
    return true;
}

static bool parse_bool_raw(const char *s, bool *out)
{
    if (!strcasecmp(s, "1") || !strcasecmp(s, "on") || !strcasecmp(s, "yes") || !strcasecmp(s, "true")) { *out = true; return true; }
    if (!strcasecmp(s, "0") || !strcasecmp(s, "off") || !strcasecmp(s, "no") || !strcasecmp(s, "false")) { *out = false; return true; }
    return false;
}

static bool copy_text(const char *s, char *dst, size_t len)
{
    size_t n = strlen(s);
    if (n >= len) return false;
    memcpy(dst, s, n + 1);
    return true;
}


#define FIELD(d, type) ((type *)((char *)&st_opt + (d)->offset))

static bool p_text(const struct st_option_desc *d, const char *v)
{
    return copy_text(v, FIELD(d, char), 512);
}

/* A path must look like one: "offf" is a typo, not a file in the current directory. */
static bool p_log(const struct st_option_desc *d, const char *v)
{
    struct st_options *o = &st_opt;
    (void)d;
    if (!strcmp(v, "warnings")) { o->log_target = ST_LOG_STDERR; o->log_info = false; return true; }
    if (!strcmp(v, "stderr")) { o->log_target = ST_LOG_STDERR; o->log_info = true; return true; }
    if (!strcmp(v, "off")) { o->log_target = ST_LOG_OFF; return true; }
    if (!strchr(v, '/') || !copy_text(v, o->log_path, sizeof o->log_path)) return false;
    o->log_target = ST_LOG_FILE;
    o->log_info = true;
    return true;
}

static bool p_stacks(const struct st_option_desc *d, const char *v)
{
    struct st_options *o = &st_opt;
    uint64_t u;
    (void)d;
    if (!strcmp(v, "off")) { o->stacks_mode = ST_STACKS_OFF; return true; }
    if (!strcmp(v, "all")) { o->stacks_mode = ST_STACKS_ALL; return true; }
    if (!strncmp(v, "sample=", 7) && parse_bytes_raw(v + 7, &u) && u > 0) {
        o->stacks_mode = ST_STACKS_SAMPLE;
        o->stack_sample_bytes = u;
        return true;
    }
    return false;
}

/* A plain count in [min, max] into a long field. */
static bool p_long(const struct st_option_desc *d, const char *v)
{
    uint64_t u;
    if (!parse_u64_suffixed(v, &u, NULL, NULL, 0) || u < d->min || u > d->max) return false;
    *FIELD(d, long) = (long)u;
    return true;
}

/* -1 (glibc's dynamic threshold) or a size in [min, max] into a long field. */
static bool p_threshold(const struct st_option_desc *d, const char *v)
{
    uint64_t u;
    if (!strcmp(v, "-1")) { *FIELD(d, long) = -1; return true; }
    if (!parse_bytes_raw(v, &u) || u < d->min || u > d->max) return false;
    *FIELD(d, long) = (long)u;
    return true;
}

static bool p_count(const struct st_option_desc *d, const char *v)
{
    uint64_t u;
    if (!parse_u64_suffixed(v, &u, NULL, NULL, 0) || u < d->min || u > d->max) return false;
    *FIELD(d, uint64_t) = u;
    return true;
}

static bool p_bytes(const struct st_option_desc *d, const char *v)
{
    uint64_t u;
    if (!parse_bytes_raw(v, &u) || u < d->min || u > d->max) return false;
    *FIELD(d, uint64_t) = u;
    return true;
}

/* Durations, kept in milliseconds; 0 is always allowed (off), else [min, max] ms. */
static bool p_millis(const struct st_option_desc *d, const char *v)
{
    uint64_t ms;
    if (!parse_millis_raw(v, &ms)) return false;
    if (ms && (ms < d->min || ms > d->max)) return false;
    *FIELD(d, uint64_t) = ms;
    return true;
}

static bool p_bool(const struct st_option_desc *d, const char *v) { return parse_bool_raw(v, FIELD(d, bool)); }

/* "" (the default) is no signal. */
static bool p_signal(const struct st_option_desc *d, const char *v)
{
    if (!*v) { *FIELD(d, int) = 0; return true; }
    return parse_signal_raw(v, FIELD(d, int));
}

#define OFF(f) offsetof(struct st_options, f)
#define MS_DAY (86400ull * 1000)

/* The table. README.md's options table lists the same names and defaults (checked by
 * tests/scripts/test_options_table.sh); man/sesstrim.7 documents them. */
const struct st_option_desc st_option_table[ST_OPT_COUNT_] = {
    [ST_OPT_DUMP] = {"SESSTRIM_DUMP", p_text, OFF(dump_path), "", 0, 0,
        "dump file written at exit (atomically, mode 0600, never through a symlink); %p pid, %t unix time, %n dump number"},
    [ST_OPT_LOG] = {"SESSTRIM_LOG", p_log, OFF(log_path), "warnings", 0, 0,
        "warnings (warnings only, on stderr), stderr (every line: trims, dumps), off, or a file path containing '/' (%p allowed)"},
    [ST_OPT_TRIM] = {"SESSTRIM_TRIM", p_text, OFF(trim_policy), "", 0, 0,
        "trim policies, e.g. idle=2s,rss>512M (docs/trim.md); unset: never trim"},
    [ST_OPT_ARENA_MAX] = {"SESSTRIM_ARENA_MAX", p_long, OFF(arena_max), "0", 0, 1024,
        "mallopt(M_ARENA_MAX) at start; 0 leaves glibc's default (8 x cores)"},
    [ST_OPT_TRIM_THRESHOLD] = {"SESSTRIM_TRIM_THRESHOLD", p_threshold, OFF(trim_threshold), "-1", 0, INT32_MAX,
        "mallopt(M_TRIM_THRESHOLD) at start; -1 leaves glibc's dynamic threshold"},
    [ST_OPT_STACKS] = {"SESSTRIM_STACKS", p_stacks, OFF(stacks_mode), "sample=512K", 0, 0,
        "allocation stacks: off, sample=BYTES (one stack per ~BYTES allocated), all"},
    [ST_OPT_DUMP_SIGNAL] = {"SESSTRIM_DUMP_SIGNAL", p_signal, OFF(dump_signal), "", 0, 0,
        "a signal (USR2, SIGUSR1, a number) that writes a dump; unset: none"},
    [ST_OPT_DUMP_INTERVAL] = {"SESSTRIM_DUMP_INTERVAL", p_millis, OFF(dump_interval_ms), "0", 1, 365 * MS_DAY,
        "also dump every interval (30s, 5m); 0: never"},
    [ST_OPT_TIMELINE_INTERVAL] = {"SESSTRIM_TIMELINE_INTERVAL", p_millis, OFF(timeline_interval_ms), "0", 1, 365 * MS_DAY,
        "sample RSS, live bytes and per-arena resident bytes into the dump's timeline; 0: off"},
    [ST_OPT_DUMP_ON_SESSION_END] = {"SESSTRIM_DUMP_ON_SESSION_END", p_bool, OFF(dump_on_session_end), "off", 0, 0,
        "write a dump each time a session ends"},
    [ST_OPT_SESSION_LEFTOVER_LOG] = {"SESSTRIM_SESSION_LEFTOVER_LOG", p_bytes, OFF(session_leftover_log), "1M", 0, UINT64_MAX,
        "log a line when an ending session leaves more than this behind"},
    [ST_OPT_SESSION_INHERIT] = {"SESSTRIM_SESSION_INHERIT", p_bool, OFF(session_inherit), "on", 0, 0,
        "threads created inside a session inherit it"},
    [ST_OPT_SESSIONS_KEPT] = {"SESSTRIM_SESSIONS_KEPT", p_count, OFF(sessions_kept), "1000", 0, 10000000,
        "ended sessions kept in detail; older ones are folded into a summary"},
    [ST_OPT_CONTROL] = {"SESSTRIM_CONTROL", p_bool, OFF(control), "on", 0, 0,
        "the control socket @sesstrim-PID for `sesstrim ctl`/`top`, opened once the process has lived 1 s; off: none"},
    [ST_OPT_METRICS] = {"SESSTRIM_METRICS", p_text, OFF(metrics_path), "", 0, 0,
        "Prometheus text file rewritten every SESSTRIM_METRICS_INTERVAL (temp file + rename); %p pid"},
    [ST_OPT_METRICS_INTERVAL] = {"SESSTRIM_METRICS_INTERVAL", p_millis, OFF(metrics_interval_ms), "10s", 100, MS_DAY,
        "period of the SESSTRIM_METRICS file"},
    [ST_OPT_METRICS_SESSIONS] = {"SESSTRIM_METRICS_SESSIONS", p_count, OFF(metrics_sessions), "10", 0, 1000,
        "sessions named in metrics (largest live bytes first); the rest are summed as session=\"other\""},
    [ST_OPT_DUMP_ON_TERM] = {"SESSTRIM_DUMP_ON_TERM", p_bool, OFF(dump_on_term), "on", 0, 0,
        "with SESSTRIM_DUMP: SIGTERM and SIGINT write a dump, then take their default action"},
    [ST_OPT_FOLLOW_CHILDREN] = {"SESSTRIM_FOLLOW_CHILDREN", p_bool, OFF(follow_children), "on", 0, 0,
        "off: only the process SESSTRIM_RUN_PID names (and its forks) is traced; exec'd helpers run untraced"},
    [ST_OPT_RUN_PID] = {"SESSTRIM_RUN_PID", p_count, OFF(run_pid), "0", 0, (1u << 22),
        "set by `sesstrim run`: the pid of the launched program; 0: the first process to start"},
    [ST_OPT_PYFRAMES] = {"SESSTRIM_PYFRAMES", p_bool, OFF(pyframes), "on", 0, 0,
        "in a CPython 3.9-3.13 process, sampled stacks also carry the Python frames (docs/python.md); off: native frames only"},
};

/* Values that came from the environment, for options_describe. */
static const char *env_value[ST_OPT_COUNT_];

static void parse_from_env(enum st_option i)
{
    const struct st_option_desc *d = &st_option_table[i];
    const char *v = getenv(d->name);
    if (!v) return;
    if (!*v && !*d->def) return;          /* empty = unset for options whose default is unset */
    if (d->parse(d, v)) { env_value[i] = v; return; }
    char shown[64];
    size_t n = strlen(v);
    snprintf(shown, sizeof shown, "%.*s%s", n > 48 ? 48 : (int)n, v, n > 48 ? "..." : "");
    st_log("%s=%s is not valid (%s); using the default '%s'", d->name, shown, d->doc,
           *d->def ? d->def : "unset");
    d->parse(d, d->def);
}

/* Levenshtein distance of two short names (bounded: 64 characters). */
static unsigned edit_distance(const char *a, size_t n, const char *b)
{
    unsigned row[65];
    size_t m = strlen(b);
    if (n > 64) n = 64;
    if (m > 64) m = 64;
    for (size_t j = 0; j <= m; j++) row[j] = (unsigned)j;
    for (size_t i = 1; i <= n; i++) {
        unsigned diag = row[0];
        row[0] = (unsigned)i;
        for (size_t j = 1; j <= m; j++) {
            unsigned up = row[j];
            unsigned best = diag + (toupper((unsigned char)a[i - 1]) != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[m];
}

const char *options_closest(const char *name, size_t n)
{
    const char *best = st_option_table[0].name;
    unsigned bd = ~0u;
    for (size_t i = 0; i < ST_OPT_COUNT_; i++) {
        unsigned dist = edit_distance(name, n, st_option_table[i].name);
        if (dist < bd) { bd = dist; best = st_option_table[i].name; }
    }
    return best;
}

/* SESSTRIM_* variables that are not options: one line each (at most 8), naming the closest
 * option. Variables other tools of the project read are not options and not typos. */
static void warn_unknown(void)
{
    /* The Python package's (docs/python.md), the build's and the tests' variables. */
    static const char *const not_options[] = {"SESSTRIM_FUZZ_SECONDS", "SESSTRIM_DEMO_DIR",
                                              "SESSTRIM_TEST_GLIBC_VERSION", "SESSTRIM_LIB",
                                              "SESSTRIM_LIBRARY", "SESSTRIM_REPORT", "SESSTRIM_BUILD",
                                              "SESSTRIM_PYTEST_NO_REEXEC"};
    unsigned said = 0;
    for (char **e = environ; e && *e && said < 8; e++) {
        if (strncmp(*e, "SESSTRIM_", 9) != 0) continue;
        const char *eq = strchr(*e, '=');
        size_t n = eq ? (size_t)(eq - *e) : strlen(*e);
        bool known = false;
        for (size_t i = 0; i < ST_OPT_COUNT_ && !known; i++)
            known = strlen(st_option_table[i].name) == n && !strncmp(*e, st_option_table[i].name, n);
        for (size_t i = 0; i < sizeof not_options / sizeof not_options[0] && !known; i++)
            known = strlen(not_options[i]) == n && !strncmp(*e, not_options[i], n);
        if (known) continue;
        st_log("%.*s is not a sesstrim option (did you mean %s?); ignored", (int)(n > 64 ? 64 : n), *e,
               options_closest(*e, n));
        said++;
    }
}

void options_parse(void)
{
    memset(&st_opt, 0, sizeof st_opt);
    memset(env_value, 0, sizeof env_value);
    for (size_t i = 0; i < ST_OPT_COUNT_; i++) {
        const struct st_option_desc *d = &st_option_table[i];
        if (!d->parse(d, d->def)) st_log("internal: default of %s does not parse", d->name);
    }
    /* SESSTRIM_LOG first: the warnings about the other options must go where it says (its
     * own warning goes to stderr, the default target). */
    st_log_reopen();
    parse_from_env(ST_OPT_LOG);
    st_log_reopen();
    for (size_t i = 0; i < ST_OPT_COUNT_; i++)
        if (i != ST_OPT_LOG) parse_from_env((enum st_option)i);
    warn_unknown();
}

size_t options_describe(char *buf, size_t len)
{
    size_t o = 0;
    if (!len) return 0;
    buf[0] = 0;
    for (size_t i = 0; i < ST_OPT_COUNT_ && o + 1 < len; i++) {
        const struct st_option_desc *d = &st_option_table[i];
        int n = env_value[i] ? snprintf(buf + o, len - o, "%s=%s\n", d->name, env_value[i])
                             : snprintf(buf + o, len - o, "%s=%s (default)\n", d->name, *d->def ? d->def : "unset");
        if (n < 0) break;
        o += (size_t)n < len - o ? (size_t)n : len - o - 1;
    }
    return o;
}
