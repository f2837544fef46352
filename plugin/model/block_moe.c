/* Mixture of experts (spec §2.6, 26B-A4B), run beside the dense MLP:
 *   z      = rmsnorm_noweight(r) * router_scale * d^-1/2          (r: post-attention residual)
 *   p      = softmax(W_router z)  over all experts
 *   top-k of p, renormalised to sum 1, times per_expert_scale (ffn_down_exps.scale)
 *   moe    = sum_k w_k W_down[e_k] (gelu_tanh(G[e_k] xe) * (U[e_k] xe)),  xe = rmsnorm(r; pre_ffw_norm_2)
 * Tokens are grouped per expert so that each expert runs one matmul over all its tokens. */
#include <math.h>
#include <string.h>

#include "model/blocks.h"

/* Expert idx of a stacked expert tensor. */
static g4k_matrix expert(const g4_experts *e, int32_t idx)
{
    g4k_matrix m = e->m;
    m.data = (const char *)e->m.data + e->stride * (size_t)idx;
    return m;
}

static void route(const g4_hparams *hp, const g4_layer *L, const float *logits, int32_t *sel,
                  float *w)
{
    const int32_t E = hp->n_expert, K = hp->n_expert_used;
    float p[G4_MAX_EXPERTS];
    float mx = -INFINITY, sum = 0.0f;
    for (int32_t e = 0; e < E; e++)
        mx = logits[e] > mx ? logits[e] : mx;
    for (int32_t e = 0; e < E; e++) {
        p[e] = expf(logits[e] - mx);
        sum += p[e];
    }
    for (int32_t e = 0; e < E; e++)
        p[e] /= sum;
    float wsum = 0.0f;
    for (int32_t k = 0; k < K; k++) {
        int32_t best = -1;
        for (int32_t e = 0; e < E; e++) {
            int taken = 0;
            for (int32_t j = 0; j < k; j++)
                taken |= sel[j] == e;
            if (!taken && (best < 0 || p[e] > p[best]))
                best = e;
        }
        sel[k] = best;
        w[k] = p[best];
        wsum += p[best];
    }
    for (int32_t k = 0; k < K; k++)
        w[k] = w[k] / wsum * L->expert_scale[sel[k]];
}

void g4_block_moe(const g4_block_ctx *b, const g4_layer *L, const float *r, int32_t n, float *out)
{
    const g4_hparams *hp = b->dec->hp;
    const g4_linear_mode lm = b->dec->linear;
    g4_scratch *sc = b->sc;
    const int32_t d = hp->n_embd, E = hp->n_expert, K = hp->n_expert_used, ff = hp->n_ff_expert;

    /* router */
    const float root = 1.0f / sqrtf((float)d);
    g4_rmsnorm(r, NULL, n, d, hp->eps, sc->xe);
    for (int32_t t = 0; t < n; t++)
        for (int32_t i = 0; i < d; i++)
            sc->xe[(size_t)t * d + i] *= L->router_scale[i] * root;
    g4_linear(b->pool, lm, &L->router, sc->xe, n, sc->router_logits);
    for (int32_t t = 0; t < n; t++)
        route(hp, L, sc->router_logits + (size_t)t * E, sc->sel + (size_t)t * K,
              sc->sel_w + (size_t)t * K);

    /* experts */
    g4_rmsnorm(r, L->pre_ffw_norm_2, n, d, hp->eps, sc->xe);
    memset(out, 0, (size_t)n * d * sizeof(float));
    for (int32_t e = 0; e < E; e++) {
        int32_t cnt = 0;
        for (int32_t t = 0; t < n; t++)
            for (int32_t k = 0; k < K; k++)
                if (sc->sel[(size_t)t * K + k] == e) {
                    sc->rows[cnt] = t;
                    memcpy(sc->xg + (size_t)cnt * d, sc->xe + (size_t)t * d, (size_t)d * sizeof(float));
                    cnt++;
                }
        if (!cnt)
            continue;
        if (L->exp_fused) {
            g4k_matrix gu = expert(&L->exp_gate_up, e);
            g4_linear(b->pool, lm, &gu, sc->xg, cnt, sc->ff_up); /* [cnt, 2ff]: gate rows, then up rows */
            for (int32_t c = 0; c < cnt; c++) {
                const float *row = sc->ff_up + (size_t)c * 2 * ff;
                for (int32_t i = 0; i < ff; i++)
                    sc->ff_gate[(size_t)c * ff + i] = g4_gelu_tanh(row[i]) * row[ff + i];
            }
        } else {
            g4k_matrix gm = expert(&L->exp_gate, e), um = expert(&L->exp_up, e);
            g4_linear(b->pool, lm, &gm, sc->xg, cnt, sc->ff_gate);
            g4_linear(b->pool, lm, &um, sc->xg, cnt, sc->ff_up);
            g4_geglu(b->pool, sc->ff_gate, sc->ff_up, (int64_t)cnt * ff);
        }
        g4k_matrix dm = expert(&L->exp_down, e);
        g4_linear(b->pool, lm, &dm, sc->ff_gate, cnt, sc->eo);
        for (int32_t c = 0; c < cnt; c++) {
            int32_t t = sc->rows[c];
            float w = 0.0f;
            for (int32_t k = 0; k < K; k++)
                if (sc->sel[(size_t)t * K + k] == e)
                    w = sc->sel_w[(size_t)t * K + k];
            float *o = out + (size_t)t * d;
            const float *eo = sc->eo + (size_t)c * d;
            for (int32_t i = 0; i < d; i++)
                o[i] += w * eo[i];
        }
    }
}
