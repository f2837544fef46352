/* Scalar kernel table: the portable fallback and the reference the SIMD tables are tested
 * against. Quantized types use their integer dot against the paired activation format; plain
 * types (and Q2_K/Q3_K) dequantize 256 weights at a time into a stack buffer and dot in f32. */
#include <math.h>

#include "quant.h"

static float dot_f32(int64_t n, const float *a, const float *b)
{
    float s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            s[k] += a[i + k] * b[i + k];
    for (; i < n; i++)
        s[0] += a[i] * b[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

#define CHUNK 256 /* a multiple of every block size */

/* Quantized weight · quantized activation. */
#define MM_DOT(T)                                                                                 \
    static void mm_##T(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, \
                       int64_t nt, float *y, int64_t ys)                                          \
    {                                                                                             \
        for (int64_t t = 0; t < nt; t++)                                                          \
            for (int64_t r = 0; r < nr; r++)                                                      \
                y[t * ys + r] = g4q_dot_##T(n, (const uint8_t *)w + r * ws,                       \
                                            (const uint8_t *)a + t * as);                         \
    }
MM_DOT(q4_0)
MM_DOT(q4_1)
MM_DOT(q5_0)
MM_DOT(q5_1)
MM_DOT(q8_0)
MM_DOT(q4_K)
MM_DOT(q5_K)
MM_DOT(q6_K)
MM_DOT(iq4_nl)
MM_DOT(iq4_xs)
MM_DOT(mxfp4)

/* Any weight type · f32 activations, through a chunked dequantize. Rows outer so each chunk is
 * decoded once for all nt tokens (nt is small: the driver tiles tokens). */
#define MM_DEQ(T, TYPE)                                                                           \
    static void mm_##T(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, \
                       int64_t nt, float *y, int64_t ys)                                          \
    {                                                                                             \
        const int64_t be = g4_type_get(TYPE)->block_elems, bb = g4_type_get(TYPE)->block_bytes;   \
        float buf[CHUNK];                                                                         \
        for (int64_t r = 0; r < nr; r++) {                                                        \
            const uint8_t *wr = (const uint8_t *)w + r * ws;                                      \
            for (int64_t t = 0; t < nt; t++)                                                      \
                y[t * ys + r] = 0;                                                                \
            for (int64_t k = 0; k < n; k += CHUNK) {                                              \
                const int64_t len = n - k < CHUNK ? n - k : CHUNK;                                \
                g4q_dequant_##T(wr + k / be * bb, buf, len);                                      \
                for (int64_t t = 0; t < nt; t++)                                                  \
                    y[t * ys + r] +=                                                              \
                        dot_f32(len, buf, (const float *)((const uint8_t *)a + t * as) + k);      \
            }                                                                                     \
        }                                                                                         \
    }
MM_DEQ(f32, G4_TYPE_F32)
MM_DEQ(f16, G4_TYPE_F16)
MM_DEQ(bf16, G4_TYPE_BF16)
MM_DEQ(q2_K, G4_TYPE_Q2_K)
MM_DEQ(q3_K, G4_TYPE_Q3_K)

static float exp_sub_sum(float *x, int64_t n, float m)
{
    float s = 0.f;
    for (int64_t i = 0; i < n; i++)
        s += (x[i] = expf(x[i] - m));
    return s;
}

static void softmax(float *x, int64_t n)
{
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        m = x[i] > m ? x[i] : m;
    const float inv = n > 0 ? 1.0f / exp_sub_sum(x, n, m) : 0.f;
    for (int64_t i = 0; i < n; i++)
        x[i] *= inv;
}

static inline float gelu_mul(float z, float u)
{
    return 0.5f * z * (1.0f + tanhf(0.7978845608028654f * (z + 0.044715f * z * z * z))) * u;
}

static void geglu_tanh(float *g, const float *u, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        g[i] = gelu_mul(g[i], u[i]);
}

static void geglu_tanh_clamp(float *g, const float *u, int64_t n, const float b[6])
{
    for (int64_t i = 0; i < n; i++)
        g[i] = g4k_clamp1(gelu_mul(g4k_clamp1(g[i], b[0], b[1]), g4k_clamp1(u[i], b[2], b[3])), b[4], b[5]);
}

/* sum x[i]^2 in double: each square is exact and the sum's rounding (~n * 2^-53) is far below
 * an f32 result's. Eight independent chains (element i in chain i % 8): one chain of dependent
 * double adds made the E2B tower's norms (per-head q/k/v norms of 64 values, ~1M rows an image)
 * 5% of a 1-thread embed. The vector levels keep the chains as lanes (the same value). */
static double sum_sq(const float *x, int64_t n)
{
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0; /* registers, not an array */
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        a0 += (double)x[i] * x[i];
        a1 += (double)x[i + 1] * x[i + 1];
        a2 += (double)x[i + 2] * x[i + 2];
        a3 += (double)x[i + 3] * x[i + 3];
        a4 += (double)x[i + 4] * x[i + 4];
        a5 += (double)x[i + 5] * x[i + 5];
        a6 += (double)x[i + 6] * x[i + 6];
        a7 += (double)x[i + 7] * x[i + 7];
    }
    for (; i < n; i++)
        a0 += (double)x[i] * x[i];
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
}

/* One operation per statement: a compiler that contracts within an expression (clang's
 * default) must not fuse the add into an FMA here, the vector levels round each step. */
static void scale_row(const float *x, float s, const float *w, float *y, int64_t n, int add)
{
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] * s;
        if (w)
            v = v * w[i];
        y[i] = add ? y[i] + v : v;
    }
}

static void mul_sigmoid(float *dst, const float *x, const float *s, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = x[i] / (1.0f + expf(-s[i]));
}

static int64_t argmax(const float *x, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

static int64_t first_ge(const float *x, int64_t n, float t)
{
    int64_t i = 0;
    while (i < n && !(x[i] >= t))
        i++;
    return i;
}

/* KV-cache rows: dequantize 32 at a time (Q8_0's block), then f32. n: multiple of 32 for Q8_0. */
#define KV_ROW(T, TYPE)                                                                            \
    static float row_dot_##T(const void *row, const float *q, int64_t n)                          \
    {                                                                                              \
        float buf[32], s = 0.f;                                                                    \
        const size_t cb = g4_type_row_bytes(TYPE, 32);                                             \
        for (int64_t k = 0; k < n; k += 32) {                                                      \
            const int64_t len = n - k < 32 ? n - k : 32;                                           \
            g4q_traits_get(TYPE)->dequant((const uint8_t *)row + (size_t)(k / 32) * cb, buf, len); \
            for (int64_t i = 0; i < len; i++)                                                      \
                s += buf[i] * q[k + i];                                                            \
        }                                                                                          \
        return s;                                                                                  \
    }                                                                                              \
    static void row_axpy_##T(const void *row, float w, float *o, int64_t n)                       \
    {                                                                                              \
        float buf[32];                                                                             \
        const size_t cb = g4_type_row_bytes(TYPE, 32);                                             \
        for (int64_t k = 0; k < n; k += 32) {                                                      \
            const int64_t len = n - k < 32 ? n - k : 32;                                           \
            g4q_traits_get(TYPE)->dequant((const uint8_t *)row + (size_t)(k / 32) * cb, buf, len); \
            for (int64_t i = 0; i < len; i++)                                                      \
                o[k + i] += w * buf[i];                                                            \
        }                                                                                          \
    }
KV_ROW(f32, G4_TYPE_F32)
KV_ROW(f16, G4_TYPE_F16)
KV_ROW(bf16, G4_TYPE_BF16)
KV_ROW(q8_0, G4_TYPE_Q8_0)

void g4k_fill_scalar(g4k_kernels *k)
{
    k->row_dot[G4_TYPE_F32] = row_dot_f32;
    k->row_dot[G4_TYPE_F16] = row_dot_f16;
    k->row_dot[G4_TYPE_BF16] = row_dot_bf16;
    k->row_dot[G4_TYPE_Q8_0] = row_dot_q8_0;
    k->row_axpy[G4_TYPE_F32] = row_axpy_f32;
    k->row_axpy[G4_TYPE_F16] = row_axpy_f16;
    k->row_axpy[G4_TYPE_BF16] = row_axpy_bf16;
    k->row_axpy[G4_TYPE_Q8_0] = row_axpy_q8_0;
    k->exp_sub_sum = exp_sub_sum;
    k->softmax = softmax;
    k->geglu_tanh = geglu_tanh;
    k->geglu_tanh_clamp = geglu_tanh_clamp;
    k->clamp = g4k_clamp_base;
    k->sum_sq = sum_sq;
    k->scale_row = scale_row;
    k->mul_sigmoid = mul_sigmoid;
    k->argmax = argmax;
    k->first_ge = first_ge;
    g4k_fill_scalar_attn(k);
    k->isa = G4K_ISA_SCALAR;
    k->dot_f32 = dot_f32;
    k->mm[G4_TYPE_F32] = mm_f32;
    k->mm[G4_TYPE_F16] = mm_f16;
    k->mm[G4_TYPE_BF16] = mm_bf16;
    k->mm[G4_TYPE_Q2_K] = mm_q2_K;
    k->mm[G4_TYPE_Q3_K] = mm_q3_K;
    k->mm[G4_TYPE_Q4_0] = mm_q4_0;
    k->mm[G4_TYPE_Q4_1] = mm_q4_1;
    k->mm[G4_TYPE_Q5_0] = mm_q5_0;
    k->mm[G4_TYPE_Q5_1] = mm_q5_1;
    k->mm[G4_TYPE_Q8_0] = mm_q8_0;
    k->mm[G4_TYPE_Q4_K] = mm_q4_K;
    k->mm[G4_TYPE_Q5_K] = mm_q5_K;
    k->mm[G4_TYPE_Q6_K] = mm_q6_K;
    k->mm[G4_TYPE_IQ4_NL] = mm_iq4_nl;
    k->mm[G4_TYPE_IQ4_XS] = mm_iq4_xs;
    k->mm[G4_TYPE_MXFP4] = mm_mxfp4;
}
