/* The blocks of the decoder's forward pass, one file each (spec §2), and forward.c, which runs
 * them over a chunk of positions. A block reads its decoder (g4_decoder: the target model or the
 * MTP drafter, model.h) and works in a g4_block_ctx; the numeric ops under it are in ops.h.
 *
 *   block_layer.c      one layer: the sublayers below with their norms and residuals
 *   block_attention.c  attention: Q/K/V projections, norms, RoPE, the cache, softmax(q.K^T) V
 *   block_mlp.c        dense GeGLU feed-forward
 *   block_moe.c        mixture of experts (26B-A4B)
 *   block_ple.c        per-layer embeddings (E2B/E4B)
 *   forward.c          embedding, the layer loop, final norm, LM head */
#ifndef G4_BLOCKS_H
#define G4_BLOCKS_H

#include "model/session.h"

/* Where a block runs. The drafter passes its own decoder and scratch with the target session's
 * pool and cache. */
typedef struct g4_block_ctx {
    const g4_decoder *dec;
    g4k_pool *pool;
    g4_scratch *sc;
    g4_kv_cache *kv;  /* layer L reads kv->layers[L->kv_src], and writes it when L->writes_kv */
} g4_block_ctx;

/* Positions one forward pass runs over. */
typedef struct g4_chunk {
    const int32_t *tokens;       /* [n] */
    int32_t n;
    int32_t pos0;                /* position of tokens[0] */
    const g4_embd_span *spans;   /* chunk-local, sorted */
    int32_t n_spans;
    float *hidden_out;           /* [n, d] final-normed hidden */
    float *capture;              /* NULL, or entry 0 row 0 of [(L+1), stride_rows, d] */
    int32_t capture_stride_rows; /* rows per capture entry (the whole batch) */
    /* Keys visible to a query at position q are [max(key_lo, window start), min(q, key_end - 1)]
     * (bidirectional image spans may extend past q). The decoder leaves both 0: keys from 0 up
     * to q itself. The drafter queries at n_past with keys below key_end, from what the cache
     * still holds (key_lo). */
    int32_t key_lo, key_end;
} g4_chunk;

static inline g4_block_ctx g4_session_blocks(g4_session *s)
{
    g4_block_ctx b = {&s->m->dec, s->pool, &s->sc, &s->kv};
    return b;
}

/* forward.c: runs every layer over one chunk, appending to the cache. G4_OK or G4_ERR_CANCELLED. */
g4_status g4_forward_chunk(g4_session *s, const g4_chunk *c);
/* forward.c: logits[r] = softcap(E . hidden[r]) for n rows; raw != 0: E . hidden[r] (no softcap). */
void g4_forward_logits(g4_session *s, const float *hidden, int32_t n, float *logits, int raw);
/* forward.c: the greedy token of a logit row: the first index of the largest softcap(x[i]) when
 * x holds logits before a softcap of `softcap` (> 0), else of the largest x[i]. Exactly what an
 * argmax over the softcapped row gives, without 262144 tanhf: softcap is monotone, so only values
 * within a (checked) margin of the raw maximum can tie with it once capped. */
int32_t g4_greedy_token(const float *x, int32_t n, float softcap);

/* block_layer.c: x = one layer's attention and FFN (+ MoE) sublayers with their residuals, in
 * place (what follows, PLE and the layer scalar, is the caller's). */
void g4_block_layer(const g4_block_ctx *b, const g4_layer *L, const g4_chunk *c, float *x);
/* block_attention.c: out[n, d] = W_o . attn(...) for layer L (writes K/V into the cache when
 * L->writes_kv). */
void g4_block_attention(const g4_block_ctx *b, const g4_layer *L, const g4_chunk *c, const float *a, float *out);
/* block_mlp.c: out[n, d] = W_down (gelu_tanh(W_gate x) * (W_up x)) */
void g4_block_mlp(const g4_block_ctx *b, const g4_layer *L, const float *x, int32_t n, float *out);
/* block_moe.c: out[n, d] = sum_k w_k expert_k(rmsnorm(r; pre_ffw_norm_2)) (router reads r) */
void g4_block_moe(const g4_block_ctx *b, const g4_layer *L, const float *r, int32_t n, float *out);
/* block_ple.c: per-layer inputs ple[n, L*P] from the tokens and the scaled embeddings x0
 * (target model only: the tables are the model's). */
void g4_block_ple_inputs(g4_session *s, const g4_chunk *c, const float *x0, float *ple);
/* block_ple.c: x += rmsnorm(W_proj (gelu_tanh(W_gate x) * ple_l); post_norm) */
void g4_block_ple_inject(g4_session *s, int32_t l, float *x, int32_t n, const float *ple);

#endif
