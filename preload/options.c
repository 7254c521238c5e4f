/* options.c: the one table of SESSTRIM_* environment options, parsed once at start.
 * A malformed value gets one warning line naming the option, and its default. */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "shim.h"

struct st_options st_opt;

enum opt_type { OPT_PATH, OPT_LOG, OPT_STACKS, OPT_TEXT, OPT_COUNT, OPT_BYTES, OPT_MILLIS,
                OPT_BOOL, OPT_SIGNAL };

struct opt_def {
    const char *name;
    enum opt_type type;
    const char *def;          /* parsed like a user value, so defaults are always valid */
    const char *doc;
};

/* apply() matches entries by index: keep this table and its switch in the same order. */
static const struct opt_def opt_table[] = {
    {"SESSTRIM_DUMP", OPT_PATH, "", "dump file written at exit; %p = pid, %t = unix time (unset: none)"},
    {"SESSTRIM_LOG", OPT_LOG, "warnings", "warnings: warnings only, on stderr; stderr: every line (trims, dumps) on stderr; off; or a file path with a '/' (%p allowed)"},
    {"SESSTRIM_STACKS", OPT_STACKS, "sample=524288", "allocation stacks: off, sample=BYTES (one stack per ~BYTES allocated), all"},
    {"SESSTRIM_TRIM", OPT_TEXT, "", "trim policies (docs/trim.md); unset: never trim"},
    {"SESSTRIM_ARENA_MAX", OPT_COUNT, "0", "mallopt(M_ARENA_MAX) at start; 0 leaves glibc's default (8 x cores)"},
    {"SESSTRIM_TRIM_THRESHOLD", OPT_BYTES, "-1", "mallopt(M_TRIM_THRESHOLD) at start; -1 leaves glibc's dynamic threshold"},
    {"SESSTRIM_DUMP_SIGNAL", OPT_SIGNAL, "0", "signal (name or number) that writes a dump; 0: none"},
    {"SESSTRIM_DUMP_INTERVAL", OPT_MILLIS, "0", "write a dump every interval (e.g. 30s); 0: never"},
    {"SESSTRIM_TIMELINE_INTERVAL", OPT_MILLIS, "0", "sample RSS and live bytes into the dump's timeline every interval; 0: off"},
    {"SESSTRIM_DUMP_ON_SESSION_END", OPT_BOOL, "off", "write a dump each time a session ends"},
    {"SESSTRIM_SESSION_LEFTOVER_LOG", OPT_BYTES, "1048576", "log a line when an ending session leaves more than BYTES behind"},
    {"SESSTRIM_SESSION_INHERIT", OPT_BOOL, "on", "threads created inside a session inherit it"},
    {"SESSTRIM_SESSIONS_KEPT", OPT_COUNT, "1000", "ended sessions kept in detail; older ones are folded into a summary"},
};
#define NOPT (sizeof opt_table / sizeof opt_table[0])

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

static bool parse_bytes(const char *s, uint64_t *out) { return st_parse_size(s, strlen(s), out); }

/* Option intervals are kept in milliseconds: a non-zero value below 1 ms is refused. */
static bool parse_millis(const char *s, uint64_t *out)
{
    uint64_t ns;
    if (!st_parse_duration_ns(s, strlen(s), &ns)) return false;
    if (ns && ns < 1000000) return false;
    *out = ns / 1000000;
    return true;
}

static bool parse_signal(const char *s, int *out)
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

static bool parse_bool(const char *s, bool *out)
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

/* Parse `value` for option i into st_opt; false if malformed (st_opt untouched then). */
static bool apply(size_t i, const char *value)
{
    struct st_options *o = &st_opt;
    uint64_t u;
    switch (i) {
    case 0: return copy_text(value, o->dump_path, sizeof o->dump_path);
    case 1:
        if (!*value) return false;
        if (!strcmp(value, "warnings")) { o->log_target = ST_LOG_STDERR; o->log_info = false; return true; }
        if (!strcmp(value, "stderr")) { o->log_target = ST_LOG_STDERR; o->log_info = true; return true; }
        if (!strcmp(value, "off")) { o->log_target = ST_LOG_OFF; return true; }
        /* A path must look like one: "offf" is a typo, not a file in the current directory. */
        if (!strchr(value, '/') || !copy_text(value, o->log_path, sizeof o->log_path)) return false;
        o->log_target = ST_LOG_FILE;
        o->log_info = true;
        return true;
    case 2:
        if (!strcmp(value, "off")) { o->stacks_mode = ST_STACKS_OFF; return true; }
        if (!strcmp(value, "all")) { o->stacks_mode = ST_STACKS_ALL; return true; }
        if (!strncmp(value, "sample=", 7) && parse_bytes(value + 7, &u) && u > 0) {
            o->stacks_mode = ST_STACKS_SAMPLE;
            o->stack_sample_bytes = u;
            return true;
        }
        return false;
    case 3: return copy_text(value, o->trim_policy, sizeof o->trim_policy);
    case 4:
        if (!parse_u64_suffixed(value, &u, NULL, NULL, 0) || u > 1024) return false;
        o->arena_max = (long)u;
        return true;
    case 5:
        if (!strcmp(value, "-1")) { o->trim_threshold = -1; return true; }
        if (!parse_bytes(value, &u) || u > (uint64_t)INT32_MAX) return false;
        o->trim_threshold = (long)u;
        return true;
    case 6: return parse_signal(value, &o->dump_signal);
    case 7: return parse_millis(value, &o->dump_interval_ms);
    case 8: return parse_millis(value, &o->timeline_interval_ms);
    case 9: return parse_bool(value, &o->dump_on_session_end);
    case 10: return parse_bytes(value, &o->session_leftover_log);
    case 11: return parse_bool(value, &o->session_inherit);
    case 12:
        if (!parse_u64_suffixed(value, &u, NULL, NULL, 0) || u > 10000000) return false;
        o->sessions_kept = u;
        return true;
    }
    return false;
}

static void parse_from_env(size_t i)
{
    const char *v = getenv(opt_table[i].name);
    if (!v) return;
    if (opt_table[i].type == OPT_TEXT && !*v) return;
    if (apply(i, v)) return;
    char shown[64];
    size_t n = strlen(v);
    snprintf(shown, sizeof shown, "%.*s%s", n > 48 ? 48 : (int)n, v, n > 48 ? "..." : "");
    st_log("%s=%s is not valid (%s); using the default '%s'", opt_table[i].name, shown,
           opt_table[i].doc, opt_table[i].def);
    apply(i, opt_table[i].def);
}

#define OPT_LOG_INDEX 1

void options_parse(void)
{
    memset(&st_opt, 0, sizeof st_opt);
    for (size_t i = 0; i < NOPT; i++) {
        if (!apply(i, opt_table[i].def)) st_log("internal: default of %s does not parse", opt_table[i].name);
    }
    /* SESSTRIM_LOG first: the warnings about the other options must go where it says. */
    parse_from_env(OPT_LOG_INDEX);
    st_log_reopen();
    for (size_t i = 0; i < NOPT; i++)
        if (i != OPT_LOG_INDEX) parse_from_env(i);
}
