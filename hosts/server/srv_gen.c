/* g4-server: prompts, slots and the generation loop. Reaches the library only through the
 * dlopen'd table S->A. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"
#include "srv_video.h"

double srv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int job_fail(srv_job *j, int http, const char *type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->errmsg, sizeof j->errmsg, fmt, ap);
    va_end(ap);
    j->http_status = http;
    j->err_type = type;
    return -1;
}

/* HTTP status for a library failure. */
static int lib_fail(srv_job *j, g4_status st, const char *what)
{
    const g4_api_v1 *A = j->S->A;
    int http = 500;
    const char *type = "server_error";
    switch (st) {
    case G4_ERR_CONTEXT_FULL:
    case G4_ERR_INVALID_ARGUMENT:
    case G4_ERR_UNSUPPORTED:
    case G4_ERR_FORMAT:
    case G4_ERR_MISMATCH:
        http = 400;
        type = "invalid_request_error";
        break;
    case G4_ERR_CANCELLED:
        http = 503;
        type = "unavailable_error";
        break;
    default:
        break;
    }
    return job_fail(j, http, type, "%s: %s: %s", what, A->status_name(st), A->last_error());
}

int32_t *srv_tokenize(srv *S, const char *text, uint32_t flags, size_t *n, char *err, size_t errn)
{
    const g4_api_v1 *A = S->A;
    size_t need = 0, len = strlen(text);
    *n = 0;
    g4_status st = A->tokenize(S->model, text, len, flags, NULL, 0, &need);
    if (st != G4_OK && st != G4_ERR_BUFFER_TOO_SMALL) {
        snprintf(err, errn, "tokenize: %s: %s", A->status_name(st), A->last_error());
        return NULL;
    }
    int32_t *ids = malloc(sizeof *ids * (need + 1));
    if (!ids) {
        snprintf(err, errn, "out of memory");
        return NULL;
    }
    st = A->tokenize(S->model, text, len, flags, ids, need + 1, n);
    if (st != G4_OK) {
        snprintf(err, errn, "tokenize: %s: %s", A->status_name(st), A->last_error());
        free(ids);
        return NULL;
    }
    return ids;
}

/* ---- prompt ------------------------------------------------------------------------------- */

/* Tokenize text whose "<|image|>" / "<|audio|>" markers must each become one placeholder id
 * (we split at the markers ourselves, whatever the tokenizer would do with them). */
static int32_t *tokenize_marked(srv_job *j, const char *text, uint32_t flags, size_t *n)
{
    srv *S = j->S;
    static const char *const mk[3] = {"<|image|>", "<|audio|>", "<|video|>"};
    const int32_t mid[3] = {S->A->token_id(S->model, G4_TOKEN_IMAGE_SOFT),
                            S->A->token_id(S->model, G4_TOKEN_AUDIO_SOFT),
                            S->A->token_id(S->model, G4_TOKEN_VIDEO_SOFT)};
    srv_buf out = {0};
    const char *p = text;
    *n = 0;
    for (;;) {
        const char *hit = NULL;
        int which = 0;
        for (int k = 0; k < 3; k++) {
            const char *h = strstr(p, mk[k]);
            if (h && (!hit || h < hit)) {
                hit = h;
                which = k;
            }
        }
        if (hit && mid[which] < 0) {
            free(out.s);
            job_fail(j, 400, "invalid_request_error", "this model has no %s placeholder token",
                     which == 2 ? "video" : which ? "audio" : "image");
            return NULL;
        }
        size_t seg_len = hit ? (size_t)(hit - p) : strlen(p);
        char *seg = strndup(p, seg_len);
        size_t ns = 0;
        int32_t *ids = NULL;
        if (seg && seg_len) {
            ids = srv_tokenize(S, seg, flags, &ns, j->errmsg, sizeof j->errmsg);
            if (!ids) {
                free(seg);
                free(out.s);
                j->http_status = 500;
                j->err_type = "server_error";
                return NULL;
            }
        }
        free(seg);
        if (srv_buf_add(&out, (const char *)ids, ns * sizeof *ids) ||
            (hit && srv_buf_add(&out, (const char *)&mid[which], sizeof *mid))) {
            free(ids);
            free(out.s);
            job_fail(j, 500, "server_error", "out of memory");
            return NULL;
        }
        free(ids);
        if (!hit)
            break;
        p = hit + strlen(mk[which]);
    }
    *n = out.n / sizeof(int32_t);
    if (!out.s)
        out.s = malloc(sizeof(int32_t));
    return (int32_t *)out.s;
}

/* Media embeddings for one prompt, expanded at the placeholders. */
typedef struct media_set {
    g4_embd_span *spans;
    float **embd; /* [n_embd] buffers the spans point into */
    int n, cap, n_embd;
} media_set;

/* Room for `more` spans and buffers. */
static int media_grow(media_set *ms, int more)
{
    if (ms->n + more <= ms->cap && ms->n_embd + more <= ms->cap)
        return 0;
    int cap = (ms->cap + more) * 2;
    g4_embd_span *s = realloc(ms->spans, sizeof *s * (size_t)cap);
    if (s)
        ms->spans = s;
    float **e = realloc(ms->embd, sizeof *e * (size_t)cap);
    if (e)
        ms->embd = e;
    if (!s || !e)
        return -1;
    ms->cap = cap;
    return 0;
}

/* The <|video|> placeholder at j->ids[i]: the video part's ids (keys -1: never reused from the
 * prefix cache) and one span per frame and per audio run. */
static int expand_video(srv_job *j, media_set *ms, const srv_media *md, srv_buf *ids, srv_buf *keys)
{
    srv *S = j->S;
    g4v_embedded e;
    int32_t *vids = NULL;
    g4_embd_span *vsp = NULL;
    size_t nv = 0, ns = 0;
    char err[1024] = "";
    int64_t room = (j->slot ? S->A->session_n_ctx(j->slot->sess) : S->info.n_ctx_default) -
                   (int64_t)j->n_ids;
    int rc = srv_video_expand(S->A, S->model, md, room, &e, &vids, &nv, &vsp, &ns, err, sizeof err);
    if (rc != G4_OK) {
        int client = rc == G4_ERR_FORMAT || rc == G4_ERR_CONTEXT_FULL || rc == G4_ERR_UNSUPPORTED ||
                     rc == G4_ERR_INVALID_ARGUMENT;
        return job_fail(j, client ? 400 : 500, client ? "invalid_request_error" : "server_error",
                        "video: %s", err);
    }
    int32_t base = (int32_t)(ids->n / 4), none = -1;
    if (media_grow(ms, (int)ns + 2))
        rc = -1;
    for (size_t q = 0; rc == 0 && q < nv; q++)
        if (srv_buf_add(ids, (const char *)&vids[q], 4) || srv_buf_add(keys, (const char *)&none, 4))
            rc = -1;
    if (rc == 0) {
        for (size_t q = 0; q < ns; q++) {
            ms->spans[ms->n] = vsp[q];
            ms->spans[ms->n++].first += base;
        }
        ms->embd[ms->n_embd++] = e.frames;
        if (e.audio)
            ms->embd[ms->n_embd++] = e.audio;
        e.frames = e.audio = NULL;
    }
    free(vids);
    free(vsp);
    g4v_embedded_free(&e);
    return rc ? job_fail(j, 500, "server_error", "out of memory") : 0;
}

static void media_free(media_set *ms)
{
    for (int i = 0; i < ms->n_embd; i++)
        free(ms->embd[i]);
    free(ms->embd);
    free(ms->spans);
    memset(ms, 0, sizeof *ms);
}

/* Replace each placeholder in j->ids by start + soft*n + end and record spans. */
static int expand_media(srv_job *j, media_set *ms)
{
    srv *S = j->S;
    const g4_api_v1 *A = S->A;
    srv_request *r = j->req;
    if (!r->n_media)
        return 0;
    int32_t soft[2], beg[2], end[2];
    for (int k = 0; k < 2; k++) {
        soft[k] = A->token_id(S->model, k ? G4_TOKEN_AUDIO_SOFT : G4_TOKEN_IMAGE_SOFT);
        beg[k] = A->token_id(S->model, k ? G4_TOKEN_AUDIO_START : G4_TOKEN_IMAGE_START);
        end[k] = A->token_id(S->model, k ? G4_TOKEN_AUDIO_END : G4_TOKEN_IMAGE_END);
    }
    if (media_grow(ms, (int)r->n_media))
        return job_fail(j, 500, "server_error", "out of memory");
    const int32_t vsoft = A->token_id(S->model, G4_TOKEN_VIDEO_SOFT);
    srv_buf ids = {0}, keys = {0};
    size_t mi = 0;
    int rc = 0;
    for (size_t i = 0; i < j->n_ids && rc == 0; i++) {
        int32_t t = j->ids[i], key = t;
        int k = t == soft[0] ? 0 : t == soft[1] ? 1 : -1;
        if (t == vsoft && vsoft >= 0) {
            if (mi >= r->n_media || r->media[mi].kind != SRV_MEDIA_VIDEO) {
                rc = job_fail(j, 500, "server_error", "media marker order mismatch");
                break;
            }
            rc = expand_video(j, ms, &r->media[mi++], &ids, &keys);
            continue;
        }
        if (k < 0) {
            if (srv_buf_add(&ids, (const char *)&t, sizeof t) || srv_buf_add(&keys, (const char *)&key, sizeof key))
                rc = job_fail(j, 500, "server_error", "out of memory");
            continue;
        }
        if (mi >= r->n_media) {
            rc = job_fail(j, 500, "server_error", "more media markers than media");
            break;
        }
        srv_media *md = &r->media[mi];
        if (md->kind == SRV_MEDIA_VIDEO || (md->kind == SRV_MEDIA_AUDIO) != (k == 1)) {
            rc = job_fail(j, 500, "server_error", "media marker order mismatch");
            break;
        }
        size_t n_tok = 0;
        size_t width = (size_t)S->info.n_embd;
        g4_image_options io;
        G4DL_INIT(A, image_options, &io);
        g4_status st = k == 0 ? A->embed_image_file(S->model, md->data, md->size, &io, NULL, 0, &n_tok)
                              : A->embed_audio_file(S->model, md->data, md->size, NULL, 0, &n_tok);
        float *e = NULL;
        if ((st == G4_OK || st == G4_ERR_BUFFER_TOO_SMALL) && n_tok > 0 && n_tok < (1u << 20)) {
            e = malloc(sizeof(float) * n_tok * width);
            if (!e) {
                rc = job_fail(j, 500, "server_error", "out of memory");
                break;
            }
            st = k == 0 ? A->embed_image_file(S->model, md->data, md->size, &io, e, n_tok * width, &n_tok)
                        : A->embed_audio_file(S->model, md->data, md->size, e, n_tok * width, &n_tok);
        } else if (st == G4_OK || st == G4_ERR_BUFFER_TOO_SMALL) {
            st = G4_ERR_FORMAT;
        }
        if (st != G4_OK) {
            free(e);
            rc = lib_fail(j, st, k == 0 ? "image" : "audio");
            if (st == G4_ERR_INTERNAL || st == G4_ERR_IO)
                j->http_status = 400; /* undecodable bytes from the client */
            break;
        }
        if (media_grow(ms, 1)) {
            free(e);
            rc = job_fail(j, 500, "server_error", "out of memory");
            break;
        }
        ms->embd[ms->n_embd++] = e;
        int add_beg = beg[k] >= 0 && !(i > 0 && j->ids[i - 1] == beg[k]);
        int add_end = end[k] >= 0 && !(i + 1 < j->n_ids && j->ids[i + 1] == end[k]);
        int32_t none = -1;
        if (add_beg && (srv_buf_add(&ids, (const char *)&beg[k], 4) || srv_buf_add(&keys, (const char *)&beg[k], 4)))
            rc = job_fail(j, 500, "server_error", "out of memory");
        g4_embd_span *sp = &ms->spans[ms->n++];
        sp->first = (int32_t)(ids.n / 4);
        sp->n = (int32_t)n_tok;
        sp->kind = k == 0 ? G4_SPAN_IMAGE : G4_SPAN_AUDIO;
        sp->embd = e;
        for (size_t q = 0; q < n_tok && rc == 0; q++)
            if (srv_buf_add(&ids, (const char *)&soft[k], 4) || srv_buf_add(&keys, (const char *)&none, 4))
                rc = job_fail(j, 500, "server_error", "out of memory");
        if (rc == 0 && add_end &&
            (srv_buf_add(&ids, (const char *)&end[k], 4) || srv_buf_add(&keys, (const char *)&end[k], 4)))
            rc = job_fail(j, 500, "server_error", "out of memory");
        mi++;
    }
    if (rc == 0 && mi != r->n_media)
        rc = job_fail(j, 500, "server_error", "fewer media markers than media");
    if (rc) {
        free(ids.s);
        free(keys.s);
        return -1;
    }
    free(j->ids);
    free(j->keys);
    j->ids = (int32_t *)ids.s;
    j->keys = (int32_t *)keys.s;
    j->n_ids = ids.n / 4;
    return 0;
}

static int build_prompt(srv_job *j, media_set *ms)
{
    srv *S = j->S;
    const g4_api_v1 *A = S->A;
    srv_request *r = j->req;
    if (r->ep == SRV_EP_CHAT && r->messages_json && G4_API_HAS(A, chat_format_json)) {
        /* 1.1 library: tools, tool calls and results, reasoning (srv_tools.c built the JSON) */
        uint32_t fl = G4_CHAT_ADD_GENERATION_PROMPT | (r->enable_thinking ? G4_CHAT_ENABLE_THINKING : 0);
        size_t len = 0, ml = strlen(r->messages_json), tl = r->tools_json ? strlen(r->tools_json) : 0;
        if (G4_API_HAS(A, chat_tokenize_json)) {
            /* message texts, tool arguments and results are plain text: nobody types a control
             * token into the prompt; --special-in-content restores the parsing */
            fl |= G4_CHAT_MEDIA_MARKERS | (S->cfg.special_in_content ? G4_CHAT_PARSE_SPECIAL_IN_CONTENT : 0);
            size_t nt = 0;
            g4_status st = A->chat_tokenize_json(S->model, r->messages_json, ml, r->tools_json, tl, fl, NULL, 0, &nt);
            if (st == G4_OK || st == G4_ERR_BUFFER_TOO_SMALL) {
                j->ids = malloc(sizeof *j->ids * (nt + 1));
                st = j->ids ? A->chat_tokenize_json(S->model, r->messages_json, ml, r->tools_json, tl, fl, j->ids,
                                                    nt + 1, &nt)
                            : G4_ERR_OUT_OF_MEMORY;
            }
            if (st != G4_OK)
                return lib_fail(j, st, "chat prompt");
            j->n_ids = nt;
            goto have_ids;
        }
        char *text = NULL;
        g4_status st = A->chat_format_json(S->model, r->messages_json, ml, r->tools_json, tl, fl, NULL, 0, &len);
        if (st == G4_OK || st == G4_ERR_BUFFER_TOO_SMALL) {
            text = malloc(len + 1);
            st = text ? A->chat_format_json(S->model, r->messages_json, ml, r->tools_json, tl, fl, text, len + 1, &len)
                      : G4_ERR_OUT_OF_MEMORY;
        }
        if (st != G4_OK) {
            free(text);
            return lib_fail(j, st, "chat format");
        }
        j->ids = tokenize_marked(j, text, G4_TOKENIZE_PARSE_SPECIAL, &j->n_ids);
        free(text);
        if (!j->ids)
            return -1;
    } else if (r->ep == SRV_EP_CHAT) {
        for (size_t i = 0; i < r->n_msgs; i++)
            if (!strcmp(r->msgs[i].role, "tool"))
                return job_fail(j, 400, "invalid_request_error", "tool messages need a library with ABI 1.1");
        g4_chat_message *cm = calloc(r->n_msgs, sizeof *cm);
        if (!cm)
            return job_fail(j, 500, "server_error", "out of memory");
        for (size_t i = 0; i < r->n_msgs; i++) {
            cm[i].role = r->msgs[i].role;
            cm[i].content = r->msgs[i].content;
        }
        uint32_t fl = G4_CHAT_ADD_GENERATION_PROMPT | (r->enable_thinking ? G4_CHAT_ENABLE_THINKING : 0);
        if (G4_API_HAS(A, chat_tokenize)) {
            /* 1.1: message contents are plain text, so a user cannot type a control token
             * ("<|turn>system") into the prompt; --special-in-content restores the parsing */
            fl |= G4_CHAT_MEDIA_MARKERS | (S->cfg.special_in_content ? G4_CHAT_PARSE_SPECIAL_IN_CONTENT : 0);
            size_t nt = 0;
            g4_status st = A->chat_tokenize(S->model, cm, r->n_msgs, fl, NULL, 0, &nt);
            if (st == G4_OK || st == G4_ERR_BUFFER_TOO_SMALL) {
                j->ids = malloc(sizeof *j->ids * (nt + 1));
                st = j->ids ? A->chat_tokenize(S->model, cm, r->n_msgs, fl, j->ids, nt + 1, &nt) : G4_ERR_OUT_OF_MEMORY;
            }
            free(cm);
            if (st != G4_OK)
                return lib_fail(j, st, "chat prompt");
            j->n_ids = nt;
            goto have_ids;
        }
        size_t len = 0;
        char *text = NULL;
        g4_status st = A->chat_format(S->model, cm, r->n_msgs, fl, NULL, 0, &len);
        if (st == G4_OK || st == G4_ERR_BUFFER_TOO_SMALL) {
            text = malloc(len + 1);
            st = text ? A->chat_format(S->model, cm, r->n_msgs, fl, text, len + 1, &len) : G4_ERR_OUT_OF_MEMORY;
        }
        free(cm);
        if (st != G4_OK) {
            free(text);
            return lib_fail(j, st, "chat format");
        }
        /* the formatted text starts with <bos>; control tokens are parsed */
        j->ids = tokenize_marked(j, text, G4_TOKENIZE_PARSE_SPECIAL, &j->n_ids);
        free(text);
        if (!j->ids)
            return -1;
    } else if (r->has_tokens) {
        int32_t nv = A->vocab_size(S->model);
        for (size_t i = 0; i < r->n_tokens; i++)
            if (r->tokens[i] >= nv)
                return job_fail(j, 400, "invalid_request_error", "token id %d is out of range (vocabulary %d)",
                                (int)r->tokens[i], (int)nv);
        j->ids = malloc(sizeof *j->ids * (r->n_tokens + 1));
        if (!j->ids)
            return job_fail(j, 500, "server_error", "out of memory");
        memcpy(j->ids, r->tokens, sizeof *j->ids * r->n_tokens);
        j->n_ids = r->n_tokens;
    } else {
        /* like llama-server: <bos> first unless the text already has it; specials parsed */
        uint32_t fl = G4_TOKENIZE_PARSE_SPECIAL | (strncmp(r->prompt, "<bos>", 5) ? G4_TOKENIZE_ADD_BOS : 0);
        j->ids = srv_tokenize(S, r->prompt, fl, &j->n_ids, j->errmsg, sizeof j->errmsg);
        if (!j->ids)
            return job_fail(j, 500, "server_error", "%s", j->errmsg);
    }
have_ids:
    j->keys = malloc(sizeof *j->keys * (j->n_ids + 1));
    if (!j->keys)
        return job_fail(j, 500, "server_error", "out of memory");
    memcpy(j->keys, j->ids, sizeof *j->keys * j->n_ids);
    if (expand_media(j, ms))
        return -1;
    if (j->n_ids == 0)
        return job_fail(j, 400, "invalid_request_error", "the prompt is empty");
    return 0;
}

/* ---- slots -------------------------------------------------------------------------------- */

static size_t common_prefix(const srv_slot *s, const int32_t *keys, size_t n)
{
    size_t i = 0;
    while (i < n && i < s->n_cache && keys[i] >= 0 && keys[i] == s->cache[i])
        i++;
    return i;
}

/* Wait (bounded) for a free slot; prefer the one whose cache shares the longest prefix. */
static srv_slot *acquire_slot(srv_job *j)
{
    srv *S = j->S;
    pthread_mutex_lock(&S->mu);
    int waited = 0;
    srv_slot *best = NULL;
    for (;;) {
        if (atomic_load(&S->stopping))
            break;
        size_t best_len = 0;
        for (int i = 0; i < S->cfg.n_parallel; i++) {
            srv_slot *s = &S->slots[i];
            if (s->busy)
                continue;
            size_t l = j->req->cache_prompt ? common_prefix(s, j->keys, j->n_ids) : 0;
            if (!best || l > best_len) {
                best = s;
                best_len = l;
            }
        }
        if (best)
            break;
        if (!waited && S->n_waiting >= S->cfg.queue_max) {
            pthread_mutex_unlock(&S->mu);
            job_fail(j, 503, "unavailable_error", "server busy: %d requests already queued", S->cfg.queue_max);
            return NULL;
        }
        if (!waited) {
            S->n_waiting++;
            waited = 1;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1; /* re-check stopping and the deadline every second */
        pthread_cond_timedwait(&S->cv, &S->mu, &ts);
        if (srv_now() > j->deadline)
            break;
    }
    if (waited)
        S->n_waiting--;
    if (best)
        best->busy = 1;
    pthread_mutex_unlock(&S->mu);
    if (!best)
        job_fail(j, 503, "unavailable_error",
                 atomic_load(&S->stopping) ? "server is shutting down" : "timed out waiting for a free slot");
    return best;
}

static void release_slot(srv *S, srv_slot *s)
{
    pthread_mutex_lock(&S->mu);
    s->busy = 0;
    pthread_cond_broadcast(&S->cv);
    pthread_mutex_unlock(&S->mu);
}

static int cache_set(srv_slot *s, const int32_t *keys, size_t n)
{
    if (n > s->cap_cache) {
        int32_t *c = realloc(s->cache, sizeof *c * n);
        if (!c)
            return -1;
        s->cache = c;
        s->cap_cache = n;
    }
    memcpy(s->cache, keys, sizeof *keys * n);
    s->n_cache = n;
    return 0;
}

/* ---- start: prompt → slot → prefill ------------------------------------------------------ */

int srv_job_start(srv *S, srv_job *j, srv_request *req)
{
    const g4_api_v1 *A = S->A;
    memset(j, 0, sizeof *j);
    j->S = S;
    j->req = req;
    j->t0 = srv_now();
    j->deadline = j->t0 + (S->cfg.timeout_s > 0 ? S->cfg.timeout_s : 1e9);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    for (size_t i = 0; i < req->n_stop; i++)
        if (strlen(req->stop[i]) > j->max_stop_len)
            j->max_stop_len = strlen(req->stop[i]);
    if (srv_buf_add(&j->text, "", 0))
        return job_fail(j, 500, "server_error", "out of memory");

    media_set ms = {0};
    /* Tokenize first (cheap, no slot needed) so the slot choice can use the prompt. Media are
     * embedded after the slot is taken: that bounds the CPU spent at once. */
    srv_media *media = req->media;
    size_t n_media = req->n_media;
    req->n_media = 0; /* build the text ids only */
    int rc = build_prompt(j, &ms);
    req->n_media = n_media;
    req->media = media;
    if (rc)
        return -1;
    if (req->grammar_kind) { /* before a slot is taken: a bad schema is the client's 400 */
        if (!G4_API_HAS(A, grammar_new))
            return job_fail(j, 400, "invalid_request_error", "structured output needs a library with ABI 1.1");
        const char *gt = req->grammar_text ? req->grammar_text : "";
        g4_status gs = A->grammar_new(S->model, req->grammar_kind, gt, strlen(gt), &j->grammar);
        if (gs != G4_OK) {
            job_fail(j, gs == G4_ERR_OUT_OF_MEMORY ? 500 : 400, gs == G4_ERR_OUT_OF_MEMORY ? "server_error"
                                                                                   : "invalid_request_error",
                     "%s: %s", req->grammar_kind == SRV_GRAMMAR_TOOL_CALL ? "tools" : "response_format",
                     A->last_error());
            return -1;
        }
    }
    if ((j->slot = acquire_slot(j)) == NULL)
        return -1;
    if (expand_media(j, &ms)) {
        media_free(&ms);
        return -1;
    }
    g4_session *s = j->slot->sess;
    int32_t n_ctx = A->session_n_ctx(s);
    if ((int64_t)j->n_ids >= n_ctx) {
        media_free(&ms);
        return job_fail(j, 400, "invalid_request_error",
                        "the prompt (%zu tokens) exceeds the context size (%d tokens)", j->n_ids, (int)n_ctx);
    }
    j->max_new = n_ctx - (int)j->n_ids;
    if (req->max_tokens >= 0 && req->max_tokens < j->max_new)
        j->max_new = req->max_tokens;

    /* Prefix reuse: keep the longest common prefix, re-run at least the last prompt token (its
     * logits are needed) and never roll back further than the session allows. */
    size_t keep = req->cache_prompt ? common_prefix(j->slot, j->keys, j->n_ids) : 0;
    if (keep >= j->n_ids)
        keep = j->n_ids - 1;
    int32_t n_past = A->session_n_past(s);
    if ((int32_t)keep > n_past)
        keep = (size_t)n_past;
    g4_status st = G4_OK;
    if (keep > 0 && (int32_t)keep >= A->session_min_rollback(s))
        st = A->session_truncate(s, (int32_t)keep);
    else
        keep = 0;
    if (keep == 0 || st != G4_OK) {
        keep = 0;
        st = A->session_reset(s);
    }
    j->slot->n_cache = keep; /* what the KV holds now, whatever happens next */
    if (st != G4_OK) {
        media_free(&ms);
        return lib_fail(j, st, "session");
    }
    j->n_reused = (int)keep;

    size_t nb = j->n_ids - keep;
    uint8_t *want = calloc(nb, 1);
    g4_embd_span *spans = ms.n ? calloc((size_t)ms.n, sizeof *spans) : NULL;
    if (!want || (ms.n && !spans)) {
        free(want);
        free(spans);
        media_free(&ms);
        return job_fail(j, 500, "server_error", "out of memory");
    }
    want[nb - 1] = G4_OUT_LOGITS | (S->cfg.draft ? G4_OUT_HIDDEN : 0); /* the drafter reads the hidden state */
    j->lp_row = (int)nb - 1; /* the first token's logits (logprobs) */
    for (int i = 0; i < ms.n; i++) {
        spans[i] = ms.spans[i];
        spans[i].first -= (int32_t)keep; /* spans never fall in the reused prefix (keys -1) */
    }
    g4_batch b;
    G4DL_INIT(A, batch, &b);
    b.n_tokens = (int32_t)nb;
    b.tokens = j->ids + keep;
    b.want = want;
    b.spans = ms.n ? spans : NULL;
    b.n_spans = ms.n;
    st = A->step(s, &b);
    free(want);
    free(spans);
    media_free(&ms);
    if (st != G4_OK) {
        j->slot->n_cache = (size_t)A->session_n_past(s) <= keep ? (size_t)A->session_n_past(s) : 0;
        return lib_fail(j, st, "prompt");
    }
    cache_set(j->slot, j->keys, j->n_ids);
    j->t_prefill = srv_now();
    return 0;
}

/* ---- generation -------------------------------------------------------------------------- */

static size_t utf8_complete_prefix(const char *s, size_t n)
{
    size_t i = n, back = 0;
    while (i > 0 && back < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
        i--;
        back++;
    }
    if (i == 0)
        return n;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead < 0x80 ? 1 : (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3
                                  : (lead & 0xF8) == 0xF0 ? 4 : 1;
    return back + 1 >= need ? n : i - 1;
}

/* Called with j->mu held after text grew from old_len: apply stop strings and move `ready`. */
static int check_text(srv_job *j, size_t old_len)
{
    srv_request *r = j->req;
    if (r->n_stop) {
        size_t from = old_len > j->max_stop_len ? old_len - j->max_stop_len : 0;
        size_t best = (size_t)-1;
        const char *word = NULL;
        for (size_t i = 0; i < r->n_stop; i++) {
            const char *h = strstr(j->text.s + from, r->stop[i]);
            if (h && (size_t)(h - j->text.s) < best) {
                best = (size_t)(h - j->text.s);
                word = r->stop[i];
            }
        }
        if (word) {
            j->text.n = best;
            j->text.s[best] = '\0';
            j->stop_type = SRV_STOP_WORD;
            j->stop_word = strdup(word);
            j->ready = best;
            return 1;
        }
    }
    size_t ok = utf8_complete_prefix(j->text.s, j->text.n);
    /* hold back a tail that could still become a stop string */
    size_t hold = 0;
    for (size_t i = 0; i < r->n_stop; i++) {
        size_t sl = strlen(r->stop[i]);
        for (size_t k = sl - 1; k > hold; k--)
            if (k <= j->text.n && memcmp(j->text.s + j->text.n - k, r->stop[i], k) == 0) {
                hold = k;
                break;
            }
    }
    if (j->text.n - hold < ok)
        ok = j->text.n - hold;
    if (ok > j->ready)
        j->ready = ok;
    return 0;
}

/* One sampled token. Returns 1 to continue, 0 to stop. */
static int on_token(srv_job *j, int32_t tok)
{
    srv *S = j->S;
    const g4_api_v1 *A = S->A;
    j->n_sampled++;
    if (A->token_is_eog(S->model, tok)) {
        j->stop_type = SRV_STOP_EOS;
        return 0;
    }
    char piece[256];
    size_t len = 0;
    if (A->token_to_piece(S->model, tok, 0, piece, sizeof piece, &len) != G4_OK || len > sizeof piece)
        len = 0;
    pthread_mutex_lock(&j->mu);
    if (j->req->logprobs) /* under mu: a streaming reader walks j->lp */
        srv_logprobs_record(j, tok);
    int stop = 0;
    if (j->n_out == j->cap_out) {
        size_t cap = j->cap_out ? j->cap_out * 2 : 64;
        int32_t *o = realloc(j->out, sizeof *o * cap);
        if (o) {
            j->out = o;
            j->cap_out = cap;
        }
    }
    if (j->n_out < j->cap_out)
        j->out[j->n_out++] = tok;
    size_t old = j->text.n;
    if (srv_buf_add(&j->text, piece, len))
        stop = 1;
    else
        stop = check_text(j, old);
    pthread_cond_broadcast(&j->cv);
    int abandoned = j->abandoned;
    pthread_mutex_unlock(&j->mu);
    if (stop)
        return 0;
    if ((int)j->n_out >= j->max_new) {
        j->stop_type = SRV_STOP_LIMIT;
        return 0;
    }
    if (abandoned || atomic_load(&S->stopping))
        return 0;
    if (srv_now() > j->deadline) {
        j->timed_out = 1;
        j->stop_type = SRV_STOP_LIMIT;
        return 0;
    }
    return 1;
}

static int32_t G4_CALL gen_cb(void *ud, int32_t tok) { return on_token(ud, tok); }

static void sampler_setup(srv_job *j, g4_sampler_params *sp)
{
    srv_request *r = j->req;
    G4DL_INIT(j->S->A, sampler_params, sp);
    if (r->set & SRV_SET_TEMPERATURE)
        sp->temperature = r->temperature;
    if (r->set & SRV_SET_TOP_P)
        sp->top_p = r->top_p;
    if (r->set & SRV_SET_TOP_K)
        sp->top_k = r->top_k;
    if (r->set & SRV_SET_MIN_P)
        sp->min_p = r->min_p;
    if (r->set & SRV_SET_REPEAT_PENALTY)
        sp->repeat_penalty = r->repeat_penalty;
    if (r->set & SRV_SET_REPEAT_LAST_N)
        sp->repeat_last_n = r->repeat_last_n < 0 ? 1 << 20 : r->repeat_last_n;
    if (r->set & SRV_SET_SEED) {
        sp->seed = r->seed;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        sp->seed = ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^
                   (atomic_fetch_add(&j->S->seq, 1) << 32);
    }
}

void srv_job_run(srv_job *j)
{
    srv *S = j->S;
    const g4_api_v1 *A = S->A;
    g4_session *s = j->slot->sess;
    g4_sampler_params sp;
    sampler_setup(j, &sp);
    g4_status st = G4_OK;
    if (j->max_new <= 0) {
        j->stop_type = SRV_STOP_LIMIT;
    } else {
        g4_generate_params gp;
        G4DL_INIT(A, generate_params, &gp);
        gp.max_tokens = j->max_new;
        gp.n_draft = S->cfg.draft ? S->cfg.n_draft : 0;
        if (j->req->logprobs) /* logprobs read each token's logits in the callback: plain steps */
            gp.n_draft = 0;
        if (j->grammar && gp.struct_size >= offsetof(g4_generate_params, grammar) + sizeof gp.grammar) {
            A->grammar_reset(j->grammar);
            gp.grammar = j->grammar;
        }
        gp.sampling = &sp;
        gp.on_token = gen_cb;
        gp.user_data = j;
        g4_generate_stats gs;
        memset(&gs, 0, sizeof gs);
        gs.struct_size = sizeof gs;
        st = A->generate(s, &gp, &gs);
        j->n_drafted = gs.n_drafted;
        j->n_accepted = gs.n_accepted;
        if (st == G4_OK && j->stop_type == SRV_STOP_NONE && (int)j->n_out >= j->max_new)
            j->stop_type = SRV_STOP_LIMIT;
    }
    if (st == G4_ERR_CANCELLED && (j->abandoned || atomic_load(&S->stopping)))
        st = G4_OK; /* we asked for it */
    if (st != G4_OK && j->n_out == 0)
        lib_fail(j, st, "generate");
    else if (st != G4_OK)
        fprintf(stderr, "g4-server: generation ended early: %s: %s\n", A->status_name(st), A->last_error());

    /* The KV now holds the prompt and the stepped outputs (not the last sampled token). */
    size_t n_past = (size_t)A->session_n_past(s);
    size_t known = j->n_ids + j->n_out;
    if (n_past > known && A->session_truncate(s, (int32_t)known) != G4_OK) {
        A->session_reset(s);
        n_past = 0;
    }
    if (n_past > known)
        n_past = known;
    int32_t *keys = malloc(sizeof *keys * (known + 1));
    if (keys) {
        memcpy(keys, j->keys, sizeof *keys * j->n_ids);
        if (j->n_out)
            memcpy(keys + j->n_ids, j->out, sizeof *keys * j->n_out);
        if (cache_set(j->slot, keys, n_past) != 0)
            j->slot->n_cache = 0;
        free(keys);
    } else {
        j->slot->n_cache = 0;
    }

    pthread_mutex_lock(&j->mu);
    j->t_end = srv_now();
    j->ready = j->text.n; /* flush what is held back, even an incomplete character */
    j->done = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

ssize_t srv_stream_read(srv_buf *out, size_t *off, const int *finished, void (*next)(void *), void *cls, char *buf,
                        size_t max)
{
    while (*off == out->n) {
        if (*finished)
            return MHD_CONTENT_READER_END_OF_STREAM;
        out->n = *off = 0;
        next(cls);
    }
    size_t n = out->n - *off;
    if (n > max)
        n = max;
    memcpy(buf, out->s + *off, n);
    *off += n;
    return (ssize_t)n;
}

void srv_job_abandon(srv_job *j, srv_watch *watch)
{
    srv_watch_stop(watch);
    pthread_mutex_lock(&j->mu);
    int running = j->has_thread && !j->done;
    j->abandoned = 1;
    pthread_mutex_unlock(&j->mu);
    if (running && j->slot)
        j->S->A->session_cancel(j->slot->sess);
    if (j->has_thread)
        pthread_join(j->th, NULL);
    srv_job_finish(j);
}

void srv_job_finish(srv_job *j)
{
    if (j->slot)
        release_slot(j->S, j->slot);
    j->slot = NULL;
    if (j->grammar)
        j->S->A->grammar_free(j->grammar);
    j->grammar = NULL;
    free(j->lp);
    free(j->ids);
    free(j->keys);
    free(j->out);
    free(j->text.s);
    free(j->stop_word);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
}

const char *srv_finish_reason(const srv_job *j)
{
    return j->stop_type == SRV_STOP_LIMIT ? "length" : "stop";
}

const char *srv_stop_type_name(int t)
{
    return t == SRV_STOP_EOS ? "eos" : t == SRV_STOP_WORD ? "word" : t == SRV_STOP_LIMIT ? "limit" : "none";
}
