/* 12B Unified encoder-free audio embedder (llama.cpp gemma4ua; gemma4-12b-unified.md §5):
 * 16 kHz mono samples cut into 640-sample frames (the partial last frame zero-padded and kept),
 * each frame s = f / sqrt(mean(f^2) + eps) (no weight; an all-zero frame stays 0), out = W_a s.
 * Frames go through in chunks, so long audio costs a bounded amount of scratch memory. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define G4_MMPROJ_PRIVATE
#include "base/internal.h"
#include "media/mmproj.h"
#include "ops/ops.h"

#define FRAME_CHUNK 256 /* frames per matmul batch */


int64_t g4_mmproj_audio_tokens(const g4_mmproj *p, size_t n_samples_16k)
{
    if (p && p->a_kind == G4_MM_TOWER) /* gemma4a: embed_audio_conformer.c */
        return g4_atower_audio_tokens(p, n_samples_16k);
    if (!p || !p->has_audio || n_samples_16k == 0)
        return -1;
    return (int64_t)((n_samples_16k + (size_t)p->a_frame - 1) / (size_t)p->a_frame);
}

typedef struct frame_job {
    const g4_mmproj *p;
    const float *samples;
    size_t n;     /* total samples */
    int64_t f0;   /* first frame of the chunk */
    int nf;
    float *x;     /* [nf][a_frame] */
} frame_job;

static void frames_in(void *ctx, int ith, int nth)
{
    const frame_job *j = ctx;
    const int F = j->p->a_frame;
    for (int i = ith; i < j->nf; i += nth) {
        size_t s0 = (size_t)(j->f0 + i) * (size_t)F;
        size_t avail = j->n - s0 < (size_t)F ? j->n - s0 : (size_t)F;
        float *f = j->x + (size_t)i * F;
        memcpy(f, j->samples + s0, avail * sizeof(float));
        memset(f + avail, 0, ((size_t)F - avail) * sizeof(float)); /* zero-padded tail */
        g4_rmsnorm(f, NULL, 1, F, j->p->a_rms_eps, f);
    }
}

int g4_mmproj_embed_audio(const g4_mmproj *p, g4k_pool *pool, const float *samples_16k, size_t n,
                          float *out, char *err, size_t errlen)
{
    if (p && p->a_kind == G4_MM_TOWER) /* gemma4a: embed_audio_conformer.c */
        return g4_atower_embed_audio(p, pool, samples_16k, n, out, err, errlen);
    if (!p || !p->has_audio)
        return g4_errbuf(err, errlen, G4_ERR_UNSUPPORTED, "audio: the model has no audio projector");
    if (!samples_16k || !out || n == 0)
        return g4_errbuf(err, errlen, G4_ERR_INVALID_ARGUMENT, "audio: no samples or no output buffer");
    int64_t n_tok = g4_mmproj_audio_tokens(p, n);
    int chunk = n_tok < FRAME_CHUNK ? (int)n_tok : FRAME_CHUNK;
    float *x = malloc(sizeof(float) * (size_t)chunk * (size_t)p->a_frame);
    if (!x)
        return g4_errbuf(err, errlen, G4_ERR_OUT_OF_MEMORY, "audio: out of memory");
    frame_job j = {.p = p, .samples = samples_16k, .n = n, .x = x};
    for (int64_t f0 = 0; f0 < n_tok; f0 += chunk) {
        j.f0 = f0;
        j.nf = (int)(n_tok - f0 < chunk ? n_tok - f0 : chunk);
        g4k_pool_run(pool, frames_in, &j);
        g4_linear(pool, p->lin_mode, &p->aproj, x, j.nf, out + (size_t)f0 * (size_t)p->n_embd);
    }
    free(x);
    return G4_OK;
}
