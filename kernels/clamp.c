/* The encoders' clamp (ClippableLinear, spec §4.3): one definition for the media code's row
 * passes and for g4k_matmul_lowp_clamped's fused activation conversion, so both round alike. */
#include <string.h>

#include "kernels.h"

void g4k_clamp_copy(const float *src, float *dst, int64_t n, float lo, float hi)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) { /* fixed-size blocks: compilers vectorise these at -O2 */
        float t[8];
        for (int l = 0; l < 8; l++) {
            const float v = src[i + l] > lo ? src[i + l] : lo; /* NaN -> lo */
            t[l] = v < hi ? v : hi;
        }
        memcpy(dst + i, t, sizeof t);
    }
    for (; i < n; i++) {
        const float v = src[i] > lo ? src[i] : lo;
        dst[i] = v < hi ? v : hi;
    }
}
