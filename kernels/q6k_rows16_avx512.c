/* Rows-in-lanes Q6_K kernel (AVX-512 VNNI) for packed LM heads (layout: quant.h; driver:
 * pack16.c). One zmm lane = one of the group's 16 rows. Per 256-value super-block and
 * sub-block j (packed part j), the group's 6-bit quants (0..63, already unsigned: vpdpbusd's
 * unsigned operand) are rebuilt once from their nibble and 2-bit planes into 4 k-quads, and the
 * sub-block's scales widened to i32 lanes; then per token: 4 vpdpbusd with the token's Q8_K
 * bytes broadcast, starting from -32*bsum (the quants' offset), one 32-bit multiply by the
 * rows' scales into the super-block's integer sum; per super-block and token one int->float
 * and one FMA by (row d x activation d). Each token's operations do not depend on the other
 * tokens (bit-identical for 1..8 tokens, and to rows16_scalar.c). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("no-avx512bf16")
#endif
#include "rows16_avx512.h"

/* (a & 0x0F) | (b & 0xF0) per byte, b's 0x30 bits only being set: vpternlog select by m0F. */
AI __m512i sel_lo(__m512i a, __m512i b, __m512i m0F) { return _mm512_ternarylogic_epi32(a, b, m0F, 0xE4); }

/* Part j of a packed super-block (192 bytes) -> the 4 k-quads of sub-block j. */
AI void q6_part(const uint8_t *part, __m512i K[4], __m512i m0F, __m512i m30)
{
    const __m512i A = _mm512_loadu_si512(part), B = _mm512_loadu_si512(part + 64);
    const __m512i h = _mm512_loadu_si512(part + 128);
    K[0] = sel_lo(A, _mm512_and_si512(_mm512_slli_epi16(h, 4), m30), m0F);
    K[1] = sel_lo(B, _mm512_and_si512(_mm512_slli_epi16(h, 2), m30), m0F);
    K[2] = sel_lo(_mm512_srli_epi16(A, 4), _mm512_and_si512(h, m30), m0F);
    K[3] = sel_lo(_mm512_srli_epi16(B, 4), _mm512_and_si512(_mm512_srli_epi16(h, 2), m30), m0F);
}

/* The token's 4 bytes at p in every i32 lane, as a register: one load feeds several groups'
 * vpdpbusd (spelled out: gcc would broadcast from a general register, a shuffle-port uop). */
AI __m512i bcast4(const int8_t *p)
{
#if defined(__GNUC__)
    __m512i r;
    __asm__("vpbroadcastd %1, %0" : "=v"(r) : "m"(*(const int32_t(*)[1])p));
    return r;
#else
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm512_set1_epi32(v);
#endif
}

/* G (1 or 2) consecutive groups' rows against NT tokens. Two groups share each activation
 * broadcast: 512-bit loads, broadcasts included, issue at about one per cycle on Ice Lake, half
 * the rate of vpdpbusd, and with one group every vpdpbusd needs its own (from L2, 256 x 3840,
 * 4 tokens: 0.068 -> 0.060 ms). With two groups the float accumulators live in y (registers are
 * short). */
enum { SB_BYTES = 3360, PF_SHARE = SB_BYTES / 16 }; /* a packed super-block; its sixteenth */

AI void q6_K_run(int64_t ns, const uint8_t *base, size_t gb, const g4k_r16_act *a, float *y, int64_t ys,
                 const int NT, const int G)
{
    const __m512i m0F = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    __m512 acc[G4K_MVN_MAX_TOK];
    UNROLL8 for (int t = 0; t < NT; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t s = 0; s < ns; s++) {
        const uint8_t *sb[2] = {base + s * SB_BYTES, G == 2 ? base + gb + s * SB_BYTES : base};
        __m512i isum[2][G4K_MVN_MAX_TOK];
        UNROLL8 for (int gi = 0; gi < G; gi++)
            UNROLL8 for (int t = 0; t < NT; t++) isum[gi][t] = _mm512_setzero_si512();
        for (int j = 0; j < 16; j++) {
            __m512i K[2][4], sc[2];
            UNROLL8 for (int gi = 0; gi < G; gi++) {
                /* this sixteenth of the super-block G4K_MVN_PREFETCH ahead (every line it
                 * touches, its last byte included): spread over the sub-blocks, not in one
                 * burst that fills the line-fill buffers */
                const char *pf = (const char *)sb[gi] + G4K_MVN_PREFETCH + j * PF_SHARE;
                _mm_prefetch(pf, _MM_HINT_T0);
                _mm_prefetch(pf + 64, _MM_HINT_T0);
                _mm_prefetch(pf + 128, _MM_HINT_T0);
                _mm_prefetch(pf + PF_SHARE - 1, _MM_HINT_T0);
                q6_part(sb[gi] + j * 192, K[gi], m0F, m30);
                sc[gi] = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(sb[gi] + 3072 + j * G4K_R16)));
            }
            UNROLL8 for (int t = 0; t < NT; t++) {
                const int8_t *aq = ((const g4q_q8_K *)(a->q + (size_t)t * a->q_stride))[s].qs + 16 * j;
                const __m512i start = _mm512_set1_epi32(-a->corr[t * a->n_corr + s * 16 + j]);
                if (G == 1) {
                    __m512i p = start;
                    UNROLL8 for (int m = 0; m < 4; m++) p = dpbusd_b4(p, K[0][m], aq + 4 * m);
                    isum[0][t] = _mm512_add_epi32(isum[0][t], _mm512_mullo_epi32(p, sc[0]));
                } else {
                    __m512i p[2] = {start, start};
                    UNROLL8 for (int m = 0; m < 4; m++) {
                        const __m512i b = bcast4(aq + 4 * m);
                        UNROLL8 for (int gi = 0; gi < G; gi++) p[gi] = _mm512_dpbusd_epi32(p[gi], K[gi][m], b);
                    }
                    UNROLL8 for (int gi = 0; gi < G; gi++)
                        isum[gi][t] = _mm512_add_epi32(isum[gi][t], _mm512_mullo_epi32(p[gi], sc[gi]));
                }
            }
        }
        UNROLL8 for (int gi = 0; gi < G; gi++) {
            const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(sb[gi] + 3072 + 256)));
            UNROLL8 for (int t = 0; t < NT; t++) {
                const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(a->d[t * a->n_d + s]));
                float *yt = y + t * ys + gi * G4K_R16;
                if (G == 1)
                    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[gi][t]), scale, acc[t]);
                else
                    _mm512_storeu_ps(yt, _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[gi][t]), scale,
                                                         s ? _mm512_loadu_ps(yt) : _mm512_setzero_ps()));
            }
        }
    }
    if (G == 1)
        UNROLL8 for (int t = 0; t < NT; t++) _mm512_storeu_ps(y + t * ys, acc[t]);
}

/* Pairs of groups up to 4 tokens (decode and the verify batches that matter); one group at a
 * time for a chunk's odd last group and for 5..8 tokens, whose integer sums would not fit in
 * registers twice. Ice Lake, test_pack16 --bench (262144 x 3840 from DRAM, min ms of 21, 1 / 2
 * threads), against one group with the super-block's 53 lines prefetched in one burst:
 * 1 token 65.6-67.3 -> 60.6-62.7 / 37.9-38.0 -> 29.3-29.6, 4 tokens 85.3-87.3 -> 58.6-59.6 /
 * 42.9-55.7 -> 31.2-39.9. Nearly all of it is the prefetch spread over the sub-blocks (one group,
 * spread: 1 / 4 tokens 64.0-64.4 / 60.2-61.0): a burst longer than the line-fill buffers stalls
 * the loads behind it, so the arithmetic and the stream did not overlap. */
AI void q6_K_groups(int64_t ns, const uint8_t *groups, size_t gb, int64_t ng, const g4k_r16_act *a, float *y,
                    int64_t ys, const int NT)
{
    int64_t g = 0;
    if (NT <= 4)
        for (; g + 2 <= ng; g += 2)
            q6_K_run(ns, groups + (size_t)g * gb, gb, a, y + g * G4K_R16, ys, NT, 2);
    for (; g < ng; g++)
        q6_K_run(ns, groups + (size_t)g * gb, gb, a, y + g * G4K_R16, ys, NT, 1);
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
