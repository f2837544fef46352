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
    float *f[] = {w->u, w->x, w->a, w->o, w->xn, w->q, w->att, w->ff_gate, w->ff_up, w->h, w->logits, w->scores};
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
    const size_t da = (size_t)d->n_embd, dt = (size_t)d->n_embd_out;
    /* sparse head: centroid scores, then top_k clusters of V/C tokens */
    size_t nl = d->n_centroids ? (size_t)d->n_centroids + (size_t)d->centroid_top_k * (size_t)(d->n_vocab / d->n_centroids)
                               : (size_t)d->n_vocab;
    const size_t nl_alloc = nl + (d->n_centroids ? da : 0); /* sparse head: + one dequantized row */
    w->n_ctx = s->n_ctx;
    w->u = falloc(2 * dt);
    w->x = falloc(da);
    w->a = falloc(da);
    w->o = falloc(da);
    w->xn = falloc(da);
    w->q = falloc((size_t)d->max_qd);
    w->att = falloc((size_t)d->max_qd);
    w->ff_gate = falloc((size_t)d->max_ff);
    w->ff_up = falloc((size_t)d->max_ff);
    w->h = falloc(dt);
    w->logits = falloc(nl_alloc);
    w->scores = falloc((size_t)d->n_head * (size_t)s->n_ctx);
    w->sel = malloc(sizeof(int32_t) * (size_t)(d->centroid_top_k > 0 ? d->centroid_top_k : 1));
    w->rows = malloc(sizeof(int32_t) * (nl > (size_t)d->n_centroids ? nl - (size_t)d->n_centroids : 1));
    if (!w->u || !w->x || !w->a || !w->o || !w->xn || !w->q || !w->att || !w->ff_gate || !w->ff_up || !w->h ||
        !w->logits || !w->scores || !w->sel || !w->rows) {
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

/* ---- attention over the target cache ------------------------------------------------------- */

typedef struct dattn_job {
    const g4_kv_view *kv;
    const float *q;  /* [nq, hd] */
    float *out;      /* [nq, hd] */
    float *scores;   /* [nq, n_ctx] */
    size_t stride;
    int32_t nq, hd, lo, hi; /* keys lo..hi inclusive */
} dattn_job;

/* softmax(q . K^T * 1.0) V for the heads ith, ith+nth, ... (GQA: head h reads KV head h/group). */
static void dattn_task(void *p, int ith, int nth)
{
    const dattn_job *j = p;
    const g4_kv_view *kv = j->kv;
    const int32_t hd = j->hd, group = j->nq / kv->n_head_kv;
    for (int32_t h = ith; h < j->nq; h += nth) {
        const float *q = j->q + (size_t)h * hd;
        float *o = j->out + (size_t)h * hd, *sc = j->scores + (size_t)h * j->stride;
        const size_t ok = g4_kv_head_off(kv->type_k, h / group, hd), ov = g4_kv_head_off(kv->type_v, h / group, hd);
        float mx = -INFINITY;
        for (int32_t kp = j->lo; kp <= j->hi; kp++) {
            const uint8_t *kr = kv->k + (size_t)(kp % kv->cap) * kv->rb_k + ok;
            float v = kv->type_k == G4_TYPE_F32 ? g4_dot_f32(q, (const float *)kr, hd) : g4k_row_dot(kv->type_k, kr, q, hd);
            sc[kp - j->lo] = v;
            mx = v > mx ? v : mx;
        }
        float sum = 0.0f;
        for (int32_t kp = j->lo; kp <= j->hi; kp++) {
            float e = expf(sc[kp - j->lo] - mx);
            sc[kp - j->lo] = e;
            sum += e;
        }
        const float inv = 1.0f / sum;
        memset(o, 0, (size_t)hd * sizeof(float));
        for (int32_t kp = j->lo; kp <= j->hi; kp++) {
            const uint8_t *vr = kv->v + (size_t)(kp % kv->cap) * kv->rb_v + ov;
            const float wgt = sc[kp - j->lo] * inv;
            if (kv->type_v == G4_TYPE_F32) {
                const float *v = (const float *)vr;
                for (int32_t i = 0; i < hd; i++)
                    o[i] += wgt * v[i];
            } else {
                g4k_row_axpy(kv->type_v, vr, wgt, o, hd);
            }
        }
    }
}

/* NEOX RoPE of n_head heads at one position with the drafter's own tables. */
static void rope1(const g4_drafter *d, int32_t type, float *x, int32_t n_head, int32_t hd, int32_t pos)
{
    const float *inv = d->rope_inv_freq[type];
    const int32_t half = d->n_rot[type] / 2;
    for (int32_t i = 0; i < half; i++) {
        if (inv[i] == 0.0f)
            continue;
        float ang = (float)pos * inv[i], c = cosf(ang), sn = sinf(ang);
        for (int32_t h = 0; h < n_head; h++) {
            float *xh = x + (size_t)h * hd, x0 = xh[i], x1 = xh[i + half];
            xh[i] = x0 * c - x1 * sn;
            xh[i + half] = x0 * sn + x1 * c;
        }
    }
}

/* ---- output head --------------------------------------------------------------------------- */

/* Centroid-masked head (HF use_ordered_embeddings): score the clusters, keep the top_k (ties:
 * lowest cluster), compute logits only for their tokens; every other token sits below them
 * (HF fills min - 1), so the argmax is the best selected token (ties: lowest token id). */
static g4_status sparse_argmax(g4_session *s, const g4_drafter *d, g4_draft_ws *w, int32_t *out_tok)
{
    const int32_t C = d->n_centroids, K = d->centroid_top_k, per = d->n_vocab / C;
    float *cs = w->logits, *row = w->logits + C;
    g4_linear(s->pool, s->m->linear, &d->centroids, w->xn, 1, cs);
    /* top K clusters in one pass: sel[] sorted by score (desc), equal scores by index (asc), so
     * ties at the boundary keep the lowest clusters */
    int32_t n = 0;
    for (int32_t c = 0; c < C; c++) {
        if (n == K && !(cs[c] > cs[w->sel[K - 1]]))
            continue;
        int32_t j = n < K ? n++ : K - 1;
        for (; j > 0 && cs[c] > cs[w->sel[j - 1]]; j--)
            w->sel[j] = w->sel[j - 1];
        w->sel[j] = c;
    }
    const int32_t n_rows = K * per;
    for (int32_t k = 0; k < K; k++)
        memcpy(w->rows + (size_t)k * per, d->ordering + (size_t)w->sel[k] * per, (size_t)per * sizeof(int32_t));
    const uint32_t ty = d->tok_embd.type;
    if (s->m->linear != G4_LINEAR_F32 && ty != G4_TYPE_F32 && ty != G4_TYPE_F16 && ty != G4_TYPE_BF16) {
        /* quantized head: the selected rows through the decode kernel, as g4_linear would */
        if (g4k_matmul_rows(s->pool, &d->tok_embd, w->rows, n_rows, w->xn, row) != 0)
            return g4_fail(G4_ERR_OUT_OF_MEMORY, "drafter: out of memory scoring the selected clusters");
    } else {
        /* float head (and --exact): f32 dot per row, as g4_linear's f32 path; `row` doubles as the
         * dequantized row, so keep the scores in place behind it */
        for (int32_t i = 0; i < n_rows; i++) {
            g4k_get_row(&d->tok_embd, w->rows[i], row + n_rows);
            row[i] = g4_dot_f32(row + n_rows, w->xn, d->n_embd);
        }
    }
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
    const int32_t da = d->n_embd, dt = d->n_embd_out, nq = d->n_head;
    const float eps = d->eps;

    /* u = [E_target[tok] * sqrt(d_t) ; h];  x = W_pre u */
    g4k_get_row(&m->tok_embd, tok, w->u);
    const float scale = (float)sqrt((double)dt); /* f32 sqrt(d), as the target's embedding */
    for (int32_t i = 0; i < dt; i++)
        w->u[i] *= scale;
    memcpy(w->u + dt, w->h, (size_t)dt * sizeof(float));
    g4_linear(s->pool, s->m->linear, &d->pre_proj, w->u, 1, w->x);

    for (int32_t l = 0; l < d->n_layer; l++) {
        const g4_draft_layer *L = &d->layers[l];
        const int32_t hd = L->head_dim;
        g4_kv_view kv;
        g4_status st = g4_session_kv_view(s, L->target_layer, &kv);
        if (st)
            return st;
        /* keys < key_end (= pos: the draft position holds no K/V); sliding: pos - k < window */
        int32_t lo = kv.pos_lo, hi = key_end - 1;
        if (L->type == G4_LAYER_SLIDING && pos - d->n_swa + 1 > lo)
            lo = pos - d->n_swa + 1;
        /* the slot at pos_hi may still hold the last step's entry (see model.h kv_written_hi) */
        const int32_t avail_hi = s->kv_written_hi > kv.pos_hi ? kv.pos_hi + 1 : kv.pos_hi;
        if (hi >= avail_hi || hi < lo)
            return g4_fail(G4_ERR_STATE, "drafter: the cache holds positions [%d, %d), cannot attend to [%d, %d]",
                           kv.pos_lo, kv.pos_hi, lo, hi);

        g4_rmsnorm(w->x, L->attn_norm, 1, da, eps, w->a);
        g4_linear(s->pool, s->m->linear, &L->wq, w->a, 1, w->q);
        g4_rmsnorm(w->q, L->q_norm, nq, hd, eps, w->q);
        rope1(d, L->type, w->q, nq, hd, pos);
        dattn_job j = {&kv, w->q, w->att, w->scores, (size_t)w->n_ctx, nq, hd, lo, hi};
        if ((int64_t)(hi - lo + 1) * nq * hd >= 65536 && s->pool)
            g4k_pool_run(s->pool, dattn_task, &j);
        else
            dattn_task(&j, 0, 1);
        g4_linear(s->pool, s->m->linear, &L->wo, w->att, 1, w->o);
        g4_add_rmsnorm(w->x, w->o, L->post_attn_norm, 1, da, eps);

        g4_rmsnorm(w->x, L->ffn_norm, 1, da, eps, w->a);
        g4_linear(s->pool, s->m->linear, &L->ffn_gate, w->a, 1, w->ff_gate);
        g4_linear(s->pool, s->m->linear, &L->ffn_up, w->a, 1, w->ff_up);
        for (int32_t i = 0; i < L->n_ff; i++)
            w->ff_gate[i] = g4_gelu_tanh(w->ff_gate[i]) * w->ff_up[i];
        g4_linear(s->pool, s->m->linear, &L->ffn_down, w->ff_gate, 1, w->o);
        g4_add_rmsnorm(w->x, w->o, L->post_ffw_norm, 1, da, eps);
        for (int32_t i = 0; i < da; i++)
            w->x[i] *= L->out_scale;
    }

    g4_rmsnorm(w->x, d->output_norm, 1, da, eps, w->xn);
    if (d->n_centroids) {
        g4_status st = sparse_argmax(s, d, w, out_tok);
        if (st)
            return st;
    } else {
        g4_linear(s->pool, s->m->linear, &d->tok_embd, w->xn, 1, w->logits); /* E_a . xn, no softcap */
        *out_tok = (int32_t)g4k_argmax(w->logits, d->n_vocab); /* ties: the lowest id */
    }
    g4_linear(s->pool, s->m->linear, &d->post_proj, w->xn, 1, w->h); /* h_next */
    return G4_OK;
}
