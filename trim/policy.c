/* policy.c: the SESSTRIM_TRIM grammar: turns "idle=2s,rss>512M;min-interval=1s" into a
 * struct trim_policy. Bad tokens get one warning line each and are ignored. */
#include <string.h>

#include "trim.h"

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

#define ieq st_ieq_n

static void warn_token(const char *tok, size_t n, const char *why, struct trim_policy *p)
{
    p->bad_tokens++;
    st_log("SESSTRIM_TRIM: ignoring '%.*s': %s (see docs/trim.md)", (int)(n > 80 ? 80 : n), tok,
           why);
}

/* name<op>value, op one of '=', '>', ">=": split at the first operator. */
static bool split_token(const char *t, size_t n, size_t *name_len, const char **val, size_t *val_len,
                        char *op)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '=' || t[i] == '>') {
            *name_len = i;
            *op = t[i];
            size_t j = i + 1;
            if (t[i] == '>' && j < n && t[j] == '=') j++;
            *val = t + j;
            *val_len = n - j;
            while (*name_len > 0 && is_space(t[*name_len - 1])) (*name_len)--;
            while (*val_len > 0 && is_space(**val)) { (*val)++; (*val_len)--; }
            return true;
        }
    }
    *name_len = n; *val = t + n; *val_len = 0; *op = 0;
    return false;
}

static void parse_token(const char *t, size_t n, struct trim_policy *p)
{
    size_t nl, vl; const char *v; char op;
    bool has_value = split_token(t, n, &nl, &v, &vl, &op);

    if (!has_value) {
        if (ieq(t, n, "session-end") || ieq(t, n, "session_end")) { p->session_end = true; return; }
        if (ieq(t, n, "off") || ieq(t, n, "none")) { return; }
        warn_token(t, n, "unknown policy", p);
        return;
    }

    bool is_idle_all = ieq(t, nl, "idle-all") || ieq(t, nl, "idle_all");
    bool is_dur_trigger = ieq(t, nl, "idle") || is_idle_all || ieq(t, nl, "every");
    bool is_size_trigger = ieq(t, nl, "rss") || ieq(t, nl, "free-resident") ||
                           ieq(t, nl, "free_resident");
    if (is_dur_trigger || ieq(t, nl, "min-interval") || ieq(t, nl, "min_interval") ||
        ieq(t, nl, "check") || ieq(t, nl, "quiet")) {
        uint64_t ns;
        if (op != '=') { warn_token(t, n, "expected name=DURATION", p); return; }
        if (!st_parse_duration_ns(v, vl, &ns)) {
            warn_token(t, n, "bad duration (use e.g. 300us, 50ms, 2s, 5m)", p);
            return;
        }
        if (is_dur_trigger && ns == 0) { warn_token(t, n, "duration must be above 0", p); return; }
        if (ieq(t, nl, "idle")) p->idle_ns = ns;
        else if (is_idle_all) p->idle_all_ns = ns;
        else if (ieq(t, nl, "every")) p->every_ns = ns;
        else if (ieq(t, nl, "check")) p->check_ns = ns;
        else if (ieq(t, nl, "quiet")) p->quiet_ns = ns;
        else p->min_interval_ns = ns;
        return;
    }
    if (is_size_trigger || ieq(t, nl, "pad")) {
        uint64_t bytes;
        if (is_size_trigger && op != '>' && op != '=') {
            warn_token(t, n, "expected name>SIZE", p);
            return;
        }
        if (!is_size_trigger && op != '=') { warn_token(t, n, "expected pad=SIZE", p); return; }
        if (!st_parse_size(v, vl, &bytes)) {
            warn_token(t, n, "bad size (use e.g. 4096, 64K, 512M, 2G)", p);
            return;
        }
        if (is_size_trigger && bytes == 0) { warn_token(t, n, "size must be above 0", p); return; }
        if (ieq(t, nl, "rss")) p->rss_high = bytes;
        else if (ieq(t, nl, "pad")) p->pad = bytes;
        else p->free_resident = bytes;
        return;
    }
    if (ieq(t, nl, "glibc")) {
        if (ieq(v, vl, "on") || ieq(v, vl, "1") || ieq(v, vl, "yes")) p->glibc_pass = true;
        else if (ieq(v, vl, "off") || ieq(v, vl, "0") || ieq(v, vl, "no")) p->glibc_pass = false;
        else warn_token(t, n, "expected glibc=on or glibc=off", p);
        return;
    }
    warn_token(t, n, "unknown policy", p);
}

void trim_policy_parse(const char *text, struct trim_policy *out)
{
    memset(out, 0, sizeof *out);
    out->min_interval_ns = TRIM_DEFAULT_MIN_INTERVAL_NS;
    out->quiet_ns = TRIM_DEFAULT_QUIET_NS;
    out->glibc_pass = false;
    if (!text) return;
    const char *s = text;
    while (*s) {
        while (*s && (is_space(*s) || *s == ',' || *s == ';')) s++;
        if (!*s) break;
        const char *e = s;
        while (*e && *e != ',' && *e != ';') e++;
        size_t n = (size_t)(e - s);
        while (n > 0 && is_space(s[n - 1])) n--;
        if (n > 0) parse_token(s, n, out);
        s = e;
    }
}

bool trim_policy_has_trigger(const struct trim_policy *p)
{
    return p->idle_ns || p->idle_all_ns || p->rss_high || p->every_ns || p->session_end || p->free_resident;
}

static uint64_t min_nonzero(uint64_t a, uint64_t b)
{
    if (!a) return b;
    if (!b) return a;
    return a < b ? a : b;
}

uint64_t trim_policy_tick_ns(const struct trim_policy *p)
{
    if (p->check_ns) return p->check_ns < TRIM_MIN_TICK_NS ? TRIM_MIN_TICK_NS : p->check_ns;
    /* Idle is noticed within a quarter of its duration; a period is hit on time. */
    uint64_t t = TRIM_MAX_TICK_NS;
    t = min_nonzero(t, p->idle_ns / 4);
    t = min_nonzero(t, p->idle_all_ns / 4);
    t = min_nonzero(t, p->every_ns);
    if (t < TRIM_MIN_TICK_NS) t = TRIM_MIN_TICK_NS;
    return t;
}

/* A bounded string builder: the preload must not use stdio. */
struct sbuf { char *p; size_t len, at; };

static void put_str(struct sbuf *b, const char *s)
{
    while (*s && b->at + 1 < b->len) b->p[b->at++] = *s++;
    b->p[b->at < b->len ? b->at : b->len - 1] = 0;
}

static void put_u64(struct sbuf *b, uint64_t v)
{
    char digits[24];
    int n = 0;
    do { digits[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    char out[24];
    for (int i = 0; i < n; i++) out[i] = digits[n - 1 - i];
    out[n] = 0;
    put_str(b, out);
}

static void put_dur(struct sbuf *b, uint64_t ns)
{
    static const struct { uint64_t div; const char *unit; } units[] = {
        {1000000000ull, "s"}, {1000000ull, "ms"}, {1000ull, "us"}, {1, "ns"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (ns % units[i].div == 0) { put_u64(b, ns / units[i].div); put_str(b, units[i].unit); return; }
}

static void put_size(struct sbuf *b, uint64_t v)
{
    static const struct { unsigned shift; const char *unit; } units[] = {
        {30, "G"}, {20, "M"}, {10, "K"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (v && v % (1ull << units[i].shift) == 0) {
            put_u64(b, v >> units[i].shift);
            put_str(b, units[i].unit);
            return;
        }
    put_u64(b, v);
}

void trim_policy_describe(const struct trim_policy *p, char *buf, size_t len)
{
    struct sbuf b = {buf, len, 0};
    if (!len) return;
    buf[0] = 0;
    if (p->idle_ns) { put_str(&b, "idle="); put_dur(&b, p->idle_ns); }
    if (p->idle_all_ns) { put_str(&b, b.at ? ",idle-all=" : "idle-all="); put_dur(&b, p->idle_all_ns); }
    if (p->rss_high) { put_str(&b, b.at ? ",rss>" : "rss>"); put_size(&b, p->rss_high); }
    if (p->every_ns) { put_str(&b, b.at ? ",every=" : "every="); put_dur(&b, p->every_ns); }
    if (p->session_end) put_str(&b, b.at ? ",session-end" : "session-end");
    if (p->free_resident) {
        put_str(&b, b.at ? ",free-resident>" : "free-resident>");
        put_size(&b, p->free_resident);
    }
    put_str(&b, ";min-interval="); put_dur(&b, p->min_interval_ns);
    put_str(&b, ",quiet="); put_dur(&b, p->quiet_ns);
    put_str(&b, ",check="); put_dur(&b, trim_policy_tick_ns(p));
    if (p->pad) { put_str(&b, ",pad="); put_size(&b, p->pad); }
    if (p->glibc_pass) put_str(&b, ",glibc=on");
}
