/* Shared numeric ops: the one implementation of each that the text decoder, the MTP drafter and
 * the multimodal encoders all call. They sit just above the kernels (kernels/kernels.h) and know
 * nothing of models or sessions: what they work on comes in as arguments (a pool, a matrix, a
 * RoPE table).
 *
 *   linear.c     g4_linear: y = W x with the activation policy (g4_linear_mode)
 *   norm.c       RMSNorm (weighted, weightless, fused add), LayerNorm
 *   activation.c tanh GELU, GeGLU
 *   rope.c       RoPE tables and the NEOX rotation
 *   parallel.c   g4_parallel_for: one contiguous range per pool thread
 *   top_k.c      g4_top_k: selection by value (the one argmax is the kernels' g4k_argmax) */
#ifndef G4_OPS_H
#define G4_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"

/* ---- linear layers (linear.c) ------------------------------------------------------------- */

/* How a linear layer treats its activations.
 *   G4_LINEAR_DECODER  float weights (F32/F16/BF16) multiply f32 activations; quantized weights
 *                      take the kernel's matching 8-bit activation format (Q8_0 / Q8_K), as
 *                      every GGUF engine pairs them. The text decoder and the drafter.
 *   G4_LINEAR_F32      f32 activations for every weight type (G4_EXACT=1 at load: the
 *                      quantized-conformance reference path).
 *   G4_LINEAR_KERNEL   whatever g4k_matmul picks for the weight type (F16 weights take F16
 *                      activations, as llama.cpp's clip does): the multimodal encoders.
 *   G4_LINEAR_LOWP     g4k_matmul_lowp: BF16 weights may multiply activations rounded to bf16
 *                      (vdpbf16ps, 2x the f32 FMA rate); other types as G4_LINEAR_KERNEL. Only
 *                      the encoders' opt-in precisions (media/mmproj_precision.c) use it. */
typedef enum g4_linear_mode {
    G4_LINEAR_DECODER = 0,
    G4_LINEAR_F32 = 1,
    G4_LINEAR_KERNEL = 2,
    G4_LINEAR_LOWP = 3,
} g4_linear_mode;

/* y[n, rows] = x[n, cols] . W^T on the pool (NULL: inline). */
void g4_linear(g4k_pool *pool, g4_linear_mode mode, const g4k_matrix *w, const float *x, int64_t n, float *y);
/* y[i] = W[rows[i]] . x for one token row x, with the same arithmetic g4_linear gives that row
 * (a head that needs only some rows). tmp holds one dequantized row (w->n_cols floats).
 * G4_ERR_OUT_OF_MEMORY (g4_fail) when the kernel finds no scratch. */
int32_t g4_linear_rows(g4k_pool *pool, g4_linear_mode mode, const g4k_matrix *w, const int32_t *rows,
                       int32_t n_rows, const float *x, float *y, float *tmp);

/* ---- normalisation (norm.c) --------------------------------------------------------------- */

/* y = x * (mean(x^2) + eps)^-1/2 * w  (w NULL: weightless), per row of `dim`; y may be x.
 * Sums in double, so the row's summation order never matters. */
void g4_rmsnorm(const float *x, const float *w, int64_t n_rows, int64_t dim, float eps, float *y);
/* y += rmsnorm(x; w) */
void g4_add_rmsnorm(float *y, const float *x, const float *w, int64_t n_rows, int64_t dim, float eps);
/* The same, rows split across the pool when there are enough of them (prompt batches); bit for
 * bit the serial results. pool may be NULL. */
void g4_rmsnorm_pool(g4k_pool *pool, const float *x, const float *w, int64_t n_rows, int64_t dim, float eps, float *y);
void g4_add_rmsnorm_pool(g4k_pool *pool, float *y, const float *x, const float *w, int64_t n_rows, int64_t dim,
                         float eps);
/* torch LayerNorm per row of `dim`: biased variance, eps inside the sqrt, sums in double;
 * y = ((x - mean) * rstd) * w + b  (b NULL: no bias). y may be x. */
void g4_layernorm(const float *x, const float *w, const float *b, int64_t n_rows, int64_t dim, float eps,
                  float *y);

/* ---- activations (activation.c) ----------------------------------------------------------- */

/* gelu_pytorch_tanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), scalar libm tanhf */
float g4_gelu_tanh(float x);
/* gate[i] = gelu_tanh(gate[i]) * up[i] over n values, vectorised (kernels), split across the
 * pool when n is large. */
void g4_geglu(g4k_pool *pool, float *gate, const float *up, int64_t n);

/* ---- RoPE (rope.c) ------------------------------------------------------------------------ */

/* inv[i] = base^(-2i/n_rot) / factors[i] for i < n_rot/2, in f32 as HF; a factor >= 1e20 means
 * "not rotated" and stores an exact 0 (the proportional RoPE of full layers). factors may be
 * NULL. */
void g4_rope_inv_freq(int32_t n_rot, float base, const float *factors, int64_t n_factors, float *inv);
/* Rotates n_head heads of width head_dim in each of n rows at positions pos0.. (NEOX pairing:
 * element i with i + n_rot/2, angle pos * inv[i]). */
void g4_rope(const float *inv, int32_t n_rot, float *x, int32_t n, int32_t n_head, int32_t head_dim, int32_t pos0);
/* g4_rope with the rows split across the pool (>= 16 rows); the same values. pool may be NULL. */
void g4_rope_pool(g4k_pool *pool, const float *inv, int32_t n_rot, float *x, int32_t n, int32_t n_head,
                  int32_t head_dim, int32_t pos0);

/* ---- loops (parallel.c) ------------------------------------------------------------------- */

/* Parallel loop over [0, n): fn(ctx, i0, i1), one contiguous range per pool thread. */
typedef void (*g4_range_fn)(void *ctx, int64_t i0, int64_t i1);
void g4_parallel_for(g4k_pool *pool, int64_t n, g4_range_fn fn, void *ctx);

/* ---- selection (top_k.c) ----------------------------------------------------------------- */

/* idx[0..k) = the indices of the k largest of x[0..n) (1 <= k <= n), sorted by value
 * (descending), equal values by index (ascending). */
void g4_top_k(const float *x, int32_t n, int32_t k, int32_t *idx);

/* ---- small inline helpers ----------------------------------------------------------------- */

/* Attention dot product over a head: 8 independent partial sums (vectorizes, and the fixed
 * summation order keeps results independent of how work is split across threads). */
static inline float g4_dot_f32(const float *a, const float *b, int32_t n)
{
    float acc[8] = {0};
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += a[i + j] * b[i + j];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

#endif
