/* Quantized conformance (kernels issue): tiny-gemma4-k256 (rows of 256/512, so K-quants and
 * IQ4_XS really apply) quantized here with our own quantizers to Q8_0, Q6_K, Q5_K, Q4_K, Q4_0
 * and IQ4_XS, then:
 *
 *  1. exact check: the quantized file run with f32 activations (G4_EXACT=1) against the same
 *     weights dequantized to F32: the model must read every quantized block exactly as the
 *     quantizer wrote it (layouts, scales, the dequantizers on the real model path). Tolerance:
 *     summation order only.
 *  2. reference check: the default path (activations quantized to Q8_0 / Q8_K as in every GGUF
 *     engine; the per-matmul error of that is bounded in tests/test_kernels.c) against
 *     transformers' BF16 reference: top-1 agreement per position above a documented floor, and
 *     the first greedy token for Q8_0.
 * The logit errors and agreement counts are printed for each format. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "g4plug.h"
#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "kernels.h"
#include "t.h"

typedef struct fmt {
    uint32_t type;
    const char *name;
    double min_top1;     /* check 2: fraction of positions whose top-1 equals the reference's */
    int greedy_prefix;   /* check 2: greedy tokens that must match the reference */
} fmt;

/* Check 1: summation order only (f32 everywhere). */
#define TOL_EXACT 1e-3

/* Check 2 bounds. The tiny random model is chaotic: 16-bit (bf16) rounding of the activations
 * alone moves its hidden states by 25-80% over six layers, so no 8-bit activation path can match
 * the reference's argmax everywhere (llama.cpp would not either). What stays meaningful is how
 * far above chance (1/512 for this 512-token vocabulary) the agreement is: a wrong block layout
 * or scale drops it to ~0. Measured (AVX-512 and scalar agree within 2 positions): Q8_0 31/48,
 * Q6_K 16-18, Q5_K 11, Q4_K 9, Q4_0 7, IQ4_XS 8. Floors sit below those with room for another
 * summation order; check 1 is the exact one. */
static const fmt k_fmts[] = {
    {G4_TYPE_Q8_0, "Q8_0", 0.50, 1},
    {G4_TYPE_Q6_K, "Q6_K", 0.25, 0},
    {G4_TYPE_Q5_K, "Q5_K", 0.15, 0},
    {G4_TYPE_Q4_K, "Q4_K", 0.10, 0},
    {G4_TYPE_Q4_0, "Q4_0", 0.10, 0},
    {G4_TYPE_IQ4_XS, "IQ4_XS", 0.10, 0},
};

/* Every 2-D weight whose rows hold whole blocks is quantized (norms, rope_freqs and other 1-D
 * tensors stay F32); `deq` writes the dequantized values as F32 instead. */
static int write_variant(const char *src, const char *dst, uint32_t type, int deq, void **bufs, int *nb)
{
    char err[256];
    g4_gguf *g = g4_gguf_open(src, 0, err, sizeof err);
    if (!g)
        return -1;
    g4_gguf_writer *w = g4_gguf_writer_new();
    for (int64_t i = 0; i < g4_gguf_n_kv(g); i++) {
        const g4_gguf_kv *kv = g4_gguf_kv_at(g, i);
        if (!g4_gguf_str_eq(kv->key, "general.alignment"))
            g4_gguf_set_kv_from(w, kv);
    }
    const g4_type_info *ti = g4_type_get(type);
    int rc = 0;
    for (int64_t i = 0; i < g4_gguf_n_tensors(g) && !rc; i++) {
        const g4_gguf_tensor *t = g4_gguf_tensor_at(g, i);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        int64_t n = t->ne[0] * t->ne[1] * t->ne[2];
        int quant = t->n_dims == 2 && t->ne[0] % ti->block_elems == 0 && t->type == G4_TYPE_BF16;
        if (!quant) {
            rc |= g4_gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne, t->data);
            continue;
        }
        float *f = malloc(sizeof(float) * (size_t)n);
        g4k_dequantize(t->type, t->data, f, n);
        size_t qbytes = g4_type_row_bytes(type, t->ne[0]) * (size_t)(n / t->ne[0]);
        void *q = malloc(qbytes);
        for (int64_t r = 0; r < n / t->ne[0]; r++)
            g4k_quantize(type, f + r * t->ne[0],
                         (char *)q + (size_t)r * g4_type_row_bytes(type, t->ne[0]), t->ne[0]);
        if (deq) {
            g4k_dequantize(type, q, f, n);
            free(q);
            bufs[(*nb)++] = f;
            rc |= g4_gguf_writer_add_tensor(w, name, G4_TYPE_F32, t->n_dims, t->ne, f);
        } else {
            free(f);
            bufs[(*nb)++] = q;
            rc |= g4_gguf_writer_add_tensor(w, name, type, t->n_dims, t->ne, q);
        }
    }
    if (!rc)
        rc = g4_gguf_writer_write_file(w, dst);
    g4_gguf_writer_free(w);
    g4_gguf_close(g);
    return rc;
}

static g4_model *load(const char *path, int exact)
{
    g4_load_params p;
    g4_model *m = NULL;
    /* G4_EXACT is read at load: f32 activations for every weight type */
    if (exact)
        setenv("G4_EXACT", "1", 1);
    else
        unsetenv("G4_EXACT");
    g4_load_params_init(&p);
    p.model = path;
    p.n_threads = 2;
    if (g4_load(&p, &m) != G4_OK)
        fprintf(stderr, "load %s: %s\n", path, g4_last_error());
    unsetenv("G4_EXACT");
    return m;
}

/* Logits at every position of ids (T x V) into out. */
static int run(g4_model *m, const int32_t *ids, int32_t T, float *out, int32_t V)
{
    g4_session *s = NULL;
    if (g4_session_new(m, NULL, &s) != G4_OK)
        return -1;
    uint8_t *want = malloc((size_t)T);
    memset(want, G4_OUT_LOGITS, (size_t)T);
    g4_batch b;
    g4_batch_init(&b);
    b.n_tokens = T;
    b.tokens = ids;
    b.want = want;
    int rc = g4_step(s, &b) == G4_OK ? 0 : -1;
    for (int32_t t = 0; !rc && t < T; t++)
        memcpy(out + (size_t)t * V, g4_logits(s, t), sizeof(float) * (size_t)V);
    free(want);
    g4_session_free(s);
    return rc;
}

static int32_t argmax(const float *x, int32_t n)
{
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

/* Greedy continuation of n tokens after ids. */
static int greedy(g4_model *m, const int32_t *ids, int32_t T, int32_t n, int32_t *out)
{
    g4_session *s = NULL;
    if (g4_session_new(m, NULL, &s) != G4_OK)
        return -1;
    g4_batch b;
    g4_batch_init(&b);
    b.n_tokens = T;
    b.tokens = ids;
    int rc = g4_step(s, &b) == G4_OK ? 0 : -1;
    int32_t V = g4_vocab_size(m), row = T - 1;
    for (int32_t i = 0; !rc && i < n; i++, row = 0) {
        out[i] = argmax(g4_logits(s, row), V);
        b.n_tokens = 1;
        b.tokens = &out[i];
        rc = g4_step(s, &b) == G4_OK ? 0 : -1;
    }
    g4_session_free(s);
    return rc;
}

int main(void)
{
    char src[512], ref_path[512], err[256];
    snprintf(src, sizeof src, "%s/gemma4/tiny-gemma4-k256-bf16.gguf", t_fixtures());
    snprintf(ref_path, sizeof ref_path, "%s/gemma4/tiny-gemma4-k256.ref.gguf", t_fixtures());
    if (access(src, R_OK) != 0 || access(ref_path, R_OK) != 0) {
        printf("test_quant_conformance: fixtures not found (set G4_FIXTURES)\n");
        return T_DONE("test_quant_conformance");
    }
    if (g4k_init(err, sizeof err) != 0)
        return 1;
    g4_gguf *ref = g4_gguf_open(ref_path, 0, err, sizeof err);
    CHECK(ref != NULL, "ref: %s", err);
    if (!ref)
        return T_DONE("test_quant_conformance");
    uint32_t et;
    uint64_t T64 = 0, G64 = 0;
    const void *idp = NULL, *gp = NULL;
    g4_gguf_get_arr(ref, "text.input_ids", &et, &T64, &idp);
    const g4_gguf_kv *gk = g4_gguf_find_kv(ref, "text.greedy12");
    if (gk)
        g4_gguf_get_arr(ref, "text.greedy12", &et, &G64, &gp);
    const g4_gguf_tensor *tid = g4_gguf_find_tensor(ref, "text.top16_ids");
    const g4_gguf_tensor *tlg = g4_gguf_find_tensor(ref, "text.top16_logits");
    CHECK(idp && T64 > 0 && tid && tlg && gp && G64 >= 4, "reference text case incomplete");
    if (!(idp && T64 > 0 && tid && tlg && gp && G64 >= 4))
        return T_DONE("test_quant_conformance");
    const int32_t T = (int32_t)T64;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)T), *gref = malloc(sizeof(int32_t) * (size_t)G64);
    for (int32_t i = 0; i < T; i++) {
        int64_t v;
        g4_gguf_arr_i64(g4_gguf_find_kv(ref, "text.input_ids"), (uint64_t)i, &v);
        ids[i] = (int32_t)v;
    }
    for (uint64_t i = 0; i < G64; i++) {
        int64_t v;
        g4_gguf_arr_i64(gk, i, &v);
        gref[i] = (int32_t)v;
    }
    const int32_t *top_ids = tid->data;
    const float *top_lg = tlg->data;

    char dir[] = "/tmp/g4-quant-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    for (size_t f = 0; f < sizeof k_fmts / sizeof *k_fmts; f++) {
        const fmt *F = &k_fmts[f];
        char qpath[600], dpath[600];
        snprintf(qpath, sizeof qpath, "%s/q-%s.gguf", dir, F->name);
        snprintf(dpath, sizeof dpath, "%s/d-%s.gguf", dir, F->name);
        void *bufs[256];
        int nb = 0;
        int w1 = write_variant(src, qpath, F->type, 0, bufs, &nb);
        int w2 = write_variant(src, dpath, F->type, 1, bufs, &nb);
        for (int i = 0; i < nb; i++)
            free(bufs[i]);
        CHECK(w1 == 0 && w2 == 0, "%s: could not write the quantized files", F->name);
        g4_model *mq = load(qpath, 0), *mx = load(qpath, 1), *md = load(dpath, 0);
        CHECK(mq && mx && md, "%s: load failed", F->name);
        if (mq && mx && md) {
            const int32_t V = g4_vocab_size(mq);
            size_t TV = (size_t)T * V;
            float *lq = malloc(sizeof(float) * TV), *lx = malloc(sizeof(float) * TV), *ld = malloc(sizeof(float) * TV);
            CHECK(run(mq, ids, T, lq, V) == 0 && run(mx, ids, T, lx, V) == 0 && run(md, ids, T, ld, V) == 0,
                  "%s: step failed", F->name);
            /* 1. the quantized weights are read exactly as written: with f32 activations the
             *    quantized file and its dequantized-F32 twin differ by summation order only */
            double xmax = 0, kmax = 0;
            for (size_t i = 0; i < TV; i++) {
                xmax = fmax(xmax, fabs((double)lx[i] - ld[i]));
                kmax = fmax(kmax, fabs((double)lq[i] - ld[i]));
            }
            CHECK(xmax <= TOL_EXACT, "%s: f32 activations, quantized vs dequantized-f32: max logit diff %.3g > %g",
                  F->name, xmax, TOL_EXACT);
            /* 2. default path (8-bit activations) against the BF16 reference */
            int agree = 0;
            double lerr = 0;
            for (int32_t t = 0; t < T; t++) {
                const float *r = top_lg + (size_t)t * 16;
                for (int k = 0; k < 16; k++)
                    lerr = fmax(lerr, fabs((double)lq[(size_t)t * V + top_ids[(size_t)t * 16 + k]] - r[k]));
                agree += argmax(lq + (size_t)t * V, V) == top_ids[(size_t)t * 16];
            }
            double rate = (double)agree / T;
            CHECK(rate >= F->min_top1, "%s: top-1 agrees with the reference at %d of %d positions (%.0f%% < %.0f%%)",
                  F->name, agree, T, 100 * rate, 100 * F->min_top1);
            int32_t g[12] = {0};
            int gp_ok = F->greedy_prefix == 0 || (greedy(mq, ids, T, F->greedy_prefix, g) == 0 &&
                                                  memcmp(g, gref, sizeof(int32_t) * (size_t)F->greedy_prefix) == 0);
            CHECK(gp_ok, "%s: the first %d greedy tokens differ from the reference", F->name, F->greedy_prefix);
            printf("  %-7s exact path vs dequantized-f32 %.2g | 8-bit activations: vs dequantized-f32 %.3f, "
                   "vs reference max |dlogit| %.3f, top-1 %d/%d (floor %.0f%%), greedy prefix %d %s\n",
                   F->name, xmax, kmax, lerr, agree, T, 100 * F->min_top1, F->greedy_prefix, gp_ok ? "ok" : "DIFFERS");
            free(lq);
            free(lx);
            free(ld);
        }
        g4_model_free(mq);
        g4_model_free(mx);
        g4_model_free(md);
        unlink(qpath);
        unlink(dpath);
    }
    rmdir(dir);
    free(ids);
    free(gref);
    g4_gguf_close(ref);
    return T_DONE("test_quant_conformance");
}
