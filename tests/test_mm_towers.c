/* gemma4v vision tower and gemma4a audio conformer (plugin/media/embed_image_tower.c,
 * embed_audio_conformer.c, audio_mel.c, fft.c): the pieces against independent computations
 * (naive DFT, HTK formula, pure tone, RoPE relativity, direct pooling, naive relative-position
 * attention), then whole encoders on a synthesized projector (tests/mm_synth.h): token counts,
 * finiteness, determinism, thread-count invariance, chunking, bounded memory, bad inputs.
 * When the tiny-gemma4-e-mm fixture exists, its audio.mel_features checks the front end. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define G4_MMPROJ_PRIVATE
#include "gguf/gguf.h"
#include "kernels.h"
#include "mm_synth.h"
#include "media/mmproj.h"
#include "t.h"

static double frand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void test_fft(void)
{
    const int sizes[3] = {8, 64, 512};
    uint64_t seed = 1;
    for (int si = 0; si < 3; si++) {
        int n = sizes[si];
        g4_rfft_plan p;
        CHECK(g4_rfft_init(&p, n) == G4_OK, "plan %d", n);
        double *x = malloc(sizeof(double) * n), *re = malloc(sizeof(double) * (n / 2 + 1)),
               *im = malloc(sizeof(double) * (n / 2 + 1)), *work = malloc(sizeof(double) * 2 * n);
        for (int i = 0; i < n; i++)
            x[i] = frand(&seed);
        g4_rfft(&p, x, re, im, work);
        double maxerr = 0;
        for (int k = 0; k <= n / 2; k++) { /* naive DFT */
            double sr = 0, sim = 0;
            for (int t = 0; t < n; t++) {
                double a = -2.0 * M_PI * (double)k * t / n;
                sr += x[t] * cos(a);
                sim += x[t] * sin(a);
            }
            maxerr = fmax(maxerr, fmax(fabs(sr - re[k]), fabs(sim - im[k])));
        }
        CHECK(maxerr < 1e-9 * n, "rfft %d vs DFT: max err %g", n, maxerr);
        g4_rfft_free(&p);
        free(x); free(re); free(im); free(work);
    }
    g4_rfft_plan p;
    CHECK(g4_rfft_init(&p, 100) == G4_ERR_INVALID_ARGUMENT, "non power of two refused");
}

static double htk_mel(double f) { return 2595.0 * log10(1.0 + f / 700.0); }

static void test_mel(void)
{
    double *fb = malloc(sizeof(double) * 257 * 128);
    g4_mel_filterbank(fb);
    int ok_range = 1, ok_peak = 1, ok_spot = 1;
    double step = htk_mel(8000.0) / 129.0;
    for (int m = 0; m < 128; m++) {
        double lo = 700.0 * (pow(10.0, m * step / 2595.0) - 1.0);
        double ce = 700.0 * (pow(10.0, (m + 1) * step / 2595.0) - 1.0);
        double hi = 700.0 * (pow(10.0, (m + 2) * step / 2595.0) - 1.0);
        int best = 0;
        for (int k = 0; k < 257; k++) {
            double v = fb[k * 128 + m], f = 31.25 * k;
            if (v < 0 || v > 1)
                ok_range = 0;
            if ((f <= lo || f >= hi) && v != 0)
                ok_range = 0;
            double want = f <= lo || f >= hi ? 0.0 : f <= ce ? (f - lo) / (ce - lo) : (hi - f) / (hi - ce);
            if (fabs(want - v) > 1e-9)
                ok_spot = 0;
            if (v > fb[best * 128 + m])
                best = k;
        }
        if (fb[best * 128 + m] > 0 && fabs(31.25 * best - ce) > 31.25)
            ok_peak = 0;
    }
    CHECK(ok_range, "mel filters within [0,1] and zero outside their band");
    CHECK(ok_peak, "each mel filter peaks at its HTK centre");
    CHECK(ok_spot, "mel filters equal the HTK triangle formula");

    /* frame counting: 16320 samples (1.02 s) -> 102 frames (HF pads to 16384), 101 valid */
    int64_t v = 0;
    CHECK(g4_mel_frames(16320, &v) == 102 && v == 101, "16320 samples: %lld frames, %lld valid",
          (long long)g4_mel_frames(16320, NULL), (long long)v);
    CHECK(g4_mel_frames(160, &v) == 1 && v == 0, "160 samples: no valid frame");
    CHECK(g4_mel_frames(480000, &v) == 2999 && v == 2999, "30 s: 2999 frames");

    /* pure 1 kHz tone: the log-mel of a middle frame peaks in the filter centred nearest 1 kHz */
    size_t n = 16000;
    float *x = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * (float)sin(2.0 * M_PI * 1000.0 * (double)i / 16000.0);
    float mel[3 * 128];
    CHECK(g4_log_mel(x, n, fb, 49, 3, mel) == G4_OK, "log-mel");
    int best = 0, want = 0;
    for (int m = 0; m < 128; m++) {
        if (mel[128 + m] > mel[128 + best])
            best = m;
        double ce = 700.0 * (pow(10.0, (m + 1) * step / 2595.0) - 1.0);
        double cw = 700.0 * (pow(10.0, (want + 1) * step / 2595.0) - 1.0);
        if (fabs(ce - 1000.0) < fabs(cw - 1000.0))
            want = m;
    }
    CHECK(abs(best - want) <= 1, "1 kHz tone peaks in mel bin %d (filter nearest 1 kHz: %d)", best, want);
    /* Parseval-style level check: a full-scale window of amplitude 0.5 at 1 kHz has |X| ~
     * 0.5 * sum(hann)/2 = 0.5 * 160 / 2 = 40 at the tone bin (1000/31.25 = 32, exact bin). */
    CHECK(mel[128 + best] > logf(20.0f) && mel[128 + best] < logf(60.0f), "tone level %g", mel[128 + best]);
    /* silence -> log(1e-3); invalid frames -> 0 */
    float *z = calloc(n, sizeof(float));
    CHECK(g4_log_mel(z, n, fb, 10, 1, mel) == G4_OK && fabsf(mel[5] - logf(1e-3f)) < 1e-6f, "silence");
    int64_t total = g4_mel_frames(16320, &v); /* 102 frames, the last one invalid */
    float *y = calloc(16320, sizeof(float));
    for (int i = 0; i < 16320; i++)
        y[i] = 0.25f;
    CHECK(g4_log_mel(y, 16320, fb, total - 1, 1, mel) == G4_OK && mel[0] == 0.0f && total - 1 == v,
          "invalid last frame is zero");
    free(y);
    free(z);
    free(x);
    free(fb);
}

static void test_rope2d(void)
{
    const int hd = 16, q4 = hd / 4;
    float cx[40 * 4], sx[40 * 4];
    g4_rope2d_tables(40, hd, 100.0f, cx, sx);
    uint64_t seed = 7;
    float q[16], k[16];
    for (int i = 0; i < hd; i++) {
        q[i] = (float)frand(&seed);
        k[i] = (float)frand(&seed);
    }
    /* direct: each half is a set of complex numbers z_i = (h[i], h[i+q4]) times e^{i pos w_i} */
    float r[16];
    memcpy(r, q, sizeof r);
    g4_rope2d_head(r, hd, cx, sx, cx, sx, 5, 11);
    double err = 0;
    for (int axis = 0; axis < 2; axis++)
        for (int i = 0; i < q4; i++) {
            double pos = axis ? 11 : 5, w = pos * pow(100.0, -(double)i / q4);
            double a = q[axis * 8 + i], b = q[axis * 8 + i + q4];
            err = fmax(err, fabs(r[axis * 8 + i] - (a * cos(w) - b * sin(w))));
            err = fmax(err, fabs(r[axis * 8 + i + q4] - (b * cos(w) + a * sin(w))));
        }
    CHECK(err < 1e-5, "rope2d vs direct formula: %g", err);
    /* relativity: <rope(q, p1), rope(k, p2)> depends only on p1 - p2 per axis */
    float a1[16], b1[16], a2[16], b2[16];
    memcpy(a1, q, sizeof a1); memcpy(b1, k, sizeof b1); memcpy(a2, q, sizeof a2); memcpy(b2, k, sizeof b2);
    g4_rope2d_head(a1, hd, cx, sx, cx, sx, 7, 3);
    g4_rope2d_head(b1, hd, cx, sx, cx, sx, 2, 9);
    g4_rope2d_head(a2, hd, cx, sx, cx, sx, 30, 20);
    g4_rope2d_head(b2, hd, cx, sx, cx, sx, 25, 26);
    double d1 = 0, d2 = 0;
    for (int i = 0; i < hd; i++) {
        d1 += a1[i] * b1[i];
        d2 += a2[i] * b2[i];
    }
    CHECK(fabs(d1 - d2) < 1e-4, "rope2d relative: %g vs %g", d1, d2);
}

static void test_pool(void)
{
    const int nx = 6, ny = 9, d = 5;
    float x[6 * 9 * 5], out[2 * 3 * 5];
    uint64_t seed = 3;
    for (int i = 0; i < nx * ny * d; i++)
        x[i] = (float)frand(&seed);
    g4_pool3x3(x, nx, ny, d, 2.0f, out);
    double err = 0;
    for (int oy = 0; oy < 3; oy++)
        for (int ox = 0; ox < 2; ox++)
            for (int c = 0; c < d; c++) {
                double s = 0;
                for (int y = 3 * oy; y < 3 * oy + 3; y++)
                    for (int xx = 3 * ox; xx < 3 * ox + 3; xx++)
                        s += x[(y * nx + xx) * d + c];
                err = fmax(err, fabs(out[(oy * 2 + ox) * d + c] - 2.0 * s / 9.0));
            }
    CHECK(err < 1e-6, "pool3x3 vs direct average: %g", err);
}

/* Naive relative-position local attention: logit(i, j) = q_i.k_j + q_i.rk[12 - (i - j)] for
 * 0 <= i - j < 12, softcap 50, softmax over those keys. */
static void test_local_attention(void)
{
    const int H = 2, hd = 8, d = H * hd;
    const int ns[3] = {5, 12, 31};
    uint64_t seed = 11;
    g4k_pool *pool = g4k_pool_new(2);
    for (int t = 0; t < 3; t++) {
        int n = ns[t];
        float *q = malloc(sizeof(float) * n * d), *k = malloc(sizeof(float) * n * d);
        float *v = malloc(sizeof(float) * n * d), *o = malloc(sizeof(float) * n * d);
        float rk[13 * 16];
        for (int i = 0; i < n * d; i++) {
            q[i] = (float)(3 * frand(&seed));
            k[i] = (float)(3 * frand(&seed));
            v[i] = (float)frand(&seed);
        }
        for (int i = 0; i < 13 * d; i++)
            rk[i] = (float)(3 * frand(&seed));
        g4_audio_local_attention(pool, q, k, v, rk, n, H, hd, o);
        double err = 0;
        for (int h = 0; h < H; h++)
            for (int i = 0; i < n; i++) {
                double l[12], mx = -1e300, sum = 0, acc[8] = {0};
                int cnt = 0;
                for (int j = i; j >= 0 && i - j < 12; j--, cnt++) {
                    double s = 0;
                    for (int e = 0; e < hd; e++)
                        s += (double)q[i * d + h * hd + e] *
                             (k[j * d + h * hd + e] + rk[(12 - (i - j)) * d + h * hd + e]);
                    l[cnt] = 50.0 * tanh(s / 50.0);
                    mx = fmax(mx, l[cnt]);
                }
                for (int c = 0; c < cnt; c++)
                    sum += exp(l[c] - mx);
                for (int c = 0; c < cnt; c++)
                    for (int e = 0; e < hd; e++)
                        acc[e] += exp(l[c] - mx) / sum * v[(i - c) * d + h * hd + e];
                for (int e = 0; e < hd; e++)
                    err = fmax(err, fabs(acc[e] - o[i * d + h * hd + e]));
            }
        CHECK(err < 1e-4, "chunked rel-shift attention vs naive, n=%d: %g", n, err);
        free(q); free(k); free(v); free(o);
    }
    g4k_pool_free(pool);
    /* the sinusoidal table: row p is distance 12 - p, [sin | cos] */
    float tab[13 * 8];
    g4_audio_rel_pos_table(8, tab);
    CHECK(fabsf(tab[12 * 8 + 0]) < 1e-7f && fabsf(tab[12 * 8 + 4] - 1.0f) < 1e-7f, "distance 0 row");
    CHECK(fabsf(tab[0] - sinf(12.0f)) < 1e-6f && fabsf(tab[3] - sinf(12.0f * expf(-3 * logf(1e4f) / 3))) < 1e-4f,
          "distance 12 row");
}

/* ---- whole encoders on a synthesized projector --------------------------------------------- */

static mm_synth_cfg tiny_cfg(void)
{
    mm_synth_cfg c = {.n_embd = 24,
                      .v_on = 1, .v_d = 32, .v_layers = 2, .v_heads = 2, .v_ff = 64, .v_npos = 10240,
                      .v_clamp = 1,
                      .a_on = 1, .a_d = 32, .a_layers = 2, .a_heads = 2, .a_ff = 64, .a_c0 = 8,
                      .a_c1 = 4, .a_nout = 48, .a_clamp = 1,
                      .clamp_in = 2.5f, .clamp_out = 4.0f, .wtype = G4_TYPE_F32, .seed = 42};
    return c;
}

static g4_mmproj *load_synth(const mm_synth_cfg *c, const char *path, g4_gguf **g, int n_embd,
                             char *err, size_t errlen)
{
    *g = NULL;
    if (mm_synth_write(c, path) != 0)
        return NULL;
    *g = g4_gguf_open(path, 0, err, errlen);
    if (!*g)
        return NULL;
    return g4_mmproj_load(*g, n_embd, err, errlen);
}

static int all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

static void test_image(const g4_mmproj *mp, g4k_pool *p1, g4k_pool *p3)
{
    const int E = g4_mmproj_n_embd(mp);
    CHECK(g4_mmproj_image_tokens(mp, 960, 672, 0) == 280, "960x672 -> 280");
    CHECK(g4_mmproj_image_tokens(mp, 500, 333, 0) == 260, "500x333 -> 260");
    CHECK(g4_mmproj_image_tokens(mp, 500, 333, 70) == 60, "500x333 @70 (480x288) -> %lld",
          (long long)g4_mmproj_image_tokens(mp, 500, 333, 70));
    CHECK(g4_mmproj_image_tokens(mp, 0, 10, 0) == -1, "0-wide image -> -1");
    /* a 100x70 gradient image, budget 70 (small: keeps the test fast) */
    int w = 100, h = 70;
    uint8_t *rgb = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; i++)
        rgb[i] = (uint8_t)((i * 37 + (i / 300) * 11) & 255);
    int64_t nt = g4_mmproj_image_tokens(mp, w, h, 70);
    CHECK(nt > 0, "tokens %lld", (long long)nt);
    float *a = malloc(sizeof(float) * nt * E), *b = malloc(sizeof(float) * nt * E);
    float *c = malloc(sizeof(float) * nt * E);
    char err[256] = "";
    CHECK(g4_mmproj_embed_image(mp, p1, rgb, w, h, 3 * (size_t)w, 70, a, err, sizeof err) == G4_OK, "embed: %s", err);
    CHECK(all_finite(a, (size_t)nt * E), "image embeddings finite");
    CHECK(g4_mmproj_embed_image(mp, p1, rgb, w, h, 3 * (size_t)w, 70, b, err, sizeof err) == G4_OK &&
          !memcmp(a, b, sizeof(float) * nt * E), "image deterministic");
    CHECK(g4_mmproj_embed_image(mp, p3, rgb, w, h, 3 * (size_t)w, 70, c, err, sizeof err) == G4_OK &&
          !memcmp(a, c, sizeof(float) * nt * E), "image: 1 vs 3 threads identical");
    CHECK(g4_mmproj_embed_image(mp, NULL, rgb, w, h, 3 * (size_t)w, 70, c, err, sizeof err) == G4_OK &&
          !memcmp(a, c, sizeof(float) * nt * E), "image: NULL pool identical");
    double ss = 0;
    for (int64_t i = 0; i < E; i++)
        ss += (double)a[i] * a[i];
    CHECK(ss > 1e-6, "image output not degenerate");
    /* bad inputs */
    CHECK(g4_mmproj_embed_image(mp, p1, NULL, w, h, 3 * (size_t)w, 70, a, err, sizeof err) == G4_ERR_INVALID_ARGUMENT, "NULL rgb");
    CHECK(g4_mmproj_embed_image(mp, p1, rgb, w, h, 3 * (size_t)w - 1, 70, a, err, sizeof err) == G4_ERR_INVALID_ARGUMENT && strstr(err, "stride"), "short stride: %s", err);
    CHECK(g4_mmproj_embed_image(mp, p1, rgb, w, h, 3 * (size_t)w, -5, a, err, sizeof err) == G4_ERR_INVALID_ARGUMENT, "bad budget");
    /* ABI path: two-call pattern */
    size_t n_tok = 0;
    g4_image_options io;
    memset(&io, 0, sizeof io);
    io.struct_size = sizeof io;
    io.max_soft_tokens = 70;
    CHECK(g4_embed_image_mm(mp, p1, rgb, w, h, 3 * (size_t)w, &io, NULL, 0, &n_tok) == G4_OK && n_tok == (size_t)nt, "ABI sizing");
    CHECK(g4_embed_image_mm(mp, p1, rgb, w, h, 3 * (size_t)w, &io, c, (size_t)nt * E, &n_tok) == G4_OK &&
          !memcmp(a, c, sizeof(float) * nt * E), "ABI embed equals internal");
    free(rgb);
    free(a); free(b); free(c);

    /* a large input: memory is bounded by the budget, not by the 6000x4000 input */
    w = 6000; h = 4000;
    rgb = malloc((size_t)w * h * 3);
    for (size_t i = 0; i < (size_t)w * h * 3; i++)
        rgb[i] = (uint8_t)(i * 2654435761u >> 24);
    nt = g4_mmproj_image_tokens(mp, w, h, 70);
    a = malloc(sizeof(float) * nt * E);
    long rss0 = max_rss_kb();
    CHECK(g4_mmproj_embed_image(mp, p3, rgb, w, h, 3 * (size_t)w, 70, a, err, sizeof err) == G4_OK, "large image: %s", err);
    long grow = max_rss_kb() - rss0;
    CHECK(grow < 64 * 1024, "large image peak RSS grew %ld KiB", grow);
    CHECK(all_finite(a, (size_t)nt * E), "large image finite");
    free(a);
    free(rgb);
}

static void test_audio(const g4_mmproj *mp, g4k_pool *p1, g4k_pool *p3)
{
    const int E = g4_mmproj_n_embd(mp);
    CHECK(g4_mmproj_audio_tokens(mp, 16320) == 26, "1.02 s -> 26 tokens (%lld)", (long long)g4_mmproj_audio_tokens(mp, 16320));
    CHECK(g4_mmproj_audio_tokens(mp, 16000) == 25, "1 s -> 25 tokens");
    CHECK(g4_mmproj_audio_tokens(mp, 480000) == 750, "30 s -> 750 tokens");
    CHECK(g4_mmproj_audio_tokens(mp, 1200000) == 1875, "75 s -> 750+750+375 tokens");
    CHECK(g4_mmproj_audio_tokens(mp, 160) == 0, "160 samples -> 0 tokens");
    size_t n = 16320;
    float *x = malloc(sizeof(float) * 1200000);
    uint64_t seed = 5;
    for (size_t i = 0; i < 1200000; i++)
        x[i] = (float)(0.3 * sin(2 * M_PI * 440.0 * (double)i / 16000.0) + 0.05 * frand(&seed));
    float *a = malloc(sizeof(float) * 26 * E), *b = malloc(sizeof(float) * 26 * E);
    char err[256] = "";
    CHECK(g4_mmproj_embed_audio(mp, p1, x, n, a, err, sizeof err) == G4_OK, "embed audio: %s", err);
    CHECK(all_finite(a, 26 * (size_t)E), "audio finite");
    CHECK(g4_mmproj_embed_audio(mp, p1, x, n, b, err, sizeof err) == G4_OK && !memcmp(a, b, sizeof(float) * 26 * E), "audio deterministic");
    CHECK(g4_mmproj_embed_audio(mp, p3, x, n, b, err, sizeof err) == G4_OK && !memcmp(a, b, sizeof(float) * 26 * E), "audio: 1 vs 3 threads identical");
    /* causality: the first tokens do not depend on later audio (all blocks look back only) */
    float *c = malloc(sizeof(float) * 25 * E);
    CHECK(g4_mmproj_embed_audio(mp, p1, x, 16000, c, err, sizeof err) == G4_OK, "1 s");
    double dmax = 0;
    for (int i = 0; i < 20 * E; i++)
        dmax = fmax(dmax, fabs(c[i] - a[i]));
    CHECK(dmax < 1e-5, "audio encoder is causal (first 20 tokens of 1 s vs 1.02 s: %g)", dmax);
    free(c);
    /* too short / bad input */
    CHECK(g4_mmproj_embed_audio(mp, p1, x, 100, a, err, sizeof err) == G4_ERR_INVALID_ARGUMENT && strstr(err, "short"), "too short: %s", err);
    CHECK(g4_mmproj_embed_audio(mp, p1, NULL, n, a, err, sizeof err) == G4_ERR_INVALID_ARGUMENT, "NULL samples");
    size_t n_tok = 0;
    CHECK(g4_embed_audio_mm(mp, p1, x, n, 16000, NULL, 0, &n_tok) == G4_OK && n_tok == 26, "ABI sizing");
    CHECK(g4_embed_audio_mm(mp, p1, x, n, 16000, b, 26 * (size_t)E, &n_tok) == G4_OK && !memcmp(a, b, sizeof(float) * 26 * E), "ABI audio");
    free(a); free(b);
    /* 75 s in 30 s chunks: chunk 1 equals the first 30 s alone; memory bounded by one chunk */
    float *l30 = malloc(sizeof(float) * 750 * E), *l75 = malloc(sizeof(float) * 1875 * E);
    CHECK(g4_mmproj_embed_audio(mp, p3, x, 480000, l30, err, sizeof err) == G4_OK, "30 s: %s", err);
    long rss0 = max_rss_kb();
    CHECK(g4_mmproj_embed_audio(mp, p3, x, 1200000, l75, err, sizeof err) == G4_OK, "75 s: %s", err);
    long grow = max_rss_kb() - rss0;
    CHECK(grow < 16 * 1024, "75 s after 30 s: peak RSS grew %ld KiB", grow);
    CHECK(!memcmp(l30, l75, sizeof(float) * 750 * E), "chunk 1 of 75 s == 30 s alone");
    CHECK(all_finite(l75, 1875 * (size_t)E), "75 s finite");
    free(l30); free(l75);
    free(x);
}

static void test_load_errors(const mm_synth_cfg *base)
{
    char err[256] = "";
    g4_gguf *g = NULL;
    g4_mmproj *mp = load_synth(base, "build/tests/mm_towers_tmp.gguf", &g, 99, err, sizeof err);
    CHECK(!mp && strstr(err, "projection_dim"), "width mismatch refused: %s", err);
    g4_mmproj_free(mp);
    g4_gguf_close(g);
    /* a conformer without its first layer's attention: the message names the tensor */
    mm_synth_cfg c = *base;
    c.v_on = 0;
    c.a_layers = 1;
    if (mm_synth_write(&c, "build/tests/mm_towers_tmp.gguf") == 0 &&
        (g = g4_gguf_open("build/tests/mm_towers_tmp.gguf", 0, err, sizeof err))) {
        /* claim 2 layers through a rewritten key: simplest is a config lie */
        g4_gguf_close(g);
    }
    c.a_layers = 2;
    c.v_on = 1;
    c.a_on = 0;
    mp = load_synth(&c, "build/tests/mm_towers_tmp.gguf", &g, 24, err, sizeof err);
    CHECK(mp && g4_mmproj_has_vision(mp) && !g4_mmproj_has_audio(mp), "vision-only tower: %s", err);
    CHECK(mp && g4_mmproj_audio_tokens(mp, 16000) == -1, "no audio -> -1");
    g4_mmproj_free(mp);
    g4_gguf_close(g);
    remove("build/tests/mm_towers_tmp.gguf");
}

/* Clamps change the result when they bite, and are ignored when absent. */
static void test_clamps(const mm_synth_cfg *base, g4k_pool *pool)
{
    char err[256] = "";
    mm_synth_cfg c = *base;
    g4_gguf *g1 = NULL, *g2 = NULL;
    c.clamp_in = c.clamp_out = 1e30f;
    g4_mmproj *loose = load_synth(&c, "build/tests/mm_towers_a.gguf", &g1, 24, err, sizeof err);
    c.v_clamp = c.a_clamp = 0;
    g4_mmproj *none = load_synth(&c, "build/tests/mm_towers_b.gguf", &g2, 24, err, sizeof err);
    CHECK(loose && none, "load: %s", err);
    if (loose && none) {
        float a[26 * 24], b[26 * 24];
        float *x = malloc(sizeof(float) * 16320);
        for (int i = 0; i < 16320; i++)
            x[i] = (float)sin(i * 0.05);
        CHECK(g4_mmproj_embed_audio(loose, pool, x, 16320, a, err, sizeof err) == G4_OK &&
              g4_mmproj_embed_audio(none, pool, x, 16320, b, err, sizeof err) == G4_OK &&
              !memcmp(a, b, sizeof a), "huge bounds == no clamp tensors");
        free(x);
        /* the image too: with every bound present the tower's MLP gate runs fused with its
         * clamps (g4k_geglu_tanh_clamp), without them as separate passes */
        const int w = 96, h = 96;
        const int64_t nt = g4_mmproj_image_tokens(loose, w, h, 70), E = g4_mmproj_n_embd(loose);
        uint8_t *rgb = malloc((size_t)w * h * 3);
        float *ia = malloc(sizeof(float) * (size_t)(nt > 0 ? nt : 1) * E), *ib = malloc(sizeof(float) * (size_t)(nt > 0 ? nt : 1) * E);
        for (int i = 0; i < w * h * 3; i++)
            rgb[i] = (uint8_t)((i * 2654435761u) >> 24);
        CHECK(nt > 0 && g4_mmproj_embed_image(loose, pool, rgb, w, h, 3 * (size_t)w, 70, ia, err, sizeof err) == G4_OK &&
              g4_mmproj_embed_image(none, pool, rgb, w, h, 3 * (size_t)w, 70, ib, err, sizeof err) == G4_OK &&
              !memcmp(ia, ib, sizeof(float) * (size_t)nt * E), "image: huge bounds == no clamp tensors (%lld tokens)",
              (long long)nt);
        free(rgb);
        free(ia);
        free(ib);
    }
    g4_mmproj_free(loose);
    g4_mmproj_free(none);
    g4_gguf_close(g1);
    g4_gguf_close(g2);
    remove("build/tests/mm_towers_a.gguf");
    remove("build/tests/mm_towers_b.gguf");
}

/* The e-mm fixture, when present: audio.mel_features against our front end. */
static void test_fixture_mel(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/gemma4/tiny-gemma4-e-mm.ref.gguf", t_fixtures());
    if (access(path, R_OK) != 0) {
        printf("test_mm_towers: %s not present, fixture checks skipped\n", path);
        return;
    }
    char err[256] = "";
    g4_gguf *r = g4_gguf_open(path, 0, err, sizeof err);
    CHECK(r != NULL, "open ref: %s", err);
    if (!r)
        return;
    const g4_gguf_tensor *t = g4_gguf_find_tensor(r, "audio.mel_features");
    snprintf(path, sizeof path, "%s/gemma4/audio.wav", t_fixtures());
    FILE *f = fopen(path, "rb");
    if (t && f && t->type == G4_TYPE_F32 && t->ne[0] == 128) {
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        void *bytes = malloc((size_t)len);
        size_t got = fread(bytes, 1, (size_t)len, f);
        float *x = NULL;
        size_t n = 0;
        int rate = 0;
        if (got == (size_t)len && g4_audio_decode(bytes, got, &x, &n, &rate, err, sizeof err) == G4_OK && rate == 16000) {
            int64_t T = t->ne[1], valid = 0, ours = g4_mel_frames(n, &valid);
            CHECK(T == ours || T == valid, "mel frames: ref %lld, ours %lld (%lld valid)", (long long)T, (long long)ours, (long long)valid);
            double *fb = malloc(sizeof(double) * 257 * 128);
            float *mel = malloc(sizeof(float) * (size_t)T * 128);
            g4_mel_filterbank(fb);
            g4_log_mel(x, n, fb, 0, T, mel);
            double e = 0;
            const float *ref = t->data;
            for (int64_t i = 0; i < T * 128; i++)
                e = fmax(e, fabs(mel[i] - ref[i]));
            CHECK(e < 1e-3, "audio.mel_features max abs err %g", e);
            free(fb); free(mel);
        }
        free(x);
        free(bytes);
    }
    if (f)
        fclose(f);
    g4_gguf_close(r);
}

int main(void)
{
    char err[256] = "";
    CHECK(g4k_init(err, sizeof err) == 0, "g4k_init: %s", err);
    test_fft();
    test_mel();
    test_rope2d();
    test_pool();
    test_local_attention();

    mm_synth_cfg cfg = tiny_cfg();
    g4_gguf *g = NULL;
    g4_mmproj *mp = load_synth(&cfg, "build/tests/mm_towers.gguf", &g, 24, err, sizeof err);
    CHECK(mp != NULL, "load synthesized gemma4v + gemma4a: %s", err);
    if (mp) {
        CHECK(g4_mmproj_has_vision(mp) && g4_mmproj_has_audio(mp) && g4_mmproj_n_embd(mp) == 24, "kinds");
        g4k_pool *p1 = g4k_pool_new(1), *p3 = g4k_pool_new(3);
        test_image(mp, p1, p3);
        test_audio(mp, p1, p3);
        test_clamps(&cfg, p3);
        g4k_pool_free(p1);
        g4k_pool_free(p3);
    }
    g4_mmproj_free(mp);
    g4_gguf_close(g);
    remove("build/tests/mm_towers.gguf");
    test_load_errors(&cfg);
    test_fixture_mel();
    return T_DONE("test_mm_towers");
}
