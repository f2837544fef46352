/* Prompt-batch attention, tiled with an online softmax (flash-attention style).
 *
 * Work item = (query tile, KV head): the tile's bq positions × the group's nq/nkv query heads
 * are R = bq·group query rows (row r = (t - t0)·group + head-in-group) that share every key and
 * value load. Keys go by tiles of G4K_ATTN_BK positions: each tile's K and V rows are widened
 * once from the cache type into f32 (K also transposed, for g4k_attn_qk) and then serve all R
 * rows. Per row a running max m, a running sum l and an f32 accumulator o[hd]: a tile's scores
 * s_j give m' = max(m, max_j s_j), l = l·e^(m - m') + Σ e^(s_j - m'), o = o·e^(m - m') + Σ
 * e^(s_j - m') v_j; the output is o / l. Exactly the row path's softmax(q·K^T)·V up to f32
 * summation order.
 *
 * Masks: every row sees one contiguous key range [lo_t, hi_t] (g4_attn_key_range) whose ends
 * never decrease with t, so the rows of a tile that see any key of a key tile are one
 * contiguous run: the kernels run on that run only, keys outside a row's range inside the tile
 * get score -inf (weight 0), and key tiles outside every row's range — below a sliding window,
 * above the causal diagonal — are never read. Items are spread over the pool's threads by
 * index (ith, ith + nth, ...): causal tiles grow with t, neighbours are alike. */
#include <math.h>
#include <string.h>

#include "model/attention.h"

#define BK G4K_ATTN_BK
#define ROW_FLOATS 32768 /* R·hd budget of the query and accumulator blocks (128 KiB each) */
#define MAX_BQ 64

static int32_t tile_positions(int32_t group, int32_t hd)
{
    int32_t bq = ROW_FLOATS / (group * hd);
    return bq < 1 ? 1 : bq > MAX_BQ ? MAX_BQ : bq;
}

static size_t up16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Layout of one thread's block (floats, each part 64-byte aligned). */
typedef struct tile_mem {
    float *q, *o, *s, *m, *l, *kf, *kt, *vf;
} tile_mem;

static size_t tile_layout(int32_t nq, int32_t nkv, int32_t hd, float *base, tile_mem *tm)
{
    const int32_t group = nq / nkv, R = tile_positions(group, hd) * group;
    const size_t parts[8] = {up16((size_t)R * hd), up16((size_t)R * hd), up16((size_t)R * BK), up16((size_t)R),
                             up16((size_t)R),      up16((size_t)BK * hd), up16((size_t)BK * hd), up16((size_t)BK * hd)};
    float **dst[8] = {&tm->q, &tm->o, &tm->s, &tm->m, &tm->l, &tm->kf, &tm->kt, &tm->vf};
    size_t off = 0;
    for (int i = 0; i < 8; i++) {
        if (base)
            *dst[i] = base + off;
        off += parts[i];
    }
    return off;
}

size_t g4_attn_prefill_floats(int32_t nq, int32_t nkv, int32_t hd)
{
    tile_mem tm;
    return tile_layout(nq, nkv, hd, NULL, &tm);
}

typedef struct prefill_job {
    const g4_attn_args *a;
    float *scratch;
    size_t per_thread;
    int32_t n_scratch;
    int32_t bq, n_qt, group;
} prefill_job;

/* Rows [ra, rb) of the tile attend to key positions [k0, k0 + nk): widen them, score, update. */
static void key_tile(const g4_attn_args *a, const tile_mem *tm, int32_t g, int32_t k0, int32_t nk, int32_t t0,
                     int32_t ta, int32_t tb, const int32_t *lo, const int32_t *hi, int32_t group)
{
    const int32_t hd = a->hd;
    const g4_kv_layer *kv = a->kv;
    const size_t ok = g4_kv_head_off(kv->type_k, g, hd), ov = g4_kv_head_off(kv->type_v, g, hd);
    for (int32_t j = 0; j < nk; j++) {
        g4k_row_to_f32(kv->type_k, g4_kv_k(kv, k0 + j) + ok, tm->kf + (size_t)j * hd, hd);
        g4k_row_to_f32(kv->type_v, g4_kv_v(kv, k0 + j) + ov, tm->vf + (size_t)j * hd, hd);
    }
    if (nk < BK) /* zero key columns up to the tile width g4k_attn_qk computes */
        memset(tm->kf + (size_t)nk * hd, 0, (size_t)(BK - nk) * hd * sizeof(float));
    g4k_attn_kt(tm->kf, BK, hd, tm->kt, BK);

    const int32_t r0 = (ta - t0) * group, nr = (tb - ta) * group;
    float *S = tm->s + (size_t)r0 * BK;
    g4k_attn_qk(tm->q + (size_t)r0 * hd, nr, hd, tm->kt, BK, S, BK);
    for (int32_t r = 0; r < nr; r++) {
        const int32_t t = ta + r / group;
        float *s = S + (size_t)r * BK;
        const int32_t ja = lo[t - t0] > k0 ? lo[t - t0] - k0 : 0;
        const int32_t jb = hi[t - t0] < k0 + nk - 1 ? hi[t - t0] - k0 : nk - 1; /* inclusive */
        for (int32_t j = 0; j < ja; j++)
            s[j] = -INFINITY;
        for (int32_t j = jb + 1; j < nk; j++)
            s[j] = -INFINITY;
        float mt = -INFINITY;
        for (int32_t j = ja; j <= jb; j++)
            mt = s[j] > mt ? s[j] : mt;
        float *m = tm->m + r0 + r, *l = tm->l + r0 + r;
        const float mn = mt > *m ? mt : *m;
        const float sum = g4k_exp_sub_sum(s, nk, mn);
        if (mn > *m && *m != -INFINITY) {
            const float sc = expf(*m - mn);
            float *o = tm->o + (size_t)(r0 + r) * hd;
            for (int32_t d = 0; d < hd; d++)
                o[d] *= sc;
            *l *= sc;
        }
        *l += sum;
        *m = mn;
    }
    g4k_attn_pv(S, BK, nr, tm->vf, hd, nk, tm->o + (size_t)r0 * hd);
}

static void prefill_item(const prefill_job *j, const tile_mem *tm, int32_t qt, int32_t g)
{
    const g4_attn_args *a = j->a;
    const int32_t hd = a->hd, group = j->group, n = a->c->n;
    const int32_t t0 = qt * j->bq, t1 = t0 + j->bq < n ? t0 + j->bq : n, R = (t1 - t0) * group;
    int32_t lo[MAX_BQ], hi[MAX_BQ];
    int32_t klo = INT32_MAX, khi = -1;
    for (int32_t t = t0; t < t1; t++) {
        g4_attn_key_range(a, t, &lo[t - t0], &hi[t - t0]);
        klo = lo[t - t0] < klo ? lo[t - t0] : klo;
        khi = hi[t - t0] > khi ? hi[t - t0] : khi;
        memcpy(tm->q + (size_t)(t - t0) * group * hd, a->q + ((size_t)t * a->nq + (size_t)g * group) * hd,
               (size_t)group * hd * sizeof(float));
    }
    memset(tm->o, 0, (size_t)R * hd * sizeof(float));
    for (int32_t r = 0; r < R; r++) {
        tm->m[r] = -INFINITY;
        tm->l[r] = 0.f;
    }
    int32_t ta = t0, tb = t0; /* rows [ta, tb) see some key of the current key tile */
    for (int32_t k0 = klo; k0 <= khi; k0 += BK) {
        const int32_t nk = khi - k0 + 1 < BK ? khi - k0 + 1 : BK, kend = k0 + nk - 1;
        while (ta < t1 && hi[ta - t0] < k0)
            ta++;
        if (tb < ta)
            tb = ta;
        while (tb < t1 && lo[tb - t0] <= kend)
            tb++;
        if (tb > ta)
            key_tile(a, tm, g, k0, nk, t0, ta, tb, lo, hi, group);
    }
    for (int32_t t = t0; t < t1; t++)
        for (int32_t hh = 0; hh < group; hh++) {
            const int32_t r = (t - t0) * group + hh;
            const float inv = 1.0f / tm->l[r];
            const float *o = tm->o + (size_t)r * hd;
            float *dst = a->out + ((size_t)t * a->nq + (size_t)g * group + hh) * hd;
            for (int32_t d = 0; d < hd; d++)
                dst[d] = o[d] * inv;
        }
}

static void prefill_task(void *p, int ith, int nth)
{
    const prefill_job *j = p;
    if (ith >= j->n_scratch) /* cannot happen: one block per pool thread */
        return;
    tile_mem tm;
    tile_layout(j->a->nq, j->a->nkv, j->a->hd, j->scratch + (size_t)ith * j->per_thread, &tm);
    const int64_t items = (int64_t)j->n_qt * j->a->nkv;
    for (int64_t it = ith; it < items; it += nth)
        prefill_item(j, &tm, (int32_t)(it / j->a->nkv), (int32_t)(it % j->a->nkv));
}

void g4_attn_prefill(g4k_pool *pool, float *scratch, size_t per_thread, int32_t n_scratch, const g4_attn_args *a)
{
    const int32_t group = a->nq / a->nkv, bq = tile_positions(group, a->hd);
    prefill_job j = {.a = a, .scratch = scratch, .per_thread = per_thread, .n_scratch = n_scratch,
                     .bq = bq, .n_qt = (a->c->n + bq - 1) / bq, .group = group};
    if (pool && (int64_t)j.n_qt * a->nkv > 1)
        g4k_pool_run_elastic(pool, prefill_task, &j);
    else
        prefill_task(&j, 0, 1);
}
