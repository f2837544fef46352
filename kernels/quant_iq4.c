/* IQ4_NL (32-blocks, pairs with Q8_0) and IQ4_XS (256-blocks with 6-bit sub-block scales,
 * pairs with Q8_K): both index the same non-linear 16-entry table. The quantizers are a plain
 * version of ggml's (no imatrix): nearest table entry, then a small least-squares scale search. */
#include <math.h>

#include "quant.h"

#define H2F g4k_f16_to_f32
#define F2H g4k_f32_to_f16

const int8_t g4q_kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                      1,    13,   25,  38,  53,  69,  89,  113};

static int best_index(float x)
{
    const int8_t *v = g4q_kvalues_iq4nl;
    if (x <= v[0])
        return 0;
    if (x >= v[15])
        return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (x < v[mid])
            hi = mid;
        else
            lo = mid;
    }
    return x - v[lo] < v[hi] - x ? lo : hi;
}

/* Best scale for 32 values on the table; L gets indices. Returns 0 for an all-zero block. */
static float iq4_block(const float *x, uint8_t *L)
{
    float amax = 0, max = 0;
    for (int j = 0; j < 32; j++)
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    if (amax < 1e-30f) {
        memset(L, 0, 32);
        return 0;
    }
    float best_d = 0, best = -1;
    for (int itry = -7; itry <= 7; itry++) {
        const float id = (itry + g4q_kvalues_iq4nl[0]) / max;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < 32; j++) {
            const float q = g4q_kvalues_iq4nl[best_index(id * x[j])];
            sumqx += q * x[j];
            sumq2 += q * q;
        }
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            best = sumqx * sumqx / sumq2;
            best_d = sumqx / sumq2;
        }
    }
    const float id = best_d ? 1.0f / best_d : 0.0f;
    for (int j = 0; j < 32; j++)
        L[j] = (uint8_t)best_index(id * x[j]);
    return best_d;
}

static void pack_nibbles(const uint8_t *L, uint8_t *qs)
{
    for (int j = 0; j < 16; j++)
        qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
}

void g4q_dequant_iq4_nl(const void *src, float *y, int64_t n)
{
    const g4q_iq4_nl *x = src;
    for (int64_t i = 0; i < n / G4_QK; i++, y += G4_QK) {
        const float d = H2F(x[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = d * g4q_kvalues_iq4nl[x[i].qs[j] & 0xf];
            y[j + 16] = d * g4q_kvalues_iq4nl[x[i].qs[j] >> 4];
        }
    }
}
void g4q_quant_iq4_nl(const float *x, void *dst, int64_t n)
{
    g4q_iq4_nl *y = dst;
    uint8_t L[32];
    for (int64_t i = 0; i < n / G4_QK; i++, x += G4_QK) {
        float d = iq4_block(x, L);
        y[i].d = F2H(d);
        d = H2F(y[i].d); /* requantize against the stored (fp16) scale */
        const float id = d ? 1.0f / d : 0.0f;
        for (int j = 0; j < 32; j++)
            L[j] = (uint8_t)best_index(id * x[j]);
        pack_nibbles(L, y[i].qs);
    }
}
float g4q_dot_iq4_nl(int64_t n, const void *w, const void *a)
{
    const g4q_iq4_nl *x = w;
    const g4q_q8_0 *q = a;
    float s = 0;
    for (int64_t i = 0; i < n / G4_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += g4q_kvalues_iq4nl[x[i].qs[j] & 0xf] * q[i].qs[j] +
                    g4q_kvalues_iq4nl[x[i].qs[j] >> 4] * q[i].qs[j + 16];
        s += (H2F(x[i].d) * H2F(q[i].d)) * sumi;
    }
    return s;
}

static inline int iq4xs_ls(const g4q_iq4_xs *b, int ib)
{
    return ((b->scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((b->scales_h >> 2 * ib) & 3) << 4);
}

void g4q_dequant_iq4_xs(const void *src, float *y, int64_t n)
{
    const g4q_iq4_xs *x = src;
    for (int64_t i = 0; i < n / G4_QK_K; i++) {
        const float d = H2F(x[i].d);
        const uint8_t *qs = x[i].qs;
        for (int ib = 0; ib < 8; ib++, y += 32, qs += 16) {
            const float dl = d * (iq4xs_ls(&x[i], ib) - 32);
            for (int j = 0; j < 16; j++) {
                y[j] = dl * g4q_kvalues_iq4nl[qs[j] & 0xf];
                y[j + 16] = dl * g4q_kvalues_iq4nl[qs[j] >> 4];
            }
        }
    }
}
void g4q_quant_iq4_xs(const float *x, void *dst, int64_t n)
{
    g4q_iq4_xs *y = dst;
    uint8_t L[32];
    for (int64_t i = 0; i < n / G4_QK_K; i++, x += G4_QK_K) {
        float scales[8], amax = 0, max = 0;
        for (int ib = 0; ib < 8; ib++) {
            scales[ib] = iq4_block(x + 32 * ib, L);
            if (fabsf(scales[ib]) > amax) {
                amax = fabsf(scales[ib]);
                max = scales[ib];
            }
        }
        memset(&y[i], 0, sizeof y[i]);
        if (amax == 0)
            continue;
        y[i].d = F2H(-max / 32);
        const float d = H2F(y[i].d);
        const float id = d ? 1.0f / d : 0.0f;
        for (int ib = 0; ib < 8; ib++) {
            int l = g4q_nearest_int(id * scales[ib]);
            l = l < -32 ? -32 : l > 31 ? 31 : l;
            const float dl = d * l;
            const float idl = dl ? 1.0f / dl : 0.0f;
            for (int j = 0; j < 32; j++)
                L[j] = (uint8_t)best_index(idl * x[32 * ib + j]);
            pack_nibbles(L, y[i].qs + 16 * ib);
            y[i].scales_l[ib / 2] |= (uint8_t)(((l + 32) & 0xf) << 4 * (ib % 2));
            y[i].scales_h |= (uint16_t)(((l + 32) >> 4) << 2 * ib);
        }
    }
}
float g4q_dot_iq4_xs(int64_t n, const void *w, const void *a)
{
    const g4q_iq4_xs *x = w;
    const g4q_q8_K *q = a;
    float s = 0;
    for (int64_t i = 0; i < n / G4_QK_K; i++) {
        const uint8_t *qs = x[i].qs;
        const int8_t *q8 = q[i].qs;
        int sumi = 0;
        for (int ib = 0; ib < 8; ib++, qs += 16, q8 += 32) {
            int si = 0;
            for (int j = 0; j < 16; j++)
                si += g4q_kvalues_iq4nl[qs[j] & 0xf] * q8[j] + g4q_kvalues_iq4nl[qs[j] >> 4] * q8[j + 16];
            sumi += si * (iq4xs_ls(&x[i], ib) - 32);
        }
        s += H2F(x[i].d) * q[i].d * sumi;
    }
    return s;
}
