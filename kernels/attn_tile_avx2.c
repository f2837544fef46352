/* Prompt-attention tile kernels, AVX2 + FMA: 4 rows × 16 keys (scores) and 4 rows × 16 head
 * elements (values) per block (attn_tile_x86.h). */
#include <immintrin.h>

#define VW 8
#define MR 4
#define NV 2
typedef __m256 vec;
#define vzero() _mm256_setzero_ps()
#define vload(p) _mm256_loadu_ps(p)
#define vbcast(p) _mm256_broadcast_ss(p)
#define vfma(a, b, c) _mm256_fmadd_ps(a, b, c)
#define vadd(a, b) _mm256_add_ps(a, b)
#define vstore(p, v) _mm256_storeu_ps(p, v)
#define ATTN_FILL g4k_fill_avx2_attn
#include "attn_tile_x86.h"
