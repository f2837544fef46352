/* AVX-512 (F/BW/VL/DQ + VNNI) kernel table: the x86 kernels of mm_x86.h with vpdpbusd dots and
 * the 32 vector registers AVX-512VL gives 256-bit code. */
#define G4_VNNI 1
#include "mm_x86.h"

void g4k_fill_avx512(g4k_kernels *k) { fill_x86(k); }
