/* The one mask definition of attention over the cache (attention.h), shared by the row path
 * (block_attention.c) and the tiled prompt path (attention_prefill.c):
 *   causal: keys up to the query's own position (the drafter: below g4_chunk.key_end);
 *   sliding layers: also q_pos - k_pos < window (and not below g4_chunk.key_lo, what the cache
 *   still holds: the drafter's limit; the decoder leaves it 0);
 *   bidirectional vision: a token of an image/video span also sees the later tokens of its span
 *   (still within the window) on sliding layers. */
#include "model/attention.h"

void g4_attn_key_range(const g4_attn_args *j, int32_t t, int32_t *lo, int32_t *hi)
{
    int32_t q = j->c->pos0 + t;
    *hi = j->c->key_end > 0 && j->c->key_end - 1 < q ? j->c->key_end - 1 : q;
    *lo = j->c->key_lo;
    if (j->window <= 0)
        return;
    if (q - j->window + 1 > *lo)
        *lo = q - j->window + 1;
    if (!j->bidir)
        return;
    for (int32_t i = 0; i < j->c->n_spans; i++) {
        const g4_embd_span *sp = &j->c->spans[i];
        if (g4_span_is_vision(sp->kind) && t >= sp->first && t < sp->first + sp->n) {
            int32_t end = j->c->pos0 + sp->first + sp->n - 1;
            int32_t lim = q + j->window - 1;
            *hi = end < lim ? end : lim;
            if (*hi < q)
                *hi = q;
            return;
        }
    }
}
