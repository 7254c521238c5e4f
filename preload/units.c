/* units.c: the one parser of sizes ("512M", "1.5GiB") and durations ("300us", "2s", bare
 * numbers are seconds) shared by every SESSTRIM_* option and the SESSTRIM_TRIM grammar. */
#include <string.h>
#include "shim.h"

bool st_ieq_n(const char *a, size_t n, const char *b)
{
    size_t m = strlen(b);
    if (n != m) return false;
    for (size_t i = 0; i < n; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}
#define ieq st_ieq_n

/* "1.5" -> numerator 15, scale 10. Digits only, at most one dot; rejects overflow. */
static bool parse_decimal(const char *s, size_t n, size_t *used, uint64_t *num, uint64_t *den)
{
    uint64_t v = 0, d = 1;
    bool dot = false, digits = false;
    size_t i = 0;
    for (; i < n; i++) {
        char c = s[i];
        if (c == '.' && !dot) { dot = true; continue; }
        if (c < '0' || c > '9') break;
        if (v > (UINT64_MAX - 9) / 10 || d > UINT64_MAX / 10) return false;
        v = v * 10 + (uint64_t)(c - '0');
        if (dot) d *= 10;
        digits = true;
    }
    if (!digits) return false;
    *used = i; *num = v; *den = d;
    return true;
}

static bool scale(uint64_t num, uint64_t den, uint64_t unit, uint64_t *out)
{
    /* num/den*unit without overflow for the ranges that make sense (< 2^63). */
    unsigned __int128 v = (unsigned __int128)num * unit / den;
    if (v > (unsigned __int128)INT64_MAX) return false;
    *out = (uint64_t)v;
    return true;
}

bool st_parse_size(const char *s, size_t n, uint64_t *out)
{
    size_t used; uint64_t num, den;
    if (!parse_decimal(s, n, &used, &num, &den)) return false;
    const char *u = s + used;
    size_t un = n - used;
    uint64_t unit;
    if (un == 0 || ieq(u, un, "b")) unit = 1;
    else if (ieq(u, un, "k") || ieq(u, un, "kb") || ieq(u, un, "kib")) unit = 1ull << 10;
    else if (ieq(u, un, "m") || ieq(u, un, "mb") || ieq(u, un, "mib")) unit = 1ull << 20;
    else if (ieq(u, un, "g") || ieq(u, un, "gb") || ieq(u, un, "gib")) unit = 1ull << 30;
    else if (ieq(u, un, "t") || ieq(u, un, "tb") || ieq(u, un, "tib")) unit = 1ull << 40;
    else return false;
    return scale(num, den, unit, out);
}

bool st_parse_duration_ns(const char *s, size_t n, uint64_t *out_ns)
{
    size_t used; uint64_t num, den;
    if (!parse_decimal(s, n, &used, &num, &den)) return false;
    const char *u = s + used;
    size_t un = n - used;
    uint64_t unit;
    if (un == 0 || ieq(u, un, "s")) unit = 1000000000ull;    /* bare numbers are seconds */
    else if (ieq(u, un, "ns")) unit = 1;
    else if (ieq(u, un, "us")) unit = 1000ull;
    else if (ieq(u, un, "ms")) unit = 1000000ull;
    else if (ieq(u, un, "m") || ieq(u, un, "min")) unit = 60000000000ull;
    else if (ieq(u, un, "h")) unit = 3600000000000ull;
    else return false;
    return scale(num, den, unit, out_ns);
}

