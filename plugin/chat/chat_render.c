/* Gemma 4 chat template in C (see chat_render.h). Each function below is named after the Jinja
 * macro it renders; the comments quote the template's decisions where they are surprising. */
#include "chat/chat_render.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define Q "<|\"|>"

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* Message text (the host's, not the template's): marked as user-authored in b (jb_mark). */
static void put_trimmed(jbuf *b, const char *p, size_t n)
{
    while (n && is_space(*p))
        p++, n--;
    while (n && is_space(p[n - 1]))
        n--;
    size_t start = b->n;
    jb_add(b, p, n);
    jb_mark(b, start);
}

/* strip_thinking: split on "<channel|>", keep each part up to "<|channel>", then trim. */
static void put_without_thoughts(jbuf *b, const char *text, size_t n)
{
    jbuf t = {0};
    const char *p = text, *stop = text + n;
    jb_add(&t, "", 0);
    for (;;) {
        const char *close = NULL;
        for (const char *q = p; q + 10 <= stop; q++)
            if (!memcmp(q, "<channel|>", 10)) {
                close = q;
                break;
            }
        size_t part = close ? (size_t)(close - p) : (size_t)(stop - p);
        size_t keep = part;
        for (size_t i = 0; i + 10 <= part; i++)
            if (!memcmp(p + i, "<|channel>", 10)) {
                keep = i;
                break;
            }
        jb_add(&t, p, keep);
        if (!close)
            break;
        p = close + 10;
    }
    if (t.oom)
        b->oom = 1;
    else
        put_trimmed(b, t.s, t.n);
    free(t.s);
}

/* Jinja's `upper` of a value: strings upper-cased; anything else as Python would print it. */
static void put_upper(jbuf *b, const jv *v)
{
    if (!v)
        return; /* undefined renders as "" */
    if (v->type == JV_STR) {
        for (size_t i = 0; i < v->len; i++) {
            char c = v->str[i];
            if (c >= 'a' && c <= 'z')
                c = (char)(c - 'a' + 'A');
            jb_add(b, &c, 1);
        }
    } else if (v->type == JV_ARR) { /* str(list).upper(): ['STRING', 'NULL'] */
        jb_add(b, "[", 1);
        for (const jv *c = v->child; c; c = c->next) {
            if (c != v->child)
                jb_add(b, ", ", 2);
            jb_add(b, "'", 1);
            put_upper(b, c);
            jb_add(b, "'", 1);
        }
        jb_add(b, "]", 1);
    } else if (v->type == JV_NULL) {
        jb_str(b, "NONE");
    } else if (v->type == JV_BOOL) {
        jb_str(b, v->boolean ? "TRUE" : "FALSE");
    } else if (v->type == JV_NUM) {
        jb_str(b, v->str);
    }
}

static int upper_is(const jv *v, const char *what)
{
    return v && v->type == JV_STR && !strcasecmp(v->str, what);
}

/* Python's repr of a float: shortest round-trip digits, exponent form outside [1e-4, 1e16). */
static void put_python_float(jbuf *b, double x)
{
    char d[40];
    if (isinf(x)) {
        jb_str(b, x > 0 ? "inf" : "-inf");
        return;
    }
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(d, sizeof d, "%.*e", prec - 1, x);
        if (strtod(d, NULL) == x)
            break;
    }
    snprintf(d, sizeof d, "%.*e", prec - 1, x);
    char *e = strchr(d, 'e');
    int exp10 = atoi(e + 1);
    *e = '\0';
    /* digits without the point */
    char digits[24];
    size_t nd = 0;
    int neg = d[0] == '-';
    for (char *q = d + neg; *q; q++)
        if (*q >= '0' && *q <= '9')
            digits[nd++] = *q;
    digits[nd] = '\0';
    if (neg)
        jb_add(b, "-", 1);
    if (exp10 < -4 || exp10 >= 16) {
        jb_add(b, digits, 1);
        if (nd > 1) {
            jb_add(b, ".", 1);
            jb_add(b, digits + 1, nd - 1);
        }
        jb_printf(b, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    } else if (exp10 < 0) {
        jb_str(b, "0.");
        for (int i = -1; i > exp10; i--)
            jb_add(b, "0", 1);
        jb_add(b, digits, nd);
    } else {
        size_t ip = (size_t)exp10 + 1;
        for (size_t i = 0; i < ip; i++)
            jb_add(b, i < nd ? digits + i : "0", 1);
        jb_add(b, ".", 1);
        if (nd > ip)
            jb_add(b, digits + ip, nd - ip);
        else
            jb_add(b, "0", 1);
    }
}

/* Members of an object in Jinja dictsort order (case-insensitive by key). */
static int cmp_key(const void *a, const void *b)
{
    const jv *x = *(const jv *const *)a, *y = *(const jv *const *)b;
    int c = strcasecmp(x->key ? x->key : "", y->key ? y->key : "");
    return c ? c : strcmp(x->key ? x->key : "", y->key ? y->key : "");
}

static const jv **sorted_members(const jv *obj, size_t *n)
{
    *n = 0;
    if (!obj || obj->type != JV_OBJ || !obj->n)
        return NULL;
    const jv **a = malloc(sizeof *a * obj->n);
    if (!a)
        return NULL;
    for (const jv *c = obj->child; c; c = c->next)
        a[(*n)++] = c;
    qsort(a, *n, sizeof *a, cmp_key);
    return a;
}

void g4_chat_put_argument(jbuf *b, const jv *v, int escape_keys)
{
    if (!v)
        return;
    switch (v->type) {
    case JV_STR: { /* the host's text between two <|"|> markers: marked (jb_mark) */
        jb_str(b, Q);
        size_t start = b->n;
        jb_add(b, v->str, v->len);
        jb_mark(b, start);
        jb_str(b, Q);
        break;
    }
    case JV_BOOL: jb_str(b, v->boolean ? "true" : "false"); break;
    case JV_NULL: jb_str(b, "None"); break; /* {{ none }} prints None */
    case JV_NUM:
        if (jv_is_int(v))
            jb_str(b, v->str[0] == '-' && v->num == 0 ? "0" : v->str);
        else
            put_python_float(b, v->num);
        break;
    case JV_OBJ: {
        size_t n;
        const jv **m = sorted_members(v, &n);
        if (v->n && !m) {
            b->oom = 1;
            return;
        }
        jb_add(b, "{", 1);
        for (size_t i = 0; i < n; i++) {
            if (i)
                jb_add(b, ",", 1);
            if (escape_keys)
                jb_str(b, Q);
            jb_str(b, m[i]->key);
            if (escape_keys)
                jb_str(b, Q);
            jb_add(b, ":", 1);
            g4_chat_put_argument(b, m[i], escape_keys);
        }
        jb_add(b, "}", 1);
        free(m);
        break;
    }
    case JV_ARR:
        jb_add(b, "[", 1);
        for (const jv *c = v->child; c; c = c->next) {
            if (c != v->child)
                jb_add(b, ",", 1);
            g4_chat_put_argument(b, c, escape_keys);
        }
        jb_add(b, "]", 1);
        break;
    }
}

static void put_quoted_list(jbuf *b, const jv *arr)
{
    jb_add(b, "[", 1);
    for (const jv *c = arr && arr->type == JV_ARR ? arr->child : NULL; c; c = c->next) {
        if (c != arr->child)
            jb_add(b, ",", 1);
        jb_str(b, Q);
        if (c->type == JV_STR)
            jb_add(b, c->str, c->len);
        else
            g4_chat_put_argument(b, c, 1);
        jb_str(b, Q);
    }
    jb_add(b, "]", 1);
}

static void comma(jbuf *b, int *add_comma)
{
    if (*add_comma)
        jb_add(b, ",", 1);
    *add_comma = 1;
}

static const char *const k_standard_keys[] = {"description", "type", "properties", "required", "nullable"};

static void format_parameters(jbuf *b, const jv *properties, int depth);

static void format_items(jbuf *b, const jv *items, int depth)
{
    size_t n;
    const jv **m = sorted_members(items, &n);
    int first = 1;
    jb_str(b, "items:{");
    for (size_t i = 0; i < n; i++) {
        const jv *iv = m[i];
        if (iv->type == JV_NULL)
            continue;
        if (!first)
            jb_add(b, ",", 1);
        first = 0;
        if (!strcmp(iv->key, "properties")) {
            jb_str(b, "properties:{");
            if (iv->type == JV_OBJ)
                format_parameters(b, iv, depth + 1);
            jb_str(b, "}");
        } else if (!strcmp(iv->key, "required")) {
            jb_str(b, "required:");
            put_quoted_list(b, iv);
        } else if (!strcmp(iv->key, "type")) {
            jb_str(b, "type:");
            if (iv->type == JV_STR) {
                jb_str(b, Q);
                put_upper(b, iv);
                jb_str(b, Q);
            } else {
                jb_add(b, "[", 1);
                for (const jv *c = iv->type == JV_ARR ? iv->child : NULL; c; c = c->next) {
                    if (c != iv->child)
                        jb_add(b, ",", 1);
                    jb_str(b, Q);
                    put_upper(b, c);
                    jb_str(b, Q);
                }
                jb_add(b, "]", 1);
            }
        } else {
            jb_str(b, iv->key);
            jb_add(b, ":", 1);
            g4_chat_put_argument(b, iv, 1);
        }
    }
    jb_add(b, "}", 1);
    free(m);
}

/* format_parameters(properties, required): `required` is passed but unused by the macro. */
static void format_parameters(jbuf *b, const jv *properties, int depth)
{
    size_t n;
    if (depth > 32)
        return;
    const jv **m = sorted_members(properties, &n);
    int found_first = 0;
    for (size_t i = 0; i < n; i++) {
        const char *key = m[i]->key;
        const jv *value = m[i];
        int std = 0;
        for (size_t k = 0; k < sizeof k_standard_keys / sizeof *k_standard_keys; k++)
            std |= !strcmp(key, k_standard_keys[k]);
        if (std)
            continue;
        if (found_first)
            jb_add(b, ",", 1);
        found_first = 1;
        int add_comma = 0;
        jb_str(b, key);
        jb_str(b, ":{");
        const jv *desc = jv_get(value, "description"), *type = jv_get(value, "type");
        if (jv_truthy(desc)) {
            jb_str(b, "description:" Q);
            if (desc->type == JV_STR)
                jb_add(b, desc->str, desc->len);
            else
                g4_chat_put_argument(b, desc, 1);
            jb_str(b, Q);
            add_comma = 1;
        }
        if (upper_is(type, "STRING")) {
            const jv *en = jv_get(value, "enum");
            if (jv_truthy(en)) {
                comma(b, &add_comma);
                jb_str(b, "enum:");
                g4_chat_put_argument(b, en, 1);
            }
        } else if (upper_is(type, "ARRAY")) {
            const jv *items = jv_get(value, "items");
            if (items && items->type == JV_OBJ && items->n) {
                comma(b, &add_comma);
                format_items(b, items, depth);
            }
        }
        if (jv_truthy(jv_get(value, "nullable"))) {
            comma(b, &add_comma);
            jb_str(b, "nullable:true");
        }
        if (upper_is(type, "OBJECT")) {
            const jv *props = jv_get(value, "properties");
            comma(b, &add_comma);
            jb_str(b, "properties:{");
            /* the template's elif: without a 'properties' mapping it formats the value itself */
            format_parameters(b, props && props->type == JV_OBJ ? props : value, depth + 1);
            jb_str(b, "}");
            const jv *req = jv_get(value, "required");
            if (jv_truthy(req)) {
                comma(b, &add_comma);
                jb_str(b, "required:");
                put_quoted_list(b, req);
            }
        }
        comma(b, &add_comma);
        jb_str(b, "type:" Q);
        put_upper(b, type);
        jb_str(b, Q "}");
    }
    free(m);
}

static void put_text_or_arg(jbuf *b, const jv *v)
{
    if (v && v->type == JV_STR)
        jb_add(b, v->str, v->len);
    else if (v)
        g4_chat_put_argument(b, v, 1);
}

static void format_function_declaration(jbuf *b, const jv *tool)
{
    const jv *fn = jv_get(tool, "function");
    const jv *params = jv_get(fn, "parameters");
    jb_str(b, "declaration:");
    put_text_or_arg(b, jv_get(fn, "name"));
    jb_str(b, "{description:" Q);
    size_t start = b->n;
    put_text_or_arg(b, jv_get(fn, "description"));
    jb_mark(b, start);
    jb_str(b, Q);
    if (jv_truthy(params)) {
        jb_str(b, ",parameters:{");
        const jv *props = jv_get(params, "properties"), *req = jv_get(params, "required");
        if (jv_truthy(props)) {
            jb_str(b, "properties:{");
            format_parameters(b, props, 0);
            jb_str(b, "},");
        }
        if (jv_truthy(req)) {
            jb_str(b, "required:");
            put_quoted_list(b, req);
            jb_str(b, ",");
        }
        /* as in the template: without 'type' the parameters brace is never closed */
        if (jv_truthy(jv_get(params, "type"))) {
            jb_str(b, "type:" Q);
            put_upper(b, jv_get(params, "type"));
            jb_str(b, Q "}");
        }
    }
    const jv *resp = jv_get(fn, "response");
    if (resp) {
        jb_str(b, ",response:{");
        if (jv_truthy(jv_get(resp, "description"))) {
            jb_str(b, "description:" Q);
            put_text_or_arg(b, jv_get(resp, "description"));
            jb_str(b, Q ",");
        }
        if (upper_is(jv_get(resp, "type"), "OBJECT"))
            jb_str(b, "type:" Q "OBJECT" Q "}");
    }
    jb_str(b, "}");
}

static void format_tool_response_block(jbuf *b, const char *name, const jv *response)
{
    jb_str(b, "<|tool_response>response:");
    jb_str(b, name);
    if (response && response->type == JV_OBJ) {
        size_t n;
        const jv **m = sorted_members(response, &n);
        jb_add(b, "{", 1);
        for (size_t i = 0; i < n; i++) {
            if (i)
                jb_add(b, ",", 1);
            jb_str(b, m[i]->key);
            jb_add(b, ":", 1);
            g4_chat_put_argument(b, m[i], 0);
        }
        jb_add(b, "}", 1);
        free(m);
    } else {
        jb_str(b, "{value:");
        if (response)
            g4_chat_put_argument(b, response, 0);
        else
            jb_str(b, "None");
        jb_str(b, "}");
    }
    jb_str(b, "<tool_response|>");
}

static const char *str_of(const jv *v) { return v && v->type == JV_STR ? v->str : NULL; }

static const char *role_of(const jv *m) { return str_of(jv_get(m, "role")); }

enum { PREV_NONE, PREV_THINK, PREV_TOOL, PREV_TOOL_CALL, PREV_TOOL_RESPONSE, PREV_MEDIA };

/* message content (string, or parts) rendered for role `model` or not. */
static void put_content(jbuf *b, const jv *content, int is_model, int *prev)
{
    if (!content)
        return;
    if (content->type == JV_STR) {
        if (is_model)
            put_without_thoughts(b, content->str, content->len);
        else
            put_trimmed(b, content->str, content->len);
        return;
    }
    if (content->type != JV_ARR)
        return;
    for (const jv *it = content->child; it; it = it->next) {
        const char *type = str_of(jv_get(it, "type"));
        if (!type)
            continue;
        if (!strcmp(type, "text")) {
            const jv *t = jv_get(it, "text");
            if (t && t->type == JV_STR) {
                if (is_model)
                    put_without_thoughts(b, t->str, t->len);
                else
                    put_trimmed(b, t->str, t->len);
            }
        } else if (!strcmp(type, "image") || !strcmp(type, "image_url")) {
            jb_str(b, "<|image|>");
            *prev = PREV_MEDIA;
        } else if (!strcmp(type, "audio") || !strcmp(type, "input_audio")) {
            jb_str(b, "<|audio|>");
            *prev = PREV_MEDIA;
        } else if (!strcmp(type, "video")) {
            jb_str(b, "<|video|>");
            *prev = PREV_MEDIA;
        }
    }
}

static void put_system_text(jbuf *b, const jv *content)
{
    if (content && content->type == JV_STR) {
        put_trimmed(b, content->str, content->len);
    } else if (content && content->type == JV_ARR) { /* text parts, concatenated, then trimmed */
        jbuf t = {0};
        jb_add(&t, "", 0);
        for (const jv *it = content->child; it; it = it->next) {
            const jv *x = jv_get(it, "text");
            if (x && x->type == JV_STR)
                jb_add(&t, x->str, x->len);
        }
        if (t.oom)
            b->oom = 1;
        else
            put_trimmed(b, t.s, t.n);
        free(t.s);
    }
}

g4_status g4_chat_render(const jv *messages, const jv *tools, uint32_t flags, jbuf *b)
{
    const int thinking = (flags & G4_CHAT_ENABLE_THINKING) != 0;
    if (!messages || messages->type != JV_ARR)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "chat: messages must be a JSON array");
    if (tools && tools->type != JV_ARR && tools->type != JV_NULL)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "chat: tools must be a JSON array");
    size_t n = 0;
    for (const jv *m = messages->child; m; m = m->next, n++) {
        const char *r = role_of(m);
        if (m->type != JV_OBJ || !r)
            return g4_fail(G4_ERR_INVALID_ARGUMENT, "chat: message %zu needs a string 'role'", n);
        if (strcmp(r, "system") && strcmp(r, "developer") && strcmp(r, "user") && strcmp(r, "model") &&
            strcmp(r, "assistant") && strcmp(r, "tool"))
            return g4_fail(G4_ERR_INVALID_ARGUMENT,
                           "chat: message %zu has role \"%.32s\" (expected system, developer, user, model, "
                           "assistant or tool)",
                           n, r);
        const jv *c = jv_get(m, "content");
        if (c && c->type != JV_STR && c->type != JV_ARR && c->type != JV_NULL && c->type != JV_OBJ)
            return g4_fail(G4_ERR_INVALID_ARGUMENT, "chat: message %zu content must be a string or parts", n);
        const jv *tc = jv_get(m, "tool_calls");
        for (const jv *t = tc && tc->type == JV_ARR ? tc->child : NULL; t; t = t->next)
            if (!str_of(jv_get(jv_get(t, "function"), "name")))
                return g4_fail(G4_ERR_INVALID_ARGUMENT, "chat: message %zu has a tool call without a function name", n);
    }
    for (const jv *t = tools && tools->type == JV_ARR ? tools->child : NULL; t; t = t->next)
        if (!str_of(jv_get(jv_get(t, "function"), "name")))
            return g4_fail(G4_ERR_INVALID_ARGUMENT, "chat: every tool needs 'function': {'name': ...}");

    int prev = PREV_NONE;
    const jv *first = messages->child;
    const int has_tools = jv_truthy(tools);
    const int first_system = first && (!strcmp(role_of(first), "system") || !strcmp(role_of(first), "developer"));
    jb_str(b, "<bos>");
    if (thinking || has_tools || first_system) {
        jb_str(b, "<|turn>system\n");
        if (thinking) {
            jb_str(b, "<|think|>\n");
            prev = PREV_THINK;
        }
        if (first_system)
            put_system_text(b, jv_get(first, "content"));
        if (has_tools) {
            for (const jv *t = tools->child; t; t = t->next) {
                jb_str(b, "<|tool>");
                format_function_declaration(b, t);
                jb_str(b, "<tool|>");
            }
            prev = PREV_TOOL;
        }
        jb_str(b, "<turn|>\n");
    }
    const jv *loop0 = first_system ? first->next : first;
    const jv *last_user = NULL;
    for (const jv *m = loop0; m; m = m->next)
        if (!strcmp(role_of(m), "user"))
            last_user = m;
    int after_last_user = last_user == NULL;
    const char *prev_nt = NULL; /* role of the previous non-tool message */
    for (const jv *m = loop0; m; m = m->next) {
        const char *r = role_of(m);
        if (!strcmp(r, "tool"))
            continue;
        prev = PREV_NONE;
        const int is_model = !strcmp(r, "assistant") || !strcmp(r, "model");
        const char *role = !strcmp(r, "assistant") ? "model" : r;
        /* the template continues a model turn only after a literal "assistant" */
        if (!(is_model && prev_nt && !strcmp(prev_nt, "assistant"))) {
            jb_str(b, "<|turn>");
            jb_str(b, role);
            jb_str(b, "\n");
        }
        prev_nt = r;
        const jv *tcs = jv_get(m, "tool_calls");
        const jv *think = jv_get(m, "reasoning");
        if (!jv_truthy(think))
            think = jv_get(m, "reasoning_content");
        if (jv_truthy(think) && after_last_user && jv_truthy(tcs) && think->type == JV_STR) {
            jb_str(b, "<|channel>thought\n");
            jb_add(b, think->str, think->len);
            jb_str(b, "\n<channel|>");
        }
        if (jv_truthy(tcs) && tcs->type == JV_ARR) {
            for (const jv *tc = tcs->child; tc; tc = tc->next) {
                const jv *fn = jv_get(tc, "function"), *args = jv_get(fn, "arguments");
                jb_str(b, "<|tool_call>call:");
                jb_str(b, str_of(jv_get(fn, "name")));
                jb_str(b, "{");
                if (args && args->type == JV_OBJ) {
                    size_t na;
                    const jv **am = sorted_members(args, &na);
                    for (size_t i = 0; i < na; i++) {
                        if (i)
                            jb_add(b, ",", 1);
                        jb_str(b, am[i]->key);
                        jb_add(b, ":", 1);
                        g4_chat_put_argument(b, am[i], 0);
                    }
                    free(am);
                } else if (args && args->type == JV_STR) {
                    jb_add(b, args->str, args->len);
                }
                jb_str(b, "}<tool_call|>");
            }
            prev = PREV_TOOL_CALL;
        }
        int tr_out = 0;
        const jv *legacy = jv_get(m, "tool_responses");
        if (jv_truthy(legacy) && legacy->type == JV_ARR) {
            for (const jv *tr = legacy->child; tr; tr = tr->next) {
                const char *nm = str_of(jv_get(tr, "name"));
                format_tool_response_block(b, nm ? nm : "unknown", jv_get(tr, "response"));
                tr_out = 1;
                prev = PREV_TOOL_RESPONSE;
            }
        } else if (jv_truthy(tcs)) {
            for (const jv *f = m->next; f && !strcmp(role_of(f), "tool"); f = f->next) {
                const char *nm = str_of(jv_get(f, "name"));
                const char *id = str_of(jv_get(f, "tool_call_id"));
                if (!nm)
                    nm = "unknown";
                for (const jv *tc = tcs->type == JV_ARR ? tcs->child : NULL; tc; tc = tc->next) {
                    const char *tid = str_of(jv_get(tc, "id"));
                    if ((tid && id && !strcmp(tid, id)) || (!jv_get(tc, "id") && !jv_get(f, "tool_call_id")))
                        nm = str_of(jv_get(jv_get(tc, "function"), "name"));
                }
                const jv *body = jv_get(f, "content");
                if (body && body->type == JV_ARR) {
                    jbuf t = {0};
                    jb_add(&t, "", 0);
                    for (const jv *part = body->child; part; part = part->next)
                        if (str_of(jv_get(part, "type")) && !strcmp(str_of(jv_get(part, "type")), "text")) {
                            const jv *x = jv_get(part, "text");
                            if (x && x->type == JV_STR)
                                jb_add(&t, x->str, x->len);
                        }
                    jv *s = t.oom ? NULL : jv_new_str(t.s, t.n);
                    free(t.s);
                    if (!s) {
                        b->oom = 1;
                        break;
                    }
                    format_tool_response_block(b, nm, s);
                    jv_free(s);
                } else {
                    format_tool_response_block(b, nm, body);
                }
                tr_out = 1;
                prev = PREV_TOOL_RESPONSE;
            }
        }
        const jv *content = jv_get(m, "content");
        put_content(b, content, is_model, &prev);
        if (prev == PREV_TOOL_CALL && !tr_out)
            jb_str(b, "<|tool_response>");
        else if (!(tr_out && !jv_truthy(content)))
            jb_str(b, "<turn|>\n");
        if (m == last_user)
            after_last_user = 1;
    }
    if ((flags & G4_CHAT_ADD_GENERATION_PROMPT) && prev != PREV_TOOL_RESPONSE && prev != PREV_TOOL_CALL) {
        jb_str(b, "<|turn>model\n");
        if (!thinking)
            jb_str(b, "<|channel>thought\n<channel|>");
    }
    if (b->oom)
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "chat: out of memory");
    return G4_OK;
}
