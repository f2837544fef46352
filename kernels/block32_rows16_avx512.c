/* Rows-in-lanes kernels (AVX-512 VNNI) for the 32-value block formats Q8_0 and Q4_0, packed LM
 * heads and layer matrices (layout: quant.h; driver: pack16.c). One zmm lane = one of the
 * group's 16 rows. Per block the 8 k-quads are loaded (Q8_0, stored +128: unsigned) or cut out
 * of 4 stored words (Q4_0: low nibbles values 4m.., high nibbles 16 + 4m..) once for all the
 * tokens; per block and token 8 vpdpbusd with the token's Q8_0 bytes as broadcasts, starting
 * from the offset's correction (-128 / -8 sum(a)), one int->float and one FMA by (row scales x
 * activation scale) (r16_block32). No horizontal sums, and each token's sequence of operations
 * is the same whatever the other tokens (bit-identical for 1..8 tokens, and to
 * rows16_scalar.c). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("no-avx512bf16")
#endif
#include "rows16_avx512.h"

/* Q4 = 0: Q8_0 (pairs of blocks of 1088 bytes); Q4 = 1: Q4_0 (pairs of 576). */
AI void block32_groups(int64_t nb, const uint8_t *groups, size_t gb, int64_t ng, const g4k_r16_act *a, float *y,
                       int64_t ys, const int Q4, const int NT)
{
    const size_t pair = Q4 ? 576 : 1088, qbytes = Q4 ? 256 : 512;
    /* Software prefetch of the weight stream. A 1-token pass runs so few instructions per byte
     * that prefetching each block's lines as it goes leaves DRAM short of requests (Q4_0 at
     * 1 token streamed ~24 GB/s where a plain read of the same memory does ~32): prefetched in
     * bursts of whole pairs, ~6.5 KB every ~6.5 KB at 4 KB ahead for 1 token and ~2.2 KB at
     * G4K_MVN_PREFETCH for 2, it streams 15-20% (Q4_0) / ~10% (Q8_0) faster. From 3 tokens on,
     * bursts lose (Q8_0, 4 tokens: 1.18x the time), so every block prefetches its own lines. */
    const int64_t burst = NT == 1 ? (Q4 ? 24 : 12) : NT == 2 ? (Q4 ? 8 : 4) : 1; /* blocks */
    const size_t burst_bytes = NT <= 2 ? (size_t)burst / 2 * pair : qbytes;
    const size_t dist = NT == 1 ? 4096 : G4K_MVN_PREFETCH;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const g4q_q8_0 *x[G4K_MVN_MAX_TOK];
    UNROLL8 for (int t = 0; t < NT; t++) x[t] = (const g4q_q8_0 *)(a->q + (size_t)t * a->q_stride);
    for (int64_t g = 0; g < ng; g++) {
        const uint8_t *q = groups + (size_t)g * gb;
        __m512 acc[G4K_MVN_MAX_TOK];
        UNROLL8 for (int t = 0; t < NT; t++) acc[t] = _mm512_setzero_ps();
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *qb = q + (size_t)(b >> 1) * pair + (size_t)(b & 1) * qbytes;
            if (b % burst == 0) /* (b even when the burst is whole pairs) */
                for (size_t o = 0; o < burst_bytes; o += 64)
                    _mm_prefetch((const char *)qb + dist + o, _MM_HINT_T0);
            __m512i w[8];
            if (Q4) {
                UNROLL8 for (int m = 0; m < 4; m++) {
                    const __m512i r = _mm512_loadu_si512(qb + 64 * m);
                    w[m] = _mm512_and_si512(r, m4);
                    w[m + 4] = _mm512_and_si512(_mm512_srli_epi16(r, 4), m4);
                }
            } else {
                UNROLL8 for (int m = 0; m < 8; m++)
                    w[m] = _mm512_loadu_si512(qb + 64 * m);
            }
            const __m512 ws =
                _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(q + (size_t)(b >> 1) * pair + 2 * qbytes + (size_t)(b & 1) * 32)));
            UNROLL8 for (int t = 0; t < NT; t++)
                acc[t] = r16_block32(w, x[t][b].qs, a->corr[t * a->n_corr + b], ws, a->d[t * a->n_d + b], acc[t]);
        }
        UNROLL8 for (int t = 0; t < NT; t++) _mm512_storeu_ps(y + t * ys + g * G4K_R16, acc[t]);
    }
}

void g4k_r16_q8_0_avx512(int64_t n, const uint8_t *groups, size_t gb, int64_t ng, const g4k_r16_act *a, float *y,
                         int64_t ys)
{
    const int64_t nb = n / G4_QK;
    R16_FOR_NT(a->nt, block32_groups, nb, groups, gb, ng, a, y, ys, 0)
}

void g4k_r16_q4_0_avx512(int64_t n, const uint8_t *groups, size_t gb, int64_t ng, const g4k_r16_act *a, float *y,
                         int64_t ys)
{
    const int64_t nb = n / G4_QK;
    R16_FOR_NT(a->nt, block32_groups, nb, groups, gb, ng, a, y, ys, 1)
}
