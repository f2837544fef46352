/* What the packed ("rows in lanes") AVX-512 kernels share (block32_rows16_avx512.c,
 * q4k_rows16_avx512.c, q6k_rows16_avx512.c; layout in quant.h, driver pack16.c): the
 * token-loop unrolling, the activation's 4 bytes as one broadcast i32, the 32-value block step
 * (r16_block32), and the switch that instantiates a kernel body for a constant token count (so
 * each token's accumulator stays in a register). */
#ifndef G4_ROWS16_AVX512_H
#define G4_ROWS16_AVX512_H

#include <immintrin.h>
#include <string.h>

#include "quant.h"

#define AI static inline __attribute__((always_inline))
/* Full unrolling of the loops over tokens, k-quads and sub-blocks (up to 8): the arrays of
 * vectors they index then live in registers (gcc -O2 leaves such loops rolled and the arrays
 * on the stack). */
#if defined(__clang__)
#define UNROLL8 _Pragma("unroll")
#else
#define UNROLL8 _Pragma("GCC unroll 8")
#endif

/* acc + dpbusd(w, p[0..3] in every i32 lane): w's unsigned bytes against the token's 4 signed
 * bytes as vpdpbusd's embedded-broadcast memory operand ({1to16}). clang folds the broadcast
 * into the instruction; gcc 12 emits a separate vpbroadcastd per operand and, in these
 * kernels, spilled the block's k-quads to the stack around them (test_pack16 --bench,
 * 2048x3840 from L3, 1 thread, ms at 1/3/4 tokens: Q4_0 0.095/0.201/0.174 with the intrinsic,
 * clang 0.062/0.096/0.123), so gcc gets the instruction spelled out. */
AI __m512i dpbusd_b4(__m512i acc, __m512i w, const int8_t *p)
{
#if defined(__clang__) || !defined(__GNUC__)
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm512_dpbusd_epi32(acc, w, _mm512_set1_epi32(v));
#else
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*(const int32_t(*)[1])p));
    return acc;
#endif
}

/* One 32-value block of the group's 16 rows against one token (Q8_0 activations): the 8
 * k-quads w[m] (values 4m..4m+3 of every row, unsigned) with the token's bytes as broadcasts,
 * starting from -corr (the weights' offset), in two chains of 4 (latency) summed -- exact
 * integers, so the same sum -- then one int->float and one FMA by (row scales x activation
 * scale). Q8_0 and Q4_0 differ only in how their k-quads come out of memory. */
AI __m512 r16_block32(const __m512i w[8], const int8_t *aq, int32_t corr, __m512 ws, float da, __m512 acc)
{
    __m512i s = _mm512_set1_epi32(-corr), u = _mm512_setzero_si512();
    s = dpbusd_b4(s, w[0], aq + 0);
    u = dpbusd_b4(u, w[1], aq + 4);
    s = dpbusd_b4(s, w[2], aq + 8);
    u = dpbusd_b4(u, w[3], aq + 12);
    s = dpbusd_b4(s, w[4], aq + 16);
    u = dpbusd_b4(u, w[5], aq + 20);
    s = dpbusd_b4(s, w[6], aq + 24);
    u = dpbusd_b4(u, w[7], aq + 28);
    s = _mm512_add_epi32(s, u);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(ws, _mm512_set1_ps(da)), acc);
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
