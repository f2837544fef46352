/* One Q8_0 block's dot product (32 weights . 32 activations) with AVX2, equal bit for bit to
 * g4q_dot_q8_0(32, w, a): the integer sum is exact whatever the order (widened to 16 bits, no
 * saturation even at -128), and the float steps are the scalar's, one rounding each (separate
 * statements, so no compiler fuses them into an FMA). The single-token Q8_0 kernels use it for
 * the blocks left over after their groups of four -- every block of a 64-wide row, as in the
 * embedded drafter (width 64), whose rows ran wholly through the scalar dot before. */
#ifndef G4K_Q8_0_BLOCK_X86_H
#define G4K_Q8_0_BLOCK_X86_H
#include <immintrin.h>

#include "quant.h"

static inline __attribute__((always_inline)) float g4k_q8_0_block_dot(const g4q_q8_0 *w, const g4q_q8_0 *a)
{
    const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w->qs));
    const __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w->qs + 16)));
    const __m256i a0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a->qs));
    const __m256i a1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a->qs + 16)));
    const __m256i p = _mm256_add_epi32(_mm256_madd_epi16(w0, a0), _mm256_madd_epi16(w1, a1));
    __m128i q = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
    q = _mm_add_epi32(q, _mm_shuffle_epi32(q, 0x4e));
    q = _mm_add_epi32(q, _mm_shuffle_epi32(q, 0xb1));
    const int sumi = _mm_cvtsi128_si32(q);
    const float d = _cvtsh_ss(w->d) * _cvtsh_ss(a->d);
    const float prod = (float)sumi * d;
    float s = 0.0f; /* the scalar's accumulator start: 0 + prod (turns -0 into +0 as it does) */
    s += prod;
    return s;
}

#endif
