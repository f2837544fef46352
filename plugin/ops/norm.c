/* RMSNorm (spec §2.1): y = x * (mean(x^2) + eps)^-1/2 * w, in f32, no (1 + w) offset;
 * the weightless variant (V norm, router input, the encoders' projections) passes w = NULL.
 * And torch's LayerNorm, for the encoders. */
#include <math.h>

#include "ops/ops.h"

void g4_rmsnorm(const float *x, const float *w, int64_t n_rows, int64_t dim, float eps, float *y)
{
    for (int64_t r = 0; r < n_rows; r++) {
        const float *xr = x + r * dim;
        float *yr = y + r * dim;
        double ss = 0.0; /* double sum: row order of summation then never matters */
        for (int64_t i = 0; i < dim; i++)
            ss += (double)xr[i] * xr[i];
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
        double ss = 0.0;
        for (int64_t i = 0; i < dim; i++)
            ss += (double)xr[i] * xr[i];
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
