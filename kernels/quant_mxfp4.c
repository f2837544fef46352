/* MXFP4 (OCP microscaling FP4): E8M0 block exponent + 16 E2M1 nibbles; pairs with Q8_0.
 * The table is E2M1 doubled so it is integral; the scale helper halves it back. */
#include <math.h>

#include "quant.h"

const int8_t g4q_kvalues_mxfp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

static int best_index(float x)
{
    int best = 0;
    float be = INFINITY;
    for (int k = 0; k < 16; k++) {
        const float e = fabsf(x - g4q_kvalues_mxfp4[k]);
        if (e < be) {
            be = e;
            best = k;
        }
    }
    return best;
}

void g4q_dequant_mxfp4(const void *src, float *y, int64_t n)
{
    const g4q_mxfp4 *x = src;
    for (int64_t i = 0; i < n / G4_QK; i++, y += G4_QK) {
        const float d = g4q_e8m0_half(x[i].e);
        for (int j = 0; j < 16; j++) {
            y[j] = g4q_kvalues_mxfp4[x[i].qs[j] & 0xf] * d;
            y[j + 16] = g4q_kvalues_mxfp4[x[i].qs[j] >> 4] * d;
        }
    }
}
/* As ggml's quantize_row_mxfp4_ref: exponent from floor(log2(amax)) - 2, nearest value. */
void g4q_quant_mxfp4(const float *x, void *dst, int64_t n)
{
    g4q_mxfp4 *y = dst;
    for (int64_t i = 0; i < n / G4_QK; i++, x += G4_QK) {
        float amax = 0;
        for (int j = 0; j < G4_QK; j++)
            amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
        const uint8_t e = amax > 0.0f ? (uint8_t)(floorf(log2f(amax)) - 2 + 127) : 0;
        const float d = g4q_e8m0_half(e);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].e = e;
        for (int j = 0; j < 16; j++)
            y[i].qs[j] = (uint8_t)(best_index(x[j] * id) | (best_index(x[j + 16] * id) << 4));
    }
}
float g4q_dot_mxfp4(int64_t n, const void *w, const void *a)
{
    const g4q_mxfp4 *x = w;
    const g4q_q8_0 *q = a;
    float s = 0;
    for (int64_t i = 0; i < n / G4_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += g4q_kvalues_mxfp4[x[i].qs[j] & 0xf] * q[i].qs[j] +
                    g4q_kvalues_mxfp4[x[i].qs[j] >> 4] * q[i].qs[j + 16];
        s += g4k_f16_to_f32(q[i].d) * g4q_e8m0_half(x[i].e) * sumi;
    }
    return s;
}
