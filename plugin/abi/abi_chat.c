/* Gemma 4 chat prompts: g4_chat_format (role + text messages), g4_chat_format_json
 * (OpenAI-style messages and tools) and g4_chat_tokenize (the prompt as ids, message texts
 * never parsed for control tokens). Both render through chat_render.c, the C rendering of the
 * official chat template (shared/fixtures/tokenizer/gemma-4-chat-template.jinja):
 *
 *   <bos>[<|turn>system\n[<|think|>\n]{system}[<|tool>declaration:...<tool|>...]<turn|>\n]
 *   <|turn>user\n{text}<turn|>\n  <|turn>model\n{answer without thoughts}<turn|>\n ...
 *   [<|turn>model\n[<|channel>thought\n<channel|>]]      (generation prompt; empty thought
 *                                                         when thinking is disabled)
 *
 * The output starts with the literal "<bos>": tokenize it with G4_TOKENIZE_PARSE_SPECIAL and
 * without G4_TOKENIZE_ADD_BOS. */
#include <stdlib.h>
#include <string.h>

#include "chat/chat_render.h"

/* Two-call pattern over a rendered buffer. */
static g4_status deliver(const char *who, const jbuf *b, char *buf, size_t cap, size_t *len)
{
    *len = b->n;
    if (!buf)
        cap = 0;
    if (b->n + 1 > cap) {
        if (cap) {
            memcpy(buf, b->s, cap - 1);
            buf[cap - 1] = '\0';
        }
        return g4_fail(G4_ERR_BUFFER_TOO_SMALL, "%s: %zu bytes needed (+1 for NUL)", who, b->n);
    }
    memcpy(buf, b->s, b->n + 1);
    return G4_OK;
}

/* g4_chat_message[] as the JSON tree g4_chat_render takes (roles and contents checked). */
static g4_status messages_jv(const char *fn, const g4_chat_message *msgs, size_t n, jv **out)
{
    *out = NULL;
    if (!msgs && n)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "%s: msgs is NULL", fn);
    for (size_t k = 0; k < n; k++) {
        const char *r = msgs[k].role;
        if (!r || !msgs[k].content)
            return g4_fail(G4_ERR_INVALID_ARGUMENT, "%s: message %zu has a NULL %s", fn, k,
                           r ? "content" : "role");
        if (strcmp(r, "system") && strcmp(r, "developer") && strcmp(r, "user") &&
            strcmp(r, "model") && strcmp(r, "assistant"))
            return g4_fail(G4_ERR_INVALID_ARGUMENT,
                           "%s: message %zu has role \"%s\" (expected system, "
                           "developer, user, model or assistant)",
                           fn, k, r);
    }
    jv *arr = jv_new(JV_ARR);
    int oom = !arr;
    for (size_t k = 0; k < n && !oom; k++) {
        jv *o = jv_new(JV_OBJ), *role = jv_new_str(msgs[k].role, strlen(msgs[k].role)),
           *content = jv_new_str(msgs[k].content, strlen(msgs[k].content));
        char *rk = strdup("role"), *ck = strdup("content");
        if (!o || !role || !content || !rk || !ck) {
            jv_free(o);
            jv_free(role);
            jv_free(content);
            free(rk);
            free(ck);
            oom = 1;
            break;
        }
        role->key = rk;
        content->key = ck;
        jv_append(o, role);
        jv_append(o, content);
        jv_append(arr, o);
    }
    if (oom) {
        jv_free(arr);
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    }
    *out = arr;
    return G4_OK;
}

G4_API g4_status G4_CALL g4_chat_format(const g4_model *m, const g4_chat_message *msgs, size_t n,
                                        uint32_t flags, char *buf, size_t cap, size_t *len)
{
    (void)m; /* the format is the Gemma 4 one for every family member */
    g4_clear_error();
    if (!len)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_format: len is NULL");
    if (flags & ~(uint32_t)(G4_CHAT_ADD_GENERATION_PROMPT | G4_CHAT_ENABLE_THINKING))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_format: unknown flags 0x%x", (unsigned)flags);
    jv *arr;
    g4_status st = messages_jv("g4_chat_format", msgs, n, &arr);
    if (st)
        return st;
    jbuf b = {0};
    st = g4_chat_render(arr, NULL, flags, &b);
    jv_free(arr);
    if (!st)
        st = deliver("g4_chat_format", &b, buf, cap, len);
    free(b.s);
    return st;
}

G4_API g4_status G4_CALL g4_chat_format_json(const g4_model *m, const char *messages_json, size_t messages_len,
                                             const char *tools_json, size_t tools_len, uint32_t flags,
                                             char *buf, size_t cap, size_t *len)
{
    (void)m;
    g4_clear_error();
    if (!len)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_format_json: len is NULL");
    *len = 0;
    if (!messages_json)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_format_json: messages_json is NULL");
    if (flags & ~(uint32_t)(G4_CHAT_ADD_GENERATION_PROMPT | G4_CHAT_ENABLE_THINKING))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_format_json: unknown flags 0x%x", (unsigned)flags);
    char err[160];
    jv *msgs = jv_parse(messages_json, messages_len, err, sizeof err);
    if (!msgs)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_format_json: messages are not valid JSON: %s", err);
    jv *tools = NULL;
    if (tools_json && !(tools = jv_parse(tools_json, tools_len, err, sizeof err))) {
        jv_free(msgs);
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_format_json: tools are not valid JSON: %s", err);
    }
    jbuf b = {0};
    g4_status st = g4_chat_render(msgs, tools, flags, &b);
    jv_free(msgs);
    jv_free(tools);
    if (!st)
        st = deliver("g4_chat_format_json", &b, buf, cap, len);
    free(b.s);
    return st;
}

/* ---- 1.1: chat tokenization without special tokens in message contents --------------------- */

typedef struct ids_buf {
    int32_t *v;
    size_t n, cap;
    int oom;
} ids_buf;

static void ids_add(ids_buf *b, const int32_t *ids, size_t n)
{
    if (b->oom || !n)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        int32_t *v = realloc(b->v, cap * sizeof *v);
        if (!v) {
            b->oom = 1;
            return;
        }
        b->v = v;
        b->cap = cap;
    }
    memcpy(b->v + b->n, ids, n * sizeof *ids);
    b->n += n;
}

/* Tokenizes text[0, len) with flags onto b (through the ABI's g4_tokenize). */
static g4_status tok_append(const g4_model *m, ids_buf *b, const char *text, size_t len, uint32_t flags)
{
    if (!len)
        return G4_OK;
    size_t need = 0;
    g4_status st = g4_tokenize(m, text, len, flags, NULL, 0, &need);
    if (st != G4_OK && st != G4_ERR_BUFFER_TOO_SMALL)
        return st;
    int32_t *ids = malloc((need + 1) * sizeof *ids);
    if (!ids)
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "g4_chat_tokenize: out of memory");
    st = g4_tokenize(m, text, len, flags, ids, need + 1, &need);
    if (st == G4_OK)
        ids_add(b, ids, need);
    free(ids);
    return st;
}

/* A message content: plain text (specials parsed only when asked), the media markers
 * "<|image|>" / "<|audio|>" / "<|video|>" as their placeholder ids when G4_CHAT_MEDIA_MARKERS is set. */
static g4_status content_append(const g4_model *m, ids_buf *b, const char *text, size_t len, uint32_t flags)
{
    const uint32_t tf = (flags & G4_CHAT_PARSE_SPECIAL_IN_CONTENT) ? G4_TOKENIZE_PARSE_SPECIAL : 0;
    static const char *const mk[3] = {"<|image|>", "<|audio|>", "<|video|>"};
    const int32_t which_id[3] = {G4_TOKEN_IMAGE_SOFT, G4_TOKEN_AUDIO_SOFT, G4_TOKEN_VIDEO_SOFT};
    size_t pos = 0;
    while (flags & G4_CHAT_MEDIA_MARKERS) {
        size_t hit = len;
        int which = -1;
        for (int k = 0; k < 3; k++) {
            size_t ml = strlen(mk[k]);
            for (size_t i = pos; i + ml <= hit; i++)
                if (!memcmp(text + i, mk[k], ml)) {
                    hit = i;
                    which = k;
                    break;
                }
        }
        if (which < 0)
            break;
        int32_t id = g4_token_id(m, which_id[which]);
        if (id < 0)
            return g4_fail(G4_ERR_UNSUPPORTED, "g4_chat_tokenize: the vocabulary has no %s token", mk[which]);
        g4_status st = tok_append(m, b, text + pos, hit - pos, tf);
        if (st != G4_OK)
            return st;
        ids_add(b, &id, 1);
        pos = hit + strlen(mk[which]);
    }
    return tok_append(m, b, text + pos, len - pos, tf);
}

#define CHAT_TOKENIZE_FLAGS \
    (G4_CHAT_ADD_GENERATION_PROMPT | G4_CHAT_ENABLE_THINKING | G4_CHAT_PARSE_SPECIAL_IN_CONTENT | G4_CHAT_MEDIA_MARKERS)

/* Renders msgs/tools with the host's texts marked, then tokenizes the template's text with its
 * markers special and each marked text as plain text. Every marked text is trimmed and sits
 * between a newline or a marker and a marker, where the tokenizer splits anyway, so benign
 * conversations get exactly the ids of tokenizing the formatted text with PARSE_SPECIAL. */
static g4_status tokenize_rendered(const g4_model *m, const char *fn, const jv *msgs, const jv *tools,
                                   uint32_t flags, int32_t *tokens, size_t cap, size_t *n_tokens)
{
    if (!tokens)
        cap = 0;
    jmarks marks = {0};
    jbuf s = {.marks = &marks};
    g4_status st = g4_chat_render(msgs, tools, flags & (G4_CHAT_ADD_GENERATION_PROMPT | G4_CHAT_ENABLE_THINKING), &s);
    if (st == G4_OK && (s.oom || marks.oom))
        st = g4_fail(G4_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    ids_buf b = {0};
    size_t pos = 0;
    for (size_t k = 0; k < marks.n && st == G4_OK; k++) {
        size_t a = marks.v[2 * k], e = marks.v[2 * k + 1];
        st = tok_append(m, &b, s.s + pos, a - pos, G4_TOKENIZE_PARSE_SPECIAL);
        if (st == G4_OK)
            st = content_append(m, &b, s.s + a, e - a, flags);
        pos = e;
    }
    if (st == G4_OK)
        st = tok_append(m, &b, s.s + pos, s.n - pos, G4_TOKENIZE_PARSE_SPECIAL);
    free(s.s);
    free(marks.v);
    if (st == G4_OK && b.oom)
        st = g4_fail(G4_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    if (st != G4_OK) {
        free(b.v);
        return st;
    }
    g4_clear_error();
    *n_tokens = b.n;
    if (b.n > cap) {
        free(b.v);
        return g4_fail(G4_ERR_BUFFER_TOO_SMALL, "%s: %zu tokens, room for %zu", fn, b.n, cap);
    }
    if (b.n)
        memcpy(tokens, b.v, b.n * sizeof *tokens);
    free(b.v);
    return G4_OK;
}

G4_API g4_status G4_CALL g4_chat_tokenize(const g4_model *m, const g4_chat_message *msgs, size_t n,
                                          uint32_t flags, int32_t *tokens, size_t cap, size_t *n_tokens)
{
    g4_clear_error();
    if (!n_tokens)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_tokenize: n_tokens is NULL");
    *n_tokens = 0;
    if (flags & ~(uint32_t)CHAT_TOKENIZE_FLAGS)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_tokenize: unknown flags 0x%x", (unsigned)flags);
    jv *arr;
    g4_status st = messages_jv("g4_chat_tokenize", msgs, n, &arr);
    if (st != G4_OK)
        return st;
    st = tokenize_rendered(m, "g4_chat_tokenize", arr, NULL, flags, tokens, cap, n_tokens);
    jv_free(arr);
    return st;
}

G4_API g4_status G4_CALL g4_chat_tokenize_json(const g4_model *m, const char *messages_json, size_t messages_len,
                                               const char *tools_json, size_t tools_len, uint32_t flags,
                                               int32_t *tokens, size_t cap, size_t *n_tokens)
{
    g4_clear_error();
    if (!n_tokens)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_tokenize_json: n_tokens is NULL");
    *n_tokens = 0;
    if (!messages_json)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_tokenize_json: messages_json is NULL");
    if (flags & ~(uint32_t)CHAT_TOKENIZE_FLAGS)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_tokenize_json: unknown flags 0x%x", (unsigned)flags);
    char err[160];
    jv *msgs = jv_parse(messages_json, messages_len, err, sizeof err);
    if (!msgs)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_tokenize_json: messages are not valid JSON: %s", err);
    jv *tools = NULL;
    if (tools_json && !(tools = jv_parse(tools_json, tools_len, err, sizeof err))) {
        jv_free(msgs);
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_tokenize_json: tools are not valid JSON: %s", err);
    }
    g4_status st = tokenize_rendered(m, "g4_chat_tokenize_json", msgs, tools, flags, tokens, cap, n_tokens);
    jv_free(msgs);
    jv_free(tools);
    return st;
}
