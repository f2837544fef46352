/* JSON Schema -> grammar rules (grammar.h).
 *
 * Supported: type (string or list), object (properties in declared order, required,
 * additionalProperties false / true / a schema), array (items, minItems, maxItems), enum, const,
 * string (minLength, maxLength), number, integer, boolean, null, anyOf / oneOf, $ref to
 * "#", "#/$defs/NAME" or "#/definitions/NAME" (recursion allowed), true / {} (any value), and a
 * plain "any JSON object" mode. Annotations (title, description, default, examples, format,
 * $schema, $id, ...) are ignored. Keywords that constrain values in ways the compiler cannot
 * express (pattern, minimum, allOf, ...) are refused with G4_ERR_UNSUPPORTED rather than
 * silently ignored, so a host never returns output that violates the schema it was given.
 *
 * Choices that keep generation finite and the grammar small: no whitespace except an optional
 * single space after ':' and ','; properties in the schema's order; an object without
 * "additionalProperties" gets only its listed properties (as OpenAI's strict mode); integers
 * have at most 16 digits, fractions 15 and exponents 3. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"

#define MAX_RULES 100000
#define MAX_ITEMS_CHAIN 4096
#define MAX_DEPTH 64

typedef struct rule_b {
    gr_elem *e;
    uint32_t n, cap;
    int defined;
} rule_b;

typedef struct ref_memo {
    const jv *node;
    uint32_t rule;
} ref_memo;

typedef struct gb {
    rule_b *r;
    uint32_t n_rules, cap_rules;
    gr_class *cls;
    uint32_t n_cls, cap_cls;
    const jv *root;
    int notation;
    ref_memo *memo;
    uint32_t n_memo, cap_memo;
    uint32_t any_value, any_string, ws_opt; /* shared rules, created on demand (0: not yet) */
    int oom;
    g4_status st;
    char path[256];
} gb;

static int gb_fail(gb *g, g4_status st, const char *fmt, const char *a)
{
    if (!g->st)
        g->st = g4_fail(st, fmt, a, g->path[0] ? g->path : "(root)");
    return -1;
}

static void *grow(void *p, uint32_t *cap, uint32_t need, size_t elem, int *oom)
{
    if (need <= *cap)
        return p;
    uint32_t nc = *cap ? *cap * 2 : 16;
    while (nc < need)
        nc *= 2;
    void *np = realloc(p, (size_t)nc * elem);
    if (!np) {
        *oom = 1;
        return NULL;
    }
    *cap = nc;
    return np;
}

static uint32_t new_rule(gb *g)
{
    if (g->n_rules >= MAX_RULES) {
        g->oom = 1;
        return 0;
    }
    rule_b *r = grow(g->r, &g->cap_rules, g->n_rules + 1, sizeof *r, &g->oom);
    if (!r)
        return 0;
    g->r = r;
    memset(&r[g->n_rules], 0, sizeof *r);
    return g->n_rules++;
}

static void emit(gb *g, uint32_t rule, uint32_t type, uint32_t arg)
{
    if (g->oom)
        return;
    rule_b *r = &g->r[rule];
    gr_elem *e = grow(r->e, &r->cap, r->n + 1, sizeof *e, &g->oom);
    if (!e)
        return;
    r->e = e;
    e[r->n].type = type;
    e[r->n].arg = arg;
    r->n++;
}

static uint32_t add_class(gb *g, const gr_class *c)
{
    for (uint32_t i = 0; i < g->n_cls; i++)
        if (!memcmp(&g->cls[i], c, sizeof *c))
            return i;
    gr_class *n = grow(g->cls, &g->cap_cls, g->n_cls + 1, sizeof *n, &g->oom);
    if (!n)
        return 0;
    g->cls = n;
    n[g->n_cls] = *c;
    return g->n_cls++;
}

static void cls_range(gr_class *c, unsigned lo, unsigned hi)
{
    for (unsigned b = lo; b <= hi; b++)
        c->bits[b >> 6] |= 1ull << (b & 63);
}

static void chars(gb *g, uint32_t rule, unsigned lo, unsigned hi)
{
    gr_class c = {{0}};
    cls_range(&c, lo, hi);
    emit(g, rule, GE_CHARS, add_class(g, &c));
}

static void lit(gb *g, uint32_t rule, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        chars(g, rule, (uint8_t)s[i], (uint8_t)s[i]);
}
static void lits(gb *g, uint32_t rule, const char *s) { lit(g, rule, s, strlen(s)); }
static void ref(gb *g, uint32_t rule, uint32_t target) { emit(g, rule, GE_RULE, target); }
static void alt(gb *g, uint32_t rule) { emit(g, rule, GE_ALT, 0); }
static void done(gb *g, uint32_t rule)
{
    emit(g, rule, GE_END, 0);
    if (!g->oom)
        g->r[rule].defined = 1;
}

/* ---- shared pieces ------------------------------------------------------------------------ */

static uint32_t ws_opt(gb *g) /* "" | " " */
{
    if (!g->ws_opt) {
        uint32_t r = g->ws_opt = new_rule(g);
        alt(g, r);
        lits(g, r, " ");
        done(g, r);
    }
    return g->ws_opt;
}

/* one string character (valid UTF-8 sequence or escape) */
static uint32_t string_char(gb *g)
{
    uint32_t r = new_rule(g);
    if (g->notation == GR_JSON) {
        gr_class c = {{0}};
        cls_range(&c, 0x20, 0x7F);
        c.bits['"' >> 6] &= ~(1ull << ('"' & 63));
        c.bits['\\' >> 6] &= ~(1ull << ('\\' & 63));
        emit(g, r, GE_CHARS, add_class(g, &c));
        alt(g, r);
        lits(g, r, "\\");
        gr_class e = {{0}};
        const char *esc = "\"\\/bfnrt";
        for (const char *q = esc; *q; q++)
            cls_range(&e, (uint8_t)*q, (uint8_t)*q);
        emit(g, r, GE_CHARS, add_class(g, &e));
        alt(g, r);
        lits(g, r, "\\u");
        for (int k = 0; k < 4; k++) {
            gr_class h = {{0}};
            cls_range(&h, '0', '9');
            cls_range(&h, 'a', 'f');
            cls_range(&h, 'A', 'F');
            emit(g, r, GE_CHARS, add_class(g, &h));
        }
    } else { /* Gemma: anything up to the closing <|"|> token */
        chars(g, r, 0x09, 0x0A);
        alt(g, r);
        chars(g, r, 0x0D, 0x0D);
        alt(g, r);
        chars(g, r, 0x20, 0x7F);
    }
    alt(g, r);
    chars(g, r, 0xC2, 0xDF);
    chars(g, r, 0x80, 0xBF);
    alt(g, r);
    chars(g, r, 0xE0, 0xEF);
    chars(g, r, 0x80, 0xBF);
    chars(g, r, 0x80, 0xBF);
    alt(g, r);
    chars(g, r, 0xF0, 0xF4);
    chars(g, r, 0x80, 0xBF);
    chars(g, r, 0x80, 0xBF);
    chars(g, r, 0x80, 0xBF);
    done(g, r);
    return r;
}

static void quote(gb *g, uint32_t rule)
{
    if (g->notation == GR_JSON)
        lits(g, rule, "\"");
    else
        chars(g, rule, G4_GB_QUOTE, G4_GB_QUOTE);
}

/* string with min..max characters (max < 0: unbounded) */
static uint32_t string_rule(gb *g, long min, long max)
{
    uint32_t ch = string_char(g), r = new_rule(g);
    quote(g, r);
    for (long i = 0; i < min; i++)
        ref(g, r, ch);
    if (max < 0) {
        uint32_t star = new_rule(g); /* star ::= "" | ch star */
        alt(g, star);
        ref(g, star, ch);
        ref(g, star, star);
        done(g, star);
        ref(g, r, star);
    } else if (max > min) { /* opt_k ::= "" | ch opt_{k-1} */
        uint32_t prev = 0;
        for (long k = 0; k < max - min; k++) {
            uint32_t o = new_rule(g);
            alt(g, o);
            ref(g, o, ch);
            if (k)
                ref(g, o, prev);
            done(g, o);
            prev = o;
        }
        ref(g, r, prev);
    }
    quote(g, r);
    done(g, r);
    return r;
}

static uint32_t any_string(gb *g)
{
    if (!g->any_string)
        g->any_string = string_rule(g, 0, -1);
    return g->any_string;
}

/* up to n more digits */
static uint32_t digits_upto(gb *g, int n)
{
    uint32_t prev = 0;
    for (int k = 0; k < n; k++) {
        uint32_t o = new_rule(g);
        alt(g, o);
        chars(g, o, '0', '9');
        if (k)
            ref(g, o, prev);
        done(g, o);
        prev = o;
    }
    return prev;
}

static uint32_t integer_rule(gb *g)
{
    uint32_t r = new_rule(g), sign = new_rule(g), more = digits_upto(g, 15);
    alt(g, sign);
    lits(g, sign, "-");
    done(g, sign);
    ref(g, r, sign);
    lits(g, r, "0");
    alt(g, r);
    ref(g, r, sign);
    chars(g, r, '1', '9');
    ref(g, r, more);
    done(g, r);
    return r;
}

static uint32_t number_rule(gb *g)
{
    uint32_t r = new_rule(g), frac = new_rule(g), ex = new_rule(g), esign = new_rule(g);
    uint32_t i = integer_rule(g), f = digits_upto(g, 14), e = digits_upto(g, 2);
    alt(g, frac);
    lits(g, frac, ".");
    chars(g, frac, '0', '9');
    ref(g, frac, f);
    done(g, frac);
    alt(g, esign);
    chars(g, esign, '+', '+');
    alt(g, esign);
    chars(g, esign, '-', '-');
    done(g, esign);
    alt(g, ex);
    chars(g, ex, 'e', 'e');
    ref(g, ex, esign);
    chars(g, ex, '0', '9');
    ref(g, ex, e);
    alt(g, ex);
    chars(g, ex, 'E', 'E');
    ref(g, ex, esign);
    chars(g, ex, '0', '9');
    ref(g, ex, e);
    done(g, ex);
    ref(g, r, i);
    ref(g, r, frac);
    ref(g, r, ex);
    done(g, r);
    return r;
}

static void key_lit(gb *g, uint32_t rule, const char *name)
{
    if (g->notation == GR_JSON) {
        jbuf b = {0};
        jb_json_string(&b, name, strlen(name));
        if (b.oom)
            g->oom = 1;
        else
            lit(g, rule, b.s, b.n);
        free(b.s);
    } else {
        lits(g, rule, name);
    }
    lits(g, rule, ":");
    if (g->notation == GR_JSON)
        ref(g, rule, ws_opt(g));
}

static uint32_t any_key(gb *g)
{
    if (g->notation == GR_JSON)
        return any_string(g);
    uint32_t r = new_rule(g), tail = new_rule(g); /* bare identifier */
    alt(g, tail);
    chars(g, tail, '0', '9');
    ref(g, tail, tail);
    alt(g, tail);
    chars(g, tail, 'A', 'Z');
    ref(g, tail, tail);
    alt(g, tail);
    chars(g, tail, 'a', 'z');
    ref(g, tail, tail);
    alt(g, tail);
    chars(g, tail, '_', '_');
    ref(g, tail, tail);
    done(g, tail);
    chars(g, r, 'A', 'Z');
    ref(g, r, tail);
    alt(g, r);
    chars(g, r, 'a', 'z');
    ref(g, r, tail);
    alt(g, r);
    chars(g, r, '_', '_');
    ref(g, r, tail);
    done(g, r);
    return r;
}

static void sep(gb *g, uint32_t rule)
{
    lits(g, rule, ",");
    if (g->notation == GR_JSON)
        ref(g, rule, ws_opt(g));
}

/* generic object / array whose members are `val` */
static uint32_t object_of(gb *g, uint32_t val)
{
    uint32_t r = new_rule(g), more = new_rule(g), key = any_key(g);
    alt(g, more); /* more ::= "" | , key : val more */
    sep(g, more);
    ref(g, more, key);
    lits(g, more, ":");
    if (g->notation == GR_JSON)
        ref(g, more, ws_opt(g));
    ref(g, more, val);
    ref(g, more, more);
    done(g, more);
    lits(g, r, "{}");
    alt(g, r);
    lits(g, r, "{");
    ref(g, r, key);
    lits(g, r, ":");
    if (g->notation == GR_JSON)
        ref(g, r, ws_opt(g));
    ref(g, r, val);
    ref(g, r, more);
    lits(g, r, "}");
    done(g, r);
    return r;
}

static uint32_t array_of(gb *g, uint32_t item, long min, long max)
{
    uint32_t r = new_rule(g);
    lits(g, r, "[");
    /* t_j: j items emitted so far (j >= 1) */
    if (max < 0) {
        long m = min > 1 ? min : 1;
        uint32_t tm = new_rule(g); /* tm ::= "" | , item tm */
        alt(g, tm);
        sep(g, tm);
        ref(g, tm, item);
        ref(g, tm, tm);
        done(g, tm);
        uint32_t next = tm;
        for (long j = m - 1; j >= 1; j--) { /* below the minimum: another item is required */
            uint32_t t = new_rule(g);
            sep(g, t);
            ref(g, t, item);
            ref(g, t, next);
            done(g, t);
            next = t;
        }
        if (min == 0) {
            uint32_t body = new_rule(g);
            alt(g, body);
            ref(g, body, item);
            ref(g, body, next);
            done(g, body);
            ref(g, r, body);
        } else {
            ref(g, r, item);
            ref(g, r, next);
        }
    } else if (max > 0) {
        uint32_t next = 0;
        for (long j = max; j >= 1; j--) {
            uint32_t t = new_rule(g);
            if (j >= min)
                alt(g, t); /* may stop here */
            if (j < max) {
                sep(g, t);
                ref(g, t, item);
                ref(g, t, next);
            } else if (j < min) {
                g->oom = 1; /* unreachable: min <= max checked */
            }
            done(g, t);
            next = t;
        }
        if (min == 0) {
            uint32_t body = new_rule(g);
            alt(g, body);
            ref(g, body, item);
            ref(g, body, next);
            done(g, body);
            ref(g, r, body);
        } else {
            ref(g, r, item);
            ref(g, r, next);
        }
    }
    lits(g, r, "]");
    done(g, r);
    return r;
}

static uint32_t any_value(gb *g)
{
    if (g->any_value)
        return g->any_value;
    uint32_t r = g->any_value = new_rule(g);
    uint32_t s = any_string(g), n = number_rule(g), o = object_of(g, r), a = array_of(g, r, 0, -1);
    ref(g, r, o);
    alt(g, r);
    ref(g, r, a);
    alt(g, r);
    ref(g, r, s);
    alt(g, r);
    ref(g, r, n);
    alt(g, r);
    lits(g, r, "true");
    alt(g, r);
    lits(g, r, "false");
    alt(g, r);
    lits(g, r, "null");
    done(g, r);
    return r;
}

/* A JSON value written in the target notation, as a literal (const / enum). */
static int literal_value(gb *g, uint32_t rule, const jv *v, int depth)
{
    if (depth > MAX_DEPTH)
        return gb_fail(g, G4_ERR_UNSUPPORTED, "const/enum value nested too deeply%s at %s", "");
    if (g->notation == GR_JSON || (v->type != JV_STR && v->type != JV_OBJ && v->type != JV_ARR)) {
        jbuf b = {0};
        jb_json(&b, v);
        if (b.oom)
            g->oom = 1;
        else
            lit(g, rule, b.s, b.n);
        free(b.s);
        return 0;
    }
    if (v->type == JV_STR) {
        quote(g, rule);
        lit(g, rule, v->str, v->len);
        quote(g, rule);
    } else {
        lits(g, rule, v->type == JV_OBJ ? "{" : "[");
        for (const jv *c = v->child; c; c = c->next) {
            if (c != v->child)
                lits(g, rule, ",");
            if (v->type == JV_OBJ) {
                lits(g, rule, c->key);
                lits(g, rule, ":");
            }
            if (literal_value(g, rule, c, depth + 1))
                return -1;
        }
        lits(g, rule, v->type == JV_OBJ ? "}" : "]");
    }
    return 0;
}

static int compile(gb *g, const jv *s, int depth, uint32_t *out);

static void path_push(gb *g, size_t *save, const char *seg)
{
    *save = strlen(g->path);
    size_t room = sizeof g->path - *save;
    snprintf(g->path + *save, room, "/%s", seg);
}
static void path_pop(gb *g, size_t save) { g->path[save] = '\0'; }

static int get_count(gb *g, const jv *s, const char *key, long *out)
{
    const jv *v = jv_get(s, key);
    if (!v)
        return 0;
    if (v->type != JV_NUM || v->num < 0 || v->num != (double)(long)v->num)
        return gb_fail(g, G4_ERR_INVALID_ARGUMENT, "'%s' must be a non-negative integer at %s", key);
    *out = (long)v->num;
    return 0;
}

static const jv *resolve_ref(gb *g, const char *r)
{
    if (!strcmp(r, "#"))
        return g->root;
    const char *name = NULL;
    const jv *defs = NULL;
    if (!strncmp(r, "#/$defs/", 8)) {
        defs = jv_get(g->root, "$defs");
        name = r + 8;
    } else if (!strncmp(r, "#/definitions/", 14)) {
        defs = jv_get(g->root, "definitions");
        name = r + 14;
    } else {
        gb_fail(g, G4_ERR_UNSUPPORTED, "$ref '%.100s' is not supported (only #, #/$defs/NAME, #/definitions/NAME) at %s", r);
        return NULL;
    }
    const jv *t = jv_get(defs, name);
    if (!t)
        gb_fail(g, G4_ERR_INVALID_ARGUMENT, "$ref '%.100s' points to nothing at %s", r);
    return t;
}

static int compile_object(gb *g, const jv *s, int depth, uint32_t *out)
{
    const jv *props = jv_get(s, "properties"), *req = jv_get(s, "required"), *ap = jv_get(s, "additionalProperties");
    if (props && props->type != JV_OBJ)
        return gb_fail(g, G4_ERR_INVALID_ARGUMENT, "'properties' must be an object%s at %s", "");
    if (req && req->type != JV_ARR)
        return gb_fail(g, G4_ERR_INVALID_ARGUMENT, "'required' must be an array%s at %s", "");
    for (const jv *r = req ? req->child : NULL; r; r = r->next) {
        if (r->type != JV_STR)
            return gb_fail(g, G4_ERR_INVALID_ARGUMENT, "'required' must list strings%s at %s", "");
        if (!jv_get(props, r->str))
            return gb_fail(g, G4_ERR_UNSUPPORTED, "required property '%.64s' is not in 'properties' at %s", r->str);
    }
    if (ap && ap->type != JV_BOOL && ap->type != JV_OBJ)
        return gb_fail(g, G4_ERR_INVALID_ARGUMENT, "'additionalProperties' must be a boolean or a schema%s at %s", "");
    uint32_t extra_val = 0;
    int extra = ap && (ap->type == JV_OBJ || ap->boolean);
    if (extra) {
        if (ap->type == JV_OBJ) {
            size_t sv;
            path_push(g, &sv, "additionalProperties");
            int rc = compile(g, ap, depth + 1, &extra_val);
            path_pop(g, sv);
            if (rc)
                return -1;
        } else {
            extra_val = any_value(g);
        }
    }
    if (!props || !props->n) {
        *out = extra ? object_of(g, extra_val) : new_rule(g);
        if (!extra) {
            lits(g, *out, "{}");
            done(g, *out);
        }
        return 0;
    }
    size_t n = props->n;
    uint32_t *val = malloc(sizeof *val * n), *F = malloc(sizeof *F * (n + 1)), *R = malloc(sizeof *R * (n + 1));
    int *required = calloc(n, sizeof *required);
    if (!val || !F || !R || !required) {
        free(val);
        free(F);
        free(R);
        free(required);
        g->oom = 1;
        return -1;
    }
    size_t i = 0;
    int rc = 0;
    for (const jv *p = props->child; p && !rc; p = p->next, i++) {
        size_t sv;
        path_push(g, &sv, p->key);
        rc = compile(g, p, depth + 1, &val[i]);
        path_pop(g, sv);
        for (const jv *r = req ? req->child : NULL; r; r = r->next)
            if (r->type == JV_STR && !strcmp(r->str, p->key))
                required[i] = 1;
    }
    if (!rc) {
        /* R_n / F_n: the tail after the listed properties (extra members, if allowed) */
        R[n] = new_rule(g);
        alt(g, R[n]);
        if (extra) {
            sep(g, R[n]);
            ref(g, R[n], any_key(g));
            lits(g, R[n], ":");
            if (g->notation == GR_JSON)
                ref(g, R[n], ws_opt(g));
            ref(g, R[n], extra_val);
            ref(g, R[n], R[n]);
        }
        done(g, R[n]);
        F[n] = new_rule(g);
        alt(g, F[n]);
        if (extra) {
            ref(g, F[n], any_key(g));
            lits(g, F[n], ":");
            if (g->notation == GR_JSON)
                ref(g, F[n], ws_opt(g));
            ref(g, F[n], extra_val);
            ref(g, F[n], R[n]);
        }
        done(g, F[n]);
        i = n;
        for (const jv *p = NULL; i-- > 0;) {
            p = props->child;
            for (size_t k = 0; k < i; k++)
                p = p->next;
            R[i] = new_rule(g); /* something already emitted: "," kv R_{i+1} | R_{i+1} if optional */
            sep(g, R[i]);
            key_lit(g, R[i], p->key);
            ref(g, R[i], val[i]);
            ref(g, R[i], R[i + 1]);
            if (!required[i]) {
                alt(g, R[i]);
                ref(g, R[i], R[i + 1]);
            }
            done(g, R[i]);
            F[i] = new_rule(g); /* nothing emitted yet */
            key_lit(g, F[i], p->key);
            ref(g, F[i], val[i]);
            ref(g, F[i], R[i + 1]);
            if (!required[i]) {
                alt(g, F[i]);
                ref(g, F[i], F[i + 1]);
            }
            done(g, F[i]);
        }
        *out = new_rule(g);
        lits(g, *out, "{");
        ref(g, *out, F[0]);
        lits(g, *out, "}");
        done(g, *out);
    }
    free(val);
    free(F);
    free(R);
    free(required);
    return rc;
}

static int compile_type(gb *g, const jv *s, const char *type, int depth, uint32_t *out)
{
    if (!strcmp(type, "object"))
        return compile_object(g, s, depth, out);
    if (!strcmp(type, "array")) {
        long min = 0, max = -1;
        if (get_count(g, s, "minItems", &min) || get_count(g, s, "maxItems", &max))
            return -1;
        if (max >= 0 && max < min)
            return gb_fail(g, G4_ERR_INVALID_ARGUMENT, "maxItems is smaller than minItems%s at %s", "");
        if (max > MAX_ITEMS_CHAIN || min > MAX_ITEMS_CHAIN)
            return gb_fail(g, G4_ERR_UNSUPPORTED, "minItems/maxItems above 4096%s at %s", "");
        const jv *items = jv_get(s, "items");
        uint32_t item;
        if (items) {
            size_t sv;
            path_push(g, &sv, "items");
            int rc = compile(g, items, depth + 1, &item);
            path_pop(g, sv);
            if (rc)
                return -1;
        } else {
            item = any_value(g);
        }
        *out = array_of(g, item, min, max);
        return 0;
    }
    if (!strcmp(type, "string")) {
        long min = 0, max = -1;
        if (get_count(g, s, "minLength", &min) || get_count(g, s, "maxLength", &max))
            return -1;
        if (max >= 0 && max < min)
            return gb_fail(g, G4_ERR_INVALID_ARGUMENT, "maxLength is smaller than minLength%s at %s", "");
        if (max > MAX_ITEMS_CHAIN || min > MAX_ITEMS_CHAIN)
            return gb_fail(g, G4_ERR_UNSUPPORTED, "minLength/maxLength above 4096%s at %s", "");
        *out = min == 0 && max < 0 ? any_string(g) : string_rule(g, min, max);
        return 0;
    }
    if (!strcmp(type, "number")) {
        *out = number_rule(g);
        return 0;
    }
    if (!strcmp(type, "integer")) {
        *out = integer_rule(g);
        return 0;
    }
    *out = new_rule(g);
    if (!strcmp(type, "boolean")) {
        lits(g, *out, "true");
        alt(g, *out);
        lits(g, *out, "false");
    } else if (!strcmp(type, "null")) {
        lits(g, *out, "null");
    } else {
        return gb_fail(g, G4_ERR_INVALID_ARGUMENT, "unknown type '%.32s' at %s", type);
    }
    done(g, *out);
    return 0;
}

static const char *const k_unsupported[] = {
    "pattern", "patternProperties", "allOf", "not", "if", "then", "else", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "uniqueItems", "prefixItems", "contains",
    "minContains", "maxContains", "propertyNames", "minProperties", "maxProperties", "dependentRequired",
    "dependentSchemas", "unevaluatedProperties", "unevaluatedItems", "$dynamicRef", "dependencies",
};

static int compile(gb *g, const jv *s, int depth, uint32_t *out)
{
    if (g->oom || g->st)
        return -1;
    if (depth > MAX_DEPTH)
        return gb_fail(g, G4_ERR_UNSUPPORTED, "schema nested too deeply%s at %s", "");
    if (s->type == JV_BOOL) {
        if (!s->boolean)
            return gb_fail(g, G4_ERR_INVALID_ARGUMENT, "schema 'false' accepts nothing%s at %s", "");
        *out = any_value(g);
        return 0;
    }
    if (s->type != JV_OBJ)
        return gb_fail(g, G4_ERR_INVALID_ARGUMENT, "a schema must be an object or a boolean%s at %s", "");
    for (size_t k = 0; k < sizeof k_unsupported / sizeof *k_unsupported; k++)
        if (jv_get(s, k_unsupported[k]))
            return gb_fail(g, G4_ERR_UNSUPPORTED, "the keyword '%s' is not supported at %s", k_unsupported[k]);
    const jv *r = jv_get(s, "$ref");
    if (r) {
        if (r->type != JV_STR)
            return gb_fail(g, G4_ERR_INVALID_ARGUMENT, "'$ref' must be a string%s at %s", "");
        const jv *t = resolve_ref(g, r->str);
        if (!t)
            return -1;
        for (uint32_t i = 0; i < g->n_memo; i++)
            if (g->memo[i].node == t) {
                *out = g->memo[i].rule;
                return 0;
            }
        /* A rule for the target first, so that recursive references find it. */
        uint32_t rule = new_rule(g);
        ref_memo *mm = grow(g->memo, &g->cap_memo, g->n_memo + 1, sizeof *mm, &g->oom);
        if (!mm)
            return -1;
        g->memo = mm;
        mm[g->n_memo].node = t;
        mm[g->n_memo].rule = rule;
        g->n_memo++;
        uint32_t body;
        size_t sv;
        path_push(g, &sv, r->str);
        int rc = compile(g, t, depth + 1, &body);
        path_pop(g, sv);
        if (rc)
            return -1;
        ref(g, rule, body);
        done(g, rule);
        *out = rule;
        return 0;
    }
    const jv *c = jv_get(s, "const");
    if (c) {
        *out = new_rule(g);
        if (literal_value(g, *out, c, 0))
            return -1;
        done(g, *out);
        return 0;
    }
    const jv *e = jv_get(s, "enum");
    if (e) {
        if (e->type != JV_ARR || !e->n)
            return gb_fail(g, G4_ERR_INVALID_ARGUMENT, "'enum' must be a non-empty array%s at %s", "");
        *out = new_rule(g);
        for (const jv *v = e->child; v; v = v->next) {
            if (v != e->child)
                alt(g, *out);
            if (literal_value(g, *out, v, 0))
                return -1;
        }
        done(g, *out);
        return 0;
    }
    const jv *any = jv_get(s, "anyOf");
    if (!any)
        any = jv_get(s, "oneOf");
    if (any) {
        if (any->type != JV_ARR || !any->n)
            return gb_fail(g, G4_ERR_INVALID_ARGUMENT, "'anyOf'/'oneOf' must be a non-empty array%s at %s", "");
        uint32_t *subs = malloc(sizeof *subs * any->n);
        if (!subs) {
            g->oom = 1;
            return -1;
        }
        size_t i = 0;
        int rc = 0;
        for (const jv *v = any->child; v && !rc; v = v->next, i++) {
            char seg[32];
            size_t sv;
            snprintf(seg, sizeof seg, "anyOf/%zu", i);
            path_push(g, &sv, seg);
            rc = compile(g, v, depth + 1, &subs[i]);
            path_pop(g, sv);
        }
        if (!rc) {
            *out = new_rule(g);
            for (size_t k = 0; k < any->n; k++) {
                if (k)
                    alt(g, *out);
                ref(g, *out, subs[k]);
            }
            done(g, *out);
        }
        free(subs);
        return rc;
    }
    const jv *t = jv_get(s, "type");
    if (!t) {
        if (jv_get(s, "properties") || jv_get(s, "additionalProperties") || jv_get(s, "required"))
            return compile_type(g, s, "object", depth, out);
        if (jv_get(s, "items"))
            return compile_type(g, s, "array", depth, out);
        *out = any_value(g);
        return 0;
    }
    if (t->type == JV_STR)
        return compile_type(g, s, t->str, depth, out);
    if (t->type != JV_ARR || !t->n)
        return gb_fail(g, G4_ERR_INVALID_ARGUMENT, "'type' must be a string or a non-empty array%s at %s", "");
    *out = new_rule(g);
    for (const jv *v = t->child; v; v = v->next) {
        uint32_t sub;
        if (v->type != JV_STR)
            return gb_fail(g, G4_ERR_INVALID_ARGUMENT, "'type' must list strings%s at %s", "");
        if (compile_type(g, s, v->str, depth, &sub))
            return -1;
        if (v != t->child)
            alt(g, *out);
        ref(g, *out, sub);
    }
    done(g, *out);
    return 0;
}

/* ---- flatten ------------------------------------------------------------------------------ */

void gr_rules_free(gr_rules *g)
{
    if (!g)
        return;
    free(g->elems);
    free(g->alt_start);
    free(g->rule_alt0);
    free(g->classes);
    memset(g, 0, sizeof *g);
}

static void gb_free(gb *g)
{
    for (uint32_t i = 0; i < g->n_rules; i++)
        free(g->r[i].e);
    free(g->r);
    free(g->cls);
    free(g->memo);
}

static g4_status finish(gb *g, int rc, uint32_t root, gr_rules *out)
{
    memset(out, 0, sizeof *out);
    if (!rc && !g->oom)
        for (uint32_t i = 0; i < g->n_rules; i++)
            if (!g->r[i].defined)
                g->oom = 1; /* a rule left unfinished: only on allocation failure */
    if (rc || g->oom) {
        g4_status st = g->st ? g->st : g4_fail(G4_ERR_OUT_OF_MEMORY, "grammar: out of memory or too many rules");
        gb_free(g);
        return st;
    }
    uint32_t ne = 0, na = 0;
    for (uint32_t i = 0; i < g->n_rules; i++) {
        ne += g->r[i].n;
        for (uint32_t k = 0; k < g->r[i].n; k++)
            na += g->r[i].e[k].type != GE_RULE && g->r[i].e[k].type != GE_CHARS;
    }
    out->elems = malloc(sizeof *out->elems * ne);
    out->alt_start = malloc(sizeof *out->alt_start * (na + 1));
    out->rule_alt0 = malloc(sizeof *out->rule_alt0 * (g->n_rules + 1));
    if (!out->elems || !out->alt_start || !out->rule_alt0) {
        gr_rules_free(out);
        gb_free(g);
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "grammar: out of memory");
    }
    uint32_t pe = 0, pa = 0;
    for (uint32_t i = 0; i < g->n_rules; i++) {
        out->rule_alt0[i] = pa;
        out->alt_start[pa++] = pe;
        for (uint32_t k = 0; k < g->r[i].n; k++) {
            out->elems[pe++] = g->r[i].e[k];
            if (g->r[i].e[k].type == GE_ALT)
                out->alt_start[pa++] = pe;
        }
    }
    out->rule_alt0[g->n_rules] = pa;
    out->n_elems = ne;
    out->n_rules = g->n_rules;
    out->classes = g->cls;
    out->n_classes = g->n_cls;
    g->cls = NULL;
    out->root = root;
    gb_free(g);
    return G4_OK;
}

g4_status gr_compile_schema(const jv *schema, int json_object, gr_rules *out)
{
    gb g;
    memset(&g, 0, sizeof g);
    g.root = schema;
    g.notation = GR_JSON;
    new_rule(&g); /* rule 0 is the root wrapper: id 0 never means "not created yet" */
    uint32_t body = 0;
    int rc;
    if (json_object) {
        body = object_of(&g, any_value(&g));
        rc = 0;
    } else {
        rc = compile(&g, schema, 0, &body);
    }
    if (!rc) {
        ref(&g, 0, body);
        done(&g, 0);
    }
    return finish(&g, rc, 0, out);
}

g4_status gr_compile_tool_call(const jv *tools, gr_rules *out)
{
    gb g;
    memset(&g, 0, sizeof g);
    g.notation = GR_GEMMA;
    new_rule(&g);
    if (!tools || tools->type != JV_ARR || !tools->n) {
        memset(out, 0, sizeof *out);
        gb_free(&g);
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "grammar: tools must be a non-empty JSON array");
    }
    int rc = 0, first = 1;
    uint32_t calls = new_rule(&g);
    for (const jv *t = tools->child; t && !rc; t = t->next) {
        const jv *fn = jv_get(t, "function"), *name = jv_get(fn, "name"), *params = jv_get(fn, "parameters");
        if (!name || name->type != JV_STR || !name->len) {
            rc = -1;
            g.st = g4_fail(G4_ERR_INVALID_ARGUMENT, "grammar: every tool needs 'function': {'name': ...}");
            break;
        }
        for (size_t i = 0; i < name->len; i++) {
            char c = name->str[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                  c == '.')) {
                rc = -1;
                g.st = g4_fail(G4_ERR_INVALID_ARGUMENT,
                               "grammar: tool name '%.64s' has characters other than letters, digits, _ - .", name->str);
                break;
            }
        }
        if (rc)
            break;
        uint32_t args;
        g.root = params;
        g.n_memo = 0;
        snprintf(g.path, sizeof g.path, "/%.64s/parameters", name->str);
        if (params && params->type == JV_OBJ && jv_get(params, "properties")) {
            rc = compile(&g, params, 0, &args);
        } else if (!params || (params->type == JV_OBJ && !jv_get(params, "properties"))) {
            args = new_rule(&g);
            lits(&g, args, "{}");
            done(&g, args);
        } else {
            rc = gb_fail(&g, G4_ERR_INVALID_ARGUMENT, "parameters must be an object schema%s at %s", "");
        }
        if (rc)
            break;
        if (!first)
            alt(&g, calls);
        first = 0;
        chars(&g, calls, G4_GB_CALL_OPEN, G4_GB_CALL_OPEN);
        lits(&g, calls, "call:");
        lits(&g, calls, name->str);
        ref(&g, calls, args);
        chars(&g, calls, G4_GB_CALL_CLOSE, G4_GB_CALL_CLOSE);
    }
    g.path[0] = '\0';
    if (!rc) {
        done(&g, calls);
        ref(&g, 0, calls);
        done(&g, 0);
    }
    return finish(&g, rc, 0, out);
}
