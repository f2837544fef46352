/* AVX-512 (F/BW/VL/DQ + VNNI) kernel table: the x86 kernels of mm_x86.h with vpdpbusd dots and
 * the 32 vector registers AVX-512VL gives 256-bit code, plus 512-bit decode kernels. */
#define G4_VNNI 1
/* The Makefile builds every *_avx512.c with -mavx512bf16, but the AVX-512 level requires only
 * VNNI: forbid BF16 instructions here (only bf16_avx512.c, dispatched on its own CPUID bit,
 * may use them). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("no-avx512bf16")
#endif
#include "mm_x86.h"
#include "q4_zmm_avx512.h"

void g4k_fill_avx512(g4k_kernels *k)
{
    fill_x86(k);
    g4k_fill_avx512_mv(k);
    g4k_fill_avx512_mvn(k);
    fill_zmm_q4(k); /* after the mvn fill: wraps its Q4_0 entry */
    g4k_fill_avx512_gemm(k);
    g4k_fill_avx512_gemm_flt(k);
    g4k_fill_avx512_attn(k);
    g4k_fill_avx512_exp(k);
    g4k_fill_avx512_norm(k);
}
