/* ClippableLinear (spec §4.3), the linear layer of the E-series encoders (vision tower and audio
 * conformer): y = clamp(W clamp(x, in_min, in_max), out_min, out_max). */
#define G4_MMPROJ_PRIVATE
#include "media/mmproj.h"
#include "ops/ops.h"

void g4_clin_linear(g4k_pool *pool, g4_linear_mode mode, const g4_clin *L, const float *x, int64_t n, float *y,
                    float *tmp, int flags)
{
    if (L->clamp_in && !(flags & G4_CLIN_IN_DONE) && mode == G4_LINEAR_LOWP) {
        /* the opt-in bf16/q8 paths convert the activations anyway: clamped as they are converted,
         * same values as clamping into tmp first, without that pass over memory */
        g4k_matmul_lowp_clamped(pool, &L->w, x, n, y, L->in_min, L->in_max);
    } else {
        const float *in = x;
        /* a clamped copy only where the bounds bind: checking reads x once, the copy also
         * writes it and the linear then reads the copy */
        if (L->clamp_in && !(flags & G4_CLIN_IN_DONE) &&
            g4k_clamp_changes_pool(pool, x, n * L->w.n_cols, L->in_min, L->in_max)) {
            g4k_clamp_pool(pool, x, tmp, n * L->w.n_cols, L->in_min, L->in_max);
            in = tmp;
        }
        g4_linear(pool, mode, &L->w, in, n, y);
    }
    if (L->clamp_out && !(flags & G4_CLIN_OUT_LATER))
        g4k_clamp_pool(pool, y, y, n * L->w.n_rows, L->out_min, L->out_max);
}

void g4_clin_run(g4k_pool *pool, g4_linear_mode mode, const g4_clin *L, const float *x, int64_t n, float *y, float *tmp)
{
    g4_clin_linear(pool, mode, L, x, n, y, tmp, 0);
}
