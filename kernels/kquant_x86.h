/* K-quant block helpers shared by the x86 kernel files (header-only, always inlined). */
#ifndef G4_KQUANT_X86_H
#define G4_KQUANT_X86_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/* The 8 six-bit scales (bytes 0..7) and 8 mins (bytes 8..15) of a Q4_K/Q5_K block's 12 packed
 * scale bytes (ggml get_scale_min_k4 for j = 0..7, in one go). */
static inline __attribute__((always_inline)) __m128i g4x_kq_scales_mins(const uint8_t *s12)
{
    uint32_t u[4];
    memcpy(u, s12, 12);
    const uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
    u[3] = ((u[2] >> 4) & kmask2) | (((u[1] >> 6) & kmask3) << 4);
    const uint32_t uaux = u[1] & kmask1;
    u[1] = (u[2] & kmask2) | (((u[0] >> 6) & kmask3) << 4);
    u[2] = uaux;
    u[0] &= kmask1;
    return _mm_set_epi32((int)u[3], (int)u[2], (int)u[1], (int)u[0]);
}

#endif
