/* Prefill GEMM for float weights (F32, F16, BF16) × f32 activations, exact f32 products with
 * FMA: the path of the vision tower, the audio conformer and the 12B-Unified patch embedder
 * (their matrices are F16/BF16/F32 in published mmprojs) and of the towers' attention (K and
 * V^T as F32 "weights"). Included by gemm_flt_avx512.c (VW = 16) and gemm_flt_avx2.c (VW = 8).
 *
 * Rows go in vector lanes, tokens are broadcast: each call converts a panel of weight rows
 * (half of L2) once into f32 groups of rg = rv·VW rows stored k-major (group[k][rg]), so the
 * micro-kernel loads rg weights of one column with rv aligned loads and FMAs them against tb
 * broadcast activations (tb tokens × rv vectors of accumulators). The activations are read in
 * place (no copy) and each output row group is rv contiguous stores per token. Results are
 * sequential f32 sums over k like the scalar reference (only FMA rounding differs), whatever
 * the tile's shape.
 *
 * The includer defines: VW; RV and TB, the attention panels' tile (flt_pack / flt_panel_mm,
 * whose token block attn_f32.c's query tiles follow); GRV and GTB, the weight GEMM's tile; vec,
 * vzero(), vload(p), vbcast(p), vfma(a, b, c), vstore(p, v), vstoreu(p, v), and GEMM_FLT_FILL
 * (the fill function's name); packing uses 256-bit AVX2 + F16C on both levels. */
#include <immintrin.h>
#include <string.h>

#include "quant.h"
#include "topology.h"

#define GF_AI static inline __attribute__((always_inline))
#include "transpose_x86.h"
#define RG (RV * VW)   /* rows per panel group (attention) */
#define GRG (GRV * VW) /* rows per weight group */
#if TB > 12 || GTB > 12 || RV > 3 || GRV > 3
#error "tiles up to 12 tokens x 3 vectors"
#endif

/* One group: rows [0, nrow) of w (stride ws, element size es) into dst[k * RG + r] as f32;
 * missing rows are zero. 8 rows × 8 columns at a time: 8 loads (converted by ld8), one 8×8
 * transpose in ymm registers, 8 contiguous stores (the column-strided scalar stores this
 * replaces cost as much as the micro-kernel at 16 tokens). */
typedef __m256 (*gf_ld8_fn)(const uint8_t *p);

#define PF_ROWS 16 /* rows ahead that pack_group prefetches (two 8-row passes) */
GF_AI void pack_group(int64_t n, const uint8_t *w, size_t ws, int64_t nrow, int es, gf_ld8_fn ld8,
                      float (*ld1)(const uint8_t *), int64_t nrow_next, const int rg, float *dst)
{
    const int64_t n8 = n & ~(int64_t)7;
    for (int64_t r0 = 0; r0 < rg; r0 += 8) {
        const uint8_t *rows[8];
        int valid[8];
        for (int i = 0; i < 8; i++) {
            valid[i] = r0 + i < nrow;
            rows[i] = w + (size_t)(valid[i] ? r0 + i : 0) * ws;
        }
        /* The 8 rows PF_ROWS ahead (this group's, or the first nrow_next of the next group,
         * which follow in memory) are prefetched while these are converted: eight rows read
         * 16 bytes at a time are eight short streams the hardware prefetchers follow poorly,
         * and each weight comes from memory once per call. */
        const int64_t lim = nrow < rg ? nrow : rg + (nrow_next > 0 ? nrow_next : 0);
        const int64_t pn = lim - (r0 + PF_ROWS);
        const int npf = pn < 8 ? (pn > 0 ? (int)pn : 0) : 8;
        const uint8_t *pf = npf ? w + (size_t)(r0 + PF_ROWS) * ws : w;
        const int full = r0 + 8 <= nrow;
        for (int64_t k = 0; k < n8; k += 8) {
            if (((size_t)k * es & 63) == 0)
                for (int i = 0; i < npf; i++)
                    _mm_prefetch((const char *)pf + (size_t)i * ws + (size_t)k * es, _MM_HINT_T0);
            __m256 v[8];
            if (full) {
#pragma GCC unroll 8
                for (int i = 0; i < 8; i++)
                    v[i] = ld8(rows[i] + (size_t)k * es);
            } else {
#pragma GCC unroll 8
                for (int i = 0; i < 8; i++)
                    v[i] = valid[i] ? ld8(rows[i] + (size_t)k * es) : _mm256_setzero_ps();
            }
            g4k_transpose8_ps(v);
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                _mm256_storeu_ps(dst + (k + i) * rg + r0, v[i]);
        }
        for (int64_t k = n8; k < n; k++)
            for (int i = 0; i < 8; i++)
                dst[k * rg + r0 + i] = valid[i] ? ld1(rows[i] + (size_t)k * es) : 0.f;
    }
}

/* TN tokens × rv·VW rows over k = 0..n-1 of the panel, from zero or (more: a later k block)
 * from y's values: the FMA chain goes on where the previous block stopped, the same values as
 * one block. */
GF_AI void micro(int64_t n, const float *wp, const float *x, size_t xs, const int TN, const int rv, float *y,
                 int64_t ys, int64_t nrow, int more)
{
    const int rg = rv * VW;
    vec acc[12][3];
    _Alignas(64) float tmp[3 * VW] = {0}; /* vstore is an aligned store */
#pragma GCC unroll 16
    for (int t = 0; t < TN; t++) {
        if (more && nrow < rg)
            memcpy(tmp, y + t * ys, sizeof(float) * (size_t)nrow);
#pragma GCC unroll 16
        for (int v = 0; v < rv; v++)
            acc[t][v] = !more ? vzero() : nrow == rg ? vloadu(y + t * ys + v * VW) : vload(tmp + v * VW);
    }
    for (int64_t k = 0; k < n; k++) {
        vec wv[3];
#pragma GCC unroll 16
        for (int v = 0; v < rv; v++)
            wv[v] = vload(wp + k * rg + v * VW);
#pragma GCC unroll 16
        for (int t = 0; t < TN; t++) {
            const vec b = vbcast(x + (size_t)t * xs + k);
#pragma GCC unroll 16
            for (int v = 0; v < rv; v++)
                acc[t][v] = vfma(wv[v], b, acc[t][v]);
        }
    }
    if (nrow == rg) {
#pragma GCC unroll 16
        for (int t = 0; t < TN; t++)
#pragma GCC unroll 16
            for (int v = 0; v < rv; v++)
                vstoreu(y + t * ys + v * VW, acc[t][v]);
    } else {
#pragma GCC unroll 16
        for (int t = 0; t < TN; t++) {
#pragma GCC unroll 16
            for (int v = 0; v < rv; v++)
                vstore(tmp + v * VW, acc[t][v]);
            memcpy(y + t * ys, tmp, sizeof(float) * (size_t)nrow);
        }
    }
}

/* tn (1..tb) tokens: one specialised micro-kernel per count (the cases past tb fold away). */
#define GF_CASE(N, RVX, TBX)                                                                       \
    case N:                                                                                        \
        if ((N) < (TBX)) {                                                                         \
            micro(n, wp, x, xs, N, RVX, y, ys, nrow, more);                                        \
            return;                                                                                \
        }                                                                                          \
        break;
#define GF_MICRO_ANY(NAME, RVX, TBX)                                                               \
    static void NAME(int64_t n, const float *wp, const float *x, size_t xs, int tn, float *y,      \
                     int64_t ys, int64_t nrow, int more)                                           \
    {                                                                                              \
        switch (tn) {                                                                              \
            GF_CASE(1, RVX, TBX) GF_CASE(2, RVX, TBX) GF_CASE(3, RVX, TBX) GF_CASE(4, RVX, TBX)    \
            GF_CASE(5, RVX, TBX) GF_CASE(6, RVX, TBX) GF_CASE(7, RVX, TBX) GF_CASE(8, RVX, TBX)    \
            GF_CASE(9, RVX, TBX) GF_CASE(10, RVX, TBX) GF_CASE(11, RVX, TBX)                       \
        default: break;                                                                            \
        }                                                                                          \
        micro(n, wp, x, xs, TBX, RVX, y, ys, nrow, more);                                          \
    }
GF_MICRO_ANY(micro_panel, RV, TB)
GF_MICRO_ANY(micro_w1, 1, GTB)
#if GRV > 1
GF_MICRO_ANY(micro_w2, 2, GTB)
#endif
#if GRV > 2
GF_MICRO_ANY(micro_w3, 3, GTB)
#endif
#undef GF_MICRO_ANY
#undef GF_CASE

/* A call's last rows (nr % GRG, a matrix's last chunk) go in a group of fewer vectors, not a
 * padded full one: 1024 rows end in 16, which would otherwise cost a whole 48-row group. */
static int gf_group_rv(int64_t nrow) { return nrow >= GRG ? GRV : (int)((nrow + VW - 1) / VW); }

static void micro_weights(int rv, int64_t n, const float *wp, const float *x, size_t xs, int tn, float *y,
                          int64_t ys, int64_t nrow, int more)
{
#if GRV > 2
    if (rv == 3) {
        micro_w3(n, wp, x, xs, tn, y, ys, nrow, more);
        return;
    }
#endif
#if GRV > 1
    if (rv == 2) {
        micro_w2(n, wp, x, xs, tn, y, ys, nrow, more);
        return;
    }
#endif
    micro_w1(n, wp, x, xs, tn, y, ys, nrow, more);
}

GF_AI void gemm_flt(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt,
                    float *y, int64_t ys, int es, gf_ld8_fn ld, float (*ld1)(const uint8_t *))
{
    /* k blocks: a row group's share fits half of L2, since every token tile re-reads the group
     * (the 12B-Unified patch embedder's 6912 columns: 1.3 MB per 48-row group, 80-90 GFLOP/s
     * from L3 against 131-137 in two blocks); then panels: as many row groups as fit there */
    const size_t half = (size_t)g4k_topology_l2_half();
    const int64_t nkb = (int64_t)((size_t)n * GRG * sizeof(float) / (half ? half : 1)) + 1;
    const int64_t kc = ((n + nkb - 1) / nkb + 7) & ~(int64_t)7;
    const size_t gbytes = (size_t)kc * GRG * sizeof(float);
    int64_t gp = (int64_t)(half / gbytes);
    gp = gp < 1 ? 1 : gp;
    const int64_t ngroups = (nr + GRG - 1) / GRG;
    gp = gp > ngroups ? ngroups : gp;
    float *panel = g4k_scratch(G4K_SCRATCH_GEMM_W, gbytes * (size_t)gp);
    if (!panel)
        return;
    const float *x = a;
    const size_t xs = as / sizeof(float);
    for (int64_t g0 = 0; g0 < ngroups; g0 += gp) {
        const int64_t ng = ngroups - g0 < gp ? ngroups - g0 : gp;
        for (int64_t k0 = 0; k0 < n; k0 += kc) {
            const int64_t kn = n - k0 < kc ? n - k0 : kc;
            for (int64_t g = 0; g < ng; g++) {
                const int64_t r0 = (g0 + g) * GRG, nrow = nr - r0 < GRG ? nr - r0 : GRG;
                const int64_t nrow_next = nr - (r0 + GRG) < GRG ? nr - (r0 + GRG) : GRG; /* < 1: none */
                pack_group(kn, (const uint8_t *)w + (size_t)r0 * ws + (size_t)k0 * es, ws, nrow, es, ld, ld1,
                           nrow_next, gf_group_rv(nrow) * VW, panel + (size_t)g * kn * GRG);
            }
            for (int64_t t0 = 0; t0 < nt; t0 += GTB) {
                const int tn = (int)(nt - t0 < GTB ? nt - t0 : GTB);
                for (int64_t g = 0; g < ng; g++) {
                    const int64_t r0 = (g0 + g) * GRG, nrow = nr - r0 < GRG ? nr - r0 : GRG;
                    micro_weights(gf_group_rv(nrow), kn, panel + (size_t)g * kn * GRG, x + (size_t)t0 * xs + k0,
                                  xs, tn, y + t0 * ys + r0, ys, nrow, k0 > 0);
                }
            }
        }
    }
}

static float gf_ld1_f32(const uint8_t *p)
{
    float f;
    memcpy(&f, p, 4);
    return f;
}
static float gf_ld1_f16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return g4k_f16_to_f32(h);
}
static float gf_ld1_bf16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return g4k_bf16_to_f32(h);
}
static __m256 gf_ld8_f32(const uint8_t *p) { return _mm256_loadu_ps((const float *)p); }
static __m256 gf_ld8_f16(const uint8_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
static __m256 gf_ld8_bf16(const uint8_t *p)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

static void gemm_f32w(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt,
                      float *y, int64_t ys)
{
    gemm_flt(n, w, ws, nr, a, as, nt, y, ys, 4, gf_ld8_f32, gf_ld1_f32);
}
static void gemm_f16w(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt,
                      float *y, int64_t ys)
{
    gemm_flt(n, w, ws, nr, a, as, nt, y, ys, 2, gf_ld8_f16, gf_ld1_f16);
}
static void gemm_bf16w(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt,
                       float *y, int64_t ys)
{
    gemm_flt(n, w, ws, nr, a, as, nt, y, ys, 2, gf_ld8_bf16, gf_ld1_bf16);
}

/* Pre-packed panels (quant.h's flt_pack / flt_panel_mm; attn_f32.c). */
static void flt_pack(const float *w, int64_t ldw, int64_t n, int64_t nr, int64_t g0, int64_t g1, float *dst)
{
    for (int64_t g = g0; g < g1; g++) {
        const int64_t r0 = g * RG, nrow = nr - r0 < RG ? nr - r0 : RG;
        const int64_t nrow_next = g + 1 < g1 ? (nr - (r0 + RG) < RG ? nr - (r0 + RG) : RG) : 0;
        pack_group(n, (const uint8_t *)(w + r0 * ldw), sizeof(float) * (size_t)ldw, nrow, 4, gf_ld8_f32, gf_ld1_f32,
                   nrow_next, RG, dst + g * n * RG);
    }
}

/* Group by group, all tokens against each: a group of keys (hd x RG floats) stays in L1 for the
 * whole query tile; a group of value columns (n_keys x RG) in L2 while the tile's score rows
 * stream past it. */
static void flt_panel_mm(const float *panel, int64_t n, int64_t nr, const float *x, int64_t xs, int64_t nt, float *y,
                         int64_t ys)
{
    for (int64_t r0 = 0; r0 < nr; r0 += RG) {
        const int64_t nrow = nr - r0 < RG ? nr - r0 : RG;
        for (int64_t t0 = 0; t0 < nt; t0 += TB) {
            const int tn = (int)(nt - t0 < TB ? nt - t0 : TB);
            micro_panel(n, panel + r0 * n, x + t0 * xs, (size_t)xs, tn, y + t0 * ys + r0, ys, nrow, 0);
        }
    }
}

void GEMM_FLT_FILL(g4k_kernels *k)
{
    k->gemm[G4_TYPE_F32] = gemm_f32w;
    k->gemm[G4_TYPE_F16] = gemm_f16w;
    k->gemm[G4_TYPE_BF16] = gemm_bf16w;
    k->gemm_rows[G4_TYPE_F32] = k->gemm_rows[G4_TYPE_F16] = k->gemm_rows[G4_TYPE_BF16] = GRG;
    _Static_assert(G4K_FLT_RG_MAX % RG == 0, "flt_rg must divide G4K_FLT_RG_MAX");
    k->flt_rg = RG;
    k->flt_pack = flt_pack;
    k->flt_panel_mm = flt_panel_mm;
}
