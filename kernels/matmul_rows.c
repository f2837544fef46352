/* g4k_matmul_rows: a matrix-vector product over selected rows only (the drafter's
 * centroid-masked head scores 32 clusters x 128 scattered token rows of a 262144-row table).
 * The activation is quantized once and the selected rows are gathered into one contiguous
 * block, which the single-token kernel then runs over in one call per thread: a kernel's row
 * value never depends on its neighbours (the invariant the verify kernels rely on too), so every
 * row's value is what g4k_matmul would give for it (for a matrix with a packed copy: what the
 * GGUF layout's kernel gives). One call per row instead re-arranged the
 * activation for every row -- 4096 times per draft step. */
#include "quant.h"

#include <string.h>

typedef struct {
    g4k_mm_fn mv;
    const g4k_matrix *w;
    const uint8_t *packed; /* [n_sel rows of w->row_bytes] */
    int64_t n_sel;
    const void *act;
    size_t a_stride;
    float *y;
} rows_ctx;

static void rows_task(void *arg, int ith, int nth)
{
    const rows_ctx *c = arg;
    const int64_t per = (c->n_sel + nth - 1) / nth, i0 = ith * per;
    const int64_t i1 = i0 + per < c->n_sel ? i0 + per : c->n_sel;
    if (i1 > i0)
        c->mv(c->w->n_cols, c->packed + (size_t)i0 * c->w->row_bytes, c->w->row_bytes, i1 - i0, c->act, c->a_stride,
              1, c->y + i0, c->n_sel);
}

int g4k_matmul_rows(g4k_pool *pool, const g4k_matrix *w, const int32_t *rows, int64_t n_sel, const float *x, float *y)
{
    const g4k_kernels *k = g4k_kernels_active();
    const g4q_traits *t = g4q_traits_get(w->type);
    if (!t || n_sel < 0)
        return -1;
    for (int64_t i = 0; i < n_sel; i++)
        if (rows[i] < 0 || rows[i] >= w->n_rows)
            return -1;
    g4k_mm_fn mv = k->mv[w->type] ? k->mv[w->type] : k->mm[w->type];
    if (!mv)
        return -1;
    const size_t arb = g4k_act_row_bytes(w->type, w->n_cols);
    const void *act = x;
    if (t->act_type != G4_TYPE_F32) {
        void *abuf = g4k_scratch(G4K_SCRATCH_ACT, arb);
        if (!abuf)
            return -1;
        if (k->qact[t->act_type])
            k->qact[t->act_type](x, w->n_cols, 1, abuf, arb);
        else
            g4k_quantize_act(w->type, x, w->n_cols, 1, abuf);
        act = abuf;
    }
    uint8_t *packed = g4k_scratch(G4K_SCRATCH_GEMM_W, w->row_bytes * (size_t)(n_sel > 0 ? n_sel : 1));
    if (!packed)
        return -1;
    for (int64_t i = 0; i < n_sel; i++) {
        const uint8_t *src = g4k_matrix_rows(w, rows[i], 1);
        if (!src)
            return -1;
        memcpy(packed + (size_t)i * w->row_bytes, src, w->row_bytes);
    }
    rows_ctx c = {mv, w, packed, n_sel, act, arb, y};
    if (pool && n_sel >= 256)
        g4k_pool_run(pool, rows_task, &c);
    else
        rows_task(&c, 0, 1);
    return 0;
}
