/* One decoder layer's attention and feed-forward sublayers with their norms and residuals
 * (spec §2.2, §2.6), for the target model and the MTP drafter alike:
 *   h1 = x + rms(Attn(rms(x; attn_norm)); post_attn_norm)
 *   f  = FFN(rms(h1; ffn_norm))                                          dense layers
 *   f  = rms(FFN(rms(h1; ffn_norm)); post1) + rms(MoE(h1); post2)        MoE layers
 *   x  = h1 + rms(f; post_ffw_norm)
 * PLE injection and the layer scalar follow in the caller (forward.c; the drafter's step). */
#include "model/blocks.h"

void g4_block_layer(const g4_block_ctx *b, const g4_layer *L, const g4_chunk *c, float *x)
{
    const g4_hparams *hp = b->dec->hp;
    g4_scratch *sc = b->sc;
    const int32_t n = c->n, d = hp->n_embd;
    const float eps = hp->eps;

    g4_rmsnorm_pool(b->pool, x, L->attn_norm, n, d, eps, sc->a);
    g4_block_attention(b, L, c, sc->a, sc->o);
    g4_add_rmsnorm_pool(b->pool, x, sc->o, L->post_attn_norm, n, d, eps); /* x = h1 */

    g4_rmsnorm_pool(b->pool, x, L->ffn_norm, n, d, eps, sc->a);
    g4_block_mlp(b, L, sc->a, n, sc->f);
    if (hp->n_expert > 0) {
        g4_rmsnorm_pool(b->pool, sc->f, L->post_ffw_norm_1, n, d, eps, sc->f);
        g4_block_moe(b, L, x, n, sc->moe);
        g4_add_rmsnorm_pool(b->pool, sc->f, sc->moe, L->post_ffw_norm_2, n, d, eps);
    }
    g4_add_rmsnorm_pool(b->pool, x, sc->f, L->post_ffw_norm, n, d, eps);
}
