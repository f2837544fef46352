/* g4-server: Ollama's native API (/api/chat, /api/generate, /api/tags, /api/show, /api/ps,
 * /api/version) and llama-server's /apply-template.
 *
 * An Ollama request is translated into the equivalent OpenAI body and parsed by the one request
 * parser (srv_request_parse), so every option is validated in one place; answers are Ollama's
 * shapes: one JSON object, or NDJSON lines when streaming (Ollama's default), the last with
 * done_reason and durations in nanoseconds. Errors are {"error": "..."} as Ollama sends them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "srv_http.h"
#include "srv_ollama_request.h"

#define OLLAMA_VERSION "0.13.0" /* the API level implemented here */

static MHD_RESULT oerr(struct MHD_Connection *c, unsigned code, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    return srv_send_json(c, code, o);
}

static void iso_now(char *buf, size_t n, double ahead_s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    time_t t = ts.tv_sec + (time_t)ahead_s;
    struct tm tm;
#ifdef _WIN32
    gmtime_s(&tm, &t);
#else
    gmtime_r(&t, &tm);
#endif
    char d[32];
    strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, n, "%s.%09ldZ", d, ts.tv_nsec);
}

static const cJSON *field(const cJSON *o, const char *k)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, k);
    return f && !cJSON_IsNull(f) ? f : NULL;
}

/* ---- answers ------------------------------------------------------------------------------ */

typedef struct ostream {
    srv *S;
    srv_request req;
    srv_job job;
    int generate; /* /api/generate: "response" instead of "message" */
    srv_buf out;
    size_t off, sent;
    int finished;
    srv_watch *watch; /* cancels the generation when the client goes away (srv_conn.c) */
} ostream;

static const char *done_reason(const srv_job *j) { return j->stop_type == SRV_STOP_LIMIT ? "length" : "stop"; }

static cJSON *head(ostream *os)
{
    char ts[64];
    iso_now(ts, sizeof ts, 0);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", os->S->model_id);
    cJSON_AddStringToObject(o, "created_at", ts);
    return o;
}

static void add_done(ostream *os, cJSON *o)
{
    srv_job *j = &os->job;
    cJSON_AddBoolToObject(o, "done", 1);
    cJSON_AddStringToObject(o, "done_reason", done_reason(j));
    double total = j->t_end - j->t0, prompt = j->t_prefill - j->t0, eval = j->t_end - j->t_prefill;
    cJSON_AddNumberToObject(o, "total_duration", (double)(long long)(total * 1e9));
    cJSON_AddNumberToObject(o, "load_duration", (double)(long long)(os->S->load_seconds * 1e9));
    cJSON_AddNumberToObject(o, "prompt_eval_count", (double)j->n_ids);
    cJSON_AddNumberToObject(o, "prompt_eval_duration", (double)(long long)(prompt * 1e9));
    cJSON_AddNumberToObject(o, "eval_count", j->n_sampled);
    cJSON_AddNumberToObject(o, "eval_duration", (double)(long long)(eval * 1e9));
}

/* the message (chat) or response/thinking (generate) fields of a whole answer */
static void add_answer(ostream *os, cJSON *o)
{
    srv_job *j = &os->job;
    if (os->req.ep == SRV_EP_COMPLETION) { /* raw generate */
        srv_add_text(o, "response", j->text.s, j->text.n);
        return;
    }
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "assistant");
    srv_chat_message(j, m, 1);
    if (!os->generate) {
        cJSON_AddItemToObject(o, "message", m);
        return;
    }
    cJSON *c = cJSON_DetachItemFromObject(m, "content"), *t = cJSON_DetachItemFromObject(m, "thinking");
    cJSON_AddItemToObject(o, "response", c ? c : cJSON_CreateString(""));
    if (t)
        cJSON_AddItemToObject(o, "thinking", t);
    cJSON_Delete(m);
}

static void nd_add(ostream *os, cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        return;
    srv_buf_add(&os->out, s, strlen(s));
    srv_buf_add(&os->out, "\n", 1);
    free(s);
}

static void *worker(void *arg)
{
    ostream *os = arg;
    srv_job_run(&os->job);
    return NULL;
}

static void ostream_next(ostream *os)
{
    srv_job *j = &os->job;
    pthread_mutex_lock(&j->mu);
    while (!j->done && j->ready <= os->sent)
        pthread_cond_wait(&j->cv, &j->mu);
    if (j->ready > os->sent && !j->done) {
        cJSON *o = head(os);
        cJSON *delta = cJSON_CreateObject();
        if (os->req.ep == SRV_EP_COMPLETION)
            srv_add_text(delta, "content", j->text.s + os->sent, j->ready - os->sent);
        else
            srv_chat_delta(j, j->text.s, j->ready, 0, delta, 1);
        os->sent = j->ready;
        size_t lp_to = j->n_lp;
        cJSON *lps = os->req.logprobs && lp_to > j->split.lp_sent ? srv_logprobs_ollama(j, j->split.lp_sent, lp_to) : NULL;
        j->split.lp_sent = lp_to;
        pthread_mutex_unlock(&j->mu);
        if (os->generate || os->req.ep == SRV_EP_COMPLETION) {
            cJSON *c = cJSON_DetachItemFromObject(delta, "content"), *t = cJSON_DetachItemFromObject(delta, "thinking");
            cJSON_AddItemToObject(o, "response", c ? c : cJSON_CreateString(""));
            if (t)
                cJSON_AddItemToObject(o, "thinking", t);
            cJSON_Delete(delta);
        } else {
            cJSON_AddStringToObject(delta, "role", "assistant");
            if (!cJSON_GetObjectItem(delta, "content"))
                cJSON_AddStringToObject(delta, "content", "");
            cJSON_AddItemToObject(o, "message", delta);
        }
        if (lps)
            cJSON_AddItemToObject(o, "logprobs", lps);
        cJSON_AddBoolToObject(o, "done", 0);
        nd_add(os, o);
        return;
    }
    pthread_mutex_unlock(&j->mu);
    if (j->has_thread) {
        pthread_join(j->th, NULL);
        j->has_thread = 0;
    }
    if (j->http_status) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "error", j->errmsg);
        nd_add(os, e);
    } else {
        /* what the splitter still holds, then the closing line with the statistics */
        cJSON *o = head(os), *delta = cJSON_CreateObject();
        if (os->req.ep == SRV_EP_COMPLETION)
            srv_add_text(delta, "content", j->text.s + os->sent, j->text.n - os->sent);
        else
            srv_chat_delta(j, j->text.s, j->text.n, 1, delta, 1);
        if (os->generate || os->req.ep == SRV_EP_COMPLETION) {
            cJSON *c = cJSON_DetachItemFromObject(delta, "content"), *t = cJSON_DetachItemFromObject(delta, "thinking");
            cJSON_AddItemToObject(o, "response", c ? c : cJSON_CreateString(""));
            if (t)
                cJSON_AddItemToObject(o, "thinking", t);
            cJSON_Delete(delta);
        } else {
            cJSON_AddStringToObject(delta, "role", "assistant");
            if (!cJSON_GetObjectItem(delta, "content"))
                cJSON_AddStringToObject(delta, "content", "");
            cJSON_AddItemToObject(o, "message", delta);
        }
        if (os->req.logprobs && j->n_lp > j->split.lp_sent)
            cJSON_AddItemToObject(o, "logprobs", srv_logprobs_ollama(j, j->split.lp_sent, j->n_lp));
        add_done(os, o);
        nd_add(os, o);
    }
    os->finished = 1;
}

static void ostream_next_cb(void *cls) { ostream_next(cls); }

static ssize_t ostream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    ostream *os = cls;
    return srv_stream_read(&os->out, &os->off, &os->finished, ostream_next_cb, os, buf, max);
}

static void ostream_free(void *cls)
{
    ostream *os = cls;
    srv_job_abandon(&os->job, os->watch);
    srv_request_free(&os->req);
    free(os->out.s);
    free(os);
}

static MHD_RESULT generate(srv *S, struct MHD_Connection *c, const char *body, size_t len, int gen)
{
    cJSON *in = cJSON_ParseWithLength(body, len);
    if (!in || !cJSON_IsObject(in)) {
        cJSON_Delete(in);
        return oerr(c, 400, "request body is not a JSON object");
    }
    char err[512] = "";
    srv_endpoint ep;
    int stream;
    cJSON *oai = srv_ollama_translate(in, gen, &ep, &stream, err, sizeof err);
    /* /api/generate with no prompt loads the model (a "warm-up" call): answer done at once */
    int warmup = gen && !field(in, "prompt") && !field(in, "images");
    cJSON_Delete(in);
    if (!oai)
        return oerr(c, 400, err);
    if (warmup) {
        cJSON_Delete(oai);
        char ts[64];
        iso_now(ts, sizeof ts, 0);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", S->model_id);
        cJSON_AddStringToObject(o, "created_at", ts);
        cJSON_AddStringToObject(o, "response", "");
        cJSON_AddBoolToObject(o, "done", 1);
        cJSON_AddStringToObject(o, "done_reason", "load");
        return srv_send_json(c, 200, o);
    }
    char *txt = cJSON_PrintUnformatted(oai);
    cJSON_Delete(oai);
    ostream *os = calloc(1, sizeof *os);
    if (!txt || !os) {
        cJSON_free(txt);
        free(os);
        return oerr(c, 500, "out of memory");
    }
    os->S = S;
    os->generate = gen;
    int rc = srv_request_parse(ep, txt, strlen(txt), &S->lim, &os->req, err, sizeof err);
    cJSON_free(txt);
    if (rc) {
        free(os);
        return oerr(c, 400, err);
    }
    srv_job *j = &os->job;
    if (srv_job_start(S, j, &os->req) != 0) {
        MHD_RESULT r = oerr(c, (unsigned)j->http_status, j->errmsg);
        srv_job_finish(j);
        srv_request_free(&os->req);
        free(os);
        return r;
    }
    if (!stream) {
        /* a client that closes the connection cancels its generation, as on /v1 */
        srv_watch *w = srv_watch_start(srv_conn_fd(c), srv_job_cancel, j);
        srv_job_run(j);
        srv_watch_stop(w);
        MHD_RESULT r;
        if (j->http_status) {
            r = oerr(c, (unsigned)j->http_status, j->errmsg);
        } else {
            cJSON *o = head(os);
            add_answer(os, o);
            if (os->req.logprobs)
                cJSON_AddItemToObject(o, "logprobs", srv_logprobs_ollama(j, 0, j->n_lp));
            add_done(os, o);
            r = srv_send_json(c, 200, o);
        }
        srv_job_finish(j);
        srv_request_free(&os->req);
        free(os);
        return r;
    }
    if (pthread_create(&j->th, NULL, worker, os) != 0) {
        srv_job_finish(j);
        srv_request_free(&os->req);
        free(os);
        return oerr(c, 500, "cannot start a worker thread");
    }
    j->has_thread = 1;
    os->watch = srv_watch_start(srv_conn_fd(c), srv_job_cancel, j);
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, ostream_reader, os,
                                                               ostream_free);
    if (!r) {
        ostream_free(os);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-ndjson");
    MHD_add_response_header(r, "Server", "g4-server");
    MHD_RESULT ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---- model information -------------------------------------------------------------------- */

static cJSON *details(srv *S)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "parent_model", "");
    cJSON_AddStringToObject(d, "format", "gguf");
    cJSON_AddStringToObject(d, "family", S->info.arch[0] ? S->info.arch : "gemma4");
    cJSON *fam = cJSON_AddArrayToObject(d, "families");
    cJSON_AddItemToArray(fam, cJSON_CreateString(S->info.arch[0] ? S->info.arch : "gemma4"));
    cJSON_AddStringToObject(d, "parameter_size", S->info.variant);
    char q[64] = "";
    size_t ql = 0;
    if (S->A->model_meta(S->model, "general.file_type", q, sizeof q, &ql) != G4_OK)
        q[0] = '\0';
    cJSON_AddStringToObject(d, "quantization_level", q);
    return d;
}

static cJSON *model_entry(srv *S, int running)
{
    char ts[64];
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "name", S->model_id);
    cJSON_AddStringToObject(m, "model", S->model_id);
    if (running) {
        iso_now(ts, sizeof ts, 24 * 3600.0 * 365);
        cJSON_AddNumberToObject(m, "size", (double)S->info.mem_estimate);
        cJSON_AddStringToObject(m, "digest", "");
        cJSON_AddItemToObject(m, "details", details(S));
        cJSON_AddStringToObject(m, "expires_at", ts);
        cJSON_AddNumberToObject(m, "size_vram", 0);
        cJSON_AddNumberToObject(m, "context_length", S->n_ctx_slot);
    } else {
        iso_now(ts, sizeof ts, 0);
        cJSON_AddStringToObject(m, "modified_at", ts);
        cJSON_AddNumberToObject(m, "size", (double)S->info.weight_bytes);
        cJSON_AddStringToObject(m, "digest", "");
        cJSON_AddItemToObject(m, "details", details(S));
    }
    return m;
}

static MHD_RESULT show(srv *S, struct MHD_Connection *c, const char *body, size_t len)
{
    cJSON *in = cJSON_ParseWithLength(body, len);
    const cJSON *name = in ? field(in, "model") : NULL;
    if (!name)
        name = in ? field(in, "name") : NULL;
    if (!name || !cJSON_IsString(name)) {
        cJSON_Delete(in);
        return oerr(c, 400, "'model' is required");
    }
    cJSON_Delete(in);
    cJSON *o = cJSON_CreateObject();
    const char *tmpl = S->A->chat_template ? S->A->chat_template(S->model) : NULL;
    cJSON_AddStringToObject(o, "license", "");
    cJSON_AddStringToObject(o, "modelfile", "");
    cJSON_AddStringToObject(o, "parameters", "");
    cJSON_AddStringToObject(o, "template", tmpl ? tmpl : "");
    cJSON_AddItemToObject(o, "details", details(S));
    cJSON *mi = cJSON_AddObjectToObject(o, "model_info");
    cJSON_AddStringToObject(mi, "general.architecture", S->info.arch);
    cJSON_AddNumberToObject(mi, "general.parameter_count", (double)S->info.n_params);
    char k[64];
    snprintf(k, sizeof k, "%s.context_length", S->info.arch);
    cJSON_AddNumberToObject(mi, k, S->info.n_ctx_train);
    snprintf(k, sizeof k, "%s.embedding_length", S->info.arch);
    cJSON_AddNumberToObject(mi, k, S->info.n_embd);
    snprintf(k, sizeof k, "%s.block_count", S->info.arch);
    cJSON_AddNumberToObject(mi, k, S->info.n_layer);
    cJSON *caps = cJSON_AddArrayToObject(o, "capabilities");
    cJSON_AddItemToArray(caps, cJSON_CreateString("completion"));
    if (G4_API_HAS(S->A, chat_format_json)) {
        cJSON_AddItemToArray(caps, cJSON_CreateString("tools"));
        cJSON_AddItemToArray(caps, cJSON_CreateString("thinking"));
    }
    if (S->info.capabilities & G4_MODEL_HAS_VISION)
        cJSON_AddItemToArray(caps, cJSON_CreateString("vision"));
    if (S->info.capabilities & G4_MODEL_HAS_AUDIO)
        cJSON_AddItemToArray(caps, cJSON_CreateString("audio"));
    char ts[64];
    iso_now(ts, sizeof ts, 0);
    cJSON_AddStringToObject(o, "modified_at", ts);
    return srv_send_json(c, 200, o);
}

/* llama-server's /apply-template: the prompt a chat body renders to, without generating. */
static MHD_RESULT apply_template(srv *S, struct MHD_Connection *c, const char *body, size_t len)
{
    srv_request rq;
    char err[512];
    if (srv_request_parse(SRV_EP_CHAT, body, len, &S->lim, &rq, err, sizeof err) != 0)
        return srv_send_error(c, 400, "invalid_request_error", err);
    const g4_api_v1 *A = S->A;
    if (!G4_API_HAS(A, chat_format_json) || !rq.messages_json) {
        srv_request_free(&rq);
        return srv_send_error(c, 501, "not_supported_error", "/apply-template needs a library with ABI 1.1");
    }
    uint32_t fl = G4_CHAT_ADD_GENERATION_PROMPT | (rq.enable_thinking ? G4_CHAT_ENABLE_THINKING : 0);
    size_t n = 0, ml = strlen(rq.messages_json), tl = rq.tools_json ? strlen(rq.tools_json) : 0;
    char *text = NULL;
    g4_status st = A->chat_format_json(S->model, rq.messages_json, ml, rq.tools_json, tl, fl, NULL, 0, &n);
    if (st == G4_OK || st == G4_ERR_BUFFER_TOO_SMALL) {
        text = malloc(n + 1);
        st = text ? A->chat_format_json(S->model, rq.messages_json, ml, rq.tools_json, tl, fl, text, n + 1, &n)
                  : G4_ERR_OUT_OF_MEMORY;
    }
    srv_request_free(&rq);
    if (st != G4_OK) {
        free(text);
        snprintf(err, sizeof err, "chat format: %s", A->last_error());
        return srv_send_error(c, 400, "invalid_request_error", err);
    }
    cJSON *o = cJSON_CreateObject();
    srv_add_text(o, "prompt", text, n);
    free(text);
    return srv_send_json(c, 200, o);
}

MHD_RESULT srv_route_extra(srv *S, struct MHD_Connection *c, const char *url, const char *method, const char *body,
                           size_t len)
{
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    if (!strcmp(url, "/apply-template"))
        return post ? apply_template(S, c, body, len) : srv_send_error(c, 405, "invalid_request_error", "method not allowed");
    if (!strcmp(url, "/api/version") && get) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "version", OLLAMA_VERSION);
        return srv_send_json(c, 200, o);
    }
    if ((!strcmp(url, "/api/tags") || !strcmp(url, "/api/ps")) && get) {
        cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "models");
        cJSON_AddItemToArray(a, model_entry(S, url[5] == 'p'));
        return srv_send_json(c, 200, o);
    }
    if (!strcmp(url, "/api/show") && post)
        return show(S, c, body, len);
    if (!strcmp(url, "/api/chat") && post)
        return generate(S, c, body, len, 0);
    if (!strcmp(url, "/api/generate") && post)
        return generate(S, c, body, len, 1);
    char msg[512];
    snprintf(msg, sizeof msg,
             "unsupported endpoint %.8s %.200s: g4-server serves /api/chat, /api/generate, /api/tags, /api/show, "
             "/api/ps, /api/version (one loaded model; no pull/push/create/delete)",
             method, url);
    return oerr(c, 404, msg);
}
