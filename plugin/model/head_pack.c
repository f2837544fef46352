/* The LM head, packed once at load for the kernel layer's rows-in-lanes kernel (g4k_pack,
 * kernels/pack16.c): decode and MTP verify batches (1..8 tokens) run one kernel whose per-token
 * arithmetic does not depend on the batch, so verifying k+1 tokens costs about one decode step
 * and drafted greedy output stays bit-identical to plain greedy output.
 *
 * The head is only ever multiplied with <= 8 positions in decoding (prefill asks logits for its
 * last position); embedding lookups (tok_embd, tied or not) read the GGUF mapping. So after
 * packing, the mapped head's pages are given back to the OS: a separate output.weight is then
 * not read again (except by batches of more logits rows than 8, from the file), and a tied
 * table maps in only the rows looked up. Memory accounting (head_extra_bytes) counts the
 * packed copy, less a separate head's released pages.
 *
 * Not packed: under G4_EXACT=1 (f32 activations), when the kernel layer has no packed kernel
 * for the head's type or level (it then keeps the GGUF layout), for heads other than Q8_0 unless
 * G4_PACK_HEAD=1 (g4k_pack: the packed Q6_K decode is slower), or with G4_PACK_HEAD=0. */
#include <time.h>

#include "model/model.h"

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void g4_model_pack_head(g4_model *m)
{
    if (m->vocab_only || m->linear == G4_LINEAR_F32 || !m->lm_head.data)
        return;
    const double t0 = seconds();
    g4k_pool *tmp = m->pool ? NULL : g4k_pool_new(m->n_threads);
    m->lm_head_packed = g4k_pack(m->pool ? m->pool : tmp, &m->lm_head);
    g4k_pool_free(tmp);
    if (!m->lm_head_packed)
        return;
    const size_t head_bytes = (size_t)m->lm_head.n_rows * m->lm_head.row_bytes;
    const int tied = m->lm_head.data == m->tok_embd.data;
    const uint64_t released = g4_gguf_release_pages(m->gguf, m->lm_head.data, head_bytes);
    m->head_extra_bytes = (int64_t)g4k_packed_bytes(m->lm_head_packed) - (tied ? 0 : (int64_t)released);
    g4_log(&m->log, G4_LOG_INFO, "packed the %s LM head (%s, %.1f MB) in %.0f ms; %.1f MB of its mapping released",
           tied ? "tied" : "separate", g4_type_get(m->lm_head.type)->name, g4k_packed_bytes(m->lm_head_packed) / 1e6,
           (seconds() - t0) * 1e3, released / 1e6);
}
