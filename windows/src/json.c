/* Bounded flat-object JSON reader and writer; see json.h for why it is flat. */
#include "json.h"

#include <stdio.h>
#include <string.h>

typedef struct cursor {
    const char *p;
    const char *end;
    char *out;
    char *out_end;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
        c->p++;
}

static int hex4(cursor *c, unsigned *value)
{
    unsigned v = 0;
    int i;
    if (c->end - c->p < 4)
        return -1;
    for (i = 0; i < 4; i++) {
        char ch = *c->p++;
        v <<= 4;
        if (ch >= '0' && ch <= '9')
            v |= (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            v |= (unsigned)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F')
            v |= (unsigned)(ch - 'A' + 10);
        else
            return -1;
    }
    *value = v;
    return 0;
}

static int put(cursor *c, unsigned char byte)
{
    if (c->out >= c->out_end)
        return -1;
    *c->out++ = (char)byte;
    return 0;
}

static int put_utf8(cursor *c, unsigned cp)
{
    if (cp < 0x80)
        return put(c, (unsigned char)cp);
    if (cp < 0x800)
        return put(c, (unsigned char)(0xC0 | (cp >> 6))) || put(c, (unsigned char)(0x80 | (cp & 0x3F)));
    if (cp < 0x10000)
        return put(c, (unsigned char)(0xE0 | (cp >> 12))) || put(c, (unsigned char)(0x80 | ((cp >> 6) & 0x3F))) ||
               put(c, (unsigned char)(0x80 | (cp & 0x3F)));
    return put(c, (unsigned char)(0xF0 | (cp >> 18))) || put(c, (unsigned char)(0x80 | ((cp >> 12) & 0x3F))) ||
           put(c, (unsigned char)(0x80 | ((cp >> 6) & 0x3F))) || put(c, (unsigned char)(0x80 | (cp & 0x3F)));
}

/* Decodes a string literal (c->p at the opening quote) into the scratch buffer. */
static int parse_string(cursor *c, const char **result)
{
    char *start = c->out;
    if (c->p >= c->end || *c->p != '"')
        return -1;
    c->p++;
    for (;;) {
        unsigned char ch;
        if (c->p >= c->end)
            return -1;
        ch = (unsigned char)*c->p++;
        if (ch == '"')
            break;
        if (ch < 0x20)
            return -1;
        if (ch != '\\') {
            if (put(c, ch))
                return -1;
            continue;
        }
        if (c->p >= c->end)
            return -1;
        ch = (unsigned char)*c->p++;
        switch (ch) {
        case '"': case '\\': case '/':
            if (put(c, ch)) return -1;
            break;
        case 'b': if (put(c, '\b')) return -1; break;
        case 'f': if (put(c, '\f')) return -1; break;
        case 'n': if (put(c, '\n')) return -1; break;
        case 'r': if (put(c, '\r')) return -1; break;
        case 't': if (put(c, '\t')) return -1; break;
        case 'u': {
            unsigned cp, low;
            if (hex4(c, &cp))
                return -1;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u')
                    return -1;
                c->p += 2;
                if (hex4(c, &low) || low < 0xDC00 || low > 0xDFFF)
                    return -1;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return -1;
            }
            if (cp == 0 || put_utf8(c, cp))
                return -1; /* an embedded NUL would silently truncate a C string */
            break;
        }
        default:
            return -1;
        }
    }
    if (put(c, 0))
        return -1;
    *result = start;
    return 0;
}

static int parse_int(cursor *c, long long *value)
{
    int negative = 0, digits = 0;
    unsigned long long v = 0;
    if (c->p < c->end && *c->p == '-') {
        negative = 1;
        c->p++;
    }
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        v = v * 10 + (unsigned)(*c->p - '0');
        if (++digits > 15)
            return -1; /* far beyond any 32-bit TAPI value; keeps the arithmetic exact */
        c->p++;
    }
    if (digits == 0)
        return -1;
    if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E'))
        return -1;
    *value = negative ? -(long long)v : (long long)v;
    return 0;
}

static int literal(cursor *c, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return -1;
    c->p += n;
    return 0;
}

int json_parse_flat(const char *text, size_t len, json_object *out, char *scratch, size_t scratch_size)
{
    cursor c;
    c.p = text;
    c.end = text + len;
    c.out = scratch;
    c.out_end = scratch + scratch_size;
    out->count = 0;
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '{')
        return -1;
    c.p++;
    skip_ws(&c);
    if (c.p < c.end && *c.p == '}') {
        c.p++;
    } else {
        for (;;) {
            json_field *f;
            const char *key;
            int i;
            if (out->count >= JSON_MAX_FIELDS)
                return -1;
            f = &out->fields[out->count];
            skip_ws(&c);
            if (parse_string(&c, &key) || strlen(key) >= JSON_MAX_KEY)
                return -1;
            for (i = 0; i < out->count; i++)
                if (strcmp(out->fields[i].key, key) == 0)
                    return -1;
            strcpy(f->key, key);
            c.out = (char *)key; /* the key's scratch space can be reused */
            skip_ws(&c);
            if (c.p >= c.end || *c.p != ':')
                return -1;
            c.p++;
            skip_ws(&c);
            if (c.p >= c.end)
                return -1;
            f->str = NULL;
            f->num = 0;
            if (*c.p == '"') {
                f->kind = JSON_STRING;
                if (parse_string(&c, &f->str))
                    return -1;
            } else if (*c.p == 't') {
                f->kind = JSON_BOOL;
                f->num = 1;
                if (literal(&c, "true"))
                    return -1;
            } else if (*c.p == 'f') {
                f->kind = JSON_BOOL;
                if (literal(&c, "false"))
                    return -1;
            } else if (*c.p == 'n') {
                f->kind = JSON_NULL;
                if (literal(&c, "null"))
                    return -1;
            } else {
                f->kind = JSON_INT;
                if (parse_int(&c, &f->num))
                    return -1;
            }
            out->count++;
            skip_ws(&c);
            if (c.p < c.end && *c.p == ',') {
                c.p++;
                continue;
            }
            if (c.p < c.end && *c.p == '}') {
                c.p++;
                break;
            }
            return -1;
        }
    }
    skip_ws(&c);
    return c.p == c.end ? 0 : -1;
}

const json_field *json_get(const json_object *obj, const char *key)
{
    int i;
    for (i = 0; i < obj->count; i++)
        if (strcmp(obj->fields[i].key, key) == 0)
            return &obj->fields[i];
    return NULL;
}

const char *json_get_str(const json_object *obj, const char *key)
{
    const json_field *f = json_get(obj, key);
    return (f && f->kind == JSON_STRING) ? f->str : NULL;
}

int json_get_int(const json_object *obj, const char *key, long long *value)
{
    const json_field *f = json_get(obj, key);
    if (!f || f->kind != JSON_INT)
        return -1;
    *value = f->num;
    return 0;
}

int json_get_bool(const json_object *obj, const char *key)
{
    const json_field *f = json_get(obj, key);
    return (f && f->kind == JSON_BOOL) ? (int)f->num : 0;
}

void jw_init(json_writer *w, char *buf, size_t size)
{
    w->buf = buf;
    w->size = size;
    w->len = 0;
    w->overflow = 0;
    if (size)
        buf[0] = 0;
}

static void jw_byte(json_writer *w, char ch)
{
    if (w->len + 1 >= w->size) {
        w->overflow = 1;
        return;
    }
    w->buf[w->len++] = ch;
    w->buf[w->len] = 0;
}

void jw_raw(json_writer *w, const char *text)
{
    while (*text)
        jw_byte(w, *text++);
}

void jw_string(json_writer *w, const char *utf8)
{
    static const char hex[] = "0123456789abcdef";
    jw_byte(w, '"');
    for (; *utf8; utf8++) {
        unsigned char ch = (unsigned char)*utf8;
        if (ch == '"' || ch == '\\') {
            jw_byte(w, '\\');
            jw_byte(w, (char)ch);
        } else if (ch < 0x20) {
            jw_raw(w, "\\u00");
            jw_byte(w, hex[ch >> 4]);
            jw_byte(w, hex[ch & 15]);
        } else {
            jw_byte(w, (char)ch);
        }
    }
    jw_byte(w, '"');
}

void jw_uint(json_writer *w, unsigned long long value)
{
    char tmp[24];
    snprintf(tmp, sizeof tmp, "%llu", value);
    jw_raw(w, tmp);
}

void jw_key(json_writer *w, const char *key)
{
    jw_byte(w, ',');
    jw_string(w, key);
    jw_byte(w, ':');
}
