/* ABI entry points for multimodal embeddings: g4_image_options_init, g4_embed_image,
 * g4_embed_audio, g4_embed_image_file, g4_embed_audio_file.
 *
 * The work happens in the g4_embed_*_mm functions, which take the projector, pool and width
 * explicitly (tests call them directly); the ABI functions only fetch those from the model. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "media/mmproj.h"

#include "model/model.h" /* g4_model_mmproj, g4_model_pool, g4_model_hparams */

#define ERRLEN 256

#define IMAGE_OPTIONS_V1_SIZE G4_V1_0_SIZE(g4_image_options, max_soft_tokens)

static void image_options_defaults(g4_image_options *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->max_soft_tokens = G4_IMAGE_DEFAULT_SOFT_TOKENS;
}

static int budget_ok(int32_t s) { return s == 0 || s == 70 || s == 140 || s == 280 || s == 560 || s == 1120; }

static g4_status get_budget(const g4_image_options *opt, int *S)
{
    *S = G4_IMAGE_DEFAULT_SOFT_TOKENS;
    if (!opt)
        return G4_OK;
    g4_image_options in;
    image_options_defaults(&in);
    g4_status st = g4_struct_in(&in, sizeof in, opt, IMAGE_OPTIONS_V1_SIZE, "g4_image_options");
    if (st != G4_OK)
        return st;
    opt = &in;
    if (!budget_ok(opt->max_soft_tokens))
        return g4_fail(G4_ERR_INVALID_ARGUMENT,
                       "g4_image_options.max_soft_tokens is %d: use 70, 140, 280, 560 or 1120 "
                       "(0 = 280)",
                       (int)opt->max_soft_tokens);
    if (opt->max_soft_tokens)
        *S = opt->max_soft_tokens;
    return G4_OK;
}

/* Two-call pattern: sizing call, buffer check. Returns 1 when the caller should go on. */
static int two_call(g4_status *st, int64_t n_tok, int n_embd, const float *out, size_t out_cap,
                    size_t *n_tokens)
{
    *n_tokens = (size_t)n_tok;
    if (!out) {
        *st = G4_OK;
        return 0;
    }
    if (out_cap / (size_t)n_embd < (size_t)n_tok) {
        *st = g4_fail(G4_ERR_BUFFER_TOO_SMALL, "output needs %lld x %d floats, out_cap is %zu",
                      (long long)n_tok, n_embd, out_cap);
        return 0;
    }
    return 1;
}

g4_status g4_embed_image_mm(const g4_mmproj *p, g4k_pool *pool, const uint8_t *rgb, int32_t width,
                            int32_t height, size_t stride, const g4_image_options *opt, float *out,
                            size_t out_cap, size_t *n_tokens)
{
    g4_clear_error();
    if (!n_tokens)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_embed_image: n_tokens is NULL");
    *n_tokens = 0;
    if (!g4_mmproj_has_vision(p))
        return g4_fail(G4_ERR_UNSUPPORTED, "g4_embed_image: the model has no vision projector "
                                           "(load one with g4_load_params.mmproj)");
    if (!rgb)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_embed_image: rgb is NULL");
    if (width <= 0 || height <= 0 || width > G4_IMAGE_MAX_SIDE || height > G4_IMAGE_MAX_SIDE ||
        (int64_t)width * height > G4_IMAGE_MAX_PIXELS)
        return g4_fail(G4_ERR_INVALID_ARGUMENT,
                       "g4_embed_image: image size %dx%d is outside 1..%d per side / %lld pixels",
                       (int)width, (int)height, G4_IMAGE_MAX_SIDE, (long long)G4_IMAGE_MAX_PIXELS);
    if (stride < 3 * (size_t)width)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_embed_image: stride %zu < 3 x width (%d)",
                       stride, (int)width);
    int S;
    g4_status st = get_budget(opt, &S);
    if (st != G4_OK)
        return st;
    int64_t n_tok = g4_mmproj_image_tokens(p, width, height, S);
    if (n_tok <= 0)
        return g4_fail(G4_ERR_INVALID_ARGUMENT,
                       "g4_embed_image: a %dx%d image has no valid size under a %d-token budget",
                       (int)width, (int)height, S);
    if (!two_call(&st, n_tok, g4_mmproj_n_embd(p), out, out_cap, n_tokens))
        return st;
    char err[ERRLEN] = "";
    int rc = g4_mmproj_embed_image(p, pool, rgb, width, height, stride, S, out, err, sizeof err);
    return rc == G4_OK ? G4_OK : g4_fail(rc, "g4_embed_image: %s", err);
}

/* 16 kHz sample count after resampling n samples at `rate` (same formula as g4_audio_resample). */
static size_t n_16k(size_t n, int rate)
{
    return (size_t)(((unsigned long long)n * 16000u + (unsigned)rate - 1) / (unsigned)rate);
}

g4_status g4_embed_audio_mm(const g4_mmproj *p, g4k_pool *pool, const float *samples,
                            size_t n_samples, int32_t sample_rate, float *out, size_t out_cap,
                            size_t *n_tokens)
{
    g4_clear_error();
    if (!n_tokens)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_embed_audio: n_tokens is NULL");
    *n_tokens = 0;
    if (!g4_mmproj_has_audio(p))
        return g4_fail(G4_ERR_UNSUPPORTED, "g4_embed_audio: the model has no audio projector "
                                           "(load one with g4_load_params.mmproj)");
    if (!samples || n_samples == 0)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_embed_audio: no samples");
    if (sample_rate < G4_AUDIO_MIN_RATE || sample_rate > G4_AUDIO_MAX_RATE)
        return g4_fail(G4_ERR_INVALID_ARGUMENT,
                       "g4_embed_audio: sample rate %d Hz is outside %d..%d", (int)sample_rate,
                       G4_AUDIO_MIN_RATE, G4_AUDIO_MAX_RATE);
    if (n_samples > ((size_t)1 << 40))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_embed_audio: %zu samples is too long", n_samples);
    int64_t n_tok = g4_mmproj_audio_tokens(p, n_16k(n_samples, sample_rate));
    g4_status st;
    if (!two_call(&st, n_tok, g4_mmproj_n_embd(p), out, out_cap, n_tokens))
        return st;
    /* (not in the sizing call, which does not read the samples) NaN or Inf would make every
     * output NaN or empty */
    for (size_t i = 0; i < n_samples; i++)
        if (!isfinite(samples[i]))
            return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_embed_audio: sample %zu is %s", i,
                           isnan(samples[i]) ? "NaN" : "infinite");
    char err[ERRLEN] = "";
    float *res = NULL;
    const float *x = samples;
    size_t n = n_samples;
    if (sample_rate != 16000) {
        int rc = g4_audio_resample(samples, n_samples, sample_rate, 16000, &res, &n, err, sizeof err);
        if (rc != G4_OK)
            return g4_fail(rc, "g4_embed_audio: %s", err);
        x = res;
    }
    int rc = g4_mmproj_embed_audio(p, pool, x, n, out, err, sizeof err);
    free(res);
    return rc == G4_OK ? G4_OK : g4_fail(rc, "g4_embed_audio: %s", err);
}

g4_status g4_embed_image_file_mm(const g4_mmproj *p, g4k_pool *pool, const void *bytes,
                                 size_t size, const g4_image_options *opt, float *out,
                                 size_t out_cap, size_t *n_tokens)
{
    g4_clear_error();
    if (!n_tokens)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_embed_image_file: n_tokens is NULL");
    *n_tokens = 0;
    if (!g4_mmproj_has_vision(p))
        return g4_fail(G4_ERR_UNSUPPORTED, "g4_embed_image_file: the model has no vision projector");
    if (!bytes || size == 0)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_embed_image_file: no bytes");
    int S;
    g4_status st = get_budget(opt, &S);
    if (st != G4_OK)
        return st;
    char err[ERRLEN] = "";
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    int rc = g4_image_decode(bytes, size, &rgb, &w, &h, err, sizeof err);
    if (rc != G4_OK)
        return g4_fail(rc, "g4_embed_image_file: %s", err);
    st = g4_embed_image_mm(p, pool, rgb, w, h, 3 * (size_t)w, opt, out, out_cap, n_tokens);
    free(rgb);
    return st;
}

g4_status g4_embed_audio_file_mm(const g4_mmproj *p, g4k_pool *pool, const void *bytes,
                                 size_t size, float *out, size_t out_cap, size_t *n_tokens)
{
    g4_clear_error();
    if (!n_tokens)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_embed_audio_file: n_tokens is NULL");
    *n_tokens = 0;
    if (!g4_mmproj_has_audio(p))
        return g4_fail(G4_ERR_UNSUPPORTED, "g4_embed_audio_file: the model has no audio projector");
    if (!bytes || size == 0)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_embed_audio_file: no bytes");
    char err[ERRLEN] = "";
    float *x = NULL;
    size_t n = 0;
    int rate = 0;
    int rc = g4_audio_decode(bytes, size, &x, &n, &rate, err, sizeof err);
    if (rc != G4_OK)
        return g4_fail(rc, "g4_embed_audio_file: %s", err);
    if (rate < G4_AUDIO_MIN_RATE || rate > G4_AUDIO_MAX_RATE) {
        free(x);
        return g4_fail(G4_ERR_UNSUPPORTED,
                       "g4_embed_audio_file: the file's sample rate %d Hz is outside %d..%d", rate,
                       G4_AUDIO_MIN_RATE, G4_AUDIO_MAX_RATE);
    }
    g4_status st = g4_embed_audio_mm(p, pool, x, n, rate, out, out_cap, n_tokens);
    free(x);
    return st;
}

/* ---- the ABI ------------------------------------------------------------------------------- */
G4_DEFINE_STRUCT_INIT(g4_image_options, IMAGE_OPTIONS_V1_SIZE, image_options_defaults)

/* The model's projector and pool; G4_ERR_* with the error set when there is none. */
g4_status g4_abi_model_mm(const g4_model *m, const char *fn, const g4_mmproj **p, g4k_pool **pool)
{
    g4_clear_error();
    *p = NULL;
    *pool = NULL;
    if (!g4_model_live(m))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "%s: model is NULL or not a live handle", fn);
    *p = g4_model_mmproj(m);
    *pool = g4_model_pool(m);
    if (*p && g4_mmproj_n_embd(*p) != g4_model_hparams(m)->n_embd)
        return g4_fail(G4_ERR_MISMATCH, "%s: the projector's width %d is not the model's %d", fn,
                       g4_mmproj_n_embd(*p), (int)g4_model_hparams(m)->n_embd);
    return G4_OK;
}

G4_API g4_status G4_CALL g4_embed_image(const g4_model *m, const uint8_t *rgb, int32_t width,
                                        int32_t height, size_t stride, const g4_image_options *opt,
                                        float *out, size_t out_cap, size_t *n_tokens)
{
    const g4_mmproj *p;
    g4k_pool *pool;
    g4_status st = g4_abi_model_mm(m, "g4_embed_image", &p, &pool);
    if (st != G4_OK)
        return st;
    return g4_embed_image_mm(p, pool, rgb, width, height, stride, opt, out, out_cap, n_tokens);
}

G4_API g4_status G4_CALL g4_embed_audio(const g4_model *m, const float *samples, size_t n_samples,
                                        int32_t sample_rate, float *out, size_t out_cap,
                                        size_t *n_tokens)
{
    const g4_mmproj *p;
    g4k_pool *pool;
    g4_status st = g4_abi_model_mm(m, "g4_embed_audio", &p, &pool);
    if (st != G4_OK)
        return st;
    return g4_embed_audio_mm(p, pool, samples, n_samples, sample_rate, out, out_cap, n_tokens);
}

G4_API g4_status G4_CALL g4_embed_image_file(const g4_model *m, const void *bytes, size_t size,
                                             const g4_image_options *opt, float *out,
                                             size_t out_cap, size_t *n_tokens)
{
    const g4_mmproj *p;
    g4k_pool *pool;
    g4_status st = g4_abi_model_mm(m, "g4_embed_image_file", &p, &pool);
    if (st != G4_OK)
        return st;
    return g4_embed_image_file_mm(p, pool, bytes, size, opt, out, out_cap, n_tokens);
}

G4_API g4_status G4_CALL g4_embed_audio_file(const g4_model *m, const void *bytes, size_t size,
                                             float *out, size_t out_cap, size_t *n_tokens)
{
    const g4_mmproj *p;
    g4k_pool *pool;
    g4_status st = g4_abi_model_mm(m, "g4_embed_audio_file", &p, &pool);
    if (st != G4_OK)
        return st;
    return g4_embed_audio_file_mm(p, pool, bytes, size, out, out_cap, n_tokens);
}
