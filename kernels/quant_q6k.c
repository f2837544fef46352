/* Q6_K: 256-blocks of 16 sub-blocks of 16 with int8 scales, 6-bit quants split in a low-nibble
 * plane and a 2-bit plane, fp16 d stored *last*; pairs with Q8_K. Symmetric quantizer after
 * ggml's make_qx_quants (scale search, least squares), unweighted. */
#include <math.h>

#include "quant.h"

#define H2F g4k_f16_to_f32
#define F2H g4k_f32_to_f16

/* Symmetric fit x ≈ scale*(L-nmax), L in [0, 2*nmax). */
static float fit_sym(int n, int nmax, const float *x, int8_t *L)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    if (amax < 1e-30f) {
        memset(L, 0, (size_t)n);
        return 0;
    }
    float best = -1, best_scale = 0;
    for (int is = -9; is <= 9; is++) {
        const float iscale = -(nmax + 0.1f * is) / max;
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = g4q_nearest_int(iscale * x[i]);
            l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
            sumlx += x[i] * l;
            suml2 += (float)l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            best = sumlx * sumlx / suml2;
            best_scale = sumlx / suml2;
        }
    }
    return best_scale;
}

void g4q_quant_q6_K(const float *x, void *dst, int64_t n)
{
    g4q_q6_K *y = dst;
    int8_t L[256];
    for (int64_t i = 0; i < n / G4_QK_K; i++, x += G4_QK_K) {
        float scales[16], max_scale = 0, max_abs = 0;
        for (int ib = 0; ib < 16; ib++) {
            scales[ib] = fit_sym(16, 32, x + 16 * ib, L + 16 * ib);
            if (fabsf(scales[ib]) > max_abs) {
                max_abs = fabsf(scales[ib]);
                max_scale = scales[ib];
            }
        }
        memset(&y[i], 0, sizeof y[i]);
        if (!max_abs)
            continue;
        const float iscale = -128.f / max_scale;
        y[i].d = F2H(1 / iscale);
        for (int ib = 0; ib < 16; ib++) {
            const int s = g4q_nearest_int(iscale * scales[ib]);
            y[i].scales[ib] = (int8_t)(s < 127 ? s : 127);
        }
        const float d0 = H2F(y[i].d);
        for (int j = 0; j < 16; j++) {
            const float d = d0 * y[i].scales[j];
            for (int ii = 0; ii < 16; ii++) {
                int l = d ? g4q_nearest_int(x[16 * j + ii] / d) : 0;
                l = l < -32 ? -32 : l > 31 ? 31 : l;
                L[16 * j + ii] = (int8_t)(l + 32);
            }
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < G4_QK_K; j += 128, ql += 64, qh += 32)
            for (int l = 0; l < 32; l++) {
                const int q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF;
                const int q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                  ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
            }
    }
}

void g4q_dequant_q6_K(const void *src, float *y, int64_t n)
{
    const g4q_q6_K *x = src;
    for (int64_t i = 0; i < n / G4_QK_K; i++) {
        const float d = H2F(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int nn = 0; nn < G4_QK_K; nn += 128, y += 128, ql += 64, qh += 32, sc += 8)
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = (int8_t)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = (int8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is + 0] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
    }
}

float g4q_dot_q6_K(int64_t n, const void *w, const void *a)
{
    const g4q_q6_K *x = w;
    const g4q_q8_K *q = a;
    float s = 0;
    for (int64_t i = 0; i < n / G4_QK_K; i++) {
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *q8 = q[i].qs, *sc = x[i].scales;
        int sumi = 0;
        for (int nn = 0; nn < G4_QK_K; nn += 128, ql += 64, qh += 32, sc += 8, q8 += 128) {
            int d[8] = {0};
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                d[is + 0] += (((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32) * q8[l];
                d[is + 2] += (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32) * q8[l + 32];
                d[is + 4] += (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32) * q8[l + 64];
                d[is + 6] += (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32) * q8[l + 96];
            }
            for (int k = 0; k < 8; k++)
                sumi += sc[k] * d[k];
        }
        s += H2F(x[i].d) * q[i].d * sumi;
    }
    return s;
}
