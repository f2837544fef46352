/* RMSNorm (spec §2.1): y = x * (mean(x^2) + eps)^-1/2 * w, in f32, no (1 + w) offset;
 * the weightless variant (V norm, router input, the encoders' projections) passes w = NULL.
 * And torch's LayerNorm, for the encoders. */
#include <math.h>

#include "ops/ops.h"

/* Rows per call below which the pooled variants stay on the calling thread: a decode or
 * verify step's norms (<= 8 x 3840 values) cost less than a pool hand-off. */
#define NORM_POOL_MIN_VALUES 65536

/* Rows of y = (or +=) x * (mean(x^2) + eps)^-1/2 * w. The sum of squares in double and the
 * scaling are the kernels' (g4k_sum_sq: eight chains, the same value on every level;
 * g4k_scale_row: vectorised where the level has it). */
static void rms_rows(const float *x, const float *w, int64_t n_rows, int64_t dim, float eps, float *y, int add)
{
    for (int64_t r = 0; r < n_rows; r++) {
        const double ss = g4k_sum_sq(x + r * dim, dim);
        const float inv = (float)(1.0 / sqrt(ss / (double)dim + (double)eps));
        g4k_scale_row(x + r * dim, inv, w, y + r * dim, dim, add);
    }
}

void g4_rmsnorm(const float *x, const float *w, int64_t n_rows, int64_t dim, float eps, float *y)
{
    rms_rows(x, w, n_rows, dim, eps, y, 0);
}

void g4_add_rmsnorm(float *y, const float *x, const float *w, int64_t n_rows, int64_t dim, float eps)
{
    rms_rows(x, w, n_rows, dim, eps, y, 1);
}

void g4_layernorm(const float *x, const float *w, const float *b, int64_t n_rows, int64_t dim, float eps,
                  float *y)
{
    for (int64_t r = 0; r < n_rows; r++) {
        const float *xr = x + r * dim;
        float *yr = y + r * dim;
        double s = 0.0;
        for (int64_t i = 0; i < dim; i++)
            s += xr[i];
        double mean = s / (double)dim, v = 0.0;
        for (int64_t i = 0; i < dim; i++)
            v += (xr[i] - mean) * (xr[i] - mean);
        float inv = (float)(1.0 / sqrt(v / (double)dim + (double)eps));
        if (b)
            for (int64_t i = 0; i < dim; i++)
                yr[i] = (float)((xr[i] - mean) * inv) * w[i] + b[i];
        else
            for (int64_t i = 0; i < dim; i++)
                yr[i] = (float)((xr[i] - mean) * inv) * w[i];
    }
}

/* The pooled variants: rows split across the pool (each row's arithmetic is unchanged, so the
 * results are bit for bit those of the serial calls). A prompt's norms ran on one thread
 * while the others waited: ~3% of a 2-thread pp512, a cap on scaling at 8-16 threads. */
typedef struct {
    const float *x, *w;
    float *y;
    int64_t dim;
    float eps;
    int add;
} norm_job;

static void norm_range(void *p, int64_t r0, int64_t r1)
{
    const norm_job *j = p;
    rms_rows(j->x + r0 * j->dim, j->w, r1 - r0, j->dim, j->eps, j->y + r0 * j->dim, j->add);
}

void g4_rmsnorm_pool(g4k_pool *pool, const float *x, const float *w, int64_t n_rows, int64_t dim, float eps, float *y)
{
    norm_job j = {x, w, y, dim, eps, 0};
    g4_parallel_for(n_rows * dim >= NORM_POOL_MIN_VALUES ? pool : NULL, n_rows, norm_range, &j);
}

void g4_add_rmsnorm_pool(g4k_pool *pool, float *y, const float *x, const float *w, int64_t n_rows, int64_t dim,
                         float eps)
{
    norm_job j = {x, w, y, dim, eps, 1};
    g4_parallel_for(n_rows * dim >= NORM_POOL_MIN_VALUES ? pool : NULL, n_rows, norm_range, &j);
}
