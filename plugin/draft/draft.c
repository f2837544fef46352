/* The drafter forward pass: one query row per step (spec §7.2, §7.3; formulas in draft.h).
 * Attention reads the target session's cache through g4_session_kv_view and never writes it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "draft/draft.h"

/* ---- workspace ----------------------------------------------------------------------------- */

/* The scratch is one allocation (the session frees it with the drafting state, draft_state.c):
 * the struct, then its float arrays, then its int32 arrays. */
g4_status g4_draft_ws_get(g4_session *s, g4_draft_ws **out)
{
    const g4_drafter *d = s->m->draft;
    if (s->draft.ws) {
        *out = s->draft.ws;
        return G4_OK;
    }
    const size_t da = (size_t)d->hp.n_embd, dt = (size_t)d->n_embd_out, qd = (size_t)d->max_qd,
                 ff = (size_t)d->max_ff;
    /* sparse head: centroid scores, then top_k clusters of V/C tokens, then one dequantized row */
    const size_t nl = d->n_centroids ? (size_t)d->n_centroids + (size_t)d->centroid_top_k * (size_t)(d->hp.n_vocab / d->n_centroids)
                                     : (size_t)d->hp.n_vocab;
    const size_t nl_alloc = nl + (d->n_centroids ? da : 0);
    const size_t n_sel = d->centroid_top_k > 0 ? (size_t)d->centroid_top_k : 1;
    const size_t n_rows = nl > (size_t)d->n_centroids ? nl - (size_t)d->n_centroids : 1;
    const size_t n_f = 4 * da + 2 * qd + 2 * ff + 2 * dt + da + dt + nl_alloc;
    g4_draft_ws *w = calloc(1, sizeof *w + n_f * sizeof(float) + (n_sel + n_rows) * sizeof(int32_t));
    if (!w)
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory for the drafter's scratch");
    float *f = (float *)(w + 1);
    g4_scratch *sc = &w->sc;
    sc->n_tok = 1;
    sc->x = f, f += da;
    sc->a = f, f += da;
    sc->o = f, f += da;
    sc->f = f, f += da;
    sc->q = f, f += qd;
    sc->att = f, f += qd;
    sc->ff_gate = f, f += ff;
    sc->ff_up = f, f += ff;
    w->u = f, f += 2 * dt;
    w->xn = f, f += da;
    w->h = f, f += dt;
    w->logits = f, f += nl_alloc;
    w->sel = (int32_t *)f;
    w->rows = w->sel + n_sel;
    s->draft.ws = w;
    *out = w;
    return G4_OK;
}

const float *g4_draft_hidden_at(const g4_session *s, int32_t pos)
{
    if (s->hid_n <= 0 || pos < s->hid_pos0 || pos >= s->hid_pos0 + s->hid_n || pos >= s->n_past)
        return NULL;
    return s->hidden + (size_t)(pos - s->hid_pos0) * (size_t)s->m->hp.n_embd;
}

/* ---- output head --------------------------------------------------------------------------- */

/* Centroid-masked head (HF use_ordered_embeddings): score the clusters, keep the top_k (ties:
 * lowest cluster), compute logits only for their tokens; every other token sits below them
 * (HF fills min - 1), so the argmax is the best selected token (ties: lowest token id). */
static g4_status sparse_argmax(g4k_pool *pool, const g4_drafter *d, g4_draft_ws *w, int32_t *out_tok)
{
    const int32_t C = d->n_centroids, K = d->centroid_top_k, per = d->hp.n_vocab / C;
    float *cs = w->logits, *row = w->logits + C;
    g4_linear(pool, d->dec.linear, &d->centroids, w->xn, 1, cs);
    g4_top_k(cs, C, K, w->sel); /* sorted by score, ties: the lowest clusters */
    const int32_t n_rows = K * per;
    for (int32_t k = 0; k < K; k++)
        memcpy(w->rows + (size_t)k * per, d->ordering + (size_t)w->sel[k] * per, (size_t)per * sizeof(int32_t));
    /* the selected rows of E_a with g4_linear's arithmetic; `row + n_rows` holds one dequantized row */
    g4_status st = g4_linear_rows(pool, d->dec.linear, &d->tok_embd, w->rows, n_rows, w->xn, row, row + n_rows);
    if (st)
        return st;
    int32_t best_tok = -1;
    float best = -INFINITY;
    for (int32_t i = 0; i < n_rows; i++) {
        const int32_t t = w->rows[i];
        const float v = row[i];
        if (best_tok < 0 || v > best || (v == best && t < best_tok)) {
            best = v;
            best_tok = t;
        }
    }
    *out_tok = best_tok;
    return G4_OK;
}

/* ---- one step ------------------------------------------------------------------------------ */

g4_status g4_draft_step(g4_session *s, int32_t tok, int32_t pos, int32_t key_end, g4_draft_ws *w, int32_t *out_tok)
{
    const g4_model *m = s->m;
    const g4_drafter *d = m->draft;
    const g4_hparams *hp = &d->hp;
    const int32_t da = hp->n_embd, dt = d->n_embd_out;
    const float eps = hp->eps;
    g4_scratch *sc = &w->sc;
    sc->scores = s->sc.scores; /* per-thread score rows of n_ctx: the session's, idle between steps */
    sc->scores_stride = s->sc.scores_stride;
    sc->scores_threads = s->sc.scores_threads;
    g4k_pool *pool = d->step_bytes >= G4_DRAFT_POOL_MIN_BYTES ? s->pool : NULL; /* small: inline (draft.h) */
    const g4_block_ctx b = {&d->dec, pool, sc, &s->kv};
    float *x = sc->x;

    /* u = [E_target[tok] * sqrt(d_t) ; h];  x = W_pre u */
    g4k_get_row(&m->tok_embd, tok, w->u);
    const float scale = (float)sqrt((double)dt); /* f32 sqrt(d), as the target's embedding */
    for (int32_t i = 0; i < dt; i++)
        w->u[i] *= scale;
    memcpy(w->u + dt, w->h, (size_t)dt * sizeof(float));
    g4_linear(pool, d->dec.linear, &d->pre_proj, w->u, 1, x);

    for (int32_t l = 0; l < hp->n_layer; l++) {
        const g4_layer *L = &d->layers[l];
        g4_kv_view kv;
        g4_status st = g4_session_kv_view(s, L->kv_src, &kv);
        if (st)
            return st;
        /* keys < key_end (= pos: the draft position holds no K/V); sliding: pos - k < window */
        int32_t lo = kv.pos_lo, hi = key_end - 1;
        if (L->type == G4_LAYER_SLIDING && pos - hp->n_swa + 1 > lo)
            lo = pos - hp->n_swa + 1;
        /* the slot at pos_hi may still hold the last step's entry (draft_state.h: kv_written_hi) */
        const int32_t avail_hi = s->draft.kv_written_hi > kv.pos_hi ? kv.pos_hi + 1 : kv.pos_hi;
        if (hi >= avail_hi || hi < lo)
            return g4_fail(G4_ERR_STATE, "drafter: the cache holds positions [%d, %d), cannot attend to [%d, %d]",
                           kv.pos_lo, kv.pos_hi, lo, hi);
        /* one query row at pos over the target's cache: the decoder's blocks (blocks.h) */
        const g4_chunk c = {.n = 1, .pos0 = pos, .key_lo = kv.pos_lo, .key_end = key_end};
        g4_block_layer(&b, L, &c, x);
        for (int32_t i = 0; i < da; i++)
            x[i] *= L->out_scale;
    }

    g4_rmsnorm(x, d->output_norm, 1, da, eps, w->xn);
    if (d->n_centroids) {
        g4_status st = sparse_argmax(pool, d, w, out_tok);
        if (st)
            return st;
    } else {
        g4_linear(pool, d->dec.linear, &d->tok_embd, w->xn, 1, w->logits); /* E_a . xn, no softcap */
        *out_tok = (int32_t)g4k_argmax(w->logits, hp->n_vocab); /* ties: the lowest id */
    }
    g4_linear(pool, d->dec.linear, &d->post_proj, w->xn, 1, w->h); /* h_next */
    return G4_OK;
}

/* ---- one round and the ABI call --------------------------------------------------------------- */

g4_status g4_draft_round(g4_session *s, int32_t last_token, int32_t k, int32_t *out, int32_t *n_out)
{
    *n_out = 0;
    const int32_t pos = s->n_past;
    const float *h = pos > 0 && s->draft.anchor >= 0 ? g4_draft_hidden_at(s, s->draft.anchor) : NULL;
    if (!h)
        return g4_fail(G4_ERR_STATE,
                       "g4_draft: the target's hidden state of position %d is not available (the most recent "
                       "g4_step must have computed that position)", s->draft.anchor >= 0 ? s->draft.anchor : pos - 1);
    /* The slot at n_past still holds the last step's K/V (a rejected draft): visible, as in the
     * reference. */
    const int32_t key_end = s->draft.kv_written_hi > pos ? pos + 1 : pos;
    g4_draft_ws *w;
    g4_status st = g4_draft_ws_get(s, &w);
    if (st)
        return st;
    memcpy(w->h, h, (size_t)s->m->hp.n_embd * sizeof(float));
    int32_t tok = last_token;
    for (int32_t i = 0; i < k; i++) {
        if ((st = g4_draft_step(s, tok, pos, key_end, w, &tok)))
            return st;
        out[(*n_out)++] = tok;
    }
    return G4_OK;
}

G4_API g4_status G4_CALL g4_draft(g4_session *s, int32_t last_token, int32_t k, int32_t *out_tokens,
                                  int32_t *n_out)
{
    g4_clear_error();
    if (n_out)
        *n_out = 0;
    if (!g4_session_live(s) || !n_out || (!out_tokens && k > 0))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_draft: NULL argument");
    if (!s->m->draft)
        return g4_fail(G4_ERR_UNSUPPORTED, "g4_draft: the model was loaded without a drafter (g4_load_params.draft)");
    if (k < 0)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_draft: k is %d", k);
    if (last_token < 0 || last_token >= s->m->hp.n_vocab)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_draft: token %d is outside the vocabulary [0, %d)", last_token,
                       s->m->hp.n_vocab);
    if (k == 0)
        return G4_OK;
    return g4_draft_round(s, last_token, k, out_tokens, n_out);
}
