/* Single-token (decode) 512-bit VNNI kernels for Q8_0, Q5_K, Q6_K, IQ4_XS, IQ4_NL, MXFP4, Q5_0: one weight row
 * at a time as one sequential stream (what the hardware prefetchers follow best), 64 weights per
 * vpdpbusd, with every constant offset folded in through activation block sums so the inner
 * loop is decode + dpbusd + a few scale ops. The generic 256-bit tiles were instruction-bound
 * at 6-16 GB/s on these formats. (Q4_0 and Q4_K live in q4_zmm_avx512.h.) */
/* The Makefile builds every *_avx512.c with -mavx512bf16, but the AVX-512 level requires only
 * VNNI: forbid BF16 instructions here (only bf16_avx512.c, dispatched on its own CPUID bit,
 * may use them). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("no-avx512bf16")
#endif
#include <immintrin.h>

#include "q8_0_block_x86.h"
#include "quant.h"

#define AI static inline __attribute__((always_inline))

AI float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* ---- Q8_0 ---------------------------------------------------------------------------- */
/* Weights are made unsigned (w ^ 0x80 = w + 128) so they can be vpdpbusd's first operand;
 * the extra 128·Σa per block is the accumulator's start value. Activations are arranged once
 * per call: two consecutive blocks per zmm, plus that start value, four blocks per group. */
typedef struct {
    __m512i a01, a23, init01, init23;
    __m128 da;
} q8_act4;

/* A group of four weight blocks decoded once: unsigned quants and the four fp16 scales as f32.
 * The single-token kernel decodes it per row, the verify-batch kernel (mvn_q8_0) once for all
 * the batch's tokens; both then go through q8_0_dot, so every token gets the same operations. */
typedef struct {
    __m512i w01, w23;
    __m128 dw;
} q8_wgroup;

AI q8_wgroup q8_0_decode(const g4q_q8_0 *x)
{
    const __m512i x80 = _mm512_set1_epi8((char)0x80);
    __m512i w01 = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)x[0].qs));
    w01 = _mm512_inserti64x4(w01, _mm256_loadu_si256((const __m256i *)x[1].qs), 1);
    __m512i w23 = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)x[2].qs));
    w23 = _mm512_inserti64x4(w23, _mm256_loadu_si256((const __m256i *)x[3].qs), 1);
    __m128i dh = _mm_cvtsi32_si128(x[0].d);
    dh = _mm_insert_epi16(dh, x[1].d, 1);
    dh = _mm_insert_epi16(dh, x[2].d, 2);
    dh = _mm_insert_epi16(dh, x[3].d, 3);
    return (q8_wgroup){_mm512_xor_si512(w01, x80), _mm512_xor_si512(w23, x80), _mm_cvtph_ps(dh)};
}

/* acc01 += blocks 0,1 of the group, acc23 += blocks 2,3: the two accumulator chains of a row.
 * q8_0_row, q8_0_row2 and q8_0_rown all go through this, so a row's value is the same whichever
 * path (alone, paired with a neighbour, or in a verify batch) computes it. */
AI void q8_0_dot(const q8_wgroup *w, const q8_act4 *a, __m512 *acc01, __m512 *acc23)
{
    const __m512i i01 = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i i23 = _mm512_add_epi32(i01, _mm512_set1_epi32(2));
    const __m512i s01 = _mm512_dpbusd_epi32(a->init01, w->w01, a->a01);
    const __m512i s23 = _mm512_dpbusd_epi32(a->init23, w->w23, a->a23);
    const __m512 dw = _mm512_castps128_ps512(_mm_mul_ps(w->dw, a->da));
    *acc01 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s01), _mm512_permutexvar_ps(i01, dw), *acc01);
    *acc23 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s23), _mm512_permutexvar_ps(i23, dw), *acc23);
}

AI void q8_0_group(const g4q_q8_0 *x, const q8_act4 *a, __m512 *acc01, __m512 *acc23)
{
    const q8_wgroup w = q8_0_decode(x);
    q8_0_dot(&w, a, acc01, acc23);
}

static float q8_0_row(int64_t ng, const g4q_q8_0 *x, const q8_act4 *A)
{
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    for (int64_t g = 0; g < ng; g++, x += 4)
        q8_0_group(x, &A[g], &acc0, &acc1);
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

/* Two rows at once, sharing the activation state (four zmm + scales per group); per row the
 * same two chains and reduction as q8_0_row. */
static void q8_0_row2(int64_t ng, const g4q_q8_0 *x, const g4q_q8_0 *z, const q8_act4 *A, float *y0, float *y1)
{
    __m512 ax0 = _mm512_setzero_ps(), ax1 = _mm512_setzero_ps();
    __m512 az0 = _mm512_setzero_ps(), az1 = _mm512_setzero_ps();
    for (int64_t g = 0; g < ng; g++, x += 4, z += 4) {
        q8_0_group(x, &A[g], &ax0, &ax1);
        q8_0_group(z, &A[g], &az0, &az1);
    }
    *y0 = _mm512_reduce_add_ps(_mm512_add_ps(ax0, ax1));
    *y1 = _mm512_reduce_add_ps(_mm512_add_ps(az0, az1));
}

/* Activation rows of nt tokens (as bytes apart) arranged for q8_0_dot: token t's groups at
 * A + t * ng. NULL if out of memory. */
static q8_act4 *q8_0_arrange(const void *a, size_t as, int64_t nt, int64_t ng)
{
    q8_act4 *A = g4k_scratch(G4K_SCRATCH_GEMM_A, sizeof(q8_act4) * (size_t)(ng * nt + 1));
    if (!A)
        return NULL;
    const __m512i ones = _mm512_set1_epi8(1);
    for (int64_t t = 0; t < nt; t++) {
        const g4q_q8_0 *q = (const g4q_q8_0 *)((const uint8_t *)a + t * as);
        for (int64_t g = 0; g < ng; g++) {
            const g4q_q8_0 *b = q + 4 * g;
            q8_act4 *d = A + t * ng + g;
            __m512i a01 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)b[0].qs)),
                                             _mm256_loadu_si256((const __m256i *)b[1].qs), 1);
            __m512i a23 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)b[2].qs)),
                                             _mm256_loadu_si256((const __m256i *)b[3].qs), 1);
            d->a01 = a01;
            d->a23 = a23;
            /* -128·Σa spread over the lanes the dot uses: -128 · dpbusd(1, a) per lane */
            d->init01 = _mm512_slli_epi32(_mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, a01)), 7);
            d->init23 = _mm512_slli_epi32(_mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, a23)), 7);
            d->da = _mm_set_ps(h2f(b[3].d), h2f(b[2].d), h2f(b[1].d), h2f(b[0].d));
        }
    }
    return A;
}

static void mv_q8_0(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt, float *y,
                    int64_t ys)
{
    (void)nt, (void)ys;
    const int64_t nb = n / 32, ng = nb / 4;
    const g4q_q8_0 *q = a;
    const q8_act4 *A = q8_0_arrange(a, as, 1, ng);
    if (!A)
        return;
    const int64_t tail = ng * 4;
    /* rows r and r + h together (far apart: "Decode row pairing", quant.h) */
    const int64_t h = nr / 2;
    for (int64_t r = 0; r < h; r++) {
        const g4q_q8_0 *x = (const g4q_q8_0 *)((const uint8_t *)w + r * ws);
        const g4q_q8_0 *z = (const g4q_q8_0 *)((const uint8_t *)w + (r + h) * ws);
        float s0, s1;
        q8_0_row2(ng, x, z, A, &s0, &s1);
        for (int64_t b = tail; b < nb; b++) { /* < 4 leftover blocks */
            s0 += g4k_q8_0_block_dot(&x[b], &q[b]);
            s1 += g4k_q8_0_block_dot(&z[b], &q[b]);
        }
        y[r] = s0;
        y[r + h] = s1;
    }
    for (int64_t r = 2 * h; r < nr; r++) {
        const g4q_q8_0 *x = (const g4q_q8_0 *)((const uint8_t *)w + r * ws);
        float s = q8_0_row(ng, x, A);
        for (int64_t b = tail; b < nb; b++) /* < 4 leftover blocks */
            s += g4k_q8_0_block_dot(&x[b], &q[b]);
        y[r] = s;
    }
}

/* Verify batches (2..G4K_MVN_MAX_TOK tokens): each group of weight blocks is loaded and decoded
 * once for up to MVN_TOK_GROUP tokens (more tokens: another pass over the row, from L1), then
 * q8_0_dot per token, in the chain order of q8_0_row; the leftover blocks are added in the same
 * order too, so each token's value is bit for bit its single-token value. The default model's
 * LM head (Q8_0, 262144 x 128) was re-streamed once per token of a verify batch before. */
#define MVN_TOK_GROUP 4
#if defined(__clang__)
#define UNROLL_TOK _Pragma("unroll")
#else
#define UNROLL_TOK _Pragma("GCC unroll 4")
#endif

/* Rows x and z (far apart, as mv_q8_0 pairs them) for NT tokens: each group of weights decoded
 * once, each token's arranged activations loaded once for both rows. Per row and token, the
 * chains and the order of q8_0_row. */
AI void q8_0_rown(int64_t nb, const g4q_q8_0 *x, const g4q_q8_0 *z, const q8_act4 *A, int64_t a_ng,
                  const uint8_t *a, size_t as, float *yx, float *yz, int64_t ys, const int NT)
{
    const int64_t ng = nb / 4;
    const int two = z != NULL;
    __m512 ax0[MVN_TOK_GROUP], ax1[MVN_TOK_GROUP], az0[MVN_TOK_GROUP], az1[MVN_TOK_GROUP];
    UNROLL_TOK for (int t = 0; t < NT; t++) ax0[t] = ax1[t] = az0[t] = az1[t] = _mm512_setzero_ps();
    for (int64_t g = 0; g < ng; g++) {
        for (int o = 0; o < 4 * (int)sizeof *x; o += 64)
            _mm_prefetch((const char *)(x + 4 * g) + G4K_MVN_PREFETCH + o, _MM_HINT_T0);
        const q8_wgroup wx = q8_0_decode(x + 4 * g);
        if (two) {
            for (int o = 0; o < 4 * (int)sizeof *z; o += 64)
                _mm_prefetch((const char *)(z + 4 * g) + G4K_MVN_PREFETCH + o, _MM_HINT_T0);
            const q8_wgroup wz = q8_0_decode(z + 4 * g);
            UNROLL_TOK for (int t = 0; t < NT; t++) {
                q8_0_dot(&wx, &A[t * a_ng + g], &ax0[t], &ax1[t]);
                q8_0_dot(&wz, &A[t * a_ng + g], &az0[t], &az1[t]);
            }
        } else {
            UNROLL_TOK for (int t = 0; t < NT; t++) q8_0_dot(&wx, &A[t * a_ng + g], &ax0[t], &ax1[t]);
        }
    }
    UNROLL_TOK for (int t = 0; t < NT; t++) {
        const g4q_q8_0 *q = (const g4q_q8_0 *)(a + (size_t)t * as);
        float s = _mm512_reduce_add_ps(_mm512_add_ps(ax0[t], ax1[t]));
        for (int64_t b = 4 * ng; b < nb; b++) /* < 4 leftover blocks */
            s += g4q_dot_q8_0(32, &x[b], &q[b]);
        yx[t * ys] = s;
        if (two) {
            s = _mm512_reduce_add_ps(_mm512_add_ps(az0[t], az1[t]));
            for (int64_t b = 4 * ng; b < nb; b++)
                s += g4q_dot_q8_0(32, &z[b], &q[b]);
            yz[t * ys] = s;
        }
    }
}

static void mvn_q8_0(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt, float *y,
                     int64_t ys)
{
    const int64_t nb = n / 32, ng = nb / 4;
    const q8_act4 *A = q8_0_arrange(a, as, nt, ng);
    if (!A)
        return;
    const int64_t h = nr / 2;
    for (int64_t r = 0; r < h + (nr & 1); r++) {
        /* rows r and r + h; an odd last row alone */
        const int64_t rx = r < h ? r : nr - 1;
        const g4q_q8_0 *x = (const g4q_q8_0 *)((const uint8_t *)w + rx * ws);
        const g4q_q8_0 *z = r < h ? (const g4q_q8_0 *)((const uint8_t *)w + (r + h) * ws) : NULL;
        for (int64_t t0 = 0; t0 < nt; t0 += MVN_TOK_GROUP) {
            const q8_act4 *At = A + t0 * ng;
            const uint8_t *at = (const uint8_t *)a + t0 * as;
            float *yx = y + t0 * ys + rx, *yz = y + t0 * ys + r + h;
            switch (nt - t0 < MVN_TOK_GROUP ? nt - t0 : MVN_TOK_GROUP) {
            case 1: q8_0_rown(nb, x, z, At, ng, at, as, yx, yz, ys, 1); break;
            case 2: q8_0_rown(nb, x, z, At, ng, at, as, yx, yz, ys, 2); break;
            case 3: q8_0_rown(nb, x, z, At, ng, at, as, yx, yz, ys, 3); break;
            default: q8_0_rown(nb, x, z, At, ng, at, as, yx, yz, ys, 4); break;
            }
        }
    }
}

/* ---- Q5_K ---------------------------------------------------------------------------- */
/* As q4_K_row (q4_zmm_avx512.h): low nibbles of qs[0..63] are sub-blocks 0|2, high 1|3; the
 * fifth bit of sub-block j is bit j of qh, so [qh | qh >> 2] supplies bits for 0|2 (bit 0),
 * 1|3 (bit 1), 4|6 (bit 4) and 5|7 (bit 5). */
AI __m128i scales_mins_k4(const uint8_t *s12)
{
    uint32_t u[4];
    memcpy(u, s12, 12);
    const uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
    u[3] = ((u[2] >> 4) & kmask2) | (((u[1] >> 6) & kmask3) << 4);
    const uint32_t uaux = u[1] & kmask1;
    u[1] = (u[2] & kmask2) | (((u[0] >> 6) & kmask3) << 4);
    u[2] = uaux;
    u[0] &= kmask1;
    return _mm_set_epi32((int)u[3], (int)u[2], (int)u[1], (int)u[0]);
}

static float q5_K_row(int64_t nb, const g4q_q5_K *x, const g4q_q8_K *q)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F), b4 = _mm512_set1_epi8(0x10);
    const __m512i i02 = _mm512_set_epi32(2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i i13 = _mm512_add_epi32(i02, _mm512_set1_epi32(1));
    const __m512i i46 = _mm512_add_epi32(i02, _mm512_set1_epi32(4));
    const __m512i i57 = _mm512_add_epi32(i02, _mm512_set1_epi32(5));
    __m512 acc = _mm512_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m128i sm = scales_mins_k4(x[i].scales);
        const __m512i sc = _mm512_cvtepu8_epi32(sm);
        const __m512i qa = _mm512_loadu_si512(x[i].qs), qb = _mm512_loadu_si512(x[i].qs + 64);
        const __m256i h = _mm256_loadu_si256((const __m256i *)x[i].qh);
        const __m512i H = _mm512_inserti64x4(_mm512_castsi256_si512(h), _mm256_srli_epi16(h, 2), 1);
        const __m512i A0 = _mm512_loadu_si512(q[i].qs), A1 = _mm512_loadu_si512(q[i].qs + 64);
        const __m512i A2 = _mm512_loadu_si512(q[i].qs + 128), A3 = _mm512_loadu_si512(q[i].qs + 192);
        const __m512i w0 = _mm512_or_si512(_mm512_and_si512(qa, m4), _mm512_and_si512(_mm512_slli_epi16(H, 4), b4));
        const __m512i w1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(qa, 4), m4),
                                           _mm512_and_si512(_mm512_slli_epi16(H, 3), b4));
        const __m512i w2 = _mm512_or_si512(_mm512_and_si512(qb, m4), _mm512_and_si512(H, b4));
        const __m512i w3 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(qb, 4), m4),
                                           _mm512_and_si512(_mm512_srli_epi16(H, 1), b4));
        const __m512i z = _mm512_setzero_si512();
        __m512i p = _mm512_mullo_epi32(_mm512_dpbusd_epi32(z, w0, _mm512_shuffle_i64x2(A0, A1, 0x44)),
                                       _mm512_permutexvar_epi32(i02, sc));
        p = _mm512_add_epi32(p, _mm512_mullo_epi32(_mm512_dpbusd_epi32(z, w1, _mm512_shuffle_i64x2(A0, A1, 0xEE)),
                                                   _mm512_permutexvar_epi32(i13, sc)));
        p = _mm512_add_epi32(p, _mm512_mullo_epi32(_mm512_dpbusd_epi32(z, w2, _mm512_shuffle_i64x2(A2, A3, 0x44)),
                                                   _mm512_permutexvar_epi32(i46, sc)));
        p = _mm512_add_epi32(p, _mm512_mullo_epi32(_mm512_dpbusd_epi32(z, w3, _mm512_shuffle_i64x2(A2, A3, 0xEE)),
                                                   _mm512_permutexvar_epi32(i57, sc)));
        acc = _mm512_fmadd_ps(_mm512_set1_ps(h2f(x[i].d) * q[i].d), _mm512_cvtepi32_ps(p), acc);
        const __m256i bs = _mm256_loadu_si256((const __m256i *)q[i].bsums);
        const __m128i s = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
        const __m128i pm = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(sm, 8)), s);
        accm = _mm_fmadd_ps(_mm_set1_ps(h2f(x[i].dmin) * q[i].d), _mm_cvtepi32_ps(pm), accm);
    }
    __m128 m = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    return _mm512_reduce_add_ps(acc) - _mm_cvtss_f32(m);
}

static void mv_q5_K(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt, float *y,
                    int64_t ys)
{
    (void)as, (void)nt, (void)ys;
    for (int64_t r = 0; r < nr; r++)
        y[r] = q5_K_row(n / G4_QK_K, (const g4q_q5_K *)((const uint8_t *)w + r * ws), a);
}

/* ---- Q6_K ---------------------------------------------------------------------------- */
/* 64 weights per zmm in natural order: ql[0..63] low nibbles are elements 0..63 of a half,
 * high nibbles 64..127; the 2-bit highs come from [qh | qh >> 2]. Quants stay unsigned (0..63);
 * the -32 returns as 32·Σ sc_g·bsum_g. One scale per 16 weights = per 4 i32 lanes. */
static float q6_K_row(int64_t nb, const g4q_q6_K *x, const g4q_q8_K *q)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    /* word w of the m-th zmm of a block belongs to scale 4m + w / 8 */
    const __m512i sidx0 = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2,
                                           1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i four = _mm512_set1_epi16(4);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)x[i].scales);
        const __m512i scw = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(sc8));
        __m512i p = _mm512_setzero_si512(), idx = sidx0;
        for (int h = 0; h < 2; h++) {
            const __m512i L = _mm512_loadu_si512(x[i].ql + 64 * h);
            const __m256i hh = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
            const __m512i H = _mm512_inserti64x4(_mm512_castsi256_si512(hh), _mm256_srli_epi16(hh, 2), 1);
            const __m512i wlo = _mm512_or_si512(_mm512_and_si512(L, m4), _mm512_and_si512(_mm512_slli_epi16(H, 4), m30));
            const __m512i whi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), m4), _mm512_and_si512(H, m30));
            const __m512i a0 = _mm512_loadu_si512(q[i].qs + 128 * h), a1 = _mm512_loadu_si512(q[i].qs + 128 * h + 64);
            /* u6 x s8 pairs -> i16 (|.| <= 2*63*128, no saturation), then x scale -> i32 */
            p = _mm512_dpwssd_epi32(p, _mm512_maddubs_epi16(wlo, a0), _mm512_permutexvar_epi16(idx, scw));
            idx = _mm512_add_epi16(idx, four);
            p = _mm512_dpwssd_epi32(p, _mm512_maddubs_epi16(whi, a1), _mm512_permutexvar_epi16(idx, scw));
            idx = _mm512_add_epi16(idx, four);
        }
        const __m256i bs = _mm256_loadu_si256((const __m256i *)q[i].bsums);
        const __m256i mm = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8), bs);
        p = _mm512_sub_epi32(p, _mm512_zextsi256_si512(_mm256_slli_epi32(mm, 5)));
        acc = _mm512_fmadd_ps(_mm512_set1_ps(h2f(x[i].d) * q[i].d), _mm512_cvtepi32_ps(p), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

/* Two rows at once, sharing the activation loads (4 zmm per block) between them. */
static void q6_K_row2(int64_t nb, const g4q_q6_K *x0, const g4q_q6_K *x1, const g4q_q8_K *q, float *y0, float *y1)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    const __m512i sidx0 = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2,
                                           1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i four = _mm512_set1_epi16(4);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m128i sc80 = _mm_loadu_si128((const __m128i *)x0[i].scales);
        const __m128i sc81 = _mm_loadu_si128((const __m128i *)x1[i].scales);
        const __m512i scw0 = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(sc80));
        const __m512i scw1 = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(sc81));
        __m512i p0 = _mm512_setzero_si512(), p1 = _mm512_setzero_si512(), idx = sidx0;
        for (int h = 0; h < 2; h++) {
            const __m512i a0 = _mm512_loadu_si512(q[i].qs + 128 * h), a1 = _mm512_loadu_si512(q[i].qs + 128 * h + 64);
            const __m512i idx1 = _mm512_add_epi16(idx, four);
#define Q6_HALF(x, scw, p)                                                                                          \
    do {                                                                                                            \
        const __m512i L = _mm512_loadu_si512(x[i].ql + 64 * h);                                                     \
        const __m256i hh = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));                                 \
        const __m512i H = _mm512_inserti64x4(_mm512_castsi256_si512(hh), _mm256_srli_epi16(hh, 2), 1);              \
        const __m512i wlo = _mm512_or_si512(_mm512_and_si512(L, m4), _mm512_and_si512(_mm512_slli_epi16(H, 4), m30)); \
        const __m512i whi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), m4), _mm512_and_si512(H, m30)); \
        p = _mm512_dpwssd_epi32(p, _mm512_maddubs_epi16(wlo, a0), _mm512_permutexvar_epi16(idx, scw));              \
        p = _mm512_dpwssd_epi32(p, _mm512_maddubs_epi16(whi, a1), _mm512_permutexvar_epi16(idx1, scw));             \
    } while (0)
            Q6_HALF(x0, scw0, p0);
            Q6_HALF(x1, scw1, p1);
#undef Q6_HALF
            idx = _mm512_add_epi16(idx1, four);
        }
        const __m256i bs = _mm256_loadu_si256((const __m256i *)q[i].bsums);
        const __m256i mm0 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc80), bs);
        const __m256i mm1 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc81), bs);
        p0 = _mm512_sub_epi32(p0, _mm512_zextsi256_si512(_mm256_slli_epi32(mm0, 5)));
        p1 = _mm512_sub_epi32(p1, _mm512_zextsi256_si512(_mm256_slli_epi32(mm1, 5)));
        acc0 = _mm512_fmadd_ps(_mm512_set1_ps(h2f(x0[i].d) * q[i].d), _mm512_cvtepi32_ps(p0), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_set1_ps(h2f(x1[i].d) * q[i].d), _mm512_cvtepi32_ps(p1), acc1);
    }
    *y0 = _mm512_reduce_add_ps(acc0);
    *y1 = _mm512_reduce_add_ps(acc1);
}

static void mv_q6_K(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt, float *y,
                    int64_t ys)
{
    (void)as, (void)nt, (void)ys;
    /* rows r and r + h together (far apart: "Decode row pairing", quant.h) */
    const int64_t h = nr / 2;
    for (int64_t r = 0; r < h; r++)
        q6_K_row2(n / G4_QK_K, (const g4q_q6_K *)((const uint8_t *)w + r * ws),
                  (const g4q_q6_K *)((const uint8_t *)w + (r + h) * ws), a, y + r, y + r + h);
    if (nr & 1)
        y[nr - 1] = q6_K_row(n / G4_QK_K, (const g4q_q6_K *)((const uint8_t *)w + (nr - 1) * ws), a);
}

/* ---- IQ4_XS -------------------------------------------------------------------------- */
/* 4 sub-blocks (of 32) per zmm pair: lane k of qs[0..63] holds sub-block k's 16 bytes, its low
 * nibbles are elements 0..15, high 16..31 (the q4_0 zmm layout), so activations are arranged
 * once per call into [lo | hi] halves per lane. The table is biased by +128 (unsigned for
 * vpdpbusd); the -128·Σa per lane starts the accumulator. */
typedef struct {
    __m512i lo, hi, init;
} iq4_act4;

static float iq4_xs_row(int64_t nb, const g4q_iq4_xs *x, const iq4_act4 *A, const float *da)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i tab = _mm512_broadcast_i32x4(
        _mm_add_epi8(_mm_loadu_si128((const __m128i *)g4q_kvalues_iq4nl), _mm_set1_epi8((char)0x80)));
    /* sub-block s = 4z + k for lane group k of zmm z: its low scale bits are scales_l >> 4s,
     * its high bits scales_h >> 2s */
    const __m512i sl_shift = _mm512_set_epi32(12, 12, 12, 12, 8, 8, 8, 8, 4, 4, 4, 4, 0, 0, 0, 0);
    const __m512i sh_shift = _mm512_set_epi32(6, 6, 6, 6, 4, 4, 4, 4, 2, 2, 2, 2, 0, 0, 0, 0);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++, A += 2) {
        uint32_t sl;
        memcpy(&sl, x[i].scales_l, 4);
        /* ls(s) = (scales_l nibble s) | (scales_h bits 2s..2s+1) << 4, s = 0..7 */
        const __m512i vsl = _mm512_set1_epi32((int)sl), vsh = _mm512_set1_epi32(x[i].scales_h);
        __m512i p = _mm512_setzero_si512();
        for (int z = 0; z < 2; z++) {
            const __m512i lsv = _mm512_sub_epi32(
                _mm512_or_si512(_mm512_and_si512(_mm512_srlv_epi32(vsl, _mm512_add_epi32(sl_shift, _mm512_set1_epi32(16 * z))), _mm512_set1_epi32(0xF)),
                                _mm512_slli_epi32(_mm512_and_si512(_mm512_srlv_epi32(vsh, _mm512_add_epi32(sh_shift, _mm512_set1_epi32(8 * z))), _mm512_set1_epi32(3)), 4)),
                _mm512_set1_epi32(32));
            const __m512i raw = _mm512_loadu_si512(x[i].qs + 64 * z);
            const __m512i wl = _mm512_shuffle_epi8(tab, _mm512_and_si512(raw, m4));
            const __m512i wh = _mm512_shuffle_epi8(tab, _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4));
            const __m512i s = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(A[z].init, wl, A[z].lo), wh, A[z].hi);
            p = _mm512_add_epi32(p, _mm512_mullo_epi32(s, lsv));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(h2f(x[i].d) * da[i]), _mm512_cvtepi32_ps(p), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

static void mv_iq4_xs(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt, float *y,
                      int64_t ys)
{
    (void)as, (void)nt, (void)ys;
    const int64_t nb = n / G4_QK_K;
    const g4q_q8_K *q = a;
    iq4_act4 *A = g4k_scratch(G4K_SCRATCH_GEMM_A, (sizeof(iq4_act4) * 2 + sizeof(float)) * (size_t)nb + 64);
    if (!A)
        return;
    float *da = (float *)(A + 2 * nb);
    const __m512i ones = _mm512_set1_epi8(1);
    for (int64_t i = 0; i < nb; i++) {
        da[i] = q[i].d;
        for (int z = 0; z < 2; z++) {
            const int8_t *qs = q[i].qs + 128 * z;
            __m512i lo = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)qs));
            __m512i hi = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(qs + 16)));
#define INS(k)                                                                                     \
    lo = _mm512_inserti32x4(lo, _mm_loadu_si128((const __m128i *)(qs + 32 * k)), k);               \
    hi = _mm512_inserti32x4(hi, _mm_loadu_si128((const __m128i *)(qs + 32 * k + 16)), k);
            INS(1) INS(2) INS(3)
#undef INS
            const __m512i asum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, lo), ones, hi);
            A[2 * i + z].lo = lo;
            A[2 * i + z].hi = hi;
            A[2 * i + z].init = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(asum, 7));
        }
    }
    for (int64_t r = 0; r < nr; r++)
        y[r] = iq4_xs_row(nb, (const g4q_iq4_xs *)((const uint8_t *)w + r * ws), A, da);
}

/* ---- IQ4_NL, MXFP4, Q5_0: four 32-blocks per zmm (the Q4_0 layout) ---------------------- */
/* Lane k of a zmm holds block k's 16 packed bytes: low nibbles are elements 0..15, high 16..31.
 * Weights become unsigned bytes (table + 128, or the 5-bit Q5_0 value) and the constant offset
 * (-128 or -16 times Σa per lane) starts the accumulator; activations are arranged once. */
typedef struct {
    __m512i lo, hi, init128, init16;
    __m128 da;
    float pad[12];
} b32_act4;

static b32_act4 *b32_arrange(const g4q_q8_0 *q, int64_t ng)
{
    b32_act4 *A = g4k_scratch(G4K_SCRATCH_GEMM_A, sizeof(b32_act4) * (size_t)(ng + 1));
    if (!A)
        return NULL;
    const __m512i ones = _mm512_set1_epi8(1);
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
        A[g].lo = lo;
        A[g].hi = hi;
        A[g].init128 = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(asum, 7));
        A[g].init16 = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(asum, 4));
        A[g].da = _mm_set_ps(h2f(b[3].d), h2f(b[2].d), h2f(b[1].d), h2f(b[0].d));
    }
    return A;
}

/* 4 blocks' 16 qs bytes (blocks `bs` bytes apart, qs at offset `qo`) into one zmm */
AI __m512i load4x16(const uint8_t *p, size_t bs)
{
    __m512i raw = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)p));
    raw = _mm512_inserti32x4(raw, _mm_loadu_si128((const __m128i *)(p + bs)), 1);
    raw = _mm512_inserti32x4(raw, _mm_loadu_si128((const __m128i *)(p + 2 * bs)), 2);
    return _mm512_inserti32x4(raw, _mm_loadu_si128((const __m128i *)(p + 3 * bs)), 3);
}
AI __m128 f16x4(const uint8_t *p, size_t bs)
{
    uint16_t h[4];
    for (int k = 0; k < 4; k++)
        memcpy(&h[k], p + k * bs, 2);
    return _mm_cvtph_ps(_mm_set_epi16(0, 0, 0, 0, (short)h[3], (short)h[2], (short)h[1], (short)h[0]));
}

/* T: 0 IQ4_NL, 1 MXFP4, 2 Q5_0 */
AI float b32_row(int64_t ng, const uint8_t *x, const b32_act4 *A, const int T)
{
    const size_t bs = T == 0 ? sizeof(g4q_iq4_nl) : T == 1 ? sizeof(g4q_mxfp4) : sizeof(g4q_q5_0);
    const size_t qo = T == 0 ? offsetof(g4q_iq4_nl, qs) : T == 1 ? offsetof(g4q_mxfp4, qs) : offsetof(g4q_q5_0, qs);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i tab = _mm512_broadcast_i32x4(_mm_add_epi8(
        _mm_loadu_si128((const __m128i *)(T == 1 ? g4q_kvalues_mxfp4 : g4q_kvalues_iq4nl)), _mm_set1_epi8((char)0x80)));
    const __m512i pidx = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t g = 0; g < ng; g++, x += 4 * bs) {
        const __m512i raw = load4x16(x + qo, bs);
        __m512i wl = _mm512_and_si512(raw, m4), wh = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
        __m512i init;
        __m128 dw;
        if (T == 2) {
            /* fifth bits: qh bits 0..15 go with the low nibbles, 16..31 with the high ones */
            uint32_t qh[4];
            for (int k = 0; k < 4; k++)
                memcpy(&qh[k], x + k * bs + offsetof(g4q_q5_0, qh), 4);
            const uint64_t ml = (uint64_t)(qh[0] & 0xFFFF) | (uint64_t)(qh[1] & 0xFFFF) << 16 |
                                (uint64_t)(qh[2] & 0xFFFF) << 32 | (uint64_t)(qh[3] & 0xFFFF) << 48;
            const uint64_t mh = (uint64_t)(qh[0] >> 16) | (uint64_t)(qh[1] >> 16) << 16 | (uint64_t)(qh[2] >> 16) << 32 |
                                (uint64_t)(qh[3] >> 16) << 48;
            const __m512i b4 = _mm512_set1_epi8(0x10);
            wl = _mm512_or_si512(wl, _mm512_maskz_mov_epi8(ml, b4));
            wh = _mm512_or_si512(wh, _mm512_maskz_mov_epi8(mh, b4));
            init = A[g].init16;
            dw = f16x4(x, bs);
        } else {
            wl = _mm512_shuffle_epi8(tab, wl);
            wh = _mm512_shuffle_epi8(tab, wh);
            init = A[g].init128;
            if (T == 0)
                dw = f16x4(x, bs);
            else
                dw = _mm_set_ps(g4q_e8m0_half(x[3 * bs]), g4q_e8m0_half(x[2 * bs]), g4q_e8m0_half(x[bs]), g4q_e8m0_half(x[0]));
        }
        const __m512i isum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(init, wl, A[g].lo), wh, A[g].hi);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum),
                              _mm512_permutexvar_ps(pidx, _mm512_castps128_ps512(_mm_mul_ps(dw, A[g].da))), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

#define MV_B32(NAME, BT, T, ID)                                                                      \
    static void NAME(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt, \
                     float *y, int64_t ys)                                                         \
    {                                                                                              \
        (void)as, (void)nt, (void)ys;                                                              \
        const int64_t nb = n / 32, ng = nb / 4;                                                    \
        const g4q_q8_0 *q = a;                                                                     \
        const b32_act4 *A = b32_arrange(q, ng);                                                    \
        if (!A)                                                                                    \
            return;                                                                                \
        for (int64_t r = 0; r < nr; r++) {                                                         \
            const BT *x = (const BT *)((const uint8_t *)w + r * ws);                               \
            float s = b32_row(ng, (const uint8_t *)x, A, T);                                       \
            for (int64_t b = 4 * ng; b < nb; b++) /* < 4 leftover blocks */                        \
                s += g4q_traits_get(ID)->dot(32, &x[b], &q[b]);                    \
            y[r] = s;                                                                              \
        }                                                                                          \
    }
MV_B32(mv_iq4_nl, g4q_iq4_nl, 0, G4_TYPE_IQ4_NL)
MV_B32(mv_mxfp4, g4q_mxfp4, 1, G4_TYPE_MXFP4)
MV_B32(mv_q5_0, g4q_q5_0, 2, G4_TYPE_Q5_0)

void g4k_fill_avx512_mv(g4k_kernels *k)
{
    k->mv[G4_TYPE_Q8_0] = mv_q8_0;
    k->mvn[G4_TYPE_Q8_0] = mvn_q8_0;
    k->mv[G4_TYPE_Q5_K] = mv_q5_K;
    k->mv[G4_TYPE_Q6_K] = mv_q6_K;
    k->mv[G4_TYPE_IQ4_XS] = mv_iq4_xs;
    k->mv[G4_TYPE_IQ4_NL] = mv_iq4_nl;
    k->mv[G4_TYPE_MXFP4] = mv_mxfp4;
    k->mv[G4_TYPE_Q5_0] = mv_q5_0;
}
