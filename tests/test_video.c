/* ABI 1.1 video policy against the reference rules (transformers' Gemma 4 processor, see
 * plugin/abi/abi_video.c), on the tiny 12B-Unified fixture with its projector:
 *   - g4_video_sample: indices = arange(0, T, T/n) truncated, the fps rule, caps, timestamps;
 *   - g4_video_format: the exact per-frame text, the mm:ss rule, the time split of audio tokens,
 *     and what the tokenizer makes of it (one <|video|> id per soft token, runs per frame);
 *   - g4_embed_video_frame: the image path's embeddings at the same budget, sizing without pixels;
 *   - G4_SPAN_VIDEO: accepted by g4_step and bidirectional like an image span (not causal);
 *   - bad arguments get G4_ERR_* and leave the outputs alone; init_sized never writes past size. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "g4plug.h"
#include "t.h"

static g4_model *load_unified(void)
{
    char model[1024], mm[1024];
    snprintf(model, sizeof model, "%s/gemma4/tiny-gemma4-unified-bf16.gguf", t_fixtures());
    snprintf(mm, sizeof mm, "%s/gemma4/mmproj-tiny-gemma4-unified-f32.gguf", t_fixtures());
    g4_load_params p;
    g4_load_params_init(&p);
    p.model = model;
    p.mmproj = mm;
    p.n_threads = 2;
    p.n_ctx = 2048;
    g4_model *m = NULL;
    g4_status st = g4_load(&p, &m);
    CHECK(st == G4_OK, "load: %s", g4_last_error());
    return m;
}

/* The reference's index rule, written the way torch.arange computes it: start + i * step. */
static int64_t ref_index(int64_t i, int64_t T, int64_t n)
{
    double step = (double)T / (double)n;
    return (int64_t)(0.0 + (double)i * step);
}

static void test_sample(void)
{
    g4_video_options o;
    g4_video_options_init(&o);
    CHECK(o.struct_size == sizeof o && o.n_frames == 32 && o.frame_tokens == 70 && o.fps == 0,
          "defaults");
    size_t n = 0;
    int64_t idx[400];
    double sec[400];
    /* uniform, default 32 over 300 frames at 30 fps */
    CHECK(g4_video_sample(&o, 300, 30.0, NULL, NULL, 0, &n) == G4_OK && n == 32, "sizing: %zu", n);
    CHECK(g4_video_sample(&o, 300, 30.0, idx, sec, 31, &n) == G4_ERR_BUFFER_TOO_SMALL, "cap");
    CHECK(g4_video_sample(&o, 300, 30.0, idx, sec, 400, &n) == G4_OK && n == 32, "sample");
    int ok = 1;
    for (size_t i = 0; i < n; i++)
        ok &= idx[i] == ref_index((int64_t)i, 300, 32) && fabs(sec[i] - idx[i] / 30.0) < 1e-12;
    CHECK(ok, "uniform indices/timestamps follow arange(0, T, T/n)");
    CHECK(idx[0] == 0 && idx[1] == 9 && idx[31] == 290, "idx %lld %lld %lld", (long long)idx[0],
          (long long)idx[1], (long long)idx[31]);
    /* odd counts */
    int64_t Ts[] = {7, 33, 100, 1001, 4567};
    int32_t ns[] = {3, 32, 7, 32, 13};
    for (int k = 0; k < 5; k++) {
        o.n_frames = ns[k];
        g4_video_sample(&o, Ts[k], 25.0, idx, sec, 400, &n);
        int good = n == (size_t)(ns[k] < Ts[k] ? ns[k] : Ts[k]);
        for (size_t i = 0; good && i < n; i++)
            good = idx[i] == ref_index((int64_t)i, Ts[k], (int64_t)n) && (i == 0 || idx[i] > idx[i - 1]);
        CHECK(good, "T=%lld n=%d", (long long)Ts[k], (int)ns[k]);
    }
    /* more frames asked than the clip has: every frame */
    o.n_frames = 32;
    CHECK(g4_video_sample(&o, 10, 10.0, idx, sec, 400, &n) == G4_OK && n == 10 && idx[9] == 9,
          "short clip: %zu", n);
    /* by rate: 5 minutes at 30 fps, 1 fps -> 300 frames one second apart */
    o.fps = 1.0;
    CHECK(g4_video_sample(&o, 9000, 30.0, idx, sec, 400, &n) == G4_OK && n == 300, "fps: %zu", n);
    ok = 1;
    for (size_t i = 0; i < n; i++)
        ok &= idx[i] == (int64_t)i * 30 && fabs(sec[i] - (double)i) < 1e-9;
    CHECK(ok, "1 fps: one frame per second");
    o.max_frames = 100;
    CHECK(g4_video_sample(&o, 9000, 30.0, idx, sec, 400, &n) == G4_OK && n == 100 && idx[1] == 90,
          "max_frames caps and spreads: %zu %lld", n, (long long)idx[1]);
    /* unknown rate: 24, as the reference */
    g4_video_options_init(&o);
    o.n_frames = 2;
    CHECK(g4_video_sample(&o, 48, 0.0, idx, sec, 400, &n) == G4_OK && fabs(sec[1] - 1.0) < 1e-12,
          "24 fps default: %g", sec[1]);
    /* errors */
    CHECK(g4_video_sample(&o, 0, 30.0, idx, sec, 400, &n) == G4_ERR_INVALID_ARGUMENT && n == 0,
          "no frames");
    o.frame_tokens = 100;
    CHECK(g4_video_sample(&o, 10, 30.0, idx, sec, 400, &n) == G4_ERR_INVALID_ARGUMENT &&
              strstr(g4_last_error(), "frame_tokens"), "budget: %s", g4_last_error());
    g4_video_options_init(&o);
    o.fps = -1;
    CHECK(g4_video_sample(&o, 10, 30.0, idx, sec, 400, &n) == G4_ERR_INVALID_ARGUMENT, "fps < 0");
    g4_video_options_init(&o);
    o.flags = 0x80;
    CHECK(g4_video_sample(&o, 10, 30.0, idx, sec, 400, &n) == G4_ERR_INVALID_ARGUMENT, "flags");
    g4_video_options_init(&o);
    o.struct_size = 8;
    CHECK(g4_video_sample(&o, 10, 30.0, idx, sec, 400, &n) == G4_ERR_INVALID_ARGUMENT, "struct_size");
    /* init_sized writes no further than the size it is given (zlib style); a size below the
     * first (1.1) layout is refused without writing anything */
    unsigned char buf[sizeof(g4_video_options) + 8];
    memset(buf, 0xAB, sizeof buf);
    g4_status ist = g4_video_options_init_sized((g4_video_options *)(void *)buf, 8);
    int intact = 1;
    for (size_t i = 0; i < sizeof buf; i++)
        intact &= buf[i] == 0xAB;
    CHECK(ist == G4_ERR_INVALID_ARGUMENT && intact, "init_sized(8): status %d, buffer %s", (int)ist,
          intact ? "intact" : "written");
    memset(buf, 0xAB, sizeof buf);
    ist = g4_video_options_init_sized((g4_video_options *)(void *)buf, sizeof(g4_video_options));
    intact = 1;
    for (size_t i = sizeof(g4_video_options); i < sizeof buf; i++)
        intact &= buf[i] == 0xAB;
    uint32_t ss;
    memcpy(&ss, buf, 4);
    CHECK(ist == G4_OK && intact && ss == sizeof(g4_video_options), "init_sized(sizeof) wrote past it (struct_size %u)",
          ss);
}

/* "mm:ss " + <|image> + <|video|> x n + <image|> [+ <|audio> + <|audio|> x k + <audio|>] */
static void expect_frame(char *out, size_t cap, const char *ts, int n, int k)
{
    size_t l = strlen(out);
    l += (size_t)snprintf(out + l, cap - l, "%s <|image>", ts);
    for (int i = 0; i < n; i++)
        l += (size_t)snprintf(out + l, cap - l, "<|video|>");
    l += (size_t)snprintf(out + l, cap - l, "<image|>");
    if (k > 0) {
        l += (size_t)snprintf(out + l, cap - l, "<|audio>");
        for (int i = 0; i < k; i++)
            l += (size_t)snprintf(out + l, cap - l, "<|audio|>");
        snprintf(out + l, cap - l, "<audio|>");
    }
}

static void test_format(g4_model *m)
{
    CHECK(g4_token_id(m, G4_TOKEN_VIDEO_SOFT) == 258884, "<|video|> id %d",
          g4_token_id(m, G4_TOKEN_VIDEO_SOFT));
    double sec[4] = {0.0, 59.99, 61.5, 3725.0};
    g4_video_layout v;
    memset(&v, 0, sizeof v);
    v.struct_size = sizeof v;
    v.n_frames = 4;
    v.seconds = sec;
    v.frame_tokens = 3;
    size_t len = 0;
    CHECK(g4_video_format(m, &v, NULL, 0, &len) == G4_OK && len > 0, "sizing");
    char *got = malloc(len + 1), want[4096] = "";
    CHECK(g4_video_format(m, &v, got, len, &len) == G4_ERR_BUFFER_TOO_SMALL, "no room for NUL");
    CHECK(g4_video_format(m, &v, got, len + 1, &len) == G4_OK, "format: %s", g4_last_error());
    expect_frame(want, sizeof want, "00:00", 3, 0);
    strcat(want, " ");
    expect_frame(want, sizeof want, "00:59", 3, 0);
    strcat(want, " ");
    expect_frame(want, sizeof want, "01:01", 3, 0);
    strcat(want, " ");
    expect_frame(want, sizeof want, "62:05", 3, 0);
    CHECK(strcmp(got, want) == 0, "layout\n got %s\nwant %s", got, want);
    free(got);

    /* audio split by time: 4 s clip, frames at 0, 1, 2.5, 3 s; 100 tokens -> 25, 38, 12, 25 */
    double s2[4] = {0.0, 1.0, 2.5, 3.0};
    v.seconds = s2;
    v.audio_tokens = 100;
    v.duration = 4.0;
    g4_video_format(m, &v, NULL, 0, &len);
    got = malloc(len + 1);
    CHECK(g4_video_format(m, &v, got, len + 1, &len) == G4_OK, "format with audio: %s", g4_last_error());
    want[0] = '\0';
    const char *ts[4] = {"00:00", "00:01", "00:02", "00:03"};
    int k[4] = {25, 38, 12, 25};
    for (int i = 0; i < 4; i++) {
        if (i)
            strcat(want, " ");
        expect_frame(want, sizeof want, ts[i], 3, k[i]);
    }
    CHECK(strcmp(got, want) == 0, "audio layout\n got %s\nwant %s", got, want);

    /* the tokenizer: one id per soft token, in runs */
    size_t nt = 0;
    g4_tokenize(m, got, len, G4_TOKENIZE_PARSE_SPECIAL, NULL, 0, &nt);
    int32_t *ids = malloc(sizeof *ids * nt);
    CHECK(g4_tokenize(m, got, len, G4_TOKENIZE_PARSE_SPECIAL, ids, nt, &nt) == G4_OK, "tokenize");
    int vid = g4_token_id(m, G4_TOKEN_VIDEO_SOFT), aud = g4_token_id(m, G4_TOKEN_AUDIO_SOFT);
    int n_vid = 0, n_aud = 0, runs_v = 0, runs_a = 0;
    for (size_t i = 0; i < nt; i++) {
        n_vid += ids[i] == vid;
        n_aud += ids[i] == aud;
        runs_v += ids[i] == vid && (i == 0 || ids[i - 1] != vid);
        runs_a += ids[i] == aud && (i == 0 || ids[i - 1] != aud);
    }
    CHECK(n_vid == 12 && runs_v == 4 && n_aud == 100 && runs_a == 4, "ids: %d/%d video, %d/%d audio",
          n_vid, runs_v, n_aud, runs_a);
    free(ids);
    free(got);

    /* errors */
    v.duration = 0;
    CHECK(g4_video_format(m, &v, NULL, 0, &len) == G4_ERR_INVALID_ARGUMENT, "audio without duration");
    v.duration = 4;
    s2[2] = 0.5;
    CHECK(g4_video_format(m, &v, NULL, 0, &len) == G4_ERR_INVALID_ARGUMENT, "decreasing timestamps");
    s2[2] = 2.5;
    v.n_frames = 0;
    CHECK(g4_video_format(m, &v, NULL, 0, &len) == G4_ERR_INVALID_ARGUMENT, "no frames");
    v.n_frames = 4;
    v.seconds = NULL;
    CHECK(g4_video_format(m, &v, NULL, 0, &len) == G4_ERR_INVALID_ARGUMENT, "seconds NULL");
    CHECK(g4_video_format(NULL, &v, NULL, 0, &len) == G4_ERR_INVALID_ARGUMENT, "model NULL");
}

static void test_frame_embed(g4_model *m, int n_embd)
{
    const int w = 97, h = 61;
    uint8_t *rgb = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; i++)
        rgb[i] = (uint8_t)((i * 37 + (i / 7) * 11) & 0xff);
    g4_video_options o;
    g4_video_options_init(&o);
    g4_image_options io;
    g4_image_options_init(&io);
    io.max_soft_tokens = 70;
    size_t nv = 0, ni = 0, nz = 0;
    CHECK(g4_embed_video_frame(m, NULL, w, h, 0, &o, NULL, 0, &nz) == G4_OK, "sizing without pixels: %s",
          g4_last_error());
    CHECK(g4_embed_image(m, rgb, w, h, 3 * (size_t)w, &io, NULL, 0, &ni) == G4_OK && ni == nz && ni > 0,
          "same count %zu %zu", ni, nz);
    float *a = malloc(sizeof(float) * ni * n_embd), *b = malloc(sizeof(float) * ni * n_embd);
    CHECK(g4_embed_video_frame(m, rgb, w, h, 3 * (size_t)w, &o, a, ni * n_embd, &nv) == G4_OK && nv == ni,
          "frame: %s", g4_last_error());
    CHECK(g4_embed_image(m, rgb, w, h, 3 * (size_t)w, &io, b, ni * n_embd, &ni) == G4_OK, "image");
    CHECK(memcmp(a, b, sizeof(float) * ni * n_embd) == 0, "frame embedding == image embedding at 70");
    /* another budget follows the option */
    o.frame_tokens = 140;
    size_t n140 = 0;
    CHECK(g4_embed_video_frame(m, NULL, w, h, 0, &o, NULL, 0, &n140) == G4_OK && n140 > nz,
          "140 budget: %zu", n140);
    CHECK(g4_embed_video_frame(m, NULL, 0, h, 0, &o, NULL, 0, &n140) == G4_ERR_INVALID_ARGUMENT,
          "zero width");
    CHECK(g4_embed_video_frame(m, NULL, 100000, 100000, 0, &o, NULL, 0, &n140) == G4_ERR_INVALID_ARGUMENT,
          "absurd size");
    free(a);
    free(b);
    free(rgb);
}

/* One 12-token batch with an 8-position span of a given kind; logits of the last position. */
static int run_span(g4_model *m, int32_t kind, const float *embd, int n_vocab, float *out)
{
    g4_session_params sp;
    g4_session_params_init(&sp);
    sp.n_ctx = 64;
    g4_session *s = NULL;
    if (g4_session_new(m, &sp, &s) != G4_OK)
        return -1;
    int32_t soft = kind == G4_SPAN_AUDIO ? g4_token_id(m, G4_TOKEN_AUDIO_SOFT)
                 : kind == G4_SPAN_VIDEO ? g4_token_id(m, G4_TOKEN_VIDEO_SOFT)
                                         : g4_token_id(m, G4_TOKEN_IMAGE_SOFT);
    int32_t toks[12] = {2, 10, 20};
    for (int i = 3; i < 11; i++)
        toks[i] = soft;
    toks[11] = 30;
    g4_embd_span span = {3, 8, kind, 0, embd};
    uint8_t want[12] = {0};
    want[5] = G4_OUT_HIDDEN; /* a position inside the span: sees later span positions only if bidirectional */
    want[11] = G4_OUT_LOGITS;
    g4_batch b;
    g4_batch_init(&b);
    b.n_tokens = 12;
    b.tokens = toks;
    b.want = want;
    b.spans = &span;
    b.n_spans = 1;
    g4_status st = g4_step(s, &b);
    if (st == G4_OK) {
        memcpy(out, g4_hidden(s, 5), sizeof(float) * (size_t)n_vocab);
    }
    g4_session_free(s);
    return st;
}

static void test_span(g4_model *m, int n_embd)
{
    float *embd = malloc(sizeof(float) * 8 * n_embd);
    for (int i = 0; i < 8 * n_embd; i++)
        embd[i] = sinf((float)i * 0.37f);
    float *hv = malloc(sizeof(float) * n_embd), *hi = malloc(sizeof(float) * n_embd),
          *ha = malloc(sizeof(float) * n_embd);
    CHECK(run_span(m, G4_SPAN_VIDEO, embd, n_embd, hv) == G4_OK, "video span: %s", g4_last_error());
    CHECK(run_span(m, G4_SPAN_IMAGE, embd, n_embd, hi) == G4_OK, "image span");
    CHECK(run_span(m, G4_SPAN_AUDIO, embd, n_embd, ha) == G4_OK, "audio span");
    double dvi = 0, dva = 0;
    for (int i = 0; i < n_embd; i++) {
        dvi += fabs(hv[i] - hi[i]);
        dva += fabs(hv[i] - ha[i]);
    }
    /* same soft embeddings and (text) token ids aside from the placeholder id, which is not
     * embedded at span positions: the only difference is the mask */
    CHECK(dvi == 0.0, "video span == image span (bidirectional per frame): %g", dvi);
    CHECK(dva > 1e-4, "video span differs from a causal (audio) span: %g", dva);
    CHECK(run_span(m, 4, embd, n_embd, ha) == G4_ERR_INVALID_ARGUMENT, "unknown span kind");
    free(embd);
    free(hv);
    free(hi);
    free(ha);
}

int main(void)
{
    test_sample();
    g4_model *m = load_unified();
    if (m) {
        g4_model_info mi;
        memset(&mi, 0, sizeof mi);
        mi.struct_size = sizeof mi;
        g4_model_get_info(m, &mi);
        test_format(m);
        test_frame_embed(m, mi.n_embd);
        test_span(m, mi.n_embd);
        g4_model_free(m);
    }
    CHECK(g4_abi_version() == ((1u << 16) | 1u), "ABI 1.1: %x", g4_abi_version());
    const g4_api_v1 *api = NULL;
    CHECK(g4_get_api(1, (const void **)&api) == G4_OK && api->struct_size >= sizeof *api &&
              api->video_format == g4_video_format && api->embed_video_frame == g4_embed_video_frame,
          "table carries the 1.1 video members");
    return T_DONE("test_video");
}
