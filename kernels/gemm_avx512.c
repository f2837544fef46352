/* Prefill GEMM (n_tok >= G4K_GEMM_MIN_TOK), AVX-512 VNNI, for every quantized format.
 *
 * No repacked copy of the weights (the GGUF stays mmapped and untouched): each call decodes a
 * panel of PR weight rows once into per-thread scratch (L2-sized) in one format-independent
 * layout, then reuses it across every 16-token tile:
 *
 *   decoded row = int8 q[n] | f32 sc[nsub] | f32 mc[nsub] | i32 corr[nsub]
 *   w[k] = sc[s]·q[k] + mc[s] for k in sub-block s (SUB = 32, or 16 for Q6_K)
 *
 * Activations (already quantized by the driver to the format's 8-bit pairing: Q8_0, Q8_1 or
 * Q8_K, so results match the scalar reference) are interleaved per 16-token tile: for every
 * sub-block, SUB/4 zmm whose i32 lane t holds 4 consecutive bytes of token t, stored as
 * u8 = a + 128 (vpdpbusd wants the unsigned operand in the register, the signed one is the
 * broadcast weight dword), plus da[16] and sa[16] = da·Σa. The +128 comes back through
 * corr = -128·Σq, which starts the integer accumulator.
 *
 * Micro-kernel: 8 rows × 16 tokens; per row and sub-block SUB/4 vpdpbusd with an embedded
 * {1to16} weight broadcast, one cvt, one mul by da, one FMA by sc (+ one FMA for mins). */
/* The Makefile builds every *_avx512.c with -mavx512bf16, but the AVX-512 level requires only
 * VNNI: forbid BF16 instructions here (only bf16_avx512.c, dispatched on its own CPUID bit,
 * may use them). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("no-avx512bf16")
#endif
#include <immintrin.h>

#include "quant.h"
#include "topology.h"

#define AI static inline __attribute__((always_inline))
#define MR 8  /* rows per micro-kernel */
#define NT 16 /* tokens per tile (zmm lanes) */

AI float h2f(uint16_t h) { return _cvtsh_ss(h); }

typedef struct {
    int64_t n, nsub;
    size_t row_bytes; /* decoded row stride */
} panel_geom;

AI panel_geom geom(int64_t n, int sub)
{
    panel_geom g = {n, n / sub, 0};
    g.row_bytes = ((size_t)n + 12 * (size_t)g.nsub + 63) & ~(size_t)63;
    return g;
}

/* ---- weight decoders: one row into the decoded layout ------------------------------------ */
/* Σ of 32 signed bytes (via sad on the biased bytes). */
AI int sum_s8x32(__m256i q)
{
    const __m256i s = _mm256_sad_epu8(_mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)), _mm256_setzero_si256());
    const __m128i t = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    return (int)(_mm_cvtsi128_si64(t) + _mm_extract_epi64(t, 1)) - 128 * 32;
}
AI void put32(uint8_t *row, const panel_geom *g, int64_t s, __m256i q, float sc, float mc)
{
    _mm256_storeu_si256((__m256i *)(row + 32 * s), q);
    float *f = (float *)(row + g->n);
    f[s] = sc;
    f[g->nsub + s] = mc;
    ((int32_t *)(f + 2 * g->nsub))[s] = -128 * sum_s8x32(q);
}
/* 16 packed bytes -> 32 nibbles (low nibbles first, then high). */
AI __m256i nib32(const uint8_t *p)
{
    const __m128i t = _mm_loadu_si128((const __m128i *)p);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
}
AI __m256i bits32(const uint8_t *p) /* 0xFF where bit i of p[0..3] is set */
{
    uint32_t x32;
    memcpy(&x32, p, 4);
    return _mm256_movm_epi8(x32);
}
AI __m256i tab16(const int8_t *t)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)t);
    return _mm256_set_m128i(v, v);
}

static void dec_q4_0(const void *src, uint8_t *row, const panel_geom *g)
{
    const g4q_q4_0 *x = src;
    for (int64_t b = 0; b < g->nsub; b++)
        put32(row, g, b, _mm256_sub_epi8(nib32(x[b].qs), _mm256_set1_epi8(8)), h2f(x[b].d), 0);
}
static void dec_q4_1(const void *src, uint8_t *row, const panel_geom *g)
{
    const g4q_q4_1 *x = src;
    for (int64_t b = 0; b < g->nsub; b++)
        put32(row, g, b, nib32(x[b].qs), h2f(x[b].d), h2f(x[b].m));
}
static void dec_q5_0(const void *src, uint8_t *row, const panel_geom *g)
{
    const g4q_q5_0 *x = src;
    for (int64_t b = 0; b < g->nsub; b++) {
        const __m256i q = _mm256_or_si256(nib32(x[b].qs), _mm256_and_si256(bits32(x[b].qh), _mm256_set1_epi8(0x10)));
        put32(row, g, b, _mm256_sub_epi8(q, _mm256_set1_epi8(16)), h2f(x[b].d), 0);
    }
}
static void dec_q5_1(const void *src, uint8_t *row, const panel_geom *g)
{
    const g4q_q5_1 *x = src;
    for (int64_t b = 0; b < g->nsub; b++) {
        const __m256i q = _mm256_or_si256(nib32(x[b].qs), _mm256_and_si256(bits32(x[b].qh), _mm256_set1_epi8(0x10)));
        put32(row, g, b, q, h2f(x[b].d), h2f(x[b].m));
    }
}
static void dec_q8_0(const void *src, uint8_t *row, const panel_geom *g)
{
    const g4q_q8_0 *x = src;
    for (int64_t b = 0; b < g->nsub; b++)
        put32(row, g, b, _mm256_loadu_si256((const __m256i *)x[b].qs), h2f(x[b].d), 0);
}
static void dec_iq4_nl(const void *src, uint8_t *row, const panel_geom *g)
{
    const g4q_iq4_nl *x = src;
    const __m256i t = tab16(g4q_kvalues_iq4nl);
    for (int64_t b = 0; b < g->nsub; b++)
        put32(row, g, b, _mm256_shuffle_epi8(t, nib32(x[b].qs)), h2f(x[b].d), 0);
}
static void dec_mxfp4(const void *src, uint8_t *row, const panel_geom *g)
{
    const g4q_mxfp4 *x = src;
    const __m256i t = tab16(g4q_kvalues_mxfp4);
    for (int64_t b = 0; b < g->nsub; b++)
        put32(row, g, b, _mm256_shuffle_epi8(t, nib32(x[b].qs)), g4q_e8m0_half(x[b].e), 0);
}
AI void dec_q45k(const void *src, uint8_t *row, const panel_geom *g, const int HI)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), b4 = _mm256_set1_epi8(0x10);
    for (int64_t i = 0; i < g->nsub / 8; i++) {
        const g4q_q4_K *x4 = (const g4q_q4_K *)src + i;
        const g4q_q5_K *x5 = (const g4q_q5_K *)src + i;
        const uint16_t dh = HI ? x5->d : x4->d, mh = HI ? x5->dmin : x4->dmin;
        const float d = h2f(dh), dmin = h2f(mh);
        const uint8_t *scales = HI ? x5->scales : x4->scales, *qs = HI ? x5->qs : x4->qs;
        __m256i hb = HI ? _mm256_loadu_si256((const __m256i *)x5->qh) : _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            uint8_t sc0, m0, sc1, m1;
            g4q_scale_min_k4(2 * j, scales, &sc0, &m0);
            g4q_scale_min_k4(2 * j + 1, scales, &sc1, &m1);
            const __m256i b = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
            __m256i lo = _mm256_and_si256(b, m4), hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), m4);
            if (HI) {
                lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(hb, 4), b4));
                hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(hb, 3), b4));
                hb = _mm256_srli_epi16(hb, 2);
            }
            put32(row, g, 8 * i + 2 * j, lo, d * sc0, -dmin * m0);
            put32(row, g, 8 * i + 2 * j + 1, hi, d * sc1, -dmin * m1);
        }
    }
}
static void dec_q4_K(const void *src, uint8_t *row, const panel_geom *g) { dec_q45k(src, row, g, 0); }
static void dec_q5_K(const void *src, uint8_t *row, const panel_geom *g) { dec_q45k(src, row, g, 1); }
static void dec_iq4_xs(const void *src, uint8_t *row, const panel_geom *g)
{
    const __m256i t = tab16(g4q_kvalues_iq4nl);
    for (int64_t i = 0; i < g->nsub / 8; i++) {
        const g4q_iq4_xs *x = (const g4q_iq4_xs *)src + i;
        const float d = h2f(x->d);
        for (int ib = 0; ib < 8; ib++) {
            const int ls = ((x->scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((x->scales_h >> 2 * ib) & 3) << 4);
            put32(row, g, 8 * i + ib, _mm256_shuffle_epi8(t, nib32(x->qs + 16 * ib)), d * (float)(ls - 32), 0);
        }
    }
}
/* Q6_K: sub-blocks of 16 (one scale each), q - 32 in [-32, 31]. */
static void dec_q6_K(const void *src, uint8_t *row, const panel_geom *g)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(0x30), o = _mm256_set1_epi8(32);
    float *sc = (float *)(row + g->n), *mc = sc + g->nsub;
    int32_t *corr = (int32_t *)(mc + g->nsub);
    for (int64_t i = 0; i < g->nsub / 16; i++) {
        const g4q_q6_K *x = (const g4q_q6_K *)src + i;
        const float d = h2f(x->d);
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
            const __m256i hh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(hh, 4), m3));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(hh, 2), m3));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(hh, m3));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(hh, 2), m3));
            for (int k = 0; k < 4; k++) {
                const int64_t s = 16 * i + 8 * h + 2 * k; /* first of the two 16-sub-blocks */
                const __m256i qq = _mm256_sub_epi8(q[k], o);
                _mm256_storeu_si256((__m256i *)(row + 16 * s), qq);
                /* per-16 sums: sad gives 4 sums of 8 biased bytes */
                const __m256i sd = _mm256_sad_epu8(_mm256_xor_si256(qq, _mm256_set1_epi8((char)0x80)), _mm256_setzero_si256());
                int64_t p[4];
                _mm256_storeu_si256((__m256i *)p, sd);
                corr[s] = -128 * (int32_t)(p[0] + p[1] - 128 * 16);
                corr[s + 1] = -128 * (int32_t)(p[2] + p[3] - 128 * 16);
                sc[s] = d * x->scales[8 * h + 2 * k];
                sc[s + 1] = d * x->scales[8 * h + 2 * k + 1];
                mc[s] = mc[s + 1] = 0;
            }
        }
    }
}

/* ---- activation panel: one 16-token tile ----------------------------------------------- */
/* Bytes per sub-block in the panel: SUB/4 zmm of bytes + da[16] + sa[16]. */
AI size_t asub_bytes(int sub) { return (size_t)sub * NT + 2 * 64; }

/* Per token and sub-block: pointer to its SUB signed bytes, da, and sa = da·Σa. */
static void act_tile(uint32_t act_type, int sub, int64_t n, const uint8_t *a, size_t as, int64_t ntt, uint8_t *dst)
{
    const int64_t nsub = n / sub;
    const size_t sb = asub_bytes(sub);
    for (int t = 0; t < NT; t++) {
        const uint8_t *at = a + (size_t)t * as;
        for (int64_t s = 0; s < nsub; s++) {
            uint8_t *ps = dst + (size_t)s * sb;
            uint32_t *pq = (uint32_t *)ps;
            float *pf = (float *)(ps + (size_t)sub * NT);
            if (t >= ntt) { /* padding lanes: a = 0 */
                for (int j = 0; j < sub / 4; j++)
                    pq[j * NT + t] = 0x80808080u;
                pf[t] = pf[NT + t] = 0;
                continue;
            }
            const int8_t *qs;
            float da, sa;
            if (act_type == G4_TYPE_Q8_K) {
                const g4q_q8_K *blk = (const g4q_q8_K *)at + (s * sub) / G4_QK_K;
                const int off = (int)((s * sub) % G4_QK_K);
                qs = blk->qs + off;
                da = blk->d;
                int bs = blk->bsums[off / 16];
                if (sub == 32)
                    bs += blk->bsums[off / 16 + 1];
                sa = da * (float)bs;
            } else if (act_type == G4_TYPE_Q8_1) {
                const g4q_q8_1 *blk = (const g4q_q8_1 *)at + s;
                qs = blk->qs;
                da = h2f(blk->d);
                sa = h2f(blk->s);
            } else {
                const g4q_q8_0 *blk = (const g4q_q8_0 *)at + s;
                qs = blk->qs;
                da = h2f(blk->d);
                sa = 0; /* Q8_0 pairs only with formats without mins */
            }
            for (int j = 0; j < sub / 4; j++) {
                uint32_t v;
                memcpy(&v, qs + 4 * j, 4);
                pq[j * NT + t] = v ^ 0x80808080u;
            }
            pf[t] = da;
            pf[NT + t] = sa;
        }
    }
}

/* ---- micro-kernel: MR decoded rows × 16 tokens ------------------------------------------ */
AI void ukern(const uint8_t *ap, const uint8_t *wp, size_t wrb, const panel_geom *g, const int SUB, const int HAS_M,
              __m512 acc[MR])
{
    for (int r = 0; r < MR; r++)
        acc[r] = _mm512_setzero_ps();
    const size_t sb = asub_bytes(SUB);
    for (int64_t s = 0; s < g->nsub; s++, ap += sb) {
        __m512i A[8];
#pragma GCC unroll 8
        for (int j = 0; j < SUB / 4; j++)
            A[j] = _mm512_load_si512((const void *)(ap + 64 * j));
        const __m512 da = _mm512_load_ps((const float *)(ap + SUB * NT));
        const __m512 sa = _mm512_load_ps((const float *)(ap + SUB * NT + 64));
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) {
            const uint8_t *row = wp + r * wrb;
            const int32_t *q = (const int32_t *)(row + s * SUB);
            const float *f = (const float *)(row + g->n);
            /* two chains (even / odd dwords), summed: 16 independent vpdpbusd chains across the
             * 8 rows, enough to cover the instruction's latency where two issue per cycle */
            __m512i i = _mm512_set1_epi32(((const int32_t *)(f + 2 * g->nsub))[s]), u = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int j = 0; j < SUB / 4; j += 2) {
                i = _mm512_dpbusd_epi32(i, A[j], _mm512_set1_epi32(q[j]));
                u = _mm512_dpbusd_epi32(u, A[j + 1], _mm512_set1_epi32(q[j + 1]));
            }
            i = _mm512_add_epi32(i, u);
            acc[r] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(i), da), _mm512_set1_ps(f[s]), acc[r]);
            if (HAS_M)
                acc[r] = _mm512_fmadd_ps(sa, _mm512_set1_ps(f[g->nsub + s]), acc[r]);
        }
    }
}

/* Half of L2 (per-core; clamped by the topology layer, and again here). */
static size_t panel_bytes(void)
{
    const int64_t l2 = g4k_topology_cache_bytes(2);
    return l2 < (512 << 10) ? (256u << 10) : l2 > (4 << 20) ? (2u << 20) : (size_t)l2 / 2;
}

typedef void (*dec_fn)(const void *src, uint8_t *row, const panel_geom *g);

AI void gemm_generic(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt, float *y,
                     int64_t ys, dec_fn dec, const int SUB, const int HAS_M)
{
    const panel_geom g = geom(n, SUB);
    const int64_t ntiles = (nt + NT - 1) / NT;
    const size_t atile = as * NT; /* a: the tiles gemm_act built once for all threads, as per token */
    /* Weight panel: half of L2, a multiple of MR rows (the activation tile streams beside it). */
    int64_t pr = (int64_t)(panel_bytes() / g.row_bytes) / MR * MR;
    pr = pr < MR ? MR : pr > 256 ? 256 : pr;
    if (pr > (nr + MR - 1) / MR * MR)
        pr = (nr + MR - 1) / MR * MR;
    const uint8_t *ap = a;
    uint8_t *wp = g4k_scratch(G4K_SCRATCH_GEMM_W, g.row_bytes * (size_t)pr);
    if (!wp)
        return;
    for (int64_t r0 = 0; r0 < nr; r0 += pr) {
        const int64_t npr = nr - r0 < pr ? nr - r0 : pr;
        for (int64_t r = 0; r < npr; r++)
            dec((const uint8_t *)w + (size_t)(r0 + r) * ws, wp + (size_t)r * g.row_bytes, &g);
        /* rows past the end of the matrix: all-zero rows (q = 0, sc = mc = corr = 0) */
        const int64_t npad = (npr + MR - 1) / MR * MR;
        if (npad > npr)
            memset(wp + (size_t)npr * g.row_bytes, 0, (size_t)(npad - npr) * g.row_bytes);
        for (int64_t tt = 0; tt < ntiles; tt++) {
            const int64_t t0 = tt * NT, ntt = nt - t0 < NT ? nt - t0 : NT;
            for (int64_t rr = 0; rr < npr; rr += MR) {
                __m512 acc[MR];
                ukern(ap + (size_t)tt * atile, wp + (size_t)rr * g.row_bytes, g.row_bytes, &g, SUB, HAS_M, acc);
                const int64_t nrr = npr - rr < MR ? npr - rr : MR;
                float out[NT];
                for (int64_t r = 0; r < nrr; r++) {
                    _mm512_storeu_ps(out, acc[r]);
                    float *yr = y + t0 * ys + r0 + rr + r;
                    for (int64_t t = 0; t < ntt; t++)
                        yr[t * ys] = out[t];
                }
            }
        }
    }
}

/* gemm_act: activation rows to 16-token tiles (the driver runs it once per token block). */
AI size_t tiles_generic(int64_t n, const void *a, size_t as, int64_t nt, void *dst, uint32_t act_type, const int SUB)
{
    const size_t atile = (size_t)(n / SUB) * asub_bytes(SUB);
    if (dst)
        for (int64_t tt = 0; tt * NT < nt; tt++) {
            const int64_t t0 = tt * NT, ntt = nt - t0 < NT ? nt - t0 : NT;
            act_tile(act_type, SUB, n, (const uint8_t *)a + (size_t)t0 * as, as, ntt, (uint8_t *)dst + (size_t)tt * atile);
        }
    return atile / NT;
}
#define TILES(ACT, SUB)                                                                                 \
    static size_t tiles_##ACT##_##SUB(int64_t n, const void *a, size_t as, int64_t nt, void *dst)      \
    {                                                                                                   \
        return tiles_generic(n, a, as, nt, dst, G4_TYPE_##ACT, SUB);                                    \
    }
TILES(Q8_0, 32)
TILES(Q8_1, 32)
TILES(Q8_K, 32)
TILES(Q8_K, 16)

#define GEMM(T, ACT, SUB, HAS_M)                                                                       \
    static void gemm_##T(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt, \
                         float *y, int64_t ys)                                                          \
    {                                                                                                   \
        gemm_generic(n, w, ws, nr, a, as, nt, y, ys, dec_##T, SUB, HAS_M);                             \
    }                                                                                                   \
    static const g4k_tile_fn tiles_for_##T = tiles_##ACT##_##SUB;
GEMM(q4_0, Q8_0, 32, 0)
GEMM(q4_1, Q8_1, 32, 1)
GEMM(q5_0, Q8_0, 32, 0)
GEMM(q5_1, Q8_1, 32, 1)
GEMM(q8_0, Q8_0, 32, 0)
GEMM(iq4_nl, Q8_0, 32, 0)
GEMM(mxfp4, Q8_0, 32, 0)
GEMM(q4_K, Q8_K, 32, 1)
GEMM(q5_K, Q8_K, 32, 1)
GEMM(iq4_xs, Q8_K, 32, 0)
GEMM(q6_K, Q8_K, 16, 0)

void g4k_fill_avx512_gemm(g4k_kernels *k)
{
    k->gemm[G4_TYPE_Q4_0] = gemm_q4_0;
    k->gemm_act[G4_TYPE_Q4_0] = tiles_for_q4_0;
    k->gemm[G4_TYPE_Q4_1] = gemm_q4_1;
    k->gemm_act[G4_TYPE_Q4_1] = tiles_for_q4_1;
    k->gemm[G4_TYPE_Q5_0] = gemm_q5_0;
    k->gemm_act[G4_TYPE_Q5_0] = tiles_for_q5_0;
    k->gemm[G4_TYPE_Q5_1] = gemm_q5_1;
    k->gemm_act[G4_TYPE_Q5_1] = tiles_for_q5_1;
    k->gemm[G4_TYPE_Q8_0] = gemm_q8_0;
    k->gemm_act[G4_TYPE_Q8_0] = tiles_for_q8_0;
    k->gemm[G4_TYPE_IQ4_NL] = gemm_iq4_nl;
    k->gemm_act[G4_TYPE_IQ4_NL] = tiles_for_iq4_nl;
    k->gemm[G4_TYPE_MXFP4] = gemm_mxfp4;
    k->gemm_act[G4_TYPE_MXFP4] = tiles_for_mxfp4;
    k->gemm[G4_TYPE_Q4_K] = gemm_q4_K;
    k->gemm_act[G4_TYPE_Q4_K] = tiles_for_q4_K;
    k->gemm[G4_TYPE_Q5_K] = gemm_q5_K;
    k->gemm_act[G4_TYPE_Q5_K] = tiles_for_q5_K;
    k->gemm[G4_TYPE_IQ4_XS] = gemm_iq4_xs;
    k->gemm_act[G4_TYPE_IQ4_XS] = tiles_for_iq4_xs;
    k->gemm[G4_TYPE_Q6_K] = gemm_q6_K;
    k->gemm_act[G4_TYPE_Q6_K] = tiles_for_q6_K;
}
