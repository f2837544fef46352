/* Whole-row attention in f32 (g4k_keys_f32 / g4k_values_f32 / g4k_attn_f32), the vision towers'
 * default path: o = softmax(q K^T) V per head, no mask, scale 1.
 *
 * A head's keys and values are laid out once, then each query tile runs in one thread: its
 * scores (tile x n_keys, sized to half of L2), their row softmax and p V, with no pool hand-off
 * between the three and no score block going out to L3. On a level with the float GEMM's
 * panels (flt_pack / flt_panel_mm) the keys are the panel of an F32 matrix of n_keys rows and
 * the values the panel of V^T (hd rows of n_keys), which is V's rows cut into groups: what
 * g4k_matmul would pack again for every query block (2-3% of a 280-token E2B image embed, with
 * the serial V^T transpose before it). Elsewhere: plain rows (keys [n_keys][hd], values
 * transposed [hd][n_keys]) through g4k_matmul on this thread. */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "kernels.h"
#include "quant.h"
#include "topology.h"

#define TQ_UNIT 12 /* query tile granule: the 512-bit micro-kernel's token block (the 256-bit one's is 6) */

static int64_t up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

/* The layouts start at the buffer's first 64-byte boundary (the panels' aligned loads). */
static uintptr_t aligned(const float *p) { return ((uintptr_t)p + 63) & ~(uintptr_t)63; }

size_t g4k_keys_f32_elems(int64_t n_keys, int64_t hd)
{
    return (size_t)up(n_keys, G4K_FLT_RG_MAX) * (size_t)hd + 16;
}

size_t g4k_values_f32_elems(int64_t n_keys, int64_t hd)
{
    return (size_t)up(hd, G4K_FLT_RG_MAX) * (size_t)n_keys + 16;
}

typedef struct {
    const g4k_kernels *k;
    const float *x;
    int64_t ld, hd, n_keys;
    float *dst;
    int values;
} pack_ctx;

/* A share of the key groups (panels) or of the keys (everything else). */
static void pack_task(void *arg, int ith, int nth)
{
    const pack_ctx *c = arg;
    const g4k_kernels *k = c->k;
    const int64_t hd = c->hd, nk = c->n_keys;
    int64_t i0, i1;
    if (k->flt_panel_mm && !c->values) {
        if (g4k_share((nk + k->flt_rg - 1) / k->flt_rg, 1, ith, nth, &i0, &i1))
            k->flt_pack(c->x, c->ld, hd, nk, i0, i1, c->dst);
        return;
    }
    if (!g4k_share(nk, 1, ith, nth, &i0, &i1))
        return;
    if (k->flt_panel_mm) { /* V^T's groups of rg rows: each key's rg values of the group, in a row */
        const int64_t rg = k->flt_rg;
        for (int64_t g0 = 0; g0 < hd; g0 += rg) {
            const int64_t nr = hd - g0 < rg ? hd - g0 : rg;
            float *grp = c->dst + g0 * nk;
            for (int64_t i = i0; i < i1; i++) {
                memcpy(grp + i * rg, c->x + i * c->ld + g0, sizeof(float) * (size_t)nr);
                memset(grp + i * rg + nr, 0, sizeof(float) * (size_t)(rg - nr));
            }
        }
        return;
    }
    for (int64_t i = i0; i < i1; i++)
        for (int64_t j = 0; j < hd; j++)
            c->dst[c->values ? j * nk + i : i * hd + j] = c->x[i * c->ld + j];
}

static void pack_run(const g4k_kernels *k, g4k_pool *pool, const float *x, int64_t ld, int64_t hd, int64_t n_keys,
                     float *dst, int values)
{
    if (n_keys <= 0 || hd <= 0)
        return;
    pack_ctx c = {k, x, ld, hd, n_keys, (float *)aligned(dst), values};
    if (pool)
        g4k_pool_run_elastic(pool, pack_task, &c);
    else
        pack_task(&c, 0, 1);
}

void g4k_keys_f32_with(const g4k_kernels *k, g4k_pool *pool, const float *key, int64_t ldk, int64_t hd,
                       int64_t n_keys, float *dst)
{
    pack_run(k, pool, key, ldk, hd, n_keys, dst, 0);
}

void g4k_values_f32_with(const g4k_kernels *k, g4k_pool *pool, const float *v, int64_t ldv, int64_t hd,
                         int64_t n_keys, float *dst)
{
    pack_run(k, pool, v, ldv, hd, n_keys, dst, 1);
}

void g4k_keys_f32(g4k_pool *pool, const float *key, int64_t ldk, int64_t hd, int64_t n_keys, float *dst)
{
    g4k_keys_f32_with(g4k_kernels_active(), pool, key, ldk, hd, n_keys, dst);
}

void g4k_values_f32(g4k_pool *pool, const float *v, int64_t ldv, int64_t hd, int64_t n_keys, float *dst)
{
    g4k_values_f32_with(g4k_kernels_active(), pool, v, ldv, hd, n_keys, dst);
}

typedef struct {
    const g4k_kernels *k;
    const float *keys, *values, *q;
    int64_t n_keys, hd, ldq, nq, ldo, tq, n_tiles;
    float *o;
    atomic_llong next; /* tiles taken (any thread may run any tile: a busy core just takes fewer) */
} attn_ctx;

/* Tile t0..t0+nt: scores into s, softmax per row, p V into o. */
static void tile(const attn_ctx *c, int64_t t0, int64_t nt, float *s)
{
    const g4k_kernels *k = c->k;
    const int64_t nk = c->n_keys, hd = c->hd;
    if (k->flt_panel_mm) {
        k->flt_panel_mm(c->keys, hd, nk, c->q + t0 * c->ldq, c->ldq, nt, s, nk);
        for (int64_t r = 0; r < nt; r++)
            k->softmax(s + r * nk, nk);
        k->flt_panel_mm(c->values, nk, hd, s, nk, nt, c->o + t0 * c->ldo, c->ldo);
        return;
    }
    float *qb = s + c->tq * nk, *ob = qb + c->tq * hd; /* g4k_matmul wants contiguous rows */
    for (int64_t r = 0; r < nt; r++)
        memcpy(qb + r * hd, c->q + (t0 + r) * c->ldq, sizeof(float) * (size_t)hd);
    const g4k_matrix K = {.data = c->keys, .type = G4_TYPE_F32, .n_cols = hd, .n_rows = nk,
                          .row_bytes = sizeof(float) * (size_t)hd};
    const g4k_matrix VT = {.data = c->values, .type = G4_TYPE_F32, .n_cols = nk, .n_rows = hd,
                           .row_bytes = sizeof(float) * (size_t)nk};
    g4k_matmul_with(k, NULL, &K, qb, nt, s);
    for (int64_t r = 0; r < nt; r++)
        k->softmax(s + r * nk, nk);
    g4k_matmul_with(k, NULL, &VT, s, nt, ob);
    for (int64_t r = 0; r < nt; r++)
        memcpy(c->o + (t0 + r) * c->ldo, ob + r * hd, sizeof(float) * (size_t)hd);
}

static void attn_task(void *arg, int ith, int nth)
{
    attn_ctx *c = arg;
    (void)ith;
    (void)nth;
    const size_t floats = (size_t)c->tq * (size_t)(c->n_keys + (c->k->flt_panel_mm ? 0 : 2 * c->hd));
    float *s = g4k_scratch(G4K_SCRATCH_SCORES, sizeof(float) * floats);
    if (!s)
        return; /* recorded for g4k_take_alloc_failure */
    for (int64_t i; (i = atomic_fetch_add(&c->next, 1)) < c->n_tiles;) {
        const int64_t t0 = i * c->tq;
        tile(c, t0, c->nq - t0 < c->tq ? c->nq - t0 : c->tq, s);
    }
}

void g4k_attn_f32_with(const g4k_kernels *k, g4k_pool *pool, const float *keys, const float *values, int64_t n_keys,
                       int64_t hd, const float *q, int64_t ldq, int64_t nq, float *o, int64_t ldo)
{
    if (n_keys <= 0 || hd <= 0 || nq <= 0)
        return;
    /* a tile's score rows in half of L2, whole micro-kernel token blocks; at least two tiles a
     * thread while that leaves a full block (balance) */
    int64_t tq = g4k_topology_l2_half() / (int64_t)sizeof(float) / n_keys / TQ_UNIT * TQ_UNIT;
    tq = tq < TQ_UNIT ? TQ_UNIT : tq > 8 * TQ_UNIT ? 8 * TQ_UNIT : tq;
    const int64_t nth = pool ? g4k_pool_size(pool) : 1;
    while (tq > TQ_UNIT && (nq + tq - 1) / tq < 2 * nth)
        tq -= TQ_UNIT;
    attn_ctx c = {.k = k, .keys = (const float *)aligned(keys), .values = (const float *)aligned(values), .q = q,
                  .n_keys = n_keys, .hd = hd, .ldq = ldq, .nq = nq, .ldo = ldo, .tq = tq,
                  .n_tiles = (nq + tq - 1) / tq, .o = o};
    atomic_init(&c.next, 0);
    if (pool && c.n_tiles > 1)
        g4k_pool_run_elastic(pool, attn_task, &c);
    else
        attn_task(&c, 0, 1);
}

void g4k_attn_f32(g4k_pool *pool, const float *keys, const float *values, int64_t n_keys, int64_t hd, const float *q,
                  int64_t ldq, int64_t nq, float *o, int64_t ldo)
{
    g4k_attn_f32_with(g4k_kernels_active(), pool, keys, values, n_keys, hd, q, ldq, nq, o, ldo);
}
