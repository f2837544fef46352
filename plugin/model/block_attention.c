/* Attention block (spec §2.5):
 *   q = rope(rms_head(W_q a; q_norm))
 *   owning layers:  k = rope(rms_head(W_k a; k_norm)),  v = rms_head(W_v a  or raw W_k a)  -> cache
 *   s = q . k^T * 1.0   (no 1/sqrt(hd), no softcap),  softmax in f32,  o = W_o (softmax(s) v)
 * Masks: causal; sliding layers also q_pos - k_pos < window; with bidirectional vision, tokens of
 * one image span also see later tokens of the span (still |i - j| < window) on sliding layers.
 * Batches of up to 8 rows (decode, MTP verification) take the row path (g4_attn_rows: a KV
 * head and a part of its query heads, for all the batch's tokens, are one work item on the
 * pool), prompt batches the tiled online-softmax
 * path (attention_prefill.c); see attention.h. */
#include <math.h>
#include <string.h>

#include "model/attention.h"

typedef struct rows_job {
    const g4_attn_args *a;
    float *scores;
    size_t stride;
    int32_t n_split; /* a KV head's query heads in this many items (enough for the pool) */
} rows_job;

#define RUN_TOK 8   /* tokens per run at most (a verify batch) */
#define RUN_HEADS 64 /* query heads per run at most */

/* Work item = (KV head g, a part [h0, h1) of its query heads), for every token of the batch:
 * each cached K and V row is read once per run of (tokens x heads) instead of once per (token,
 * head) -- a 12B full layer's 16 heads share one KV head, and the 4 rows of a verify batch see
 * the same keys -- and each (token, head) still does exactly the operations of a one-row
 * step: the same dots in key order over its own key range, the same softmax, the same axpys in
 * key order. So a row is bit-identical whatever the batch, the run or the thread count. A run's
 * scores sit in the thread's `stride` floats: runs shorten where the ranges are long. */
static void attn_item(const rows_job *rj, float *sc, int32_t g, int32_t h0, int32_t h1)
{
    const g4_attn_args *j = rj->a;
    const int32_t hd = j->hd, n = j->c->n;
    const uint32_t tk = j->kv->type_k, tv = j->kv->type_v;
    const size_t ok = g4_kv_head_off(tk, g, hd), ov = g4_kv_head_off(tv, g, hd);
    for (int32_t ta = 0; ta < n;) {
        /* tokens [ta, tb): their key ranges, each (t, h) row's scores at h * tot + seg[t] */
        int32_t lo[RUN_TOK], hi[RUN_TOK], tb = ta, klo = INT32_MAX, khi = -1;
        size_t seg[RUN_TOK], tot = 0;
        while (tb < n && tb - ta < RUN_TOK) {
            int32_t l, h;
            g4_attn_key_range(j, tb, &l, &h);
            if (tb > ta && tot + (size_t)(h - l + 1) > rj->stride)
                break;
            lo[tb - ta] = l, hi[tb - ta] = h, seg[tb - ta] = tot;
            tot += (size_t)(h - l + 1);
            klo = l < klo ? l : klo;
            khi = h > khi ? h : khi;
            tb++;
        }
        const size_t fit = rj->stride / tot; /* >= 1: one token's range never exceeds the stride */
        const int32_t nt = tb - ta, run = fit < 1 ? 1 : fit > RUN_HEADS ? RUN_HEADS : (int32_t)fit;
        for (int32_t ha = h0; ha < h1; ha += run) {
            const int32_t hb = ha + run < h1 ? ha + run : h1;
            float mx[RUN_TOK][RUN_HEADS], inv[RUN_TOK][RUN_HEADS];
            for (int32_t t = 0; t < nt; t++)
                for (int32_t h = ha; h < hb; h++)
                    mx[t][h - ha] = -INFINITY;
            for (int32_t kp = klo; kp <= khi; kp++) {
                const uint8_t *krow = g4_kv_k(j->kv, kp) + ok;
                for (int32_t t = 0; t < nt; t++) {
                    if (kp < lo[t] || kp > hi[t])
                        continue;
                    for (int32_t h = ha; h < hb; h++) {
                        const float *q = j->q + ((size_t)(ta + t) * j->nq + (size_t)h) * hd;
                        const float v = g4k_row_dot(tk, krow, q, hd);
                        sc[(size_t)(h - ha) * tot + seg[t] + (size_t)(kp - lo[t])] = v;
                        if (v > mx[t][h - ha])
                            mx[t][h - ha] = v;
                    }
                }
            }
            for (int32_t t = 0; t < nt; t++)
                for (int32_t h = ha; h < hb; h++) {
                    float *r = sc + (size_t)(h - ha) * tot + seg[t], sum = 0.0f;
                    for (int32_t i = 0; i <= hi[t] - lo[t]; i++) {
                        const float e = expf(r[i] - mx[t][h - ha]);
                        r[i] = e;
                        sum += e;
                    }
                    inv[t][h - ha] = 1.0f / sum;
                    memset(j->out + ((size_t)(ta + t) * j->nq + (size_t)h) * hd, 0, (size_t)hd * sizeof(float));
                }
            for (int32_t kp = klo; kp <= khi; kp++) {
                const uint8_t *vrow = g4_kv_v(j->kv, kp) + ov;
                for (int32_t t = 0; t < nt; t++) {
                    if (kp < lo[t] || kp > hi[t])
                        continue;
                    for (int32_t h = ha; h < hb; h++) {
                        float *o = j->out + ((size_t)(ta + t) * j->nq + (size_t)h) * hd;
                        const float w = sc[(size_t)(h - ha) * tot + seg[t] + (size_t)(kp - lo[t])] * inv[t][h - ha];
                        g4k_row_axpy(tv, vrow, w, o, hd);
                    }
                }
            }
        }
        ta = tb;
    }
}

static void attn_task(void *p, int ith, int nth)
{
    const rows_job *rj = p;
    const g4_attn_args *j = rj->a;
    const int32_t group = j->nq / j->nkv, per = (group + rj->n_split - 1) / rj->n_split;
    const int64_t items = (int64_t)j->nkv * rj->n_split;
    for (int64_t it = ith; it < items; it += nth) {
        const int32_t g = (int32_t)(it / rj->n_split), part = (int32_t)(it % rj->n_split);
        const int32_t h0 = g * group + part * per, h1 = h0 + per < (g + 1) * group ? h0 + per : (g + 1) * group;
        if (h0 < h1)
            attn_item(rj, rj->scores + (size_t)ith * rj->stride, g, h0, h1);
    }
}

void g4_attn_rows(g4k_pool *pool, float *scores, size_t stride, const g4_attn_args *a)
{
    /* a KV head's query heads split into enough items for every thread */
    const int32_t group = a->nq / a->nkv, nth = pool ? g4k_pool_size(pool) : 1;
    const int32_t split = (nth + a->nkv - 1) / a->nkv;
    rows_job rj = {a, scores, stride, split > group ? group : split};
    if ((int64_t)a->nkv * rj.n_split > 1 && pool)
        g4k_pool_run_elastic(pool, attn_task, &rj);
    else
        attn_task(&rj, 0, 1);
}

/* Rows t0..t1 of this chunk's K and V into the cache (F32: a copy; F16/BF16 round (RNE), Q8_0
 * quantizes); every row has its own slot, so ranges can run in parallel. */
typedef struct {
    g4_kv_layer *kv;
    const float *k, *v;
    int64_t row;
    int32_t pos0;
} kv_write_job;

static void kv_write_range(void *p, int64_t t0, int64_t t1)
{
    const kv_write_job *w = p;
    for (int64_t t = t0; t < t1; t++) {
        g4k_quantize(w->kv->type_k, w->k + (size_t)t * w->row, g4_kv_k(w->kv, w->pos0 + (int32_t)t), w->row);
        g4k_quantize(w->kv->type_v, w->v + (size_t)t * w->row, g4_kv_v(w->kv, w->pos0 + (int32_t)t), w->row);
    }
}

void g4_block_attention(const g4_block_ctx *b, const g4_layer *L, const g4_chunk *c, const float *a, float *out)
{
    const g4_decoder *D = b->dec;
    const g4_hparams *hp = D->hp;
    const int32_t n = c->n, hd = L->head_dim, nq = hp->n_head, nkv = L->n_head_kv;
    const float *rope = D->rope_inv_freq[L->type];
    const int32_t n_rot = hp->n_rot[L->type];
    g4_scratch *sc = b->sc;

    g4_linear(b->pool, D->linear, &L->wq, a, n, sc->q);
    g4_rmsnorm_pool(b->pool, sc->q, L->q_norm, (int64_t)n * nq, hd, hp->eps, sc->q);
    g4_rope_pool(b->pool, rope, n_rot, sc->q, n, nq, hd, c->pos0);

    g4_kv_layer *kv = &b->kv->layers[L->kv_src];
    if (L->writes_kv) {
        g4_linear(b->pool, D->linear, &L->wk, a, n, sc->k);
        if (L->k_eq_v)
            memcpy(sc->v, sc->k, (size_t)n * nkv * hd * sizeof(float)); /* V = raw K projection */
        else
            g4_linear(b->pool, D->linear, &L->wv, a, n, sc->v);
        g4_rmsnorm_pool(b->pool, sc->k, L->k_norm, (int64_t)n * nkv, hd, hp->eps, sc->k);
        g4_rope_pool(b->pool, rope, n_rot, sc->k, n, nkv, hd, c->pos0);
        g4_rmsnorm_pool(b->pool, sc->v, NULL, (int64_t)n * nkv, hd, hp->eps, sc->v);
        kv_write_job w = {kv, sc->k, sc->v, (int64_t)nkv * hd, c->pos0};
        /* a prompt's rows split across the pool; a step's few rows stay here */
        g4_parallel_for(n >= 16 ? b->pool : NULL, n, kv_write_range, &w);
    }

    g4_attn_args j = {
        .kv = kv, .c = c, .q = sc->q, .out = sc->att,
        .nq = nq, .nkv = nkv, .hd = hd,
        .window = L->type == G4_LAYER_SLIDING ? hp->n_swa : 0,
        .bidir = L->type == G4_LAYER_SLIDING && hp->bidir_vision,
    };
    if (n > G4_ATTN_ROWS_MAX_BATCH && sc->attn_tiles) /* prompt batches: tiled (attention_prefill.c) */
        g4_attn_prefill(b->pool, sc->attn_tiles, sc->attn_tiles_stride, sc->scores_threads, &j);
    else /* decode and verify batches: the row path, bit-identical per row to one-token steps */
        g4_attn_rows(b->pool, sc->scores, sc->scores_stride, &j);

    g4_linear(b->pool, D->linear, &L->wo, sc->att, n, out);
}
