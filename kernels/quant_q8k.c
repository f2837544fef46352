/* Q8_K: the activation format of the K-quants and IQ4_XS. f32 scale, 256 int8, and int16 sums
 * of each 16 values (the K-quant min terms use them). Quantized exactly as ggml's
 * quantize_row_q8_K_ref: scale from the signed max, so that value maps to -127. */
#include <math.h>

#include "quant.h"

void g4q_quant_q8_K(const float *x, void *dst, int64_t n)
{
    g4q_q8_K *y = dst;
    for (int64_t i = 0; i < n / G4_QK_K; i++, x += G4_QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < G4_QK_K; j++)
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        if (!amax) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < G4_QK_K; j++) {
            const int v = g4q_nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < 16; j++) {
            int s = 0;
            for (int l = 0; l < 16; l++)
                s += y[i].qs[16 * j + l];
            y[i].bsums[j] = (int16_t)s;
        }
        y[i].d = 1 / iscale;
    }
}

void g4q_dequant_q8_K(const void *src, float *y, int64_t n)
{
    const g4q_q8_K *x = src;
    for (int64_t i = 0; i < n / G4_QK_K; i++, y += G4_QK_K)
        for (int j = 0; j < G4_QK_K; j++)
            y[j] = x[i].d * x[i].qs[j];
}
