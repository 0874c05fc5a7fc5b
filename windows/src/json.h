/*
 * Minimal JSON for the bridge protocol (see docs/tsp.md, "Bridge protocol").
 *
 * The bridge only ever sends FLAT objects (string, integer, boolean and null
 * values), so the shim needs no general JSON parser: a small, bounded one that
 * rejects anything else is easier to trust inside a Telephony service.
 */
#ifndef TAPIEVENT_TSP_JSON_H
#define TAPIEVENT_TSP_JSON_H

#include <stddef.h>

#define JSON_MAX_FIELDS 32
#define JSON_MAX_KEY 32

enum json_kind { JSON_STRING, JSON_INT, JSON_BOOL, JSON_NULL };

typedef struct json_field {
    char key[JSON_MAX_KEY];
    enum json_kind kind;
    const char *str; /* UTF-8, NUL-terminated, points into the caller's scratch buffer */
    long long num;   /* JSON_INT value, or 0/1 for JSON_BOOL */
} json_field;

typedef struct json_object {
    int count;
    json_field fields[JSON_MAX_FIELDS];
} json_object;

/* Parses text[0..len) as one flat JSON object. Decoded strings go to scratch
 * (which must be at least len + 1 bytes). Returns 0 on success, -1 on any
 * syntax error, nesting, non-integer number, duplicate or over-long key. */
int json_parse_flat(const char *text, size_t len, json_object *out, char *scratch, size_t scratch_size);

const json_field *json_get(const json_object *obj, const char *key);
/* The string value of key, or NULL when absent or not a string. */
const char *json_get_str(const json_object *obj, const char *key);
/* Stores the integer value of key in *value; returns 0, or -1 when absent or not an integer. */
int json_get_int(const json_object *obj, const char *key, long long *value);
/* 1 for true, 0 for false or absent. */
int json_get_bool(const json_object *obj, const char *key);

/* A bounded output buffer: appends never overflow; overflow is sticky. */
typedef struct json_writer {
    char *buf;
    size_t size;
    size_t len;
    int overflow;
} json_writer;

void jw_init(json_writer *w, char *buf, size_t size);
void jw_raw(json_writer *w, const char *text);
/* Appends a JSON string literal for UTF-8 text (quotes, escapes). */
void jw_string(json_writer *w, const char *utf8);
void jw_uint(json_writer *w, unsigned long long value);
/* ,"key": helpers; the first field of an object is written with jw_raw("{"). */
void jw_key(json_writer *w, const char *key);

#endif
