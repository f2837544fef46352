/* Prompt-attention tile kernels for x86 (g4k_attn_kt / g4k_attn_qk / g4k_attn_pv), included by
 * attn_tile_avx512.c (VW = 16) and attn_tile_avx2.c (VW = 8).
 *
 * Scores: keys go in vector lanes, query elements are broadcast. The key tile is stored k-major
 * (kt[d][nk], written once per tile by attn_kt) so a block of MR query rows × NV·VW keys is
 * MR·NV accumulators, NV loads and MR broadcasts per element of the head. The value tile stays
 * row-major (v[j][hd]): a block of MR output rows × NV·VW head elements accumulates p[r][j]
 * (broadcast) times v[j] over the keys. Each output is a sequential f32 sum over d (scores) or
 * over j (values), as in the scalar reference; only FMA rounding differs.
 *
 * The includer defines VW, vec, vzero(), vload(p), vbcast(p), vfma(a, b, c), vstore(p, v),
 * MR (rows per block), NV (vectors per block) and ATTN_FILL (the fill function's name). The
 * transpose uses 256-bit AVX (8×8 blocks) on both levels. */
#include <immintrin.h>

#include "quant.h"

#define AT_AI static inline __attribute__((always_inline))
#include "transpose_x86.h"
#define QK_DC 16 /* head elements per partial score sum (the chunk sums are then added) */

/* kt[d * ldk + j] = k[j * hd + d]; 8×8 blocks, scalar edges */
static void attn_kt_x86(const float *k, int64_t nk, int64_t hd, float *kt, int64_t ldk)
{
    const int64_t nk8 = nk & ~(int64_t)7, hd8 = hd & ~(int64_t)7;
    for (int64_t j0 = 0; j0 < nk8; j0 += 8)
        for (int64_t d0 = 0; d0 < hd8; d0 += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++)
                r[i] = _mm256_loadu_ps(k + (j0 + i) * hd + d0);
            g4k_transpose8_ps(r);
            for (int i = 0; i < 8; i++)
                _mm256_storeu_ps(kt + (d0 + i) * ldk + j0, r[i]);
        }
    for (int64_t j = 0; j < nk; j++)
        for (int64_t d = j < nk8 ? hd8 : 0; d < hd; d++)
            kt[d * ldk + j] = k[j * hd + d];
}

/* One block of MR_ (MR or 1, a constant after inlining) query rows × NV·VW keys. */
#define QK_BLOCK(NAME, MR_)                                                                        \
    static void NAME(const float *q, int64_t hd, const float *kt, int64_t nk, float *s, int64_t ss) \
    {                                                                                              \
        for (int64_t d0 = 0; d0 < hd; d0 += QK_DC) {                                               \
            const int64_t d1 = d0 + QK_DC < hd ? d0 + QK_DC : hd;                                  \
            vec acc[MR_][NV];                                                                      \
            _Pragma("GCC unroll 16") for (int r = 0; r < MR_; r++)                                 \
                _Pragma("GCC unroll 16") for (int c = 0; c < NV; c++) acc[r][c] = vzero();        \
            for (int64_t d = d0; d < d1; d++) {                                                    \
                vec kv[NV];                                                                        \
                _Pragma("GCC unroll 16") for (int c = 0; c < NV; c++) kv[c] = vload(kt + d * nk + c * VW); \
                _Pragma("GCC unroll 16") for (int r = 0; r < MR_; r++) {                           \
                    const vec b = vbcast(q + r * hd + d);                                          \
                    _Pragma("GCC unroll 16") for (int c = 0; c < NV; c++) acc[r][c] = vfma(b, kv[c], acc[r][c]); \
                }                                                                                  \
            }                                                                                      \
            if (d0 == 0) {                                                                         \
                _Pragma("GCC unroll 16") for (int r = 0; r < MR_; r++)                             \
                    _Pragma("GCC unroll 16") for (int c = 0; c < NV; c++) vstore(s + r * ss + c * VW, acc[r][c]); \
            } else {                                                                               \
                _Pragma("GCC unroll 16") for (int r = 0; r < MR_; r++)                             \
                    _Pragma("GCC unroll 16") for (int c = 0; c < NV; c++)                          \
                        vstore(s + r * ss + c * VW, vadd(vload(s + r * ss + c * VW), acc[r][c]));  \
            }                                                                                      \
        }                                                                                          \
    }
QK_BLOCK(qk_block_mr, MR)
QK_BLOCK(qk_block_1, 1)

/* s[r * ss + j] = q[r] . kt[:, j]; nk a multiple of NV·VW (the caller pads its key tile) */
static void attn_qk_x86(const float *q, int64_t nr, int64_t hd, const float *kt, int64_t nk, float *s, int64_t ss)
{
    for (int64_t j0 = 0; j0 < nk; j0 += NV * VW) {
        int64_t r0 = 0;
        for (; r0 + MR <= nr; r0 += MR)
            qk_block_mr(q + r0 * hd, hd, kt + j0, nk, s + r0 * ss + j0, ss);
        for (; r0 < nr; r0++)
            qk_block_1(q + r0 * hd, hd, kt + j0, nk, s + r0 * ss + j0, ss);
    }
}

/* o[r][d0 .. d0 + NV_·VW) += sum_j p[r][j] v[j][d0 ..] for MR_ rows (MR_, NV_ constants). */
#define PV_BLOCK(NAME, MR_, NV_)                                                                   \
    static void NAME(const float *p, int64_t ps, const float *v, int64_t hd, int64_t nk, float *o) \
    {                                                                                              \
        vec acc[MR_][NV_];                                                                         \
        _Pragma("GCC unroll 16") for (int r = 0; r < MR_; r++)                                     \
            _Pragma("GCC unroll 16") for (int c = 0; c < NV_; c++) acc[r][c] = vload(o + r * hd + c * VW); \
        for (int64_t j = 0; j < nk; j++) {                                                         \
            vec vv[NV_];                                                                           \
            _Pragma("GCC unroll 16") for (int c = 0; c < NV_; c++) vv[c] = vload(v + j * hd + c * VW); \
            _Pragma("GCC unroll 16") for (int r = 0; r < MR_; r++) {                               \
                const vec b = vbcast(p + r * ps + j);                                              \
                _Pragma("GCC unroll 16") for (int c = 0; c < NV_; c++) acc[r][c] = vfma(b, vv[c], acc[r][c]); \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 16") for (int r = 0; r < MR_; r++)                                     \
            _Pragma("GCC unroll 16") for (int c = 0; c < NV_; c++) vstore(o + r * hd + c * VW, acc[r][c]); \
    }
PV_BLOCK(pv_block_mr_nv, MR, NV)
PV_BLOCK(pv_block_mr_1, MR, 1)
PV_BLOCK(pv_block_1_nv, 1, NV)
PV_BLOCK(pv_block_1_1, 1, 1)

AT_AI void pv_rows(const float *p, int64_t ps, int mr, const float *v, int64_t hd, int64_t nk, float *o)
{
    int64_t d0 = 0;
    for (; d0 + NV * VW <= hd; d0 += NV * VW)
        (mr == MR ? pv_block_mr_nv : pv_block_1_nv)(p, ps, v + d0, hd, nk, o + d0);
    for (; d0 + VW <= hd; d0 += VW)
        (mr == MR ? pv_block_mr_1 : pv_block_1_1)(p, ps, v + d0, hd, nk, o + d0);
    for (; d0 < hd; d0++) /* head dims below one vector's multiple (tiny models only) */
        for (int r = 0; r < mr; r++) {
            float a = o[r * hd + d0];
            for (int64_t j = 0; j < nk; j++)
                a += p[r * ps + j] * v[j * hd + d0];
            o[r * hd + d0] = a;
        }
}

static void attn_pv_x86(const float *p, int64_t ps, int64_t nr, const float *v, int64_t hd, int64_t nk, float *o)
{
    int64_t r0 = 0;
    for (; r0 + MR <= nr; r0 += MR)
        pv_rows(p + r0 * ps, ps, MR, v, hd, nk, o + r0 * hd);
    for (; r0 < nr; r0++)
        pv_rows(p + r0 * ps, ps, 1, v, hd, nk, o + r0 * hd);
}

void ATTN_FILL(g4k_kernels *k)
{
    k->attn_kt = attn_kt_x86;
    k->attn_qk = attn_qk_x86;
    k->attn_pv = attn_pv_x86;
}
