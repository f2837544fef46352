/* AVX2 kernel table (placeholder until the SIMD kernels land). */
#include "quant.h"
void g4k_fill_avx2(g4k_kernels *k) { (void)k; }
