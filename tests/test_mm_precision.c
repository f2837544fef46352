/* Opt-in encoder precision (plugin/media/mmproj_precision.c, G4_MM_PRECISION_*): the default stays
 * the f32 conformance path, and the bf16 / q8 paths stay within their documented error.
 *
 * Error metric everywhere: max |fast - ref| / max |ref| over all output embeddings (the metric of
 * test_mm_unified). The bounds below are the ones written in docs/BENCHMARKS.md ("Encoder
 * precision"); each is about 2-3x what this machine measured when they were set (printed on every
 * run), so that a kernel change that makes the fast paths less accurate fails here instead of
 * slipping through, while float reassociation across ISAs and thread counts does not.
 *   - 12B Unified fixture (HF reference embeddings): f32 1e-3 (test_mm_unified's conformance
 *     tolerance); bf16 / q8 one rounding of weights and activations per linear, two linears.
 *   - synthesized E-series towers (F16 weights, 2 layers each; no HF reference for the towers in
 *     the fixtures): against our own f32 path; the error compounds per layer, so real 16-layer
 *     towers are measured separately (g4-mm-bench --error, docs). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define G4_MMPROJ_PRIVATE
#include "gguf/gguf.h"
#include "kernels.h"
#include "media/mmproj.h"
#include "mm_synth.h"
#include "quant.h"
#include "t.h"

/* Documented bounds (docs/BENCHMARKS.md "Encoder precision"). */
#define UNIFIED_F32_TOL 1e-3  /* conformance (test_mm_unified) */
#define UNIFIED_BF16_TOL 1e-2 /* vs the HF reference; measured 3.3e-3 (2026-12-03, Zen 4 AVX512-BF16) */
#define UNIFIED_Q8_TOL 3e-2   /* measured 1.25e-2 */
#define TOWER_BF16_TOL 8e-2   /* vs our f32 path, 2-layer synthesized towers; measured 3.2e-2 (image), 6.9e-3 (audio) */
#define TOWER_Q8_TOL 2e-1     /* measured 8.9e-2 (image), 2.0e-2 (audio) */

static char *path_of(const char *name)
{
    static char buf[2][1024]; /* test-only scratch */
    static int k;
    k = (k + 1) % 2;
    snprintf(buf[k], sizeof buf[k], "%s/gemma4/%s", t_fixtures(), name);
    return buf[k];
}

static double rel_err(const float *a, const float *b, size_t n)
{
    double m = 0, ref = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m || d != d)
            m = d != d ? INFINITY : d;
        if (fabs(b[i]) > ref)
            ref = fabs(b[i]);
    }
    return ref > 0 ? m / ref : m;
}

static const float *ref_f32(const g4_gguf *r, const char *name, int64_t n)
{
    const g4_gguf_tensor *t = g4_gguf_find_tensor(r, name);
    if (!t || t->type != G4_TYPE_F32 || t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3] != n)
        return NULL;
    return t->data;
}

static const char *const prec_name[] = {"f32", "bf16", "q8"};

/* Every encoder linear of p has the type the precision promises (the matrices are the ones
 * mmproj_precision.c converts; a float weight with a column count that is not a multiple of 32
 * stays float under q8). */
static int types_match(const g4_mmproj *p, int prec, uint32_t file_type)
{
    const g4k_matrix *m[8];
    int n = 0;
    if (p->v_kind == G4_MM_UNIFIED)
        m[n++] = &p->dense;
    if (p->v_kind == G4_MM_TOWER) {
        m[n++] = &p->vt.layers[0].q.w;
        m[n++] = &p->vt.layers[p->vt.n_layer - 1].down.w;
    }
    if (p->a_kind == G4_MM_TOWER) {
        m[n++] = &p->at.layers[0].ffn_up[0].w;
        m[n++] = &p->at.layers[0].pw1.w;
    }
    for (int i = 0; i < n; i++) {
        uint32_t want = prec == G4_MM_PRECISION_F32    ? file_type
                        : prec == G4_MM_PRECISION_BF16 ? G4_TYPE_BF16
                        : m[i]->n_cols % 32 == 0       ? G4_TYPE_Q8_0
                                                       : file_type;
        if (m[i]->type != want)
            return 0;
    }
    return 1;
}

static void test_unified_fixture(void)
{
    char err[256] = "";
    g4_gguf *g = g4_gguf_open(path_of("mmproj-tiny-gemma4-unified-f32.gguf"), 0, err, sizeof err);
    g4_gguf *ref = g4_gguf_open(path_of("tiny-gemma4-unified.ref.gguf"), 0, err, sizeof err);
    CHECK(g && ref, "open the unified fixture and its reference: %s", err);
    size_t nb = 0;
    void *png = t_read_file(path_of("image_fit.png"), &nb);
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    if (!g || !ref || !png || g4_image_decode(png, nb, &rgb, &w, &h, err, sizeof err) != G4_OK) {
        printf("test_mm_precision: unified fixture or PNG support missing (%s): fixture checks skipped\n", err);
        free(png);
        g4_gguf_close(g);
        g4_gguf_close(ref);
        return;
    }
    const int d = 32;
    const int64_t nt = 280;
    const float *re = ref_f32(ref, "image_fit.embeddings", nt * d);
    float *f32 = malloc(sizeof(float) * (size_t)nt * d), *out = malloc(sizeof(float) * (size_t)nt * d);
    g4k_pool *pool = g4k_pool_new(2);
    CHECK(re && f32 && out, "reference embeddings");
    const double tol[3] = {UNIFIED_F32_TOL, UNIFIED_BF16_TOL, UNIFIED_Q8_TOL};
    for (int prec = 0; re && prec < 3; prec++) {
        g4_mmproj *mp = g4_mmproj_load(g, d, err, sizeof err);
        CHECK(mp != NULL, "load: %s", err);
        if (!mp)
            break;
        CHECK(g4_mmproj_precision(mp) == G4_MM_PRECISION_F32 && mp->lin_mode == G4_LINEAR_KERNEL,
              "a freshly loaded projector is at f32 (the conformance default)");
        CHECK(g4_mmproj_set_precision(mp, pool, prec, err, sizeof err) == G4_OK, "set %s: %s", prec_name[prec], err);
        CHECK(g4_mmproj_precision(mp) == prec && types_match(mp, prec, G4_TYPE_F32), "%s weights converted",
              prec_name[prec]);
        float *o = prec ? out : f32;
        int rc = g4_mmproj_embed_image(mp, pool, rgb, w, h, 3 * (size_t)w, 0, o, err, sizeof err);
        double e = rc == G4_OK ? rel_err(o, re, (size_t)nt * d) : INFINITY;
        double ef = prec && rc == G4_OK ? rel_err(o, f32, (size_t)nt * d) : 0;
        printf("unified image_fit %-4s: max rel error vs HF %.3g (bound %.0e), vs our f32 %.3g\n", prec_name[prec], e,
               tol[prec], ef);
        CHECK(rc == G4_OK && e <= tol[prec], "unified %s: rc %d (%s), error %g > %g", prec_name[prec], rc, err, e,
              tol[prec]);
        /* the fast paths really are different arithmetic (not silently the f32 path). The fixture's
         * f32 weights hold bf16 values (the tiny model is bf16), so bf16 differs from f32 only
         * where the CPU has the vdpbf16ps GEMM (activations rounded); q8 always differs. */
        const int bf16_gemm = g4k_kernels_active()->gemm_lowp[G4_TYPE_BF16] != NULL;
        CHECK(prec == 0 || (prec == G4_MM_PRECISION_BF16 && !bf16_gemm) || ef > 0, "unified %s: output identical to f32",
              prec_name[prec]);
        g4_mmproj_free(mp);
    }
    g4k_pool_free(pool);
    free(f32);
    free(out);
    free(rgb);
    free(png);
    g4_gguf_close(g);
    g4_gguf_close(ref);
}

/* E-series-shaped towers (F16 weights like published mmprojs), small. */
static void test_towers(void)
{
    mm_synth_cfg c = {.n_embd = 32,
                      .v_on = 1, .v_d = 64, .v_layers = 2, .v_heads = 2, .v_ff = 128, .v_npos = 10240,
                      .v_clamp = 1,
                      .a_on = 1, .a_d = 64, .a_layers = 2, .a_heads = 2, .a_ff = 128, .a_c0 = 8,
                      .a_c1 = 4, .a_nout = 64, .a_clamp = 1,
                      .clamp_in = 1e4f, .clamp_out = 1e4f, .wtype = G4_TYPE_F16, .seed = 5};
    char path[1024], err[256] = "";
    snprintf(path, sizeof path, "%s/test_mm_precision_%d.gguf", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    CHECK(mm_synth_write(&c, path) == 0, "synthesize towers");
    g4_gguf *g = g4_gguf_open(path, 0, err, sizeof err);
    CHECK(g != NULL, "open: %s", err);
    if (!g)
        return;
    const int W = 480, H = 336, E = 32;
    uint8_t *rgb = malloc((size_t)W * H * 3);
    for (size_t i = 0; i < (size_t)W * H * 3; i++) /* a smooth picture with some texture */
        rgb[i] = (uint8_t)(128 + 60 * sin((double)(i % (3 * W)) / 40.0) + 30 * cos((double)(i / (3 * W)) / 25.0) +
                           (int)(((uint32_t)i * 2654435761u) >> 28));
    const size_t NS = 48000;
    float *pcm = malloc(sizeof(float) * NS);
    for (size_t i = 0; i < NS; i++)
        pcm[i] = 0.3f * sinf((float)i * 0.05f) + 0.1f * sinf((float)i * 0.31f);
    g4k_pool *pool = g4k_pool_new(2);
    float *ref_i = NULL, *ref_a = NULL;
    int64_t ni = 0, na = 0;
    const double tol[3] = {0, TOWER_BF16_TOL, TOWER_Q8_TOL};
    for (int prec = 0; prec < 3; prec++) {
        g4_mmproj *mp = g4_mmproj_load(g, E, err, sizeof err);
        CHECK(mp != NULL, "load towers: %s", err);
        if (!mp)
            break;
        CHECK(g4_mmproj_set_precision(mp, pool, prec, err, sizeof err) == G4_OK, "set %s: %s", prec_name[prec], err);
        CHECK(types_match(mp, prec, G4_TYPE_F16), "%s: tower weights converted", prec_name[prec]);
        ni = g4_mmproj_image_tokens(mp, W, H, 70);
        na = g4_mmproj_audio_tokens(mp, NS);
        float *oi = malloc(sizeof(float) * (size_t)ni * E), *oa = malloc(sizeof(float) * (size_t)na * E);
        int ri = g4_mmproj_embed_image(mp, pool, rgb, W, H, 3 * (size_t)W, 70, oi, err, sizeof err);
        int ra = g4_mmproj_embed_audio(mp, pool, pcm, NS, oa, err, sizeof err);
        CHECK(ri == G4_OK && ra == G4_OK, "%s: embed image %d audio %d (%s)", prec_name[prec], ri, ra, err);
        if (prec == 0) {
            ref_i = oi;
            ref_a = oa;
        } else {
            double ei = rel_err(oi, ref_i, (size_t)ni * E), ea = rel_err(oa, ref_a, (size_t)na * E);
            printf("towers %-4s vs f32: image (%lld tokens) %.3g, audio (%lld tokens) %.3g (bound %.2g)\n",
                   prec_name[prec], (long long)ni, ei, (long long)na, ea, tol[prec]);
            CHECK(ei <= tol[prec] && ea <= tol[prec], "towers %s: image %g audio %g > %g", prec_name[prec], ei, ea,
                  tol[prec]);
            CHECK(ei > 0 && ea > 0, "towers %s: outputs identical to f32 (fast path not taken)", prec_name[prec]);
            /* deterministic, and the same with one thread (row chunks never change a value) */
            float *o1 = malloc(sizeof(float) * (size_t)ni * E);
            CHECK(g4_mmproj_embed_image(mp, NULL, rgb, W, H, 3 * (size_t)W, 70, o1, err, sizeof err) == G4_OK &&
                      rel_err(o1, oi, (size_t)ni * E) <= 1e-5,
                  "towers %s: 1 thread vs 2 threads", prec_name[prec]);
            free(o1);
            free(oi);
            free(oa);
        }
        /* a second, different precision is refused and changes nothing */
        int other = prec == G4_MM_PRECISION_Q8 ? G4_MM_PRECISION_BF16 : G4_MM_PRECISION_Q8;
        if (prec != 0)
            CHECK(g4_mmproj_set_precision(mp, pool, other, err, sizeof err) == G4_ERR_INVALID_ARGUMENT &&
                      g4_mmproj_precision(mp) == prec && types_match(mp, prec, G4_TYPE_F16),
                  "%s: a second change refused (%s)", prec_name[prec], err);
        CHECK(g4_mmproj_set_precision(mp, pool, 7, err, sizeof err) == G4_ERR_INVALID_ARGUMENT &&
                  g4_mmproj_precision(mp) == prec,
              "unknown precision refused: %s", err);
        g4_mmproj_free(mp);
    }
    free(ref_i);
    free(ref_a);
    g4k_pool_free(pool);
    free(rgb);
    free(pcm);
    g4_gguf_close(g);
    remove(path);
}

/* The ABI: the default is f32, unknown values are refused before anything is loaded. */
static void test_abi(void)
{
    g4_load_params lp;
    g4_load_params_init(&lp);
    CHECK(lp.mm_precision == G4_MM_PRECISION_F32, "g4_load_params_init: mm_precision %d", (int)lp.mm_precision);
    lp.model = "/nonexistent/model.gguf";
    lp.mm_precision = 3;
    g4_model *m = NULL;
    CHECK(g4_load(&lp, &m) == G4_ERR_INVALID_ARGUMENT && !m && strstr(g4_last_error(), "mm_precision"),
          "mm_precision 3 refused: %s", g4_last_error());
    lp.mm_precision = -1;
    CHECK(g4_load(&lp, &m) == G4_ERR_INVALID_ARGUMENT && !m, "mm_precision -1 refused");
}

int main(void)
{
    char err[256] = "";
    CHECK(g4k_init(err, sizeof err) == 0, "g4k_init: %s", err);
    test_abi();
    test_unified_fixture();
    test_towers();
    return T_DONE("test_mm_precision");
}
