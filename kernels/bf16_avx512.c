/* Prefill GEMM for BF16 weights with AVX512-BF16 (vdpbf16ps): 2 bf16 products per f32 lane,
 * twice the f32-FMA rate. The only translation unit allowed to emit BF16 instructions: it is
 * installed by dispatch.c only when CPUID reports AVX512_BF16 (the AVX-512 level itself needs
 * only VNNI), and the other *_avx512.c files forbid the BF16 ISA with a target pragma.
 *
 * Like llama.cpp's BF16 path, activations are rounded to bf16 (RNE) here, so prefill results
 * carry an extra relative error of at most 2^-9 per product (decode keeps f32 activations).
 * No weight copy: rows are read in place; each 16-token tile converts its activations once
 * into pairs interleaved by token (zmm lane t = tokens t's (x[2k], x[2k+1])), and the
 * micro-kernel runs 8 rows × 16 tokens with the weight pair as an embedded broadcast. */
#include <immintrin.h>

#include "quant.h"
#include "topology.h"

#define MR 8
#define NT 16

static void act_tile_bf16(int64_t n, const float *a, size_t as, int64_t ntt, uint32_t *dst)
{
    float tmp[NT][32];
    for (int64_t k0 = 0; k0 < n; k0 += 32) {
        const int64_t kn = n - k0 < 32 ? n - k0 : 32;
        for (int t = 0; t < NT; t++) {
            const float *at = (const float *)((const uint8_t *)a + (size_t)t * as);
            for (int64_t k = 0; k < 32; k++)
                tmp[t][k] = t < ntt && k < kn ? at[k0 + k] : 0.f;
        }
        for (int t = 0; t < NT; t++) {
            const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(tmp[t] + 16), _mm512_loadu_ps(tmp[t]));
            uint32_t pairs[16];
            _mm512_storeu_si512(pairs, (__m512i)v);
            for (int p = 0; p < 16 && 2 * p < kn; p++)
                dst[(size_t)(k0 / 2 + p) * NT + t] = pairs[p];
        }
    }
}

static void gemm_bf16(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt, float *y,
                      int64_t ys)
{
    const int64_t np = n / 2, ntiles = (nt + NT - 1) / NT;
    const size_t atile = (size_t)((n + 1) / 2) * NT * 4;
    uint32_t *ap = g4k_scratch(G4K_SCRATCH_GEMM_A, atile * (size_t)ntiles);
    if (!ap)
        return;
    for (int64_t tt = 0; tt < ntiles; tt++) {
        const int64_t t0 = tt * NT, ntt = nt - t0 < NT ? nt - t0 : NT;
        act_tile_bf16(n, (const float *)((const uint8_t *)a + (size_t)t0 * as), as, ntt, ap + tt * (atile / 4));
    }
    /* row panels of half of L2 so the weights stay in L2 across token tiles */
    const int64_t l2 = g4k_topology_cache_bytes(2);
    const size_t half = l2 < (512 << 10) ? (256u << 10) : l2 > (4 << 20) ? (2u << 20) : (size_t)l2 / 2;
    int64_t pr = (int64_t)(half / ((size_t)n * 2 + 1)) / MR * MR;
    pr = pr < MR ? MR : pr;
    for (int64_t r0 = 0; r0 < nr; r0 += pr) {
        const int64_t npr = nr - r0 < pr ? nr - r0 : pr;
        for (int64_t tt = 0; tt < ntiles; tt++) {
            const int64_t t0 = tt * NT, ntt = nt - t0 < NT ? nt - t0 : NT;
            const uint32_t *at = ap + tt * (atile / 4);
            for (int64_t rr = 0; rr < npr; rr += MR) {
                const int64_t nrr = npr - rr < MR ? npr - rr : MR;
                const uint32_t *wr[MR];
                for (int r = 0; r < MR; r++) /* missing rows repeat the last one, not stored */
                    wr[r] = (const uint32_t *)((const uint8_t *)w + (size_t)(r0 + rr + (r < nrr ? r : nrr - 1)) * ws);
                __m512 acc[MR];
                for (int r = 0; r < MR; r++)
                    acc[r] = _mm512_setzero_ps();
                for (int64_t p = 0; p < np; p++) {
                    const __m512bh av = (__m512bh)_mm512_load_si512((const void *)(at + p * NT));
#pragma GCC unroll 8
                    for (int r = 0; r < MR; r++) {
                        uint32_t wv;
                        memcpy(&wv, wr[r] + p, 4);
                        acc[r] = _mm512_dpbf16_ps(acc[r], av, (__m512bh)_mm512_set1_epi32((int)wv));
                    }
                }
                float out[NT];
                for (int64_t r = 0; r < nrr; r++) {
                    _mm512_storeu_ps(out, acc[r]);
                    const uint16_t *row = (const uint16_t *)wr[r];
                    if (n & 1) /* odd n: the last column in f32 */
                        for (int64_t t = 0; t < ntt; t++)
                            out[t] += g4k_bf16_to_f32(row[n - 1]) *
                                      ((const float *)((const uint8_t *)a + (size_t)(t0 + t) * as))[n - 1];
                    for (int64_t t = 0; t < ntt; t++)
                        y[(t0 + t) * ys + r0 + rr + r] = out[t];
                }
            }
        }
    }
}

void g4k_fill_avx512_bf16(g4k_kernels *k) { k->gemm_lowp[G4_TYPE_BF16] = gemm_bf16; }
