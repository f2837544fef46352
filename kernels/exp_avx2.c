/* Vectorised exp-based row functions, AVX2 + FMA (the AVX-512 level inherits them): softmax
 * exponentials x[i] = exp(x[i] - m) with their sum, a whole-row softmax, and the tanh GELU gate
 * g[i] = gelu_tanh(g[i]) * u[i]. The encoders' rows spent more time in libm's scalar expf /
 * tanhf than in the FMAs of the GEMMs around them.
 *
 * exp(y) = 2^n · e^r with n = round(y / ln 2), r = y - n·ln 2 (two-part ln 2), e^r by the Cephes
 * degree-6 polynomial on [-ln2/2, ln2/2]: within 2 ulp of expf over the range that matters. y below
 * -87.3 (including -inf, masked scores) gives exactly 0; y is never above 0 in a softmax (m is the
 * row max), larger y are clamped at 88.7. */
#include <immintrin.h>
#include <math.h>

#include "quant.h"

static inline __attribute__((always_inline)) __m256 exp8(__m256 y)
{
    const __m256 lo = _mm256_set1_ps(-87.33654f), hi = _mm256_set1_ps(88.72283f);
    const __m256 zero_mask = _mm256_cmp_ps(y, lo, _CMP_LT_OQ);
    y = _mm256_min_ps(_mm256_max_ps(y, lo), hi);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(y, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), y);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    /* 2^n: n in [-126, 128]; split in two factors so n = 128 and n = -126 stay finite/normal */
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
    p = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
    return _mm256_andnot_ps(zero_mask, p);
}

static float exp_sub_sum_avx2(float *x, int64_t n, float m)
{
    const __m256 mv = _mm256_set1_ps(m);
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    if (i < n) {
        const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i)), idx);
        const __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(_mm256_maskload_ps(x + i, mask), mv)),
                                       _mm256_castsi256_ps(mask));
        _mm256_maskstore_ps(x + i, mask, e);
        acc = _mm256_add_ps(acc, e);
    }
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static void softmax_avx2(float *x, int64_t n)
{
    if (n <= 0)
        return;
    __m256 mv = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
    float tmp[8], m = -INFINITY;
    _mm256_storeu_ps(tmp, mv);
    for (int l = 0; l < 8; l++)
        m = tmp[l] > m ? tmp[l] : m;
    for (; i < n; i++)
        m = x[i] > m ? x[i] : m;
    const __m256 inv = _mm256_set1_ps(1.0f / exp_sub_sum_avx2(x, n, m));
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; i++)
        x[i] *= _mm256_cvtss_f32(inv);
}

/* 0.5 z (1 + tanh(c (z + 0.044715 z^3))) = z · (1 - 1 / (exp(2 c (z + 0.044715 z^3)) + 1)):
 * the logistic form has no cancellation near 0 (error ~1 ulp of the result). */
static inline __attribute__((always_inline)) __m256 gelu8(__m256 z)
{
    const __m256 c2 = _mm256_set1_ps(2.0f * 0.7978845608028654f);
    const __m256 inner = _mm256_mul_ps(c2, _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(0.044715f), z),
                                                            _mm256_mul_ps(z, z), z));
    /* sigmoid(inner) = 1 / (1 + exp(-inner)); exp8 flushes below -87.3 to 0 (sigmoid 1) */
    const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), inner));
    return _mm256_div_ps(z, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

static void geglu_tanh_avx2(float *g, const float *u, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(g + i, _mm256_mul_ps(gelu8(_mm256_loadu_ps(g + i)), _mm256_loadu_ps(u + i)));
    if (i < n) {
        float a[8] = {0}, b[8] = {0};
        for (int64_t l = 0; l < n - i; l++) {
            a[l] = g[i + l];
            b[l] = u[i + l];
        }
        _mm256_storeu_ps(a, _mm256_mul_ps(gelu8(_mm256_loadu_ps(a)), _mm256_loadu_ps(b)));
        for (int64_t l = 0; l < n - i; l++)
            g[i + l] = a[l];
    }
}

void g4k_fill_avx2_exp(g4k_kernels *k)
{
    k->exp_sub_sum = exp_sub_sum_avx2;
    k->softmax = softmax_avx2;
    k->geglu_tanh = geglu_tanh_avx2;
}
