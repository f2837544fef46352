/* gemma4a audio conformer (E2B/E4B; spec §5, llama.cpp gemma4a, HF Gemma4AudioModel):
 *
 *   log-mel [F][128] (audio_mel.c; only the F valid frames: HF zeroes the rest and masks them)
 *   SSCP: 2 x (conv2d 3x3 stride 2 pad 1, no bias -> LayerNorm over channels (weight only) -> ReLU)
 *         flatten (freq, channel) channel-fastest -> input_projection          T' = ceil(ceil(F/2)/2)
 *   12 x conformer layer:
 *     x += 0.5 rms(W2 silu(W1 rms(clamp x; pre)); post)                          (FFN 1)
 *     x += rms(clamp(W_post localattn(rms(clamp x; norm_pre_attn))); norm_post_attn)
 *     x += W_end silu(rms(clamp(dwconv5_causal(glu(W_start rms(x; pre)))); conv_norm))
 *     x += 0.5 rms(W2 silu(W1 rms(clamp x; pre)); post)                          (FFN 2)
 *     x = rms(clamp x; norm_out)
 *   output_proj (+bias) -> weightless rms -> mm.a.input_projection
 * Audio longer than 30 s is encoded in independent 30 s chunks (llama.cpp; HF truncates), so
 * scratch is bounded by one chunk whatever the length. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define G4_MMPROJ_PRIVATE
#include "base/internal.h"
#include "media/mmproj.h"
#include "ops/ops.h"

#define CHUNK 12        /* attention_chunk_size */
#define PAST 12         /* max_past_horizon = attention_context_left - 1 */
#define CTX (CHUNK + PAST)
#define NREL (PAST + 1) /* relative distances 12..0 */
#define SOFTCAP 50.0f
#define INVALID_LOGIT -1e9f
#define GRAD_CLIP 1e10f /* gradient_clipping: the clamps are effectively no-ops */
#define SSCP_BLOCK 16   /* output time steps of the SSCP per batch */


/* Tokens of one <= 30 s chunk: the two stride-2 convs on the valid mel frames. */
static int64_t chunk_tokens(size_t n)
{
    int64_t valid = 0;
    g4_mel_frames(n, &valid);
    int64_t t1 = (valid + 1) / 2;
    return (t1 + 1) / 2;
}

int64_t g4_atower_audio_tokens(const g4_mmproj *p, size_t n)
{
    if (!p || !p->has_audio)
        return -1;
    int64_t t = 0;
    for (size_t off = 0; off < n; off += G4_AUDIO_CHUNK_SAMPLES)
        t += chunk_tokens(n - off < G4_AUDIO_CHUNK_SAMPLES ? n - off : G4_AUDIO_CHUNK_SAMPLES);
    return t;
}

void g4_audio_rel_pos_table(int d, float *out)
{
    const int nts = d / 2;
    const double inc = log(1e4) / (nts > 1 ? nts - 1 : 1);
    for (int p = 0; p < NREL; p++) {
        double pos = PAST - p;
        for (int i = 0; i < nts; i++) {
            float inv = (float)exp(-i * inc);
            float ang = (float)pos * inv; /* f32 like HF */
            out[p * d + i] = sinf(ang);
            out[p * d + nts + i] = cosf(ang);
        }
    }
}

/* Transformer-XL rel-shift of one block (HF _rel_shift): pad [CHUNK][NREL] to [CHUNK][CTX+1]
 * with zeros, flatten, keep the first CHUNK*CTX values, view as [CHUNK][CTX]. */
static void rel_shift(const float *raw, float *out)
{
    for (int f = 0; f < CHUNK * CTX; f++) {
        int row = f / (CTX + 1), col = f % (CTX + 1);
        out[f] = col < NREL ? raw[row * NREL + col] : 0.0f;
    }
}

typedef struct attn_job {
    const float *q, *k, *v, *rk;
    int64_t n, n_blocks;
    int n_head, hd;
    float *out;
} attn_job;

/* The KV-cache row kernel where the width allows (8 lanes of partial sums: a serial scalar chain
 * here was ~1/10 of a 30 s clip's conformer). */
static float dot(const float *a, const float *b, int n)
{
    if (n % 8 == 0)
        return g4k_row_dot(G4_TYPE_F32, a, b, n);
    float s = 0.0f;
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* One (head, block) pair per item: 12 queries against their 24-frame context. */
static void attn_blocks(void *ctx, int64_t i0, int64_t i1)
{
    const attn_job *j = ctx;
    const int hd = j->hd, d = j->n_head * hd;
    float raw[CHUNK * NREL], bd[CHUNK * CTX], w[CTX];
    for (int64_t it = i0; it < i1; it++) {
        int h = (int)(it % j->n_head);
        int64_t b = it / j->n_head, base = b * CHUNK;
        for (int r = 0; r < CHUNK; r++) /* q . rk[p] for every query row of the block */
            for (int p = 0; p < NREL; p++)
                raw[r * NREL + p] = base + r < j->n ? dot(j->q + (base + r) * d + h * hd,
                                                          j->rk + (size_t)p * d + h * hd, hd)
                                                    : 0.0f;
        rel_shift(raw, bd);
        for (int r = 0; r < CHUNK && base + r < j->n; r++) {
            int64_t i = base + r;
            const float *qi = j->q + i * d + h * hd;
            float mx = -INFINITY;
            for (int c = 0; c < CTX; c++) {
                int64_t kj = base - PAST + c;
                int ok = kj >= 0 && kj < j->n && i - kj >= 0 && i - kj < PAST;
                float ac = kj >= 0 && kj < j->n ? dot(qi, j->k + kj * d + h * hd, hd) : 0.0f;
                float l = SOFTCAP * tanhf((ac + bd[r * CTX + c]) / SOFTCAP);
                w[c] = ok ? l : INVALID_LOGIT; /* masked_fill, not add */
                mx = w[c] > mx ? w[c] : mx;
            }
            const float sum = g4k_exp_sub_sum(w, CTX, mx);
            float *o = j->out + i * d + h * hd;
            memset(o, 0, sizeof(float) * (size_t)hd);
            for (int c = 0; c < CTX; c++) {
                int64_t kj = base - PAST + c;
                if (kj < 0 || kj >= j->n)
                    continue; /* zero padding in HF */
                float pw = w[c] / sum;
                const float *vj = j->v + kj * d + h * hd;
                for (int e = 0; e < hd; e++)
                    o[e] += pw * vj[e];
            }
        }
    }
}

void g4_audio_local_attention(g4k_pool *pool, const float *q, const float *k, const float *v,
                              const float *rk, int64_t n, int n_head, int hd, float *out)
{
    attn_job j = {.q = q, .k = k, .v = v, .rk = rk, .n = n, .n_blocks = (n + CHUNK - 1) / CHUNK,
                  .n_head = n_head, .hd = hd, .out = out};
    g4_parallel_for(pool, j.n_blocks * n_head, attn_blocks, &j);
}

/* ---- the encoder ------------------------------------------------------------------------- */

typedef struct at_job {
    const g4_atower *A;
    g4_linear_mode mode; /* the projector's lin_mode (its encoder precision) */
    const g4_at_layer *L;
    const float *samples;
    size_t n_samples;
    const double *fb;
    float *mel;          /* [F][128] */
    int64_t F, T1, T2;
    int64_t t0;          /* first SSCP output step of the block; layer-0 row 2 t0 - 1 is row 0 */
    int64_t nb;          /* steps in the block */
    float *conv0t;       /* SSCP layer-0 kernel as [3 * 3][c0]: each tap's channels contiguous */
    float *s0;           /* layer-0 rows [2 nb + 1][f1][c0] */
    float *col;          /* im2col [nb * f2][c0 * 9] */
    float *y1;           /* [nb * f2][c1] */
    float *x, *a, *q, *k, *v, *o, *u, *g; /* [T2][d], u: [T2][ff], g: [T2][2d] */
    const float *norm;   /* current norm weight */
    float scale;         /* residual scale */
    int rc;
} at_job;

static void mel_rows(void *ctx, int64_t i0, int64_t i1)
{
    at_job *j = ctx;
    if (g4_log_mel(j->samples, j->n_samples, j->fb, i0, i1 - i0, j->mel + i0 * G4_MEL_BINS) != G4_OK)
        j->rc = G4_ERR_OUT_OF_MEMORY; /* any thread's failure fails the call */
}

/* torch LayerNorm over n values, weight only (no bias), then ReLU. */
static void layer_norm_relu(float *x, int n, const float *w, float eps)
{
    g4_layernorm(x, w, NULL, 1, n, eps, x);
    for (int i = 0; i < n; i++)
        x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/* SSCP layer 0 for rows r of the block (time 2 t0 - 1 + r): 1 -> c0 channels, LN, ReLU. Rows
 * outside [0, T1) stay zero: HF zeroes them with the mask, which equals the conv padding. */
static void sscp0_rows(void *ctx, int64_t r0, int64_t r1)
{
    const at_job *j = ctx;
    const g4_atower *A = j->A;
    for (int64_t r = r0; r < r1; r++) {
        int64_t t = 2 * j->t0 - 1 + r;
        float *o = j->s0 + r * A->f1 * A->c0;
        if (t < 0 || t >= j->T1) {
            memset(o, 0, sizeof(float) * (size_t)A->f1 * A->c0);
            continue;
        }
        /* channels innermost (a vector loop over c0): each channel still sums its taps in
         * (kh, kw) order from 0, the order of the per-channel loop this replaced (scalar,
         * ~3% of an audio embed), so the values are the same */
        for (int f = 0; f < A->f1; f++) {
            float *oc = o + (size_t)f * A->c0;
            for (int c = 0; c < A->c0; c++)
                oc[c] = 0.0f;
            for (int kh = 0; kh < 3; kh++) {
                int64_t tt = 2 * t - 1 + kh;
                if (tt < 0 || tt >= j->F)
                    continue;
                for (int kw = 0; kw < 3; kw++) {
                    int ff = 2 * f - 1 + kw;
                    if (ff < 0 || ff >= G4_MEL_BINS)
                        continue;
                    const float m = j->mel[tt * G4_MEL_BINS + ff], *w = j->conv0t + (size_t)(kh * 3 + kw) * A->c0;
                    for (int c = 0; c < A->c0; c++)
                        oc[c] += w[c] * m;
                }
            }
            layer_norm_relu(oc, A->c0, A->norm0, A->eps);
        }
    }
}

/* im2col for SSCP layer 1: row (step, f2) = [ci][kh][kw], the conv kernel's own layout. */
static void sscp1_cols(void *ctx, int64_t i0, int64_t i1)
{
    const at_job *j = ctx;
    const g4_atower *A = j->A;
    const int K = A->c0 * 9;
    for (int64_t i = i0; i < i1; i++) {
        int64_t s = i / A->f2;
        int f = (int)(i % A->f2);
        float *col = j->col + i * K;
        for (int kh = 0; kh < 3; kh++) {
            const float *row = j->s0 + (2 * s + kh) * A->f1 * A->c0; /* time 2(t0+s)-1+kh */
            for (int kw = 0; kw < 3; kw++) {
                int ff = 2 * f - 1 + kw;
                for (int ci = 0; ci < A->c0; ci++)
                    col[ci * 9 + kh * 3 + kw] = ff >= 0 && ff < A->f1 ? row[ff * A->c0 + ci] : 0.0f;
            }
        }
    }
}

static void sscp1_norm(void *ctx, int64_t i0, int64_t i1)
{
    const at_job *j = ctx;
    for (int64_t i = i0; i < i1; i++)
        layer_norm_relu(j->y1 + i * j->A->c1, j->A->c1, j->A->norm1, j->A->eps);
}

/* a = rms(clamp(x); norm) */
static void norm_rows(void *ctx, int64_t i0, int64_t i1)
{
    const at_job *j = ctx;
    const int d = j->A->d;
    for (int64_t i = i0; i < i1; i++) {
        float *a = j->a + i * d;
        const float *x = j->x + i * d;
        for (int c = 0; c < d; c++)
            a[c] = g4k_clamp1(x[c], -GRAD_CLIP, GRAD_CLIP);
        g4_rmsnorm(a, j->norm, 1, d, j->A->eps, a);
    }
}

/* x += scale * rms(clamp(o); norm) */
static void add_norm_rows(void *ctx, int64_t i0, int64_t i1)
{
    const at_job *j = ctx;
    const int d = j->A->d;
    for (int64_t i = i0; i < i1; i++) {
        float *o = j->o + i * d, *x = j->x + i * d;
        for (int c = 0; c < d; c++)
            o[c] = g4k_clamp1(o[c], -GRAD_CLIP, GRAD_CLIP);
        g4_rmsnorm(o, j->norm, 1, d, j->A->eps, o);
        for (int c = 0; c < d; c++)
            x[c] += j->scale * o[c];
    }
}

static void silu_rows(void *ctx, int64_t i0, int64_t i1)
{
    const at_job *j = ctx;
    float *u = j->u + i0 * j->A->ff;
    g4k_mul_sigmoid(u, u, u, (i1 - i0) * j->A->ff); /* silu(x) = x sigmoid(x), vectorised */
}

static void ffn(g4k_pool *pool, at_job *j, int which)
{
    const g4_at_layer *L = j->L;
    j->norm = L->ffn_norm[which];
    g4_parallel_for(pool, j->T2, norm_rows, j);
    g4_clin_run(pool, j->mode, &L->ffn_up[which], j->a, j->T2, j->u, j->a); /* clamps j->a in place */
    g4_parallel_for(pool, j->T2, silu_rows, j);
    g4_clin_run(pool, j->mode, &L->ffn_down[which], j->u, j->T2, j->o, j->u); /* clamps j->u in place */
    j->norm = L->ffn_post_norm[which];
    j->scale = 0.5f; /* residual_weight: half-step FFN */
    g4_parallel_for(pool, j->T2, add_norm_rows, j);
}

/* q *= hd^-1/2 / ln 2 * softplus(per_dim_scale) (softplus baked in by the converter);
 * k *= ln(1 + e) / ln 2. */
static void scale_qk(void *ctx, int64_t i0, int64_t i1)
{
    const at_job *j = ctx;
    const g4_atower *A = j->A;
    const float qs = (float)(1.0 / sqrt((double)A->hd) / log(2.0));
    const float ks = (float)(log(1.0 + exp(1.0)) / log(2.0));
    for (int64_t i = i0; i < i1; i++)
        for (int c = 0; c < A->d; c++) {
            j->q[i * A->d + c] *= qs * j->L->per_dim_scale[c % A->hd];
            j->k[i * A->d + c] *= ks;
        }
}

static void attention_block(g4k_pool *pool, at_job *j, const float *relpos, float *rk)
{
    const g4_at_layer *L = j->L;
    const g4_atower *A = j->A;
    j->norm = L->attn_pre_norm;
    g4_parallel_for(pool, j->T2, norm_rows, j);
    memcpy(j->o, j->a, sizeof(float) * (size_t)j->T2 * A->d); /* each clin may clamp its input */
    g4_clin_run(pool, j->mode, &L->q, j->o, j->T2, j->q, j->o); /* clamps j->o in place */
    memcpy(j->o, j->a, sizeof(float) * (size_t)j->T2 * A->d);
    g4_clin_run(pool, j->mode, &L->k, j->o, j->T2, j->k, j->o); /* clamps j->o in place */
    g4_clin_run(pool, j->mode, &L->v, j->a, j->T2, j->v, j->a); /* clamps j->a in place */
    g4_parallel_for(pool, j->T2, scale_qk, j);
    g4_linear(pool, j->mode, &L->k_rel, relpos, NREL, rk);
    g4_audio_local_attention(pool, j->q, j->k, j->v, rk, j->T2, A->n_head, A->hd, j->a);
    g4_clin_run(pool, j->mode, &L->o, j->a, j->T2, j->o, j->a); /* clamps j->a in place */
    j->norm = L->attn_post_norm;
    j->scale = 1.0f;
    g4_parallel_for(pool, j->T2, add_norm_rows, j);
}

/* GLU (first half * sigmoid(second half)) of g [T2][2d] into a [T2][d]. */
static void glu_rows(void *ctx, int64_t i0, int64_t i1)
{
    const at_job *j = ctx;
    const int d = j->A->d;
    for (int64_t i = i0; i < i1; i++)
        g4k_mul_sigmoid(j->a + i * d, j->g + i * 2 * d, j->g + i * 2 * d + d, d);
}

/* Causal depthwise conv (left pad kernel-1), clamp, rms(conv_norm), SiLU: a -> o. */
static void dwconv_rows(void *ctx, int64_t i0, int64_t i1)
{
    const at_job *j = ctx;
    const g4_atower *A = j->A;
    const int d = A->d, K = A->kernel;
    for (int64_t t = i0; t < i1; t++) {
        float *o = j->o + t * d;
        for (int c = 0; c < d; c++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++) {
                int64_t tt = t - (K - 1) + k;
                if (tt >= 0)
                    s += j->L->conv_dw[c * K + k] * j->a[tt * d + c];
            }
            o[c] = g4k_clamp1(s, -GRAD_CLIP, GRAD_CLIP);
        }
        g4_rmsnorm(o, j->L->conv_norm, 1, d, A->eps, o);
        g4k_mul_sigmoid(o, o, o, d); /* SiLU */
    }
}

static void conv_block(g4k_pool *pool, at_job *j)
{
    const g4_at_layer *L = j->L;
    const int d = j->A->d;
    g4_rmsnorm(j->x, L->conv_pre_norm, j->T2, d, j->A->eps, j->a); /* no clamp before it in HF */
    g4_clin_run(pool, j->mode, &L->pw1, j->a, j->T2, j->g, j->a); /* clamps j->a in place */
    g4_parallel_for(pool, j->T2, glu_rows, j);
    g4_parallel_for(pool, j->T2, dwconv_rows, j);
    g4_clin_run(pool, j->mode, &L->pw2, j->o, j->T2, j->a, j->o); /* clamps j->o in place */
    for (int64_t i = 0; i < j->T2 * d; i++)
        j->x[i] += j->a[i];
}

static void out_norm_rows(void *ctx, int64_t i0, int64_t i1)
{
    at_job *j = ctx;
    const int d = j->A->d;
    for (int64_t i = i0 * d; i < i1 * d; i++)
        j->x[i] = g4k_clamp1(j->x[i], -GRAD_CLIP, GRAD_CLIP);
    g4_rmsnorm(j->x + i0 * d, j->L->norm_out, i1 - i0, d, j->A->eps, j->x + i0 * d);
}

/* SSCP of the whole chunk: mel -> x [T2][d], in blocks of SSCP_BLOCK output steps. */
static void sscp(g4k_pool *pool, at_job *j)
{
    const g4_atower *A = j->A;
    const int K = A->c0 * 9;
    g4k_matrix W1 = {.data = A->conv1, .type = G4_TYPE_F32, .n_cols = K, .n_rows = A->c1,
                     .row_bytes = sizeof(float) * (size_t)K};
    float *flat = j->u; /* [T2][f2 * c1], gathered for one input_projection matmul */
    for (int64_t t0 = 0; t0 < j->T2; t0 += SSCP_BLOCK) {
        j->t0 = t0;
        j->nb = j->T2 - t0 < SSCP_BLOCK ? j->T2 - t0 : SSCP_BLOCK;
        g4_parallel_for(pool, 2 * j->nb + 1, sscp0_rows, j);
        g4_parallel_for(pool, j->nb * A->f2, sscp1_cols, j);
        g4_linear(pool, j->mode, &W1, j->col, j->nb * A->f2, j->y1);
        g4_parallel_for(pool, j->nb * A->f2, sscp1_norm, j);
        memcpy(flat + t0 * A->f2 * A->c1, j->y1, sizeof(float) * (size_t)(j->nb * A->f2 * A->c1));
    }
    g4_linear(pool, j->mode, &A->in_proj, flat, j->T2, j->x);
}

/* One <= 30 s chunk -> T2 rows of out. */
static int encode_chunk(const g4_mmproj *p, g4k_pool *pool, at_job *j, const float *relpos,
                        float *rk, float *out)
{
    const g4_atower *A = &p->at;
    int64_t valid = 0;
    g4_mel_frames(j->n_samples, &valid);
    j->F = valid;
    j->T1 = (valid + 1) / 2;
    j->T2 = (j->T1 + 1) / 2;
    j->rc = G4_OK;
    g4_parallel_for(pool, j->F, mel_rows, j);
    if (j->rc != G4_OK)
        return j->rc;
    sscp(pool, j);
    for (int il = 0; il < A->n_layer; il++) {
        j->L = &A->layers[il];
        ffn(pool, j, 0);
        attention_block(pool, j, relpos, rk);
        conv_block(pool, j);
        ffn(pool, j, 1);
        g4_parallel_for(pool, j->T2, out_norm_rows, j);
    }
    /* output_proj (+bias) -> weightless rms -> LM projection */
    g4_linear(pool, j->mode, &A->out_proj, j->x, j->T2, j->u);
    for (int64_t i = 0; i < j->T2; i++) {
        float *r = j->u + i * A->n_out;
        for (int c = 0; c < A->n_out; c++)
            r[c] += A->out_bias[c];
        g4_rmsnorm(r, NULL, 1, A->n_out, A->eps, r);
    }
    g4_linear(pool, j->mode, &A->proj, j->u, j->T2, out);
    return G4_OK;
}

int g4_atower_embed_audio(const g4_mmproj *p, g4k_pool *pool, const float *samples, size_t n,
                          float *out, char *err, size_t errlen)
{
    if (!p || !p->has_audio || p->a_kind != G4_MM_TOWER)
        return g4_errbuf(err, errlen, G4_ERR_UNSUPPORTED, "audio: the model has no audio conformer");
    if (!samples || !out || n == 0)
        return g4_errbuf(err, errlen, G4_ERR_INVALID_ARGUMENT, "audio: no samples or no output buffer");
    if (g4_atower_audio_tokens(p, n) <= 0)
        return g4_errbuf(err, errlen, G4_ERR_INVALID_ARGUMENT,
                    "audio: too short for one audio token (at least 161 samples at 16 kHz)");
    const g4_atower *A = &p->at;
    const size_t n_max = n < G4_AUDIO_CHUNK_SAMPLES ? n : G4_AUDIO_CHUNK_SAMPLES;
    int64_t F = 0;
    g4_mel_frames(n_max, &F);
    const int64_t T2 = chunk_tokens(n_max), d = A->d;
    const size_t td = (size_t)T2 * (size_t)d;
    size_t usz = (size_t)T2 * (size_t)(A->ff > A->n_out ? A->ff : A->n_out);
    if (usz < (size_t)T2 * A->f2 * A->c1)
        usz = (size_t)T2 * A->f2 * A->c1;
    at_job j = {.A = A, .mode = p->lin_mode, .n_samples = n_max};
    double *fb = malloc(sizeof(double) * (G4_MEL_FFT / 2 + 1) * G4_MEL_BINS);
    j.mel = malloc(sizeof(float) * (size_t)(F > 0 ? F : 1) * G4_MEL_BINS);
    j.conv0t = malloc(sizeof(float) * 9 * (size_t)A->c0);
    j.s0 = malloc(sizeof(float) * (2 * SSCP_BLOCK + 1) * (size_t)A->f1 * A->c0);
    j.col = malloc(sizeof(float) * SSCP_BLOCK * (size_t)A->f2 * A->c0 * 9);
    j.y1 = malloc(sizeof(float) * SSCP_BLOCK * (size_t)A->f2 * A->c1);
    j.x = malloc(sizeof(float) * td);
    j.a = malloc(sizeof(float) * td);
    j.q = malloc(sizeof(float) * td);
    j.k = malloc(sizeof(float) * td);
    j.v = malloc(sizeof(float) * td);
    j.o = malloc(sizeof(float) * td);
    j.g = malloc(sizeof(float) * 2 * td);
    j.u = malloc(sizeof(float) * usz);
    float *relpos = malloc(sizeof(float) * NREL * (size_t)d);
    float *rk = malloc(sizeof(float) * NREL * (size_t)d);
    int rc = G4_OK;
    if (!fb || !j.mel || !j.conv0t || !j.s0 || !j.col || !j.y1 || !j.x || !j.a || !j.q || !j.k || !j.v ||
        !j.o || !j.g || !j.u || !relpos || !rk) {
        rc = g4_errbuf(err, errlen, G4_ERR_OUT_OF_MEMORY, "audio: out of memory");
        goto done;
    }
    g4_mel_filterbank(fb);
    for (int c = 0; c < A->c0; c++)
        for (int tap = 0; tap < 9; tap++)
            j.conv0t[(size_t)tap * A->c0 + c] = A->conv0[c * 9 + tap];
    g4_audio_rel_pos_table((int)d, relpos);
    j.fb = fb;
    int64_t tok = 0;
    for (size_t off = 0; off < n; off += G4_AUDIO_CHUNK_SAMPLES) {
        j.samples = samples + off;
        j.n_samples = n - off < G4_AUDIO_CHUNK_SAMPLES ? n - off : G4_AUDIO_CHUNK_SAMPLES;
        if (chunk_tokens(j.n_samples) == 0)
            continue; /* a trailing sliver shorter than one frame */
        if ((rc = encode_chunk(p, pool, &j, relpos, rk, out + tok * (size_t)p->n_embd)) != G4_OK) {
            g4_errbuf(err, errlen, rc, "audio: out of memory");
            goto done;
        }
        tok += j.T2;
    }
done:
    free(fb); free(j.mel); free(j.conv0t); free(j.s0); free(j.col); free(j.y1); free(j.x); free(j.a); free(j.q);
    free(j.k); free(j.v); free(j.o); free(j.g); free(j.u); free(relpos); free(rk);
    return rc;
}
