/* Float-weight prefill GEMM (F32/F16/BF16 × f32 activations), 512-bit, 24 zmm accumulators:
 * weight matrices in tiles of 48 rows × 8 tokens, the attention's key/value panels in 32 × 12.
 * 48 × 8 issues 11 loads per 24 FMAs where 32 × 12 issues 14, and ran 13% faster with the weights
 * streaming from L2 (Ice Lake-SP, 1 core: 175-180 against 150-160 GFLOP/s; in the GEMM at the
 * conformer's and tower's shapes 155-163 against 134-142). The panels keep 32 × 12: V^T has
 * head-dim (64) rows, a third of them padding in 48-row groups. The design is in gemm_flt_x86.h.
 * Plain FMA on f32: no BF16 instructions (bf16_avx512.c's vdpbf16ps path rounds activations and
 * is opt-in). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("no-avx512bf16")
#endif
#include <immintrin.h>

#define VW 16
#define RV 2
#define TB 12
#define GRV 3
#define GTB 8
typedef __m512 vec;
#define vzero() _mm512_setzero_ps()
#define vload(p) _mm512_load_ps(p)
#define vloadu(p) _mm512_loadu_ps(p)
#define vbcast(p) _mm512_set1_ps(*(p))
#define vfma(a, b, c) _mm512_fmadd_ps(a, b, c)
#define vstore(p, v) _mm512_store_ps(p, v)
#define vstoreu(p, v) _mm512_storeu_ps(p, v)
#define GEMM_FLT_FILL g4k_fill_avx512_gemm_flt
#include "gemm_flt_x86.h"
