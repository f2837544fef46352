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

/* One block b (at qb; its 16 row scales at sc) of the group against the NT tokens. */
AI void block32_step(const uint8_t *qb, const uint8_t *sc, int64_t b, const g4q_q8_0 *const *x, const g4k_r16_act *a,
                     __m512 *acc, const int Q4, const int NT)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F);
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
    const __m512 ws = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)sc));
    UNROLL8 for (int t = 0; t < NT; t++)
        acc[t] = r16_block32(w, x[t][b].qs, a->corr[t * a->n_corr + b], ws, a->d[t * a->n_d + b], acc[t]);
}

AI void block32_groups(int64_t nb, const uint8_t *groups, size_t gb, int64_t ng, const g4k_r16_act *a, float *y,
                       int64_t ys, const int Q4, const int NT)
{
    const size_t pair = Q4 ? 576 : 1088, qbytes = Q4 ? 256 : 512;
    /* Software prefetch of the weight stream, in bursts. Up to RUN_MAX_TOK tokens the kernel runs
     * RUN pairs per iteration, unrolled, after one burst for all of them (4 KB ahead for 1 token,
     * G4K_MVN_PREFETCH for more): with the address arithmetic and the burst test per block
     * (bursts of 12 pairs for 1 token, 4 for 2, every block's own lines from 3 on) the Q4_0
     * kernel streamed a 33 MB matrix from DRAM ~25% slower than the Q4_K kernel, whose unrolled
     * iteration is one 2304-byte super-block after its burst, did the very same bytes (the Q4_K
     * kernel run over the Q4_0 matrix). test_pack16 --bench, 15360 x 3840, 1 thread, median ms,
     * per-block -> runs of 4 pairs: Q4_0 1 token 1.64 -> 1.26 (the Q4_K kernel over those bytes:
     * 1.30), 2 tokens 1.55 -> 1.21, 3 tokens 2.19 -> 1.08, 4 tokens 2.31 -> 1.88, 5 tokens
     * 2.25 -> 1.58, 8 tokens 2.59 -> 3.15 (so from 6 tokens on every block still prefetches
     * its own lines); Q8_0 1 token 2.40 -> 1.73; 2 threads, Q4_0 1 token 0.89 -> 0.69. Runs of
     * 8 pairs (2.2 ms) and other distances (8 or 16 KB: 1.42) did worse. A run's tail pairs
     * are not prefetched: the next group's burst covers them. */
    enum { RUN = 4, RUN_MAX_TOK = 5 };
    /* Q8_0 from 2 tokens on: its run is 68 lines, more than Ice Lake's line-fill buffers, and
     * the per-block loop measured 9-21% faster there at 3-5 tokens (15360 x 3840, min ms of 21,
     * 5 interleaved rounds, 4 tokens 3.12-3.38 -> 2.80-3.05 at 1 thread, 1.60-1.82 -> 1.35-1.49
     * at 2). 1 token measured the same either way, so it keeps the runs the AMD host found
     * faster. */
    const int runs = NT <= RUN_MAX_TOK && (Q4 || NT == 1);
    const size_t dist = NT == 1 ? 4096 : G4K_MVN_PREFETCH;
    const g4q_q8_0 *x[G4K_MVN_MAX_TOK];
    UNROLL8 for (int t = 0; t < NT; t++) x[t] = (const g4q_q8_0 *)(a->q + (size_t)t * a->q_stride);
    for (int64_t g = 0; g < ng; g++) {
        const uint8_t *q = groups + (size_t)g * gb;
        __m512 acc[G4K_MVN_MAX_TOK];
        UNROLL8 for (int t = 0; t < NT; t++) acc[t] = _mm512_setzero_ps();
        int64_t p = 0; /* pair */
        if (runs)
            for (; 2 * (p + RUN) <= nb; p += RUN) {
                const uint8_t *qr = q + (size_t)p * pair;
                for (size_t o = 0; o < RUN * pair; o += 64)
                    _mm_prefetch((const char *)qr + dist + o, _MM_HINT_T0);
                UNROLL8 for (int j = 0; j < 2 * RUN; j++) {
                    const uint8_t *qp = qr + (size_t)(j >> 1) * pair;
                    block32_step(qp + (size_t)(j & 1) * qbytes, qp + 2 * qbytes + (size_t)(j & 1) * 32, 2 * p + j, x, a,
                                 acc, Q4, NT);
                }
            }
        for (; 2 * p < nb; p++) {
            const uint8_t *qp = q + (size_t)p * pair;
            for (int j = 0; j < 2 && 2 * p + j < nb; j++) {
                const uint8_t *qb = qp + (size_t)j * qbytes;
                if (!runs)
                    for (size_t o = 0; o < qbytes; o += 64)
                        _mm_prefetch((const char *)qb + dist + o, _MM_HINT_T0);
                block32_step(qb, qp + 2 * qbytes + (size_t)j * 32, 2 * p + j, x, a, acc, Q4, NT);
            }
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
