/* g4-server: generated chat text -> content, reasoning and tool calls, for a whole answer
 * (the library's g4_chat_parse) and as streaming deltas (a splitter over the text as it grows;
 * each complete tool call is converted by g4_chat_parse too). Channel and tool-call markers never
 * reach "content". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "server.h"

/* g4_chat_parse of text[0..n) as a cJSON tree, or NULL */
static cJSON *lib_parse(srv_job *j, const char *text, size_t n)
{
    const g4_api_v1 *A = j->S->A;
    if (!G4_API_HAS(A, chat_parse))
        return NULL;
    size_t len = 0;
    g4_status st = A->chat_parse(j->S->model, text, n, 0, NULL, 0, &len);
    if (st != G4_OK && st != G4_ERR_BUFFER_TOO_SMALL)
        return NULL;
    char *buf = malloc(len + 1);
    if (!buf)
        return NULL;
    cJSON *o = NULL;
    if (A->chat_parse(j->S->model, text, n, 0, buf, len + 1, &len) == G4_OK)
        o = cJSON_ParseWithLength(buf, len);
    free(buf);
    return o;
}

static void call_id(srv_job *j, int k, char *buf, size_t n)
{
    snprintf(buf, n, "call_%llx%02d", (unsigned long long)(uintptr_t)j->t0 ^ (unsigned long long)(j->t0 * 1e6), k);
}

/* one call {"name","arguments"} from the library -> OpenAI (string arguments) or Ollama */
static cJSON *convert_call(srv_job *j, const cJSON *c, int k, int ollama, int streaming)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name"), *args = cJSON_GetObjectItemCaseSensitive(c, "arguments");
    cJSON *o = cJSON_CreateObject(), *f = cJSON_CreateObject();
    if (ollama) {
        cJSON_AddStringToObject(f, "name", cJSON_IsString(name) ? name->valuestring : "");
        cJSON_AddItemToObject(f, "arguments", args ? cJSON_Duplicate(args, 1) : cJSON_CreateObject());
        cJSON_AddItemToObject(o, "function", f);
        return o;
    }
    char id[64];
    call_id(j, k, id, sizeof id);
    if (streaming)
        cJSON_AddNumberToObject(o, "index", k);
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "type", "function");
    cJSON_AddStringToObject(f, "name", cJSON_IsString(name) ? name->valuestring : "");
    char *a = args ? cJSON_PrintUnformatted(args) : NULL;
    cJSON_AddStringToObject(f, "arguments", a ? a : "{}");
    cJSON_free(a);
    cJSON_AddItemToObject(o, "function", f);
    return o;
}

int srv_chat_message(srv_job *j, cJSON *msg, int ollama)
{
    cJSON *p = j->req->split_reasoning ? lib_parse(j, j->text.s, j->text.n) : NULL;
    if (!p) {
        srv_add_text(msg, "content", j->text.s, j->text.n);
        return 0;
    }
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(p, "content"),
                *reasoning = cJSON_GetObjectItemCaseSensitive(p, "reasoning_content"),
                *calls = cJSON_GetObjectItemCaseSensitive(p, "tool_calls");
    int n_calls = cJSON_GetArraySize(calls);
    const char *cs = cJSON_IsString(content) ? content->valuestring : "";
    if (n_calls && !*cs && !ollama)
        cJSON_AddNullToObject(msg, "content");
    else
        srv_add_text(msg, "content", cs, strlen(cs));
    if (cJSON_IsString(reasoning) && reasoning->valuestring[0])
        srv_add_text(msg, ollama ? "thinking" : "reasoning_content", reasoning->valuestring,
                     strlen(reasoning->valuestring));
    if (n_calls) {
        cJSON *arr = cJSON_AddArrayToObject(msg, "tool_calls");
        const cJSON *c;
        int k = 0;
        cJSON_ArrayForEach(c, calls) cJSON_AddItemToArray(arr, convert_call(j, c, k++, ollama, 0));
    }
    cJSON_Delete(p);
    return n_calls;
}

static const char *find(const char *s, const char *end, const char *w)
{
    size_t n = strlen(w);
    for (const char *q = s; q + n <= end; q++)
        if (*q == *w && !memcmp(q, w, n))
            return q;
    return NULL;
}

/* length of the longest tail of [s, end) that is a proper prefix of one of the markers */
static size_t held_tail(const char *s, const char *end, const char *const *markers, int n)
{
    size_t best = 0;
    for (int m = 0; m < n; m++) {
        size_t ml = strlen(markers[m]);
        for (size_t k = ml - 1; k > best; k--)
            if ((size_t)(end - s) >= k && !memcmp(end - k, markers[m], k)) {
                best = k;
                break;
            }
    }
    return best;
}

int srv_chat_delta(srv_job *j, const char *text, size_t ready, int final, cJSON *delta, int ollama)
{
    srv_split *sp = &j->split;
    srv_buf content = {0}, reasoning = {0};
    cJSON *calls = NULL;
    const char *end = text + ready;
    if (!j->req->split_reasoning) {
        if (ready > sp->pos)
            srv_buf_add(&content, text + sp->pos, ready - sp->pos);
        sp->pos = ready;
    }
    static const char *const open_m[] = {"<|channel>", "<|tool_call>"};
    static const char *const close_ch[] = {"<channel|>"};
    while (sp->pos < ready) {
        const char *p = text + sp->pos;
        if (sp->mode == SRV_SPLIT_CONTENT) {
            const char *ch = find(p, end, open_m[0]), *tc = find(p, end, open_m[1]);
            const char *f = ch && (!tc || ch < tc) ? ch : tc;
            if (f) {
                srv_buf_add(&content, p, (size_t)(f - p));
                sp->mode = f == ch ? SRV_SPLIT_REASONING : SRV_SPLIT_TOOL;
                sp->at_start = f == ch;
                sp->pos = (size_t)(f - text) + strlen(f == ch ? open_m[0] : open_m[1]);
                continue;
            }
            size_t hold = final ? 0 : held_tail(p, end, open_m, 2);
            srv_buf_add(&content, p, (size_t)(end - p) - hold);
            sp->pos = ready - hold;
            break;
        }
        if (sp->mode == SRV_SPLIT_REASONING) {
            if (sp->at_start) {
                size_t avail = (size_t)(end - p);
                if (!final && avail < 8 && !strncmp(p, "thought\n", avail))
                    break; /* wait: the channel name may still be arriving */
                if (avail >= 8 && !strncmp(p, "thought\n", 8))
                    sp->pos += 8;
                else if (avail >= 7 && !strncmp(p, "thought", 7))
                    sp->pos += 7;
                sp->at_start = 0;
                continue;
            }
            const char *f = find(p, end, close_ch[0]);
            if (f) {
                srv_buf_add(&reasoning, p, (size_t)(f - p));
                sp->mode = SRV_SPLIT_CONTENT;
                sp->pos = (size_t)(f - text) + strlen(close_ch[0]);
                continue;
            }
            size_t hold = final ? 0 : held_tail(p, end, close_ch, 1);
            srv_buf_add(&reasoning, p, (size_t)(end - p) - hold);
            sp->pos = ready - hold;
            break;
        }
        /* SRV_SPLIT_TOOL: wait for the whole call */
        const char *f = find(p, end, "<tool_call|>");
        if (!f && !final)
            break;
        const char *stop = f ? f : end;
        srv_buf one = {0};
        srv_buf_add(&one, "<|tool_call>", 12);
        srv_buf_add(&one, p, (size_t)(stop - p));
        srv_buf_add(&one, "<tool_call|>", 12);
        cJSON *pr = one.s ? lib_parse(j, one.s, one.n) : NULL;
        const cJSON *pc = pr ? cJSON_GetObjectItemCaseSensitive(pr, "tool_calls") : NULL;
        if (pc && cJSON_GetArraySize(pc) == 1) {
            if (!calls)
                calls = cJSON_CreateArray();
            cJSON_AddItemToArray(calls, convert_call(j, pc->child, sp->n_calls++, ollama, 1));
        } else {
            srv_buf_add(&content, p, (size_t)(stop - p)); /* not a call after all: text */
        }
        cJSON_Delete(pr);
        free(one.s);
        sp->mode = SRV_SPLIT_CONTENT;
        sp->pos = f ? (size_t)(f - text) + 12 : ready;
    }
    int added = 0;
    if (content.n) {
        srv_add_text(delta, "content", content.s, content.n);
        added = 1;
    }
    if (reasoning.n) {
        srv_add_text(delta, ollama ? "thinking" : "reasoning_content", reasoning.s, reasoning.n);
        added = 1;
    }
    if (calls) {
        cJSON_AddItemToObject(delta, "tool_calls", calls);
        added = 1;
    }
    free(content.s);
    free(reasoning.s);
    return added;
}
