/* ClippableLinear (spec §4.3), the linear layer of the E-series encoders (vision tower and audio
 * conformer): y = clamp(W clamp(x, in_min, in_max), out_min, out_max). */
#define G4_MMPROJ_PRIVATE
#include "media/mmproj.h"
#include "ops/ops.h"

void g4_clin_run(g4k_pool *pool, g4_linear_mode mode, const g4_clin *L, const float *x, int64_t n, float *y, float *tmp)
{
    const float *in = x;
    if (L->clamp_in) {
        size_t m = (size_t)n * (size_t)L->w.n_cols;
        for (size_t i = 0; i < m; i++)
            tmp[i] = g4_clampf(x[i], L->in_min, L->in_max);
        in = tmp;
    }
    g4_linear(pool, mode, &L->w, in, n, y);
    if (L->clamp_out) {
        size_t m = (size_t)n * (size_t)L->w.n_rows;
        for (size_t i = 0; i < m; i++)
            y[i] = g4_clampf(y[i], L->out_min, L->out_max);
    }
}
