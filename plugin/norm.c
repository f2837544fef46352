/* RMSNorm (spec §2.1): y = x * (mean(x^2) + eps)^-1/2 * w, in f32, no (1 + w) offset;
 * the weightless variant (V norm, router input) passes w = NULL. And the tanh GELU. */
#include <math.h>

#include "model.h"

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

/* gelu_pytorch_tanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
float g4_gelu_tanh(float x)
{
    const float k = 0.7978845608028654f;
    return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}
