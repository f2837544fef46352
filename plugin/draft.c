/* The drafter forward pass: one query row per step (spec §7.2, §7.3; formulas in draft.h).
 * Attention reads the target session's cache through g4_session_kv_view and never writes it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "draft.h"

/* ---- workspace ----------------------------------------------------------------------------- */

void g4_draft_ws_free(g4_draft_ws *w)
{
    if (!w)
        return;
    float *f[] = {w->sc.x, w->sc.a, w->sc.o, w->sc.f, w->sc.q, w->sc.att, w->sc.ff_gate, w->sc.ff_up,
                  w->u, w->xn, w->h, w->logits};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        free(f[i]);
    free(w->sel);
    free(w->rows);
    free(w);
}

static float *falloc(size_t n) { return malloc((n ? n : 1) * sizeof(float)); }

g4_status g4_draft_ws_get(g4_session *s, g4_draft_ws **out)
{
    const g4_drafter *d = s->m->draft;
    if (s->draft_ws) {
        *out = s->draft_ws;
        return G4_OK;
    }
    g4_draft_ws *w = calloc(1, sizeof *w);
    if (!w)
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory for the drafter's scratch");
    const size_t da = (size_t)d->hp.n_embd, dt = (size_t)d->n_embd_out;
    /* sparse head: centroid scores, then top_k clusters of V/C tokens */
    size_t nl = d->n_centroids ? (size_t)d->n_centroids + (size_t)d->centroid_top_k * (size_t)(d->hp.n_vocab / d->n_centroids)
                               : (size_t)d->hp.n_vocab;
    const size_t nl_alloc = nl + (d->n_centroids ? da : 0); /* sparse head: + one dequantized row */
    g4_scratch *sc = &w->sc;
    sc->n_tok = 1;
    sc->x = falloc(da);
    sc->a = falloc(da);
    sc->o = falloc(da);
    sc->f = falloc(da);
    sc->q = falloc((size_t)d->max_qd);
    sc->att = falloc((size_t)d->max_qd);
    sc->ff_gate = falloc((size_t)d->max_ff);
    sc->ff_up = falloc((size_t)d->max_ff);
    w->u = falloc(2 * dt);
    w->xn = falloc(da);
    w->h = falloc(dt);
    w->logits = falloc(nl_alloc);
    w->sel = malloc(sizeof(int32_t) * (size_t)(d->centroid_top_k > 0 ? d->centroid_top_k : 1));
    w->rows = malloc(sizeof(int32_t) * (nl > (size_t)d->n_centroids ? nl - (size_t)d->n_centroids : 1));
    if (!sc->x || !sc->a || !sc->o || !sc->f || !sc->q || !sc->att || !sc->ff_gate || !sc->ff_up || !w->u ||
        !w->xn || !w->h || !w->logits || !w->sel || !w->rows) {
        g4_draft_ws_free(w);
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory for the drafter's scratch");
    }
    s->draft_ws = w;
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
    const g4_block_ctx b = {&d->dec, s->pool, sc, &s->kv};
    float *x = sc->x;

    /* u = [E_target[tok] * sqrt(d_t) ; h];  x = W_pre u */
    g4k_get_row(&m->tok_embd, tok, w->u);
    const float scale = (float)sqrt((double)dt); /* f32 sqrt(d), as the target's embedding */
    for (int32_t i = 0; i < dt; i++)
        w->u[i] *= scale;
    memcpy(w->u + dt, w->h, (size_t)dt * sizeof(float));
    g4_linear(s->pool, d->dec.linear, &d->pre_proj, w->u, 1, x);

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
        /* the slot at pos_hi may still hold the last step's entry (see session.h kv_written_hi) */
        const int32_t avail_hi = s->kv_written_hi > kv.pos_hi ? kv.pos_hi + 1 : kv.pos_hi;
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
        g4_status st = sparse_argmax(s->pool, d, w, out_tok);
        if (st)
            return st;
    } else {
        g4_linear(s->pool, d->dec.linear, &d->tok_embd, w->xn, 1, w->logits); /* E_a . xn, no softcap */
        *out_tok = (int32_t)g4k_argmax(w->logits, hp->n_vocab); /* ties: the lowest id */
    }
    g4_linear(s->pool, d->dec.linear, &d->post_proj, w->xn, 1, w->h); /* h_next */
    return G4_OK;
}
