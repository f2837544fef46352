/* g4_chat_parse: generated Gemma 4 text -> content, reasoning and tool calls (as JSON).
 *
 *   [<|channel>thought\n REASONING <channel|>] CONTENT [<|tool_call>call:NAME{ARGS}<tool_call|>]...
 *
 * ARGS is Gemma's value notation (format_argument in the chat template): key:value pairs with
 * bare (or <|"|>-quoted) keys, strings between <|"|> tokens, numbers, true/false, null/None,
 * nested {...} and [...]. It is converted to a JSON object. */
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "base/json_value.h"

#define QT "<|\"|>"
#define QT_LEN 5
#define MAX_DEPTH 64

typedef struct gp {
    const char *s, *end;
} gp;

static int starts(const gp *p, const char *w)
{
    size_t n = strlen(w);
    return (size_t)(p->end - p->s) >= n && !memcmp(p->s, w, n);
}

static void skip_ws(gp *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\n' || *p->s == '\t' || *p->s == '\r'))
        p->s++;
}

static int value(gp *p, jbuf *o, int depth);

/* a quoted string (after the opening quote) as JSON */
static int quoted(gp *p, jbuf *o)
{
    const char *b = p->s;
    while (p->s < p->end && !starts(p, QT))
        p->s++;
    if (p->s >= p->end)
        return -1;
    jb_json_string(o, b, (size_t)(p->s - b));
    p->s += QT_LEN;
    return 0;
}

static int key(gp *p, jbuf *o)
{
    skip_ws(p);
    if (starts(p, QT)) {
        p->s += QT_LEN;
        return quoted(p, o);
    }
    if (p->s < p->end && *p->s == '"') { /* a model may also write JSON keys */
        const char *b = ++p->s;
        while (p->s < p->end && *p->s != '"')
            p->s++;
        if (p->s >= p->end)
            return -1;
        jb_json_string(o, b, (size_t)(p->s - b));
        p->s++;
        return 0;
    }
    const char *b = p->s;
    while (p->s < p->end && *p->s != ':' && *p->s != ',' && *p->s != '}' && *p->s != '{')
        p->s++;
    const char *e = p->s;
    while (e > b && (e[-1] == ' ' || e[-1] == '\n'))
        e--;
    if (e == b)
        return -1;
    jb_json_string(o, b, (size_t)(e - b));
    return 0;
}

static int object_body(gp *p, jbuf *o, int depth) /* after '{' */
{
    jb_add(o, "{", 1);
    skip_ws(p);
    if (p->s < p->end && *p->s == '}') {
        p->s++;
        jb_add(o, "}", 1);
        return 0;
    }
    for (int first = 1;; first = 0) {
        if (!first)
            jb_add(o, ",", 1);
        if (key(p, o))
            return -1;
        skip_ws(p);
        if (p->s >= p->end || *p->s != ':')
            return -1;
        p->s++;
        jb_add(o, ":", 1);
        if (value(p, o, depth + 1))
            return -1;
        skip_ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == '}') {
            p->s++;
            jb_add(o, "}", 1);
            return 0;
        }
        return -1;
    }
}

static int value(gp *p, jbuf *o, int depth)
{
    if (depth > MAX_DEPTH)
        return -1;
    skip_ws(p);
    if (p->s >= p->end)
        return -1;
    if (starts(p, QT)) {
        p->s += QT_LEN;
        return quoted(p, o);
    }
    char c = *p->s;
    if (c == '{') {
        p->s++;
        return object_body(p, o, depth);
    }
    if (c == '[') {
        p->s++;
        jb_add(o, "[", 1);
        skip_ws(p);
        if (p->s < p->end && *p->s == ']') {
            p->s++;
            jb_add(o, "]", 1);
            return 0;
        }
        for (int first = 1;; first = 0) {
            if (!first)
                jb_add(o, ",", 1);
            if (value(p, o, depth + 1))
                return -1;
            skip_ws(p);
            if (p->s < p->end && *p->s == ',') {
                p->s++;
                continue;
            }
            if (p->s < p->end && *p->s == ']') {
                p->s++;
                jb_add(o, "]", 1);
                return 0;
            }
            return -1;
        }
    }
    if (c == '"') { /* a JSON string, should the model write one */
        const char *b = p->s;
        for (p->s++; p->s < p->end && *p->s != '"'; p->s++)
            if (*p->s == '\\')
                p->s++;
        if (p->s >= p->end)
            return -1;
        p->s++;
        char err[8];
        jv *v = jv_parse(b, (size_t)(p->s - b), err, sizeof err);
        if (!v)
            return -1;
        jb_json(o, v);
        jv_free(v);
        return 0;
    }
    static const struct {
        const char *in, *out;
    } words[] = {{"true", "true"}, {"false", "false"}, {"null", "null"}, {"None", "null"}, {"True", "true"},
                 {"False", "false"}};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (starts(p, words[i].in)) {
            p->s += strlen(words[i].in);
            jb_str(o, words[i].out);
            return 0;
        }
    /* a number: JSON's syntax (Python floats such as 1e-05 fit it) */
    const char *b = p->s;
    while (p->s < p->end && strchr("+-0123456789.eE", *p->s))
        p->s++;
    if (p->s == b)
        return -1;
    char err[8];
    jv *v = jv_parse(b, (size_t)(p->s - b), err, sizeof err);
    if (!v || v->type != JV_NUM) {
        jv_free(v);
        return -1;
    }
    jb_add(o, b, (size_t)(p->s - b));
    jv_free(v);
    return 0;
}

/* "call:NAME{ARGS}" (the text between the tool-call markers) -> {"name":..,"arguments":{..}} */
static int parse_call(const char *s, size_t n, jbuf *o)
{
    gp p = {s, s + n};
    skip_ws(&p);
    if (!starts(&p, "call:"))
        return -1;
    p.s += 5;
    const char *name = p.s;
    while (p.s < p.end && *p.s != '{')
        p.s++;
    const char *ne = p.s;
    while (ne > name && (ne[-1] == ' ' || ne[-1] == '\n'))
        ne--;
    if (p.s >= p.end || ne == name)
        return -1;
    for (const char *q = name; q < ne; q++)
        if (*q == '"' || *q == '\\' || (unsigned char)*q < 0x20 || *q == '<')
            return -1;
    jbuf args = {0};
    p.s++;
    int rc = object_body(&p, &args, 0);
    skip_ws(&p);
    if (!rc && p.s != p.end)
        rc = -1;
    if (!rc && !args.oom) {
        jb_str(o, "{\"name\":");
        jb_json_string(o, name, (size_t)(ne - name));
        jb_str(o, ",\"arguments\":");
        jb_add(o, args.s, args.n);
        jb_str(o, "}");
    }
    free(args.s);
    return rc || args.oom ? -1 : 0;
}

static const char *find(const char *s, const char *end, const char *w)
{
    size_t n = strlen(w);
    for (const char *q = s; q + n <= end; q++)
        if (*q == *w && !memcmp(q, w, n))
            return q;
    return NULL;
}

/* markers that never belong in content */
static const char *const k_strip[] = {"<|tool_response>", "<tool_response|>", "<channel|>", "<|channel>",
                                      "<tool_call|>", "<|tool_call>", "<turn|>", "<|turn>", "<eos>", "<bos>",
                                      QT};

static void add_content(jbuf *c, const char *s, size_t n)
{
    size_t i = 0, run = 0;
    while (i < n) {
        size_t skip = 0;
        if (s[i] == '<')
            for (size_t k = 0; k < sizeof k_strip / sizeof *k_strip; k++) {
                size_t l = strlen(k_strip[k]);
                if (n - i >= l && !memcmp(s + i, k_strip[k], l)) {
                    skip = l;
                    break;
                }
            }
        if (skip) {
            jb_add(c, s + run, i - run);
            i += skip;
            run = i;
        } else {
            i++;
        }
    }
    jb_add(c, s + run, n - run);
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\n' || **s == '\t' || **s == '\r'))
        (*s)++, (*n)--;
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\n' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '\r'))
        (*n)--;
}

G4_API g4_status G4_CALL g4_chat_parse(const g4_model *m, const char *text, size_t len, uint32_t flags, char *buf,
                                       size_t cap, size_t *out_len)
{
    (void)m;
    g4_clear_error();
    if (!out_len)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_parse: out_len is NULL");
    *out_len = 0;
    if (!text && len)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_parse: text is NULL");
    if (flags)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_parse: unknown flags 0x%x", (unsigned)flags);
    const char *s = text ? text : "", *end = s + len;
    jbuf content = {0}, reasoning = {0}, calls = {0};
    int have_reasoning = 0, n_calls = 0, markers = 0;
    jb_add(&content, "", 0);
    jb_add(&reasoning, "", 0);
    while (s < end) {
        const char *ch = find(s, end, "<|channel>"), *tc = find(s, end, "<|tool_call>");
        const char *next = ch && (!tc || ch < tc) ? ch : tc;
        if (!next) {
            add_content(&content, s, (size_t)(end - s));
            break;
        }
        add_content(&content, s, (size_t)(next - s));
        markers = 1;
        if (next == ch) {
            const char *b = ch + 10, *e = find(b, end, "<channel|>");
            const char *stop = e ? e : end;
            if ((size_t)(stop - b) >= 7 && !memcmp(b, "thought", 7))
                b += 7;
            size_t n = (size_t)(stop - b);
            trim(&b, &n);
            if (have_reasoning && n)
                jb_add(&reasoning, "\n", 1);
            add_content(&reasoning, b, n);
            have_reasoning = 1;
            s = e ? e + 10 : end;
        } else {
            const char *b = tc + 12, *e = find(b, end, "<tool_call|>");
            const char *stop = e ? e : end;
            jbuf one = {0};
            if (parse_call(b, (size_t)(stop - b), &one) == 0) {
                if (n_calls++)
                    jb_add(&calls, ",", 1);
                jb_add(&calls, one.s, one.n);
            } else {
                add_content(&content, b, (size_t)(stop - b));
            }
            free(one.s);
            s = e ? e + 12 : end;
        }
    }
    jbuf o = {0};
    const char *cs = content.s ? content.s : "";
    size_t cn = content.n;
    if (markers)
        trim(&cs, &cn);
    jb_str(&o, "{\"content\":");
    jb_json_string(&o, cs, cn);
    if (have_reasoning) {
        jb_str(&o, ",\"reasoning_content\":");
        jb_json_string(&o, reasoning.s ? reasoning.s : "", reasoning.n);
    }
    jb_str(&o, ",\"tool_calls\":[");
    if (calls.n)
        jb_add(&o, calls.s, calls.n);
    jb_str(&o, "]}");
    g4_status st = G4_OK;
    if (o.oom || content.oom || reasoning.oom || calls.oom) {
        st = g4_fail(G4_ERR_OUT_OF_MEMORY, "g4_chat_parse: out of memory");
    } else {
        *out_len = o.n;
        if (!buf)
            cap = 0;
        if (o.n + 1 > cap) {
            if (cap) {
                memcpy(buf, o.s, cap - 1);
                buf[cap - 1] = '\0';
            }
            st = g4_fail(G4_ERR_BUFFER_TOO_SMALL, "g4_chat_parse: %zu bytes needed (+1 for NUL)", o.n);
        } else {
            memcpy(buf, o.s, o.n + 1);
        }
    }
    free(o.s);
    free(content.s);
    free(reasoning.s);
    free(calls.s);
    return st;
}
