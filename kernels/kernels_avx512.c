/* AVX-512 kernel table (placeholder). */
#include "quant.h"
void g4k_fill_avx512(g4k_kernels *k) { (void)k; }
