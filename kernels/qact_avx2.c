/* Vectorised activation quantization (Q8_0, Q8_K) for the AVX2 and AVX-512 levels: on the
 * critical path of every small matmul (decode quantizes one row per matrix). Bit-exact with
 * the scalar quantizers (quant_legacy.c, quant_q8k.c): same f32 operations in the same order,
 * roundf's ties-away for Q8_0, round-to-nearest-even (nearest_int) for Q8_K; tests compare
 * the bytes. */
#include <immintrin.h>

#include "quant.h"

#define AI static inline __attribute__((always_inline))

AI float hmax8(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}
/* 4 × 8 int32 -> 32 int8 in order (values already in int8 range). */
AI __m256i pack32(__m256i a, __m256i b, __m256i c, __m256i d)
{
    const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    const __m256i v = _mm256_packs_epi16(ab, cd); /* lanes interleaved by 128-bit halves */
    return _mm256_permutevar8x32_epi32(v, _mm256_set_epi32(7, 3, 6, 2, 5, 1, 4, 0));
}

/* roundf(v): ties away from zero. trunc(v) and v - trunc(v) are exact, so this matches libm. */
AI __m256i round_away(__m256 v)
{
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0f));
    const __m256 frac = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(v, t));
    const __m256 up = _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ), _mm256_or_ps(sign, _mm256_set1_ps(1.0f)));
    return _mm256_cvttps_epi32(_mm256_add_ps(t, up));
}

static void qact_q8_0(const float *x, int64_t n, int64_t n_tok, void *dst, size_t stride)
{
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t t = 0; t < n_tok; t++) {
        const float *xt = x + t * n;
        g4q_q8_0 *y = (g4q_q8_0 *)((uint8_t *)dst + (size_t)t * stride);
        for (int64_t i = 0; i < n / G4_QK; i++, xt += G4_QK) {
            const __m256 v0 = _mm256_loadu_ps(xt), v1 = _mm256_loadu_ps(xt + 8);
            const __m256 v2 = _mm256_loadu_ps(xt + 16), v3 = _mm256_loadu_ps(xt + 24);
            const __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v0, absmask), _mm256_and_ps(v1, absmask)),
                                           _mm256_max_ps(_mm256_and_ps(v2, absmask), _mm256_and_ps(v3, absmask)));
            const float amax = hmax8(m);
            const float d = amax / 127;
            const float id = d ? 1.0f / d : 0.0f;
            y[i].d = (uint16_t)_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(d), _MM_FROUND_TO_NEAREST_INT), 0);
            const __m256 vid = _mm256_set1_ps(id);
            _mm256_storeu_si256((__m256i *)y[i].qs,
                                pack32(round_away(_mm256_mul_ps(v0, vid)), round_away(_mm256_mul_ps(v1, vid)),
                                       round_away(_mm256_mul_ps(v2, vid)), round_away(_mm256_mul_ps(v3, vid))));
        }
    }
}

static void qact_q8_K(const float *x, int64_t n, int64_t n_tok, void *dst, size_t stride)
{
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t t = 0; t < n_tok; t++) {
        const float *xt = x + t * n;
        g4q_q8_K *y = (g4q_q8_K *)((uint8_t *)dst + (size_t)t * stride);
        for (int64_t i = 0; i < n / G4_QK_K; i++, xt += G4_QK_K) {
            __m256 m = _mm256_setzero_ps();
            for (int j = 0; j < G4_QK_K; j += 8)
                m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(xt + j), absmask));
            const float amax = hmax8(m);
            if (!amax) {
                memset(&y[i], 0, sizeof y[i]);
                continue;
            }
            /* the scalar code keeps the signed value of the first element reaching amax */
            int j0 = 0;
            while (j0 < G4_QK_K && !(xt[j0] == amax || xt[j0] == -amax))
                j0++;
            if (j0 == G4_QK_K) { /* NaNs: leave it to the scalar code */
                g4q_quant_q8_K(xt, &y[i], G4_QK_K);
                continue;
            }
            const float iscale = -127.f / xt[j0];
            const __m256 vis = _mm256_set1_ps(iscale), lim = _mm256_set1_ps(127.f);
            for (int j = 0; j < G4_QK_K; j += 32) {
                __m256i q[4];
                for (int k = 0; k < 4; k++) /* nearest-even, as g4q_nearest_int; then min 127 */
                    q[k] = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(xt + j + 8 * k), vis),
                                                                            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                                                            lim));
                const __m256i b = pack32(q[0], q[1], q[2], q[3]);
                _mm256_storeu_si256((__m256i *)(y[i].qs + j), b);
                /* two sums of 16: maddubs(1, b) -> 16 × i16 pair sums, then madd -> i32 */
                const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), b), _mm256_set1_epi16(1));
                const __m128i s2 = _mm_hadd_epi32(_mm_hadd_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1)),
                                                  _mm_setzero_si128());
                y[i].bsums[j / 16] = (int16_t)_mm_cvtsi128_si32(s2);
                y[i].bsums[j / 16 + 1] = (int16_t)_mm_extract_epi32(s2, 1);
            }
            y[i].d = 1 / iscale;
        }
    }
}

void g4k_fill_avx2_qact(g4k_kernels *k)
{
    k->qact[G4_TYPE_Q8_0] = qact_q8_0;
    k->qact[G4_TYPE_Q8_K] = qact_q8_K;
}
