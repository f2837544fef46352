/* Linear layers: y = W x with the activation policy of g4_linear_mode (ops.h).
 *
 * Why float weights keep f32 activations in the decoder: rounding the activations to 16 bits
 * (what the fast BF16 GEMM does, as llama.cpp does) moves the tiny reference models' hidden
 * states by far more than the conformance tolerances and flips their top-1 tokens
 * (fixtures/README.md). Quantized weights take the kernel's matching 8-bit activation format
 * (Q8_0 / Q8_K), as every GGUF engine pairs them. */
#include "base/internal.h"
#include "ops/ops.h"

static int f32_activations(g4_linear_mode mode, uint32_t type)
{
    if (mode == G4_LINEAR_F32)
        return 1;
    if (mode == G4_LINEAR_KERNEL || mode == G4_LINEAR_LOWP)
        return 0;
    return type == G4_TYPE_F32 || type == G4_TYPE_F16 || type == G4_TYPE_BF16;
}

void g4_linear(g4k_pool *pool, g4_linear_mode mode, const g4k_matrix *w, const float *x, int64_t n, float *y)
{
    if (f32_activations(mode, w->type))
        g4k_matmul_f32act(pool, w, x, n, y);
    else if (mode == G4_LINEAR_LOWP)
        g4k_matmul_lowp(pool, w, x, n, y);
    else
        g4k_matmul(pool, w, x, n, y);
}

int32_t g4_linear_rows(g4k_pool *pool, g4_linear_mode mode, const g4k_matrix *w, const int32_t *rows,
                       int32_t n_rows, const float *x, float *y, float *tmp)
{
    if (!f32_activations(mode, w->type)) {
        /* quantized rows through the decode kernel, each value equal to g4_linear's for that row */
        if (g4k_matmul_rows(pool, w, rows, n_rows, x, y) != 0)
            return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory scoring %d selected rows", n_rows);
        return G4_OK;
    }
    /* f32 activations: the dequantized row dotted in f32 */
    for (int32_t i = 0; i < n_rows; i++) {
        g4k_get_row(w, rows[i], tmp);
        y[i] = g4_dot_f32(tmp, x, (int32_t)w->n_cols);
    }
    return G4_OK;
}
