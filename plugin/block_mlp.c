/* Dense feed-forward (spec §2.6): FFN(x) = W_down (gelu_tanh(W_gate x) * (W_up x)). */
#include "model.h"

typedef struct geglu_ctx {
    float *gate;
    const float *up;
} geglu_ctx;

static void geglu_range(void *p, int64_t i0, int64_t i1)
{
    geglu_ctx *c = p;
    g4k_geglu_tanh(c->gate + i0, c->up + i0, i1 - i0); /* vectorised (scalar tanhf was ~20 ns a value) */
}

void g4_geglu(g4_session *s, float *gate, const float *up, int64_t n)
{
    geglu_ctx c = {gate, up};
    g4_parallel_for(n >= 4096 ? s->pool : NULL, n, geglu_range, &c);
}

void g4_block_mlp(g4_session *s, const g4_layer *L, const float *x, int32_t n, float *out)
{
    g4_scratch *sc = &s->sc;
    g4_linear(s, &L->ffn_gate, x, n, sc->ff_gate);
    g4_linear(s, &L->ffn_up, x, n, sc->ff_up);
    g4_geglu(s, sc->ff_gate, sc->ff_up, (int64_t)n * L->n_ff);
    g4_linear(s, &L->ffn_down, sc->ff_gate, n, out);
}
