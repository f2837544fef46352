/* Rows-in-lanes Q8_0 kernel (AVX-512 VNNI) for packed LM heads (layout: quant.h; driver:
 * pack16.c). One zmm lane = one of the group's 16 rows. Per 32-value block and token: 8
 * vpdpbusd of the block's 8 weight k-quads (stored +128, unsigned) with the token's 4 activation
 * bytes as an embedded broadcast, starting from -128*sum(a) (the +128's correction), then one
 * int->float and one FMA by (row scales x activation scale). No horizontal sums; the weights
 * are loaded once per block for all the tokens, and each token's sequence of operations is the
 * same whatever the other tokens (bit-identical for 1..8 tokens, and to rows16_scalar.c). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("no-avx512bf16")
#endif
#include "rows16_avx512.h"

AI void q8_0_groups(int64_t nb, const uint8_t *groups, size_t gb, int64_t ng, const g4k_r16_act *a, float *y,
                    int64_t ys, const int NT)
{
    const g4q_q8_0 *x[G4K_MVN_MAX_TOK];
    UNROLL_TOK for (int t = 0; t < NT; t++) x[t] = (const g4q_q8_0 *)(a->q + (size_t)t * a->q_stride);
    for (int64_t g = 0; g < ng; g++) {
        const uint8_t *q = groups + (size_t)g * gb;
        __m512 acc[G4K_MVN_MAX_TOK];
        UNROLL_TOK for (int t = 0; t < NT; t++) acc[t] = _mm512_setzero_ps();
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *qb = q + (b >> 1) * 1088 + (b & 1) * 512;
            for (int o = 0; o < 512; o += 64)
                _mm_prefetch((const char *)qb + G4K_MVN_PREFETCH + o, _MM_HINT_T0);
            const __m512i w0 = _mm512_loadu_si512(qb), w1 = _mm512_loadu_si512(qb + 64);
            const __m512i w2 = _mm512_loadu_si512(qb + 128), w3 = _mm512_loadu_si512(qb + 192);
            const __m512i w4 = _mm512_loadu_si512(qb + 256), w5 = _mm512_loadu_si512(qb + 320);
            const __m512i w6 = _mm512_loadu_si512(qb + 384), w7 = _mm512_loadu_si512(qb + 448);
            const __m512 ws = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(q + (b >> 1) * 1088 + 1024 + (b & 1) * 32)));
            UNROLL_TOK for (int t = 0; t < NT; t++) {
                const int8_t *aq = x[t][b].qs;
                /* two chains of 4 (latency), summed: exact integers, so the same sum */
                __m512i s = _mm512_set1_epi32(-a->corr[t * a->n_corr + b]), u = _mm512_setzero_si512();
                s = _mm512_dpbusd_epi32(s, w0, bcast4(aq + 0));
                u = _mm512_dpbusd_epi32(u, w1, bcast4(aq + 4));
                s = _mm512_dpbusd_epi32(s, w2, bcast4(aq + 8));
                u = _mm512_dpbusd_epi32(u, w3, bcast4(aq + 12));
                s = _mm512_dpbusd_epi32(s, w4, bcast4(aq + 16));
                u = _mm512_dpbusd_epi32(u, w5, bcast4(aq + 20));
                s = _mm512_dpbusd_epi32(s, w6, bcast4(aq + 24));
                u = _mm512_dpbusd_epi32(u, w7, bcast4(aq + 28));
                s = _mm512_add_epi32(s, u);
                const __m512 scale = _mm512_mul_ps(ws, _mm512_set1_ps(a->d[t * a->n_d + b]));
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), scale, acc[t]);
            }
        }
        UNROLL_TOK for (int t = 0; t < NT; t++) _mm512_storeu_ps(y + t * ys + g * G4K_R16, acc[t]);
    }
}

void g4k_r16_q8_0_avx512(int64_t n, const uint8_t *groups, size_t gb, int64_t ng, const g4k_r16_act *a, float *y,
                         int64_t ys)
{
    const int64_t nb = n / G4_QK;
    R16_FOR_NT(a->nt, q8_0_groups, nb, groups, gb, ng, a, y, ys)
}
