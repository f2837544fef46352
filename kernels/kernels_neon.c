/* NEON (+dotprod) kernel table: the f32 dot here, the sdot matmul kernels in mm_neon.c
 * (Q4_0, Q8_0, Q4_K, Q6_K, F16, BF16); other types run the scalar kernels. */
#include <arm_neon.h>

#include "quant.h"

static float neon_dot_f32(int64_t n, const float *a, const float *b)
{
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    }
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

void g4k_fill_neon(g4k_kernels *k)
{
    k->dot_f32 = neon_dot_f32;
    g4k_fill_neon_mm(k);
}
