/* The text decoder forward pass over one chunk of positions (spec §2.2, §2.4, §2.8, §2.10):
 *
 *   x = E[tokens] * sqrt(d)            (soft-token rows: the given embeddings, unscaled)
 *   ple = PLE(tokens, x)               (E2B/E4B)
 *   for each layer l:
 *       h1 = x + rms(Attn_l(rms(x; attn_norm)); post_attn_norm)
 *       f  = FFN(rms(h1; ffn_norm))                                          dense layers
 *       f  = rms(FFN(rms(h1; ffn_norm)); post1) + rms(MoE(h1); post2)        MoE layers
 *       x  = h1 + rms(f; post_ffw_norm)
 *       x += rms(W_proj (gelu(W_gate x) * ple_l); post_norm)                 PLE layers
 *       x *= layer_scalar
 *   hidden = rms(x; output_norm);  logits = softcap(E . hidden)
 */
#include <math.h>
#include <string.h>

#include "model/blocks.h"

static void embed(g4_session *s, const g4_chunk *c, float *x)
{
    const g4_model *m = s->m;
    const int32_t d = m->hp.n_embd;
    const float scale = (float)sqrt((double)d); /* f32 sqrt(d), as the fp32 reference */
    int32_t sp = 0;
    for (int32_t t = 0; t < c->n; t++) {
        float *xt = x + (size_t)t * d;
        while (sp < c->n_spans && t >= c->spans[sp].first + c->spans[sp].n)
            sp++;
        if (sp < c->n_spans && t >= c->spans[sp].first) {
            const g4_embd_span *span = &c->spans[sp];
            memcpy(xt, span->embd + (size_t)(t - span->first) * d, (size_t)d * sizeof(float));
            continue;
        }
        g4k_get_row(&m->tok_embd, c->tokens[t], xt);
        for (int32_t i = 0; i < d; i++)
            xt[i] *= scale;
    }
}

/* x *= layer_scalar over rows r0..r1 */
typedef struct {
    float *x;
    int32_t d;
    float scale;
} scale_job;

static void scale_range(void *p, int64_t r0, int64_t r1)
{
    const scale_job *j = p;
    for (int64_t i = r0 * j->d; i < r1 * j->d; i++)
        j->x[i] *= j->scale;
}

static void capture(const g4_chunk *c, int32_t entry, const float *x, int32_t d)
{
    if (!c->capture)
        return;
    float *dst = c->capture + (size_t)entry * c->capture_stride_rows * d;
    memcpy(dst, x, (size_t)c->n * d * sizeof(float));
}

g4_status g4_forward_chunk(g4_session *s, const g4_chunk *c)
{
    const g4_model *m = s->m;
    const g4_hparams *hp = &m->hp;
    g4_scratch *sc = &s->sc;
    const int32_t n = c->n, d = hp->n_embd;
    const float eps = hp->eps;
    float *x = sc->x;
    const g4_block_ctx b = g4_session_blocks(s);

    embed(s, c, x);
    if (hp->n_embd_per_layer > 0)
        g4_block_ple_inputs(s, c, x, sc->ple);
    capture(c, 0, x, d);

    for (int32_t l = 0; l < hp->n_layer; l++) {
        if (atomic_load_explicit(&s->cancel, memory_order_relaxed))
            return G4_ERR_CANCELLED;
        const g4_layer *L = &m->layers[l];

        g4_block_layer(&b, L, c, x); /* attention + FFN (+ MoE) sublayers, block_layer.c */

        if (hp->n_embd_per_layer > 0)
            g4_block_ple_inject(s, l, x, n, sc->ple);
        if (L->out_scale != 1.0f) {
            scale_job sj = {x, d, L->out_scale};
            g4_parallel_for(n >= 16 ? s->pool : NULL, n, scale_range, &sj); /* prompt rows across the pool */
        }
        if (l + 1 < hp->n_layer)
            capture(c, l + 1, x, d);
    }

    g4_rmsnorm(x, m->output_norm, n, d, eps, c->hidden_out);
    /* The last entry is post-final-norm, as transformers' output_hidden_states reports it
     * (and as the reference files store it). */
    capture(c, hp->n_layer, c->hidden_out, d);
    return G4_OK;
}

typedef struct softcap_ctx {
    float *x;
    float cap;
} softcap_ctx;

/* The final logit softcap, one value: the single expression both the full row and the greedy
 * choice use, so their ties agree bit for bit. */
static inline float softcap1(float x, float cap) { return cap * tanhf(x / cap); }

static void softcap_range(void *p, int64_t i0, int64_t i1)
{
    const softcap_ctx *c = p;
    for (int64_t i = i0; i < i1; i++)
        c->x[i] = softcap1(c->x[i], c->cap);
}

void g4_forward_logits(g4_session *s, const float *hidden, int32_t n, float *logits, int raw)
{
    const g4_model *m = s->m;
    if (m->lm_head_packed) /* weight_pack.c: 1..8 rows in one pass, each bit-identical to a 1-row call */
        g4k_matmul_packed(s->pool, m->lm_head_packed, hidden, n, logits);
    else
        g4_linear(s->pool, m->linear, &m->lm_head, hidden, n, logits);
    if (m->hp.softcap > 0.0f && !raw) {
        /* 262144 tanhf per row is a visible share of a decode step: spread it */
        softcap_ctx c = {logits, m->hp.softcap};
        g4_parallel_for(s->pool, (int64_t)n * m->hp.n_vocab, softcap_range, &c);
    }
}

int32_t g4_greedy_token(const float *x, int32_t n, float softcap)
{
    const int32_t best = (int32_t)g4k_argmax(x, n);
    const float m = x[best];
    if (!(softcap > 0.0f) || !isfinite(m))
        return best; /* (inf/NaN maxima: softcap keeps their order, and argmax never picks NaN) */
    /* Capped values can tie where raw ones differ (tanh flattens). Find t below m with
     * softcap(t) < softcap(m): by monotonicity nothing under t ties, so the answer is the first
     * index at or above t whose capped value equals softcap(m) -- usually best itself. */
    const float top = softcap1(m, softcap);
    float margin = fabsf(m) * 0x1p-10f + 0x1p-10f, t = m - margin;
    while (!(softcap1(t, softcap) < top)) {
        margin *= 4.0f;
        t = m - margin;
        if (!isfinite(t)) /* never in practice: fall back to the whole row */
            t = -INFINITY;
        if (t == -INFINITY)
            break;
    }
    for (int32_t i = 0; i < best; i++) {
        i += (int32_t)g4k_first_ge(x + i, best - i, t);
        if (i >= best)
            break;
        if (softcap1(x[i], softcap) == top)
            return i;
    }
    return best;
}
