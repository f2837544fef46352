/* Antialiased bicubic resize of RGB8 images, matching what the HF Gemma 4 image processor does:
 * torchvision.transforms.v2.functional.resize(uint8 tensor, BICUBIC, antialias=True) on the CPU.
 * torchvision hands uint8 straight to torch's native uint8 kernel (aten UpSampleKernel.cpp,
 * compute_index_ranges_int16_weights): the same algorithm as Pillow's ImagingResample -
 * separable, horizontal pass first, Keys cubic with a = -0.5 stretched by the scale when
 * downsampling, weights normalised per output pixel, then quantized to int16 with the largest
 * precision that keeps the biggest weight below 2^15, accumulated in int32 from a half-unit
 * rounding offset, shifted and clamped to uint8 after *each* pass.
 *
 * Two other variants are kept for comparison (tests and tools): the f32 kernel (what torch does
 * for float input) and Pillow's 22-bit fixed point. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "media/mmproj.h"

/* Keys cubic convolution, a = -0.5 (torch aa_filter / Pillow bicubic_filter). */
static double cubic_d(double x)
{
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0)
        return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

/* torch's float kernel evaluates the same polynomial in float, in this form. */
static float cubic_f(float x)
{
    const float a = -0.5f;
    x = fabsf(x);
    if (x < 1.0f)
        return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2.0f)
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    return 0.0f;
}

/* Per-output-pixel taps along one axis. */
typedef struct axis {
    int n_out, ksize;  /* ksize: taps reserved per output */
    int *xmin, *xsize; /* [n_out] */
    float *wf;         /* [n_out * ksize] float weights (f32 mode) */
    int32_t *wi;       /* [n_out * ksize] fixed-point weights (integer modes) */
    int prec;          /* fixed-point precision in bits */
    int identity;      /* in == out: the pass is skipped, as torch and Pillow do */
} axis;

static void axis_free(axis *a)
{
    free(a->xmin);
    free(a->xsize);
    free(a->wf);
    free(a->wi);
}

static int axis_init(axis *a, int in, int out, g4_resize_mode mode)
{
    memset(a, 0, sizeof *a);
    a->n_out = out;
    a->identity = in == out;
    if (a->identity) {
        a->ksize = 1;
    } else {
        double scale = (double)in / out;
        double support = scale >= 1.0 ? 2.0 * scale : 2.0; /* interp_size 4 * 0.5 */
        a->ksize = (int)ceil(support) * 2 + 1;
    }
    a->xmin = malloc(sizeof(int) * (size_t)out);
    a->xsize = malloc(sizeof(int) * (size_t)out);
    size_t nw = (size_t)out * (size_t)a->ksize;
    a->wf = malloc(sizeof(float) * nw);
    a->wi = malloc(sizeof(int32_t) * nw);
    /* zeroed: the fixed-point pass converts every slot, also those past xsize[i] (fuzz_image) */
    double *wd = calloc(nw, sizeof(double));
    if (!a->xmin || !a->xsize || !a->wf || !a->wi || !wd) {
        free(wd);
        axis_free(a);
        return -1;
    }
    if (a->identity) {
        for (int i = 0; i < out; i++) {
            a->xmin[i] = i;
            a->xsize[i] = 1;
            a->wf[i] = 1.0f;
            a->wi[i] = 1;
        }
        a->prec = 0;
        free(wd);
        return 0;
    }
    if (mode == G4_RESIZE_TORCH_F32) {
        /* aten _compute_indices_min_size_weights_aa with scalar_t = float. */
        float scale = (float)in / (float)out;
        float support = scale >= 1.0f ? 2.0f * scale : 2.0f;
        float invscale = scale >= 1.0f ? 1.0f / scale : 1.0f;
        for (int i = 0; i < out; i++) {
            float center = (float)(scale * (i + 0.5));
            int64_t lo = (int64_t)(center - support + 0.5);
            int64_t hi = (int64_t)(center + support + 0.5);
            if (lo < 0)
                lo = 0;
            if (hi > in)
                hi = in;
            int n = (int)(hi - lo);
            if (n > a->ksize)
                n = a->ksize;
            float *w = a->wf + (size_t)i * a->ksize;
            float total = 0.0f;
            for (int j = 0; j < n; j++) {
                w[j] = cubic_f((float)(((float)(j + lo) - center + 0.5) * invscale));
                total += w[j];
            }
            for (int j = 0; j < n; j++)
                w[j] = total != 0.0f ? w[j] / total : 0.0f;
            a->xmin[i] = (int)lo;
            a->xsize[i] = n;
        }
        free(wd);
        return 0;
    }
    /* Integer modes: weights in double, then fixed point. */
    double scale = (double)in / out;
    double support = scale >= 1.0 ? 2.0 * scale : 2.0;
    double invscale = scale >= 1.0 ? 1.0 / scale : 1.0;
    double wt_max = 0.0;
    for (int i = 0; i < out; i++) {
        double center = scale * (i + 0.5);
        int64_t lo = (int64_t)(center - support + 0.5);
        int64_t hi = (int64_t)(center + support + 0.5);
        if (lo < 0)
            lo = 0;
        if (hi > in)
            hi = in;
        int n = (int)(hi - lo);
        if (n > a->ksize)
            n = a->ksize;
        double *w = wd + (size_t)i * a->ksize;
        double total = 0.0;
        for (int j = 0; j < n; j++) {
            w[j] = cubic_d(((double)(j + lo) - center + 0.5) * invscale);
            total += w[j];
        }
        for (int j = 0; j < n; j++) {
            w[j] = total != 0.0 ? w[j] / total : 0.0;
            if (w[j] > wt_max)
                wt_max = w[j];
        }
        a->xmin[i] = (int)lo;
        a->xsize[i] = n;
    }
    if (mode == G4_RESIZE_PIL) {
        a->prec = 22; /* Pillow PRECISION_BITS = 32 - 8 - 2 */
    } else {
        /* torch: the largest precision whose biggest weight still fits int16. */
        int p;
        for (p = 0; p < 22; ++p) {
            int next = (int)(0.5 + wt_max * (double)(1 << (p + 1)));
            if (next >= (1 << 15))
                break;
        }
        a->prec = p;
    }
    for (size_t k = 0; k < nw; k++) {
        double v = wd[k] * (double)(1 << a->prec);
        a->wi[k] = v < 0 ? (int32_t)(-0.5 + v) : (int32_t)(0.5 + v);
    }
    free(wd);
    return 0;
}

static inline uint8_t clip_shift(int64_t acc, int prec)
{
    int64_t v = acc >> prec; /* arithmetic shift, as both C++ implementations do */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static inline uint8_t round_f(float v)
{
    v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
    return (uint8_t)nearbyintf(v); /* torch.round: half to even */
}

/* One horizontally resampled row (3 * dw floats). Integer modes store the uint8 result. */
static void hpass(const axis *ax, const uint8_t *srow, float *drow, g4_resize_mode mode)
{
    for (int x = 0; x < ax->n_out; x++) {
        const uint8_t *s = srow + 3 * (size_t)ax->xmin[x];
        int n = ax->xsize[x];
        if (ax->identity) {
            for (int c = 0; c < 3; c++)
                drow[3 * x + c] = s[c];
            continue;
        }
        if (mode == G4_RESIZE_TORCH_F32) {
            const float *w = ax->wf + (size_t)x * ax->ksize;
            for (int c = 0; c < 3; c++) {
                float acc = (float)s[c] * w[0];
                for (int j = 1; j < n; j++)
                    acc += (float)s[3 * j + c] * w[j];
                drow[3 * x + c] = acc;
            }
        } else {
            const int32_t *w = ax->wi + (size_t)x * ax->ksize;
            for (int c = 0; c < 3; c++) {
                int64_t acc = (int64_t)1 << (ax->prec - 1);
                for (int j = 0; j < n; j++)
                    acc += (int64_t)s[3 * j + c] * w[j];
                drow[3 * x + c] = clip_shift(acc, ax->prec);
            }
        }
    }
}

int g4_image_resize_mode(const uint8_t *src, int sw, int sh, size_t sstride, uint8_t *dst, int dw,
                         int dh, g4_resize_mode mode, char *err, size_t errlen)
{
    if (!src || !dst || sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0 || sstride < 3 * (size_t)sw) {
        return g4_errbuf(err, errlen, G4_ERR_INVALID_ARGUMENT, "resize: bad arguments");
    }
    axis ax, ay;
    if (axis_init(&ax, sw, dw, mode)) {
        return g4_errbuf(err, errlen, G4_ERR_OUT_OF_MEMORY, "resize: out of memory");
    }
    if (axis_init(&ay, sh, dh, mode)) {
        axis_free(&ax);
        return g4_errbuf(err, errlen, G4_ERR_OUT_OF_MEMORY, "resize: out of memory");
    }
    /* Ring of horizontally resampled source rows: output row y reads rows
     * [ymin[y], ymin[y] + ysize[y]), and ymin never decreases, so ksize rows suffice. */
    int ring_n = ay.ksize;
    size_t roww = 3 * (size_t)dw;
    float *ring = malloc(sizeof(float) * roww * (size_t)ring_n);
    if (!ring) {
        axis_free(&ax);
        axis_free(&ay);
        return g4_errbuf(err, errlen, G4_ERR_OUT_OF_MEMORY, "resize: out of memory");
    }
    int next = 0; /* next source row to resample horizontally */
    for (int y = 0; y < dh; y++) {
        int y0 = ay.xmin[y], n = ay.xsize[y];
        for (; next < y0 + n; next++)
            hpass(&ax, src + (size_t)next * sstride, ring + roww * (size_t)(next % ring_n), mode);
        uint8_t *d = dst + roww * (size_t)y;
        if (ay.identity) {
            const float *r = ring + roww * (size_t)(y % ring_n);
            for (size_t i = 0; i < roww; i++)
                d[i] = mode == G4_RESIZE_TORCH_F32 ? round_f(r[i]) : (uint8_t)r[i];
            continue;
        }
        if (mode == G4_RESIZE_TORCH_F32) {
            const float *w = ay.wf + (size_t)y * ay.ksize;
            for (size_t i = 0; i < roww; i++) {
                float acc = ring[roww * (size_t)(y0 % ring_n) + i] * w[0];
                for (int j = 1; j < n; j++)
                    acc += ring[roww * (size_t)((y0 + j) % ring_n) + i] * w[j];
                d[i] = round_f(acc);
            }
        } else {
            const int32_t *w = ay.wi + (size_t)y * ay.ksize;
            for (size_t i = 0; i < roww; i++) {
                int64_t acc = (int64_t)1 << (ay.prec - 1);
                for (int j = 0; j < n; j++)
                    acc += (int64_t)ring[roww * (size_t)((y0 + j) % ring_n) + i] * w[j];
                d[i] = clip_shift(acc, ay.prec);
            }
        }
    }
    free(ring);
    axis_free(&ax);
    axis_free(&ay);
    return G4_OK;
}

int g4_image_resize_bicubic(const uint8_t *src, int sw, int sh, size_t sstride, uint8_t *dst,
                            int dw, int dh, char *err, size_t errlen)
{
    return g4_image_resize_mode(src, sw, sh, sstride, dst, dw, dh, G4_RESIZE_DEFAULT, err, errlen);
}

/* The size an image is resized to before either encoder sees it (the unified projector's tiles
 * and the vision tower's patches follow the same budget rule). */
/* HF get_aspect_ratio_preserving_size (image_processing_gemma4*), same double arithmetic. */
int g4_image_target_size(int w, int h, int max_soft_tokens, int *tw, int *th)
{
    if (max_soft_tokens == 0)
        max_soft_tokens = G4_IMAGE_DEFAULT_SOFT_TOKENS;
    if (w <= 0 || h <= 0 || max_soft_tokens < 0 || max_soft_tokens > (1 << 20))
        return G4_ERR_INVALID_ARGUMENT;
    const int side = 48; /* patch 16 x pooling 3 */
    double max_patches = 9.0 * max_soft_tokens;
    double target_px = max_patches * 16 * 16;
    double factor = sqrt(target_px / ((double)h * (double)w));
    double ih = factor * h, iw = factor * w;
    double fh = floor(ih / side) * side, fw = floor(iw / side) * side;
    double max_side = (double)max_soft_tokens * side; /* (max_patches / 9) * 48 */
    if (fh == 0 && fw == 0)
        return G4_ERR_INVALID_ARGUMENT;
    if (fh == 0) {
        fh = side;
        fw = floor((double)w / h) * side;
        if (fw > max_side)
            fw = max_side;
    } else if (fw == 0) {
        fw = side;
        fh = floor((double)h / w) * side;
        if (fh > max_side)
            fh = max_side;
    }
    if (fw > (1 << 24) || fh > (1 << 24))
        return G4_ERR_INVALID_ARGUMENT;
    *tw = (int)fw;
    *th = (int)fh;
    return G4_OK;
}
