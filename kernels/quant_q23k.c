/* Q2_K and Q3_K: dequantize only (ggml-exact). g4k_matmul runs them through the dequantize +
 * f32-dot path; they are rare in Gemma 4 files. */
#include "quant.h"

#define H2F g4k_f16_to_f32

void g4q_dequant_q2_K(const void *src, float *y, int64_t n)
{
    const g4q_q2_K *x = src;
    for (int64_t i = 0; i < n / G4_QK_K; i++) {
        const float d = H2F(x[i].d), min = H2F(x[i].dmin);
        const uint8_t *q = x[i].qs;
        int is = 0;
        for (int nn = 0; nn < G4_QK_K; nn += 128, q += 32)
            for (int shift = 0; shift < 8; shift += 2) {
                uint8_t sc = x[i].scales[is++];
                float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                for (int l = 0; l < 16; l++)
                    *y++ = dl * ((int8_t)((q[l] >> shift) & 3)) - ml;
                sc = x[i].scales[is++];
                dl = d * (sc & 0xF);
                ml = min * (sc >> 4);
                for (int l = 0; l < 16; l++)
                    *y++ = dl * ((int8_t)((q[l + 16] >> shift) & 3)) - ml;
            }
    }
}

void g4q_dequant_q3_K(const void *src, float *y, int64_t n)
{
    const g4q_q3_K *x = src;
    const uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
    for (int64_t i = 0; i < n / G4_QK_K; i++) {
        uint32_t aux[4];
        int8_t scales[16];
        memcpy(aux, x[i].scales, 12);
        const uint32_t tmp = aux[2];
        aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
        aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
        aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
        aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
        memcpy(scales, aux, 16);
        const float d_all = H2F(x[i].d);
        const uint8_t *q = x[i].qs, *hm = x[i].hmask;
        uint8_t m = 1;
        int is = 0;
        for (int nn = 0; nn < G4_QK_K; nn += 128, q += 32)
            for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
                float dl = d_all * (scales[is++] - 32);
                for (int l = 0; l < 16; l++)
                    *y++ = dl * ((int8_t)((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
                dl = d_all * (scales[is++] - 32);
                for (int l = 0; l < 16; l++)
                    *y++ = dl * ((int8_t)((q[l + 16] >> shift) & 3) - ((hm[l + 16] & m) ? 0 : 4));
            }
    }
}
