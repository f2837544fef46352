/* Host-side video checks (run by tests/test_video.sh, which generates the clips with the ffmpeg
 * tool first): FFmpeg decoding in hosts/common/video_decode.c and the pipeline in video_embed.c,
 * against the library through dlopen as the hosts use it.
 *
 * usage: video_host_check LIB MODEL MMPROJ DIR
 * DIR holds: clip.mp4 (320x240, 10 fps, 6 s, 440 Hz tone), clip.rgb (its 60 frames as rgb24 from
 * the ffmpeg tool), long.mp4 (64x48, 10 fps, 120 s, keyframe every 10), long_sel.rgb (its frames
 * 0, 375, 750, 1125), rot.mp4 (clip.mp4 with rotate=90), rot0.rgb (the ffmpeg tool's
 * auto-rotated frame 0), vfr.mkv / vfr.rgb (variable frame rate, see test_vfr), silent.mp4
 * (no audio), and the broken files corrupt.bin, trunc.mp4,
 * empty.mp4, zero.mp4, absurd.avi, long10h.mp4, cut.mp4 (data cut short after a moov-first
 * header). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "g4_dl.h"
#include "t.h"
#include "video_embed.h"

static const g4_api_v1 *A;
static const char *dir;

static unsigned char *load(const char *name, size_t *n)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    char *b = t_read_file(p, n);
    if (!b)
        fprintf(stderr, "cannot read %s\n", p);
    return (unsigned char *)b;
}

static double mean_abs_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += abs((int)a[i] - (int)b[i]);
    return s / (double)n;
}

static void test_clip_frames(void)
{
    size_t n = 0, nref = 0;
    unsigned char *bytes = load("clip.mp4", &n), *ref = load("clip.rgb", &nref);
    g4v_clip *c = NULL;
    g4v_info in;
    char err[512] = "";
    CHECK(bytes && g4v_open(bytes, n, &c, &in, err, sizeof err) == G4_OK, "open: %s", err);
    if (!c)
        return;
    CHECK(in.width == 320 && in.height == 240 && in.n_frames == 60 && fabs(in.fps - 10) < 1e-9 &&
              fabs(in.duration - 6) < 0.05 && in.has_audio && in.rotation == 0,
          "info %dx%d %lld frames %g fps %g s audio %d", in.width, in.height, (long long)in.n_frames,
          in.fps, in.duration, in.has_audio);
    /* the reference's 32 of 60, decoded, against the ffmpeg tool's frames */
    g4_video_options o;
    A->video_options_init_sized(&o, sizeof o);
    int64_t idx[32];
    double sec[32];
    size_t nf = 0;
    CHECK(A->video_sample(&o, in.n_frames, in.fps, idx, sec, 32, &nf) == G4_OK && nf == 32, "sample");
    const size_t fb = 320 * 240 * 3;
    uint8_t *rgb = malloc(fb);
    double worst = 0;
    int ok = nref == 60 * fb;
    for (size_t i = 0; ok && i < nf; i++) {
        ok = g4v_frame_at(c, sec[i], rgb, err, sizeof err) == G4_OK;
        double d = ok ? mean_abs_diff(rgb, ref + (size_t)idx[i] * fb, fb) : 1e9;
        /* and it is not a neighbour: the neighbour differs more (testsrc2 moves every frame) */
        double dn = idx[i] + 1 < 60 ? mean_abs_diff(rgb, ref + (size_t)(idx[i] + 1) * fb, fb) : 1e9;
        if (d > worst)
            worst = d;
        ok &= d < 3.0 && dn > d;
        if (!ok)
            fprintf(stderr, "  frame %zu (index %lld): diff %.2f, next %.2f %s\n", i,
                    (long long)idx[i], d, dn, err);
    }
    CHECK(ok, "sampled frames equal the ffmpeg tool's frames at the reference indices (worst %.2f)", worst);

    free(rgb);
    g4v_close(c);
    free(bytes);
    free(ref);
}

static void test_embed_equals_image(const g4_model *m, int n_embd)
{
    size_t n = 0;
    unsigned char *bytes = load("clip.mp4", &n);
    g4v_clip *c = NULL;
    g4v_info in;
    char err[512] = "";
    if (!bytes || g4v_open(bytes, n, &c, &in, err, sizeof err) != G4_OK) {
        CHECK(0, "open: %s", err);
        free(bytes);
        return;
    }
    uint8_t *rgb = malloc((size_t)in.width * in.height * 3);
    CHECK(g4v_frame_at(c, 2.5, rgb, err, sizeof err) == G4_OK, "frame: %s", err);
    g4_video_options o;
    A->video_options_init_sized(&o, sizeof o);
    g4_image_options io;
    A->image_options_init(&io);
    io.max_soft_tokens = 70;
    size_t nv = 0, ni = 0;
    A->embed_image(m, rgb, in.width, in.height, 3 * (size_t)in.width, &io, NULL, 0, &ni);
    float *a = malloc(sizeof(float) * ni * n_embd), *b = malloc(sizeof(float) * ni * n_embd);
    CHECK(A->embed_video_frame(m, rgb, in.width, in.height, 3 * (size_t)in.width, &o, a, ni * n_embd, &nv) == G4_OK &&
              A->embed_image(m, rgb, in.width, in.height, 3 * (size_t)in.width, &io, b, ni * n_embd, &ni) == G4_OK &&
              nv == ni && memcmp(a, b, sizeof(float) * ni * n_embd) == 0,
          "decoded frame: video embedding == image embedding at 70 (%zu tokens)", ni);
    free(a);
    free(b);
    free(rgb);
    g4v_close(c);
    free(bytes);
}

static void test_audio_track(void)
{
    size_t n = 0;
    unsigned char *bytes = load("clip.mp4", &n);
    g4v_clip *c = NULL;
    g4v_info in;
    char err[512] = "";
    if (!bytes || g4v_open(bytes, n, &c, &in, err, sizeof err) != G4_OK) {
        CHECK(0, "open: %s", err);
        free(bytes);
        return;
    }
    float *x = NULL;
    size_t ns = 0;
    CHECK(g4v_audio_16k(c, 60, &x, &ns, err, sizeof err) == G4_OK, "audio: %s", err);
    CHECK(ns > 6 * 16000 * 0.97 && ns < 6 * 16000 * 1.03, "6 s at 16 kHz: %zu samples", ns);
    /* a 440 Hz tone: 880 zero crossings a second */
    size_t zc = 0;
    double e = 0;
    for (size_t i = 1600; i + 1 < ns - 1600; i++) {
        zc += (x[i] < 0) != (x[i + 1] < 0);
        e += x[i] * x[i];
    }
    double secs = (double)(ns - 3200) / 16000.0;
    CHECK(fabs(zc / secs - 880.0) < 880 * 0.02 && e > 0, "tone: %.1f crossings/s", zc / secs);
    /* after the audio pass the frames still decode from the start */
    uint8_t *rgb = malloc((size_t)in.width * in.height * 3);
    CHECK(g4v_frame_at(c, 0.0, rgb, err, sizeof err) == G4_OK, "frame after audio: %s", err);
    free(x);
    x = NULL;
    CHECK(g4v_audio_16k(c, 1.0, &x, &ns, err, sizeof err) == G4_ERR_INVALID_ARGUMENT &&
              strstr(err, "runs past"), "max_seconds: %s", err);
    free(rgb);
    free(x);
    g4v_close(c);
    free(bytes);
}

static void test_seek(void)
{
    size_t n = 0, nref = 0;
    unsigned char *bytes = load("long.mp4", &n), *ref = load("long_sel.rgb", &nref);
    g4v_clip *c = NULL;
    g4v_info in;
    char err[512] = "";
    if (!bytes || !ref || g4v_open(bytes, n, &c, &in, err, sizeof err) != G4_OK) {
        CHECK(0, "open long: %s", err);
        free(bytes);
        free(ref);
        return;
    }
    g4_video_options o;
    A->video_options_init_sized(&o, sizeof o);
    o.n_frames = 4;
    int64_t idx[4];
    double sec[4];
    size_t nf = 0;
    A->video_sample(&o, in.n_frames, in.fps, idx, sec, 4, &nf);
    CHECK(nf == 4 && idx[1] == 300 && idx[2] == 600 && idx[3] == 900, "long: %lld frames, idx %lld",
          (long long)in.n_frames, (long long)idx[1]);
    const size_t fb = (size_t)in.width * in.height * 3;
    uint8_t *rgb = malloc(fb);
    int ok = nref == 4 * fb;
    for (int i = 0; ok && i < 4; i++) {
        ok = g4v_frame_at(c, sec[i], rgb, err, sizeof err) == G4_OK && mean_abs_diff(rgb, ref + i * fb, fb) < 3.0;
        if (!ok)
            fprintf(stderr, "  long frame %d: %s %.2f\n", i, err, mean_abs_diff(rgb, ref + i * fb, fb));
    }
    CHECK(ok, "long clip frames 0/300/600/900 equal the ffmpeg tool's");
    /* seeking: 4 frames of 1200 need only their keyframe groups (10 frames each) */
    CHECK(g4v_frames_decoded(c) <= 60, "decoded %lld frames for 4 samples of 1200",
          (long long)g4v_frames_decoded(c));
    /* going back works too */
    CHECK(g4v_frame_at(c, 0.0, rgb, err, sizeof err) == G4_OK && mean_abs_diff(rgb, ref, fb) < 3.0,
          "seek back to 0: %s", err);
    free(rgb);
    g4v_close(c);
    free(bytes);
    free(ref);
}

static void test_rotation(void)
{
    size_t n = 0, nref = 0;
    unsigned char *bytes = load("rot.mp4", &n), *ref = load("rot0.rgb", &nref);
    g4v_clip *c = NULL;
    g4v_info in;
    char err[512] = "";
    if (!bytes || !ref || g4v_open(bytes, n, &c, &in, err, sizeof err) != G4_OK) {
        CHECK(0, "open rot: %s", err);
        free(bytes);
        free(ref);
        return;
    }
    CHECK(in.width == 240 && in.height == 320 && (in.rotation == 90 || in.rotation == 270),
          "rotated info %dx%d rot %d", in.width, in.height, in.rotation);
    const size_t fb = (size_t)in.width * in.height * 3;
    uint8_t *rgb = malloc(fb);
    CHECK(nref == fb && g4v_frame_at(c, 0.0, rgb, err, sizeof err) == G4_OK &&
              mean_abs_diff(rgb, ref, fb) < 3.0,
          "rotated frame equals the ffmpeg tool's auto-rotated frame (%.2f)",
          nref == fb ? mean_abs_diff(rgb, ref, fb) : -1.0);
    free(rgb);
    g4v_close(c);
    free(bytes);
    free(ref);
}

/* vfr.mkv: 30 frames, frame k shown at k/10 s for k < 10, then 1 + (k - 10)/2 s (vfr.rgb holds
 * them in order). Matroska gives no frame count, so the clip is sized from its duration and
 * nominal rate; every sampled time must show the frame that is on screen then. */
static void test_vfr(void)
{
    size_t n = 0, nref = 0;
    unsigned char *bytes = load("vfr.mkv", &n), *ref = load("vfr.rgb", &nref);
    g4v_clip *c = NULL;
    g4v_info in;
    char err[512] = "";
    if (!bytes || !ref || g4v_open(bytes, n, &c, &in, err, sizeof err) != G4_OK) {
        CHECK(0, "open vfr: %s", err);
        free(bytes);
        free(ref);
        return;
    }
    g4_video_options o;
    A->video_options_init_sized(&o, sizeof o);
    int64_t idx[64];
    double sec[64];
    size_t nf = 0;
    A->video_sample(&o, in.n_frames, in.fps, idx, sec, 64, &nf);
    const size_t fb = (size_t)in.width * in.height * 3;
    uint8_t *rgb = malloc(fb);
    int ok = nref == 30 * fb && nf == 32 && sec[31] > 9.0;
    for (size_t i = 0; ok && i < nf; i++) {
        int k = 0;
        for (int q = 0; q < 30; q++)
            if ((q < 10 ? q / 10.0 : 1.0 + (q - 10) / 2.0) <= sec[i] + 1e-6)
                k = q;
        ok = g4v_frame_at(c, sec[i], rgb, err, sizeof err) == G4_OK && mean_abs_diff(rgb, ref + (size_t)k * fb, fb) < 3.0;
        if (!ok)
            fprintf(stderr, "  vfr sample %zu at %.2f s: want frame %d: %s %.2f\n", i, sec[i], k, err,
                    mean_abs_diff(rgb, ref + (size_t)k * fb, fb));
    }
    CHECK(ok, "variable frame rate: each sampled time shows the frame on screen then (%lld frames, %g s)",
          (long long)in.n_frames, in.duration);
    free(rgb);
    g4v_close(c);
    free(bytes);
    free(ref);
}

static void expect_error(const char *name, const char *needle)
{
    size_t n = 0;
    unsigned char *bytes = load(name, &n);
    g4v_clip *c = NULL;
    g4v_info in;
    char err[512] = "";
    int rc = g4v_open(bytes ? bytes : (unsigned char *)"", bytes ? n : 0, &c, &in, err, sizeof err);
    if (rc == G4_OK) { /* some damage only shows when the frames are read */
        g4_video_options o;
        A->video_options_init_sized(&o, sizeof o);
        int64_t idx[32];
        double sec[32];
        size_t nf = 0;
        A->video_sample(&o, in.n_frames, in.fps, idx, sec, 32, &nf);
        uint8_t *rgb = malloc((size_t)in.width * in.height * 3);
        for (size_t i = 0; rc == G4_OK && i < nf; i++)
            rc = g4v_frame_at(c, sec[i], rgb, err, sizeof err);
        free(rgb);
        g4v_close(c);
    }
    CHECK(rc == G4_ERR_FORMAT && strstr(err, needle), "%s: want G4_ERR_FORMAT with \"%s\", got %d: %s",
          name, needle, rc, err);
    printf("  %s: %s\n", name, err);
    free(bytes);
}

static void test_pipeline(const g4_model *m, int n_embd)
{
    size_t n = 0;
    unsigned char *bytes = load("clip.mp4", &n);
    g4_video_options o;
    A->video_options_init_sized(&o, sizeof o);
    o.n_frames = 6;
    g4v_embedded e;
    char err[1024] = "";
    /* refused before work, with the count and the options that reduce it */
    int rc = g4v_embed_clip(A, m, bytes, n, &o, 200, NULL, NULL, &e, err, sizeof err);
    CHECK(rc == G4_ERR_CONTEXT_FULL && strstr(err, "needs") && strstr(err, "--frames") &&
              strstr(err, "--no-audio") && strstr(err, "--frame-tokens"), "refusal: %s", err);
    printf("  refusal: %s\n", err);
    rc = g4v_embed_clip(A, m, bytes, n, &o, 100000, NULL, NULL, &e, err, sizeof err);
    CHECK(rc == G4_OK && e.n_frames == 6 && e.audio_tokens > 100, "embed: %s (%zu audio)", err, e.audio_tokens);
    if (rc == G4_OK) {
        /* the audio token count is the library's for the decoded track */
        size_t nt = 0;
        A->tokenize(m, e.text, strlen(e.text), G4_TOKENIZE_PARSE_SPECIAL, NULL, 0, &nt);
        int32_t *ids = malloc(sizeof *ids * nt);
        A->tokenize(m, e.text, strlen(e.text), G4_TOKENIZE_PARSE_SPECIAL, ids, nt, &nt);
        CHECK(nt == e.n_prompt, "token count %zu == %zu", nt, e.n_prompt);
        g4_embd_span sp[64];
        size_t ns = 0;
        CHECK(g4v_spans(A, m, ids, nt, 5, &e, sp, 64, &ns, err, sizeof err) == G4_OK && ns == 12,
              "spans: %zu %s", ns, err);
        /* frame k, then its audio interval: 6 frames 1 s apart over 6 s -> even shares */
        int ok = 1;
        size_t total = 0;
        for (size_t i = 0; i < ns; i++) {
            ok &= sp[i].kind == (i % 2 ? G4_SPAN_AUDIO : G4_SPAN_VIDEO);
            ok &= i == 0 || sp[i].first > sp[i - 1].first + sp[i - 1].n - 1;
            if (i % 2) {
                total += (size_t)sp[i].n;
                ok &= fabs(sp[i].n - e.audio_tokens / 6.0) <= 1.0;
                ok &= sp[i].embd == e.audio + (total - (size_t)sp[i].n) * (size_t)n_embd;
            } else {
                ok &= (size_t)sp[i].n == e.frame_tokens && sp[i].embd == e.frames + (i / 2) * e.frame_tokens * (size_t)n_embd;
            }
        }
        CHECK(ok && total == e.audio_tokens, "audio interleaved after each frame by time (%zu of %zu)", total,
              e.audio_tokens);
        /* the whole thing steps */
        g4_session_params spp;
        A->session_params_init(&spp);
        spp.n_ctx = 1024;
        g4_session *s = NULL;
        CHECK(A->session_new(m, &spp, &s) == G4_OK, "session");
        if (s) {
            g4_batch b;
            A->batch_init(&b);
            for (size_t i = 0; i < ns; i++)
                sp[i].first -= 5;
            b.n_tokens = (int32_t)nt;
            b.tokens = ids;
            b.spans = sp;
            b.n_spans = (int32_t)ns;
            CHECK(A->step(s, &b) == G4_OK, "step: %s", A->last_error());
            A->session_free(s);
        }
        free(ids);
        g4v_embedded_free(&e);
    }
    o.flags = G4_VIDEO_NO_AUDIO;
    rc = g4v_embed_clip(A, m, bytes, n, &o, 100000, NULL, NULL, &e, err, sizeof err);
    CHECK(rc == G4_OK && e.audio_tokens == 0 && !strstr(e.text, "<|audio|>"), "--no-audio: %s", err);
    g4v_embedded_free(&e);
    free(bytes);
    bytes = load("silent.mp4", &n);
    o.flags = 0;
    rc = g4v_embed_clip(A, m, bytes, n, &o, 100000, NULL, NULL, &e, err, sizeof err);
    CHECK(rc == G4_OK && e.audio_tokens == 0 && e.audio_note && strstr(e.audio_note, "no sound"),
          "video without audio: %s", err);
    g4v_embedded_free(&e);
    free(bytes);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: video_host_check LIB MODEL MMPROJ DIR\n");
        return 2;
    }
    dir = argv[4];
    static g4dl dl;
    char err[2048];
    if (g4dl_open(argv[1], &dl, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    A = dl.api;
    test_clip_frames();
    test_audio_track();
    test_seek();
    test_rotation();
    test_vfr();
    expect_error("corrupt.bin", "not a video file");
    expect_error("empty.mp4", "empty");
    expect_error("trunc.mp4", "not a video file");
    expect_error("cut.mp4", "");
    expect_error("zero.mp4", "zero-length");
    expect_error("absurd.avi", "frame size");
    expect_error("long10h.mp4", "contradicts");
    g4_load_params p;
    A->load_params_init(&p);
    p.model = argv[2];
    p.mmproj = argv[3];
    p.n_threads = 2;
    g4_model *m = NULL;
    CHECK(A->load(&p, &m) == G4_OK, "load: %s", A->last_error());
    if (m) {
        g4_model_info mi;
        memset(&mi, 0, sizeof mi);
        mi.struct_size = sizeof mi;
        A->model_get_info(m, &mi);
        test_embed_equals_image(m, mi.n_embd);
        test_pipeline(m, mi.n_embd);
        A->model_free(m);
    }
    int rc = T_DONE("video_host_check");
    g4dl_close(&dl);
    return rc;
}
