/* RMSNorm's two row passes, 512-bit (the scalar level's definitions: kernels_scalar.c). The sum
 * of squares keeps the scalar's eight double chains as the eight lanes of one zmm (element i in
 * lane i % 8, the tail in lane 0, then ((0+1)+(2+3))+((4+5)+(6+7))): each square is exact in
 * double, so the FMA adds exactly what the scalar's multiply and add do and the value is the
 * same bit for bit. The scaling is two (with add, three) separately rounded operations per
 * element, as the scalar's. The E2B tower's per-head q/k/v norms (64 values, ~1.4M rows an
 * image) ran their scaling one float at a time. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("no-avx512bf16")
#endif
#include <immintrin.h>

#include "quant.h"

static double sum_sq_avx512(const float *x, int64_t n)
{
    __m512d a = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m512d v = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
        a = _mm512_fmadd_pd(v, v, a);
    }
    double l[8];
    _mm512_storeu_pd(l, a);
    for (; i < n; i++)
        l[0] += (double)x[i] * x[i];
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

static void scale_row_avx512(const float *x, float s, const float *w, float *y, int64_t n, int add)
{
    const __m512 sv = _mm512_set1_ps(s);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + i), sv);
        if (w)
            v = _mm512_mul_ps(v, _mm512_loadu_ps(w + i));
        if (add)
            v = _mm512_add_ps(_mm512_loadu_ps(y + i), v);
        _mm512_storeu_ps(y + i, v);
    }
    for (; i < n; i++) {
        float v = x[i] * s;
        if (w)
            v = v * w[i];
        y[i] = add ? y[i] + v : v;
    }
}

void g4k_fill_avx512_norm(g4k_kernels *k)
{
    k->sum_sq = sum_sq_avx512;
    k->scale_row = scale_row_avx512;
}
