/* g4-server: token log-probabilities (OpenAI chat and completions, llama-server n_probs,
 * Ollama). Recorded from the model's logits (before sampling settings and grammar), as the
 * reference servers report them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "server.h"

void srv_logprobs_record(srv_job *j, int32_t tok)
{
    srv *S = j->S;
    const g4_api_v1 *A = S->A;
    const float *lg = A->logits(j->slot->sess, j->lp_row);
    j->lp_row = 0; /* after the prompt, every step is one token */
    if (!lg)
        return;
    if (j->n_lp == j->cap_lp) {
        size_t cap = j->cap_lp ? j->cap_lp * 2 : 64;
        srv_lp *n = realloc(j->lp, sizeof *n * cap);
        if (!n)
            return;
        j->lp = n;
        j->cap_lp = cap;
    }
    const int32_t V = S->info.n_vocab;
    float mx = lg[0];
    for (int32_t i = 1; i < V; i++)
        if (lg[i] > mx)
            mx = lg[i];
    double sum = 0;
    for (int32_t i = 0; i < V; i++)
        sum += exp((double)(lg[i] - mx));
    const float lse = mx + (float)log(sum);
    srv_lp *e = &j->lp[j->n_lp++];
    memset(e, 0, sizeof *e);
    e->id = tok;
    e->logprob = tok >= 0 && tok < V ? lg[tok] - lse : -INFINITY;
    int k = j->req->top_logprobs;
    if (k > SRV_TOP_LOGPROBS_MAX)
        k = SRV_TOP_LOGPROBS_MAX;
    /* top k by insertion (k <= 20) */
    for (int32_t i = 0; i < V && k > 0; i++) {
        float v = lg[i];
        if (e->n_top == k && v <= lg[e->top_id[k - 1]])
            continue;
        int p = e->n_top < k ? e->n_top++ : k - 1;
        while (p > 0 && lg[e->top_id[p - 1]] < v) {
            e->top_id[p] = e->top_id[p - 1];
            p--;
        }
        e->top_id[p] = i;
    }
    for (int t = 0; t < e->n_top; t++)
        e->top_lp[t] = lg[e->top_id[t]] - lse;
}

static char *piece(srv_job *j, int32_t id, size_t *n)
{
    static const char empty[] = "";
    char buf[256];
    size_t len = 0;
    if (j->S->A->token_to_piece(j->S->model, id, G4_DETOK_RENDER_SPECIAL, buf, sizeof buf, &len) != G4_OK ||
        len > sizeof buf)
        len = 0;
    char *s = malloc(len + 1);
    if (!s) {
        *n = 0;
        return strdup(empty);
    }
    memcpy(s, buf, len);
    s[len] = '\0';
    *n = len;
    return s;
}

/* JSON strings must be valid UTF-8: a byte token's piece is given as text with U+FFFD and the
 * exact bytes in "bytes". */
static void add_token(cJSON *o, const char *name, const char *s, size_t n) { srv_add_text(o, name, s, n); }

static cJSON *bytes_array(const char *s, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber((unsigned char)s[i]));
    return a;
}

/* {"token","logprob","bytes"} (+ "id" for llama-server) */
static cJSON *entry(srv_job *j, int32_t id, float lp, int with_id)
{
    cJSON *o = cJSON_CreateObject();
    size_t n;
    char *s = piece(j, id, &n);
    if (with_id)
        cJSON_AddNumberToObject(o, "id", id);
    add_token(o, "token", s, n);
    cJSON_AddNumberToObject(o, "logprob", isfinite(lp) ? lp : -9999.0);
    cJSON_AddItemToObject(o, "bytes", bytes_array(s, n));
    free(s);
    return o;
}

static cJSON *entries(srv_job *j, size_t from, size_t to, int with_id)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = from; i < to && i < j->n_lp; i++) {
        const srv_lp *e = &j->lp[i];
        cJSON *o = entry(j, e->id, e->logprob, with_id);
        cJSON *top = cJSON_AddArrayToObject(o, "top_logprobs");
        for (int t = 0; t < e->n_top; t++)
            cJSON_AddItemToArray(top, entry(j, e->top_id[t], e->top_lp[t], with_id));
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

cJSON *srv_logprobs_chat(srv_job *j, size_t from, size_t to)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "content", entries(j, from, to, 0));
    return o;
}

cJSON *srv_logprobs_native(srv_job *j, size_t from, size_t to) { return entries(j, from, to, 1); }

cJSON *srv_logprobs_ollama(srv_job *j, size_t from, size_t to) { return entries(j, from, to, 0); }

cJSON *srv_logprobs_legacy(srv_job *j, size_t from, size_t to)
{
    cJSON *o = cJSON_CreateObject(), *toks = cJSON_AddArrayToObject(o, "tokens"),
          *lps = cJSON_AddArrayToObject(o, "token_logprobs"), *tops = cJSON_AddArrayToObject(o, "top_logprobs"),
          *offs = cJSON_AddArrayToObject(o, "text_offset");
    size_t off = 0;
    for (size_t i = 0; i < from && i < j->n_lp; i++) {
        size_t n;
        free(piece(j, j->lp[i].id, &n));
        off += n;
    }
    for (size_t i = from; i < to && i < j->n_lp; i++) {
        const srv_lp *e = &j->lp[i];
        size_t n;
        char *s = piece(j, e->id, &n);
        cJSON *tmp = cJSON_CreateObject();
        add_token(tmp, "t", s, n);
        cJSON_AddItemToArray(toks, cJSON_Duplicate(cJSON_GetObjectItem(tmp, "t"), 1));
        cJSON_Delete(tmp);
        cJSON_AddItemToArray(lps, cJSON_CreateNumber(isfinite(e->logprob) ? e->logprob : -9999.0));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        off += n;
        free(s);
        cJSON *t = cJSON_CreateObject();
        for (int k = 0; k < e->n_top; k++) {
            size_t tn;
            char *ts = piece(j, e->top_id[k], &tn);
            cJSON *tmp2 = cJSON_CreateObject();
            add_token(tmp2, "t", ts, tn);
            const char *key = cJSON_GetObjectItem(tmp2, "t")->valuestring;
            if (!cJSON_GetObjectItemCaseSensitive(t, key))
                cJSON_AddNumberToObject(t, key, e->top_lp[k]);
            cJSON_Delete(tmp2);
            free(ts);
        }
        cJSON_AddItemToArray(tops, t);
    }
    return o;
}
