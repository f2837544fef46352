/* g4-server: an HTTP server speaking the OpenAI and llama-server protocols on top of
 * libg4plug, so it can stand in for llama-server inside LM Studio / Jan engine packs.
 * The library is reached only through dlopen (g4_dl); see docs/SERVER.md.
 *
 * Threads: libmicrohttpd runs one thread per connection. A request parses its body, takes a
 * slot (one g4_session each), runs the prompt and generates in that thread; a streaming request
 * generates in a worker thread that the connection's content reader follows. SIGINT/SIGTERM
 * are blocked everywhere and taken by sigwait() in main, so no signal handler and no global
 * mutable state exist.
 */
#include <errno.h>
#include <stddef.h>
#ifdef _WIN32
#include "srv_os_win32.h" /* Winsock, and sigwait & co. over a console control handler */
#else
#include <netdb.h>
#include <sys/socket.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <microhttpd.h>

#include "server.h"
#include "srv_http.h"

/* ---- responses ---------------------------------------------------------------------------- */

static MHD_RESULT send_text(struct MHD_Connection *c, unsigned code, const char *ctype, char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, "Server", "g4-server");
    srv_conn_add_cors(c, r);
    MHD_RESULT ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static MHD_RESULT send_json(struct MHD_Connection *c, unsigned code, cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s)
        return MHD_NO;
    return send_text(c, code, "application/json; charset=utf-8", s);
}

static cJSON *error_json(unsigned code, const char *type, const char *msg)
{
    cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddNumberToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", type);
    return root;
}

static MHD_RESULT send_error(struct MHD_Connection *c, unsigned code, const char *type, const char *msg)
{
    return send_json(c, code, error_json(code, type, msg));
}

/* JSON strings must be valid UTF-8 and cJSON strings stop at NUL: replace invalid sequences
 * (e.g. a byte token cut off by max_tokens) and NULs with U+FFFD. */
static char *utf8_clean(const char *s, size_t n)
{
    char *o = malloc(n * 3 + 1);
    if (!o)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
                               : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        int ok = len > 0 && c != 0 && i + len <= n;
        for (size_t q = 1; ok && q < len; q++)
            ok = ((unsigned char)s[i + q] & 0xC0) == 0x80;
        if (ok && len >= 3) { /* overlong, surrogate, above U+10FFFF */
            unsigned char c1 = (unsigned char)s[i + 1];
            ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0) && !(c == 0xF0 && c1 < 0x90) &&
                 !(c == 0xF4 && c1 >= 0x90);
        }
        if (ok) {
            memcpy(o + k, s + i, len);
            k += len;
            i += len;
        } else {
            memcpy(o + k, "\xEF\xBF\xBD", 3);
            k += 3;
            i++;
        }
    }
    o[k] = '\0';
    return o;
}

static cJSON *add_text(cJSON *o, const char *name, const char *s, size_t n)
{
    char *t = utf8_clean(s ? s : "", s ? n : 0);
    cJSON *r = cJSON_AddStringToObject(o, name, t ? t : "");
    free(t);
    return r;
}

/* ---- per-connection state ----------------------------------------------------------------- */

typedef struct conn {
    srv_buf body;
    int too_big;
    uint64_t reserved; /* bytes of the memory budget this request holds (srv_budget.c) */
} conn;

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    srv *S = cls;
    conn *k = *con_cls;
    if (k) {
        srv_budget_give(&S->budget, k->reserved);
        free(k->body.s);
        free(k);
    }
    *con_cls = NULL;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    srv_conns_answered(&S->conns, ci ? ci->socket_context : NULL);
}

/* ---- auth --------------------------------------------------------------------------------- */

/* Constant-time in the presented value: the loop length depends only on the key's length. */
static int key_matches(const char *key, const char *got)
{
    size_t kl = strlen(key), gl = strlen(got);
    unsigned diff = (unsigned)(kl ^ gl);
    for (size_t i = 0; i < kl; i++)
        diff |= (unsigned char)key[i] ^ (unsigned char)(i < gl ? got[i] : 0);
    return diff == 0;
}

static int authorized(srv *S, struct MHD_Connection *c)
{
    if (!S->cfg.api_key || !*S->cfg.api_key)
        return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h && strncasecmp(h, "Bearer ", 7) == 0)
        return key_matches(S->cfg.api_key, h + 7);
    h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Api-Key");
    return h ? key_matches(S->cfg.api_key, h) : 0;
}

/* ---- JSON pieces -------------------------------------------------------------------------- */

static void make_id(srv *S, const char *prefix, char *buf, size_t n)
{
    uint64_t k = atomic_fetch_add(&S->seq, 1);
    snprintf(buf, n, "%s-%llx%04llx", prefix, (unsigned long long)time(NULL), (unsigned long long)(k & 0xffff));
}

static void add_usage(cJSON *o, const srv_job *j)
{
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)j->n_ids);
    cJSON_AddNumberToObject(u, "completion_tokens", j->n_sampled);
    cJSON_AddNumberToObject(u, "total_tokens", (double)j->n_ids + j->n_sampled);
}

static void add_timings(cJSON *o, const srv_job *j)
{
    cJSON *t = cJSON_AddObjectToObject(o, "timings");
    double pms = (j->t_prefill - j->t0) * 1e3, gms = (j->t_end - j->t_prefill) * 1e3;
    int n_eval = (int)j->n_ids - j->n_reused;
    cJSON_AddNumberToObject(t, "cache_n", j->n_reused);
    cJSON_AddNumberToObject(t, "prompt_n", n_eval);
    cJSON_AddNumberToObject(t, "prompt_ms", pms);
    cJSON_AddNumberToObject(t, "prompt_per_second", pms > 0 ? n_eval * 1e3 / pms : 0);
    cJSON_AddNumberToObject(t, "predicted_n", j->n_sampled);
    cJSON_AddNumberToObject(t, "predicted_ms", gms);
    cJSON_AddNumberToObject(t, "predicted_per_second", gms > 0 ? j->n_sampled * 1e3 / gms : 0);
    if (j->S->cfg.draft) { /* speculative decoding, as llama-server reports it */
        cJSON_AddNumberToObject(t, "draft_n", j->n_drafted);
        cJSON_AddNumberToObject(t, "draft_n_accepted", j->n_accepted);
    }
}

static cJSON *tokens_array(const int32_t *t, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(t[i]));
    return a;
}

/* The whole answer of a finished job, for the non-streaming case. */
static cJSON *final_json(srv *S, srv_job *j, const char *id)
{
    srv_request *r = j->req;
    cJSON *o = cJSON_CreateObject();
    if (r->ep == SRV_EP_COMPLETION) {
        add_text(o, "content", j->text.s, j->text.n);
        cJSON_AddNumberToObject(o, "id_slot", j->slot ? j->slot->id : 0);
        cJSON_AddBoolToObject(o, "stop", 1);
        cJSON_AddStringToObject(o, "model", S->model_id);
        cJSON_AddNumberToObject(o, "tokens_predicted", j->n_sampled);
        cJSON_AddNumberToObject(o, "tokens_evaluated", (double)j->n_ids);
        cJSON_AddNumberToObject(o, "tokens_cached", j->n_reused);
        cJSON_AddBoolToObject(o, "truncated", 0);
        cJSON_AddStringToObject(o, "stop_type", srv_stop_type_name(j->stop_type));
        cJSON_AddStringToObject(o, "stopping_word", j->stop_word ? j->stop_word : "");
        cJSON_AddItemToObject(o, "tokens", r->return_tokens ? tokens_array(j->out, j->n_out) : cJSON_CreateArray());
        if (r->logprobs)
            cJSON_AddItemToObject(o, "completion_probabilities", srv_logprobs_native(j, 0, j->n_lp));
        add_timings(o, j);
        return o;
    }
    int chat = r->ep == SRV_EP_CHAT;
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "object", chat ? "chat.completion" : "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)time(NULL));
    cJSON_AddStringToObject(o, "model", S->model_id);
    cJSON_AddStringToObject(o, "system_fingerprint", "g4plug");
    cJSON *ch = cJSON_AddArrayToObject(o, "choices"), *c0 = cJSON_CreateObject();
    cJSON_AddItemToArray(ch, c0);
    cJSON_AddNumberToObject(c0, "index", 0);
    int n_calls = 0;
    if (chat) {
        cJSON *m = cJSON_AddObjectToObject(c0, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        n_calls = srv_chat_message(j, m, 0); /* content, reasoning_content, tool_calls */
        if (r->logprobs)
            cJSON_AddItemToObject(c0, "logprobs", srv_logprobs_chat(j, 0, j->n_lp));
    } else {
        add_text(c0, "text", j->text.s, j->text.n);
        if (r->logprobs)
            cJSON_AddItemToObject(c0, "logprobs", srv_logprobs_legacy(j, 0, j->n_lp));
        else
            cJSON_AddNullToObject(c0, "logprobs");
    }
    cJSON_AddStringToObject(c0, "finish_reason", n_calls ? "tool_calls" : srv_finish_reason(j));
    if (r->return_tokens)
        cJSON_AddItemToObject(o, "tokens", tokens_array(j->out, j->n_out));
    add_usage(o, j);
    add_timings(o, j);
    return o;
}

/* ---- streaming ---------------------------------------------------------------------------- */

typedef struct stream {
    srv *S;
    srv_request req;
    srv_job job;
    char id[64];
    srv_buf out; /* formatted SSE bytes not yet handed to MHD */
    size_t off;
    int started, finished;
    srv_watch *watch; /* cancels the generation when the client goes away */
} stream;

static void *stream_worker(void *arg)
{
    stream *st = arg;
    srv_job_run(&st->job);
    return NULL;
}

static void sse_add(stream *st, cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        return;
    srv_buf_add(&st->out, "data: ", 6);
    srv_buf_add(&st->out, s, strlen(s));
    srv_buf_add(&st->out, "\n\n", 2);
    free(s);
}

/* A chunk carrying `delta` text (NULL finish) or the final chunk (finish != NULL). */
static cJSON *chunk(stream *st, const char *delta, size_t n, const char *finish, int first)
{
    srv_request *r = &st->req;
    cJSON *o = cJSON_CreateObject();
    srv_job *j = &st->job;
    size_t lp_to = j->n_lp; /* logprobs of the tokens not yet streamed (the caller holds j->mu) */
    if (r->ep == SRV_EP_COMPLETION) {
        add_text(o, "content", delta, n);
        cJSON_AddBoolToObject(o, "stop", finish != NULL);
        cJSON_AddNumberToObject(o, "id_slot", st->job.slot ? st->job.slot->id : 0);
        if (r->logprobs && !finish) {
            cJSON_AddItemToObject(o, "completion_probabilities", srv_logprobs_native(j, j->split.lp_sent, lp_to));
            j->split.lp_sent = lp_to;
        }
        return o;
    }
    int chat = r->ep == SRV_EP_CHAT;
    cJSON_AddStringToObject(o, "id", st->id);
    cJSON_AddStringToObject(o, "object", chat ? "chat.completion.chunk" : "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)time(NULL));
    cJSON_AddStringToObject(o, "model", st->S->model_id);
    cJSON_AddStringToObject(o, "system_fingerprint", "g4plug");
    cJSON *ch = cJSON_AddArrayToObject(o, "choices"), *c0 = cJSON_CreateObject();
    cJSON_AddItemToArray(ch, c0);
    cJSON_AddNumberToObject(c0, "index", 0);
    if (chat) {
        cJSON *d = cJSON_AddObjectToObject(c0, "delta");
        if (first)
            cJSON_AddStringToObject(d, "role", "assistant");
        if (!finish && !first) /* content, reasoning_content and tool-call deltas (srv_chat_out.c) */
            srv_chat_delta(j, j->text.s, j->ready, j->done, d, 0);
        if (r->logprobs && !finish && !first) {
            cJSON_AddItemToObject(c0, "logprobs", srv_logprobs_chat(j, j->split.lp_sent, lp_to));
            j->split.lp_sent = lp_to;
        }
    } else {
        add_text(c0, "text", delta, n);
        if (r->logprobs && !finish) {
            cJSON_AddItemToObject(c0, "logprobs", srv_logprobs_legacy(j, j->split.lp_sent, lp_to));
            j->split.lp_sent = lp_to;
        } else {
            cJSON_AddNullToObject(c0, "logprobs");
        }
    }
    if (finish)
        cJSON_AddStringToObject(c0, "finish_reason", finish);
    else
        cJSON_AddNullToObject(c0, "finish_reason");
    return o;
}

/* A chat chunk whose delta carries nothing (and no logprobs). */
static int srv_chunk_is_empty(const cJSON *o)
{
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "choices"), 0);
    const cJSON *d = cJSON_GetObjectItem(c0, "delta");
    return d && !d->child && !cJSON_GetObjectItem(c0, "logprobs");
}

/* Fill st->out with the next event(s); blocks until the worker has something. */
static void stream_next(stream *st)
{
    srv_job *j = &st->job;
    if (!st->started) {
        st->started = 1;
        if (st->req.ep == SRV_EP_CHAT) { /* OpenAI clients expect the role first */
            sse_add(st, chunk(st, "", 0, NULL, 1));
            return;
        }
    }
    pthread_mutex_lock(&j->mu);
    while (!j->done && j->ready <= j->sent)
        pthread_cond_wait(&j->cv, &j->mu);
    if (j->ready > j->sent) {
        cJSON *o = chunk(st, j->text.s + j->sent, j->ready - j->sent, NULL, 0);
        j->sent = j->ready;
        pthread_mutex_unlock(&j->mu);
        if (st->req.ep == SRV_EP_CHAT && srv_chunk_is_empty(o))
            cJSON_Delete(o); /* the splitter holds the text back (a tool call in progress) */
        else
            sse_add(st, o);
        return;
    }
    pthread_mutex_unlock(&j->mu);
    /* done and everything sent */
    if (j->has_thread) {
        pthread_join(j->th, NULL);
        j->has_thread = 0;
    }
    if (j->http_status) {
        cJSON *e = error_json((unsigned)j->http_status, j->err_type, j->errmsg);
        sse_add(st, e);
    } else if (st->req.ep == SRV_EP_COMPLETION) {
        cJSON *o = final_json(st->S, j, st->id);
        cJSON_ReplaceItemInObject(o, "content", cJSON_CreateString(""));
        sse_add(st, o);
    } else {
        if (st->req.ep == SRV_EP_CHAT && st->job.split.pos < j->text.n) {
            /* the splitter's held-back tail (an unfinished marker or call) */
            cJSON *o = chunk(st, "", 0, NULL, 0);
            sse_add(st, o);
        }
        cJSON *o = chunk(st, NULL, 0, st->job.split.n_calls ? "tool_calls" : srv_finish_reason(j), 0);
        add_timings(o, j);
        add_usage(o, j); /* always, as llama-server does (include_usage or not) */
        sse_add(st, o);
    }
    if (st->req.ep != SRV_EP_COMPLETION)
        srv_buf_add(&st->out, "data: [DONE]\n\n", 14);
    st->finished = 1;
}

static void stream_next_cb(void *cls) { stream_next(cls); }

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream *st = cls;
    return srv_stream_read(&st->out, &st->off, &st->finished, stream_next_cb, st, buf, max);
}

/* MHD is done with the response (finished, or the client went away): stop and clean up. */
static void stream_free(void *cls)
{
    stream *st = cls;
    srv_job_abandon(&st->job, st->watch);
    srv_request_free(&st->req);
    free(st->out.s);
    free(st);
}

/* ---- endpoints ---------------------------------------------------------------------------- */

/* The watcher's cancel (server.h): the job's slot is fixed while it generates. */
void srv_job_cancel(void *ctx)
{
    srv_job *j = ctx;
    if (j->slot && j->slot->sess)
        j->S->A->session_cancel(j->slot->sess);
}

/* Bytes of text a request asks to tokenize (message contents or the prompt). */
static size_t request_text_bytes(const srv_request *r)
{
    size_t n = r->prompt ? strlen(r->prompt) : 0;
    for (size_t i = 0; i < r->n_msgs; i++)
        n += r->msgs[i].content ? strlen(r->msgs[i].content) : 0;
    return n;
}

static MHD_RESULT handle_generate(srv *S, struct MHD_Connection *c, srv_endpoint ep, conn *k)
{
    stream *st = calloc(1, sizeof *st);
    if (!st)
        return send_error(c, 500, "server_error", "out of memory");
    st->S = S;
    char err[512];
    if (srv_request_parse(ep, k->body.s, k->body.n, &S->lim, &st->req, err, sizeof err) != 0) {
        free(st);
        return send_error(c, 400, "invalid_request_error", err);
    }
    /* A text that cannot fit the context whatever its tokens are is refused before it is
     * tokenized: no token is longer than max_piece_bytes. */
    size_t text_bytes = request_text_bytes(&st->req);
    if (S->max_piece_bytes > 0 && text_bytes / (size_t)S->max_piece_bytes >= (size_t)S->n_ctx_slot) {
        snprintf(err, sizeof err,
                 "the prompt text (%zu bytes, at least %zu tokens) exceeds the context size (%d tokens)",
                 text_bytes, text_bytes / (size_t)S->max_piece_bytes, S->n_ctx_slot);
        srv_request_free(&st->req);
        free(st);
        return send_error(c, 400, "invalid_request_error", err);
    }
    make_id(S, ep == SRV_EP_CHAT ? "chatcmpl" : "cmpl", st->id, sizeof st->id);
    srv_job *j = &st->job;
    if (srv_job_start(S, j, &st->req) != 0) {
        MHD_RESULT ret = send_error(c, (unsigned)j->http_status, j->err_type, j->errmsg);
        srv_job_finish(j);
        srv_request_free(&st->req);
        free(st);
        return ret;
    }
    if (!st->req.stream) {
        /* a client that closes the connection cancels its generation (srv_conn.c) */
        srv_watch *w = srv_watch_start(srv_conn_fd(c), srv_job_cancel, j);
        srv_job_run(j);
        srv_watch_stop(w);
        MHD_RESULT ret = j->http_status ? send_error(c, (unsigned)j->http_status, j->err_type, j->errmsg)
                                        : send_json(c, 200, final_json(S, j, st->id));
        srv_job_finish(j);
        srv_request_free(&st->req);
        free(st);
        return ret;
    }
    if (pthread_create(&j->th, NULL, stream_worker, st) != 0) {
        srv_job_finish(j);
        srv_request_free(&st->req);
        free(st);
        return send_error(c, 500, "server_error", "cannot start a worker thread");
    }
    j->has_thread = 1;
    st->watch = srv_watch_start(srv_conn_fd(c), srv_job_cancel, j);
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader,
                                                               st, stream_free);
    if (!r) {
        stream_free(st);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "Server", "g4-server");
    srv_conn_add_cors(c, r);
    MHD_RESULT ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static MHD_RESULT handle_tokenize(srv *S, struct MHD_Connection *c, conn *k)
{
    srv_request rq;
    char err[512];
    if (srv_request_parse(SRV_EP_TOKENIZE, k->body.s, k->body.n, &S->lim, &rq, err, sizeof err) != 0)
        return send_error(c, 400, "invalid_request_error", err);
    uint32_t fl = (rq.add_special ? G4_TOKENIZE_ADD_BOS : 0) | (rq.parse_special ? G4_TOKENIZE_PARSE_SPECIAL : 0);
    size_t n = 0;
    int32_t *ids = srv_tokenize(S, rq.prompt, fl, &n, err, sizeof err);
    if (!ids) {
        srv_request_free(&rq);
        return send_error(c, 500, "server_error", err);
    }
    cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "tokens");
    for (size_t i = 0; i < n; i++) {
        if (!rq.with_pieces) {
            cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
            continue;
        }
        char piece[512];
        size_t len = 0;
        if (S->A->token_to_piece(S->model, ids[i], G4_DETOK_RENDER_SPECIAL, piece, sizeof piece - 1, &len) != G4_OK ||
            len >= sizeof piece)
            len = 0;
        piece[len] = '\0';
        cJSON *t = cJSON_CreateObject();
        cJSON_AddNumberToObject(t, "id", ids[i]);
        add_text(t, "piece", piece, len);
        cJSON_AddItemToArray(a, t);
    }
    free(ids);
    srv_request_free(&rq);
    return send_json(c, 200, o);
}

static MHD_RESULT handle_detokenize(srv *S, struct MHD_Connection *c, conn *k)
{
    srv_request rq;
    char err[512];
    if (srv_request_parse(SRV_EP_DETOKENIZE, k->body.s, k->body.n, &S->lim, &rq, err, sizeof err) != 0)
        return send_error(c, 400, "invalid_request_error", err);
    const g4_api_v1 *A = S->A;
    int32_t nv = A->vocab_size(S->model);
    for (size_t i = 0; i < rq.n_tokens; i++)
        if (rq.tokens[i] >= nv) {
            snprintf(err, sizeof err, "token id %d is out of range (vocabulary %d)", (int)rq.tokens[i], (int)nv);
            srv_request_free(&rq);
            return send_error(c, 400, "invalid_request_error", err);
        }
    size_t len = 0;
    char *buf = NULL;
    g4_status st = A->detokenize(S->model, rq.tokens, rq.n_tokens, G4_DETOK_RENDER_SPECIAL, NULL, 0, &len);
    if (st == G4_OK || st == G4_ERR_BUFFER_TOO_SMALL) {
        buf = malloc(len + 1);
        st = buf ? A->detokenize(S->model, rq.tokens, rq.n_tokens, G4_DETOK_RENDER_SPECIAL, buf, len + 1, &len)
                 : G4_ERR_OUT_OF_MEMORY;
    }
    srv_request_free(&rq);
    if (st != G4_OK) {
        free(buf);
        snprintf(err, sizeof err, "detokenize: %s: %s", A->status_name(st), A->last_error());
        return send_error(c, 500, "server_error", err);
    }
    buf[len] = '\0';
    cJSON *o = cJSON_CreateObject();
    add_text(o, "content", buf, len);
    free(buf);
    return send_json(c, 200, o);
}

static MHD_RESULT handle_models(srv *S, struct MHD_Connection *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *d = cJSON_AddArrayToObject(o, "data"), *m = cJSON_CreateObject();
    cJSON_AddItemToArray(d, m);
    cJSON_AddStringToObject(m, "id", S->model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)time(NULL));
    cJSON_AddStringToObject(m, "owned_by", "g4plug");
    cJSON *meta = cJSON_AddObjectToObject(m, "meta");
    cJSON_AddNumberToObject(meta, "n_vocab", S->info.n_vocab);
    cJSON_AddNumberToObject(meta, "n_ctx_train", S->info.n_ctx_train);
    cJSON_AddNumberToObject(meta, "n_ctx", S->n_ctx_slot);
    cJSON_AddNumberToObject(meta, "n_embd", S->info.n_embd);
    cJSON_AddNumberToObject(meta, "n_params", (double)S->info.n_params);
    cJSON_AddNumberToObject(meta, "size", (double)S->info.weight_bytes);
    cJSON *caps = cJSON_AddArrayToObject(m, "capabilities");
    cJSON_AddItemToArray(caps, cJSON_CreateString("completion"));
    if (S->info.capabilities & G4_MODEL_HAS_VISION)
        cJSON_AddItemToArray(caps, cJSON_CreateString("vision"));
    if (S->info.capabilities & G4_MODEL_HAS_AUDIO)
        cJSON_AddItemToArray(caps, cJSON_CreateString("audio"));
    return send_json(c, 200, o);
}

static MHD_RESULT handle_props(srv *S, struct MHD_Connection *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *g = cJSON_AddObjectToObject(o, "default_generation_settings");
    cJSON_AddNumberToObject(g, "n_ctx", S->n_ctx_slot);
    cJSON_AddNumberToObject(o, "total_slots", S->cfg.n_parallel);
    cJSON_AddStringToObject(o, "model_alias", S->model_id);
    cJSON_AddStringToObject(o, "model_path", S->model_id); /* the alias: never the server's file system */
    const char *tmpl = S->A->chat_template ? S->A->chat_template(S->model) : NULL;
    cJSON_AddStringToObject(o, "chat_template", tmpl ? tmpl : "");
    cJSON *mod = cJSON_AddObjectToObject(o, "modalities");
    cJSON_AddBoolToObject(mod, "vision", (S->info.capabilities & G4_MODEL_HAS_VISION) != 0);
    cJSON_AddBoolToObject(mod, "audio", (S->info.capabilities & G4_MODEL_HAS_AUDIO) != 0);
    char v[64];
    snprintf(v, sizeof v, "g4plug %s", S->A->version_string());
    cJSON_AddStringToObject(o, "build_info", v);
    return send_json(c, 200, o);
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static MHD_RESULT on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                             const char *version, const char *upload_data, size_t *upload_data_size,
                             void **con_cls)
{
    (void)version;
    srv *S = cls;
    conn *k = *con_cls;
    if (!k) {
        if (!(k = calloc(1, sizeof *k)))
            return MHD_NO;
        *con_cls = k;
        /* Refuse an announced oversized body before reading it. */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > S->cfg.max_body) {
            k->too_big = 1;
            return send_error(c, 413, "invalid_request_error", "request body too large");
        }
        if (!strcmp(method, "OPTIONS"))
            return srv_conn_preflight(c);
        char herr[256];
        int hs = srv_conn_check_headers(c, method, !S->cfg.any_content_type, herr, sizeof herr);
        if (hs) {
            k->too_big = 1; /* discard the body */
            return send_error(c, (unsigned)hs, "invalid_request_error", herr);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!k->too_big && k->body.n + *upload_data_size > S->cfg.max_body) {
            k->too_big = 1;
            free(k->body.s);
            memset(&k->body, 0, sizeof k->body);
        }
        /* the body counts against the server's memory budget as it arrives */
        if (!k->too_big && srv_budget_take(&S->budget, *upload_data_size) == 0) {
            k->reserved += *upload_data_size;
        } else if (!k->too_big) {
            k->too_big = 2; /* budget spent: 503 below */
            free(k->body.s);
            memset(&k->body, 0, sizeof k->body);
        }
        if (!k->too_big && srv_buf_add(&k->body, upload_data, *upload_data_size))
            k->too_big = 1;
        *upload_data_size = 0; /* consumed (or discarded) */
        return MHD_YES;
    }
    {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        srv_conns_received(&S->conns, ci ? ci->socket_context : NULL); /* no receive deadline now */
    }
    if (k->too_big == 2)
        return send_error(c, 503, "unavailable_error", "server memory budget exhausted, retry later");
    if (k->too_big)
        return send_error(c, 413, "invalid_request_error", "request body too large");
    if (!k->body.s && srv_buf_add(&k->body, "", 0))
        return MHD_NO;
    /* Reserve the estimated work for this body (parse, tokenization) before doing it. */
    uint64_t est = srv_budget_estimate(k->body.n);
    if (est > k->reserved) {
        if (srv_budget_take(&S->budget, est - k->reserved) != 0)
            return send_error(c, 503, "unavailable_error", "server memory budget exhausted, retry later");
        k->reserved = est;
    }

    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    if (!strcmp(url, "/health") || !strcmp(url, "/v1/health")) {
        int st = atomic_load(&S->state);
        if (st == SRV_READY && !atomic_load(&S->stopping))
            return send_text(c, 200, "application/json; charset=utf-8", strdup("{\"status\":\"ok\"}"));
        return send_error(c, 503, "unavailable_error", st == SRV_LOADING ? "Loading model" : "Unavailable");
    }
    int is_models = !strcmp(url, "/v1/models") || !strcmp(url, "/models");
    /* like llama-server, health and the model list are public */
    if (!is_models && !authorized(S, c))
        return send_error(c, 401, "authentication_error", "Invalid API Key");
    if (atomic_load(&S->state) != SRV_READY)
        return send_error(c, 503, "unavailable_error", "Loading model");
    if (atomic_load(&S->stopping))
        return send_error(c, 503, "unavailable_error", "server is shutting down");

    if (!strncmp(url, "/api/", 5) || !strcmp(url, "/apply-template")) /* srv_ollama.c */
        return srv_route_extra(S, c, url, method, k->body.s, k->body.n);

    static const struct {
        const char *path;
        int post;
        int ep;
    } routes[] = {
        {"/v1/chat/completions", 1, SRV_EP_CHAT},
        {"/chat/completions", 1, SRV_EP_CHAT},
        {"/v1/completions", 1, SRV_EP_OAI_COMPLETION},
        {"/completions", 1, SRV_EP_OAI_COMPLETION},
        {"/completion", 1, SRV_EP_COMPLETION},
        {"/tokenize", 1, SRV_EP_TOKENIZE},
        {"/detokenize", 1, SRV_EP_DETOKENIZE},
        {"/v1/models", 0, -1},
        {"/models", 0, -1},
        {"/props", 0, -2},
    };
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        if (strcmp(url, routes[i].path) != 0)
            continue;
        if (routes[i].post ? !post : !get)
            return send_error(c, 405, "invalid_request_error", "method not allowed");
        switch (routes[i].ep) {
        case -1:
            return handle_models(S, c);
        case -2:
            return handle_props(S, c);
        case SRV_EP_TOKENIZE:
            return handle_tokenize(S, c, k);
        case SRV_EP_DETOKENIZE:
            return handle_detokenize(S, c, k);
        default:
            return handle_generate(S, c, (srv_endpoint)routes[i].ep, k);
        }
    }
    char msg[320];
    snprintf(msg, sizeof msg, "unsupported endpoint %.8s %.200s (see docs/SERVER.md for what g4-server serves)",
             method, url);
    return send_error(c, 404, "not_found_error", msg);
}

/* ---- loading ------------------------------------------------------------------------------ */

static int32_t G4_CALL load_progress(void *ud, float p)
{
    (void)p;
    srv *S = ud;
    return !atomic_load(&S->stopping); /* Ctrl-C while loading cancels the load */
}

static void G4_CALL lib_log(void *ud, int32_t level, const char *msg)
{
    (void)ud;
    fprintf(stderr, "g4plug[%d]: %s\n", (int)level, msg);
}

static void *loader(void *arg)
{
    srv *S = arg;
    const g4_api_v1 *A = S->A;
    g4_load_params p;
    G4DL_INIT(A, load_params, &p);
    p.model = S->cfg.model;
    p.mmproj = S->cfg.mmproj;
    p.draft = S->cfg.draft;
    p.n_threads = S->cfg.n_threads;
    p.n_ctx = S->cfg.n_ctx;
    p.flags = S->cfg.load_flags;
    if (g4_mm_precision_apply(&p, S->cfg.mm_precision) != 0)
        fprintf(stderr, "g4-server: warning: --mm-precision needs a 1.1 library; the encoders stay f32\n");
    p.progress = load_progress;
    p.progress_user_data = S;
    if (S->cfg.verbose) {
        p.log = lib_log;
        p.log_level = G4_LOG_INFO;
    }
    g4_model *m = NULL;
    double t_load = srv_now();
    g4_status st = A->load(&p, &m);
    S->load_seconds = srv_now() - t_load;
    if (st != G4_OK) {
        snprintf(S->load_error, sizeof S->load_error, "cannot load %s: %s: %s", S->cfg.model,
                 A->status_name(st), A->last_error());
        goto fail;
    }
    S->model = m;
    memset(&S->info, 0, sizeof S->info);
    S->info.struct_size = sizeof S->info;
    A->model_get_info(m, &S->info);
    for (int i = 0; i < S->cfg.n_parallel; i++) {
        g4_session_params sp;
        G4DL_INIT(A, session_params, &sp);
        sp.n_ctx = S->cfg.n_ctx;
        sp.n_threads = S->cfg.n_threads;
        if (sp.struct_size >= offsetof(g4_session_params, kv_type_v) + sizeof sp.kv_type_v) { /* 1.1 library */
            sp.kv_type_k = S->cfg.cache_k;
            sp.kv_type_v = S->cfg.cache_v;
        }
        S->slots[i].id = i;
        st = A->session_new(m, &sp, &S->slots[i].sess);
        if (st == G4_ERR_INVALID_ARGUMENT && sp.struct_size >= offsetof(g4_session_params, kv_type_v) + sizeof sp.kv_type_v &&
            (sp.kv_type_k == G4_KV_TYPE_Q8_0 || sp.kv_type_v == G4_KV_TYPE_Q8_0)) {
            /* q8_0 needs head dims that are multiples of 32 (every real Gemma 4 has them); launchers
             * such as Ollama pass one cache type for every model, so fall back rather than refuse */
            if (i == 0)
                fprintf(stderr, "g4-server: warning: %s; the KV cache uses f16 instead of q8_0\n", A->last_error());
            if (sp.kv_type_k == G4_KV_TYPE_Q8_0)
                sp.kv_type_k = S->cfg.cache_k = G4_KV_TYPE_F16;
            if (sp.kv_type_v == G4_KV_TYPE_Q8_0)
                sp.kv_type_v = S->cfg.cache_v = G4_KV_TYPE_F16;
            st = A->session_new(m, &sp, &S->slots[i].sess);
        }
        if (st != G4_OK) {
            snprintf(S->load_error, sizeof S->load_error, "session %d: %s: %s", i, A->status_name(st),
                     A->last_error());
            goto fail;
        }
    }
    S->n_ctx_slot = A->session_n_ctx(S->slots[0].sess);
    /* The longest token text: a text of B bytes has at least B / that many tokens. */
    int32_t nv = A->vocab_size(m);
    for (int32_t t = 0; t < nv; t++) {
        char piece[8];
        size_t plen = 0;
        g4_status ps = A->token_to_piece(m, t, 0, piece, sizeof piece, &plen);
        if ((ps == G4_OK || ps == G4_ERR_BUFFER_TOO_SMALL) && (int)plen > S->max_piece_bytes)
            S->max_piece_bytes = (int)plen;
    }
    fprintf(stderr, "g4-server: model %s loaded (%s, %s, %d slots x %d context, %s%s)\n", S->model_id,
            S->info.variant, S->info.isa, S->cfg.n_parallel, S->n_ctx_slot,
            S->info.capabilities & G4_MODEL_HAS_VISION ? "vision " : "",
            S->info.capabilities & G4_MODEL_HAS_AUDIO ? "audio" : "");
    atomic_store(&S->state, SRV_READY);
    return NULL;
fail:
    atomic_store(&S->state, SRV_FAILED);
    kill(getpid(), SIGUSR1); /* wake main's sigwait: a server without a model exits */
    return NULL;
}

/* ---- command line ------------------------------------------------------------------------- */

static const char *k_usage =
    "usage: g4-server -m MODEL [options]\n"
    "\n"
    "An OpenAI / llama-server compatible HTTP server for Gemma 4 on libg4plug.\n"
    "\n"
    "  -m,  --model PATH        GGUF model (or LM Studio folder / Ollama name)\n"
    "       --mmproj PATH       vision/audio projector\n"
    "       --mm-precision P    encoders' arithmetic: f32 (default, exact), bf16 or q8 (faster)\n"
    "  -md, --model-draft PATH  MTP drafter (speculative decoding; also --spec-draft-model)\n"
    "       --spec-type draft-mtp, --spec-draft-n-max N / --draft-max N\n"
    "                           drafting as Ollama launches llama-server (N: tokens per round;\n"
    "                           default adaptive)\n"
    "       --host ADDR         address to bind (default 127.0.0.1)\n"
    "       --port N            port (default 8080; 0 = any free port, printed on stderr)\n"
    "  -c,  --ctx-size N        context per slot (default: the model's, at most 8192)\n"
    "  -t,  --threads N         worker threads per step (default: performance cores)\n"
    "  -np, --parallel N        concurrent slots (default 1)\n"
    "  -ctk, --cache-type-k T   KV cache type for K: f16 (default), f32, bf16, q8_0\n"
    "  -ctv, --cache-type-v T   the same for V\n"
    "       --queue N           requests that may wait for a slot (default 32; then 503)\n"
    "       --api-key KEY       require 'Authorization: Bearer KEY' (also $G4_API_KEY)\n"
    "       --timeout S         per-request time limit and idle connection timeout (default 600)\n"
    "       --max-body BYTES    largest request body (default 33554432; then 413)\n"
    "       --max-conn N        simultaneous connections (default 64)\n"
    "       --recv-timeout S    a whole request (headers and body) must arrive within S seconds\n"
    "                           (default 30; 0 = no limit); near --max-conn the slowest\n"
    "                           receiver is dropped to keep room for new connections\n"
    "       --mem-budget MIB    memory all requests in flight may reserve (default: half the\n"
    "                           RAM, at most 8192; 0 = unlimited); then 503\n"
    "       --cors-origin O     allow browser pages from origin O ('*' = any) to call the API\n"
    "                           (default: no CORS, cross-site pages get no answers)\n"
    "       --any-content-type  accept POST bodies not labelled application/json (unsafe)\n"
    "       --special-in-content  parse control tokens typed into chat messages, as\n"
    "                           llama-server does (unsafe: a user can fake a system turn)\n"
    "  -a,  --alias NAME        model id reported by /v1/models\n"
    "       --no-mmap, --mlock  weight loading\n"
    "       --lib PATH          libg4plug to use (default: $G4PLUG_LIB, next to g4-server, ...)\n"
    "  -v,  --verbose           library log on stderr\n"
    "\n"
    "llama-server options without meaning here (-ngl, -fa, --jinja, -b, -ub, ...) are accepted\n"
    "and ignored. See docs/SERVER.md.\n";

/* llama-server flags hosts pass that do not apply: name and number of values. */
static const struct {
    const char *name;
    int nval;
} k_ignored[] = {
    {"-ngl", 1}, {"--n-gpu-layers", 1}, {"--gpu-layers", 1}, {"-b", 1}, {"--batch-size", 1},
    {"-ub", 1}, {"--ubatch-size", 1}, {"--jinja", 0}, {"--no-webui", 0}, {"--cont-batching", 0},
    {"-cb", 0}, {"--metrics", 0}, {"--slots", 0}, {"--no-slots", 0}, {"--log-disable", 0},
    {"--embedding", 0}, {"--embeddings", 0}, {"--reasoning-format", 1}, {"--reasoning-budget", 1},
    {"--split-mode", 1},
    {"-sm", 1}, {"--main-gpu", 1}, {"-mg", 1}, {"--tensor-split", 1}, {"-ts", 1}, {"--seed", 1},
    {"-s", 1}, {"--no-warmup", 0}, {"--keep", 1}, {"--defrag-thold", 1}, {"-dt", 1},
    {"--numa", 1}, {"--log-file", 1}, {"--log-colors", 0}, {"--offline", 0}, {"--no-context-shift", 0},
    {"--context-shift", 0}, {"--chat-template", 1}, {"--rope-scaling", 1}, {"--swa-full", 0},
    {"--kv-unified", 0}, {"-kvu", 0}, {"--no-kv-offload", 0}, {"-nkvo", 0}, {"--prio", 1},
    {"-tb", 1}, {"--threads-batch", 1}, {"-dev", 1}, {"--device", 1},
    {"--draft-min", 1}, {"--spec-draft-n-min", 1}, {"--spec-draft-backend-sampling", 0}, {"--draft-p-min", 1}, {"-ngld", 1}, {"--n-gpu-layers-draft", 1},
    {"-cram", 1}, {"--cache-ram", 1}, {"--cache-reuse", 1},
};

static void usage_exit(int code, const char *fmt, const char *arg)
{
    if (fmt) {
        fprintf(stderr, "g4-server: ");
        fprintf(stderr, fmt, arg);
        fputc('\n', stderr);
    }
    fputs(k_usage, code ? stderr : stdout);
    exit(code);
}

static long num_arg(const char *opt, const char *v, long lo, long hi)
{
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || !end || *end || end == v || x < lo || x > hi)
        usage_exit(2, "bad value for %s", opt);
    return x;
}

static void parse_args(int argc, char **argv, srv_config *c)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define IS(x, y) (!strcmp(a, x) || !strcmp(a, y))
#define VAL() (i + 1 < argc ? argv[++i] : (usage_exit(2, "%s needs a value", a), ""))
        if (IS("-h", "--help"))
            usage_exit(0, NULL, NULL);
        else if (IS("-m", "--model"))
            c->model = VAL();
        else if (IS("--mmproj", "-mm"))
            c->mmproj = VAL();
        else if (IS("--mm-precision", "--mm-precision")) {
            c->mm_precision = g4_mm_precision_parse(VAL());
            if (c->mm_precision < 0)
                usage_exit(2, "%s: expected f32, bf16 or q8", a);
        }
        else if (IS("-md", "--model-draft") || IS("--spec-draft-model", "--model-draft"))
            c->draft = VAL();
        else if (IS("--spec-type", "--spec-type")) {
            /* Ollama: --spec-type draft-mtp (the MTP drafter given by --spec-draft-model) */
            const char *v = VAL();
            if (strcmp(v, "draft-mtp") && strcmp(v, "mtp") && strcmp(v, "none"))
                fprintf(stderr, "g4-server: --spec-type %s is not supported (draft-mtp is); drafting only with "
                                "an MTP drafter\n", v);
            if (!strcmp(v, "none"))
                c->n_draft = 0;
        } else if (IS("--spec-draft-n-max", "--draft-max") || IS("--draft-n", "--draft"))
            c->n_draft = (int)num_arg(a, VAL(), 0, 64);
        else if (IS("--host", "--host"))
            c->host = VAL();
        else if (IS("--port", "--port"))
            c->port = (int)num_arg(a, VAL(), 0, 65535);
        else if (IS("-c", "--ctx-size"))
            c->n_ctx = (int)num_arg(a, VAL(), 0, 1 << 24);
        else if (IS("-t", "--threads"))
            c->n_threads = (int)num_arg(a, VAL(), -1, 4096);
        else if (IS("-ctk", "--cache-type-k") || IS("-ctv", "--cache-type-v")) {
            const char *v = VAL();
            int t = g4_cache_type_parse(v);
            if (t < 0)
                usage_exit(2, "bad cache type for %s (f32, f16, bf16, q8_0)", a);
            if (IS("-ctk", "--cache-type-k"))
                c->cache_k = t;
            else
                c->cache_v = t;
        } else if (IS("-np", "--parallel"))
            c->n_parallel = (int)num_arg(a, VAL(), -1, 256);
        else if (IS("--queue", "--queue"))
            c->queue_max = (int)num_arg(a, VAL(), 0, 100000);
        else if (IS("--api-key", "--api-key"))
            c->api_key = VAL();
        else if (IS("--timeout", "-to"))
            c->timeout_s = (int)num_arg(a, VAL(), 0, 1 << 24);
        else if (IS("--max-body", "--max-body"))
            /* 1 TiB where long has 64 bits; LONG_MAX on Windows (LLP64) */
            c->max_body = (size_t)num_arg(a, VAL(), 1024, (long)(sizeof(long) > 4 ? 1LL << 40 : 0x7fffffffLL));
        else if (IS("--max-conn", "--max-conn"))
            c->max_conn = (int)num_arg(a, VAL(), 1, 100000);
        else if (IS("-a", "--alias"))
            c->alias = VAL();
        else if (IS("--recv-timeout", "--recv-timeout"))
            c->recv_timeout_s = (int)num_arg(a, VAL(), 0, 1 << 24);
        else if (IS("--mem-budget", "--mem-budget"))
            c->mem_budget = (uint64_t)num_arg(a, VAL(), 0, 1L << 30) << 20;
        else if (IS("--cors-origin", "--cors-origin"))
            c->cors_origin = VAL();
        else if (IS("--any-content-type", "--any-content-type"))
            c->any_content_type = 1;
        else if (IS("--special-in-content", "--special-in-content"))
            c->special_in_content = 1;
        else if (IS("--lib", "--lib"))
            c->lib = VAL();
        else if (IS("--no-mmap", "--no-mmap"))
            c->load_flags |= G4_LOAD_NO_MMAP;
        else if (IS("--mlock", "--mlock"))
            c->load_flags |= G4_LOAD_MLOCK;
        else if (IS("-v", "--verbose"))
            c->verbose = 1;
        else if (IS("-fa", "--flash-attn")) {
            /* newer llama-server: -fa on|off|auto; older: a bare switch */
            if (i + 1 < argc && (!strcmp(argv[i + 1], "on") || !strcmp(argv[i + 1], "off") ||
                                 !strcmp(argv[i + 1], "auto")))
                i++;
        } else {
            size_t k = 0;
            for (; k < sizeof k_ignored / sizeof *k_ignored; k++)
                if (!strcmp(a, k_ignored[k].name))
                    break;
            if (k < sizeof k_ignored / sizeof *k_ignored) {
                for (int v = 0; v < k_ignored[k].nval; v++)
                    (void)VAL();
            } else if (a[0] == '-') {
                fprintf(stderr, "g4-server: ignoring unknown option '%s'\n", a);
            } else {
                usage_exit(2, "unexpected argument '%s'", a);
            }
        }
#undef VAL
#undef IS
    }
}

/* ---- main --------------------------------------------------------------------------------- */

static int resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc != 0 || !res) {
        fprintf(stderr, "g4-server: cannot resolve host '%s': %s\n", host, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void *second_signal(void *arg)
{
    sigset_t *set = arg;
    int sig;
    sigwait(set, &sig);
    fprintf(stderr, "g4-server: second signal, exiting now\n");
    _exit(130);
}

int main(int argc, char **argv)
{
    srv *S = calloc(1, sizeof *S);
    if (!S)
        return 1;
    srv_config *c = &S->cfg;
    c->host = "127.0.0.1";
    c->port = 8080;
    c->n_parallel = 1;
    c->cache_k = c->cache_v = G4_HOST_DEFAULT_CACHE_TYPE;
    c->queue_max = 32;
    c->timeout_s = 600;
    c->max_conn = 64;
    c->max_body = (size_t)32 << 20;
    c->recv_timeout_s = 30;
    c->mem_budget = srv_budget_default();
    c->n_draft = -1;
    c->api_key = getenv("G4_API_KEY");
    parse_args(argc, argv, c);
    srv_budget_init(&S->budget, c->mem_budget);
    if (!c->model)
        usage_exit(2, "no model: use -m MODEL%s", "");
    if (c->n_parallel <= 0)
        c->n_parallel = 1;
    if (c->n_threads < 0)
        c->n_threads = 0;
    srv_limits_default(&S->lim);
    const char *base = strrchr(c->model, '/');
    snprintf(S->model_id, sizeof S->model_id, "%s", c->alias ? c->alias : base ? base + 1 : c->model);

    char err[4096];
    if (g4dl_open(c->lib, &S->dl, err, sizeof err) != 0) {
        fprintf(stderr, "g4-server: %s\n", err);
        return 2;
    }
    S->A = S->dl.api;
    if (!S->A->load || !S->A->session_new || !S->A->step || !S->A->tokenize || !S->A->sampler_new) {
        fprintf(stderr, "g4-server: %s lacks the model entry points\n", S->dl.path);
        return 2;
    }
    S->slots = calloc((size_t)c->n_parallel, sizeof *S->slots);
    if (!S->slots)
        return 1;
    pthread_mutex_init(&S->mu, NULL);
    pthread_cond_init(&S->cv, NULL);

    /* All threads inherit this mask: signals reach only main's sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_storage addr;
    socklen_t alen = 0;
    if (resolve(c->host, c->port, &addr, &alen) != 0)
        return 2;
    /* Headroom: 1/8 of the connections (at least 1) stay free for new clients. */
    if (srv_conns_start(&S->conns, c->max_conn, c->max_conn >= 4 ? (c->max_conn + 7) / 8 : 0,
                        c->recv_timeout_s) != 0) {
        fprintf(stderr, "g4-server: cannot start the connection reaper\n");
        return 1;
    }
    S->conns.cors_origin = c->cors_origin;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)c->port, NULL, NULL, on_request, S, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, S, MHD_OPTION_CONNECTION_LIMIT, (unsigned)c->max_conn,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->timeout_s, MHD_OPTION_NOTIFY_CONNECTION, srv_conns_notify,
        &S->conns, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "g4-server: cannot listen on %s:%d: %s\n", c->host, c->port, strerror(errno));
        return 2;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    int port = di ? di->port : c->port;
    /* the same words llama-server prints: some launchers wait for this line */
    fprintf(stderr, "main: server is listening on http://%s:%d - starting the main loop\n", c->host, port);
    fflush(stderr);

    pthread_t lt;
    if (pthread_create(&lt, NULL, loader, S) != 0) {
        fprintf(stderr, "g4-server: cannot start the loader thread\n");
        MHD_stop_daemon(d);
        return 1;
    }
    int sig = 0;
    sigwait(&set, &sig);
    int code = 0;
    if (sig == SIGUSR1 && atomic_load(&S->state) == SRV_FAILED) {
        fprintf(stderr, "g4-server: %s\n", S->load_error);
        code = 1;
    } else {
        fprintf(stderr, "g4-server: signal %d, shutting down\n", sig);
    }
    pthread_t st2;
    sigdelset(&set, SIGUSR1);
    pthread_create(&st2, NULL, second_signal, &set);
    pthread_detach(st2);

    /* Stop accepting, end running generations (they answer with what they have), wait for
     * every connection thread, then free. */
    atomic_store(&S->stopping, 1);
    MHD_quiesce_daemon(d);
    pthread_join(lt, NULL);
    pthread_mutex_lock(&S->mu);
    for (int i = 0; i < c->n_parallel; i++)
        if (S->slots[i].busy && S->slots[i].sess)
            S->A->session_cancel(S->slots[i].sess);
    pthread_cond_broadcast(&S->cv);
    pthread_mutex_unlock(&S->mu);
    /* Grace period: let cancelled requests send their last event (a stream's [DONE]) before
     * MHD_stop_daemon closes the sockets. Slots are released when a response has been sent. */
    for (int waited = 0; waited < 100; waited++) {
        int busy = 0;
        pthread_mutex_lock(&S->mu);
        for (int i = 0; i < c->n_parallel; i++)
            busy |= S->slots[i].busy;
        busy |= S->n_waiting > 0;
        pthread_mutex_unlock(&S->mu);
        if (!busy)
            break;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(d);
    srv_conns_stop(&S->conns);
    for (int i = 0; i < c->n_parallel; i++) {
        S->A->session_free(S->slots[i].sess);
        free(S->slots[i].cache);
    }
    free(S->slots);
    S->A->model_free(S->model);
    /* No g4dl_close: the process is ending, and unloading would only turn the library's
     * process-lifetime allocations into leak reports under LeakSanitizer. */
    free(S);
    fprintf(stderr, "g4-server: bye\n");
    return code;
}

/* ---- for the other server files (srv_http.h) ---------------------------------------------- */

cJSON *srv_add_text(cJSON *o, const char *name, const char *s, size_t n) { return add_text(o, name, s, n); }
MHD_RESULT srv_send_json(struct MHD_Connection *c, unsigned code, cJSON *j) { return send_json(c, code, j); }
MHD_RESULT srv_send_error(struct MHD_Connection *c, unsigned code, const char *type, const char *msg)
{
    return send_error(c, code, type, msg);
}
void srv_add_usage_timings(cJSON *o, const srv_job *j)
{
    add_usage(o, j);
    add_timings(o, j);
}
