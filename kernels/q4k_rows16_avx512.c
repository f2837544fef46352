/* Rows-in-lanes Q4_K kernel (AVX-512 VNNI) for packed layer matrices (layout: quant.h; driver:
 * pack16.c). One zmm lane = one of the group's 16 rows. Per 256-value super-block the rows'
 * 6-bit scales and mins are unpacked once into i32 lanes (scales) and i16 pairs (mins); per
 * stored quant word (low nibbles: sub-block 2c, high: 2c + 1) and token two vpdpbusd with the
 * token's Q8_K bytes as embedded broadcasts; per sub-block pair and token two 32-bit multiplies
 * by the scales into the super-block's exact integer sum; per super-block and token 4 vpdpwssd
 * of the mins with the activation's 32-value sums, then two int->float and two FMAs (d and
 * dmin by the activation's d). Each token's operations do not depend on the other tokens
 * (bit-identical for 1..8 tokens, and to rows16_scalar.c). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("no-avx512bf16")
#endif
#include "rows16_avx512.h"

/* vpshufb controls: byte j of every dword to its low byte (zero-extended), and bytes 2k, 2k+1
 * to the two i16 halves (zero-extended). */
AI __m512i byte_ctl(int j) { return _mm512_set4_epi32(0x8080800C + j, 0x80808008 + j, 0x80808004 + j, 0x80808000 + j); }
AI __m512i pair_ctl(int k)
{
    const int b = 2 * k;
    return _mm512_set4_epi32((int)(0x80008000u + ((12u + b + 1) << 16) + 12u + b),
                             (int)(0x80008000u + ((8u + b + 1) << 16) + 8u + b),
                             (int)(0x80008000u + ((4u + b + 1) << 16) + 4u + b),
                             (int)(0x80008000u + ((0u + b + 1) << 16) + 0u + b));
}

AI void q4_K_groups(int64_t ns, const uint8_t *groups, size_t gb, int64_t ng, const g4k_r16_act *a, float *y,
                    int64_t ys, const int NT)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F), m3F = _mm512_set1_epi8(0x3F), m30 = _mm512_set1_epi8(0x30);
    for (int64_t g = 0; g < ng; g++) {
        const uint8_t *base = groups + (size_t)g * gb;
        __m512 acc[G4K_MVN_MAX_TOK];
        UNROLL8 for (int t = 0; t < NT; t++) acc[t] = _mm512_setzero_ps();
        for (int64_t s = 0; s < ns; s++) {
            const uint8_t *sb = base + s * 2304;
            if (NT == 1) /* the whole super-block in one burst (see block32_rows16_avx512.c) */
                for (int o = 0; o < 2304; o += 64)
                    _mm_prefetch((const char *)sb + G4K_MVN_PREFETCH + o, _MM_HINT_T0);
            /* scales (bytes 0..3: sc0..3 & 63, 4..7: m0..3 & 63, 8..11: low nibbles sc4..7 and
             * high nibbles m4..7, whose top 2 bits are bytes 0..3's / 4..7's bits 6..7) */
            const __m512i W0 = _mm512_loadu_si512(sb + 2048), W2 = _mm512_loadu_si512(sb + 2176);
            const __m512i s_lo = _mm512_and_si512(W0, m3F);
            const __m512i s_hi = _mm512_or_si512(_mm512_and_si512(W2, m4), _mm512_and_si512(_mm512_srli_epi32(W0, 2), m30));
            /* (what is live across the token loops is kept small: at 4-5 tokens the per-token
             * accumulators take most of the 32 registers; the scale of a sub-block is picked
             * when it is needed, the mins and d after the quants) */
            __m512i isum[G4K_MVN_MAX_TOK];
            UNROLL8 for (int t = 0; t < NT; t++) isum[t] = _mm512_setzero_si512();
            UNROLL8 for (int c = 0; c < 4; c++) { /* sub-blocks 2c (low nibbles) and 2c + 1 (high) */
                const uint8_t *qc = sb + c * 512;
                if (NT > 1)
                    for (int o = 0; o < 512; o += 64)
                        _mm_prefetch((const char *)qc + G4K_MVN_PREFETCH + o, _MM_HINT_T0);
                __m512i lo[G4K_MVN_MAX_TOK], hi[G4K_MVN_MAX_TOK];
                UNROLL8 for (int t = 0; t < NT; t++) lo[t] = hi[t] = _mm512_setzero_si512();
                UNROLL8 for (int m = 0; m < 8; m++) {
                    const __m512i r = _mm512_loadu_si512(qc + m * 64);
                    const __m512i L = _mm512_and_si512(r, m4), H = _mm512_and_si512(_mm512_srli_epi16(r, 4), m4);
                    UNROLL8 for (int t = 0; t < NT; t++) {
                        const int8_t *aq = ((const g4q_q8_K *)(a->q + (size_t)t * a->q_stride))[s].qs + 64 * c + 4 * m;
                        lo[t] = dpbusd_b4(lo[t], L, aq);
                        hi[t] = dpbusd_b4(hi[t], H, aq + 32);
                    }
                }
                const __m512i sv = c < 2 ? s_lo : s_hi; /* scales 2c, 2c + 1: its bytes 2c % 4, +1 */
                const __m512i sl = _mm512_shuffle_epi8(sv, byte_ctl(2 * c % 4));
                const __m512i sh = _mm512_shuffle_epi8(sv, byte_ctl(2 * c % 4 + 1));
                UNROLL8 for (int t = 0; t < NT; t++)
                    isum[t] = _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(lo[t], sl),
                                                                         _mm512_mullo_epi32(hi[t], sh)));
            }
            const __m512i W1 = _mm512_loadu_si512(sb + 2112);
            const __m512i m_lo = _mm512_and_si512(W1, m3F);
            const __m512i m_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(W2, 4), m4),
                                                 _mm512_and_si512(_mm512_srli_epi32(W1, 2), m30));
            const __m512i mp0 = _mm512_shuffle_epi8(m_lo, pair_ctl(0)), mp1 = _mm512_shuffle_epi8(m_lo, pair_ctl(1));
            const __m512i mp2 = _mm512_shuffle_epi8(m_hi, pair_ctl(0)), mp3 = _mm512_shuffle_epi8(m_hi, pair_ctl(1));
            const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(sb + 2240)));
            const __m512 dmw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(sb + 2272)));
            UNROLL8 for (int t = 0; t < NT; t++) {
                const int32_t *corr = a->corr + t * a->n_corr + s * 4;
                __m512i ms = _mm512_dpwssd_epi32(_mm512_setzero_si512(), mp0, _mm512_set1_epi32(corr[0]));
                ms = _mm512_dpwssd_epi32(ms, mp1, _mm512_set1_epi32(corr[1]));
                ms = _mm512_dpwssd_epi32(ms, mp2, _mm512_set1_epi32(corr[2]));
                ms = _mm512_dpwssd_epi32(ms, mp3, _mm512_set1_epi32(corr[3]));
                const __m512 da = _mm512_set1_ps(a->d[t * a->n_d + s]);
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(dw, da), acc[t]);
                acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(ms), _mm512_mul_ps(dmw, da), acc[t]);
            }
        }
        UNROLL8 for (int t = 0; t < NT; t++) _mm512_storeu_ps(y + t * ys + g * G4K_R16, acc[t]);
    }
}

void g4k_r16_q4_K_avx512(int64_t n, const uint8_t *groups, size_t gb, int64_t ng, const g4k_r16_act *a, float *y,
                         int64_t ys)
{
    const int64_t ns = n / G4_QK_K;
    R16_FOR_NT(a->nt, q4_K_groups, ns, groups, gb, ng, a, y, ys)
}
