/* Weights re-laid out once at load for the kernel layer's rows-in-lanes kernels (kernels/
 * pack16.c): the LM head (g4k_pack) and the layers' quantized matrices (g4k_pack_layer).
 *
 * The LM head, packed once at load for the kernel layer's rows-in-lanes kernel (g4k_pack,
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
 * for the head's type or level (it then keeps the GGUF layout), or with G4_PACK_HEAD=0.
 *
 * Layer matrices (attention and FFN projections, PLE gate/projection) in Q4_0, Q4_K, Q6_K or
 * Q8_0: decode and verify run the packed kernel (a 4-token verify batch costs about 1.0-1.6x
 * one token on Zen 4 instead of 1.5-2x, and the single-token kernel streams faster than the
 * GGUF layout's), prefill's GEMM reads GGUF rows rebuilt from the packed copy, byte for byte
 * the file's. So each
 * matrix's mapped pages are given back right after it is packed, and memory stays one copy of
 * the weights. Only where they can be given back (a file mapping, not G4_LOAD_NO_MMAP, not
 * locked, not Windows): elsewhere a copy would double the weights. Not under G4_EXACT=1, nor
 * with G4_PACK_LAYERS=0. MoE expert stacks keep the GGUF layout (their rows are gathered per
 * token). Packing reads every weight once and writes a new copy (12B shape, 6 layers, 766 MB:
 * 0.86 s on 2 threads here, most of it the kernel zeroing the new pages). */
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

/* The layer matrices g4_model_pack_layers packs, NULL-terminated. */
static void layer_matrices(g4_layer *L, g4k_matrix *out[10])
{
    g4k_matrix *all[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_gate, &L->ffn_up, &L->ffn_down, &L->ple_gate, &L->ple_proj};
    int n = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]->data && !all[i]->packed)
            out[n++] = all[i];
    out[n] = NULL;
}

void g4_model_pack_layers(g4_model *m)
{
    if (m->vocab_only || m->linear == G4_LINEAR_F32 || !m->layers)
        return;
    const double t0 = seconds();
    g4k_pool *tmp = m->pool ? NULL : g4k_pool_new(m->n_threads);
    g4k_pool *pool = m->pool ? m->pool : tmp;
    uint64_t packed = 0, released = 0;
    int n = 0;
    for (int32_t l = 0; l < m->hp.n_layer; l++) {
        g4k_matrix *mats[10];
        layer_matrices(&m->layers[l], mats);
        for (int i = 0; mats[i]; i++) {
            g4k_matrix *w = mats[i];
            const size_t bytes = (size_t)w->n_rows * w->row_bytes;
            if (!g4_gguf_releasable(m->gguf, w->data, bytes))
                continue;
            g4k_packed *p = g4k_pack_layer(pool, w);
            if (!p)
                continue;
            w->packed = p;
            packed += g4k_packed_bytes(p);
            released += g4_gguf_release_pages(m->gguf, w->data, bytes);
            n++;
        }
    }
    g4k_pool_free(tmp);
    if (n)
        g4_log(&m->log, G4_LOG_INFO, "packed %d layer matrices (%.1f MB) in %.0f ms; %.1f MB of their mapping released", n,
               packed / 1e6, (seconds() - t0) * 1e3, released / 1e6);
}

void g4_model_free_packed_layers(g4_model *m)
{
    for (int32_t l = 0; m->layers && l < m->hp.n_layer; l++) {
        g4_layer *L = &m->layers[l];
        g4k_matrix *all[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_gate, &L->ffn_up, &L->ffn_down, &L->ple_gate, &L->ple_proj};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
            g4k_packed_free((g4k_packed *)(uintptr_t)all[i]->packed);
            all[i]->packed = NULL;
        }
    }
}
