/* AVX2 + FMA + F16C kernel table: the x86 kernels of mm_x86.h with maddubs/madd dots. */
#define G4_VNNI 0
#include "mm_x86.h"

void g4k_fill_avx2(g4k_kernels *k)
{
    fill_x86(k);
    g4k_fill_avx2_mv(k);
    g4k_fill_avx2_qact(k);
    g4k_fill_avx2_gemm_flt(k);
    g4k_fill_avx2_exp(k);
    g4k_fill_avx2_argmax(k);
    g4k_fill_avx2_kvrow(k);
    g4k_fill_avx2_attn(k);
}
