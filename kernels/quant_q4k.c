/* Q4_K and Q5_K: 256-blocks of 8 sub-blocks of 32, each with a 6-bit scale and 6-bit min
 * (x = d*sc*q - dmin*m), pairing with Q8_K. The quantizer is an unweighted form of ggml's
 * make_qkx2_quants (grid search over the affine scale, least-squares refit). */
#include <math.h>

#include "quant.h"

#define H2F g4k_f16_to_f32
#define F2H g4k_f32_to_f16

/* Fits x ≈ scale*L - mn with L in [0, nmax]; returns scale, *mn >= 0. */
static float fit_affine(int n, int nmax, const float *x, uint8_t *L, float *mn)
{
    float min = x[0], max = x[0];
    for (int i = 1; i < n; i++) {
        min = x[i] < min ? x[i] : min;
        max = x[i] > max ? x[i] : max;
    }
    if (min > 0)
        min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *mn = -min;
        return 0;
    }
    float best_scale = (max - min) / nmax, best_min = min, best_err = INFINITY;
    uint8_t Lt[32];
    for (int is = 0; is <= 20; is++) {
        const float iscale = (-1.0f + 0.1f * is + nmax) / (max - min);
        float sl = 0, sl2 = 0, sx = 0, sxl = 0;
        for (int i = 0; i < n; i++) {
            int l = g4q_nearest_int(iscale * (x[i] - min));
            l = l < 0 ? 0 : l > nmax ? nmax : l;
            Lt[i] = (uint8_t)l;
            sl += l;
            sl2 += (float)l * l;
            sx += x[i];
            sxl += l * x[i];
        }
        const float D = n * sl2 - sl * sl;
        if (D <= 0)
            continue;
        float sc = (n * sxl - sx * sl) / D;
        float m = (sl2 * sx - sl * sxl) / D;
        if (m > 0) {
            m = 0;
            sc = sxl / sl2;
        }
        float err = 0;
        for (int i = 0; i < n; i++) {
            const float e = sc * Lt[i] + m - x[i];
            err += e * e;
        }
        if (err < best_err) {
            best_err = err;
            best_scale = sc;
            best_min = m;
        }
    }
    *mn = -best_min;
    return best_scale;
}

/* Shared by Q4_K (nmax 15) and Q5_K (nmax 31): header (d, dmin, packed scales) and L[256]. */
static void kq_block(const float *x, int nmax, uint16_t *pd, uint16_t *pdmin, uint8_t *sc12, uint8_t *L)
{
    float scales[8], mins[8], max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        scales[j] = fit_affine(32, nmax, x + 32 * j, L + 32 * j, &mins[j]);
        max_scale = scales[j] > max_scale ? scales[j] : max_scale;
        max_min = mins[j] > max_min ? mins[j] : max_min;
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    memset(sc12, 0, 12);
    for (int j = 0; j < 8; j++) {
        int ls = g4q_nearest_int(inv_scale * scales[j]), lm = g4q_nearest_int(inv_min * mins[j]);
        ls = ls < 0 ? 0 : ls > 63 ? 63 : ls;
        lm = lm < 0 ? 0 : lm > 63 ? 63 : lm;
        if (j < 4) {
            sc12[j] = (uint8_t)ls;
            sc12[j + 4] = (uint8_t)lm;
        } else {
            sc12[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            sc12[j - 4] |= (uint8_t)((ls >> 4) << 6);
            sc12[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *pd = F2H(max_scale / 63.f);
    *pdmin = F2H(max_min / 63.f);
    const float d = H2F(*pd), dmin = H2F(*pdmin);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        g4q_scale_min_k4(j, sc12, &sc, &m);
        const float dd = d * sc;
        if (!dd)
            continue;
        const float dm = dmin * m;
        for (int ii = 0; ii < 32; ii++) {
            int l = g4q_nearest_int((x[32 * j + ii] + dm) / dd);
            L[32 * j + ii] = (uint8_t)(l < 0 ? 0 : l > nmax ? nmax : l);
        }
    }
}

void g4q_quant_q4_K(const float *x, void *dst, int64_t n)
{
    g4q_q4_K *y = dst;
    uint8_t L[256];
    for (int64_t i = 0; i < n / G4_QK_K; i++, x += G4_QK_K) {
        kq_block(x, 15, &y[i].d, &y[i].dmin, y[i].scales, L);
        uint8_t *q = y[i].qs;
        for (int j = 0; j < G4_QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; l++)
                q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

void g4q_quant_q5_K(const float *x, void *dst, int64_t n)
{
    g4q_q5_K *y = dst;
    uint8_t L[256];
    for (int64_t i = 0; i < n / G4_QK_K; i++, x += G4_QK_K) {
        kq_block(x, 31, &y[i].d, &y[i].dmin, y[i].scales, L);
        memset(y[i].qh, 0, 32);
        uint8_t *ql = y[i].qs, m1 = 1, m2 = 2;
        for (int nn = 0; nn < G4_QK_K; nn += 64, ql += 32, m1 <<= 2, m2 <<= 2)
            for (int j = 0; j < 32; j++) {
                int l1 = L[nn + j], l2 = L[nn + j + 32];
                if (l1 > 15) {
                    l1 -= 16;
                    y[i].qh[j] |= m1;
                }
                if (l2 > 15) {
                    l2 -= 16;
                    y[i].qh[j] |= m2;
                }
                ql[j] = (uint8_t)(l1 | (l2 << 4));
            }
    }
}

void g4q_dequant_q4_K(const void *src, float *y, int64_t n)
{
    const g4q_q4_K *x = src;
    for (int64_t i = 0; i < n / G4_QK_K; i++) {
        const uint8_t *q = x[i].qs;
        const float d = H2F(x[i].d), min = H2F(x[i].dmin);
        for (int j = 0, is = 0; j < G4_QK_K; j += 64, q += 32, is += 2) {
            uint8_t sc, m;
            g4q_scale_min_k4(is, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            g4q_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

void g4q_dequant_q5_K(const void *src, float *y, int64_t n)
{
    const g4q_q5_K *x = src;
    for (int64_t i = 0; i < n / G4_QK_K; i++) {
        const uint8_t *ql = x[i].qs, *qh = x[i].qh;
        const float d = H2F(x[i].d), min = H2F(x[i].dmin);
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0, is = 0; j < G4_QK_K; j += 64, ql += 32, is += 2, u1 <<= 2, u2 <<= 2) {
            uint8_t sc, m;
            g4q_scale_min_k4(is, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            g4q_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

/* dot = d_a*(d*Σ sc_j*dot_j − dmin*Σ m_j*(bsum[2j]+bsum[2j+1])) */
float g4q_dot_q4_K(int64_t n, const void *w, const void *a)
{
    const g4q_q4_K *x = w;
    const g4q_q8_K *q = a;
    float s = 0;
    for (int64_t i = 0; i < n / G4_QK_K; i++) {
        const uint8_t *qs = x[i].qs;
        const int8_t *q8 = q[i].qs;
        int sumi = 0, summ = 0;
        for (int j = 0; j < 4; j++, qs += 32, q8 += 64) {
            uint8_t sc0, m0, sc1, m1;
            g4q_scale_min_k4(2 * j, x[i].scales, &sc0, &m0);
            g4q_scale_min_k4(2 * j + 1, x[i].scales, &sc1, &m1);
            int d0 = 0, d1 = 0;
            for (int l = 0; l < 32; l++) {
                d0 += (qs[l] & 0xF) * q8[l];
                d1 += (qs[l] >> 4) * q8[l + 32];
            }
            sumi += sc0 * d0 + sc1 * d1;
            summ += m0 * (q[i].bsums[4 * j] + q[i].bsums[4 * j + 1]) +
                    m1 * (q[i].bsums[4 * j + 2] + q[i].bsums[4 * j + 3]);
        }
        s += q[i].d * (H2F(x[i].d) * sumi - H2F(x[i].dmin) * summ);
    }
    return s;
}

float g4q_dot_q5_K(int64_t n, const void *w, const void *a)
{
    const g4q_q5_K *x = w;
    const g4q_q8_K *q = a;
    float s = 0;
    for (int64_t i = 0; i < n / G4_QK_K; i++) {
        const uint8_t *qs = x[i].qs, *qh = x[i].qh;
        const int8_t *q8 = q[i].qs;
        int sumi = 0, summ = 0;
        for (int j = 0; j < 4; j++, qs += 32, q8 += 64) {
            uint8_t sc0, m0, sc1, m1;
            g4q_scale_min_k4(2 * j, x[i].scales, &sc0, &m0);
            g4q_scale_min_k4(2 * j + 1, x[i].scales, &sc1, &m1);
            int d0 = 0, d1 = 0;
            for (int l = 0; l < 32; l++) {
                d0 += ((qs[l] & 0xF) | (((qh[l] >> (2 * j)) & 1) << 4)) * q8[l];
                d1 += ((qs[l] >> 4) | (((qh[l] >> (2 * j + 1)) & 1) << 4)) * q8[l + 32];
            }
            sumi += sc0 * d0 + sc1 * d1;
            summ += m0 * (q[i].bsums[4 * j] + q[i].bsums[4 * j + 1]) +
                    m1 * (q[i].bsums[4 * j + 2] + q[i].bsums[4 * j + 3]);
        }
        s += q[i].d * (H2F(x[i].d) * sumi - H2F(x[i].dmin) * summ);
    }
    return s;
}
