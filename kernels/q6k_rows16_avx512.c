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
#include <immintrin.h>
#include <string.h>

#include "quant.h"

#define AI static inline __attribute__((always_inline))
#if defined(__clang__)
#define UNROLL_TOK _Pragma("unroll")
#else
#define UNROLL_TOK _Pragma("GCC unroll 8")
#endif

AI __m512i bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm512_set1_epi32(v);
}

/* (a & 0x0F) | (b & 0xF0) per byte, b's 0x30 bits only being set: vpternlog select by m0F. */
AI __m512i sel_lo(__m512i a, __m512i b, __m512i m0F) { return _mm512_ternarylogic_epi32(a, b, m0F, 0xE4); }

/* The 64 k-quads of one packed super-block (ql: 32 x 64 bytes, qh: 16 x 64 bytes). */
AI void q6_decode(const uint8_t *ql, __m512i kq[64])
{
    const uint8_t *qh = ql + 2048;
    const __m512i m0F = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    for (int c = 0; c < 16; c++) {
        const __m512i h = _mm512_loadu_si512(qh + c * 64);
        const __m512i A = _mm512_loadu_si512(ql + c * 64), B = _mm512_loadu_si512(ql + (c + 16) * 64);
        kq[c] = sel_lo(A, _mm512_and_si512(_mm512_slli_epi16(h, 4), m30), m0F);
        kq[c + 16] = sel_lo(B, _mm512_and_si512(_mm512_slli_epi16(h, 2), m30), m0F);
        kq[c + 32] = sel_lo(_mm512_srli_epi16(A, 4), _mm512_and_si512(h, m30), m0F);
        kq[c + 48] = sel_lo(_mm512_srli_epi16(B, 4), _mm512_and_si512(_mm512_srli_epi16(h, 2), m30), m0F);
    }
}

AI void q6_K_groups(int64_t ns, const uint8_t *groups, size_t gb, int64_t ng, const g4k_r16_act *a, float *y,
                    int64_t ys, const int NT)
{
    const g4q_q8_K *x[G4K_MVN_MAX_TOK];
    UNROLL_TOK for (int t = 0; t < NT; t++) x[t] = (const g4q_q8_K *)(a->q + (size_t)t * a->q_stride);
    __m512i kq[64];
    for (int64_t g = 0; g < ng; g++) {
        const uint8_t *base = groups + (size_t)g * gb;
        __m512 acc[G4K_MVN_MAX_TOK];
        UNROLL_TOK for (int t = 0; t < NT; t++) acc[t] = _mm512_setzero_ps();
        for (int64_t s = 0; s < ns; s++) {
            const uint8_t *ql = base + s * 3072;
            for (int o = 0; o < 3072; o += 64)
                _mm_prefetch((const char *)ql + G4K_MVN_PREFETCH + o, _MM_HINT_T0);
            q6_decode(ql, kq);
            const int8_t *sc = (const int8_t *)(base + ns * 3072 + s * 288);
            const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(sc + 256)));
            __m512i isum[G4K_MVN_MAX_TOK];
            UNROLL_TOK for (int t = 0; t < NT; t++) isum[t] = _mm512_setzero_si512();
            for (int j = 0; j < 16; j++) {
                const __m512i scj = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(sc + j * G4K_R16)));
                const __m512i k0 = kq[4 * j], k1 = kq[4 * j + 1], k2 = kq[4 * j + 2], k3 = kq[4 * j + 3];
                UNROLL_TOK for (int t = 0; t < NT; t++) {
                    const int8_t *aq = x[t][s].qs + 16 * j;
                    __m512i p = _mm512_set1_epi32(-a->corr[t * a->n_corr + s * 16 + j]);
                    p = _mm512_dpbusd_epi32(p, k0, bcast4(aq + 0));
                    p = _mm512_dpbusd_epi32(p, k1, bcast4(aq + 4));
                    p = _mm512_dpbusd_epi32(p, k2, bcast4(aq + 8));
                    p = _mm512_dpbusd_epi32(p, k3, bcast4(aq + 12));
                    isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(p, scj));
                }
            }
            UNROLL_TOK for (int t = 0; t < NT; t++) {
                const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(a->d[t * a->n_d + s]));
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), scale, acc[t]);
            }
        }
        UNROLL_TOK for (int t = 0; t < NT; t++) _mm512_storeu_ps(y + t * ys + g * G4K_R16, acc[t]);
    }
}

void g4k_r16_q6_K_avx512(int64_t n, const uint8_t *groups, size_t gb, int64_t ng, const g4k_r16_act *a, float *y,
                         int64_t ys)
{
    const int64_t ns = n / G4_QK_K;
    switch (a->nt) {
    case 1: q6_K_groups(ns, groups, gb, ng, a, y, ys, 1); break;
    case 2: q6_K_groups(ns, groups, gb, ng, a, y, ys, 2); break;
    case 3: q6_K_groups(ns, groups, gb, ng, a, y, ys, 3); break;
    case 4: q6_K_groups(ns, groups, gb, ng, a, y, ys, 4); break;
    case 5: q6_K_groups(ns, groups, gb, ng, a, y, ys, 5); break;
    case 6: q6_K_groups(ns, groups, gb, ng, a, y, ys, 6); break;
    case 7: q6_K_groups(ns, groups, gb, ng, a, y, ys, 7); break;
    default: q6_K_groups(ns, groups, gb, ng, a, y, ys, 8); break;
    }
}

void g4k_fill_avx512_rows16(g4k_kernels *k)
{
    k->rows16[G4_TYPE_Q8_0] = g4k_r16_q8_0_avx512;
    k->rows16[G4_TYPE_Q6_K] = g4k_r16_q6_K_avx512;
}
