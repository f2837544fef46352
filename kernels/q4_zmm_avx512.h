/* AVX-512 VNNI decode (one token) kernels for the two formats that dominate Gemma 4 files,
 * Q4_0 and Q4_K, using full 512-bit vectors. Included by kernels_avx512.c only. The generic 256-bit tiles in mm_x86.h are
 * instruction-bound at ~12 GB/s per core; these cut instructions per byte about 2-3×.
 *   Q4_0: four blocks per zmm (one 128-bit lane of nibbles each), unsigned nibbles × s8 with
 *         vpdpbusd, the -8 offset folded in through the activation block sums.
 *   Q4_K: 64 weights per zmm, sub-block scales applied per i32 lane.
 * Several tokens (prefill) go to the mm_x86.h tiles, which reuse decoded blocks. */
#ifndef G4_Q4_ZMM_H
#define G4_Q4_ZMM_H
/* Included by kernels_avx512.c after mm_x86.h (whose tiles handle the multi-token case). */

/* One Q4_0 row × one token, four consecutive blocks per zmm (one 128-bit lane each): a single
 * sequential stream, which the hardware prefetchers follow much better than 4 row streams.
 * The activation is pre-arranged once per call into lane order (lo, hi, -8·Σa per lane). */
typedef struct {
    __m512i lo, hi, init;
    __m512 da; /* lane i: the activation scale of block i / 4 */
} q4_0_act4;

/* Four 18-byte blocks (72 bytes) per step, gathered with two word permutes instead of eight
 * 128-bit inserts: the nibbles sit at words 9k+1..9k+8 of the group (k = block), the scales at
 * words 9k. One 64-byte load plus an 8-byte load cover the group; nothing is read past it.
 * Two accumulator chains per row: group g goes to chain g & 1, and the row's value is
 * reduce_add(chain0 + chain1). Every path (one row, two rows per pass, mvn in
 * mv_multi_avx512.c) keeps exactly this per-row order, so a row's value never depends on
 * whether it was paired with a neighbour, on chunking, or on the batch it came in. */
#define Q4_0_QIDX                                                                                  \
    _mm512_set_epi16(35, 34, 33, 32, 31, 30, 29, 28, 26, 25, 24, 23, 22, 21, 20, 19, 17, 16, 15, 14, 13, 12, 11, 10, \
                     8, 7, 6, 5, 4, 3, 2, 1)
#define Q4_0_DIDX                                                                                  \
    _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 27, 27, 27, 27, 18, 18, 18, 18, 9, 9, 9, 9, 0, 0, \
                     0, 0)

/* acc + (one group of four blocks of x) . (its arranged activations a) */
AI __m512 q4_0_group(const g4q_q4_0 *x, const q4_0_act4 *a, __m512 acc, __m512i m4, __m512i qidx, __m512i didx)
{
    const __m512i v = _mm512_loadu_si512(x);
    const __m512i t = _mm512_castsi128_si512(_mm_loadl_epi64((const __m128i *)((const uint8_t *)x + 64)));
    const __m512i r = _mm512_permutex2var_epi16(v, qidx, t);
    const __m512i s = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(a->init, _mm512_and_si512(r, m4), a->lo),
                                          _mm512_and_si512(_mm512_srli_epi16(r, 4), m4), a->hi);
    const __m512 d = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(didx, v)));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(d, a->da), acc);
}

static float q4_0_row(int64_t ng, const g4q_q4_0 *x, const q4_0_act4 *A)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F), qidx = Q4_0_QIDX, didx = Q4_0_DIDX;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t g = 0;
    for (; g + 1 < ng; g += 2, x += 8) {
        acc0 = q4_0_group(x, &A[g], acc0, m4, qidx, didx);
        acc1 = q4_0_group(x + 4, &A[g + 1], acc1, m4, qidx, didx);
    }
    if (g < ng)
        acc0 = q4_0_group(x, &A[g], acc0, m4, qidx, didx);
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

/* Two rows at once: each activation group is loaded once for both (one row alone is bound by
 * loads: four zmm of activation state per 72 bytes of weights). Per row, the same two chains
 * and reduction as q4_0_row. */
static void q4_0_row2(int64_t ng, const g4q_q4_0 *x, const g4q_q4_0 *z, const q4_0_act4 *A, float *y0, float *y1)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F), qidx = Q4_0_QIDX, didx = Q4_0_DIDX;
    __m512 ax0 = _mm512_setzero_ps(), ax1 = _mm512_setzero_ps();
    __m512 az0 = _mm512_setzero_ps(), az1 = _mm512_setzero_ps();
    int64_t g = 0;
    for (; g + 1 < ng; g += 2, x += 8, z += 8) {
        ax0 = q4_0_group(x, &A[g], ax0, m4, qidx, didx);
        az0 = q4_0_group(z, &A[g], az0, m4, qidx, didx);
        ax1 = q4_0_group(x + 4, &A[g + 1], ax1, m4, qidx, didx);
        az1 = q4_0_group(z + 4, &A[g + 1], az1, m4, qidx, didx);
    }
    if (g < ng) {
        ax0 = q4_0_group(x, &A[g], ax0, m4, qidx, didx);
        az0 = q4_0_group(z, &A[g], az0, m4, qidx, didx);
    }
    *y0 = _mm512_reduce_add_ps(_mm512_add_ps(ax0, ax1));
    *y1 = _mm512_reduce_add_ps(_mm512_add_ps(az0, az1));
}

static void zmm_q4_0(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt,
                     float *y, int64_t ys)
{
    const int64_t nb = n / 32, ng = nb / 4;
    if (nt > 1 || nb % 4 || ng > 128) { /* prefill, odd block counts, rows > 16384: generic */
        mm_q4_0(n, w, ws, nr, a, as, nt, y, ys);
        return;
    }
    q4_0_act4 A[128];
    const g4q_q8_0 *q = a;
    const __m512i ones = _mm512_set1_epi8(1);
    for (int64_t g = 0; g < ng; g++) {
        __m512i lo = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)q[4 * g].qs));
        __m512i hi = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(q[4 * g].qs + 16)));
#define INS(k)                                                                                     \
    lo = _mm512_inserti32x4(lo, _mm_loadu_si128((const __m128i *)q[4 * g + k].qs), k);             \
    hi = _mm512_inserti32x4(hi, _mm_loadu_si128((const __m128i *)(q[4 * g + k].qs + 16)), k);
        INS(1) INS(2) INS(3)
#undef INS
        /* Σ(q-8)·a = Σq·a - 8Σa, the 8Σa spread over the same lanes the dot uses */
        const __m512i asum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, lo), ones, hi);
        A[g].lo = lo;
        A[g].hi = hi;
        A[g].init = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(asum, 3));
        A[g].da = _mm512_set_ps(h2f(q[4 * g + 3].d), h2f(q[4 * g + 3].d), h2f(q[4 * g + 3].d), h2f(q[4 * g + 3].d),
                                h2f(q[4 * g + 2].d), h2f(q[4 * g + 2].d), h2f(q[4 * g + 2].d), h2f(q[4 * g + 2].d),
                                h2f(q[4 * g + 1].d), h2f(q[4 * g + 1].d), h2f(q[4 * g + 1].d), h2f(q[4 * g + 1].d),
                                h2f(q[4 * g].d), h2f(q[4 * g].d), h2f(q[4 * g].d), h2f(q[4 * g].d));
    }
    /* row r with row r + h, the two halves of the chunk ("Decode row pairing", quant.h) */
    const int64_t h = nr / 2;
    for (int64_t r = 0; r < h; r++)
        q4_0_row2(ng, (const g4q_q4_0 *)((const uint8_t *)w + r * ws), (const g4q_q4_0 *)((const uint8_t *)w + (r + h) * ws),
                  A, y + r, y + r + h);
    if (nr & 1)
        y[nr - 1] = q4_0_row(ng, (const g4q_q4_0 *)((const uint8_t *)w + (nr - 1) * ws), A);
}

/* Q4_K: qs[0..63] holds sub-blocks 0 (low nibbles, bytes 0..31), 1 (high, 0..31), 2 (low,
 * 32..63), 3 (high, 32..63): a zmm of low nibbles is [sub0 | sub2], of high nibbles [sub1 | sub3].
 * The activations are arranged once per call in that order, with the 8 sub-block sums, so the
 * row loop is only weight decode, 4 vpdpbusd and the per-sub-block scales. */
typedef struct {
    __m512i a[4];     /* [s0|s2], [s1|s3], [s4|s6], [s5|s7] */
    __m128i bsum8;    /* i16 Σa per sub-block of 32 */
    float d;
    float pad[3];
} q4k_act;

static float q4_K_row(int64_t nb, const g4q_q4_K *x, const q4k_act *A)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    /* byte-shuffle index: the low 256 bits of zmm k take scale word s_lo(k), the high s_hi(k)
     * (word j = bytes 2j, 2j+1 of each lane) */
    const __m512i i02 = _mm512_set_epi16(0x0504, 0x0504, 0x0504, 0x0504, 0x0504, 0x0504, 0x0504, 0x0504,
                                         0x0504, 0x0504, 0x0504, 0x0504, 0x0504, 0x0504, 0x0504, 0x0504,
                                         0x0100, 0x0100, 0x0100, 0x0100, 0x0100, 0x0100, 0x0100, 0x0100,
                                         0x0100, 0x0100, 0x0100, 0x0100, 0x0100, 0x0100, 0x0100, 0x0100);
    const __m512i i13 = _mm512_add_epi16(i02, _mm512_set1_epi16(0x0202));
    const __m512i i46 = _mm512_add_epi16(i02, _mm512_set1_epi16(0x0808));
    const __m512i i57 = _mm512_add_epi16(i02, _mm512_set1_epi16(0x0A0A));
    __m512 acc = _mm512_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m128i sm = kq_scales_mins(x[i].scales);
        /* the 8 scales as words in every 128-bit lane; in-lane byte shuffles pick each one */
        const __m512i sc = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(sm));
        const __m512i qa = _mm512_loadu_si512(x[i].qs), qb = _mm512_loadu_si512(x[i].qs + 64);
        /* u4 x s8 pairs -> i16 (no saturation), then x 6-bit scale -> i32 */
        __m512i p = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_maddubs_epi16(_mm512_and_si512(qa, m4), A[i].a[0]),
                                        _mm512_shuffle_epi8(sc, i02));
        p = _mm512_dpwssd_epi32(p, _mm512_maddubs_epi16(_mm512_and_si512(_mm512_srli_epi16(qa, 4), m4), A[i].a[1]),
                                _mm512_shuffle_epi8(sc, i13));
        p = _mm512_dpwssd_epi32(p, _mm512_maddubs_epi16(_mm512_and_si512(qb, m4), A[i].a[2]),
                                _mm512_shuffle_epi8(sc, i46));
        p = _mm512_dpwssd_epi32(p, _mm512_maddubs_epi16(_mm512_and_si512(_mm512_srli_epi16(qb, 4), m4), A[i].a[3]),
                                _mm512_shuffle_epi8(sc, i57));
        /* d and dmin (adjacent halves) converted and scaled together */
        uint32_t ddm;
        memcpy(&ddm, &x[i].d, sizeof ddm);
        const __m128 dd = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)ddm)), _mm_set1_ps(A[i].d));
        acc = _mm512_fmadd_ps(_mm512_broadcastss_ps(dd), _mm512_cvtepi32_ps(p), acc);
        /* min term: Σ m_j · Σa_j */
        const __m128i pm = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(sm, 8)), A[i].bsum8);
        accm = _mm_fmadd_ps(_mm_permute_ps(dd, 0x55), _mm_cvtepi32_ps(pm), accm);
    }
    __m128 m = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    return _mm512_reduce_add_ps(acc) - _mm_cvtss_f32(m);
}

static void zmm_q4_K(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt,
                    float *y, int64_t ys)
{
    if (nt > 1) {
        mm_q4_K(n, w, ws, nr, a, as, nt, y, ys);
        return;
    }
    const int64_t nb = n / G4_QK_K;
    const g4q_q8_K *q = a;
    q4k_act *A = g4k_scratch(G4K_SCRATCH_GEMM_A, sizeof(q4k_act) * (size_t)nb);
    if (!A)
        return;
    for (int64_t i = 0; i < nb; i++) {
        const __m512i A0 = _mm512_loadu_si512(q[i].qs), A1 = _mm512_loadu_si512(q[i].qs + 64);
        const __m512i A2 = _mm512_loadu_si512(q[i].qs + 128), A3 = _mm512_loadu_si512(q[i].qs + 192);
        A[i].a[0] = _mm512_shuffle_i64x2(A0, A1, 0x44);
        A[i].a[1] = _mm512_shuffle_i64x2(A0, A1, 0xEE);
        A[i].a[2] = _mm512_shuffle_i64x2(A2, A3, 0x44);
        A[i].a[3] = _mm512_shuffle_i64x2(A2, A3, 0xEE);
        const __m256i bs = _mm256_loadu_si256((const __m256i *)q[i].bsums);
        A[i].bsum8 = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
        A[i].d = q[i].d;
    }
    for (int64_t r = 0; r < nr; r++)
        y[r] = q4_K_row(nb, (const g4q_q4_K *)((const uint8_t *)w + r * ws), A);
}

/* Verify batches (2..G4K_MVN_MAX_TOK tokens) must give each token what zmm_q4_0 gives it alone:
 * the shapes zmm_q4_0 leaves to the generic tiles go there too (mm_q4_0's per-row, per-token
 * arithmetic does not depend on how many tokens or rows share a tile). */
static void zmm_mvn_q4_0(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt,
                         float *y, int64_t ys)
{
    const int64_t nb = n / 32, ng = nb / 4;
    if (nb % 4 || ng > 128)
        mm_q4_0(n, w, ws, nr, a, as, nt, y, ys);
    else
        g4k_avx512_mvn_q4_0(n, w, ws, nr, a, as, nt, y, ys);
}

/* After g4k_fill_avx512_mvn. */
static void fill_zmm_q4(g4k_kernels *k)
{
    k->mm[G4_TYPE_Q4_0] = zmm_q4_0;
    k->mm[G4_TYPE_Q4_K] = zmm_q4_K;
    k->mv[G4_TYPE_Q4_0] = zmm_q4_0; /* they take nt == 1 themselves; replaces the AVX2 mv */
    k->mv[G4_TYPE_Q4_K] = zmm_q4_K;
    k->mvn[G4_TYPE_Q4_0] = zmm_mvn_q4_0;
}
#endif
