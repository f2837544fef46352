/* Per-layer embeddings (spec §2.3, §2.7; E2B/E4B):
 *   A[t]  = E_pl[token_t] * sqrt(P)                (row 0 at soft-token positions)
 *   B[t]  = rmsnorm_P((W_plproj x0[t]) * d^-1/2; per_layer_proj_norm)   per layer slice of P
 *   ple[t, l] = (A[t, l] + B[t, l]) * 2^-1/2
 * and at the end of layer l:
 *   x += rmsnorm(W_proj_l (gelu_tanh(W_gate_l x) * ple[:, l]); post_norm_l) */
#include <math.h>

#include "model/blocks.h"

static int in_span(const g4_chunk *c, int32_t t)
{
    for (int32_t i = 0; i < c->n_spans; i++)
        if (t >= c->spans[i].first && t < c->spans[i].first + c->spans[i].n)
            return 1;
    return 0;
}

void g4_block_ple_inputs(g4_session *s, const g4_chunk *c, const float *x0, float *ple)
{
    const g4_model *m = s->m;
    const g4_hparams *hp = &m->hp;
    const int32_t P = hp->n_embd_per_layer, LP = hp->n_layer * P;
    float *B = s->sc.ple_tmp;
    const float proj_scale = (float)(1.0 / sqrt((double)hp->n_embd));
    const float tok_scale = (float)sqrt((double)P);
    const float sum_scale = (float)(1.0 / sqrt(2.0));

    g4_linear(s->pool, m->linear, &m->ple_model_proj, x0, c->n, B);
    for (int64_t i = 0; i < (int64_t)c->n * LP; i++)
        B[i] *= proj_scale;
    g4_rmsnorm(B, m->ple_proj_norm, (int64_t)c->n * hp->n_layer, P, hp->eps, B);

    for (int32_t t = 0; t < c->n; t++) {
        float *A = ple + (size_t)t * LP;
        g4k_get_row(&m->ple_tok_embd, in_span(c, t) ? 0 : c->tokens[t], A);
        const float *Bt = B + (size_t)t * LP;
        for (int32_t i = 0; i < LP; i++)
            A[i] = (A[i] * tok_scale + Bt[i]) * sum_scale;
    }
}

void g4_block_ple_inject(g4_session *s, int32_t l, float *x, int32_t n, const float *ple)
{
    const g4_model *m = s->m;
    const g4_hparams *hp = &m->hp;
    const g4_layer *L = &m->layers[l];
    const int32_t P = hp->n_embd_per_layer, LP = hp->n_layer * P;
    float *g = s->sc.ff_gate, *p = s->sc.o;

    g4_linear(s->pool, m->linear, &L->ple_gate, x, n, g);
    for (int32_t t = 0; t < n; t++)
        for (int32_t j = 0; j < P; j++)
            g[(size_t)t * P + j] = g4_gelu_tanh(g[(size_t)t * P + j]) * ple[(size_t)t * LP + (size_t)l * P + j];
    g4_linear(s->pool, m->linear, &L->ple_proj, g, n, p);
    g4_add_rmsnorm(x, p, L->ple_post_norm, n, hp->n_embd, hp->eps);
}
