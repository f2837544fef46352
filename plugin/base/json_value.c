/* JSON reader and text buffer (see json_value.h). */
#include "base/json_value.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JV_MAX_DEPTH 64

typedef struct jp {
    const char *s, *end;
    char *err;
    size_t errn;
    int failed;
} jp;

static void jp_fail(jp *p, const char *what)
{
    if (!p->failed && p->errn)
        snprintf(p->err, p->errn, "%s", what);
    p->failed = 1;
}

static void ws(jp *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

jv *jv_new(jv_type t)
{
    jv *v = calloc(1, sizeof *v);
    if (v)
        v->type = t;
    return v;
}

jv *jv_new_str(const char *s, size_t n)
{
    jv *v = jv_new(JV_STR);
    if (v && !(v->str = malloc(n + 1))) {
        free(v);
        return NULL;
    }
    if (v) {
        memcpy(v->str, s, n);
        v->str[n] = '\0';
        v->len = n;
    }
    return v;
}

void jv_append(jv *parent, jv *child)
{
    jv **t = &parent->child;
    while (*t)
        t = &(*t)->next;
    *t = child;
    parent->n++;
}

void jv_free(jv *v)
{
    while (v) {
        jv *next = v->next;
        jv_free(v->child);
        free(v->str);
        free(v->key);
        free(v);
        v = next;
    }
}

static int hex4(jp *p, unsigned *out)
{
    if (p->end - p->s < 4)
        return -1;
    unsigned x = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[i];
        x <<= 4;
        if (c >= '0' && c <= '9')
            x |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            x |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            x |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    p->s += 4;
    *out = x;
    return 0;
}

static void put_utf8(jbuf *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12);
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18);
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    jb_add(b, u, n);
}

/* After the opening quote. Returns a malloc'd string. */
static char *parse_string(jp *p, size_t *len)
{
    jbuf b = {0};
    jb_add(&b, "", 0);
    for (;;) {
        if (p->s >= p->end) {
            jp_fail(p, "unterminated string");
            break;
        }
        unsigned char c = (unsigned char)*p->s++;
        if (c == '"')
            break;
        if (c < 0x20) {
            jp_fail(p, "control character in string");
            break;
        }
        if (c != '\\') {
            jb_add(&b, (const char *)&c, 1);
            continue;
        }
        if (p->s >= p->end) {
            jp_fail(p, "unterminated string");
            break;
        }
        char e = *p->s++;
        const char *map = "\"\"\\\\//b\bf\fn\nr\rt\t";
        const char *m = NULL;
        for (const char *q = map; *q; q += 2)
            if (*q == e) {
                m = q + 1;
                break;
            }
        if (m) {
            jb_add(&b, m, 1);
            continue;
        }
        if (e != 'u') {
            jp_fail(p, "bad escape in string");
            break;
        }
        unsigned cp, lo;
        if (hex4(p, &cp)) {
            jp_fail(p, "bad \\u escape");
            break;
        }
        if (cp >= 0xD800 && cp < 0xDC00 && p->end - p->s >= 6 && p->s[0] == '\\' && p->s[1] == 'u') {
            const char *save = p->s;
            p->s += 2;
            if (!hex4(p, &lo) && lo >= 0xDC00 && lo < 0xE000)
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            else
                p->s = save;
        }
        if (cp >= 0xD800 && cp < 0xE000)
            cp = 0xFFFD; /* lone surrogate */
        put_utf8(&b, cp);
    }
    if (p->failed || b.oom) {
        if (b.oom)
            jp_fail(p, "out of memory");
        free(b.s);
        return NULL;
    }
    *len = b.n;
    return b.s;
}

static jv *parse_value(jp *p, int depth);

static jv *parse_container(jp *p, int depth, int obj)
{
    jv *v = jv_new(obj ? JV_OBJ : JV_ARR);
    if (!v) {
        jp_fail(p, "out of memory");
        return NULL;
    }
    jv **tail = &v->child;
    ws(p);
    if (p->s < p->end && *p->s == (obj ? '}' : ']')) {
        p->s++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        size_t klen = 0;
        ws(p);
        if (obj) {
            if (p->s >= p->end || *p->s != '"') {
                jp_fail(p, "expected a member name");
                break;
            }
            p->s++;
            if (!(key = parse_string(p, &klen)))
                break;
            ws(p);
            if (p->s >= p->end || *p->s != ':') {
                free(key);
                jp_fail(p, "expected ':'");
                break;
            }
            p->s++;
        }
        jv *c = parse_value(p, depth + 1);
        if (!c) {
            free(key);
            break;
        }
        c->key = key;
        *tail = c;
        tail = &c->next;
        v->n++;
        ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == (obj ? '}' : ']')) {
            p->s++;
            return v;
        }
        jp_fail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
        break;
    }
    jv_free(v);
    return NULL;
}

static int lit(jp *p, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(p->end - p->s) >= n && !memcmp(p->s, w, n)) {
        p->s += n;
        return 1;
    }
    return 0;
}

static jv *parse_number(jp *p)
{
    const char *b = p->s;
    if (p->s < p->end && *p->s == '-')
        p->s++;
    if (p->s < p->end && *p->s == '0')
        p->s++;
    else if (p->s < p->end && *p->s >= '1' && *p->s <= '9')
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
            p->s++;
    else
        goto bad;
    if (p->s < p->end && *p->s == '.') {
        p->s++;
        if (p->s >= p->end || *p->s < '0' || *p->s > '9')
            goto bad;
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
            p->s++;
    }
    if (p->s < p->end && (*p->s == 'e' || *p->s == 'E')) {
        p->s++;
        if (p->s < p->end && (*p->s == '+' || *p->s == '-'))
            p->s++;
        if (p->s >= p->end || *p->s < '0' || *p->s > '9')
            goto bad;
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
            p->s++;
    }
    jv *v = jv_new_str(b, (size_t)(p->s - b));
    if (!v) {
        jp_fail(p, "out of memory");
        return NULL;
    }
    v->type = JV_NUM;
    v->num = strtod(v->str, NULL);
    return v;
bad:
    jp_fail(p, "bad number");
    return NULL;
}

static jv *parse_value(jp *p, int depth)
{
    if (depth > JV_MAX_DEPTH) {
        jp_fail(p, "nested too deeply");
        return NULL;
    }
    ws(p);
    if (p->s >= p->end) {
        jp_fail(p, "unexpected end of input");
        return NULL;
    }
    char c = *p->s;
    if (c == '{' || c == '[') {
        p->s++;
        return parse_container(p, depth, c == '{');
    }
    if (c == '"') {
        p->s++;
        size_t n = 0;
        char *s = parse_string(p, &n);
        if (!s)
            return NULL;
        jv *v = jv_new(JV_STR);
        if (!v) {
            free(s);
            jp_fail(p, "out of memory");
            return NULL;
        }
        v->str = s;
        v->len = n;
        return v;
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return parse_number(p);
    jv *v = NULL;
    if (lit(p, "true") || lit(p, "false")) {
        if ((v = jv_new(JV_BOOL)))
            v->boolean = p->s[-1] == 'e' && p->s[-2] == 'u';
    } else if (lit(p, "null")) {
        v = jv_new(JV_NULL);
    } else {
        jp_fail(p, "unexpected character");
        return NULL;
    }
    if (!v)
        jp_fail(p, "out of memory");
    return v;
}

jv *jv_parse(const char *s, size_t len, char *err, size_t errn)
{
    jp p = {s, s + len, err, errn, 0};
    const char *start = s;
    if (errn)
        err[0] = '\0';
    jv *v = s ? parse_value(&p, 0) : NULL;
    if (v) {
        ws(&p);
        if (p.s != p.end) {
            jv_free(v);
            v = NULL;
            jp_fail(&p, "trailing characters after the JSON value");
        }
    }
    if (!v && errn) {
        char tmp[160];
        snprintf(tmp, sizeof tmp, "%s", err[0] ? err : "invalid JSON");
        snprintf(err, errn, "%s at byte %zu", tmp, s ? (size_t)(p.s - start) : (size_t)0);
    }
    return v;
}

const jv *jv_get(const jv *obj, const char *key)
{
    if (!obj || obj->type != JV_OBJ)
        return NULL;
    for (const jv *c = obj->child; c; c = c->next)
        if (c->key && !strcmp(c->key, key))
            return c;
    return NULL;
}

int jv_truthy(const jv *v)
{
    if (!v)
        return 0;
    switch (v->type) {
    case JV_NULL: return 0;
    case JV_BOOL: return v->boolean;
    case JV_NUM: return v->num != 0;
    case JV_STR: return v->len > 0;
    default: return v->n > 0;
    }
}

int jv_is_int(const jv *v)
{
    return v && v->type == JV_NUM && !strpbrk(v->str, ".eE");
}

/* ---- buffer ------------------------------------------------------------------------------- */

void jb_add(jbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    if (n)
        memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

void jb_str(jbuf *b, const char *s) { jb_add(b, s, strlen(s)); }

void jb_mark(jbuf *b, size_t start)
{
    jmarks *m = b->marks;
    if (!m || m->oom)
        return;
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 16;
        size_t *v = realloc(m->v, 2 * cap * sizeof *v);
        if (!v) {
            m->oom = 1;
            return;
        }
        m->v = v;
        m->cap = cap;
    }
    m->v[2 * m->n] = start;
    m->v[2 * m->n + 1] = b->n;
    m->n++;
}

void jb_printf(jbuf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        jb_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

void jb_json_string(jbuf *b, const char *s, size_t n)
{
    jb_add(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        jb_add(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': jb_add(b, "\\\"", 2); break;
        case '\\': jb_add(b, "\\\\", 2); break;
        case '\n': jb_add(b, "\\n", 2); break;
        case '\r': jb_add(b, "\\r", 2); break;
        case '\t': jb_add(b, "\\t", 2); break;
        default: jb_printf(b, "\\u%04x", c);
        }
    }
    jb_add(b, s + run, n - run);
    jb_add(b, "\"", 1);
}

void jb_json(jbuf *b, const jv *v)
{
    switch (v->type) {
    case JV_NULL: jb_str(b, "null"); break;
    case JV_BOOL: jb_str(b, v->boolean ? "true" : "false"); break;
    case JV_NUM: jb_str(b, v->str); break;
    case JV_STR: jb_json_string(b, v->str, v->len); break;
    case JV_ARR:
    case JV_OBJ:
        jb_add(b, v->type == JV_OBJ ? "{" : "[", 1);
        for (const jv *c = v->child; c; c = c->next) {
            if (c != v->child)
                jb_add(b, ",", 1);
            if (v->type == JV_OBJ) {
                jb_json_string(b, c->key ? c->key : "", c->key ? strlen(c->key) : 0);
                jb_add(b, ":", 1);
            }
            jb_json(b, c);
        }
        jb_add(b, v->type == JV_OBJ ? "}" : "]", 1);
        break;
    }
}
