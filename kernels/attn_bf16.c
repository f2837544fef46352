/* Attention against bf16 keys and values (g4k_keys_bf16 / g4k_values_bf16 / g4k_scores_bf16 /
 * g4k_pv_bf16), the encoders' opt-in precisions; callers see neither layout. A level with an
 * outputs-in-lanes kernel (lanes_bf16: AVX512-BF16) packs both with its own packers, keys in
 * lanes for the scores and value columns in lanes for p v (the kernel rounds the queries and
 * the probabilities); any other level gets plain bf16 rows, keys [n_keys][hd] and values
 * transposed [hd][n_keys], multiplied through g4k_matmul_lowp as before that kernel existed (on
 * AVX2, the f32 FMA GEMM over bf16 weights). */
#include "kernels.h"
#include "quant.h"

#define LG 16 /* outputs per group: one zmm of f32 */

static int64_t up16(int64_t n)
{
    return (n + LG - 1) / LG * LG;
}

size_t g4k_keys_bf16_elems(int64_t n_keys, int64_t hd)
{
    return (size_t)up16(n_keys) * (size_t)((hd + 1) / 2 * 2); /* the padded layout; plain rows use less */
}

size_t g4k_values_bf16_elems(int64_t n_keys, int64_t hd)
{
    return (size_t)up16(hd) * (size_t)((n_keys + 1) / 2 * 2);
}

typedef struct {
    const g4k_kernels *k;
    const float *x;
    int64_t ld, hd, n_keys;
    uint16_t *dst;
    int values;
} pack_ctx;

/* A share of the keys: plain rows (keys [n_keys][hd], values transposed [hd][n_keys]), or for
 * the packed layouts a share of the 16-key groups (keys) or of the key pairs (values). */
static void pack_task(void *arg, int ith, int nth)
{
    const pack_ctx *c = arg;
    const g4k_kernels *k = c->k;
    if (!k->lanes_bf16) {
        const int64_t i0 = c->n_keys * ith / nth, i1 = c->n_keys * (ith + 1) / nth;
        for (int64_t i = i0; i < i1; i++)
            for (int64_t j = 0; j < c->hd; j++)
                c->dst[c->values ? j * c->n_keys + i : i * c->hd + j] = g4k_f32_to_bf16(c->x[i * c->ld + j]);
        return;
    }
    uint32_t *dst = (uint32_t *)(void *)c->dst; /* the caller's allocation: 4-byte aligned */
    if (c->values) {
        const int64_t np = (c->n_keys + 1) / 2;
        k->lanes_cols_bf16(c->x, c->ld, c->n_keys, c->hd, np * ith / nth, np * (ith + 1) / nth, dst);
    } else {
        const int64_t ng = up16(c->n_keys) / LG;
        k->lanes_rows_bf16(c->x, c->ld, c->hd, c->n_keys, ng * ith / nth, ng * (ith + 1) / nth, dst);
    }
}

static void pack_run(const g4k_kernels *k, g4k_pool *pool, const float *x, int64_t ld, int64_t hd, int64_t n_keys,
                     uint16_t *dst, int values)
{
    pack_ctx c = {k, x, ld, hd, n_keys, dst, values};
    if (pool)
        g4k_pool_run_elastic(pool, pack_task, &c);
    else
        pack_task(&c, 0, 1);
}

void g4k_keys_bf16_with(const g4k_kernels *k, g4k_pool *pool, const float *key, int64_t ldk, int64_t hd,
                        int64_t n_keys, uint16_t *dst)
{
    pack_run(k, pool, key, ldk, hd, n_keys, dst, 0);
}

void g4k_values_bf16_with(const g4k_kernels *k, g4k_pool *pool, const float *v, int64_t ldv, int64_t hd,
                          int64_t n_keys, uint16_t *dst)
{
    pack_run(k, pool, v, ldv, hd, n_keys, dst, 1);
}

void g4k_keys_bf16(g4k_pool *pool, const float *key, int64_t ldk, int64_t hd, int64_t n_keys, uint16_t *dst)
{
    g4k_keys_bf16_with(g4k_kernels_active(), pool, key, ldk, hd, n_keys, dst);
}

void g4k_values_bf16(g4k_pool *pool, const float *v, int64_t ldv, int64_t hd, int64_t n_keys, uint16_t *dst)
{
    g4k_values_bf16_with(g4k_kernels_active(), pool, v, ldv, hd, n_keys, dst);
}

typedef struct {
    const g4k_kernels *k;
    const uint32_t *wp;
    int64_t len, n_out;
    const float *x;
    int64_t nx;
    float *y;
} lanes_ctx;

/* Many output groups (the scores: a group per 16 keys): a share of the groups, an even start
 * (the kernel's 2-group tiles), for every row. Few (p v: hd / 16): a share of the rows, a
 * multiple of 8 (the kernel's row tiles). */
static void lanes_task(void *arg, int ith, int nth)
{
    const lanes_ctx *c = arg;
    const int64_t ng = up16(c->n_out) / LG;
    if (ng >= 4 * nth) {
        const int64_t g0 = ith == 0 ? 0 : (ng * ith / nth) & ~(int64_t)1;
        const int64_t g1 = ith == nth - 1 ? ng : (ng * (ith + 1) / nth) & ~(int64_t)1;
        if (g1 > g0)
            c->k->lanes_bf16(c->wp, c->len, c->n_out, g0, g1, c->x, c->len, c->nx, c->y, c->n_out);
        return;
    }
    const int64_t t0 = ith == 0 ? 0 : (c->nx * ith / nth) & ~(int64_t)7;
    const int64_t t1 = ith == nth - 1 ? c->nx : (c->nx * (ith + 1) / nth) & ~(int64_t)7;
    if (t1 > t0)
        c->k->lanes_bf16(c->wp, c->len, c->n_out, 0, ng, c->x + t0 * c->len, c->len, t1 - t0, c->y + t0 * c->n_out,
                         c->n_out);
}

/* y[t * n_out + j] = x_t . w_j for t < nx, x rows len floats apart: the scores (w: the keys,
 * len hd) and p v (w: the values, len n_keys) alike. w in lanes_bf16's layout, or plain bf16 rows
 * [n_out][len] (keys; values transposed) through g4k_matmul_lowp. */
static void product(const g4k_kernels *k, g4k_pool *pool, const uint16_t *w, int64_t len, int64_t n_out,
                    const float *x, int64_t nx, float *y)
{
    if (nx <= 0 || n_out <= 0 || len <= 0)
        return;
    if (!k->lanes_bf16) {
        const g4k_matrix W = {.data = w, .type = G4_TYPE_BF16, .n_cols = len, .n_rows = n_out,
                              .row_bytes = sizeof(uint16_t) * (size_t)len};
        g4k_matmul_lowp_with(k, pool, &W, x, nx, y);
        return;
    }
    lanes_ctx c = {k, (const uint32_t *)(const void *)w, len, n_out, x, nx, y};
    if (pool)
        g4k_pool_run_elastic(pool, lanes_task, &c);
    else
        lanes_task(&c, 0, 1);
}

void g4k_scores_bf16_with(const g4k_kernels *k, g4k_pool *pool, const uint16_t *keys, int64_t n_keys, int64_t hd,
                          const float *q, int64_t nq, float *s)
{
    product(k, pool, keys, hd, n_keys, q, nq, s);
}

void g4k_pv_bf16_with(const g4k_kernels *k, g4k_pool *pool, const uint16_t *values, int64_t n_keys, int64_t hd,
                      const float *p, int64_t nq, float *o)
{
    product(k, pool, values, n_keys, hd, p, nq, o);
}

void g4k_scores_bf16(g4k_pool *pool, const uint16_t *keys, int64_t n_keys, int64_t hd, const float *q, int64_t nq,
                     float *s)
{
    g4k_scores_bf16_with(g4k_kernels_active(), pool, keys, n_keys, hd, q, nq, s);
}

void g4k_pv_bf16(g4k_pool *pool, const uint16_t *values, int64_t n_keys, int64_t hd, const float *p, int64_t nq,
                 float *o)
{
    g4k_pv_bf16_with(g4k_kernels_active(), pool, values, n_keys, hd, p, nq, o);
}
