/* gemma4v vision tower (E2B/E4B, 26B/31B; spec §4.1-§4.3, llama.cpp gemma4v, HF Gemma4VisionModel):
 *
 *   resize to the HF 280-token budget (48-px cells) -> 16x16 patches, p = 2 (px/255 - 0.5)
 *   x = W_patch p + P[0][col] + P[1][row]
 *   N layers:  a = rms(x; ln1); q,k,v = clin(a); q,k: per-head rms(q_norm / k_norm), v: weightless
 *              q,k: 2-D RoPE (x then y halves, theta 100); o = softmax(q k^T) v (scale 1)
 *              x += rms(W_o o; attn_post_norm)
 *              b = rms(x; ln2); x += rms(W_down (gelu_tanh(W_gate b) * W_up b); ffn_post_norm)
 *              x *= out_scale (when present)
 *   3x3 average pool * sqrt(d) -> [standardize] -> weightless rms -> mm.input_projection
 * Padding patches of HF never appear here: we encode exactly the resized image, which gives the
 * same result because HF masks them out of attention and strips them. Every linear is a g4k_matmul
 * on the mapped weights (or, at an opt-in precision, on their bf16 / Q8_0 copies: mmproj_precision.c);
 * attention runs head by head (g4k_attn_f32: query tiles with their whole score rows; bf16: query
 * blocks), so scratch is bounded by the budget (the resized image), never by the input size. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define G4_MMPROJ_PRIVATE
#include "base/big_alloc.h"
#include "base/internal.h"
#include "media/mmproj.h"
#include "ops/ops.h"

/* Row and query blocks bound the scratch: [rb][ff] MLP rows, [qb][N] scores (bf16 attention).
 * They are balanced (ceil(N / blocks)) so that the last is not a sliver: a 280-token image (2520
 * patches) runs 5 row blocks of 504 and 10 query blocks of 252. Fewer, larger row blocks convert
 * each weight panel fewer times, but 1280 measured no faster (twice: the conversions are ~2% of an
 * f32 embed, the micro-kernel at the FMA peak in situ) for 2.5x the scratch. */
#define ROW_BLOCK_MAX 512   /* rows per MLP / output-projection batch */
#define QUERY_BLOCK_MAX 256 /* query rows per bf16 attention score block */

static int64_t balanced_block(int64_t n, int64_t max)
{
    const int64_t blocks = (n + max - 1) / max;
    return blocks ? (n + blocks - 1) / blocks : 1;
}

int64_t g4_vtower_image_tokens(const g4_mmproj *p, int w, int h, int max_soft_tokens)
{
    int tw, th;
    if (!p || !p->has_vision || g4_image_target_size(w, h, max_soft_tokens, &tw, &th) != G4_OK)
        return -1;
    const g4_vtower *V = &p->vt;
    int nx = tw / V->patch, ny = th / V->patch;
    if (nx > V->n_pos || ny > V->n_pos)
        return -1; /* beyond the position table */
    return (int64_t)(nx / V->merge) * (ny / V->merge);
}

void g4_rope2d_tables(int n, int hd, float theta, float *c, float *s)
{
    const int q4 = hd / 4;
    for (int pos = 0; pos < n; pos++)
        for (int i = 0; i < q4; i++) {
            double ang = pos * pow((double)theta, -2.0 * i / (hd / 2));
            c[(size_t)pos * q4 + i] = (float)cos(ang);
            s[(size_t)pos * q4 + i] = (float)sin(ang);
        }
}

void g4_rope2d_head(float *x, int hd, const float *cx, const float *sx, const float *cy,
                    const float *sy, int px, int py)
{
    const int q4 = hd / 4;
    for (int axis = 0; axis < 2; axis++) {
        float *h = x + axis * (hd / 2);
        const float *c = axis ? cy + (size_t)py * q4 : cx + (size_t)px * q4;
        const float *s = axis ? sy + (size_t)py * q4 : sx + (size_t)px * q4;
        for (int i = 0; i < q4; i++) {
            float a = h[i], b = h[i + q4];
            h[i] = a * c[i] - b * s[i];
            h[i + q4] = b * c[i] + a * s[i];
        }
    }
}

void g4_pool3x3(const float *x, int nx, int ny, int d, float scale, float *out)
{
    const int ox = nx / 3, oy = ny / 3;
    for (int ty = 0; ty < oy; ty++)
        for (int tx = 0; tx < ox; tx++) {
            float *o = out + ((size_t)ty * ox + tx) * d;
            for (int c = 0; c < d; c++) {
                double s = 0.0;
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++)
                        s += x[((size_t)(3 * ty + ky) * nx + 3 * tx + kx) * d + c];
                o[c] = (float)(s / 9.0) * scale;
            }
        }
}

typedef struct vt_job {
    const g4_vtower *V;
    const g4_vt_layer *L;
    const uint8_t *px;
    size_t stride;
    int nx;
    int64_t r0;            /* first row of the block */
    float *x, *a, *q, *k, *v, *o, *t, *u;
    float *s;              /* attention scores [rows][N] */
    int64_t n;             /* patches */
    float *cx, *sx, *cy, *sy; /* RoPE tables [n_pos][hd/4] */
    uint16_t *kb, *vb;        /* opt-in precisions: a head's keys and values in bf16 (g4k_keys_bf16 and
                               * g4k_values_bf16: the kernels' layouts), else NULL */
    float *kf, *vf;           /* f32 path: a head's keys and values (g4k_keys_f32 / g4k_values_f32) */
    g4_linear_mode mode;      /* the projector's lin_mode (its encoder precision) */
    int64_t rb, qbk;          /* row block and query block (balanced_block) */
} vt_job;

/* im2col of rows [r0, r0 + i1): the 768 values of a patch in (c, ky, kx) order, in [-1, 1]. */
static void patches_in(void *ctx, int64_t i0, int64_t i1)
{
    const vt_job *j = ctx;
    for (int64_t i = i0; i < i1; i++) {
        int64_t pt = j->r0 + i;
        int px = (int)(pt % j->nx), py = (int)(pt / j->nx);
        float *v = j->t + i * 768;
        for (int ky = 0; ky < 16; ky++) {
            const uint8_t *row = j->px + (size_t)(py * 16 + ky) * j->stride + (size_t)px * 16 * 3;
            for (int kx = 0; kx < 16; kx++)
                for (int c = 0; c < 3; c++)
                    v[c * 256 + ky * 16 + kx] = 2.0f * (row[kx * 3 + c] / 255.0f - 0.5f);
        }
    }
}

static void add_pos(void *ctx, int64_t i0, int64_t i1)
{
    const vt_job *j = ctx;
    const int d = j->V->d;
    for (int64_t i = i0; i < i1; i++) {
        int px = (int)(i % j->nx), py = (int)(i / j->nx);
        const float *ex = j->V->pos + (size_t)px * d;
        const float *ey = j->V->pos + ((size_t)j->V->n_pos + (size_t)py) * d;
        float *x = j->x + i * d;
        for (int c = 0; c < d; c++)
            x[c] += ex[c] + ey[c];
    }
}

static void norm_in(void *ctx, int64_t i0, int64_t i1)
{
    const vt_job *j = ctx;
    const int d = j->V->d;
    g4_rmsnorm(j->x + i0 * d, j->L->ln1, i1 - i0, d, j->V->eps, j->a + i0 * d);
}

/* The q/k/v output clamps (deferred, G4_CLIN_OUT_LATER); per head: q_norm / k_norm with
 * weights, v weightless; then 2-D RoPE on q and k. */
static void qkv_heads(void *ctx, int64_t i0, int64_t i1)
{
    const vt_job *j = ctx;
    const g4_vtower *V = j->V;
    const int d = V->d, hd = V->hd;
    for (int64_t i = i0; i < i1; i++) {
        int px = (int)(i % j->nx), py = (int)(i / j->nx);
        g4_clin_clamp_out(&j->L->q, j->q + i * d, d);
        g4_clin_clamp_out(&j->L->k, j->k + i * d, d);
        g4_clin_clamp_out(&j->L->v, j->v + i * d, d);
        for (int h = 0; h < V->n_head; h++) {
            float *qh = j->q + i * d + h * hd, *kh = j->k + i * d + h * hd, *vh = j->v + i * d + h * hd;
            g4_rmsnorm(qh, j->L->q_norm, 1, hd, V->eps, qh);
            g4_rmsnorm(kh, j->L->k_norm, 1, hd, V->eps, kh);
            g4_rmsnorm(vh, NULL, 1, hd, V->eps, vh);
            g4_rope2d_head(qh, hd, j->cx, j->sx, j->cy, j->sy, px, py);
            g4_rope2d_head(kh, hd, j->cx, j->sx, j->cy, j->sy, px, py);
        }
    }
}

/* Row softmax of the score block (f32, max-subtracted). */
static void softmax_rows(void *ctx, int64_t i0, int64_t i1)
{
    const vt_job *j = ctx;
    for (int64_t i = i0; i < i1; i++)
        g4k_softmax(j->s + i * j->n, j->n);
}

/* x += rms(clamp(t); post) for rows [i0, i1) of the block starting at r0 (t: the output of the
 * linear L, its clamp deferred to here). */
static void add_post(const vt_job *j, const g4_clin *L, const float *post, int64_t i0, int64_t i1)
{
    const int d = j->V->d;
    for (int64_t i = i0; i < i1; i++) {
        g4_clin_clamp_out(L, j->t + i * d, d);
        g4_add_rmsnorm(j->x + (j->r0 + i) * d, j->t + i * d, post, 1, d, j->V->eps);
    }
}

static void add_post_attn(void *ctx, int64_t i0, int64_t i1)
{
    const vt_job *j = ctx;
    add_post(j, &j->L->o, j->L->attn_post_norm, i0, i1);
}

static void add_post_ffn(void *ctx, int64_t i0, int64_t i1)
{
    const vt_job *j = ctx;
    add_post(j, &j->L->down, j->L->ffn_post_norm, i0, i1);
}

static void norm_ffn(void *ctx, int64_t i0, int64_t i1)
{
    const vt_job *j = ctx;
    const int d = j->V->d;
    g4_rmsnorm(j->x + (j->r0 + i0) * d, j->L->ln2, i1 - i0, d, j->V->eps, j->a + i0 * d);
}

/* Row by row: the gate's and up's output clamps, gelu_tanh(gate) * up, the down projection's input
 * clamp (all deferred to here; with all three bounds present, in one pass that keeps them in
 * registers: four passes over the row were 2% of an f32 embed). */
static void geglu(void *ctx, int64_t i0, int64_t i1)
{
    const vt_job *j = ctx;
    const g4_vt_layer *L = j->L;
    const int64_t ff = j->V->ff;
    if (L->gate.clamp_out && L->up.clamp_out && L->down.clamp_in) {
        const float b[6] = {L->gate.out_min, L->gate.out_max, L->up.out_min, L->up.out_max, L->down.in_min,
                            L->down.in_max};
        for (int64_t i = i0; i < i1; i++)
            g4k_geglu_tanh_clamp(j->o + i * ff, j->u + i * ff, ff, b);
        return;
    }
    for (int64_t i = i0; i < i1; i++) {
        float *g = j->o + i * ff, *u = j->u + i * ff;
        g4_clin_clamp_out(&j->L->gate, g, ff);
        g4_clin_clamp_out(&j->L->up, u, ff);
        g4k_geglu_tanh(g, u, ff);
        g4_clin_clamp_in(&j->L->down, g, g, ff);
    }
}

/* softmax(q k^T) v head by head, scale 1.0 (spec §4.2). f32: g4k_attn_f32, each query tile's
 * scores, softmax and p v in one thread (the output projection's ClippableLinear then clamps its
 * input, where its bounds bind). With an opt-in precision K_h and V_h are rounded to bf16 once and each query block runs
 * through g4k_scores_bf16 and g4k_pv_bf16 (queries and probabilities rounded to bf16 by the
 * kernels, vdpbf16ps), written out with the output projection's input clamp. */
static void attention(g4k_pool *pool, vt_job *j, float *qb, float *ob)
{
    const int64_t QB = j->qbk;
    const g4_vtower *V = j->V;
    const int d = V->d, hd = V->hd;
    const int64_t N = j->n;
    for (int h = 0; h < V->n_head; h++) {
        if (!j->kb) {
            g4k_keys_f32(pool, j->k + h * hd, d, hd, N, j->kf);
            g4k_values_f32(pool, j->v + h * hd, d, hd, N, j->vf);
            g4k_attn_f32(pool, j->kf, j->vf, N, hd, j->q + h * hd, d, N, j->o + h * hd, d);
            continue;
        }
        g4k_keys_bf16(pool, j->k + h * hd, d, hd, N, j->kb);
        g4k_values_bf16(pool, j->v + h * hd, d, hd, N, j->vb);
        for (int64_t q0 = 0; q0 < N; q0 += QB) {
            int64_t nq = N - q0 < QB ? N - q0 : QB;
            for (int64_t r = 0; r < nq; r++)
                memcpy(qb + r * hd, j->q + (q0 + r) * d + h * hd, sizeof(float) * (size_t)hd);
            g4k_scores_bf16(pool, j->kb, N, hd, qb, nq, j->s);
            g4_parallel_for(pool, nq, softmax_rows, j);
            g4k_pv_bf16(pool, j->vb, N, hd, j->s, nq, ob);
            for (int64_t r = 0; r < nq; r++)
                g4_clin_clamp_in(&j->L->o, ob + r * hd, j->o + (q0 + r) * d + h * hd, hd);
        }
    }
}

static void layer(g4k_pool *pool, vt_job *j, const g4_vt_layer *L, float *qb, float *ob, float *clampbuf)
{
    const g4_vtower *V = j->V;
    const int d = V->d;
    const int64_t N = j->n;
    j->L = L;
    g4_parallel_for(pool, N, norm_in, j);
    g4_clin_linear(pool, j->mode, &L->q, j->a, N, j->q, clampbuf, G4_CLIN_OUT_LATER);
    g4_clin_linear(pool, j->mode, &L->k, j->a, N, j->k, clampbuf, G4_CLIN_OUT_LATER);
    g4_clin_linear(pool, j->mode, &L->v, j->a, N, j->v, clampbuf, G4_CLIN_OUT_LATER);
    g4_parallel_for(pool, N, qkv_heads, j);
    float *o_full = j->o;
    j->o = j->a; /* the normed input is dead now: attention output goes there */
    attention(pool, j, qb, ob);
    j->o = o_full;
    const int o_flags = (j->kb ? G4_CLIN_IN_DONE : 0) | G4_CLIN_OUT_LATER; /* bf16: clamped in attention */
    for (int64_t r0 = 0; r0 < N; r0 += j->rb) {
        int64_t nr = N - r0 < j->rb ? N - r0 : j->rb;
        j->r0 = r0;
        g4_clin_linear(pool, j->mode, &L->o, j->a + r0 * d, nr, j->t, clampbuf, o_flags);
        g4_parallel_for(pool, nr, add_post_attn, j);
    }
    /* MLP in row blocks: [rb][ff] scratch instead of [N][ff]. */
    float *a_full = j->a;
    for (int64_t r0 = 0; r0 < N; r0 += j->rb) {
        int64_t nr = N - r0 < j->rb ? N - r0 : j->rb;
        j->r0 = r0;
        j->a = j->q; /* [rb][d] */
        g4_parallel_for(pool, nr, norm_ffn, j);
        g4_clin_linear(pool, j->mode, &L->gate, j->a, nr, j->o, clampbuf, G4_CLIN_OUT_LATER);
        g4_clin_linear(pool, j->mode, &L->up, j->a, nr, j->u, clampbuf, G4_CLIN_OUT_LATER);
        g4_parallel_for(pool, nr, geglu, j);
        g4_clin_linear(pool, j->mode, &L->down, j->o, nr, j->t, clampbuf, G4_CLIN_IN_DONE | G4_CLIN_OUT_LATER);
        g4_parallel_for(pool, nr, add_post_ffn, j);
    }
    j->a = a_full;
    if (L->out_scale != 1.0f)
        for (int64_t i = 0; i < N * d; i++)
            j->x[i] *= L->out_scale;
}

int g4_vtower_embed_image(const g4_mmproj *p, g4k_pool *pool, const uint8_t *rgb, int w, int h,
                          size_t stride, int max_soft_tokens, float *out, char *err, size_t errlen)
{
    if (!p || !p->has_vision || p->v_kind != G4_MM_TOWER)
        return g4_errbuf(err, errlen, G4_ERR_UNSUPPORTED, "image: the model has no vision tower");
    if (!out || !rgb || w <= 0 || h <= 0 || w > G4_IMAGE_MAX_SIDE || h > G4_IMAGE_MAX_SIDE ||
        (int64_t)w * h > G4_IMAGE_MAX_PIXELS || stride < 3 * (size_t)w)
        return g4_errbuf(err, errlen, G4_ERR_INVALID_ARGUMENT, "image: bad pixels, size, stride or output");
    const g4_vtower *V = &p->vt;
    int64_t n_tok = g4_vtower_image_tokens(p, w, h, max_soft_tokens);
    int tw, th;
    if (n_tok <= 0 || g4_image_target_size(w, h, max_soft_tokens, &tw, &th) != G4_OK)
        return g4_errbuf(err, errlen, G4_ERR_INVALID_ARGUMENT, "image: invalid size or token budget");
    const int d = V->d, hd = V->hd, q4 = hd / 4, nx = tw / 16, ny = th / 16;
    const int64_t N = (int64_t)nx * ny;
    const int64_t RB = balanced_block(N, ROW_BLOCK_MAX), QB = balanced_block(N, QUERY_BLOCK_MAX);
    size_t nd = (size_t)N * d;
    size_t tsz = (size_t)RB * (d > 768 ? d : 768);
    size_t clampsz = nd > (size_t)RB * V->ff ? nd : (size_t)RB * V->ff;
    uint8_t *resized = NULL;
    const int lowp = p->precision != G4_MM_PRECISION_F32;
    /* Every array in one allocation (huge pages: big_alloc.h). bf16: a head's keys / values, and
     * a query block's scores, queries and outputs; f32: a head's keys and values (g4k_attn_f32
     * keeps its score tiles per thread). */
    enum { X, A, Q, K, VV, T, O, U, CL, ROPE, KB, VB, S, QBUF, OBUF, KF, VF, PARTS };
    const size_t bytes[PARTS] = {
        [X] = sizeof(float) * nd, [A] = sizeof(float) * nd, [Q] = sizeof(float) * nd, [K] = sizeof(float) * nd,
        [VV] = sizeof(float) * nd, [T] = sizeof(float) * tsz, [O] = sizeof(float) * (size_t)RB * V->ff,
        [U] = sizeof(float) * (size_t)RB * V->ff, [CL] = sizeof(float) * clampsz,
        [ROPE] = sizeof(float) * 2 * (size_t)(nx + ny) * q4,
        [KB] = lowp ? sizeof(uint16_t) * g4k_keys_bf16_elems(N, hd) : 0,
        [VB] = lowp ? sizeof(uint16_t) * g4k_values_bf16_elems(N, hd) : 0,
        [S] = lowp ? sizeof(float) * (size_t)QB * N : 0, [QBUF] = lowp ? sizeof(float) * (size_t)QB * hd : 0,
        [OBUF] = lowp ? sizeof(float) * (size_t)QB * hd : 0,
        [KF] = lowp ? 0 : sizeof(float) * g4k_keys_f32_elems(N, hd),
        [VF] = lowp ? 0 : sizeof(float) * g4k_values_f32_elems(N, hd)};
    size_t at[PARTS], total = 0;
    for (int i = 0; i < PARTS; i++) {
        at[i] = total;
        total += (bytes[i] + 63) & ~(size_t)63;
    }
    g4_big mem;
    char *base = g4_big_alloc(&mem, total);
    if (!base)
        return g4_errbuf(err, errlen, G4_ERR_OUT_OF_MEMORY, "image: out of memory (%zu MB of scratch)", total >> 20);
#define PART(i) (bytes[i] ? (void *)(base + at[i]) : NULL)
    float *x = PART(X), *a = PART(A), *q = PART(Q), *k = PART(K), *v = PART(VV), *t = PART(T), *o = PART(O);
    float *u = PART(U), *cl = PART(CL), *rope = PART(ROPE), *s = PART(S), *qb = PART(QBUF), *ob = PART(OBUF);
    float *kf = PART(KF), *vf = PART(VF);
    uint16_t *kb = PART(KB), *vb = PART(VB);
#undef PART
    int rc = G4_OK;
    const uint8_t *px = rgb;
    size_t pstride = stride;
    if (tw != w || th != h) {
        if (!(resized = malloc((size_t)tw * th * 3))) {
            rc = g4_errbuf(err, errlen, G4_ERR_OUT_OF_MEMORY, "image: out of memory for the resized image");
            goto done;
        }
        if ((rc = g4_image_resize_bicubic(rgb, w, h, stride, resized, tw, th, err, errlen)) != G4_OK)
            goto done;
        px = resized;
        pstride = 3 * (size_t)tw;
    }
    vt_job j = {.V = V, .px = px, .stride = pstride, .nx = nx, .x = x, .a = a, .q = q, .k = k,
                .v = v, .o = o, .t = t, .u = u, .s = s, .n = N, .kb = kb, .vb = vb, .kf = kf, .vf = vf,
                .mode = p->lin_mode, .rb = RB, .qbk = QB};
    j.cx = rope;
    j.sx = rope + (size_t)nx * q4;
    j.cy = rope + 2 * (size_t)nx * q4;
    j.sy = j.cy + (size_t)ny * q4;
    g4_rope2d_tables(nx, hd, V->theta, j.cx, j.sx);
    g4_rope2d_tables(ny, hd, V->theta, j.cy, j.sy);
    for (int64_t r0 = 0; r0 < N; r0 += RB) {
        int64_t nr = N - r0 < RB ? N - r0 : RB;
        j.r0 = r0;
        g4_parallel_for(pool, nr, patches_in, &j);
        g4_linear(pool, p->lin_mode, &V->patch_w, t, nr, x + r0 * d);
    }
    g4_parallel_for(pool, N, add_pos, &j);
    for (int il = 0; il < V->n_layer; il++)
        layer(pool, &j, &V->layers[il], qb, ob, cl);
    /* pool 3x3 * sqrt(d) -> [standardize] -> weightless rms -> projection */
    g4_pool3x3(x, nx, ny, d, (float)sqrt((double)d), a);
    for (int64_t i = 0; i < n_tok; i++) {
        float *r = a + i * d;
        if (V->std_bias)
            for (int c = 0; c < d; c++)
                r[c] = (r[c] - V->std_bias[c]) * V->std_scale[c];
        g4_rmsnorm(r, NULL, 1, d, V->eps, r);
    }
    g4_linear(pool, p->lin_mode, &V->proj, a, n_tok, out);
done:
    free(resized);
    g4_big_free(&mem);
    return rc;
}
