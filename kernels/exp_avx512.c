/* Softmax exponentials and the tanh GELU gate, 512-bit (exp_x86.h): twice the elements per
 * instruction of the AVX2 level (the vision tower's softmax rows: ~8% of an image embed). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("no-avx512bf16")
#endif
#include <immintrin.h>

#define VW 16
typedef __m512 vec;
typedef __m512i ivec;
#define vset1(f) _mm512_set1_ps(f)
#define vload(p) _mm512_loadu_ps(p)
#define vstore(p, v) _mm512_storeu_ps(p, v)
#define vadd(a, b) _mm512_add_ps(a, b)
#define vsub(a, b) _mm512_sub_ps(a, b)
#define vmul(a, b) _mm512_mul_ps(a, b)
#define vdiv(a, b) _mm512_div_ps(a, b)
#define vmin(a, b) _mm512_min_ps(a, b)
#define vmax(a, b) _mm512_max_ps(a, b)
#define vfmadd(a, b, c) _mm512_fmadd_ps(a, b, c)
#define vfnmadd(a, b, c) _mm512_fnmadd_ps(a, b, c)
#define vround(v) _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define vcvti(v) _mm512_cvtps_epi32(v)
#define vcastf(i) _mm512_castsi512_ps(i)
#define iadd(a, b) _mm512_add_epi32(a, b)
#define isub(a, b) _mm512_sub_epi32(a, b)
#define iset1(i) _mm512_set1_epi32(i)
#define israi(i, s) _mm512_srai_epi32(i, s)
#define islli(i, s) _mm512_slli_epi32(i, s)
#define vscale2(p, n) _mm512_scalef_ps(p, n)
/* keep the lanes where !(y < lo) (NaN included, as the AVX2 level's andnot of an ordered compare) */
#define vzero_lt(p, y, lo) _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, lo, _CMP_NLT_UQ), p)
#define vhsum(v) _mm512_reduce_add_ps(v)
#define vhmax(v) _mm512_reduce_max_ps(v)
#define EXP_FILL g4k_fill_avx512_exp
#include "exp_x86.h"
