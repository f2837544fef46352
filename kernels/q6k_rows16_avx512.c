/* Rows-in-lanes Q6_K kernel (AVX-512 VNNI) for packed LM heads (layout: quant.h; driver:
 * pack16.c). One zmm lane = one of the group's 16 rows. Per 256-value super-block the group's
 * 6-bit quants (0..63, already unsigned: vpdpbusd's unsigned operand) are rebuilt once from
 * their nibble and 2-bit planes into 64 k-quads in L1, and the 16 sub-block scales widened to
 * i32 lanes; then per sub-block and token: 4 vpdpbusd with the token's Q8_K bytes as embedded
 * broadcasts, starting from -32*bsum (the quants' offset), one 32-bit multiply by the rows'
 * scales into the super-block's integer sum; per super-block and token one int->float and one
 * FMA by (row d x activation d). Each token's operations do not depend on the other tokens
 * (bit-identical for 1..8 tokens, and to rows16_scalar.c). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("no-avx512bf16")
#endif
#include "rows16_avx512.h"

/* (a & 0x0F) | (b & 0xF0) per byte, b's 0x30 bits only being set: vpternlog select by m0F. */
AI __m512i sel_lo(__m512i a, __m512i b, __m512i m0F) { return _mm512_ternarylogic_epi32(a, b, m0F, 0xE4); }

/* Part c of a packed super-block (192 bytes) -> k-quads c, c+16, c+32, c+48 = the k-quad
 * c % 4 of sub-blocks c/4, c/4 + 4, c/4 + 8, c/4 + 12. */
#define Q6_PART(part, K0, K1, K2, K3)                                                                   \
    do {                                                                                                \
        const __m512i A_ = _mm512_loadu_si512(part), B_ = _mm512_loadu_si512((part) + 64);             \
        const __m512i h_ = _mm512_loadu_si512((part) + 128);                                           \
        K0 = sel_lo(A_, _mm512_and_si512(_mm512_slli_epi16(h_, 4), m30), m0F);                         \
        K1 = sel_lo(B_, _mm512_and_si512(_mm512_slli_epi16(h_, 2), m30), m0F);                         \
        K2 = sel_lo(_mm512_srli_epi16(A_, 4), _mm512_and_si512(h_, m30), m0F);                         \
        K3 = sel_lo(_mm512_srli_epi16(B_, 4), _mm512_and_si512(_mm512_srli_epi16(h_, 2), m30), m0F);   \
    } while (0)

/* One sub-block j of one token: sc_j * (q . a - 32 bsum_j), k-quads K0..K3. */
AI __m512i q6_sub(__m512i K0, __m512i K1, __m512i K2, __m512i K3, const int8_t *aq, int32_t corr, __m512i sc)
{
    __m512i p = _mm512_set1_epi32(-corr);
    p = dpbusd_b4(p, K0, aq + 0);
    p = dpbusd_b4(p, K1, aq + 4);
    p = dpbusd_b4(p, K2, aq + 8);
    p = dpbusd_b4(p, K3, aq + 12);
    return _mm512_mullo_epi32(p, sc);
}

AI void q6_K_groups(int64_t ns, const uint8_t *groups, size_t gb, int64_t ng, const g4k_r16_act *a, float *y,
                    int64_t ys, const int NT)
{
    const __m512i m0F = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    for (int64_t g = 0; g < ng; g++) {
        const uint8_t *base = groups + (size_t)g * gb;
        __m512 acc[G4K_MVN_MAX_TOK];
        UNROLL8 for (int t = 0; t < NT; t++) acc[t] = _mm512_setzero_ps();
        for (int64_t s = 0; s < ns; s++) {
            const uint8_t *sb = base + s * 3360;
            for (int o = 0; o < 3360; o += 64)
                _mm_prefetch((const char *)sb + G4K_MVN_PREFETCH + o, _MM_HINT_T0);
            const int8_t *sc = (const int8_t *)(sb + 3072);
            const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(sc + 256)));
            __m512i isum[G4K_MVN_MAX_TOK];
            UNROLL8 for (int t = 0; t < NT; t++) isum[t] = _mm512_setzero_si512();
            for (int jj = 0; jj < 4; jj++) { /* sub-blocks jj, jj + 4, jj + 8, jj + 12 */
                __m512i a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3;
                const uint8_t *part = sb + jj * 4 * 192;
                Q6_PART(part, a0, b0, c0, d0);
                Q6_PART(part + 192, a1, b1, c1, d1);
                Q6_PART(part + 384, a2, b2, c2, d2);
                Q6_PART(part + 576, a3, b3, c3, d3);
                const __m512i sa = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(sc + jj * G4K_R16)));
                const __m512i sbv = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(sc + (jj + 4) * G4K_R16)));
                const __m512i scv = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(sc + (jj + 8) * G4K_R16)));
                const __m512i sd = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(sc + (jj + 12) * G4K_R16)));
                UNROLL8 for (int t = 0; t < NT; t++) {
                    const int8_t *aq = ((const g4q_q8_K *)(a->q + (size_t)t * a->q_stride))[s].qs;
                    const int32_t *corr = a->corr + t * a->n_corr + s * 16;
                    const __m512i u = _mm512_add_epi32(q6_sub(a0, a1, a2, a3, aq + 16 * jj, corr[jj], sa),
                                                       q6_sub(b0, b1, b2, b3, aq + 16 * (jj + 4), corr[jj + 4], sbv));
                    const __m512i v = _mm512_add_epi32(q6_sub(c0, c1, c2, c3, aq + 16 * (jj + 8), corr[jj + 8], scv),
                                                       q6_sub(d0, d1, d2, d3, aq + 16 * (jj + 12), corr[jj + 12], sd));
                    isum[t] = _mm512_add_epi32(isum[t], _mm512_add_epi32(u, v));
                }
            }
            UNROLL8 for (int t = 0; t < NT; t++) {
                const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(a->d[t * a->n_d + s]));
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), scale, acc[t]);
            }
        }
        UNROLL8 for (int t = 0; t < NT; t++) _mm512_storeu_ps(y + t * ys + g * G4K_R16, acc[t]);
    }
}

void g4k_r16_q6_K_avx512(int64_t n, const uint8_t *groups, size_t gb, int64_t ng, const g4k_r16_act *a, float *y,
                         int64_t ys)
{
    const int64_t ns = n / G4_QK_K;
    R16_FOR_NT(a->nt, q6_K_groups, ns, groups, gb, ng, a, y, ys)
}

void g4k_fill_avx512_rows16(g4k_kernels *k)
{
    k->rows16[G4_TYPE_Q8_0] = g4k_r16_q8_0_avx512;
    k->rows16[G4_TYPE_Q6_K] = g4k_r16_q6_K_avx512;
    k->rows16[G4_TYPE_Q4_0] = g4k_r16_q4_0_avx512;
    k->rows16[G4_TYPE_Q4_K] = g4k_r16_q4_K_avx512;
}
