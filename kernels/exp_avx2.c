/* Softmax exponentials and the tanh GELU gate, 256-bit AVX2 + FMA (exp_x86.h). */
#include <immintrin.h>

#define VW 8
typedef __m256 vec;
typedef __m256i ivec;
#define vset1(f) _mm256_set1_ps(f)
#define vload(p) _mm256_loadu_ps(p)
#define vstore(p, v) _mm256_storeu_ps(p, v)
#define vadd(a, b) _mm256_add_ps(a, b)
#define vsub(a, b) _mm256_sub_ps(a, b)
#define vmul(a, b) _mm256_mul_ps(a, b)
#define vdiv(a, b) _mm256_div_ps(a, b)
#define vmin(a, b) _mm256_min_ps(a, b)
#define vmax(a, b) _mm256_max_ps(a, b)
#define vfmadd(a, b, c) _mm256_fmadd_ps(a, b, c)
#define vfnmadd(a, b, c) _mm256_fnmadd_ps(a, b, c)
#define vround(v) _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define vcvti(v) _mm256_cvtps_epi32(v)
#define vcastf(i) _mm256_castsi256_ps(i)
#define iadd(a, b) _mm256_add_epi32(a, b)
#define isub(a, b) _mm256_sub_epi32(a, b)
#define iset1(i) _mm256_set1_epi32(i)
#define israi(i, s) _mm256_srai_epi32(i, s)
#define islli(i, s) _mm256_slli_epi32(i, s)
#define vzero_lt(p, y, lo) _mm256_andnot_ps(_mm256_cmp_ps(y, lo, _CMP_LT_OQ), p)
static inline float vhsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline float vhmax(__m256 v)
{
    float t[8];
    _mm256_storeu_ps(t, v);
    float m = t[0];
    for (int l = 1; l < 8; l++)
        m = t[l] > m ? t[l] : m;
    return m;
}
#define EXP_FILL g4k_fill_avx2_exp
#include "exp_x86.h"
