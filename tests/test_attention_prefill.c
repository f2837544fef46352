/* Tiled online-softmax prompt attention (plugin/model/attention_prefill.c) against the row path
 * (g4_attn_rows, the decode path's straightforward softmax over a full score row) and against a
 * double-precision reference computed here from the cache rows widened to f32:
 *   - every KV type (F32, F16, BF16, Q8_0; K and V alike and one mixed pair);
 *   - causal full attention, sliding windows (wider than, equal to and smaller than a key tile),
 *     bidirectional image/video spans on sliding layers (spans crossing query and key tiles,
 *     a span wider than the window), audio spans (causal);
 *   - tile edges: n not a multiple of the query tile, second chunks (pos0 > 0, keys already in
 *     the cache), sliding rings that wrap, head dims that are not a multiple of a vector
 *     (the kernels' scalar tails), the 12B full layer's 16-head group on one 512-dim KV head;
 *   - with a 2-thread pool and without a pool.
 * And per ISA level: g4k_attn_kt / _qk / _pv and g4k_row_to_f32 against the scalar table.
 * The two attention paths sum in different orders, so they agree to f32 rounding, not bits:
 * the bound (2e-5 on outputs of magnitude <= 1) is ~100x the f32 epsilon times the summation
 * depth seen, and far below any masking error (a wrongly included or excluded key moves an
 * output by ~1e-2 or more with these peaky random scores). */
#include <math.h>
#include <stdint.h>

#include "t.h"
#include "model/attention.h"
#include "quant.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void) /* uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 40) / (double)(1ull << 23) - 1.0);
}

typedef struct acase {
    const char *name;
    int32_t nq, nkv, hd;
    int32_t window, bidir;
    int32_t pos0, n; /* the chunk under test; positions [0, pos0) are already cached */
    int32_t cap;     /* ring rows (0: pos0 + n) */
    int32_t n_spans;
    g4_embd_span spans[3];
    float qscale;    /* score sharpness */
} acase;

/* Double-precision reference for row t, head h, from widened cache rows. */
static void ref_row(const g4_attn_args *a, int32_t t, int32_t h, double *o)
{
    const int32_t hd = a->hd, g = h / (a->nq / a->nkv);
    int32_t lo, hi;
    g4_attn_key_range(a, t, &lo, &hi);
    const float *q = a->q + ((size_t)t * a->nq + h) * hd;
    float kr[512], vr[512];
    double mx = -INFINITY, sum = 0;
    static double sc[4096];
    for (int32_t p = lo; p <= hi; p++) {
        g4k_dequantize(a->kv->type_k, g4_kv_k(a->kv, p) + g4_kv_head_off(a->kv->type_k, g, hd), kr, hd);
        double s = 0;
        for (int32_t d = 0; d < hd; d++)
            s += (double)q[d] * kr[d];
        sc[p - lo] = s;
        mx = s > mx ? s : mx;
    }
    for (int32_t d = 0; d < hd; d++)
        o[d] = 0;
    for (int32_t p = lo; p <= hi; p++) {
        double e = exp(sc[p - lo] - mx);
        sum += e;
        g4k_dequantize(a->kv->type_v, g4_kv_v(a->kv, p) + g4_kv_head_off(a->kv->type_v, g, hd), vr, hd);
        for (int32_t d = 0; d < hd; d++)
            o[d] += e * vr[d];
    }
    for (int32_t d = 0; d < hd; d++)
        o[d] /= sum;
}

static void run_case(const acase *ac, uint32_t tk, uint32_t tv, g4k_pool *pool, int nthreads)
{
    const int32_t total = ac->pos0 + ac->n, row = ac->nkv * ac->hd;
    g4_kv_layer kv = {0};
    kv.cap = ac->cap > 0 ? ac->cap : total;
    kv.row = row;
    kv.type_k = tk;
    kv.type_v = tv;
    kv.rb_k = g4_kv_row_bytes(tk, row);
    kv.rb_v = g4_kv_row_bytes(tv, row);
    kv.k = calloc((size_t)kv.cap, kv.rb_k);
    kv.v = calloc((size_t)kv.cap, kv.rb_v);
    float *tmp = malloc((size_t)row * sizeof(float));
    for (int32_t p = 0; p < total; p++) { /* the ring keeps the last cap positions */
        for (int32_t i = 0; i < row; i++)
            tmp[i] = frand();
        g4k_quantize(tk, tmp, g4_kv_k(&kv, p), row);
        for (int32_t i = 0; i < row; i++)
            tmp[i] = frand();
        g4k_quantize(tv, tmp, g4_kv_v(&kv, p), row);
    }
    const size_t qn = (size_t)ac->n * ac->nq * ac->hd;
    float *q = malloc(qn * sizeof(float)), *o_tiled = malloc(qn * sizeof(float)), *o_rows = malloc(qn * sizeof(float));
    for (size_t i = 0; i < qn; i++)
        q[i] = ac->qscale * frand();
    g4_chunk c = {.n = ac->n, .pos0 = ac->pos0, .spans = ac->spans, .n_spans = ac->n_spans};
    g4_attn_args a = {.kv = &kv, .c = &c, .q = q, .nq = ac->nq, .nkv = ac->nkv, .hd = ac->hd,
                      .window = ac->window, .bidir = ac->bidir};

    const size_t per = g4_attn_prefill_floats(ac->nq, ac->nkv, ac->hd);
    float *tiles = malloc((size_t)nthreads * per * sizeof(float));
    float *scores = malloc((size_t)nthreads * total * sizeof(float));
    for (size_t i = 0; i < qn; i++)
        o_tiled[i] = o_rows[i] = NAN; /* every output must be written */
    a.out = o_tiled;
    g4_attn_prefill(pool, tiles, per, nthreads, &a);
    a.out = o_rows;
    g4_attn_rows(pool, scores, (size_t)total, &a);

    double d_rows = 0, d_ref = 0, d_rows_ref = 0;
    double *ref = malloc((size_t)ac->hd * sizeof(double));
    for (int32_t t = 0; t < ac->n; t++)
        for (int32_t h = 0; h < ac->nq; h++) {
            ref_row(&a, t, h, ref);
            for (int32_t d = 0; d < ac->hd; d++) {
                size_t i = ((size_t)t * ac->nq + h) * ac->hd + d;
                double x = fabs((double)o_tiled[i] - o_rows[i]), y = fabs(o_tiled[i] - ref[d]),
                       z = fabs(o_rows[i] - ref[d]);
                if (!(x <= d_rows))
                    d_rows = isnan(x) ? INFINITY : x;
                if (!(y <= d_ref))
                    d_ref = isnan(y) ? INFINITY : y;
                if (!(z <= d_rows_ref))
                    d_rows_ref = isnan(z) ? INFINITY : z;
            }
        }
    if (getenv("G4_TEST_VERBOSE"))
        printf("  %-28s %-5s/%-5s thr %d: tiled-rows %.2e tiled-ref %.2e rows-ref %.2e\n", ac->name,
               g4_type_get(tk)->name, g4_type_get(tv)->name, nthreads, d_rows, d_ref, d_rows_ref);
    CHECK(d_rows <= 2e-5, "%s %s/%s thr %d: tiled vs row path max |diff| %.3g", ac->name, g4_type_get(tk)->name,
          g4_type_get(tv)->name, nthreads, d_rows);
    CHECK(d_ref <= 2e-5, "%s %s/%s thr %d: tiled vs f64 reference max |diff| %.3g", ac->name, g4_type_get(tk)->name,
          g4_type_get(tv)->name, nthreads, d_ref);
    free(ref);
    free(tiles);
    free(scores);
    free(q);
    free(o_tiled);
    free(o_rows);
    free(tmp);
    free(kv.k);
    free(kv.v);
}

/* Each ISA table's tile kernels against the scalar table (odd sizes: tails of every loop). */
static void check_kernels(void)
{
    const g4k_kernels *ref = g4k_kernels_for(G4K_ISA_SCALAR);
    for (int isa = 1; isa < 4; isa++) {
        const g4k_kernels *k = g4k_kernels_for((g4k_isa)isa);
        if (!k)
            continue;
        const int64_t hds[] = {8, 40, 64, 72, 256};
        for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++) {
            const int64_t hd = hds[hi], nk = G4K_ATTN_BK, nr = 7, nkv = 37;
            float *kf = malloc(nk * hd * 4), *kt0 = malloc(nk * hd * 4), *kt1 = malloc(nk * hd * 4);
            float *q = malloc(nr * hd * 4), *s0 = malloc(nr * nk * 4), *s1 = malloc(nr * nk * 4);
            float *o0 = malloc(nr * hd * 4), *o1 = malloc(nr * hd * 4);
            for (int64_t i = 0; i < nk * hd; i++)
                kf[i] = frand();
            for (int64_t i = 0; i < nr * hd; i++) {
                q[i] = frand();
                o0[i] = o1[i] = frand();
            }
            ref->attn_kt(kf, nk, hd, kt0, nk);
            k->attn_kt(kf, nk, hd, kt1, nk);
            CHECK(memcmp(kt0, kt1, nk * hd * 4) == 0, "%s attn_kt hd %lld", g4k_isa_name(k->isa), (long long)hd);
            ref->attn_kt(kf, 13, hd, kt0, nk); /* partial tile: nk below a multiple of 8 */
            k->attn_kt(kf, 13, hd, kt1, nk);
            int same = 1;
            for (int64_t d = 0; d < hd; d++)
                same &= memcmp(kt0 + d * nk, kt1 + d * nk, 13 * 4) == 0;
            CHECK(same, "%s attn_kt 13 keys hd %lld", g4k_isa_name(k->isa), (long long)hd);
            ref->attn_qk(q, nr, hd, kt0, nk, s0, nk);
            k->attn_qk(q, nr, hd, kt0, nk, s1, nk);
            double md = 0;
            for (int64_t i = 0; i < nr * nk; i++)
                md = fmax(md, fabs(s0[i] - s1[i]));
            CHECK(md <= 1e-5 * hd, "%s attn_qk hd %lld: %.3g", g4k_isa_name(k->isa), (long long)hd, md);
            ref->attn_pv(s0, nk, nr, kf, hd, nkv, o0);
            k->attn_pv(s0, nk, nr, kf, hd, nkv, o1);
            md = 0;
            for (int64_t i = 0; i < nr * hd; i++)
                md = fmax(md, fabs(o0[i] - o1[i]));
            CHECK(md <= 1e-4 * hd, "%s attn_pv hd %lld: %.3g", g4k_isa_name(k->isa), (long long)hd, md);
            const uint32_t types[] = {G4_TYPE_F32, G4_TYPE_F16, G4_TYPE_BF16, G4_TYPE_Q8_0};
            for (int ti = 0; ti < 4; ti++) {
                if (types[ti] == G4_TYPE_Q8_0 && hd % 32)
                    continue;
                uint8_t *row = malloc(g4_kv_row_bytes(types[ti], hd));
                g4k_quantize(types[ti], q, row, hd);
                ref->row_f32[types[ti]](row, s0, hd);
                k->row_f32[types[ti]](row, s1, hd);
                CHECK(memcmp(s0, s1, hd * 4) == 0, "%s row_f32 %s hd %lld", g4k_isa_name(k->isa),
                      g4_type_get(types[ti])->name, (long long)hd);
                free(row);
            }
            free(kf), free(kt0), free(kt1), free(q), free(s0), free(s1), free(o0), free(o1);
        }
    }
}

int main(void)
{
    char err[160];
    if (g4k_init(err, sizeof err) != 0) {
        fprintf(stderr, "g4k_init: %s\n", err);
        return 1;
    }
    check_kernels();
    const int32_t IMG = G4_SPAN_IMAGE, VID = G4_SPAN_VIDEO, AUD = G4_SPAN_AUDIO;
    const acase cases[] = {
        {"causal full, n 100", 4, 2, 64, 0, 0, 0, 100, 0, 0, {{0}}, 1.0f},
        {"causal full, 2nd chunk", 4, 2, 64, 0, 0, 70, 45, 0, 0, {{0}}, 2.0f},
        {"12B full shape, 16:1, hd 512", 16, 1, 512, 0, 0, 30, 41, 0, 0, {{0}}, 0.3f},
        {"sliding 100 > tile", 4, 2, 64, 100, 0, 0, 230, 0, 0, {{0}}, 1.0f},
        {"sliding 64 = tile", 4, 2, 64, 64, 0, 0, 200, 0, 0, {{0}}, 1.0f},
        {"sliding 5 < tile", 4, 2, 64, 5, 0, 0, 150, 0, 0, {{0}}, 1.0f},
        {"sliding ring wraps", 4, 2, 64, 37, 0, 90, 70, 37 - 1 + 70 + 3, 0, {{0}}, 1.0f},
        {"bidir spans crossing tiles", 4, 2, 64, 50, 1, 10, 180, 0, 3,
         {{.first = 20, .n = 45, .kind = IMG}, {.first = 70, .n = 8, .kind = AUD}, {.first = 100, .n = 70, .kind = VID}},
         1.0f},
        {"bidir span > window", 4, 2, 64, 20, 1, 0, 120, 0, 1, {{.first = 3, .n = 100, .kind = IMG}}, 1.0f},
        {"full layer ignores spans", 4, 2, 64, 0, 0, 0, 90, 0, 1, {{.first = 10, .n = 50, .kind = IMG}}, 1.0f},
        {"hd 40 (vector tails)", 6, 3, 40, 30, 1, 5, 77, 0, 1, {{.first = 30, .n = 20, .kind = IMG}}, 1.5f},
        {"hd 16 (tiny fixtures)", 4, 2, 16, 0, 0, 0, 33, 0, 0, {{0}}, 3.0f},
    };
    const uint32_t pairs[][2] = {{G4_TYPE_F32, G4_TYPE_F32}, {G4_TYPE_F16, G4_TYPE_F16}, {G4_TYPE_BF16, G4_TYPE_BF16},
                                 {G4_TYPE_Q8_0, G4_TYPE_Q8_0}, {G4_TYPE_F16, G4_TYPE_Q8_0}};
    g4k_pool *pool = g4k_pool_new(2);
    CHECK(pool != NULL, "pool");
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (size_t pi = 0; pi < sizeof pairs / sizeof pairs[0]; pi++) {
            if ((pairs[pi][0] == G4_TYPE_Q8_0 || pairs[pi][1] == G4_TYPE_Q8_0) && cases[ci].hd % 32)
                continue;
            run_case(&cases[ci], pairs[pi][0], pairs[pi][1], pool, 2);
            if (pi == 0 || pi == 3)
                run_case(&cases[ci], pairs[pi][0], pairs[pi][1], NULL, 1);
        }
    g4k_pool_free(pool);
    return T_DONE("test_attention_prefill");
}
