/* json_writer.c: a small streaming JSON emitter; the dump's strings are untrusted bytes, so
 * every string is escaped and made valid UTF-8 here. */
#include <math.h>
#include <string.h>
#include "json_writer.h"

void jw_init(struct jw *w, FILE *f)
{
    memset(w, 0, sizeof *w);
    w->f = f;
}

static void indent(struct jw *w)
{
    fputc('\n', w->f);
    for (int i = 0; i < w->depth; i++) fputs("  ", w->f);
}

static void write_escaped(FILE *f, const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    fputc('"', f);
    while (i < max && p[i]) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            fputc(c, f);
            i++;
        } else {
            /* Pass a well-formed UTF-8 sequence through, replace anything else. */
            size_t len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
            bool ok = len > 0 && i + len <= max;
            for (size_t k = 1; ok && k < len; k++) ok = (p[i + k] & 0xc0) == 0x80;
            if (ok && len == 3 && ((c == 0xe0 && p[i + 1] < 0xa0) || (c == 0xed && p[i + 1] >= 0xa0))) ok = false;
            if (ok && len == 4 && ((c == 0xf0 && p[i + 1] < 0x90) || (c == 0xf4 && p[i + 1] >= 0x90))) ok = false;
            if (ok) {
                fwrite(p + i, 1, len, f);
                i += len;
            } else {
                fputs("\\ufffd", f);
                i++;
            }
        }
    }
    fputc('"', f);
}

static void start_value(struct jw *w, const char *key)
{
    if (w->depth > 0) {
        if (w->has_items[w->depth]) fputc(',', w->f);
        w->has_items[w->depth] = true;
        indent(w);
    }
    if (key) {
        write_escaped(w->f, key, SIZE_MAX);
        fputs(": ", w->f);
    }
}

static void open_container(struct jw *w, const char *key, char c)
{
    start_value(w, key);
    fputc(c, w->f);
    if (w->depth + 1 < JW_MAX_DEPTH) w->depth++;
    w->has_items[w->depth] = false;
}

static void close_container(struct jw *w, char c)
{
    bool had = w->has_items[w->depth];
    if (w->depth > 0) w->depth--;
    if (had) indent(w);
    fputc(c, w->f);
    if (w->depth == 0) fputc('\n', w->f);
}

void jw_object(struct jw *w, const char *key) { open_container(w, key, '{'); }
void jw_array(struct jw *w, const char *key) { open_container(w, key, '['); }
void jw_end_object(struct jw *w) { close_container(w, '}'); }
void jw_end_array(struct jw *w) { close_container(w, ']'); }

void jw_u64(struct jw *w, const char *key, uint64_t v)
{
    start_value(w, key);
    fprintf(w->f, "%llu", (unsigned long long)v);
}

void jw_i64(struct jw *w, const char *key, int64_t v)
{
    start_value(w, key);
    fprintf(w->f, "%lld", (long long)v);
}

void jw_double(struct jw *w, const char *key, double v)
{
    start_value(w, key);
    if (isfinite(v)) fprintf(w->f, "%.6g", v);
    else fputs("null", w->f);
}

void jw_bool(struct jw *w, const char *key, bool v)
{
    start_value(w, key);
    fputs(v ? "true" : "false", w->f);
}

void jw_null(struct jw *w, const char *key)
{
    start_value(w, key);
    fputs("null", w->f);
}

void jw_string(struct jw *w, const char *key, const char *s) { jw_string_n(w, key, s, SIZE_MAX); }

void jw_string_n(struct jw *w, const char *key, const char *s, size_t max)
{
    start_value(w, key);
    write_escaped(w->f, s ? s : "", max);
}

void jw_field(struct jw *w, const char *key, const void *p, size_t size, char kind)
{
    uint64_t u = 0;
    int64_t i = 0;
    switch (kind) {
    case 'u':
        memcpy(&u, p, size < sizeof u ? size : sizeof u); /* little-endian: a u32 fits the low half */
        jw_u64(w, key, u);
        break;
    case 'i':
        memcpy(&i, p, sizeof i);
        jw_i64(w, key, i);
        break;
    case 's': jw_string_n(w, key, p, size); break;
    default: break;
    }
}
