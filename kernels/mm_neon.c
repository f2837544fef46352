/* NEON + dotprod matmul kernels: Q4_0, Q8_0 (with Q8_0 activations), Q4_K, Q6_K (with Q8_K),
 * F16 and BF16 (f32 activations). Each row is decoded block by block and every decoded block
 * is used for up to 4 tokens (sdot: 4 signed bytes × 4 → i32 lane). Built with
 * -march=armv8.2-a+dotprod (the NEON level requires dotprod; i8mm is not used here). */
#include <arm_neon.h>

#include "quant.h"

#define AI static inline __attribute__((always_inline))
#define TMAX 4

AI float h2f(uint16_t h) { return g4k_f16_to_f32(h); }

/* ---- Q4_0 / Q8_0 × Q8_0 --------------------------------------------------------------- */
AI void dec_q4_0(const void *blk, int8x16_t *lo, int8x16_t *hi, float *d)
{
    const g4q_q4_0 *x = blk;
    const uint8x16_t q = vld1q_u8(x->qs);
    *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0F))), vdupq_n_s8(8));
    *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), vdupq_n_s8(8));
    *d = h2f(x->d);
}
AI void dec_q8_0(const void *blk, int8x16_t *lo, int8x16_t *hi, float *d)
{
    const g4q_q8_0 *x = blk;
    *lo = vld1q_s8(x->qs);
    *hi = vld1q_s8(x->qs + 16);
    *d = h2f(x->d);
}

#define MM_B32(T, BT)                                                                              \
    static void mm_##T(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as,  \
                       int64_t nt, float *y, int64_t ys)                                           \
    {                                                                                              \
        const int64_t nb = n / 32;                                                                 \
        for (int64_t t0 = 0; t0 < nt; t0 += TMAX) {                                                \
            const int tn = nt - t0 < TMAX ? (int)(nt - t0) : TMAX;                                 \
            for (int64_t r = 0; r < nr; r++) {                                                     \
                const BT *x = (const BT *)((const uint8_t *)w + r * ws);                           \
                float32x4_t acc[TMAX];                                                             \
                for (int t = 0; t < TMAX; t++)                                                     \
                    acc[t] = vdupq_n_f32(0);                                                       \
                for (int64_t b = 0; b < nb; b++) {                                                 \
                    int8x16_t lo, hi;                                                              \
                    float d;                                                                       \
                    dec_##T(&x[b], &lo, &hi, &d);                                                  \
                    for (int t = 0; t < tn; t++) {                                                 \
                        const g4q_q8_0 *q = (const g4q_q8_0 *)((const uint8_t *)a + (t0 + t) * as) + b; \
                        int32x4_t s = vdotq_s32(vdupq_n_s32(0), lo, vld1q_s8(q->qs));              \
                        s = vdotq_s32(s, hi, vld1q_s8(q->qs + 16));                                \
                        acc[t] = vfmaq_n_f32(acc[t], vcvtq_f32_s32(s), d * h2f(q->d));             \
                    }                                                                              \
                }                                                                                  \
                for (int t = 0; t < tn; t++)                                                       \
                    y[(t0 + t) * ys + r] = vaddvq_f32(acc[t]);                                     \
            }                                                                                      \
        }                                                                                          \
    }
MM_B32(q4_0, g4q_q4_0)
MM_B32(q8_0, g4q_q8_0)

/* ---- Q4_K × Q8_K ---------------------------------------------------------------------- */
static void mm_q4_K(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt, float *y,
                    int64_t ys)
{
    const int64_t nb = n / G4_QK_K;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    for (int64_t t0 = 0; t0 < nt; t0 += TMAX) {
        const int tn = nt - t0 < TMAX ? (int)(nt - t0) : TMAX;
        for (int64_t r = 0; r < nr; r++) {
            const g4q_q4_K *x = (const g4q_q4_K *)((const uint8_t *)w + r * ws);
            float acc[TMAX] = {0, 0, 0, 0};
            for (int64_t i = 0; i < nb; i++) {
                uint8_t sc[8], mn[8];
                for (int j = 0; j < 8; j++)
                    g4q_scale_min_k4(j, x[i].scales, &sc[j], &mn[j]);
                int8x16_t q[16]; /* sub-block j = q[2j], q[2j+1] */
                for (int k = 0; k < 4; k++) {
                    const uint8x16_t b0 = vld1q_u8(x[i].qs + 32 * k), b1 = vld1q_u8(x[i].qs + 32 * k + 16);
                    q[4 * k + 0] = vreinterpretq_s8_u8(vandq_u8(b0, m4));
                    q[4 * k + 1] = vreinterpretq_s8_u8(vandq_u8(b1, m4));
                    q[4 * k + 2] = vreinterpretq_s8_u8(vshrq_n_u8(b0, 4));
                    q[4 * k + 3] = vreinterpretq_s8_u8(vshrq_n_u8(b1, 4));
                }
                const float d = h2f(x[i].d), dmin = h2f(x[i].dmin);
                for (int t = 0; t < tn; t++) {
                    const g4q_q8_K *qa = (const g4q_q8_K *)((const uint8_t *)a + (t0 + t) * as) + i;
                    int32_t sumi = 0, summ = 0;
                    for (int j = 0; j < 8; j++) {
                        int32x4_t s = vdotq_s32(vdupq_n_s32(0), q[2 * j], vld1q_s8(qa->qs + 32 * j));
                        s = vdotq_s32(s, q[2 * j + 1], vld1q_s8(qa->qs + 32 * j + 16));
                        sumi += sc[j] * vaddvq_s32(s);
                        summ += mn[j] * (qa->bsums[2 * j] + qa->bsums[2 * j + 1]);
                    }
                    acc[t] += d * qa->d * (float)sumi - dmin * qa->d * (float)summ;
                }
            }
            for (int t = 0; t < tn; t++)
                y[(t0 + t) * ys + r] = acc[t];
        }
    }
}

/* ---- Q6_K × Q8_K: q - 32 in natural order, one scale per 16 --------------------------- */
static void mm_q6_K(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt, float *y,
                    int64_t ys)
{
    const int64_t nb = n / G4_QK_K;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m3 = vdupq_n_u8(0x03);
    const int8x16_t o32 = vdupq_n_s8(32);
    for (int64_t t0 = 0; t0 < nt; t0 += TMAX) {
        const int tn = nt - t0 < TMAX ? (int)(nt - t0) : TMAX;
        for (int64_t r = 0; r < nr; r++) {
            const g4q_q6_K *x = (const g4q_q6_K *)((const uint8_t *)w + r * ws);
            float acc[TMAX] = {0, 0, 0, 0};
            for (int64_t i = 0; i < nb; i++) {
                int8x16_t q[16]; /* 16 groups of 16 in element order */
                for (int h = 0; h < 2; h++)
                    for (int half = 0; half < 2; half++) { /* l = 0..15 or 16..31 */
                        const uint8x16_t l0 = vld1q_u8(x[i].ql + 64 * h + 16 * half);
                        const uint8x16_t l1 = vld1q_u8(x[i].ql + 64 * h + 32 + 16 * half);
                        const uint8x16_t hh = vld1q_u8(x[i].qh + 32 * h + 16 * half);
                        const uint8x16_t g0 = vorrq_u8(vandq_u8(l0, m4), vshlq_n_u8(vandq_u8(hh, m3), 4));
                        const uint8x16_t g1 = vorrq_u8(vandq_u8(l1, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hh, 2), m3), 4));
                        const uint8x16_t g2 = vorrq_u8(vshrq_n_u8(l0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hh, 4), m3), 4));
                        const uint8x16_t g3 = vorrq_u8(vshrq_n_u8(l1, 4), vshlq_n_u8(vshrq_n_u8(hh, 6), 4));
                        /* group g (32 elements) of half h covers elements 128h + 32g + [0, 32) */
                        q[8 * h + 0 + half] = vsubq_s8(vreinterpretq_s8_u8(g0), o32);
                        q[8 * h + 2 + half] = vsubq_s8(vreinterpretq_s8_u8(g1), o32);
                        q[8 * h + 4 + half] = vsubq_s8(vreinterpretq_s8_u8(g2), o32);
                        q[8 * h + 6 + half] = vsubq_s8(vreinterpretq_s8_u8(g3), o32);
                    }
                const float d = h2f(x[i].d);
                for (int t = 0; t < tn; t++) {
                    const g4q_q8_K *qa = (const g4q_q8_K *)((const uint8_t *)a + (t0 + t) * as) + i;
                    int32_t sumi = 0;
                    for (int g = 0; g < 16; g++)
                        sumi += x[i].scales[g] * vaddvq_s32(vdotq_s32(vdupq_n_s32(0), q[g], vld1q_s8(qa->qs + 16 * g)));
                    acc[t] += d * qa->d * (float)sumi;
                }
            }
            for (int t = 0; t < tn; t++)
                y[(t0 + t) * ys + r] = acc[t];
        }
    }
}

/* ---- F16 / BF16 weights × f32 activations ----------------------------------------------- */
AI float32x4_t ld_f16(const uint16_t *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
AI float32x4_t ld_bf16(const uint16_t *p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }

#define MM_FLT(T, CVT)                                                                             \
    static void mm_##T(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as,  \
                       int64_t nt, float *y, int64_t ys)                                           \
    {                                                                                              \
        for (int64_t t0 = 0; t0 < nt; t0 += TMAX) {                                                \
            const int tn = nt - t0 < TMAX ? (int)(nt - t0) : TMAX;                                 \
            for (int64_t r = 0; r < nr; r++) {                                                     \
                const uint16_t *x = (const uint16_t *)((const uint8_t *)w + r * ws);               \
                float32x4_t acc[TMAX];                                                             \
                for (int t = 0; t < TMAX; t++)                                                     \
                    acc[t] = vdupq_n_f32(0);                                                       \
                int64_t k = 0;                                                                     \
                for (; k + 4 <= n; k += 4) {                                                       \
                    const float32x4_t wv = ld_##T(x + k);                                          \
                    for (int t = 0; t < tn; t++)                                                   \
                        acc[t] = vfmaq_f32(acc[t], wv,                                             \
                                           vld1q_f32((const float *)((const uint8_t *)a + (t0 + t) * as) + k)); \
                }                                                                                  \
                for (int t = 0; t < tn; t++) {                                                     \
                    const float *at = (const float *)((const uint8_t *)a + (t0 + t) * as);         \
                    float s = vaddvq_f32(acc[t]);                                                  \
                    for (int64_t kk = k; kk < n; kk++)                                             \
                        s += CVT(x[kk]) * at[kk];                                                  \
                    y[(t0 + t) * ys + r] = s;                                                      \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }
MM_FLT(f16, g4k_f16_to_f32)
MM_FLT(bf16, g4k_bf16_to_f32)

void g4k_fill_neon_mm(g4k_kernels *k)
{
    k->mm[G4_TYPE_Q4_0] = mm_q4_0;
    k->mm[G4_TYPE_Q8_0] = mm_q8_0;
    k->mm[G4_TYPE_Q4_K] = mm_q4_K;
    k->mm[G4_TYPE_Q6_K] = mm_q6_K;
    k->mm[G4_TYPE_F16] = mm_f16;
    k->mm[G4_TYPE_BF16] = mm_bf16;
}
