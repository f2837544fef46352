/* Float-weight prefill GEMM (F32/F16/BF16 × f32 activations), AVX2 + FMA + F16C: 16 rows × 6
 * tokens per micro-kernel (12 ymm accumulators of 16 registers). Design: gemm_flt_x86.h. */
#include <immintrin.h>

#define VW 8
#define RV 2
#define TB 6
#define GRV RV
#define GTB TB
typedef __m256 vec;
#define vzero() _mm256_setzero_ps()
#define vload(p) _mm256_load_ps(p)
#define vloadu(p) _mm256_loadu_ps(p)
#define vbcast(p) _mm256_broadcast_ss(p)
#define vfma(a, b, c) _mm256_fmadd_ps(a, b, c)
#define vstore(p, v) _mm256_store_ps(p, v)
#define vstoreu(p, v) _mm256_storeu_ps(p, v)
#define GEMM_FLT_FILL g4k_fill_avx2_gemm_flt
#include "gemm_flt_x86.h"
