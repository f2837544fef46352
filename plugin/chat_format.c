/* Gemma 4 chat prompts: g4_chat_format (role + text messages) and g4_chat_format_json
 * (OpenAI-style messages and tools). Both render through chat_render.c, the C rendering of the
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

#include "chat_render.h"

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

G4_API g4_status G4_CALL g4_chat_format(const g4_model *m, const g4_chat_message *msgs, size_t n,
                                        uint32_t flags, char *buf, size_t cap, size_t *len)
{
    (void)m; /* the format is the Gemma 4 one for every family member */
    g4_clear_error();
    if (!len)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_format: len is NULL");
    if (!msgs && n)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_format: msgs is NULL");
    if (flags & ~(uint32_t)(G4_CHAT_ADD_GENERATION_PROMPT | G4_CHAT_ENABLE_THINKING))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_format: unknown flags 0x%x", (unsigned)flags);
    for (size_t k = 0; k < n; k++) {
        const char *r = msgs[k].role;
        if (!r || !msgs[k].content)
            return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_format: message %zu has a NULL %s", k,
                           r ? "content" : "role");
        if (strcmp(r, "system") && strcmp(r, "developer") && strcmp(r, "user") &&
            strcmp(r, "model") && strcmp(r, "assistant"))
            return g4_fail(G4_ERR_INVALID_ARGUMENT,
                           "g4_chat_format: message %zu has role \"%s\" (expected system, "
                           "developer, user, model or assistant)",
                           k, r);
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
    jbuf b = {0};
    g4_status st = oom ? g4_fail(G4_ERR_OUT_OF_MEMORY, "g4_chat_format: out of memory")
                       : g4_chat_render(arr, NULL, flags, &b);
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
