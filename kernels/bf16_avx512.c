/* Prefill GEMM for BF16 weights with AVX512-BF16 (vdpbf16ps): 2 bf16 products per f32 lane,
 * twice the f32-FMA rate. The only translation unit allowed to emit BF16 instructions: it is
 * installed by dispatch.c only when CPUID reports AVX512_BF16 (the AVX-512 level itself needs
 * only VNNI), and the other *_avx512.c files forbid the BF16 ISA with a target pragma.
 *
 * Like llama.cpp's BF16 path, activations are rounded to bf16 (RNE), so results carry an extra
 * relative error of at most 2^-9 per product (decode keeps f32 activations). No weight copy:
 * rows are read in place. The driver (matmul.c) packs the activations once per call with
 * pack_bf16 into tiles of 16 tokens, pairs interleaved by token (zmm lane t = token t's
 * (x[2k], x[2k+1])), so every row chunk of every thread reads the same packed tiles; the
 * micro-kernel runs 8 rows x 16 tokens with the weight pair as an embedded broadcast. */
#include <immintrin.h>

#include "quant.h"
#include "topology.h"

#define MR 8
#define NT 16

/* lowp_pack: n_tok rows of n (even) floats -> 16-token tiles of bf16 pairs (quant.h). */
static void pack_bf16(const float *x, int64_t n, int64_t n_tok, void *dst, size_t stride)
{
    const int64_t np = n / 2;
    for (int64_t t0 = 0; t0 < n_tok; t0 += NT) {
        uint32_t *tile = (uint32_t *)((uint8_t *)dst + (size_t)t0 * stride);
        const int64_t ntt = n_tok - t0 < NT ? n_tok - t0 : NT;
        for (int64_t t = 0; t < NT; t++) {
            if (t >= ntt) { /* padding tokens: zero pairs */
                for (int64_t p = 0; p < np; p++)
                    tile[p * NT + t] = 0;
                continue;
            }
            const float *xt = x + (t0 + t) * n;
            int64_t p = 0;
            for (; p + 16 <= np; p += 16) {
                const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(xt + 2 * p + 16), _mm512_loadu_ps(xt + 2 * p));
                /* scatter the 16 pairs to rows p..p+15 of the tile, column t */
                const __m512i idx = _mm512_add_epi32(_mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9,
                                                                                      8, 7, 6, 5, 4, 3, 2, 1, 0),
                                                                      _mm512_set1_epi32(NT)),
                                                     _mm512_set1_epi32((int)(p * NT + t)));
                _mm512_i32scatter_epi32(tile, idx, (__m512i)v, 4);
            }
            for (; p < np; p++) {
                const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_setzero_ps(), _mm512_maskz_loadu_ps(0x3, xt + 2 * p));
                tile[p * NT + t] = (uint32_t)_mm_cvtsi128_si32(_mm512_castsi512_si128((__m512i)v));
            }
        }
    }
}

static void gemm_bf16(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt, float *y,
                      int64_t ys)
{
    const int64_t np = n / 2, ntiles = (nt + NT - 1) / NT; /* n even (the driver's rule for packing) */
    /* row panels of half of L2 so the weights stay in L2 across token tiles */
    const int64_t l2 = g4k_topology_cache_bytes(2);
    const size_t half = l2 < (512 << 10) ? (256u << 10) : l2 > (4 << 20) ? (2u << 20) : (size_t)l2 / 2;
    int64_t pr = (int64_t)(half / ((size_t)n * 2 + 1)) / MR * MR;
    pr = pr < MR ? MR : pr;
    for (int64_t r0 = 0; r0 < nr; r0 += pr) {
        const int64_t npr = nr - r0 < pr ? nr - r0 : pr;
        for (int64_t tt = 0; tt < ntiles; tt++) {
            const int64_t t0 = tt * NT, ntt = nt - t0 < NT ? nt - t0 : NT;
            const uint32_t *at = (const uint32_t *)((const uint8_t *)a + (size_t)t0 * as);
            for (int64_t rr = 0; rr < npr; rr += MR) {
                const int64_t nrr = npr - rr < MR ? npr - rr : MR;
                const uint32_t *wr[MR];
                for (int r = 0; r < MR; r++) /* missing rows repeat the last one, not stored */
                    wr[r] = (const uint32_t *)((const uint8_t *)w + (size_t)(r0 + rr + (r < nrr ? r : nrr - 1)) * ws);
                __m512 acc[MR];
                for (int r = 0; r < MR; r++)
                    acc[r] = _mm512_setzero_ps();
                for (int64_t p = 0; p < np; p++) {
                    const __m512bh av = (__m512bh)_mm512_loadu_si512((const void *)(at + p * NT));
#pragma GCC unroll 8
                    for (int r = 0; r < MR; r++) {
                        uint32_t wv;
                        memcpy(&wv, wr[r] + p, 4);
                        acc[r] = _mm512_dpbf16_ps(acc[r], av, (__m512bh)_mm512_set1_epi32((int)wv));
                    }
                }
                /* token t of row r goes to y[(t0 + t) * ys + row]: scatter each row's 16 tokens */
                const __m512i yi = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3,
                                                                       2, 1, 0),
                                                      _mm512_set1_epi32((int)ys));
                const __mmask16 tm = (__mmask16)((1u << ntt) - 1);
                float *yt = y + t0 * ys + r0 + rr;
                for (int64_t r = 0; r < nrr; r++)
                    _mm512_mask_i32scatter_ps(yt + r, tm, yi, acc[r], 4);
            }
        }
    }
}

void g4k_fill_avx512_bf16(g4k_kernels *k)
{
    k->gemm_lowp[G4_TYPE_BF16] = gemm_bf16;
    k->lowp_pack[G4_TYPE_BF16] = pack_bf16;
}
