/* json_writer.h: a small streaming JSON emitter (commas, nesting, indentation, escaping to
 * valid UTF-8) shared by the analyzer's JSON outputs. */
#ifndef SESSTRIM_JSON_WRITER_H
#define SESSTRIM_JSON_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JW_MAX_DEPTH 32

struct jw {
    FILE *f;
    int depth;
    bool has_items[JW_MAX_DEPTH];
};

void jw_init(struct jw *w, FILE *f);
/* key is NULL inside arrays and for the top-level value. */
void jw_object(struct jw *w, const char *key);
void jw_array(struct jw *w, const char *key);
void jw_end_object(struct jw *w);
void jw_end_array(struct jw *w);
void jw_u64(struct jw *w, const char *key, uint64_t v);
void jw_i64(struct jw *w, const char *key, int64_t v);
void jw_double(struct jw *w, const char *key, double v);
void jw_bool(struct jw *w, const char *key, bool v);
void jw_null(struct jw *w, const char *key);
/* Escapes quotes, backslashes and control characters; invalid UTF-8 becomes U+FFFD. */
void jw_string(struct jw *w, const char *key, const char *s);
/* A bounded char array that may lack its NUL. */
void jw_string_n(struct jw *w, const char *key, const char *s, size_t max);
/* One struct field of a dump record (the ST_FIELDS_* lists): kind 'u' unsigned of `size`
 * bytes, 'i' int64_t, 's' char array of `size` bytes, anything else prints nothing. */
void jw_field(struct jw *w, const char *key, const void *p, size_t size, char kind);
/* The kind of a record field, from its type; `rec` names the record being printed. */
#define JW_KIND_(v) _Generic((v), uint32_t: 'u', uint64_t: 'u', int64_t: 'i', char *: 's', const char *: 's', default: '-')
#define JW_RECORD_FIELD_(type, name, dim, json) \
    if (json) jw_field(w, #name, &rec->name, sizeof rec->name, JW_KIND_(rec->name));

#endif
