/* Greedy choice over a logit row, AVX2 (the AVX-512 level inherits it: the row is 1 MB at
 * Gemma 4's 262144-token vocabulary, read once from L2/L3, so 256-bit compares keep up).
 *   argmax:   the FIRST index of the largest value; NaN never wins (exactly the scalar rule in
 *             kernels_scalar.c: best = 0, then x[i] > x[best]). Eight lanes each keep their
 *             first maximum; ties between lanes go to the lower index.
 *   first_ge: the first index i >= 0 with x[i] >= t, or n. */
#include <immintrin.h>
#include <math.h>

#include "quant.h"

static int64_t argmax_avx2(const float *x, int64_t n)
{
    if (n < 8 || isnan(x[0])) { /* (a NaN first element stays the answer, as in the scalar rule) */
        int64_t best = 0;
        for (int64_t i = 1; i < n; i++)
            if (x[i] > x[best])
                best = i;
        return best;
    }
    /* Lanes start at -inf with no index and take strictly greater values only, so each lane
     * holds its first maximum and never a NaN. Indices fit i32 lanes (vocabularies < 2^31). */
    __m256 bv = _mm256_set1_ps(-INFINITY);
    __m256i bi = _mm256_set1_epi32(-1);
    __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i eight = _mm256_set1_epi32(8);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8, idx = _mm256_add_epi32(idx, eight)) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 gt = _mm256_cmp_ps(v, bv, _CMP_GT_OQ); /* NaN: false */
        bv = _mm256_blendv_ps(bv, v, gt);
        bi = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(bi), _mm256_castsi256_ps(idx), gt));
    }
    float v8[8];
    int32_t i8[8];
    _mm256_storeu_ps(v8, bv);
    _mm256_storeu_si256((__m256i *)i8, bi);
    int64_t best = -1;
    float bestv = -INFINITY;
    for (int l = 0; l < 8; l++)
        if (i8[l] >= 0 && (v8[l] > bestv || (v8[l] == bestv && i8[l] < best))) {
            best = i8[l];
            bestv = v8[l];
        }
    for (; i < n; i++) /* the tail comes after every lane's indices: strictly greater only */
        if (x[i] > bestv)
            best = i, bestv = x[i];
    return best < 0 ? 0 : best; /* nothing above -inf: x[0], as the scalar rule */
}

static int64_t first_ge_avx2(const float *x, int64_t n, float t)
{
    const __m256 tv = _mm256_set1_ps(t);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const int m = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), tv, _CMP_GE_OQ));
        if (m)
            return i + __builtin_ctz((unsigned)m);
    }
    for (; i < n; i++)
        if (x[i] >= t)
            return i;
    return n;
}

void g4k_fill_avx2_argmax(g4k_kernels *k)
{
    k->argmax = argmax_avx2;
    k->first_ge = first_ge_avx2;
}
