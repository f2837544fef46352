/* Dense feed-forward (spec §2.6): FFN(x) = W_down (gelu_tanh(W_gate x) * (W_up x)). */
#include "model/blocks.h"

void g4_block_mlp(const g4_block_ctx *b, const g4_layer *L, const float *x, int32_t n, float *out)
{
    g4_scratch *sc = b->sc;
    const g4_linear_mode lm = b->dec->linear;
    g4_linear(b->pool, lm, &L->ffn_gate, x, n, sc->ff_gate);
    g4_linear(b->pool, lm, &L->ffn_up, x, n, sc->ff_up);
    g4_geglu(b->pool, sc->ff_gate, sc->ff_up, (int64_t)n * L->n_ff);
    g4_linear(b->pool, lm, &L->ffn_down, sc->ff_gate, n, out);
}
