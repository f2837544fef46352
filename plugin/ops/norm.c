/* RMSNorm (spec §2.1): y = x * (mean(x^2) + eps)^-1/2 * w, in f32, no (1 + w) offset;
 * the weightless variant (V norm, router input, the encoders' projections) passes w = NULL.
 * And torch's LayerNorm, for the encoders. */
#include <math.h>

#include "ops/ops.h"

/* Rows per call below which the pooled variants stay on the calling thread: a decode or
 * verify step's norms (<= 8 x 3840 values) cost less than a pool hand-off. */
#define NORM_POOL_MIN_VALUES 65536

/* sum x[i]^2 in double: each square is exact and the sum's rounding (~dim * 2^-53) is far below
 * the f32 result's, so the order of summation does not matter. Eight independent chains: one
 * chain of dependent double adds made the E2B tower's norms (per-head q/k/v norms of 64 values,
 * ~1M rows an image) 5% of a 1-thread embed. */
static double sum_sq(const float *x, int64_t n)
{
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0; /* registers, not an array */
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        a0 += (double)x[i] * x[i];
        a1 += (double)x[i + 1] * x[i + 1];
        a2 += (double)x[i + 2] * x[i + 2];
        a3 += (double)x[i + 3] * x[i + 3];
        a4 += (double)x[i + 4] * x[i + 4];
        a5 += (double)x[i + 5] * x[i + 5];
        a6 += (double)x[i + 6] * x[i + 6];
        a7 += (double)x[i + 7] * x[i + 7];
    }
    for (; i < n; i++)
        a0 += (double)x[i] * x[i];
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
}

void g4_rmsnorm(const float *x, const float *w, int64_t n_rows, int64_t dim, float eps, float *y)
{
    for (int64_t r = 0; r < n_rows; r++) {
        const float *xr = x + r * dim;
        float *yr = y + r * dim;
        const double ss = sum_sq(xr, dim);
        float inv = (float)(1.0 / sqrt(ss / (double)dim + (double)eps));
        if (w)
            for (int64_t i = 0; i < dim; i++)
                yr[i] = xr[i] * inv * w[i];
        else
            for (int64_t i = 0; i < dim; i++)
                yr[i] = xr[i] * inv;
    }
}

void g4_add_rmsnorm(float *y, const float *x, const float *w, int64_t n_rows, int64_t dim, float eps)
{
    for (int64_t r = 0; r < n_rows; r++) {
        const float *xr = x + r * dim;
        float *yr = y + r * dim;
        const double ss = sum_sq(xr, dim);
        float inv = (float)(1.0 / sqrt(ss / (double)dim + (double)eps));
        for (int64_t i = 0; i < dim; i++)
            yr[i] += xr[i] * inv * w[i];
    }
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
    if (j->add)
        g4_add_rmsnorm(j->y + r0 * j->dim, j->x + r0 * j->dim, j->w, r1 - r0, j->dim, j->eps);
    else
        g4_rmsnorm(j->x + r0 * j->dim, j->w, r1 - r0, j->dim, j->eps, j->y + r0 * j->dim);
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
