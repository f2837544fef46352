/* Sessions: KV cache, scratch, stepping a batch in chunks, rollback. */
#include <stdlib.h>
#include <string.h>

#include "model/attention.h"
#include "model/blocks.h"

/* ---- scratch ------------------------------------------------------------------------------- */

static void scratch_free(g4_scratch *sc)
{
    float **f[] = {&sc->x, &sc->a, &sc->o, &sc->f, &sc->q, &sc->k, &sc->v, &sc->att,
                   &sc->ff_gate, &sc->ff_up, &sc->ple, &sc->ple_tmp, &sc->router_logits,
                   &sc->sel_w, &sc->xe, &sc->xg, &sc->eo, &sc->moe};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        free(*f[i]);
        *f[i] = NULL;
    }
    free(sc->sel);
    free(sc->rows);
    sc->sel = sc->rows = NULL;
    sc->n_tok = 0;
}

static int grow(float **p, size_t n)
{
    float *q = realloc(*p, (n ? n : 1) * sizeof(float));
    if (!q)
        return -1;
    *p = q;
    return 0;
}

static int grow_i32(int32_t **p, size_t n)
{
    int32_t *q = realloc(*p, (n ? n : 1) * sizeof(int32_t));
    if (!q)
        return -1;
    *p = q;
    return 0;
}

/* Buffers for a chunk of n positions (grown, never shrunk). */
static g4_status scratch_reserve(g4_session *s, int32_t n)
{
    g4_scratch *sc = &s->sc;
    if (n <= sc->n_tok)
        return G4_OK;
    const g4_model *m = s->m;
    const g4_hparams *hp = &m->hp;
    size_t d = (size_t)hp->n_embd, N = (size_t)n;
    size_t qd = 0, kvd = 0, ffc = 0;
    for (int32_t l = 0; l < hp->n_layer; l++) {
        const g4_layer *L = &m->layers[l];
        size_t q = (size_t)hp->n_head * L->head_dim, kv = (size_t)L->n_head_kv * L->head_dim;
        qd = q > qd ? q : qd;
        kvd = kv > kvd ? kv : kvd;
        ffc = (size_t)L->n_ff > ffc ? (size_t)L->n_ff : ffc;
    }
    if ((size_t)hp->n_ff_expert * 2 > ffc)
        ffc = (size_t)hp->n_ff_expert * 2;
    if ((size_t)hp->n_embd_per_layer > ffc)
        ffc = (size_t)hp->n_embd_per_layer;
    size_t lp = (size_t)hp->n_layer * hp->n_embd_per_layer, E = (size_t)hp->n_expert,
           K = (size_t)hp->n_expert_used;
    int bad = grow(&sc->x, N * d) || grow(&sc->a, N * d) || grow(&sc->o, N * d) ||
              grow(&sc->f, N * d) || grow(&sc->q, N * qd) ||
              grow(&sc->k, N * kvd) || grow(&sc->v, N * kvd) || grow(&sc->att, N * qd) ||
              grow(&sc->ff_gate, N * ffc) || grow(&sc->ff_up, N * ffc);
    if (!bad && lp)
        bad = grow(&sc->ple, N * lp) || grow(&sc->ple_tmp, N * lp);
    if (!bad && E)
        bad = grow(&sc->router_logits, N * E) || grow_i32(&sc->sel, N * K) || grow(&sc->sel_w, N * K) ||
              grow_i32(&sc->rows, N) || grow(&sc->xe, N * d) || grow(&sc->xg, N * d) ||
              grow(&sc->eo, N * d) || grow(&sc->moe, N * d); /* an expert sees each token at most once */
    if (bad)
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory for the scratch of a %d-token chunk", n);
    sc->n_tok = n;
    return G4_OK;
}

/* Outputs for a batch of n positions. */
static g4_status outputs_reserve(g4_session *s, int32_t n, int32_t n_logit_rows)
{
    const g4_hparams *hp = &s->m->hp;
    size_t d = (size_t)hp->n_embd;
    if ((size_t)n > s->out_cap) {
        if (grow_i32(&s->out_logit_row, (size_t)n) || grow(&s->hidden, (size_t)n * d))
            return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory for the outputs of %d positions", n);
        uint8_t *w = realloc(s->out_want, (size_t)n);
        if (!w)
            return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory for the outputs of %d positions", n);
        s->out_want = w;
        s->out_cap = (size_t)n;
    }
    size_t need = (size_t)n_logit_rows * (size_t)hp->n_vocab;
    if (need > s->logits_cap) {
        if (grow(&s->logits, need))
            return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory for %d rows of logits", n_logit_rows);
        s->logits_cap = need;
    }
    if (s->capture) {
        size_t cn = (size_t)(hp->n_layer + 1) * (size_t)n * d;
        if (cn > s->captured_cap) {
            if (grow(&s->captured, cn))
                return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory capturing %d layers", hp->n_layer + 1);
            s->captured_cap = cn;
        }
    }
    return G4_OK;
}

/* Per-thread blocks for the tiled prompt attention, sized for the largest layer shape. */
static g4_status attn_tiles_alloc(g4_session *s)
{
    const g4_model *m = s->m;
    size_t per = 0;
    for (int32_t l = 0; l < m->hp.n_layer; l++) {
        const g4_layer *L = &m->layers[l];
        if (L->n_head_kv <= 0 || L->head_dim <= 0)
            continue;
        size_t f = g4_attn_prefill_floats(m->hp.n_head, L->n_head_kv, L->head_dim);
        per = f > per ? f : per;
    }
    per = (per + 15) & ~(size_t)15; /* whole 64-byte lines per thread */
    s->sc.attn_tiles_mem = malloc((size_t)s->sc.scores_threads * per * sizeof(float) + 64);
    if (!s->sc.attn_tiles_mem)
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory for attention tiles");
    s->sc.attn_tiles = (float *)(((uintptr_t)s->sc.attn_tiles_mem + 63) & ~(uintptr_t)63);
    s->sc.attn_tiles_stride = per;
    return G4_OK;
}

/* ---- create / destroy ---------------------------------------------------------------------- */

void g4_session_destroy(g4_session *s)
{
    if (!s)
        return;
    g4k_pool_free(s->pool);
    g4_kv_free(&s->kv);
    scratch_free(&s->sc);
    free(s->sc.scores);
    free(s->sc.attn_tiles_mem);
    free(s->out_logit_row);
    free(s->out_want);
    free(s->hidden);
    free(s->logits);
    free(s->captured);
    free(s->spans_tmp);
    g4_draft_state_free(&s->draft);
    s->magic = G4_DEAD_MAGIC;
    free(s);
}

g4_status g4_session_create(const g4_model *m, const g4_session_opts *o, g4_session **out)
{
    if (m->vocab_only)
        return g4_fail(G4_ERR_STATE, "the model was loaded with G4_LOAD_VOCAB_ONLY: no inference");
    g4_session *s = calloc(1, sizeof *s);
    if (!s)
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory");
    s->magic = G4_SESSION_MAGIC;
    g4_draft_state_reset(&s->draft);
    s->m = m;
    atomic_init(&s->cancel, 0);
    s->n_ctx = o->n_ctx > 0 ? o->n_ctx : m->n_ctx_default;
    s->n_threads = o->n_threads > 0 ? o->n_threads : m->n_threads;
    s->n_ubatch = o->n_ubatch > 0 ? o->n_ubatch : G4_DEFAULT_UBATCH;
    s->rollback_margin = o->rollback_margin >= 0 ? o->rollback_margin : G4_DEFAULT_ROLLBACK_MARGIN;
    if (m->hp.n_ctx_train > 0 && s->n_ctx > m->hp.n_ctx_train)
        g4_log(&m->log, G4_LOG_WARN, "session n_ctx %d exceeds the trained context %d", s->n_ctx,
               m->hp.n_ctx_train);

    g4_status st = G4_OK;
    s->pool = g4k_pool_new(s->n_threads);
    if (!s->pool) {
        st = g4_fail(G4_ERR_OUT_OF_MEMORY, "cannot create a thread pool of %d threads", s->n_threads);
        goto fail;
    }
    int32_t swa_cap = m->hp.n_swa - 1 + s->n_ubatch + s->rollback_margin;
    if ((st = g4_kv_type_check(m, o->kv_type_k)) || (st = g4_kv_type_check(m, o->kv_type_v)) ||
        (st = g4_kv_init(&s->kv, m, s->n_ctx, swa_cap, o->kv_type_k, o->kv_type_v)))
        goto fail;
    s->sc.scores_threads = g4k_pool_size(s->pool);
    /* the row attention scores a token's keys for all the query heads of a KV head at once
     * (block_attention.c): the largest group's heads x the context, per thread */
    int32_t max_group = 1;
    for (int32_t l = 0; l < m->hp.n_layer; l++)
        if (m->layers[l].n_head_kv > 0 && m->hp.n_head / m->layers[l].n_head_kv > max_group)
            max_group = m->hp.n_head / m->layers[l].n_head_kv;
    s->sc.scores_stride = (size_t)s->n_ctx * (size_t)(max_group < 64 ? max_group : 64);
    s->sc.scores = malloc((size_t)s->sc.scores_threads * s->sc.scores_stride * sizeof(float));
    if (!s->sc.scores) {
        st = g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory for attention scores");
        goto fail;
    }
    if ((st = attn_tiles_alloc(s)))
        goto fail;
    if ((st = scratch_reserve(s, 1)))
        goto fail;
    *out = s;
    return G4_OK;
fail:
    g4_session_destroy(s);
    return st;
}

/* ---- stepping ------------------------------------------------------------------------------ */

static g4_status check_batch(const g4_session *s, const g4_batch *b)
{
    const g4_hparams *hp = &s->m->hp;
    if (b->n_tokens <= 0)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_batch.n_tokens is %d; it must be at least 1", b->n_tokens);
    if (!b->tokens)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_batch.tokens is NULL");
    for (int32_t i = 0; i < b->n_tokens; i++)
        if (b->tokens[i] < 0 || b->tokens[i] >= hp->n_vocab)
            return g4_fail(G4_ERR_INVALID_ARGUMENT, "token %d at batch index %d is outside the vocabulary [0, %d)",
                           b->tokens[i], i, hp->n_vocab);
    if (b->n_spans < 0 || (b->n_spans > 0 && !b->spans))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_batch.spans is NULL or n_spans (%d) is negative", b->n_spans);
    int32_t end = 0;
    for (int32_t i = 0; i < b->n_spans; i++) {
        const g4_embd_span *sp = &b->spans[i];
        if (!g4_span_is_vision(sp->kind) && sp->kind != G4_SPAN_AUDIO)
            return g4_fail(G4_ERR_INVALID_ARGUMENT, "span %d has unknown kind %d", i, sp->kind);
        if (!sp->embd)
            return g4_fail(G4_ERR_INVALID_ARGUMENT, "span %d has no embeddings", i);
        if (sp->n <= 0 || sp->first < end || sp->first > b->n_tokens - sp->n)
            return g4_fail(G4_ERR_INVALID_ARGUMENT,
                           "span %d [%d, +%d) is empty, overlaps or is out of order, or runs past the batch (%d tokens)",
                           i, sp->first, sp->n, b->n_tokens);
        end = sp->first + sp->n;
    }
    if (b->n_tokens > s->n_ctx - s->n_past)
        return g4_fail(G4_ERR_CONTEXT_FULL, "the batch of %d tokens does not fit: %d of %d positions used",
                       b->n_tokens, s->n_past, s->n_ctx);
    return G4_OK;
}

/* End of the chunk starting at `start`: at most n_ubatch positions, but never splitting an image
 * span whose positions attend to each other bidirectionally. */
static int32_t chunk_end(const g4_session *s, const g4_batch *b, int32_t start)
{
    int32_t end = start + s->n_ubatch < b->n_tokens ? start + s->n_ubatch : b->n_tokens;
    if (!s->m->hp.bidir_vision)
        return end;
    for (int32_t i = 0; i < b->n_spans; i++) {
        const g4_embd_span *sp = &b->spans[i];
        if (g4_span_is_vision(sp->kind) && sp->first < end && sp->first + sp->n > end)
            return sp->first > start ? sp->first : sp->first + sp->n;
    }
    return end;
}

/* Chunk-local copies of the spans overlapping [start, end). */
static g4_status chunk_spans(g4_session *s, const g4_batch *b, int32_t start, int32_t end, int32_t *n_out)
{
    const int32_t d = s->m->hp.n_embd;
    if (b->n_spans > s->spans_tmp_cap) {
        g4_embd_span *p = realloc(s->spans_tmp, (size_t)b->n_spans * sizeof *p);
        if (!p)
            return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory");
        s->spans_tmp = p;
        s->spans_tmp_cap = b->n_spans;
    }
    int32_t k = 0;
    for (int32_t i = 0; i < b->n_spans; i++) {
        const g4_embd_span *sp = &b->spans[i];
        int32_t lo = sp->first > start ? sp->first : start;
        int32_t hi = sp->first + sp->n < end ? sp->first + sp->n : end;
        if (lo >= hi)
            continue;
        g4_embd_span *c = &s->spans_tmp[k++];
        *c = *sp;
        c->first = lo - start;
        c->n = hi - lo;
        c->embd = sp->embd + (size_t)(lo - sp->first) * d;
    }
    *n_out = k;
    return G4_OK;
}

g4_status g4_session_step(g4_session *s, const g4_batch *b, unsigned flags)
{
    const g4_model *m = s->m;
    const int32_t d = m->hp.n_embd, n = b->n_tokens;
    g4_status st = check_batch(s, b);
    if (st)
        return st;
    atomic_store(&s->cancel, 0);

    s->out_n = 0; /* outputs of the previous step are gone whatever happens */
    s->hid_n = 0;
    s->captured_valid = 0;
    int32_t n_rows = 0;
    for (int32_t i = 0; i < n; i++)
        n_rows += b->want ? (b->want[i] & G4_OUT_LOGITS) != 0 : i == n - 1;
    if ((st = outputs_reserve(s, n, n_rows)))
        return st;

    const int32_t n_past0 = s->n_past;
    for (int32_t start = 0; start < n;) {
        int32_t end = chunk_end(s, b, start), len = end - start;
        if (len > g4_kv_max_chunk(&s->kv) &&
            g4_kv_grow_swa(&s->kv, s->kv.n_swa - 1 + len + s->rollback_margin, s->n_past) != 0) {
            st = g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory growing the sliding-window cache for %d positions", len);
            break;
        }
        int32_t ns = 0;
        if ((st = scratch_reserve(s, len)) || (st = chunk_spans(s, b, start, end, &ns)))
            break;
        g4_chunk c = {
            .tokens = b->tokens + start, .n = len, .pos0 = s->n_past, .spans = s->spans_tmp, .n_spans = ns,
            .hidden_out = s->hidden + (size_t)start * d,
            .capture = s->capture ? s->captured + (size_t)start * d : NULL,
            .capture_stride_rows = n,
        };
        g4_kv_note_write(&s->kv, s->n_past, len); /* rows of the oldest positions get overwritten */
        if ((st = g4_forward_chunk(s, &c)))
            break;
        if (g4k_take_alloc_failure(s->pool)) {
            st = g4_fail(G4_ERR_OUT_OF_MEMORY, "g4_step: out of memory for kernel scratch buffers");
            break;
        }
        s->n_past += len;
        start = end;
    }
    if (st == G4_OK && atomic_load(&s->cancel))
        st = G4_ERR_CANCELLED;
    if (st) {
        s->n_past = n_past0; /* the cache is as before: positions >= n_past0 are simply unused */
        return st == G4_ERR_CANCELLED ? g4_fail(st, "g4_step cancelled; the session is back at %d positions", n_past0)
                                      : st;
    }

    /* logits of the requested rows: one LM-head matmul per run of consecutive rows */
    int32_t row = 0;
    for (int32_t i = 0; i < n; i++) {
        int wl = b->want ? (b->want[i] & G4_OUT_LOGITS) != 0 : i == n - 1;
        s->out_want[i] = (uint8_t)(b->want ? b->want[i] : (i == n - 1 ? G4_OUT_LOGITS : 0));
        s->out_logit_row[i] = wl ? row++ : -1;
    }
    for (int32_t i = 0; i < n;) {
        if (s->out_logit_row[i] < 0) {
            i++;
            continue;
        }
        int32_t j = i;
        while (j < n && s->out_logit_row[j] >= 0)
            j++;
        g4_forward_logits(s, s->hidden + (size_t)i * d, j - i,
                          s->logits + (size_t)s->out_logit_row[i] * m->hp.n_vocab,
                          (flags & G4_STEP_RAW_LOGITS) != 0);
        i = j;
    }
    if (g4k_take_alloc_failure(s->pool)) {
        s->n_past = n_past0;
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "g4_step: out of memory for kernel scratch buffers");
    }
    s->out_n = n;
    s->hid_pos0 = n_past0;
    s->hid_n = n;
    g4_draft_state_after_step(&s->draft, n_past0, s->n_past);
    s->captured_valid = s->capture;
    return G4_OK;
}

g4_status g4_session_do_truncate(g4_session *s, int32_t n)
{
    if (n < 0 || n > s->n_past)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "cannot truncate to %d: the session holds %d positions", n, s->n_past);
    int32_t lo = g4_kv_min_rollback(&s->kv, s->n_past);
    if (n < lo)
        return g4_fail(G4_ERR_STATE,
                       "cannot truncate to %d: the sliding-window cache only reaches back to %d "
                       "(g4_session_min_rollback)", n, lo);
    s->n_past = n;
    g4_session_invalidate_outputs(s);
    g4_draft_state_anchor(&s->draft, n - 1);
    return G4_OK;
}

void g4_session_invalidate_outputs(g4_session *s)
{
    s->out_n = 0;
    s->captured_valid = 0;
}

void g4_session_do_reset(g4_session *s)
{
    s->n_past = 0;
    g4_session_invalidate_outputs(s);
    s->hid_n = 0;
    g4_draft_state_reset(&s->draft);
    g4_kv_reset(&s->kv);
}

int32_t g4_session_min_pos(const g4_session *s) { return g4_kv_min_rollback(&s->kv, s->n_past); }

const float *g4_session_logits(const g4_session *s, int32_t i)
{
    if (i < 0 || i >= s->out_n || s->out_logit_row[i] < 0)
        return NULL;
    return s->logits + (size_t)s->out_logit_row[i] * s->m->hp.n_vocab;
}

const float *g4_session_final_hidden(const g4_session *s, int32_t i)
{
    if (!s || i < 0 || i >= s->out_n)
        return NULL;
    return s->hidden + (size_t)i * s->m->hp.n_embd;
}

g4_status g4_session_kv_view(const g4_session *s, int32_t layer, g4_kv_view *out)
{
    const g4_model *m = s->m;
    if (layer < 0 || layer >= m->hp.n_layer)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "layer %d out of range", layer);
    const g4_layer *L = &m->layers[layer];
    const g4_kv_layer *kv = &s->kv.layers[L->kv_src];
    out->k = kv->k;
    out->v = kv->v;
    out->type_k = kv->type_k;
    out->type_v = kv->type_v;
    out->rb_k = kv->rb_k;
    out->rb_v = kv->rb_v;
    out->cap = kv->cap;
    out->n_head_kv = L->n_head_kv;
    out->head_dim = L->head_dim;
    out->pos_hi = s->n_past;
    out->pos_lo = s->n_past > kv->cap ? s->n_past - kv->cap : 0;
    if (L->type == G4_LAYER_SLIDING && s->kv.lo > out->pos_lo)
        out->pos_lo = s->kv.lo;
    out->type = L->type;
    out->n_swa = m->hp.n_swa;
    return G4_OK;
}
