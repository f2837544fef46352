/* g4-mm-bench: image and audio embedding time on projector-shaped random weights.
 *
 * Synthesizes (once, into build/) the REAL-size projectors: the 12B Unified encoder-free one
 * (gemma4uv/gemma4ua: patch dense 6912 -> 3840, pos table [2, 1120, 3840], projections to 3840)
 * and the E2B towers (gemma4v 768 x 16 layers; gemma4a conformer 1024 x 12; LM width 1536), F16
 * matrices like published mmprojs, then times one 280-token image (960x672) and 10 s of audio at
 * 1 and 2 threads (wall and process CPU seconds; with --reps N, the median of N runs and the
 * fastest).
 * --json prints one line per measurement with test names embed_image_{12bu,e2b}_280,
 * embed_image_12bu_1120, embed_audio_{12bu,e2b}_<S>s (make bench collects them); an opt-in
 * encoder precision (--precision f32,bf16,q8: one row set per value) appends _bf16 / _q8.
 *   usage: g4-mm-bench [--out-dir build] [--reps N] [--threads 1,2] [--audio-s 10] [--precision f32] [--json]
 *                      [--only 12bu|e2b] [--only-image | --only-audio] [--error]
 * --error: no timing; each --precision's output embeddings against the f32 path's (max abs, max
 * abs / max |ref|, relative RMS) on a 280-token image and --audio-s of audio. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "kernels.h"
#include "media/mmproj.h"
#include "../tests/mm_synth.h"
#include "bench_stats.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU seconds of the whole process (all pool threads): on a shared, loaded machine the wall
 * time says little, CPU time / threads is what an idle machine would show (barring waits). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The 12B Unified projector (gemma4-architecture.md §9.3 last paragraph; §6). */
static int synth_unified(const char *path)
{
    mm_synth s = {.w = g4_gguf_writer_new(), .cap_fills = 64, .seed = 7};
    s.fills = calloc((size_t)s.cap_fills, sizeof *s.fills);
    if (!s.w || !s.fills)
        return -1;
    const int D = 3840, T = 6912;
    mm_synth_cfg c = {.wtype = G4_TYPE_F16};
    g4_gguf_set_str(s.w, "general.architecture", "clip");
    g4_gguf_set_str(s.w, "general.type", "mmproj");
    g4_gguf_set_bool(s.w, "clip.has_vision_encoder", 1);
    g4_gguf_set_bool(s.w, "clip.has_audio_encoder", 1);
    g4_gguf_set_str(s.w, "clip.vision.projector_type", "gemma4uv");
    g4_gguf_set_str(s.w, "clip.audio.projector_type", "gemma4ua");
    g4_gguf_set_u32(s.w, "clip.vision.patch_size", 16);
    g4_gguf_set_u32(s.w, "clip.vision.embedding_length", (uint32_t)D);
    g4_gguf_set_u32(s.w, "clip.vision.projection_dim", (uint32_t)D);
    g4_gguf_set_u32(s.w, "clip.audio.embedding_length", 640);
    g4_gguf_set_u32(s.w, "clip.audio.projection_dim", (uint32_t)D);
    mm_linear(&s, &c, "v.patch_embd", T, D, 0);
    mm_tensor(&s, "v.patch_embd.bias", G4_TYPE_F32, 1, D, 1, 1, 1, 0.0f, 0.1f);
    mm_norm(&s, "v.patch_norm.1.weight", T);
    mm_tensor(&s, "v.patch_norm.1.bias", G4_TYPE_F32, 1, T, 1, 1, 1, 0.0f, 0.1f);
    mm_norm(&s, "v.patch_norm.2.weight", D);
    mm_tensor(&s, "v.patch_norm.2.bias", G4_TYPE_F32, 1, D, 1, 1, 1, 0.0f, 0.1f);
    mm_norm(&s, "v.patch_norm.3.weight", D);
    mm_tensor(&s, "v.patch_norm.3.bias", G4_TYPE_F32, 1, D, 1, 1, 1, 0.0f, 0.1f);
    mm_tensor(&s, "v.position_embd.weight", G4_TYPE_F32, 3, D, 1120, 2, 1, 0.0f, 0.3f);
    mm_linear(&s, &c, "mm.input_projection", D, D, 0);
    mm_linear(&s, &c, "mm.a.input_projection", 640, D, 0);
    int rc = s.fail ? -1 : g4_gguf_writer_write_file(s.w, path);
    g4_gguf_writer_free(s.w);
    free(s.fills);
    return rc;
}

static int synth_e2b(const char *path)
{
    mm_synth_cfg c = {.n_embd = 1536,
                      .v_on = 1, .v_d = 768, .v_layers = 16, .v_heads = 12, .v_ff = 3072, .v_npos = 10240,
                      .v_clamp = 1,
                      .a_on = 1, .a_d = 1024, .a_layers = 12, .a_heads = 8, .a_ff = 4096, .a_c0 = 128,
                      .a_c1 = 32, .a_nout = 1536, .a_clamp = 1,
                      .clamp_in = 1e4f, .clamp_out = 1e4f, .wtype = G4_TYPE_F16, .seed = 1};
    return mm_synth_write(&c, path);
}

static double g_audio_s = 10;
static int g_json; /* --json: one JSON line per measurement (bench/run_bench.sh collects them) */

static const char *const g_prec_name[] = {"f32", "bf16", "q8"}; /* G4_MM_PRECISION_* */
static int g_prec;                                               /* the one being measured */
static const char *g_only;  /* --only 12bu|e2b: one projector */
static int g_skip_audio, g_skip_image; /* --only-image / --only-audio (profiling one encoder) */
static int g_error;                    /* --error: accuracy of each precision against f32, no timing */

/* One measurement's repetitions: reported as the median (the shared machine's slow spells fall
 * on either side of it), with the fastest beside it. */
enum { MAX_REPS = 64 };
typedef struct {
    double wall[MAX_REPS], cpu[MAX_REPS];
    int n;
} timings;

static void timings_add(timings *t, double wall, double cpu)
{
    if (t->n < MAX_REPS) {
        t->wall[t->n] = wall;
        t->cpu[t->n] = cpu;
        t->n++;
    }
}

/* v's median (v is left sorted) */
static double median_of(double *v, int n) { return n > 0 ? bench_median(v, n) : 0.0; }

static double min_of(const double *v, int n)
{
    double m = n > 0 ? v[0] : 0.0;
    for (int i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

static void json_row(const char *test, int threads, int64_t n_tok, timings *t)
{
    if (g_json)
        printf("{\"engine\":\"g4plug\",\"test\":\"%s%s%s\",\"threads\":%d,\"n_tokens\":%lld,\"wall_s\":%.4f,"
               "\"cpu_s\":%.4f,\"wall_min_s\":%.4f,\"reps\":%d}\n", test, g_prec ? "_" : "", g_prec ? g_prec_name[g_prec] : "",
               threads, (long long)n_tok, median_of(t->wall, t->n), median_of(t->cpu, t->n), min_of(t->wall, t->n), t->n);
}

static void bench(const char *label, const char *key, const char *path, int reps, const int *threads, int n_thr)
{
    char err[256] = "";
    g4_gguf *g = g4_gguf_open(path, 0, err, sizeof err);
    g4_mmproj *mp = g ? g4_mmproj_load(g, 0, err, sizeof err) : NULL;
    double tc = now();
    if (mp && g4_mmproj_set_precision(mp, NULL, g_prec, err, sizeof err) != G4_OK) {
        g4_mmproj_free(mp);
        mp = NULL;
    }
    if (mp && g_prec && !g_json)
        printf("%s: weights converted to %s in %.2f s (1 thread)\n", label, g_prec_name[g_prec], now() - tc);
    if (!mp) {
        fprintf(stderr, "g4-mm-bench: %s: %s\n", path, err);
        g4_gguf_close(g);
        return;
    }
    const int E = g4_mmproj_n_embd(mp), W = 960, H = 672;
    uint8_t *rgb = malloc((size_t)W * H * 3);
    for (size_t i = 0; i < (size_t)W * H * 3; i++)
        rgb[i] = (uint8_t)((i * 2654435761u) >> 24);
    const size_t NS = (size_t)(g_audio_s * 16000); /* --audio-s seconds at 16 kHz (default 10) */
    float *pcm = malloc(sizeof(float) * NS);
    for (size_t i = 0; i < NS; i++)
        pcm[i] = 0.3f * (float)((i * 7919) % 200) / 200.0f - 0.15f;
    int64_t ni = g4_mmproj_image_tokens(mp, W, H, 280), na = g4_mmproj_audio_tokens(mp, NS);
    float *out = malloc(sizeof(float) * (size_t)(ni > na ? ni : na) * E);
    for (int t = 0; t < n_thr; t++) {
        g4k_pool *pool = g4k_pool_new(threads[t]);
        timings ti = {.n = 0}, ta = {.n = 0};
        for (int r = 0; r < reps; r++) {
            double t0 = now(), c0 = cpu_now();
            if (!g_skip_image && g4_mmproj_embed_image(mp, pool, rgb, W, H, 3 * (size_t)W, 280, out, err, sizeof err) != G4_OK)
                fprintf(stderr, "image: %s\n", err);
            double t1 = now(), c1 = cpu_now();
            if (!g_skip_audio && g4_mmproj_embed_audio(mp, pool, pcm, NS, out, err, sizeof err) != G4_OK)
                fprintf(stderr, "audio: %s\n", err);
            double t2 = now(), c2 = cpu_now();
            timings_add(&ti, t1 - t0, c1 - c0);
            timings_add(&ta, t2 - t1, c2 - c1);
        }
        if (!g_json)
            printf("%-22s %-4s threads %d  image 960x672 (%lld tokens) %8.3f s (cpu %.3f s, min %.3f s)   audio %g s "
                   "(%lld tokens) %8.3f s (cpu %.3f s, min %.3f s)  medians of %d\n",
                   label, g_prec_name[g_prec], threads[t], (long long)ni, median_of(ti.wall, ti.n), median_of(ti.cpu, ti.n),
                   min_of(ti.wall, ti.n), (double)NS / 16000, (long long)na, median_of(ta.wall, ta.n),
                   median_of(ta.cpu, ta.n), min_of(ta.wall, ta.n), ta.n);
        char test[64];
        snprintf(test, sizeof test, "embed_image_%s_280", key);
        json_row(test, threads[t], ni, &ti);
        snprintf(test, sizeof test, "embed_audio_%s_%gs", key, (double)NS / 16000);
        json_row(test, threads[t], na, &ta);
        if (!strcmp(key, "12bu") && !g_skip_image) { /* the 12B Unified projector also at its largest budget */
            int64_t nb = g4_mmproj_image_tokens(mp, W, H, 1120);
            float *ob = malloc(sizeof(float) * (size_t)(nb > 0 ? nb : 1) * E);
            timings tb = {.n = 0};
            for (int r = 0; r < reps && ob && nb > 0; r++) {
                double t0 = now(), c0 = cpu_now();
                if (g4_mmproj_embed_image(mp, pool, rgb, W, H, 3 * (size_t)W, 1120, ob, err, sizeof err) != G4_OK)
                    fprintf(stderr, "image: %s\n", err);
                timings_add(&tb, now() - t0, cpu_now() - c0);
            }
            if (!g_json)
                printf("%-22s %-4s threads %d  image 960x672 at the 1120 budget (%lld tokens) %8.3f s (cpu %.3f s, min %.3f s)\n",
                       label, g_prec_name[g_prec], threads[t], (long long)nb, median_of(tb.wall, tb.n),
                       median_of(tb.cpu, tb.n), min_of(tb.wall, tb.n));
            json_row("embed_image_12bu_1120", threads[t], nb, &tb);
            free(ob);
        }
        fflush(stdout);
        g4k_pool_free(pool);
    }
    free(out); free(pcm); free(rgb);
    g4_mmproj_free(mp);
    g4_gguf_close(g);
}

/* --error: each opt-in precision's output embeddings against the f32 path's on the same input
 * (the 280-token 960x672 image, --audio-s of audio): max |d|, max |d| / max |ref|, and
 * ||d|| / ||ref|| (the relative RMS error) over all values. */
static void compare(const char *what, const char *prec, const float *a, const float *ref, size_t n)
{
    double md = 0, mr = 0, sd = 0, sr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        md = d > md || d != d ? d : md;
        mr = fabs(ref[i]) > mr ? fabs(ref[i]) : mr;
        sd += d * d;
        sr += (double)ref[i] * ref[i];
    }
    printf("%-28s %-4s vs f32: max abs %.3g  max abs / max |ref| %.3g  rms rel %.3g\n", what, prec, md,
           mr > 0 ? md / mr : md, sr > 0 ? sqrt(sd / sr) : sqrt(sd));
}

static void error_report(const char *label, const char *path, const int *precs, int n_prec, int threads)
{
    char err[256] = "";
    g4_gguf *g = g4_gguf_open(path, 0, err, sizeof err);
    if (!g) {
        fprintf(stderr, "g4-mm-bench: %s: %s\n", path, err);
        return;
    }
    const int W = 960, H = 672;
    uint8_t *rgb = malloc((size_t)W * H * 3);
    for (size_t i = 0; i < (size_t)W * H * 3; i++) /* a smooth picture with texture (not pure noise) */
        rgb[i] = (uint8_t)(128 + 60 * sin((double)(i % (3 * W)) / 40.0) + 30 * cos((double)(i / (3 * W)) / 25.0) +
                           (int)(((uint32_t)i * 2654435761u) >> 28));
    const size_t NS = (size_t)(g_audio_s * 16000);
    float *pcm = malloc(sizeof(float) * NS);
    for (size_t i = 0; i < NS; i++)
        pcm[i] = 0.3f * sinf((float)i * 0.05f) + 0.1f * sinf((float)i * 0.31f) + 0.02f * (float)((i * 7919) % 200) / 200.0f;
    g4k_pool *pool = g4k_pool_new(threads);
    float *ri = NULL, *ra = NULL;
    int64_t ni = 0, na = 0;
    int E = 0;
    for (int k = -1; k < n_prec; k++) { /* k = -1: the f32 reference */
        int prec = k < 0 ? G4_MM_PRECISION_F32 : precs[k];
        if (k >= 0 && prec == G4_MM_PRECISION_F32)
            continue;
        g4_mmproj *mp = g4_mmproj_load(g, 0, err, sizeof err);
        if (!mp || g4_mmproj_set_precision(mp, pool, prec, err, sizeof err) != G4_OK) {
            fprintf(stderr, "g4-mm-bench: %s: %s\n", path, err);
            g4_mmproj_free(mp);
            break;
        }
        E = g4_mmproj_n_embd(mp);
        ni = g4_mmproj_image_tokens(mp, W, H, 280);
        na = g4_mmproj_audio_tokens(mp, NS);
        float *oi = malloc(sizeof(float) * (size_t)ni * E), *oa = malloc(sizeof(float) * (size_t)(na > 0 ? na : 1) * E);
        if (g4_mmproj_embed_image(mp, pool, rgb, W, H, 3 * (size_t)W, 280, oi, err, sizeof err) != G4_OK ||
            (na > 0 && g4_mmproj_embed_audio(mp, pool, pcm, NS, oa, err, sizeof err) != G4_OK))
            fprintf(stderr, "g4-mm-bench: embed: %s\n", err);
        if (k < 0) {
            ri = oi;
            ra = oa;
        } else {
            char what[96];
            snprintf(what, sizeof what, "%s image %lld tok", label, (long long)ni);
            compare(what, g_prec_name[prec], oi, ri, (size_t)ni * E);
            snprintf(what, sizeof what, "%s audio %g s", label, (double)NS / 16000);
            if (na > 0)
                compare(what, g_prec_name[prec], oa, ra, (size_t)na * E);
            free(oi);
            free(oa);
        }
        g4_mmproj_free(mp);
    }
    free(ri); free(ra); free(rgb); free(pcm);
    g4k_pool_free(pool);
    g4_gguf_close(g);
}

int main(int argc, char **argv)
{
    const char *dir = "build";
    int reps = 1, threads[8] = {1, 2}, n_thr = 2, precs[3] = {0}, n_prec = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out-dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            g_only = argv[++i];
        else if (!strcmp(argv[i], "--error"))
            g_error = 1;
        else if (!strcmp(argv[i], "--only-image"))
            g_skip_audio = 1;
        else if (!strcmp(argv[i], "--only-audio"))
            g_skip_image = 1;
        else if (!strcmp(argv[i], "--json"))
            g_json = 1;
        else if (!strcmp(argv[i], "--audio-s") && i + 1 < argc)
            g_audio_s = atof(argv[++i]) > 0 && atof(argv[i]) <= 600 ? atof(argv[i]) : 10;
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc) {
            n_prec = 0;
            for (char *s = strtok(argv[++i], ","); s && n_prec < 3; s = strtok(NULL, ",")) {
                int k = 0;
                while (k < 3 && strcmp(s, g_prec_name[k]))
                    k++;
                if (k == 3) {
                    fprintf(stderr, "g4-mm-bench: --precision takes f32, bf16, q8 (comma-separated)\n");
                    return 2;
                }
                precs[n_prec++] = k;
            }
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            n_thr = 0;
            for (char *p = argv[++i]; *p && n_thr < 8; p++) {
                threads[n_thr++] = (int)strtol(p, &p, 10);
                if (!*p)
                    break;
            }
        } else {
            fprintf(stderr, "usage: g4-mm-bench [--out-dir DIR] [--reps N] [--threads 1,2] [--audio-s SECONDS] "
                            "[--precision f32,bf16,q8] [--json] [--only 12bu|e2b] [--only-image|--only-audio] [--error]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "g4-mm-bench: --reps takes 1..%d\n", MAX_REPS);
        return 2;
    }
    char err[256];
    if (g4k_init(err, sizeof err) != 0) {
        fprintf(stderr, "g4-mm-bench: %s\n", err);
        return 1;
    }
    char pu[1024], pe[1024];
    snprintf(pu, sizeof pu, "%s/mmproj-bench-12b-unified-f16.gguf", dir);
    snprintf(pe, sizeof pe, "%s/mmproj-bench-e2b-towers-f16.gguf", dir);
    if (access(pu, R_OK) != 0 && synth_unified(pu) != 0)
        return 1;
    if (access(pe, R_OK) != 0 && synth_e2b(pe) != 0)
        return 1;
    if (!g_json)
        printf("g4-mm-bench: ISA %s\n", g4k_isa_name(g4k_active_isa()));
    if (g_error) {
        if (!g_only || !strcmp(g_only, "12bu"))
            error_report("12B unified", pu, precs, n_prec, threads[n_thr - 1]);
        if (!g_only || !strcmp(g_only, "e2b"))
            error_report("E2B towers", pe, precs, n_prec, threads[n_thr - 1]);
        return 0;
    }
    for (int k = 0; k < n_prec; k++) {
        g_prec = precs[k];
        if (!g_only || !strcmp(g_only, "12bu"))
            bench("12B unified (uv/ua)", "12bu", pu, reps, threads, n_thr);
        if (!g_only || !strcmp(g_only, "e2b"))
            bench("E2B towers (v/a)", "e2b", pe, reps, threads, n_thr);
    }
    return 0;
}
