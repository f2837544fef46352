/* Attention over the KV cache for one layer and one chunk (spec §2.5), after the projections:
 * out = softmax(q . K^T) V per query head, with the layer's masks. Two implementations of the
 * same mathematics:
 *   - g4_attn_rows (block_attention.c): one (token, head) at a time over its whole visible key
 *     range with a full score row — the decode step and small verify batches (n <= 8), whose
 *     rows must stay bit-identical to one-token steps;
 *   - g4_attn_prefill (attention_prefill.c): prompt batches, tiled with an online softmax.
 * Masks (g4_attn_key_range): causal; sliding layers also q_pos - k_pos < window; with
 * bidirectional vision, a token of an image/video span also sees the later tokens of its span
 * (still within the window) on sliding layers. Every row sees a contiguous key range, and both
 * ends of that range never decrease from one row to the next. */
#ifndef G4_ATTENTION_H
#define G4_ATTENTION_H

#include "model/blocks.h"

/* Batches of up to this many rows take the row path (the largest MTP verify batch, 1 + 7
 * drafts: verify rows must score exactly as one-token steps). */
#define G4_ATTN_ROWS_MAX_BATCH 8

typedef struct g4_attn_args {
    const g4_kv_layer *kv; /* the cache this layer reads (positions up to pos0 + n - 1 written) */
    const g4_chunk *c;     /* n, pos0, spans */
    const float *q;        /* [n, nq * hd], normed and roped */
    float *out;            /* [n, nq * hd] */
    int32_t nq, nkv, hd;
    int32_t window;        /* 0: full attention */
    int bidir;             /* image/video spans are bidirectional on this layer */
} g4_attn_args;

/* Key positions [*lo, *hi] visible from batch row t. */
void g4_attn_key_range(const g4_attn_args *a, int32_t t, int32_t *lo, int32_t *hi);

/* Row path: `scores` holds one row of `stride` (>= visible keys) floats per pool thread. */
void g4_attn_rows(g4k_pool *pool, float *scores, size_t stride, const g4_attn_args *a);

/* Floats of per-thread scratch g4_attn_prefill needs for a layer of this shape. */
size_t g4_attn_prefill_floats(int32_t nq, int32_t nkv, int32_t hd);
/* Tiled path: `scratch` holds n_scratch blocks of per_thread floats (at least
 * g4_attn_prefill_floats for this shape; 64-byte aligned blocks are faster), one per pool
 * thread. */
void g4_attn_prefill(g4k_pool *pool, float *scratch, size_t per_thread, int32_t n_scratch, const g4_attn_args *a);

#endif
