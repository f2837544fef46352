/* Prefill GEMM for float weights (F32, F16, BF16) × f32 activations, exact f32 products with
 * FMA: the path of the vision tower, the audio conformer and the 12B-Unified patch embedder
 * (their matrices are F16/BF16/F32 in published mmprojs) and of the towers' attention (K and
 * V^T as F32 "weights"). Included by gemm_flt_avx512.c (VW = 16) and gemm_flt_avx2.c (VW = 8).
 *
 * Rows go in vector lanes, tokens are broadcast: each call converts a panel of weight rows
 * (half of L2) once into f32 groups of RG = 2·VW rows stored k-major (group[k][RG]), so the
 * micro-kernel loads RG weights of one column with two aligned loads and FMAs them against TB
 * broadcast activations (TB tokens × 2 vectors of accumulators). The activations are read in
 * place (no copy) and each output row group is two contiguous stores per token. Results are
 * sequential f32 sums over k like the scalar reference (only FMA rounding differs).
 *
 * The includer defines: VW, TB, vec, vzero(), vload(p), vbcast(p), vfma(a, b, c), vstore(p, v),
 * cvt_f16_chunk / cvt_bf16_chunk (VW values to f32 in a vec), and GEMM_FLT_FILL (the fill
 * function's name). */
#include <string.h>

#include "quant.h"
#include "topology.h"

#define GF_AI static inline __attribute__((always_inline))
#define RG (2 * VW) /* rows per group */

/* One group: rows [0, nrow) of w (stride ws, element size es, converted by cvt) into
 * dst[k * RG + r]; missing rows are zero. */
typedef vec (*gf_ld_fn)(const uint8_t *p);

GF_AI void pack_group(int64_t n, const uint8_t *w, size_t ws, int64_t nrow, int es, gf_ld_fn ld,
                      float (*ld1)(const uint8_t *), float *dst)
{
    for (int64_t r = 0; r < RG; r++) {
        float *d = dst + r;
        if (r >= nrow) {
            for (int64_t k = 0; k < n; k++)
                d[k * RG] = 0.f;
            continue;
        }
        const uint8_t *row = w + (size_t)r * ws;
        int64_t k = 0;
        float tmp[VW];
        for (; k + VW <= n; k += VW) {
            vstore(tmp, ld(row + (size_t)k * es));
            for (int i = 0; i < VW; i++)
                d[(k + i) * RG] = tmp[i];
        }
        for (; k < n; k++)
            d[k * RG] = ld1(row + (size_t)k * es);
    }
}

/* TN tokens × RG rows over the whole k range. */
GF_AI void micro(int64_t n, const float *wp, const float *x, size_t xs, const int TN, float *y, int64_t ys,
                 int64_t nrow)
{
    vec acc[TB][2];
    for (int t = 0; t < TN; t++)
        acc[t][0] = acc[t][1] = vzero();
    for (int64_t k = 0; k < n; k++) {
        const vec w0 = vload(wp + k * RG), w1 = vload(wp + k * RG + VW);
#pragma GCC unroll 16
        for (int t = 0; t < TN; t++) {
            const vec b = vbcast(x + (size_t)t * xs + k);
            acc[t][0] = vfma(w0, b, acc[t][0]);
            acc[t][1] = vfma(w1, b, acc[t][1]);
        }
    }
    if (nrow == RG) {
        for (int t = 0; t < TN; t++) {
            vstoreu(y + t * ys, acc[t][0]);
            vstoreu(y + t * ys + VW, acc[t][1]);
        }
    } else {
        float tmp[RG];
        for (int t = 0; t < TN; t++) {
            vstore(tmp, acc[t][0]);
            vstore(tmp + VW, acc[t][1]);
            memcpy(y + t * ys, tmp, sizeof(float) * (size_t)nrow);
        }
    }
}

static void micro_any(int64_t n, const float *wp, const float *x, size_t xs, int tn, float *y, int64_t ys,
                      int64_t nrow)
{
    switch (tn) {
#define GF_CASE(N)                                                                                 \
    case N: micro(n, wp, x, xs, N, y, ys, nrow); break;
    GF_CASE(1) GF_CASE(2) GF_CASE(3) GF_CASE(4) GF_CASE(5) GF_CASE(6)
#if TB > 6
    GF_CASE(7) GF_CASE(8) GF_CASE(9) GF_CASE(10) GF_CASE(11)
#endif
#undef GF_CASE
    default: micro(n, wp, x, xs, TB, y, ys, nrow); break;
    }
}

GF_AI void gemm_flt(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt,
                    float *y, int64_t ys, int es, gf_ld_fn ld, float (*ld1)(const uint8_t *))
{
    /* panel: as many row groups as fit in half of L2 (f32), at least one */
    const int64_t l2 = g4k_topology_cache_bytes(2);
    const size_t half = l2 < (512 << 10) ? (256u << 10) : l2 > (4 << 20) ? (2u << 20) : (size_t)l2 / 2;
    const size_t gbytes = (size_t)n * RG * sizeof(float);
    int64_t gp = (int64_t)(half / gbytes);
    gp = gp < 1 ? 1 : gp;
    const int64_t ngroups = (nr + RG - 1) / RG;
    gp = gp > ngroups ? ngroups : gp;
    float *panel = g4k_scratch(G4K_SCRATCH_GEMM_W, gbytes * (size_t)gp);
    if (!panel)
        return;
    const float *x = a;
    const size_t xs = as / sizeof(float);
    for (int64_t g0 = 0; g0 < ngroups; g0 += gp) {
        const int64_t ng = ngroups - g0 < gp ? ngroups - g0 : gp;
        for (int64_t g = 0; g < ng; g++) {
            const int64_t r0 = (g0 + g) * RG, nrow = nr - r0 < RG ? nr - r0 : RG;
            pack_group(n, (const uint8_t *)w + (size_t)r0 * ws, ws, nrow, es, ld, ld1,
                       panel + (size_t)g * n * RG);
        }
        for (int64_t t0 = 0; t0 < nt; t0 += TB) {
            const int tn = (int)(nt - t0 < TB ? nt - t0 : TB);
            for (int64_t g = 0; g < ng; g++) {
                const int64_t r0 = (g0 + g) * RG, nrow = nr - r0 < RG ? nr - r0 : RG;
                micro_any(n, panel + (size_t)g * n * RG, x + (size_t)t0 * xs, xs, tn, y + t0 * ys + r0, ys, nrow);
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
static vec gf_ld_f32(const uint8_t *p) { return vloadu((const float *)p); }

static void gemm_f32w(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt,
                      float *y, int64_t ys)
{
    gemm_flt(n, w, ws, nr, a, as, nt, y, ys, 4, gf_ld_f32, gf_ld1_f32);
}
static void gemm_f16w(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt,
                      float *y, int64_t ys)
{
    gemm_flt(n, w, ws, nr, a, as, nt, y, ys, 2, cvt_f16_chunk, gf_ld1_f16);
}
static void gemm_bf16w(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt,
                       float *y, int64_t ys)
{
    gemm_flt(n, w, ws, nr, a, as, nt, y, ys, 2, cvt_bf16_chunk, gf_ld1_bf16);
}

void GEMM_FLT_FILL(g4k_kernels *k)
{
    k->gemm[G4_TYPE_F32] = gemm_f32w;
    k->gemm[G4_TYPE_F16] = gemm_f16w;
    k->gemm[G4_TYPE_BF16] = gemm_bf16w;
}
