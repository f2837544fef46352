/* RoPE (spec §3): NEOX pairing, element i rotates with i + n_rot/2 by angle pos * inv_freq[i].
 *   sliding layers: inv_freq[i] = base_swa^(-2i/n_rot_swa)
 *   full layers ("proportional"): inv_freq[i] = base^(-2i/head_dim) / rope_freqs[i]; the GGUF
 *   stores rope_freqs = [1]*rotated + [1e30]*rest, and a factor that large means "do not
 *   rotate", so we store an exact 0 there (cos 1, sin 0).
 * The decoder and the drafter each build their tables with g4_rope_inv_freq at load. */
#include <math.h>

#include "ops/ops.h"

void g4_rope_inv_freq(int32_t n_rot, float base, const float *factors, int64_t n_factors, float *inv)
{
    int32_t half = n_rot / 2;
    for (int32_t i = 0; i < half; i++) {
        /* as HF: inv_freq = 1 / base^(2i/dim) computed in f32 */
        float f = 1.0f / powf(base, (float)(2 * i) / (float)n_rot);
        if (factors && i < n_factors)
            f = factors[i] >= 1e20f ? 0.0f : f / factors[i];
        inv[i] = f;
    }
}

void g4_rope(const float *inv, int32_t n_rot, float *x, int32_t n, int32_t n_head, int32_t head_dim, int32_t pos0)
{
    int32_t half = n_rot / 2;
    for (int32_t t = 0; t < n; t++) {
        float pos = (float)(pos0 + t);
        for (int32_t i = 0; i < half; i++) {
            if (inv[i] == 0.0f)
                continue;
            float ang = pos * inv[i]; /* f32 as in HF */
            float c = cosf(ang), s = sinf(ang);
            for (int32_t h = 0; h < n_head; h++) {
                float *xh = x + ((size_t)t * n_head + h) * head_dim;
                float x0 = xh[i], x1 = xh[i + half];
                xh[i] = x0 * c - x1 * s;
                xh[i + half] = x0 * s + x1 * c;
            }
        }
    }
}

/* Pooled: rows (tokens) split across the pool, each row rotated exactly as g4_rope does it
 * (its sines and cosines are per position, not per call). Prompt rows only: a decode or verify
 * step (< 16 rows) stays on the calling thread. */
typedef struct {
    const float *inv;
    float *x;
    int32_t n_rot, n_head, head_dim, pos0;
} rope_job;

static void rope_range(void *p, int64_t t0, int64_t t1)
{
    const rope_job *j = p;
    g4_rope(j->inv, j->n_rot, j->x + (size_t)t0 * j->n_head * j->head_dim, (int32_t)(t1 - t0), j->n_head, j->head_dim,
            j->pos0 + (int32_t)t0);
}

void g4_rope_pool(g4k_pool *pool, const float *inv, int32_t n_rot, float *x, int32_t n, int32_t n_head,
                  int32_t head_dim, int32_t pos0)
{
    rope_job j = {inv, x, n_rot, n_head, head_dim, pos0};
    g4_parallel_for(n >= 16 ? pool : NULL, n, rope_range, &j);
}
