/* Single-token (decode) AVX2 kernels for Q4_0, Q8_0, Q4_K and Q6_K (maddubs/madd; AVX2-only CPUs are
 * common). One row at a time, one sequential stream; the fp16 block scales of four blocks are
 * converted together; constant offsets are folded in through activation sums arranged once per
 * call. The generic 2-row × 1-token tiles of mm_x86.h ran these at 5-9 GB/s. */
#include <immintrin.h>

#include "q8_0_block_x86.h"
#include "quant.h"

#define AI static inline __attribute__((always_inline))

AI float h2f(uint16_t h) { return _cvtsh_ss(h); }
AI float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
/* f32 [d0 d1 d2 d3] of four fp16 block scales (blocks `stride` bytes apart) times da. */
AI __m128 scales4(const uint8_t *p, size_t stride, __m128 da)
{
    uint16_t h0, h1, h2, h3;
    memcpy(&h0, p, 2);
    memcpy(&h1, p + stride, 2);
    memcpy(&h2, p + 2 * stride, 2);
    memcpy(&h3, p + 3 * stride, 2);
    const __m128i v = _mm_set_epi16(0, 0, 0, 0, (short)h3, (short)h2, (short)h1, (short)h0);
    return _mm_mul_ps(_mm_cvtph_ps(v), da);
}
/* [s[a] × 4 | s[b] × 4] */
#define PAIR_IDX(a, b) _mm256_set_epi32(b, b, b, b, a, a, a, a)
AI __m256 bcast_by(__m128 s, __m256i idx) { return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(s), idx); }

/* ---- Q4_0: two blocks per ymm ----------------------------------------------------------- */
/* Weights [blk0 qs | blk1 qs]: low nibbles are elements 0..15 of each block, high 16..31; the
 * activations are arranged the same way once per call, with -8·Σa per lane half as init. */
typedef struct {
    __m256i lo01, hi01, lo23, hi23, init01, init23;
    __m128 da;
    float pad[4];
} q4_0_act;

static float q4_0_row_avx2(int64_t ng, const g4q_q4_0 *x, const q4_0_act *A)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    const __m256i i01 = PAIR_IDX(0, 1), i23 = PAIR_IDX(2, 3);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (int64_t g = 0; g < ng; g++, x += 4) {
        const __m256i r01 = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)x[1].qs), _mm_loadu_si128((const __m128i *)x[0].qs));
        const __m256i r23 = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)x[3].qs), _mm_loadu_si128((const __m128i *)x[2].qs));
        /* u8 nibble × s8: pairs ≤ 2·15·127, two of them summed still fit in i16 */
        const __m256i p01 = _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_and_si256(r01, m4), A[g].lo01),
                                             _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(r01, 4), m4), A[g].hi01));
        const __m256i p23 = _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_and_si256(r23, m4), A[g].lo23),
                                             _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(r23, 4), m4), A[g].hi23));
        const __m256i s01 = _mm256_add_epi32(_mm256_madd_epi16(p01, ones), A[g].init01);
        const __m256i s23 = _mm256_add_epi32(_mm256_madd_epi16(p23, ones), A[g].init23);
        const __m128 d = scales4((const uint8_t *)&x[0].d, sizeof *x, A[g].da);
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s01), bcast_by(d, i01), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s23), bcast_by(d, i23), acc1);
    }
    return hsum8(_mm256_add_ps(acc0, acc1));
}

static void mv_q4_0(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt, float *y,
                    int64_t ys)
{
    (void)as, (void)nt, (void)ys;
    const int64_t nb = n / 32, ng = nb / 4;
    const g4q_q8_0 *q = a;
    q4_0_act *A = g4k_scratch(G4K_SCRATCH_GEMM_A, sizeof(q4_0_act) * (size_t)(ng + 1));
    if (!A)
        return;
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int64_t g = 0; g < ng; g++) {
        const g4q_q8_0 *b = q + 4 * g;
        __m256i v[4];
        for (int h = 0; h < 2; h++) { /* h = 0: blocks 0,1; h = 1: blocks 2,3 */
            const g4q_q8_0 *b0 = b + 2 * h, *b1 = b + 2 * h + 1;
            v[2 * h] = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)b1->qs), _mm_loadu_si128((const __m128i *)b0->qs));
            v[2 * h + 1] = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)(b1->qs + 16)),
                                            _mm_loadu_si128((const __m128i *)(b0->qs + 16)));
        }
        A[g].lo01 = v[0];
        A[g].hi01 = v[1];
        A[g].lo23 = v[2];
        A[g].hi23 = v[3];
        /* -8·Σa per i32 lane, matching the lanes of madd(maddubs(.)) */
        const __m256i s01 = _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(ones8, v[0]), _mm256_maddubs_epi16(ones8, v[1])), ones16);
        const __m256i s23 = _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(ones8, v[2]), _mm256_maddubs_epi16(ones8, v[3])), ones16);
        A[g].init01 = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(s01, 3));
        A[g].init23 = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(s23, 3));
        A[g].da = _mm_set_ps(h2f(b[3].d), h2f(b[2].d), h2f(b[1].d), h2f(b[0].d));
    }
    for (int64_t r = 0; r < nr; r++) {
        const g4q_q4_0 *x = (const g4q_q4_0 *)((const uint8_t *)w + r * ws);
        float s = q4_0_row_avx2(ng, x, A);
        for (int64_t b = 4 * ng; b < nb; b++) /* < 4 leftover blocks */
            s += g4q_dot_q4_0(32, &x[b], &q[b]);
        y[r] = s;
    }
}

/* ---- Q8_0: sign trick (|w| × a·sign(w): pairs ≤ 2·128·127 fit maddubs' i16) ---------------- */
static float q8_0_row_avx2(int64_t ng, const g4q_q8_0 *x, const g4q_q8_0 *q, const __m128 *da4)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t g = 0; g < ng; g++, x += 4, q += 4) {
        const __m128 d = scales4((const uint8_t *)&x[0].d, sizeof *x, da4[g]);
        for (int k = 0; k < 4; k++) {
            const __m256i wv = _mm256_loadu_si256((const __m256i *)x[k].qs);
            const __m256i av = _mm256_loadu_si256((const __m256i *)q[k].qs);
            const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(av, wv)), ones);
            acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), bcast_by(d, _mm256_set1_epi32(k)), acc[k]);
        }
    }
    return hsum8(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
}

static void mv_q8_0(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt, float *y,
                    int64_t ys)
{
    (void)as, (void)nt, (void)ys;
    const int64_t nb = n / 32, ng = nb / 4;
    const g4q_q8_0 *q = a;
    __m128 *da4 = g4k_scratch(G4K_SCRATCH_GEMM_A, sizeof(__m128) * (size_t)(ng + 1));
    if (!da4)
        return;
    for (int64_t g = 0; g < ng; g++)
        da4[g] = _mm_set_ps(h2f(q[4 * g + 3].d), h2f(q[4 * g + 2].d), h2f(q[4 * g + 1].d), h2f(q[4 * g].d));
    for (int64_t r = 0; r < nr; r++) {
        const g4q_q8_0 *x = (const g4q_q8_0 *)((const uint8_t *)w + r * ws);
        float s = q8_0_row_avx2(ng, x, q, da4);
        for (int64_t b = 4 * ng; b < nb; b++) /* < 4 leftover blocks */
            s += g4k_q8_0_block_dot(&x[b], &q[b]);
        y[r] = s;
    }
}

/* ---- Q4_K: sub-block scales broadcast by pshufb, min term kept in a vector ---------------- */
AI __m128i q4k_scales_mins(const uint8_t *s12) /* sc0..7 in bytes 0..7, m0..7 in 8..15 */
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

static float q4_K_row_avx2(int64_t nb, const g4q_q4_K *x, const g4q_q8_K *q)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m128i sm = q4k_scales_mins(x[i].scales);
        const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm)); /* i16 sc0..7, twice */
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            const __m256i b = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));
            /* u8 nibble × s8: pairs ≤ 2·15·127, no saturation */
            const __m256i plo = _mm256_maddubs_epi16(_mm256_and_si256(b, m4), _mm256_loadu_si256((const __m256i *)(q[i].qs + 64 * j)));
            const __m256i phi = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(b, 4), m4),
                                                     _mm256_loadu_si256((const __m256i *)(q[i].qs + 64 * j + 32)));
            const __m256i slo = _mm256_shuffle_epi8(sc, _mm256_set1_epi16((short)(0x0100 + 0x0202 * (2 * j))));
            const __m256i shi = _mm256_shuffle_epi8(sc, _mm256_set1_epi16((short)(0x0100 + 0x0202 * (2 * j + 1))));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_madd_epi16(plo, slo), _mm256_madd_epi16(phi, shi)));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * q[i].d), _mm256_cvtepi32_ps(sumi), acc);
        const __m256i bs = _mm256_loadu_si256((const __m256i *)q[i].bsums);
        const __m128i s = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
        const __m128i pm = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(sm, 8)), s);
        accm = _mm_fmadd_ps(_mm_set1_ps(h2f(x[i].dmin) * q[i].d), _mm_cvtepi32_ps(pm), accm);
    }
    __m128 m = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    return hsum8(acc) - _mm_cvtss_f32(m);
}

static void mv_q4_K(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt, float *y,
                    int64_t ys)
{
    (void)as, (void)nt, (void)ys;
    for (int64_t r = 0; r < nr; r++)
        y[r] = q4_K_row_avx2(n / G4_QK_K, (const g4q_q4_K *)((const uint8_t *)w + r * ws), a);
}

/* ---- Q6_K: unsigned quants (0..63), the -32 via 32·Σ sc·bsum; per-16 scales by pshufb ------- */
static float q6_K_row_avx2(int64_t nb, const g4q_q6_K *x, const g4q_q8_K *q)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    __m256i pick[4]; /* lane 0: i16 scale 2g, lane 1: 2g+1 */
    for (int g = 0; g < 4; g++)
        pick[g] = _mm256_set_m128i(_mm_set1_epi16((short)(0x0100 + 0x0202 * (2 * g + 1))),
                                   _mm_set1_epi16((short)(0x0100 + 0x0202 * (2 * g))));
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        const __m256i half_sc[2] = {_mm256_permute4x64_epi64(sc, 0x44), _mm256_permute4x64_epi64(sc, 0xEE)};
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h));
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h + 32));
            const __m256i hh = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
            __m256i w[4];
            w[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(hh, 4), m30));
            w[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(hh, 2), m30));
            w[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(hh, m30));
            w[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(hh, 2), m30));
            for (int g = 0; g < 4; g++) {
                /* u8 (≤ 63) × s8: pairs ≤ 2·63·128, fits i16 */
                const __m256i p = _mm256_maddubs_epi16(w[g], _mm256_loadu_si256((const __m256i *)(q[i].qs + 128 * h + 32 * g)));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, _mm256_shuffle_epi8(half_sc[h], pick[g])));
            }
        }
        const __m256i mm = _mm256_madd_epi16(sc, _mm256_loadu_si256((const __m256i *)q[i].bsums));
        sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(mm, 5));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * q[i].d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(acc);
}

static void mv_q6_K(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt, float *y,
                    int64_t ys)
{
    (void)as, (void)nt, (void)ys;
    for (int64_t r = 0; r < nr; r++)
        y[r] = q6_K_row_avx2(n / G4_QK_K, (const g4q_q6_K *)((const uint8_t *)w + r * ws), a);
}

void g4k_fill_avx2_mv(g4k_kernels *k)
{
    k->mv[G4_TYPE_Q6_K] = mv_q6_K;
    k->mv[G4_TYPE_Q4_K] = mv_q4_K;
    k->mv[G4_TYPE_Q4_0] = mv_q4_0;
    k->mv[G4_TYPE_Q8_0] = mv_q8_0;
}
