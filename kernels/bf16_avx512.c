/* Prefill GEMM for BF16 weights, and attention scores against bf16 keys, with AVX512-BF16
 * (vdpbf16ps): 2 bf16 products per f32 lane, twice the f32-FMA rate. The only translation
 * unit allowed to emit BF16 instructions: it is installed by dispatch.c only when CPUID reports
 * AVX512_BF16 (the AVX-512 level itself needs only VNNI), and the other *_avx512.c files forbid
 * the BF16 ISA with a target pragma.
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
#include "transpose_x86.h"

#define MR 8
#define NT 16

/* In-register 16x16 transpose of 32-bit lanes: r[i] holds row i on entry, column i on return. */
static inline __attribute__((always_inline)) void transpose16_epi32(__m512i r[16])
{
    __m512i t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 4; g++) { /* r[4g + c]: rows 4g..4g+3 of column 4L + c in 128-bit lane L */
        r[4 * g + 0] = _mm512_unpacklo_epi64(t[4 * g + 0], t[4 * g + 2]);
        r[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g + 0], t[4 * g + 2]);
        r[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        r[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    for (int c = 0; c < 4; c++) {
        const __m512i a = _mm512_shuffle_i32x4(r[c], r[4 + c], 0x88), a2 = _mm512_shuffle_i32x4(r[c], r[4 + c], 0xdd);
        const __m512i b = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0x88),
                      b2 = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0xdd);
        t[c] = _mm512_shuffle_i32x4(a, b, 0x88);       /* column c */
        t[8 + c] = _mm512_shuffle_i32x4(a, b, 0xdd);   /* column 8 + c */
        t[4 + c] = _mm512_shuffle_i32x4(a2, b2, 0x88); /* column 4 + c */
        t[12 + c] = _mm512_shuffle_i32x4(a2, b2, 0xdd);
    }
    for (int i = 0; i < 16; i++)
        r[i] = t[i];
}

/* Rows of x to lanes_bf16's layout, outputs [16 g0, 16 g1): per 16 rows and 16 pairs, 16 rows
 * converted (vcvtne2ps2bf16), one 16x16 transpose, the pairs' stores. The keys of the attention
 * (rows ldx apart), and gemm_bf16's activation tiles (pack_bf16: a group is a 16-token tile). */
static void lanes_rows_bf16(const float *x, int64_t ldx, int64_t len, int64_t n_out, int64_t g0, int64_t g1,
                            uint32_t *dst)
{
    const int64_t np = (len + 1) / 2;
    for (int64_t g = g0; g < g1; g++) {
        uint32_t *tile = dst + (size_t)g * np * 16;
        for (int64_t p0 = 0; p0 < np; p0 += 16) {
            const int64_t npp = np - p0 < 16 ? np - p0 : 16, ne = len - 2 * p0 < 32 ? len - 2 * p0 : 32;
            const __mmask16 lo = (__mmask16)(ne >= 16 ? 0xffff : (1u << ne) - 1);
            const __mmask16 hi = (__mmask16)(ne <= 16 ? 0 : (1u << (ne - 16)) - 1); /* an odd len's last half: 0 */
            __m512i r[16];
            for (int t = 0; t < 16; t++) {
                const int64_t row = 16 * g + t;
                if (row >= n_out) { /* padding outputs: zero, computed and never stored */
                    r[t] = _mm512_setzero_si512();
                    continue;
                }
                const float *xr = x + row * ldx + 2 * p0;
                r[t] = (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, xr + 16), _mm512_maskz_loadu_ps(lo, xr));
            }
            transpose16_epi32(r);
            for (int64_t c = 0; c < npp; c++)
                _mm512_storeu_si512(tile + (p0 + c) * 16, r[c]);
        }
    }
}

/* lowp_pack: n_tok rows of n (even) floats -> 16-token tiles of bf16 pairs (quant.h): the
 * same layout as lanes_bf16's w (tile i at 16 * i * stride bytes, stride = 2n: np * 16 words). */
static void pack_bf16(const float *x, int64_t n, int64_t n_tok, void *dst, size_t stride)
{
    (void)stride;
    lanes_rows_bf16(x, n, n, n_tok, 0, (n_tok + NT - 1) / NT, dst);
}

/* One 16-token tile's accumulators (MR rows, nrr of them real; ntt real tokens) into y at yt:
 * token t's 8 rows are contiguous in y, two 8x8 transposes and one ymm store per token; a
 * partial row group scatters each row's tokens. */
static inline __attribute__((always_inline)) void store_tile(const __m512 acc[MR], float *yt, int64_t ys,
                                                             int64_t nrr, int64_t ntt)
{
    if (nrr == MR) {
        for (int h = 0; h < 2; h++) {
            __m256 c[8];
            for (int r = 0; r < MR; r++)
                c[r] = h ? _mm512_extractf32x8_ps(acc[r], 1) : _mm512_castps512_ps256(acc[r]);
            g4k_transpose8_ps(c);
            for (int t = 0; t < 8 && 8 * h + t < ntt; t++)
                _mm256_storeu_ps(yt + (8 * h + t) * ys, c[t]);
        }
        return;
    }
    const __m512i yi = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                          _mm512_set1_epi32((int)ys));
    const __mmask16 tm = (__mmask16)((1u << ntt) - 1);
    for (int64_t r = 0; r < nrr; r++)
        _mm512_mask_i32scatter_ps(yt + r, tm, yi, acc[r], 4);
}

/* MR rows x NTL (1 or 2) token tiles over all np pairs. Two tiles give 16 independent
 * accumulators and load each broadcast weight pair once for 32 tokens: with one tile the 8
 * accumulator chains bound the rate on a core that issues two vdpbf16ps per cycle (Zen 5,
 * 768x768x512: ~230 GFLOP/s, below its f32 FMA GEMM's ~200 x 2). */
static inline __attribute__((always_inline)) void micro_bf16(int64_t np, const uint32_t *const wr[MR],
                                                             const uint32_t *at, size_t tile_u32, const int NTL,
                                                             __m512 acc0[MR], __m512 acc1[MR])
{
    for (int r = 0; r < MR; r++)
        acc0[r] = acc1[r] = _mm512_setzero_ps();
    for (int64_t p = 0; p < np; p++) {
        const __m512bh a0 = (__m512bh)_mm512_loadu_si512((const void *)(at + p * NT));
        const __m512bh a1 = NTL > 1 ? (__m512bh)_mm512_loadu_si512((const void *)(at + tile_u32 + p * NT)) : a0;
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) {
            uint32_t wv;
            memcpy(&wv, wr[r] + p, 4);
            const __m512bh b = (__m512bh)_mm512_set1_epi32((int)wv);
            acc0[r] = _mm512_dpbf16_ps(acc0[r], a0, b);
            if (NTL > 1)
                acc1[r] = _mm512_dpbf16_ps(acc1[r], a1, b);
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
    const size_t tile_u32 = (size_t)NT * as / sizeof(uint32_t); /* one tile of 16 tokens, in words */
    for (int64_t r0 = 0; r0 < nr; r0 += pr) {
        const int64_t npr = nr - r0 < pr ? nr - r0 : pr;
        for (int64_t tt = 0; tt < ntiles; tt += 2) {
            const int64_t t0 = tt * NT, ntt = nt - t0 < NT ? nt - t0 : NT;
            const int two = tt + 1 < ntiles;
            const int64_t ntt1 = two ? (nt - t0 - NT < NT ? nt - t0 - NT : NT) : 0;
            const uint32_t *at = (const uint32_t *)((const uint8_t *)a + (size_t)t0 * as);
            for (int64_t rr = 0; rr < npr; rr += MR) {
                const int64_t nrr = npr - rr < MR ? npr - rr : MR;
                const uint32_t *wr[MR];
                for (int r = 0; r < MR; r++) /* missing rows repeat the last one, not stored */
                    wr[r] = (const uint32_t *)((const uint8_t *)w + (size_t)(r0 + rr + (r < nrr ? r : nrr - 1)) * ws);
                __m512 acc0[MR], acc1[MR];
                float *yt = y + t0 * ys + r0 + rr;
                if (two) {
                    micro_bf16(np, wr, at, tile_u32, 2, acc0, acc1);
                    store_tile(acc0, yt, ys, nrr, ntt);
                    store_tile(acc1, yt + NT * ys, ys, nrr, ntt1);
                } else {
                    micro_bf16(np, wr, at, tile_u32, 1, acc0, acc1);
                    store_tile(acc0, yt, ys, nrr, ntt);
                }
            }
        }
    }
}

/* ---- Attention products with the outputs in lanes (g4k_scores_bf16, g4k_pv_bf16) -------------
 * Through gemm_bf16 the scores q k^T are a GEMM with a short inner dimension (a head: 32 pairs),
 * so its transposes and scattered stores cost as much as its dot products (E2B tower, 1 thread:
 * 184 GFLOP/s against 331-463 for the linear layers; 42% of perf samples in store_tile); and
 * p v needed each block of probabilities re-tiled by pack_bf16 for only hd (64) weight rows
 * (q8 tower, 1 thread: gemm_bf16 8.4% + pack_bf16 4.6% of the samples, p v alone). Here each
 * lane is an output (a key's score, a value column) and each input row's bf16 pair is a
 * broadcast: a tile of SQ rows x SG output groups accumulates in 16 registers and is stored as
 * it lies, 16 consecutive outputs of a row per vector. test_kernels --bench-attn, 2520 keys x
 * 64, 1 thread, this Zen 5, GFLOP/s: q k^T 330-363 for 32-256 queries against 190-202 through
 * gemm_bf16; p v 308-311 against 253-262 (with the probabilities' pack_bf16). */
#define SQ 8 /* input rows per tile */
#define SG 2 /* groups of 16 outputs per tile (8 x 4 or x 3 spilled or issued worse: 70-280 GFLOP/s) */

static inline __attribute__((always_inline)) void lanes_tile(int64_t np, const uint32_t *wg, const uint32_t *x,
                                                             float *y, int64_t ys, const int nx, const int ng,
                                                             __mmask16 last)
{
    __m512 acc[SQ][SG];
    for (int t = 0; t < nx; t++)
        for (int g = 0; g < ng; g++)
            acc[t][g] = _mm512_setzero_ps();
    for (int64_t p = 0; p < np; p++) {
        __m512bh w[SG];
        for (int g = 0; g < ng; g++)
            w[g] = (__m512bh)_mm512_loadu_si512((const void *)(wg + ((size_t)g * np + p) * 16));
#pragma GCC unroll 8
        for (int t = 0; t < nx; t++) {
            const __m512bh b = (__m512bh)_mm512_set1_epi32((int)x[t * np + p]);
            for (int g = 0; g < ng; g++)
                acc[t][g] = _mm512_dpbf16_ps(acc[t][g], w[g], b);
        }
    }
    for (int t = 0; t < nx; t++)
        for (int g = 0; g < ng; g++) /* only the last group of the outputs can be partial */
            _mm512_mask_storeu_ps(y + t * ys + g * 16, g == ng - 1 ? last : (__mmask16)0xffff, acc[t][g]);
}

/* Output groups [g0, g1) of rows x[0, nx), SQ rows at a time: their bf16 pairs converted once
 * into this thread's scratch (vcvtne2ps2bf16, RNE as g4k_f32_to_bf16; an odd length's last pair
 * gets a zero), then every group pair of the range (2 x 2 KB per group at 32 pairs, streaming
 * from L2). Groups-outer measured no faster. */
static void lanes_bf16(const uint32_t *wp, int64_t len, int64_t n_out, int64_t g0, int64_t g1, const float *x,
                       int64_t ldx, int64_t nx, float *y, int64_t ys)
{
    const int64_t np = (len + 1) / 2;
    uint32_t *xt = g4k_scratch(G4K_SCRATCH_GEMM_A, sizeof(uint32_t) * (size_t)(SQ * np));
    if (!xt) /* recorded for g4k_take_alloc_failure */
        return;
    for (int64_t t0 = 0; t0 < nx; t0 += SQ) {
        const int nt = nx - t0 < SQ ? (int)(nx - t0) : SQ;
        for (int t = 0; t < nt; t++)
            for (int64_t e = 0; e < len; e += 32) {
                const int64_t n = len - e < 32 ? len - e : 32; /* elements in this vector */
                const __mmask16 lo = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);
                const __mmask16 hi = (__mmask16)(n <= 16 ? 0 : (1u << (n - 16)) - 1);
                const float *xr = x + (t0 + t) * ldx + e;
                const __m512i v = (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, xr + 16), _mm512_maskz_loadu_ps(lo, xr));
                _mm512_mask_storeu_epi32(xt + t * np + e / 2, (__mmask16)((1u << ((n + 1) / 2)) - 1), v);
            }
        for (int64_t g = g0; g < g1; g += SG) {
            const int ng = g1 - g < SG ? (int)(g1 - g) : SG;
            const int64_t end = (g + ng) * 16; /* outputs past n_out (the zero padding) are not stored */
            const __mmask16 last = end > n_out ? (__mmask16)((1u << (16 - (end - n_out))) - 1) : (__mmask16)0xffff;
            const uint32_t *wg = wp + (size_t)g * np * 16;
            float *yt = y + t0 * ys + g * 16;
            int t = 0;
            if (nt == SQ) {
                if (ng == SG)
                    lanes_tile(np, wg, xt, yt, ys, SQ, SG, last);
                else
                    lanes_tile(np, wg, xt, yt, ys, SQ, 1, last);
                continue;
            }
            if (nt >= 4) { /* the last rows: 4, then 1 at a time (constant shapes: no spills) */
                if (ng == SG)
                    lanes_tile(np, wg, xt, yt, ys, 4, SG, last);
                else
                    lanes_tile(np, wg, xt, yt, ys, 4, 1, last);
                t = 4;
            }
            for (; t < nt; t++) {
                if (ng == SG)
                    lanes_tile(np, wg, xt + t * np, yt + t * ys, ys, 1, SG, last);
                else
                    lanes_tile(np, wg, xt + t * np, yt + t * ys, ys, 1, 1, last);
            }
        }
    }
}

/* Columns of x to lanes_bf16's layout (the values: x's rows are the len inputs), input pairs
 * [p0, p1): per pair of rows and 16 columns, both converted in one vcvtne2ps2bf16 and
 * interleaved into (row 2p, row 2p + 1) lanes by one permute. Columns past n_out and an odd
 * len's missing row are zero. */
static void lanes_cols_bf16(const float *x, int64_t ldx, int64_t len, int64_t n_out, int64_t p0, int64_t p1,
                            uint32_t *dst)
{
    const int64_t np = (len + 1) / 2, ng = (n_out + 15) / 16;
    const __m512i mix = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                         21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (int64_t p = p0; p < p1; p++) {
        const float *a = x + 2 * p * ldx, *b = a + ldx;
        const int has_b = 2 * p + 1 < len;
        for (int64_t g = 0; g < ng; g++) {
            const int64_t nc = n_out - 16 * g < 16 ? n_out - 16 * g : 16;
            const __mmask16 m = (__mmask16)((1u << nc) - 1);
            const __m512 va = _mm512_maskz_loadu_ps(m, a + 16 * g);
            const __m512 vb = has_b ? _mm512_maskz_loadu_ps(m, b + 16 * g) : _mm512_setzero_ps();
            const __m512i w = _mm512_permutexvar_epi16(mix, (__m512i)_mm512_cvtne2ps_pbh(vb, va));
            _mm512_storeu_si512(dst + ((size_t)g * np + p) * 16, w);
        }
    }
}

void g4k_fill_avx512_bf16(g4k_kernels *k)
{
    k->gemm_lowp[G4_TYPE_BF16] = gemm_bf16;
    k->lowp_pack[G4_TYPE_BF16] = pack_bf16;
    k->lanes_bf16 = lanes_bf16;
    k->lanes_rows_bf16 = lanes_rows_bf16;
    k->lanes_cols_bf16 = lanes_cols_bf16;
}
