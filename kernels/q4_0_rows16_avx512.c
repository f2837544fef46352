/* Rows-in-lanes Q4_0 kernel (AVX-512 VNNI) for packed layer matrices (layout: quant.h; driver:
 * pack16.c). One zmm lane = one of the group's 16 rows. Per 32-value block the 4 stored words
 * give 8 k-quads (low nibbles: values 4m.., high: 16 + 4m..), unsigned 0..15, decoded once for
 * all the tokens; per block and token: 8 vpdpbusd with the token's Q8_0 bytes as embedded
 * broadcasts, starting from -8*sum(a) (the quants' offset), one int->float and one FMA by (row
 * scales x activation scale). Each token's operations do not depend on the other tokens
 * (bit-identical for 1..8 tokens, and to rows16_scalar.c). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("no-avx512bf16")
#endif
#include "rows16_avx512.h"

AI void q4_0_groups(int64_t nb, const uint8_t *groups, size_t gb, int64_t ng, const g4k_r16_act *a, float *y,
                    int64_t ys, const int NT)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const g4q_q8_0 *x[G4K_MVN_MAX_TOK];
    UNROLL_TOK for (int t = 0; t < NT; t++) x[t] = (const g4q_q8_0 *)(a->q + (size_t)t * a->q_stride);
    for (int64_t g = 0; g < ng; g++) {
        const uint8_t *q = groups + (size_t)g * gb;
        __m512 acc[G4K_MVN_MAX_TOK];
        UNROLL_TOK for (int t = 0; t < NT; t++) acc[t] = _mm512_setzero_ps();
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *qb = q + (b >> 1) * 576 + (b & 1) * 256;
            for (int o = 0; o < 256; o += 64)
                _mm_prefetch((const char *)qb + G4K_MVN_PREFETCH + o, _MM_HINT_T0);
            const __m512i r0 = _mm512_loadu_si512(qb), r1 = _mm512_loadu_si512(qb + 64);
            const __m512i r2 = _mm512_loadu_si512(qb + 128), r3 = _mm512_loadu_si512(qb + 192);
            const __m512i l0 = _mm512_and_si512(r0, m4), h0 = _mm512_and_si512(_mm512_srli_epi16(r0, 4), m4);
            const __m512i l1 = _mm512_and_si512(r1, m4), h1 = _mm512_and_si512(_mm512_srli_epi16(r1, 4), m4);
            const __m512i l2 = _mm512_and_si512(r2, m4), h2 = _mm512_and_si512(_mm512_srli_epi16(r2, 4), m4);
            const __m512i l3 = _mm512_and_si512(r3, m4), h3 = _mm512_and_si512(_mm512_srli_epi16(r3, 4), m4);
            const __m512 ws = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(q + (b >> 1) * 576 + 512 + (b & 1) * 32)));
            UNROLL_TOK for (int t = 0; t < NT; t++) {
                const int8_t *aq = x[t][b].qs;
                /* two chains of 4 (latency), summed: exact integers, so the same sum */
                __m512i s = _mm512_set1_epi32(-a->corr[t * a->n_corr + b]), u = _mm512_setzero_si512();
                s = _mm512_dpbusd_epi32(s, l0, bcast4(aq + 0));
                u = _mm512_dpbusd_epi32(u, l1, bcast4(aq + 4));
                s = _mm512_dpbusd_epi32(s, l2, bcast4(aq + 8));
                u = _mm512_dpbusd_epi32(u, l3, bcast4(aq + 12));
                s = _mm512_dpbusd_epi32(s, h0, bcast4(aq + 16));
                u = _mm512_dpbusd_epi32(u, h1, bcast4(aq + 20));
                s = _mm512_dpbusd_epi32(s, h2, bcast4(aq + 24));
                u = _mm512_dpbusd_epi32(u, h3, bcast4(aq + 28));
                s = _mm512_add_epi32(s, u);
                const __m512 scale = _mm512_mul_ps(ws, _mm512_set1_ps(a->d[t * a->n_d + b]));
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), scale, acc[t]);
            }
        }
        UNROLL_TOK for (int t = 0; t < NT; t++) _mm512_storeu_ps(y + t * ys + g * G4K_R16, acc[t]);
    }
}

void g4k_r16_q4_0_avx512(int64_t n, const uint8_t *groups, size_t gb, int64_t ng, const g4k_r16_act *a, float *y,
                         int64_t ys)
{
    const int64_t nb = n / G4_QK;
    R16_FOR_NT(a->nt, q4_0_groups, nb, groups, gb, ng, a, y, ys)
}
