/* 12B Unified encoder-free image embedder (llama.cpp gemma4uv; gemma4-12b-unified.md §4.2, §4.4).
 *
 *   resize to the HF budget size (bicubic, antialias) -> x/255 -> 48x48 tiles in raster order
 *   per tile p (6912 values, CHW order as the converter permuted the weights):
 *     z = LN1(p); z = W_dense z + b; z = LN2(z); z += P[0][x] + P[1][y]; z = LN3(z)
 *     s = z / sqrt(mean(z^2) + eps)             (no weight)
 *     out = W_proj s
 * Tiles go through in chunks, so memory is bounded by the resized image (<= the budget) plus a
 * chunk of tile vectors, whatever the input size. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define G4_MMPROJ_PRIVATE
#include "base/internal.h"
#include "media/mmproj.h"
#include "ops/ops.h"

#define TILE_CHUNK 64 /* tiles per matmul batch */


int64_t g4_mmproj_image_tokens(const g4_mmproj *p, int w, int h, int max_soft_tokens)
{
    if (p && p->v_kind == G4_MM_TOWER) /* gemma4v: embed_image_tower.c */
        return g4_vtower_image_tokens(p, w, h, max_soft_tokens);
    int tw, th;
    if (!p || !p->has_vision || g4_image_target_size(w, h, max_soft_tokens, &tw, &th) != G4_OK)
        return -1;
    int64_t nx = tw / p->v_tile, ny = th / p->v_tile;
    if (nx > p->v_n_pos || ny > p->v_n_pos)
        return -1; /* beyond the position table */
    return nx * ny;
}

/* The resized image: the input itself when it is already at the target size (HF skips the
 * resize then), else a new buffer of exactly the target size. */
typedef struct rimg {
    const uint8_t *px;
    size_t stride;
    int w, h;
    uint8_t *owned;
} rimg;

static int prepare(rimg *r, const uint8_t *rgb, int w, int h, size_t stride, int S, char *err,
                   size_t errlen)
{
    memset(r, 0, sizeof *r);
    if (!rgb || w <= 0 || h <= 0 || w > G4_IMAGE_MAX_SIDE || h > G4_IMAGE_MAX_SIDE ||
        (int64_t)w * h > G4_IMAGE_MAX_PIXELS || stride < 3 * (size_t)w)
        return g4_errbuf(err, errlen, G4_ERR_INVALID_ARGUMENT, "image: bad pixels, size or stride");
    int tw, th;
    if (g4_image_target_size(w, h, S, &tw, &th) != G4_OK)
        return g4_errbuf(err, errlen, G4_ERR_INVALID_ARGUMENT,
                    "image: no target size for this shape and budget");
    r->w = tw;
    r->h = th;
    if (tw == w && th == h) {
        r->px = rgb;
        r->stride = stride;
        return G4_OK;
    }
    r->owned = malloc((size_t)tw * (size_t)th * 3);
    if (!r->owned)
        return g4_errbuf(err, errlen, G4_ERR_OUT_OF_MEMORY, "image: out of memory for the resized image");
    int rc = g4_image_resize_bicubic(rgb, w, h, stride, r->owned, tw, th, err, errlen);
    if (rc != G4_OK) {
        free(r->owned);
        r->owned = NULL;
        return rc;
    }
    r->px = r->owned;
    r->stride = 3 * (size_t)tw;
    return G4_OK;
}

int g4_image_tile_hwc(const uint8_t *rgb, int w, int h, size_t stride, int max_soft_tokens, int tx,
                      int ty, float *out, char *err, size_t errlen)
{
    rimg r;
    int rc = prepare(&r, rgb, w, h, stride, max_soft_tokens, err, errlen);
    if (rc != G4_OK)
        return rc;
    if (tx < 0 || ty < 0 || tx >= r.w / 48 || ty >= r.h / 48) {
        free(r.owned);
        return g4_errbuf(err, errlen, G4_ERR_INVALID_ARGUMENT, "image: tile index out of range");
    }
    for (int ky = 0; ky < 48; ky++)
        for (int kx = 0; kx < 48; kx++)
            for (int c = 0; c < 3; c++)
                out[(ky * 48 + kx) * 3 + c] =
                    r.px[(size_t)(ty * 48 + ky) * r.stride + (size_t)(tx * 48 + kx) * 3 + c] / 255.0f;
    free(r.owned);
    return G4_OK;
}

typedef struct tile_job {
    const g4_mmproj *p;
    const rimg *img;
    int nx;       /* tiles per row */
    int64_t t0;   /* first tile of the chunk */
    int n;        /* tiles in the chunk */
    float *x;     /* [n][v_tile_len] */
    float *y;     /* [n][v_dim] */
} tile_job;

/* Tile -> CHW vector in [0,1] -> LN1. The GGUF's Dense columns and LN1 were permuted HWC->CHW by
 * the converter, so the vector is laid out c*T*T + ky*T + kx. */
static void tiles_in(void *ctx, int ith, int nth)
{
    const tile_job *j = ctx;
    const g4_mmproj *p = j->p;
    const int T = p->v_tile, TT = T * T;
    for (int i = ith; i < j->n; i += nth) {
        int64_t t = j->t0 + i;
        int tx = (int)(t % j->nx), ty = (int)(t / j->nx);
        float *v = j->x + (size_t)i * p->v_tile_len;
        for (int ky = 0; ky < T; ky++) {
            const uint8_t *row = j->img->px + (size_t)(ty * T + ky) * j->img->stride + (size_t)tx * T * 3;
            for (int kx = 0; kx < T; kx++)
                for (int c = 0; c < 3; c++)
                    v[c * TT + ky * T + kx] = row[kx * 3 + c] / 255.0f;
        }
        g4_layernorm(v, p->ln1_w, p->ln1_b, 1, p->v_tile_len, p->v_ln_eps, v);
    }
}

/* + bias -> LN2 -> + pos[x] + pos[y] -> LN3 -> weightless RMSNorm. */
static void tiles_mid(void *ctx, int ith, int nth)
{
    const tile_job *j = ctx;
    const g4_mmproj *p = j->p;
    const int d = p->v_dim;
    for (int i = ith; i < j->n; i += nth) {
        int64_t t = j->t0 + i;
        int tx = (int)(t % j->nx), ty = (int)(t / j->nx);
        float *z = j->y + (size_t)i * d;
        for (int k = 0; k < d; k++)
            z[k] += p->dense_b[k];
        g4_layernorm(z, p->ln2_w, p->ln2_b, 1, d, p->v_ln_eps, z);
        const float *px = p->pos + (size_t)tx * d;                          /* plane 0: x */
        const float *py = p->pos + ((size_t)p->v_n_pos + (size_t)ty) * d;  /* plane 1: y */
        for (int k = 0; k < d; k++)
            z[k] += px[k] + py[k];
        g4_layernorm(z, p->ln3_w, p->ln3_b, 1, d, p->v_ln_eps, z);
        g4_rmsnorm(z, NULL, 1, d, p->v_rms_eps, z);
    }
}

int g4_mmproj_embed_image(const g4_mmproj *p, g4k_pool *pool, const uint8_t *rgb, int w, int h,
                          size_t stride, int max_soft_tokens, float *out, char *err, size_t errlen)
{
    if (p && p->v_kind == G4_MM_TOWER) /* gemma4v: embed_image_tower.c */
        return g4_vtower_embed_image(p, pool, rgb, w, h, stride, max_soft_tokens, out, err, errlen);
    if (!p || !p->has_vision)
        return g4_errbuf(err, errlen, G4_ERR_UNSUPPORTED, "image: the model has no vision projector");
    if (!out)
        return g4_errbuf(err, errlen, G4_ERR_INVALID_ARGUMENT, "image: out is NULL");
    int64_t n_tok = g4_mmproj_image_tokens(p, w, h, max_soft_tokens);
    if (n_tok <= 0)
        return g4_errbuf(err, errlen, G4_ERR_INVALID_ARGUMENT, "image: invalid size or token budget");
    rimg img;
    int rc = prepare(&img, rgb, w, h, stride, max_soft_tokens, err, errlen);
    if (rc != G4_OK)
        return rc;
    int chunk = n_tok < TILE_CHUNK ? (int)n_tok : TILE_CHUNK;
    float *x = malloc(sizeof(float) * (size_t)chunk * (size_t)p->v_tile_len);
    float *y = malloc(sizeof(float) * (size_t)chunk * (size_t)p->v_dim);
    if (!x || !y) {
        free(x);
        free(y);
        free(img.owned);
        return g4_errbuf(err, errlen, G4_ERR_OUT_OF_MEMORY, "image: out of memory");
    }
    tile_job j = {.p = p, .img = &img, .nx = img.w / p->v_tile, .x = x, .y = y};
    for (int64_t t0 = 0; t0 < n_tok; t0 += chunk) {
        j.t0 = t0;
        j.n = (int)(n_tok - t0 < chunk ? n_tok - t0 : chunk);
        g4k_pool_run(pool, tiles_in, &j);
        g4_linear(pool, p->lin_mode, &p->dense, x, j.n, y);
        g4k_pool_run(pool, tiles_mid, &j);
        g4_linear(pool, p->lin_mode, &p->vproj, y, j.n, out + (size_t)t0 * (size_t)p->n_embd);
    }
    free(x);
    free(y);
    free(img.owned);
    return G4_OK;
}
