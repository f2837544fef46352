/* What the packed ("rows in lanes") AVX-512 kernels share (q8_0_rows16_avx512.c,
 * q6k_rows16_avx512.c; layout in quant.h, driver pack16.c): the token-loop unrolling, the
 * activation's 4 bytes as one broadcast i32, and the switch that instantiates a kernel body for
 * a constant token count (so each token's accumulator stays in a register). */
#ifndef G4_ROWS16_AVX512_H
#define G4_ROWS16_AVX512_H

#include <immintrin.h>
#include <string.h>

#include "quant.h"

#define AI static inline __attribute__((always_inline))
#if defined(__clang__)
#define UNROLL_TOK _Pragma("unroll")
#define UNROLL4 _Pragma("unroll")
#else
#define UNROLL_TOK _Pragma("GCC unroll 8")
#define UNROLL4 _Pragma("GCC unroll 4")
#endif

/* p[0..3] in every i32 lane (vpdpbusd's embedded-broadcast operand) */
AI __m512i bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm512_set1_epi32(v);
}

/* BODY(..., NT) for NT = nt (1..G4K_MVN_MAX_TOK; larger counts run as 8, the driver never asks) */
#define R16_FOR_NT(nt, BODY, ...)                                                                  \
    switch (nt) {                                                                                  \
    case 1: BODY(__VA_ARGS__, 1); break;                                                           \
    case 2: BODY(__VA_ARGS__, 2); break;                                                           \
    case 3: BODY(__VA_ARGS__, 3); break;                                                           \
    case 4: BODY(__VA_ARGS__, 4); break;                                                           \
    case 5: BODY(__VA_ARGS__, 5); break;                                                           \
    case 6: BODY(__VA_ARGS__, 6); break;                                                           \
    case 7: BODY(__VA_ARGS__, 7); break;                                                           \
    default: BODY(__VA_ARGS__, 8); break;                                                          \
    }

#endif
