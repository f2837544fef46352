/* ABI entry points for models and sessions: argument checking, then the internal calls. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "draft/draft.h"
#include "grammar/grammar.h"
#include "model/session.h"

#define LOAD_PARAMS_V1_SIZE G4_V1_0_SIZE(g4_load_params, max_memory)
#define SESSION_PARAMS_V1_SIZE G4_V1_0_SIZE(g4_session_params, flags)
#define MODEL_INFO_V1_SIZE G4_V1_0_SIZE(g4_model_info, mem_estimate)
#define BATCH_V1_SIZE G4_V1_0_SIZE(g4_batch, reserved)

/* ---- models -------------------------------------------------------------------------------- */

static void load_params_defaults(g4_load_params *p)
{
    memset(p, 0, sizeof *p);
    p->struct_size = (uint32_t)sizeof *p;
    p->log_level = G4_LOG_INFO;
}

G4_DEFINE_STRUCT_INIT(g4_load_params, LOAD_PARAMS_V1_SIZE, load_params_defaults)

G4_API g4_status G4_CALL g4_load(const g4_load_params *p, g4_model **out)
{
    g4_clear_error();
    if (!out)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_load: out is NULL");
    *out = NULL;
    g4_load_params in;
    load_params_defaults(&in);
    g4_status st = g4_struct_in(&in, sizeof in, p, LOAD_PARAMS_V1_SIZE, "g4_load_params");
    if (st)
        return st;
    p = &in;
    if (!p->model || !*p->model)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_load_params.model is NULL or empty");
    if (p->mm_precision < G4_MM_PRECISION_F32 || p->mm_precision > G4_MM_PRECISION_Q8)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_load_params.mm_precision is %d: not a G4_MM_PRECISION_* value",
                       (int)p->mm_precision);
    if (p->n_threads < 0 || p->n_ctx < 0)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_load_params: n_threads (%d) and n_ctx (%d) must be >= 0",
                       p->n_threads, p->n_ctx);
    if (p->flags & ~(uint32_t)(G4_LOAD_NO_MMAP | G4_LOAD_MLOCK | G4_LOAD_NO_MEMCHECK | G4_LOAD_VOCAB_ONLY))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_load_params.flags has unknown bits 0x%x", p->flags);
    static const g4_drafter_loader drafter = {g4_drafter_load, g4_drafter_free};
    return g4_model_load(p, &drafter, out);
}

G4_API void G4_CALL g4_model_free(g4_model *m)
{
    g4_clear_error();
    if (m && !g4_model_live(m)) { /* double free or a foreign pointer: refuse, don't corrupt */
        g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_model_free: not a live model handle (freed twice?)");
        return;
    }
    if (m) /* the grammar's cache on the model (token_trie.c) is the grammar's to free */
        g4_token_trie_free(atomic_load(&m->token_trie));
    g4_model_destroy(m);
}

G4_API g4_status G4_CALL g4_model_get_info(const g4_model *m, g4_model_info *out)
{
    g4_clear_error();
    if (!g4_model_live(m))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_model_get_info: model is NULL or not a live handle");
    /* An output struct: a newer host's larger struct is fine (we fill what we know and leave the
     * rest alone); an older host's smaller one gets only its prefix. */
    g4_status st = g4_check_out_struct(out, MODEL_INFO_V1_SIZE, "g4_model_info");
    if (st)
        return st;
    g4_model_info info, *host = out;
    memset(&info, 0, sizeof info);
    out = &info;
    out->capabilities = m->capabilities;
    if (m->draft)
        out->capabilities |= G4_MODEL_HAS_DRAFT;
    out->n_vocab = m->hp.n_vocab;
    out->n_embd = m->hp.n_embd;
    out->n_layer = m->hp.n_layer;
    out->n_ctx_train = m->hp.n_ctx_train;
    out->n_ctx_default = m->n_ctx_default;
    out->n_threads = m->n_threads;
    snprintf(out->arch, sizeof out->arch, "gemma4");
    snprintf(out->name, sizeof out->name, "%s", m->name);
    snprintf(out->variant, sizeof out->variant, "%s", m->variant);
    snprintf(out->isa, sizeof out->isa, "%s", g4k_isa_name(g4k_active_isa()));
    out->n_params = m->n_params;
    out->weight_bytes = m->weight_bytes;
    if (!m->vocab_only) {
        out->mem_estimate = m->weight_bytes + (uint64_t)m->head_extra_bytes + /* the packed LM head */
                            g4_model_kv_bytes(m, m->n_ctx_default, &out->kv_bytes_per_token, &out->kv_bytes_fixed) +
                            g4_model_scratch_bytes(m);
    }
    /* Write only what the host's struct holds (an older, smaller g4_model_info). */
    g4_struct_out(host, &info, sizeof info);
    return G4_OK;
}

/* Appends printf output at *pos, tracking the full length even past cap. */
typedef struct textbuf {
    char *buf;
    size_t cap, len;
} textbuf;

static void tb_put(textbuf *t, const char *s, size_t n)
{
    if (t->len < t->cap) {
        size_t room = t->cap - t->len;
        memcpy(t->buf + t->len, s, n < room ? n : room);
    }
    t->len += n;
}

static void tb_printf(textbuf *t, const char *fmt, ...) G4_PRINTF(2, 3);
static void tb_printf(textbuf *t, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        tb_put(t, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void render_scalar(textbuf *t, uint32_t type, const void *p)
{
    switch (type) {
    case G4_GGUF_UINT8: tb_printf(t, "%u", (unsigned)*(const uint8_t *)p); break;
    case G4_GGUF_INT8: tb_printf(t, "%d", (int)*(const int8_t *)p); break;
    case G4_GGUF_UINT16: { uint16_t v; memcpy(&v, p, 2); tb_printf(t, "%u", (unsigned)v); break; }
    case G4_GGUF_INT16: { int16_t v; memcpy(&v, p, 2); tb_printf(t, "%d", (int)v); break; }
    case G4_GGUF_UINT32: { uint32_t v; memcpy(&v, p, 4); tb_printf(t, "%u", v); break; }
    case G4_GGUF_INT32: { int32_t v; memcpy(&v, p, 4); tb_printf(t, "%d", v); break; }
    case G4_GGUF_UINT64: { uint64_t v; memcpy(&v, p, 8); tb_printf(t, "%llu", (unsigned long long)v); break; }
    case G4_GGUF_INT64: { int64_t v; memcpy(&v, p, 8); tb_printf(t, "%lld", (long long)v); break; }
    case G4_GGUF_FLOAT32: { float v; memcpy(&v, p, 4); tb_printf(t, "%.9g", (double)v); break; }
    case G4_GGUF_FLOAT64: { double v; memcpy(&v, p, 8); tb_printf(t, "%.17g", v); break; }
    case G4_GGUF_BOOL: tb_printf(t, "%s", *(const uint8_t *)p ? "true" : "false"); break;
    default: tb_printf(t, "?"); break;
    }
}

G4_API g4_status G4_CALL g4_model_meta(const g4_model *m, const char *key, char *buf, size_t cap,
                                       size_t *len)
{
    g4_clear_error();
    if (!g4_model_live(m) || !key || !len || (!buf && cap))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_model_meta: model, key and len must not be NULL (buf only with cap 0)");
    const g4_gguf_kv *kv = g4_gguf_find_kv(m->gguf, key);
    if (!kv)
        return g4_fail(G4_ERR_NOT_FOUND, "metadata key '%s' not found", key);
    textbuf t = {buf, cap ? cap - 1 : 0, 0};
    if (kv->type == G4_GGUF_STRING) {
        g4_gguf_str s;
        if (g4_gguf_get_str(m->gguf, key, &s) == 0)
            tb_put(&t, s.ptr, (size_t)s.len);
    } else if (kv->type == G4_GGUF_ARRAY) {
        const uint64_t shown = 16;
        tb_put(&t, "[", 1);
        for (uint64_t i = 0; i < kv->arr_len && i < shown; i++) {
            if (i)
                tb_put(&t, ", ", 2);
            if (kv->arr_type == G4_GGUF_STRING) {
                g4_gguf_str s;
                if (g4_gguf_arr_str(kv, i, &s) == 0) {
                    tb_put(&t, "\"", 1);
                    tb_put(&t, s.ptr, (size_t)(s.len > 64 ? 64 : s.len));
                    tb_put(&t, "\"", 1);
                }
            } else {
                double f;
                int64_t v;
                if (kv->arr_type == G4_GGUF_FLOAT32 || kv->arr_type == G4_GGUF_FLOAT64) {
                    if (g4_gguf_arr_f64(kv, i, &f) == 0)
                        tb_printf(&t, "%.9g", f);
                } else if (kv->arr_type == G4_GGUF_BOOL) {
                    if (g4_gguf_arr_i64(kv, i, &v) == 0)
                        tb_printf(&t, "%s", v ? "true" : "false");
                } else if (g4_gguf_arr_i64(kv, i, &v) == 0) {
                    tb_printf(&t, "%lld", (long long)v);
                }
            }
        }
        if (kv->arr_len > shown)
            tb_printf(&t, ", ... (%llu items)", (unsigned long long)kv->arr_len);
        tb_put(&t, "]", 1);
    } else {
        render_scalar(&t, kv->type, kv->data);
    }
    *len = t.len;
    if (cap)
        buf[t.len < cap - 1 ? t.len : cap - 1] = '\0';
    if (t.len + 1 > cap)
        return g4_fail(G4_ERR_BUFFER_TOO_SMALL, "g4_model_meta: '%s' needs %zu bytes", key, t.len + 1);
    return G4_OK;
}

/* ---- sessions ------------------------------------------------------------------------------ */

static void session_params_defaults(g4_session_params *p)
{
    memset(p, 0, sizeof *p);
    p->struct_size = (uint32_t)sizeof *p;
}

G4_DEFINE_STRUCT_INIT(g4_session_params, SESSION_PARAMS_V1_SIZE, session_params_defaults)

G4_API g4_status G4_CALL g4_session_new(const g4_model *m, const g4_session_params *p, g4_session **out)
{
    g4_clear_error();
    if (!out)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_session_new: out is NULL");
    *out = NULL;
    if (!g4_model_live(m))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_session_new: model is NULL or not a live handle");
    g4_session_opts o = {0, 0, 0, -1, G4_TYPE_F32, G4_TYPE_F32};
    g4_session_params in;
    if (p) {
        session_params_defaults(&in);
        g4_status st = g4_struct_in(&in, sizeof in, p, SESSION_PARAMS_V1_SIZE, "g4_session_params");
        if (st)
            return st;
        p = &in;
        if (p->n_ctx < 0 || p->n_threads < 0)
            return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_session_params: n_ctx (%d) and n_threads (%d) must be >= 0",
                           p->n_ctx, p->n_threads);
        if (p->flags)
            return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_session_params.flags is reserved and must be 0");
        o.n_ctx = p->n_ctx;
        o.n_threads = p->n_threads;
        if (p->kv_type_k < 0 || p->kv_type_v < 0 || g4_kv_type_check(m, (uint32_t)p->kv_type_k) ||
            g4_kv_type_check(m, (uint32_t)p->kv_type_v)) {
            char why[256]; /* the check's reason, prefixed with the argument it is about */
            snprintf(why, sizeof why, "%s", p->kv_type_k < 0 || p->kv_type_v < 0 ? "negative" : g4_last_error());
            return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_session_params.kv_type_k/v (%d/%d): %s", p->kv_type_k,
                           p->kv_type_v, why);
        }
        o.kv_type_k = (uint32_t)p->kv_type_k;
        o.kv_type_v = (uint32_t)p->kv_type_v;
    }
    /* Refuse a context whose KV cache cannot fit before allocating it (as g4_load does). */
    if (!m->vocab_only && !(m->flags & G4_LOAD_NO_MEMCHECK)) {
        int32_t n_ctx = o.n_ctx > 0 ? o.n_ctx : m->n_ctx_default;
        uint64_t need =
            g4_model_kv_bytes_typed(m, n_ctx, o.kv_type_k, o.kv_type_v, NULL, NULL) + g4_model_scratch_bytes(m);
        uint64_t limit = m->max_memory ? m->max_memory : g4_physical_ram();
        if (limit && need > limit)
            return g4_fail(G4_ERR_OUT_OF_MEMORY,
                           "g4_session_new: a context of %d positions needs %.2f GiB of KV cache and scratch, "
                           "more than the %.2f GiB available; ask for a smaller n_ctx",
                           n_ctx, need / 1073741824.0, limit / 1073741824.0);
    }
    return g4_session_create(m, &o, out);
}

G4_API void G4_CALL g4_session_free(g4_session *s)
{
    g4_clear_error();
    if (s && !g4_session_live(s)) {
        g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_session_free: not a live session handle (freed twice?)");
        return;
    }
    g4_session_destroy(s);
}

G4_API g4_status G4_CALL g4_session_reset(g4_session *s)
{
    g4_clear_error();
    if (!g4_session_live(s))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_session_reset: session is NULL or not a live handle");
    g4_session_do_reset(s);
    return G4_OK;
}

G4_API int32_t G4_CALL g4_session_n_past(const g4_session *s)
{
    g4_clear_error();
    if (!g4_session_live(s)) {
        g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_session_n_past: session is NULL or not a live handle");
        return -1;
    }
    return s->n_past;
}

G4_API int32_t G4_CALL g4_session_n_ctx(const g4_session *s)
{
    g4_clear_error();
    if (!g4_session_live(s)) {
        g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_session_n_ctx: session is NULL or not a live handle");
        return -1;
    }
    return s->n_ctx;
}

G4_API g4_status G4_CALL g4_session_truncate(g4_session *s, int32_t n)
{
    g4_clear_error();
    if (!g4_session_live(s))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_session_truncate: session is NULL or not a live handle");
    return g4_session_do_truncate(s, n);
}

G4_API int32_t G4_CALL g4_session_min_rollback(const g4_session *s)
{
    g4_clear_error();
    if (!g4_session_live(s)) {
        g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_session_min_rollback: session is NULL or not a live handle");
        return -1;
    }
    return g4_session_min_pos(s);
}

/* Only an atomic store: safe from any thread and from a signal handler. */
G4_API void G4_CALL g4_session_cancel(g4_session *s)
{
    if (s)
        atomic_store(&s->cancel, 1);
}

static void batch_defaults(g4_batch *b)
{
    memset(b, 0, sizeof *b);
    b->struct_size = (uint32_t)sizeof *b;
}

G4_DEFINE_STRUCT_INIT(g4_batch, BATCH_V1_SIZE, batch_defaults)

G4_API g4_status G4_CALL g4_step(g4_session *s, const g4_batch *b)
{
    g4_clear_error();
    if (!g4_session_live(s))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_step: session is NULL or not a live handle");
    g4_batch in;
    batch_defaults(&in);
    g4_status st = g4_struct_in(&in, sizeof in, b, BATCH_V1_SIZE, "g4_batch");
    if (st)
        return st;
    return g4_session_step(s, &in, 0);
}

G4_API const float *G4_CALL g4_logits(const g4_session *s, int32_t i)
{
    g4_clear_error();
    return g4_session_live(s) ? g4_session_logits(s, i) : NULL;
}

G4_API const float *G4_CALL g4_hidden(const g4_session *s, int32_t i)
{
    g4_clear_error();
    if (!g4_session_live(s) || i < 0 || i >= s->out_n || !(s->out_want[i] & G4_OUT_HIDDEN))
        return NULL;
    return s->hidden + (size_t)i * s->m->hp.n_embd;
}

G4_API g4_status G4_CALL g4_session_capture_layers(g4_session *s, int32_t enable)
{
    g4_clear_error();
    if (!g4_session_live(s))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_session_capture_layers: session is NULL or not a live handle");
    s->capture = enable != 0;
    return G4_OK;
}

G4_API const float *G4_CALL g4_captured_layer(const g4_session *s, int32_t entry, int32_t i)
{
    g4_clear_error();
    if (!g4_session_live(s) || !s->captured_valid || entry < 0 || entry > s->m->hp.n_layer || i < 0 || i >= s->out_n)
        return NULL;
    return s->captured + ((size_t)entry * s->out_n + (size_t)i) * s->m->hp.n_embd;
}
