/* AVX-512 (F/BW/VL/DQ + VNNI) kernel table: the x86 kernels of mm_x86.h with vpdpbusd dots and
 * the 32 vector registers AVX-512VL gives 256-bit code, plus 512-bit decode kernels. */
#define G4_VNNI 1
#include "mm_x86.h"
#include "q4_zmm_avx512.h"

void g4k_fill_avx512(g4k_kernels *k)
{
    fill_x86(k);
    fill_zmm_q4(k);
    g4k_fill_avx512_mv(k);
    g4k_fill_avx512_gemm(k);
}
