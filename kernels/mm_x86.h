/* x86 SIMD matmul kernels, written once and compiled twice: by kernels_avx2.c (maddubs+madd
 * integer dots) and by kernels_avx512.c (G4_VNNI=1: vpdpbusd, and 32 vector registers via VL).
 * Include only from those two files; everything here is static so no ISA-specific code can
 * leak into baseline translation units.
 *
 * Every kernel computes an nr × nt tile (see g4k_mm_fn). Rows go two at a time, tokens up to
 * four at a time with the weight block decoded once per token group, so decode (nt = 1)
 * streams weights and prefill reuses every decoded weight block across 4 tokens. */
#ifndef G4_MM_X86_H
#define G4_MM_X86_H

#include <immintrin.h>

#include "quant.h"

#ifndef G4_VNNI
#error "define G4_VNNI before including mm_x86.h"
#endif

#define AI static inline __attribute__((always_inline))

AI float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
AI int hsum_i32_4(__m128i v)
{
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4E));
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xB1));
    return _mm_cvtsi128_si32(v);
}
AI float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* acc + Σ over groups of 4 of u (unsigned bytes) × s (signed bytes), as 8 × i32.
 * AVX2 path: maddubs pairs saturate at ±32767, fine for |u| ≤ 128, |s| ≤ 127 when u ≤ 127 or
 * both never hit 128 together (true for all formats here). */
AI __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s)
{
#if G4_VNNI
    return _mm256_dpbusd_epi32(acc, u, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}
/* Σ u×s per 4-group multiplied by a per-lane scale: sc16 = scale per i16 lane (AVX2),
 * sc32 = the same scale per i32 lane (VNNI). */
AI __m256i dot_u8s8_scaled(__m256i u, __m256i s, __m256i sc16, __m256i sc32)
{
#if G4_VNNI
    (void)sc16;
    return _mm256_mullo_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s), sc32);
#else
    (void)sc32;
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), sc16);
#endif
}
/* signed × signed bytes via the sign trick: |w| × (a with w's sign). */
AI __m256i dot_s8s8(__m256i acc, __m256i w, __m256i a)
{
    return dot_u8s8(acc, _mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
}

/* 16 packed bytes -> 32 nibbles: low nibbles in bytes 0..15, high nibbles in 16..31. */
AI __m256i nibbles32(const uint8_t *p)
{
    const __m128i t = _mm_loadu_si128((const __m128i *)p);
    const __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}
/* 32 bits -> 32 bytes, 0xFF where the bit is set (byte i <- bit i). */
AI __m256i bits32(const uint8_t *p)
{
    uint32_t x32;
    memcpy(&x32, p, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x32), shuf);
    b = _mm256_or_si256(b, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return _mm256_cmpeq_epi8(b, _mm256_set1_epi64x(-1));
}
AI __m256i table16(const int8_t *t)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)t);
    return _mm256_set_m128i(v, v);
}

/* ---- 32-blocks paired with Q8_0: decode to 32 signed bytes + an f32 scale --------------- */
AI __m256i dec_q4_0(const void *b, float *d)
{
    const g4q_q4_0 *x = b;
    *d = h2f(x->d);
    return _mm256_sub_epi8(nibbles32(x->qs), _mm256_set1_epi8(8));
}
AI __m256i dec_q8_0(const void *b, float *d)
{
    const g4q_q8_0 *x = b;
    *d = h2f(x->d);
    return _mm256_loadu_si256((const __m256i *)x->qs);
}
AI __m256i dec_q5_0(const void *b, float *d)
{
    const g4q_q5_0 *x = b;
    *d = h2f(x->d);
    const __m256i hb = _mm256_and_si256(bits32(x->qh), _mm256_set1_epi8(0x10));
    return _mm256_sub_epi8(_mm256_or_si256(nibbles32(x->qs), hb), _mm256_set1_epi8(16));
}
AI __m256i dec_iq4_nl(const void *b, float *d)
{
    const g4q_iq4_nl *x = b;
    *d = h2f(x->d);
    return _mm256_shuffle_epi8(table16(g4q_kvalues_iq4nl), nibbles32(x->qs));
}
AI __m256i dec_mxfp4(const void *b, float *d)
{
    const g4q_mxfp4 *x = b;
    *d = g4q_e8m0_half(x->e);
    return _mm256_shuffle_epi8(table16(g4q_kvalues_mxfp4), nibbles32(x->qs));
}

/* R rows (1 or 2) × TN tokens (1..4) over all blocks; generated per format so the decoder is a
 * direct (inlined) call. */
#define TILE_B32(T, BT)                                                                            \
    AI void tile_##T(int64_t nb, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *y, \
                     int64_t ys, const int R, const int TN)                                        \
    {                                                                                              \
        __m256 acc[2][4];                                                                          \
        for (int r = 0; r < 2; r++)                                                                \
            for (int t = 0; t < 4; t++)                                                            \
                acc[r][t] = _mm256_setzero_ps();                                                   \
        for (int64_t b = 0; b < nb; b++) {                                                         \
            __m256i q[2];                                                                          \
            float d[2];                                                                            \
            for (int r = 0; r < R; r++)                                                            \
                q[r] = dec_##T((const BT *)(w + r * ws) + b, &d[r]);                               \
            for (int t = 0; t < TN; t++) {                                                         \
                const g4q_q8_0 *ab = (const g4q_q8_0 *)(a + t * as) + b;                           \
                const __m256i av = _mm256_loadu_si256((const __m256i *)ab->qs);                    \
                const float da = h2f(ab->d);                                                       \
                for (int r = 0; r < R; r++) {                                                      \
                    const __m256i p = dot_s8s8(_mm256_setzero_si256(), q[r], av);                  \
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d[r] * da), acc[r][t]); \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        for (int t = 0; t < TN; t++)                                                               \
            for (int r = 0; r < R; r++)                                                            \
                y[t * ys + r] = hsum8(acc[r][t]);                                                  \
    }

#define MM_B32(T, BT)                                                                              \
    TILE_B32(T, BT)                                                                                \
    static void mm_##T(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as,  \
                       int64_t nt, float *y, int64_t ys)                                           \
    {                                                                                              \
        const int64_t nb = n / 32;                                                                 \
        for (int64_t t0 = 0; t0 < nt; t0 += 4) {                                                   \
            const int64_t tn = nt - t0 < 4 ? nt - t0 : 4;                                          \
            const uint8_t *at = (const uint8_t *)a + t0 * as;                                      \
            for (int64_t r = 0; r < nr; r += 2) {                                                  \
                const uint8_t *wr = (const uint8_t *)w + r * ws;                                   \
                float *yr = y + t0 * ys + r;                                                       \
                const int R = nr - r >= 2 ? 2 : 1;                                                 \
                switch (tn * 2 + R - 1) {                                                          \
                case 2: tile_##T(nb, wr, ws, at, as, yr, ys, 1, 1); break;                         \
                case 3: tile_##T(nb, wr, ws, at, as, yr, ys, 2, 1); break;                         \
                case 4: tile_##T(nb, wr, ws, at, as, yr, ys, 1, 2); break;                         \
                case 5: tile_##T(nb, wr, ws, at, as, yr, ys, 2, 2); break;                         \
                case 6: tile_##T(nb, wr, ws, at, as, yr, ys, 1, 3); break;                         \
                case 7: tile_##T(nb, wr, ws, at, as, yr, ys, 2, 3); break;                         \
                case 8: tile_##T(nb, wr, ws, at, as, yr, ys, 1, 4); break;                         \
                default: tile_##T(nb, wr, ws, at, as, yr, ys, 2, 4); break;                        \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }
MM_B32(q4_0, g4q_q4_0)
MM_B32(q8_0, g4q_q8_0)
MM_B32(q5_0, g4q_q5_0)
MM_B32(iq4_nl, g4q_iq4_nl)
MM_B32(mxfp4, g4q_mxfp4)

/* ---- Q4_1 / Q5_1 with Q8_1: unsigned quants, dot + m*s -------------------------------------- */
AI __m256i dec_q4_1(const void *b, float *d, float *m)
{
    const g4q_q4_1 *x = b;
    *d = h2f(x->d);
    *m = h2f(x->m);
    return nibbles32(x->qs);
}
AI __m256i dec_q5_1(const void *b, float *d, float *m)
{
    const g4q_q5_1 *x = b;
    *d = h2f(x->d);
    *m = h2f(x->m);
    return _mm256_or_si256(nibbles32(x->qs), _mm256_and_si256(bits32(x->qh), _mm256_set1_epi8(0x10)));
}
#define MM_B32_1(T, BT)                                                                           \
    static void mm_##T(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, \
                       int64_t nt, float *y, int64_t ys)                                          \
    {                                                                                             \
        const int64_t nb = n / 32;                                                                \
        for (int64_t r = 0; r < nr; r++)                                                          \
            for (int64_t t = 0; t < nt; t++) {                                                    \
                const BT *x = (const BT *)((const uint8_t *)w + r * ws);                          \
                const g4q_q8_1 *q = (const g4q_q8_1 *)((const uint8_t *)a + t * as);              \
                __m256 acc = _mm256_setzero_ps();                                                 \
                float summ = 0;                                                                   \
                for (int64_t b = 0; b < nb; b++) {                                                \
                    float d, m;                                                                   \
                    const __m256i u = dec_##T(&x[b], &d, &m);                                     \
                    const __m256i p = dot_u8s8(_mm256_setzero_si256(), u,                         \
                                               _mm256_loadu_si256((const __m256i *)q[b].qs));     \
                    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d * h2f(q[b].d)), acc); \
                    summ += m * h2f(q[b].s);                                                      \
                }                                                                                 \
                y[t * ys + r] = hsum8(acc) + summ;                                                \
            }                                                                                     \
    }
MM_B32_1(q4_1, g4q_q4_1)
MM_B32_1(q5_1, g4q_q5_1)

/* ---- K-quants with Q8_K ------------------------------------------------------------------- */
/* Q4_K/Q5_K 12-byte scales -> 8 scales (bytes 0..7) and 8 mins (bytes 8..15) (ggml's trick). */
AI __m128i kq_scales_mins(const uint8_t *s12)
{
    uint32_t u[4];
    memcpy(u, s12, 12);
    const uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
    u[3] = ((u[2] >> 4) & kmask2) | (((u[1] >> 6) & kmask3) << 4);
    const uint32_t uaux = u[1] & kmask1;
    u[1] = (u[2] & kmask2) | (((u[0] >> 6) & kmask3) << 4);
    u[2] = uaux;
    u[0] &= kmask1;
    return _mm_set_epi32((int)u[3], (int)u[2], (int)u[1], (int)u[0]);
}
/* Σ_j m_j * (bsums[2j] + bsums[2j+1]) */
AI int kq_min_sum(__m128i mins8, const int16_t *bsums)
{
    const __m256i bs = _mm256_loadu_si256((const __m256i *)bsums);
    const __m128i s = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
    return hsum_i32_4(_mm_madd_epi16(_mm_cvtepu8_epi16(mins8), s));
}

/* One Q4_K or Q5_K row (HI=1: Q5_K) × TN tokens. */
AI void tile_q45k(int64_t nb, const uint8_t *w, const uint8_t *a, size_t as, float *y, int64_t ys,
                  const int TN, const int HI)
{
    __m256 acc[4];
    float accm[4] = {0, 0, 0, 0};
    for (int t = 0; t < 4; t++)
        acc[t] = _mm256_setzero_ps();
    const size_t bb = HI ? sizeof(g4q_q5_K) : sizeof(g4q_q4_K);
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *blk = w + i * bb;
        const g4q_q4_K *x4 = (const g4q_q4_K *)blk;
        const g4q_q5_K *x5 = (const g4q_q5_K *)blk;
        const float d = h2f(x4->d), dmin = h2f(x4->dmin); /* same offsets in both */
        const __m128i sm = kq_scales_mins(HI ? x5->scales : x4->scales);
        const uint8_t *qs = HI ? x5->qs : x4->qs;
        __m256i q[8], scv[8];
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        __m256i hb = HI ? _mm256_loadu_si256((const __m256i *)x5->qh) : _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            const __m256i b = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
            q[2 * j] = _mm256_and_si256(b, m4);
            q[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(b, 4), m4);
            if (HI) {
                const __m256i one = _mm256_set1_epi8(1);
                q[2 * j] = _mm256_or_si256(q[2 * j], _mm256_slli_epi16(_mm256_and_si256(hb, one), 4));
                q[2 * j + 1] =
                    _mm256_or_si256(q[2 * j + 1], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 1), one), 4));
                hb = _mm256_srli_epi16(hb, 2);
            }
        }
        uint8_t sc[16];
        _mm_storeu_si128((__m128i *)sc, sm);
        for (int j = 0; j < 8; j++) /* the scale per i32 lane (VNNI) or per i16 lane (AVX2) */
            scv[j] = G4_VNNI ? _mm256_set1_epi32(sc[j]) : _mm256_set1_epi16(sc[j]);
        for (int t = 0; t < TN; t++) {
            const g4q_q8_K *qa = (const g4q_q8_K *)(a + t * as) + i;
            __m256i sumi = _mm256_setzero_si256();
            for (int j = 0; j < 8; j++) {
                const __m256i av = _mm256_loadu_si256((const __m256i *)(qa->qs + 32 * j));
                sumi = _mm256_add_epi32(sumi, dot_u8s8_scaled(q[j], av, scv[j], scv[j]));
            }
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * qa->d), _mm256_cvtepi32_ps(sumi), acc[t]);
            accm[t] += dmin * qa->d * kq_min_sum(_mm_srli_si128(sm, 8), qa->bsums);
        }
    }
    for (int t = 0; t < TN; t++)
        y[t * ys] = hsum8(acc[t]) - accm[t];
}

/* One Q6_K row × TN tokens. Quants are kept unsigned (0..63); the -32 comes back through the
 * activation block sums: Σ sc_g * 32 * bsum_g. */
AI void tile_q6k(int64_t nb, const uint8_t *w, const uint8_t *a, size_t as, float *y, int64_t ys, const int TN)
{
    __m256 acc[4];
    for (int t = 0; t < 4; t++)
        acc[t] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(0x03);
    for (int64_t i = 0; i < nb; i++) {
        const g4q_q6_K *x = (const g4q_q6_K *)w + i;
        const float d = h2f(x->d);
        __m256i q[8], s16[8];
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
            const __m256i hh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
            q[4 * h + 0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hh, m3), 4));
            q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 2), m3), 4));
            q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 4), m3), 4));
            q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 6), m3), 4));
        }
        const __m256i scv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
        for (int g = 0; g < 8; g++) {
#if G4_VNNI
            /* i32 lanes 0..3 cover elements 0..15 (scale 2g), lanes 4..7 elements 16..31 */
            s16[g] = _mm256_set_m128i(_mm_set1_epi32(x->scales[2 * g + 1]), _mm_set1_epi32(x->scales[2 * g]));
#else
            s16[g] = _mm256_set_m128i(_mm_set1_epi16(x->scales[2 * g + 1]), _mm_set1_epi16(x->scales[2 * g]));
#endif
        }
        for (int t = 0; t < TN; t++) {
            const g4q_q8_K *qa = (const g4q_q8_K *)(a + t * as) + i;
            __m256i sumi = _mm256_setzero_si256();
            for (int g = 0; g < 8; g++) {
                const __m256i av = _mm256_loadu_si256((const __m256i *)(qa->qs + 32 * g));
                sumi = _mm256_add_epi32(sumi, dot_u8s8_scaled(q[g], av, s16[g], s16[g]));
            }
            const __m256i bs = _mm256_loadu_si256((const __m256i *)qa->bsums);
            const __m256i mm = _mm256_madd_epi16(scv, bs);
            sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(mm, 5));
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * qa->d), _mm256_cvtepi32_ps(sumi), acc[t]);
        }
    }
    for (int t = 0; t < TN; t++)
        y[t * ys] = hsum8(acc[t]);
}

/* One IQ4_XS row × TN tokens: table lookup to signed bytes, sign-trick dot, 6-bit scale. */
AI void tile_iq4xs(int64_t nb, const uint8_t *w, const uint8_t *a, size_t as, float *y, int64_t ys, const int TN)
{
    __m256 acc[4];
    for (int t = 0; t < 4; t++)
        acc[t] = _mm256_setzero_ps();
    const __m256i tab = table16(g4q_kvalues_iq4nl);
    for (int64_t i = 0; i < nb; i++) {
        const g4q_iq4_xs *x = (const g4q_iq4_xs *)w + i;
        const float d = h2f(x->d);
        __m256i q[8], ls[8];
        for (int ib = 0; ib < 8; ib++) {
            q[ib] = _mm256_shuffle_epi8(tab, nibbles32(x->qs + 16 * ib));
            const int l = (((x->scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((x->scales_h >> 2 * ib) & 3) << 4)) - 32;
            ls[ib] = _mm256_set1_epi32(l);
        }
        for (int t = 0; t < TN; t++) {
            const g4q_q8_K *qa = (const g4q_q8_K *)(a + t * as) + i;
            __m256i sumi = _mm256_setzero_si256();
            for (int ib = 0; ib < 8; ib++) {
                const __m256i av = _mm256_loadu_si256((const __m256i *)(qa->qs + 32 * ib));
                sumi = _mm256_add_epi32(sumi, _mm256_mullo_epi32(dot_s8s8(_mm256_setzero_si256(), q[ib], av), ls[ib]));
            }
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * qa->d), _mm256_cvtepi32_ps(sumi), acc[t]);
        }
    }
    for (int t = 0; t < TN; t++)
        y[t * ys] = hsum8(acc[t]);
}

#define MM_ROWTILE(NAME, CALL)                                                                     \
    static void NAME(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as,    \
                     int64_t nt, float *y, int64_t ys)                                             \
    {                                                                                              \
        const int64_t nb = n / G4_QK_K;                                                            \
        for (int64_t t0 = 0; t0 < nt; t0 += 4) {                                                   \
            const int64_t tn = nt - t0 < 4 ? nt - t0 : 4;                                          \
            const uint8_t *at = (const uint8_t *)a + t0 * as;                                      \
            for (int64_t r = 0; r < nr; r++) {                                                     \
                const uint8_t *wr = (const uint8_t *)w + r * ws;                                   \
                float *yr = y + t0 * ys + r;                                                       \
                switch (tn) {                                                                      \
                case 1: CALL(1); break;                                                            \
                case 2: CALL(2); break;                                                            \
                case 3: CALL(3); break;                                                            \
                default: CALL(4); break;                                                           \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }
#define CALL_Q4K(TN) tile_q45k(nb, wr, at, as, yr, ys, TN, 0)
#define CALL_Q5K(TN) tile_q45k(nb, wr, at, as, yr, ys, TN, 1)
#define CALL_Q6K(TN) tile_q6k(nb, wr, at, as, yr, ys, TN)
#define CALL_IQ4XS(TN) tile_iq4xs(nb, wr, at, as, yr, ys, TN)
MM_ROWTILE(mm_q4_K, CALL_Q4K)
MM_ROWTILE(mm_q5_K, CALL_Q5K)
MM_ROWTILE(mm_q6_K, CALL_Q6K)
MM_ROWTILE(mm_iq4_xs, CALL_IQ4XS)

/* ---- F32 / F16 / BF16 weights with f32 activations ---------------------------------------- */
AI __m256 ld_f32(const uint8_t *p) { return _mm256_loadu_ps((const float *)p); }
AI __m256 ld_f16(const uint8_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
AI __m256 ld_bf16(const uint8_t *p)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}
typedef __m256 (*ldw_fn)(const uint8_t *);

AI void tile_flt(int64_t n, const uint8_t *w, const float *a, size_t as, float *y, int64_t ys, const int TN,
                 ldw_fn ld, const int ES, float (*cvt)(const uint8_t *))
{
    __m256 acc[4][2];
    for (int t = 0; t < 4; t++)
        acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        const __m256 w0 = ld(w + k * ES), w1 = ld(w + (k + 8) * ES);
        for (int t = 0; t < TN; t++) {
            const float *at = (const float *)((const uint8_t *)a + t * as);
            acc[t][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(at + k), acc[t][0]);
            acc[t][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(at + k + 8), acc[t][1]);
        }
    }
    for (int t = 0; t < TN; t++) {
        const float *at = (const float *)((const uint8_t *)a + t * as);
        float s = hsum8(_mm256_add_ps(acc[t][0], acc[t][1]));
        for (int64_t kk = k; kk < n; kk++)
            s += cvt(w + kk * ES) * at[kk];
        y[t * ys] = s;
    }
}
static float cvt_f32(const uint8_t *p)
{
    float f;
    memcpy(&f, p, 4);
    return f;
}
static float cvt_f16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return h2f(h);
}
static float cvt_bf16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return g4k_bf16_to_f32(h);
}
#define MM_FLT(T, ES)                                                                              \
    static void mm_##T(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as,  \
                       int64_t nt, float *y, int64_t ys)                                           \
    {                                                                                              \
        for (int64_t t0 = 0; t0 < nt; t0 += 4) {                                                   \
            const int64_t tn = nt - t0 < 4 ? nt - t0 : 4;                                          \
            const float *at = (const float *)((const uint8_t *)a + t0 * as);                       \
            for (int64_t r = 0; r < nr; r++) {                                                     \
                const uint8_t *wr = (const uint8_t *)w + r * ws;                                   \
                float *yr = y + t0 * ys + r;                                                       \
                switch (tn) {                                                                      \
                case 1: tile_flt(n, wr, at, as, yr, ys, 1, ld_##T, ES, cvt_##T); break;           \
                case 2: tile_flt(n, wr, at, as, yr, ys, 2, ld_##T, ES, cvt_##T); break;           \
                case 3: tile_flt(n, wr, at, as, yr, ys, 3, ld_##T, ES, cvt_##T); break;           \
                default: tile_flt(n, wr, at, as, yr, ys, 4, ld_##T, ES, cvt_##T); break;          \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }
MM_FLT(f32, 4)
MM_FLT(f16, 2)
MM_FLT(bf16, 2)

static float x86_dot_f32(int64_t n, const float *a, const float *b)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    float s = hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void fill_x86(g4k_kernels *k)
{
    k->dot_f32 = x86_dot_f32;
    k->mm[G4_TYPE_F32] = mm_f32;
    k->mm[G4_TYPE_F16] = mm_f16;
    k->mm[G4_TYPE_BF16] = mm_bf16;
    k->mm[G4_TYPE_Q4_0] = mm_q4_0;
    k->mm[G4_TYPE_Q8_0] = mm_q8_0;
    k->mm[G4_TYPE_Q5_0] = mm_q5_0;
    k->mm[G4_TYPE_IQ4_NL] = mm_iq4_nl;
    k->mm[G4_TYPE_MXFP4] = mm_mxfp4;
    k->mm[G4_TYPE_Q4_1] = mm_q4_1;
    k->mm[G4_TYPE_Q5_1] = mm_q5_1;
    k->mm[G4_TYPE_Q4_K] = mm_q4_K;
    k->mm[G4_TYPE_Q5_K] = mm_q5_K;
    k->mm[G4_TYPE_Q6_K] = mm_q6_K;
    k->mm[G4_TYPE_IQ4_XS] = mm_iq4_xs;
}

#endif
