/* The encoders' clamp (ClippableLinear, spec §4.3): one definition for the media code's row
 * passes, its whole-buffer clamps and g4k_matmul_lowp_clamped, so all of them round alike. */
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

typedef struct {
    const float *src;
    float *dst;
    int64_t n;
    float lo, hi;
} clamp_ctx;

static void clamp_task(void *arg, int ith, int nth)
{
    const clamp_ctx *c = arg;
    const int64_t lines = (c->n + 15) / 16; /* 16-float units: whole cache lines of an aligned buffer */
    const int64_t i0 = lines * ith / nth * 16, e = lines * (ith + 1) / nth * 16, i1 = e < c->n ? e : c->n;
    if (i0 < i1)
        g4k_clamp_copy(c->src + i0, c->dst + i0, i1 - i0, c->lo, c->hi);
}

/* Split across the pool: run serially, the clamps around the tower's linears took ~5% of a
 * 2-thread image embed while the other thread waited. */
void g4k_clamp_pool(g4k_pool *pool, const float *src, float *dst, int64_t n, float lo, float hi)
{
    clamp_ctx c = {src, dst, n, lo, hi};
    if (pool && n > 16)
        g4k_pool_run_elastic(pool, clamp_task, &c);
    else
        clamp_task(&c, 0, 1);
}
