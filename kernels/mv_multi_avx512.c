/* Small-batch (2..G4K_MVN_MAX_TOK tokens: MTP verification) 512-bit VNNI kernels for Q4_0, Q4_K
 * and Q6_K, the formats of the 12B-shape benchmark files and of most published Gemma 4 GGUFs.
 *
 * One pass over each weight row: every block is loaded and decoded (nibbles, high bits, scale
 * vectors) once, then multiplied with each token's activations held in registers/L1. The
 * single-token kernels (q4_zmm_avx512.h, mv_avx512.c) run once per token instead, so a 4-token
 * verify paid the decode 4 times; here it is paid once and each extra token costs only its dot
 * products (maddubs + dpwssd with the sub-block scale, 2 instructions per 64 weights for the
 * K-quants, instead of dpbusd + a 32-bit multiply by the scale).
 *
 * Results are bit-identical to the single-token kernels: the integer sums are exact and grouped
 * by the same 4-byte lanes, and the float accumulation (per-block scale, lane order, final
 * reduction) is the same sequence of operations. So a token's logits do not depend on how many
 * tokens share its batch (tests/test_kernels.c checks this), and speculative decoding cannot
 * drift from plain decoding through kernel rounding. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("no-avx512bf16")
#endif
#include <immintrin.h>

#include "kquant_x86.h"
#include "quant.h"

#define AI static inline __attribute__((always_inline))
/* The token loops must be unrolled (NT is a constant per instantiation) so that the per-token
 * accumulators live in registers, not on the stack. */
#if defined(__clang__)
#define UNROLL_TOK _Pragma("unroll")
#else
#define UNROLL_TOK _Pragma("GCC unroll 8")
#endif

AI float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* Software prefetch of the weight stream, G4K_MVN_PREFETCH bytes ahead (see quant.h). */
AI void prefetch_ahead(const void *p, const int bytes)
{
    for (int o = 0; o < bytes; o += 64)
        _mm_prefetch((const char *)p + G4K_MVN_PREFETCH + o, _MM_HINT_T0);
}

/* Same horizontal sum as the single-token kernels use for their min terms. */
AI float hsum128(__m128 v)
{
    __m128 m = _mm_add_ps(v, _mm_movehl_ps(v, v));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* ---- Q4_K ---------------------------------------------------------------------------------- */
/* Activations arranged per token as in zmm_q4_K: [s0|s2], [s1|s3], [s4|s6], [s5|s7]. */
typedef struct {
    __m512i a[4];
    __m128i bsum8; /* i16 Σa per sub-block of 32 */
    float d;
    float pad[3];
} q4k_actn;

AI void q4_K_rows(int64_t nb, const uint8_t *w, size_t ws, int64_t nr, const q4k_actn *A, float *y, int64_t ys,
                  const int NT)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    /* word index of the scale for each i16 lane: [s_j x16 | s_j+2 x16] */
    const __m512i i02 = _mm512_set_epi16(2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                         0, 0, 0, 0, 0, 0);
    const __m512i i13 = _mm512_add_epi16(i02, _mm512_set1_epi16(1));
    const __m512i i46 = _mm512_add_epi16(i02, _mm512_set1_epi16(4));
    const __m512i i57 = _mm512_add_epi16(i02, _mm512_set1_epi16(5));
    for (int64_t r = 0; r < nr; r++) {
        const g4q_q4_K *x = (const g4q_q4_K *)(w + r * ws);
        __m512 acc[G4K_MVN_MAX_TOK];
        __m128 accm[G4K_MVN_MAX_TOK];
        UNROLL_TOK for (int t = 0; t < NT; t++) {
            acc[t] = _mm512_setzero_ps();
            accm[t] = _mm_setzero_ps();
        }
        for (int64_t i = 0; i < nb; i++) {
            prefetch_ahead(&x[i], (int)sizeof *x);
            const __m128i sm = g4x_kq_scales_mins(x[i].scales);
            const __m512i sc = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(sm)); /* words 0..7: scales */
            const __m512i s02 = _mm512_permutexvar_epi16(i02, sc), s13 = _mm512_permutexvar_epi16(i13, sc);
            const __m512i s46 = _mm512_permutexvar_epi16(i46, sc), s57 = _mm512_permutexvar_epi16(i57, sc);
            const __m128i mins = _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8));
            const __m512i qa = _mm512_loadu_si512(x[i].qs), qb = _mm512_loadu_si512(x[i].qs + 64);
            const __m512i w0 = _mm512_and_si512(qa, m4), w1 = _mm512_and_si512(_mm512_srli_epi16(qa, 4), m4);
            const __m512i w2 = _mm512_and_si512(qb, m4), w3 = _mm512_and_si512(_mm512_srli_epi16(qb, 4), m4);
            const float dw = h2f(x[i].d), dm = h2f(x[i].dmin);
            UNROLL_TOK for (int t = 0; t < NT; t++) {
                const q4k_actn *a = A + (size_t)t * (size_t)nb + i;
                __m512i p = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_maddubs_epi16(w0, a->a[0]), s02);
                p = _mm512_dpwssd_epi32(p, _mm512_maddubs_epi16(w1, a->a[1]), s13);
                p = _mm512_dpwssd_epi32(p, _mm512_maddubs_epi16(w2, a->a[2]), s46);
                p = _mm512_dpwssd_epi32(p, _mm512_maddubs_epi16(w3, a->a[3]), s57);
                acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(dw * a->d), _mm512_cvtepi32_ps(p), acc[t]);
                const __m128i pm = _mm_madd_epi16(mins, a->bsum8);
                accm[t] = _mm_fmadd_ps(_mm_set1_ps(dm * a->d), _mm_cvtepi32_ps(pm), accm[t]);
            }
        }
        UNROLL_TOK for (int t = 0; t < NT; t++)
            y[t * ys + r] = _mm512_reduce_add_ps(acc[t]) - hsum128(accm[t]);
    }
}

static void mvn_q4_K(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt, float *y,
                     int64_t ys)
{
    const int64_t nb = n / G4_QK_K;
    q4k_actn *A = g4k_scratch(G4K_SCRATCH_GEMM_A, sizeof(q4k_actn) * (size_t)(nb * nt));
    if (!A)
        return;
    for (int64_t t = 0; t < nt; t++) {
        const g4q_q8_K *q = (const g4q_q8_K *)((const uint8_t *)a + t * as);
        for (int64_t i = 0; i < nb; i++) {
            q4k_actn *d = A + t * nb + i;
            const __m512i A0 = _mm512_loadu_si512(q[i].qs), A1 = _mm512_loadu_si512(q[i].qs + 64);
            const __m512i A2 = _mm512_loadu_si512(q[i].qs + 128), A3 = _mm512_loadu_si512(q[i].qs + 192);
            d->a[0] = _mm512_shuffle_i64x2(A0, A1, 0x44);
            d->a[1] = _mm512_shuffle_i64x2(A0, A1, 0xEE);
            d->a[2] = _mm512_shuffle_i64x2(A2, A3, 0x44);
            d->a[3] = _mm512_shuffle_i64x2(A2, A3, 0xEE);
            const __m256i bs = _mm256_loadu_si256((const __m256i *)q[i].bsums);
            d->bsum8 = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
            d->d = q[i].d;
        }
    }
    switch (nt) {
#define CASE(N) case N: q4_K_rows(nb, w, ws, nr, A, y, ys, N); break;
        CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8)
#undef CASE
    default: break;
    }
}

/* Tokens in groups of up to TOK_GROUP per pass over a row (a second pass reads the row from
 * L1): beyond 4 tokens the per-token accumulators, the decoded weights and the scale vectors
 * crowd the 32 registers, and the activations being read no longer fit L1 (Q4_0's arranged
 * activations take 7.7 KB per token at width 3840). Measured with gcc 12 on zen4, 1 thread:
 * a 5-token single pass cost about twice a 4-token one. */
#define TOK_GROUP 4

/* ---- Q6_K ---------------------------------------------------------------------------------- */
/* As q6_K_row (mv_avx512.c): 64 weights per zmm in natural order, unsigned 0..63, one scale per
 * 16 weights; the -32 comes back as 32·Σ sc_g·bsum_g. Activations are read in place. */
typedef struct {
    __m512i w[4], s[4]; /* the block's quants and their scales per i16 lane */
    __m256i sc16;
    float d;
} q6_wblock;

AI void q6_K_decode(const g4q_q6_K *x, q6_wblock *b)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    /* i16 lane j of the k-th vector (64 weights) uses scale 4k + j/8 */
    const __m512i i0 = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0,
                                        0, 0, 0, 0, 0);
    const __m512i four = _mm512_set1_epi16(4);
    b->sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
    const __m512i sc = _mm512_castsi256_si512(b->sc16);
    __m512i idx = i0;
    for (int k = 0; k < 4; k++, idx = _mm512_add_epi16(idx, four))
        b->s[k] = _mm512_permutexvar_epi16(idx, sc);
    for (int h = 0; h < 2; h++) {
        const __m512i L = _mm512_loadu_si512(x->ql + 64 * h);
        const __m256i hh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
        const __m512i H = _mm512_inserti64x4(_mm512_castsi256_si512(hh), _mm256_srli_epi16(hh, 2), 1);
        b->w[2 * h] = _mm512_or_si512(_mm512_and_si512(L, m4), _mm512_and_si512(_mm512_slli_epi16(H, 4), m30));
        b->w[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), m4), _mm512_and_si512(H, m30));
    }
    b->d = h2f(x->d);
}

AI __m512 q6_K_dot(const q6_wblock *b, const __m512i a[4], __m256i bsums, float da, __m512 acc)
{
    __m512i p = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_maddubs_epi16(b->w[0], a[0]), b->s[0]);
    p = _mm512_dpwssd_epi32(p, _mm512_maddubs_epi16(b->w[1], a[1]), b->s[1]);
    p = _mm512_dpwssd_epi32(p, _mm512_maddubs_epi16(b->w[2], a[2]), b->s[2]);
    p = _mm512_dpwssd_epi32(p, _mm512_maddubs_epi16(b->w[3], a[3]), b->s[3]);
    const __m256i mm = _mm256_madd_epi16(b->sc16, bsums);
    p = _mm512_sub_epi32(p, _mm512_zextsi256_si512(_mm256_slli_epi32(mm, 5)));
    return _mm512_fmadd_ps(_mm512_set1_ps(b->d * da), _mm512_cvtepi32_ps(p), acc);
}

/* Row x (and z when TWO: far apart, as mv_q6_K pairs them), NT tokens: each block decoded once,
 * each token's activations loaded once for both rows; per row and token, q6_K_row's order. */
AI void q6_K_row(int64_t nb, const g4q_q6_K *x, const g4q_q6_K *z, const uint8_t *a, size_t as, float *yx, float *yz,
                 int64_t ys, const int NT, const int TWO)
{
    __m512 ax[TOK_GROUP], az[TOK_GROUP];
    UNROLL_TOK for (int t = 0; t < NT; t++) ax[t] = az[t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        q6_wblock bx, bz;
        prefetch_ahead(&x[i], (int)sizeof *x);
        q6_K_decode(&x[i], &bx);
        if (TWO) {
            prefetch_ahead(&z[i], (int)sizeof *z);
            q6_K_decode(&z[i], &bz);
        }
        UNROLL_TOK for (int t = 0; t < NT; t++) {
            const g4q_q8_K *q = (const g4q_q8_K *)(a + (size_t)t * as) + i;
            const __m512i av[4] = {_mm512_loadu_si512(q->qs), _mm512_loadu_si512(q->qs + 64),
                                   _mm512_loadu_si512(q->qs + 128), _mm512_loadu_si512(q->qs + 192)};
            const __m256i bs = _mm256_loadu_si256((const __m256i *)q->bsums);
            ax[t] = q6_K_dot(&bx, av, bs, q->d, ax[t]);
            if (TWO)
                az[t] = q6_K_dot(&bz, av, bs, q->d, az[t]);
        }
    }
    UNROLL_TOK for (int t = 0; t < NT; t++) {
        yx[t * ys] = _mm512_reduce_add_ps(ax[t]);
        if (TWO)
            yz[t * ys] = _mm512_reduce_add_ps(az[t]);
    }
}

static void mvn_q6_K(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt, float *y,
                     int64_t ys)
{
    const int64_t nb = n / G4_QK_K, h = nr / 2;
    for (int64_t r = 0; r < h + (nr & 1); r++) {
        /* rows r and r + h; an odd last row alone */
        const int64_t rx = r < h ? r : nr - 1;
        const g4q_q6_K *x = (const g4q_q6_K *)((const uint8_t *)w + rx * ws);
        const g4q_q6_K *z = (const g4q_q6_K *)((const uint8_t *)w + (r + h) * ws);
        for (int64_t t0 = 0; t0 < nt; t0 += TOK_GROUP) {
            const uint8_t *at = (const uint8_t *)a + t0 * as;
            float *yx = y + t0 * ys + rx, *yz = y + t0 * ys + r + h;
            const int64_t tn = nt - t0 < TOK_GROUP ? nt - t0 : TOK_GROUP;
            if (r < h) {
                switch (tn) {
                case 1: q6_K_row(nb, x, z, at, as, yx, yz, ys, 1, 1); break;
                case 2: q6_K_row(nb, x, z, at, as, yx, yz, ys, 2, 1); break;
                case 3: q6_K_row(nb, x, z, at, as, yx, yz, ys, 3, 1); break;
                default: q6_K_row(nb, x, z, at, as, yx, yz, ys, 4, 1); break;
                }
            } else {
                switch (tn) {
                case 1: q6_K_row(nb, x, NULL, at, as, yx, NULL, ys, 1, 0); break;
                case 2: q6_K_row(nb, x, NULL, at, as, yx, NULL, ys, 2, 0); break;
                case 3: q6_K_row(nb, x, NULL, at, as, yx, NULL, ys, 3, 0); break;
                default: q6_K_row(nb, x, NULL, at, as, yx, NULL, ys, 4, 0); break;
                }
            }
        }
    }
}

/* ---- Q4_0 ---------------------------------------------------------------------------------- */
/* Four blocks per zmm (one 128-bit lane each), as q4_0_row (q4_zmm_avx512.h); per token the
 * activation lanes, -8·Σa per lane and the block scales already spread over the lanes. */
typedef struct {
    __m512i lo, hi, init;
    __m512 da; /* block k's activation scale in i32 lanes 4k..4k+3 */
} q4_0_actn;

/* One group (four blocks) of weights decoded: nibbles and the block scales over their lanes. */
typedef struct {
    __m512i lo, hi;
    __m512 dw;
} q4_0_wgroup;

AI q4_0_wgroup q4_0_decode(const g4q_q4_0 *x)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i pidx = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    __m512i raw = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)x[0].qs));
    raw = _mm512_inserti32x4(raw, _mm_loadu_si128((const __m128i *)x[1].qs), 1);
    raw = _mm512_inserti32x4(raw, _mm_loadu_si128((const __m128i *)x[2].qs), 2);
    raw = _mm512_inserti32x4(raw, _mm_loadu_si128((const __m128i *)x[3].qs), 3);
    __m128i dh = _mm_cvtsi32_si128(x[0].d);
    dh = _mm_insert_epi16(dh, x[1].d, 1);
    dh = _mm_insert_epi16(dh, x[2].d, 2);
    dh = _mm_insert_epi16(dh, x[3].d, 3);
    return (q4_0_wgroup){_mm512_and_si512(raw, m4), _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4),
                         _mm512_permutexvar_ps(pidx, _mm512_castps128_ps512(_mm_cvtph_ps(dh)))};
}

AI __m512 q4_0_dot(const q4_0_wgroup *w, const q4_0_actn *q, __m512 acc)
{
    const __m512i isum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(q->init, w->lo, q->lo), w->hi, q->hi);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(w->dw, q->da), acc);
}

/* accx[t] (and accz[t] when TWO) += one group of row x (z) . token t's arranged activations:
 * each token's activations are loaded once for both rows. */
AI void q4_0_group(const g4q_q4_0 *x, const g4q_q4_0 *z, const q4_0_actn *A, int64_t a_ng, int64_t g, __m512 *accx,
                   __m512 *accz, const int NT, const int TWO)
{
    const q4_0_wgroup wx = q4_0_decode(x);
    if (TWO) {
        const q4_0_wgroup wz = q4_0_decode(z);
        UNROLL_TOK for (int t = 0; t < NT; t++) {
            const q4_0_actn *q = A + (size_t)t * (size_t)a_ng + g;
            accx[t] = q4_0_dot(&wx, q, accx[t]);
            accz[t] = q4_0_dot(&wz, q, accz[t]);
        }
    } else {
        UNROLL_TOK for (int t = 0; t < NT; t++)
            accx[t] = q4_0_dot(&wx, A + (size_t)t * (size_t)a_ng + g, accx[t]);
    }
}

AI void q4_0_finish(int64_t nb, const g4q_q4_0 *x, __m512 acc0, __m512 acc1, const uint8_t *a, float *y)
{
    const int64_t ng = nb / 4;
    float s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    const g4q_q8_0 *q = (const g4q_q8_0 *)a;
    for (int64_t b = 4 * ng; b < nb; b++) /* < 4 leftover blocks */
        s += g4q_dot_q4_0(32, x + b, &q[b]);
    *y = s;
}

/* Row x (and row z when TWO: far apart, as zmm_q4_0 pairs them), NT tokens: A and a point at
 * the first token's arranged / raw activations. Per row and token, the order of q4_0_row
 * (q4_zmm_avx512.h): group g into chain g & 1, then reduce_add(chain0 + chain1). */
AI void q4_0_row(int64_t nb, const g4q_q4_0 *x0, const g4q_q4_0 *z0, const q4_0_actn *A, int64_t a_ng,
                 const uint8_t *a, size_t as, float *yx, float *yz, int64_t ys, const int NT, const int TWO)
{
    const int64_t ng = nb / 4;
    const g4q_q4_0 *x = x0, *z = z0;
    __m512 ax0[TOK_GROUP], ax1[TOK_GROUP], az0[TOK_GROUP], az1[TOK_GROUP];
    UNROLL_TOK for (int t = 0; t < NT; t++) ax0[t] = ax1[t] = az0[t] = az1[t] = _mm512_setzero_ps();
    int64_t g = 0;
    for (; g + 1 < ng; g += 2, x += 8) {
        prefetch_ahead(x, 8 * (int)sizeof *x);
        if (TWO)
            prefetch_ahead(z, 8 * (int)sizeof *z);
        q4_0_group(x, z, A, a_ng, g, ax0, az0, NT, TWO);
        q4_0_group(x + 4, TWO ? z + 4 : NULL, A, a_ng, g + 1, ax1, az1, NT, TWO); /* z is NULL alone */
        if (TWO)
            z += 8;
    }
    if (g < ng)
        q4_0_group(x, z, A, a_ng, g, ax0, az0, NT, TWO);
    UNROLL_TOK for (int t = 0; t < NT; t++) {
        q4_0_finish(nb, x0, ax0[t], ax1[t], a + (size_t)t * as, yx + t * ys);
        if (TWO)
            q4_0_finish(nb, z0, az0[t], az1[t], a + (size_t)t * as, yz + t * ys);
    }
}

/* Only the shapes zmm_q4_0 (q4_zmm_avx512.h) runs itself (block count a multiple of 4, at most
 * 128 groups); its mvn entry sends the other shapes to the generic tiles, as its mv does. */
void g4k_avx512_mvn_q4_0(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt,
                         float *y, int64_t ys)
{
    const int64_t nb = n / 32, ng = nb / 4;
    q4_0_actn *A = g4k_scratch(G4K_SCRATCH_GEMM_A, sizeof(q4_0_actn) * (size_t)(ng * nt + 1));
    if (!A)
        return;
    const __m512i ones = _mm512_set1_epi8(1);
    const __m512i pidx = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    for (int64_t t = 0; t < nt; t++) {
        const g4q_q8_0 *q = (const g4q_q8_0 *)((const uint8_t *)a + t * as);
        for (int64_t g = 0; g < ng; g++) {
            const g4q_q8_0 *b = q + 4 * g;
            __m512i lo = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)b[0].qs));
            __m512i hi = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(b[0].qs + 16)));
#define INS(k)                                                                                     \
    lo = _mm512_inserti32x4(lo, _mm_loadu_si128((const __m128i *)b[k].qs), k);                     \
    hi = _mm512_inserti32x4(hi, _mm_loadu_si128((const __m128i *)(b[k].qs + 16)), k);
            INS(1) INS(2) INS(3)
#undef INS
            const __m512i asum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, lo), ones, hi);
            q4_0_actn *d = A + t * ng + g;
            d->lo = lo;
            d->hi = hi;
            d->init = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(asum, 3));
            d->da = _mm512_permutexvar_ps(
                pidx, _mm512_castps128_ps512(_mm_set_ps(h2f(b[3].d), h2f(b[2].d), h2f(b[1].d), h2f(b[0].d))));
        }
    }
    const int64_t h = nr / 2;
    for (int64_t r = 0; r < h + (nr & 1); r++) {
        /* rows r and r + h; an odd last row alone */
        const int64_t rx = r < h ? r : nr - 1;
        const g4q_q4_0 *x = (const g4q_q4_0 *)((const uint8_t *)w + rx * ws);
        const g4q_q4_0 *z = (const g4q_q4_0 *)((const uint8_t *)w + (r + h) * ws);
        for (int64_t t0 = 0; t0 < nt; t0 += TOK_GROUP) {
            const q4_0_actn *At = A + t0 * ng;
            const uint8_t *at = (const uint8_t *)a + t0 * as;
            float *yx = y + t0 * ys + rx, *yz = y + t0 * ys + r + h;
            const int64_t tn = nt - t0 < TOK_GROUP ? nt - t0 : TOK_GROUP;
            if (r < h) {
                switch (tn) {
                case 1: q4_0_row(nb, x, z, At, ng, at, as, yx, yz, ys, 1, 1); break;
                case 2: q4_0_row(nb, x, z, At, ng, at, as, yx, yz, ys, 2, 1); break;
                case 3: q4_0_row(nb, x, z, At, ng, at, as, yx, yz, ys, 3, 1); break;
                default: q4_0_row(nb, x, z, At, ng, at, as, yx, yz, ys, 4, 1); break;
                }
            } else {
                switch (tn) {
                case 1: q4_0_row(nb, x, NULL, At, ng, at, as, yx, NULL, ys, 1, 0); break;
                case 2: q4_0_row(nb, x, NULL, At, ng, at, as, yx, NULL, ys, 2, 0); break;
                case 3: q4_0_row(nb, x, NULL, At, ng, at, as, yx, NULL, ys, 3, 0); break;
                default: q4_0_row(nb, x, NULL, At, ng, at, as, yx, NULL, ys, 4, 0); break;
                }
            }
        }
    }
}

void g4k_fill_avx512_mvn(g4k_kernels *k)
{
    k->mvn[G4_TYPE_Q4_0] = g4k_avx512_mvn_q4_0; /* wrapped by fill_zmm_q4 */
    k->mvn[G4_TYPE_Q4_K] = mvn_q4_K;
    k->mvn[G4_TYPE_Q6_K] = mvn_q6_K;
}
