/* Prompt-attention tile kernels, 512-bit: 4 rows × 64 keys (scores) and 4 rows × 64 head
 * elements (values) per block (attn_tile_x86.h). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("no-avx512bf16")
#endif
#include <immintrin.h>

#define VW 16
#define MR 4
#define NV 4
typedef __m512 vec;
#define vzero() _mm512_setzero_ps()
#define vload(p) _mm512_loadu_ps(p)
#define vbcast(p) _mm512_set1_ps(*(p))
#define vfma(a, b, c) _mm512_fmadd_ps(a, b, c)
#define vadd(a, b) _mm512_add_ps(a, b)
#define vstore(p, v) _mm512_storeu_ps(p, v)
#define ATTN_FILL g4k_fill_avx512_attn
#include "attn_tile_x86.h"
