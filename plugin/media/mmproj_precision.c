/* Opt-in encoder precision (G4_MM_PRECISION_*, abi/g4plug.h): the float weights of the encoders'
 * linear layers converted once, at load, into one owned block, so that the GEMMs run at the
 * 16-bit or 8-bit rate instead of the f32 FMA rate.
 *
 *   BF16: every F32/F16 linear weight rounded to bf16 (RNE); the layers then go through
 *         g4k_matmul_lowp (G4_LINEAR_LOWP), which rounds the activations to bf16 and multiplies
 *         with vdpbf16ps where the CPU has AVX512-BF16 (2x the f32 FMA rate); elsewhere it keeps
 *         f32 activations (the weights' rounding is then the only change).
 *   Q8:   every F32/F16/BF16 linear weight with a multiple of 32 columns quantized to Q8_0 (per
 *         32 weights an fp16 scale amax/127); g4k_matmul then quantizes the activations to Q8_0
 *         and runs the int8 GEMM (vpdpbusd, 4x the f32 FMA rate), as llama.cpp runs Q8_0 mmprojs.
 *
 * Both modes also run the vision tower's attention (scores and probabilities times values) with
 * bf16 operands (embed_image_tower.c). Norms, softmax, GELU, pooling, the conformer's
 * convolutions and its local attention stay f32. The default (F32) converts nothing and leaves
 * every result bit-identical to a projector that never heard of this file. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define G4_MMPROJ_PRIVATE
#include "base/internal.h"
#include "media/mmproj.h"
#include "ops/ops.h"

#define MAX_MATS 4096 /* linear layers of one projector: no Gemma 4 encoder comes near (E2B: 117 + 135) */

typedef struct conv_list {
    g4k_matrix *m[MAX_MATS];
    g4k_matrix conv[MAX_MATS]; /* what m[i] becomes */
    int n, overflow;
} conv_list;

static void add(conv_list *l, g4k_matrix *m)
{
    if (l->n < MAX_MATS && m->data)
        l->m[l->n++] = m;
    else if (m->data)
        l->overflow = 1;
}

static void collect(g4_mmproj *p, conv_list *l)
{
    if (p->has_vision && p->v_kind == G4_MM_UNIFIED) {
        add(l, &p->dense);
        add(l, &p->vproj);
    }
    if (p->has_audio && p->a_kind == G4_MM_UNIFIED)
        add(l, &p->aproj);
    if (p->has_vision && p->v_kind == G4_MM_TOWER) {
        g4_vtower *V = &p->vt;
        add(l, &V->patch_w);
        add(l, &V->proj);
        for (int i = 0; i < V->n_layer; i++) {
            g4_vt_layer *L = &V->layers[i];
            g4_clin *c[] = {&L->q, &L->k, &L->v, &L->o, &L->gate, &L->up, &L->down};
            for (size_t k = 0; k < sizeof c / sizeof *c; k++)
                add(l, &c[k]->w);
        }
    }
    if (p->has_audio && p->a_kind == G4_MM_TOWER) {
        g4_atower *A = &p->at;
        add(l, &A->in_proj);
        add(l, &A->out_proj);
        add(l, &A->proj);
        for (int i = 0; i < A->n_layer; i++) {
            g4_at_layer *L = &A->layers[i];
            g4_clin *c[] = {&L->ffn_up[0], &L->ffn_up[1], &L->ffn_down[0], &L->ffn_down[1], &L->q, &L->k,
                            &L->v,         &L->o,         &L->pw1,         &L->pw2};
            for (size_t k = 0; k < sizeof c / sizeof *c; k++)
                add(l, &c[k]->w);
            add(l, &L->k_rel);
        }
    }
}

/* The type a matrix becomes under `precision`, or its own type when it stays as loaded. */
static uint32_t target_type(const g4k_matrix *m, int precision)
{
    const int is_float = m->type == G4_TYPE_F32 || m->type == G4_TYPE_F16 || m->type == G4_TYPE_BF16;
    if (!is_float)
        return m->type; /* already quantized in the file: its own kernel path */
    if (precision == G4_MM_PRECISION_BF16)
        return G4_TYPE_BF16;
    if (precision == G4_MM_PRECISION_Q8 && m->n_cols % 32 == 0)
        return G4_TYPE_Q8_0;
    return m->type;
}

static size_t row_bytes_of(uint32_t type, int64_t n_cols)
{
    return type == G4_TYPE_Q8_0 ? (size_t)(n_cols / 32) * 34 : (size_t)n_cols * 2; /* Q8_0 or BF16 */
}

typedef struct conv_job {
    const g4k_matrix *src;
    uint32_t type;
    uint8_t *dst;
    size_t dst_rb;
    atomic_int failed; /* a worker found no memory for its row */
} conv_job;

static void convert_rows(void *ctx, int64_t r0, int64_t r1)
{
    conv_job *j = ctx;
    float *row = malloc(sizeof(float) * (size_t)j->src->n_cols);
    if (!row) {
        atomic_store(&j->failed, 1);
        return;
    }
    for (int64_t r = r0; r < r1; r++) {
        g4k_get_row(j->src, r, row);
        g4k_quantize_rows(j->type, row, j->src->n_cols, 1, j->dst + (size_t)r * j->dst_rb, j->dst_rb);
    }
    free(row);
}

int g4_mmproj_precision(const g4_mmproj *p) { return p ? p->precision : G4_MM_PRECISION_F32; }

int g4_mmproj_set_precision(g4_mmproj *p, g4k_pool *pool, int precision, char *err, size_t errlen)
{
    if (!p)
        return g4_errbuf(err, errlen, G4_ERR_INVALID_ARGUMENT, "no projector");
    if (precision != G4_MM_PRECISION_F32 && precision != G4_MM_PRECISION_BF16 && precision != G4_MM_PRECISION_Q8)
        return g4_errbuf(err, errlen, G4_ERR_INVALID_ARGUMENT, "unknown encoder precision %d", precision);
    if (precision == p->precision)
        return G4_OK;
    if (p->precision != G4_MM_PRECISION_F32)
        return g4_errbuf(err, errlen, G4_ERR_INVALID_ARGUMENT,
                         "the encoder precision is set once (already %d, asked %d)", p->precision, precision);
    conv_list *l = calloc(1, sizeof *l);
    if (!l)
        return g4_errbuf(err, errlen, G4_ERR_OUT_OF_MEMORY, "out of memory converting the encoder weights");
    collect(p, l);
    if (l->overflow) {
        free(l);
        return g4_errbuf(err, errlen, G4_ERR_UNSUPPORTED, "more than %d encoder linear layers", MAX_MATS);
    }
    size_t total = 0;
    for (int i = 0; i < l->n; i++) {
        uint32_t t = target_type(l->m[i], precision);
        if (t != l->m[i]->type)
            total += (row_bytes_of(t, l->m[i]->n_cols) * (size_t)l->m[i]->n_rows + 63) & ~(size_t)63;
    }
    /* malloc + manual 64-byte alignment: portable (Windows has no aligned_alloc) */
    void *raw = total ? malloc(total + 63) : NULL;
    uint8_t *block = raw ? (uint8_t *)(((uintptr_t)raw + 63) & ~(uintptr_t)63) : NULL;
    if (total && !block) {
        free(l);
        return g4_errbuf(err, errlen, G4_ERR_OUT_OF_MEMORY,
                         "out of memory converting the encoder weights (%zu MiB)", total >> 20);
    }
    /* Convert everything first, then switch the matrices over: a failure leaves p as it was. */
    g4k_matrix *conv = l->conv;
    size_t off = 0;
    int failed = 0;
    for (int i = 0; i < l->n && !failed; i++) {
        const g4k_matrix *m = l->m[i];
        conv[i] = *m;
        uint32_t t = target_type(m, precision);
        if (t == m->type)
            continue;
        conv_job j = {.src = m, .type = t, .dst = block + off, .dst_rb = row_bytes_of(t, m->n_cols)};
        g4_parallel_for(pool, m->n_rows, convert_rows, &j);
        failed = atomic_load(&j.failed);
        conv[i] = (g4k_matrix){.data = j.dst, .type = t, .n_cols = m->n_cols, .n_rows = m->n_rows,
                               .row_bytes = j.dst_rb};
        off += (j.dst_rb * (size_t)m->n_rows + 63) & ~(size_t)63;
    }
    if (failed) {
        free(raw);
        free(l);
        return g4_errbuf(err, errlen, G4_ERR_OUT_OF_MEMORY, "out of memory converting the encoder weights");
    }
    for (int i = 0; i < l->n; i++)
        *l->m[i] = conv[i];
    free(l);
    p->converted = raw;
    p->precision = precision;
    p->lin_mode = G4_LINEAR_LOWP; /* Q8_0 weights: g4k_matmul's int8 GEMM, with the lowp row chunking */
    return G4_OK;
}
