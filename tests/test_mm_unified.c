/* 12B Unified encoder-free image/audio embedders against the transformers reference
 * (tiny-gemma4-unified.ref.gguf: cases image_fit, image_resize, audio), plus decoders, resize,
 * resampling, argument validation and hostile inputs. Run from the repo root. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "kernels.h"
#include "media/mmproj.h"
#include "t.h"

#if defined(G4_HAVE_JPEG)
#include <jpeglib.h>
#endif
#if defined(G4_HAVE_PNG)
#include <png.h>
#endif

static char *path_of(const char *name)
{
    static char buf[4][1024]; /* test-only scratch */
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/gemma4/%s", t_fixtures(), name);
    return buf[k];
}

static const float *ref_f32(const g4_gguf *r, const char *name, int64_t n)
{
    const g4_gguf_tensor *t = g4_gguf_find_tensor(r, name);
    if (!t || t->type != G4_TYPE_F32 || t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3] != n)
        return NULL;
    return t->data;
}

/* max |a - b| / max |b| */
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

static void test_image_case(const g4_mmproj *mp, const g4_gguf *ref, const char *name, int want_w,
                            int want_h, int want_tokens, double tol)
{
    char key[128], err[256] = "";
    size_t n = 0;
    void *bytes = t_read_file(path_of(name[6] == 'f' ? "image_fit.png" : "image_resize.png"), &n);
    CHECK(bytes != NULL, "read %s", name);
    if (!bytes)
        return;
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    int rc = g4_image_decode(bytes, n, &rgb, &w, &h, err, sizeof err);
#if !defined(G4_HAVE_PNG)
    CHECK(rc == G4_ERR_UNSUPPORTED, "%s: PNG without libpng must be UNSUPPORTED (%d)", name, rc);
    printf("%s: built without G4_HAVE_PNG: image reference checks skipped\n", name);
    free(bytes);
    return;
#endif
    CHECK(rc == G4_OK && w == want_w && h == want_h, "%s: decode rc %d %dx%d (%s)", name, rc, w, h, err);
    if (rc != G4_OK) {
        free(bytes);
        return;
    }
    int64_t want_n = -1;
    snprintf(key, sizeof key, "%s.n_soft_tokens", name);
    g4_gguf_get_i64(ref, key, &want_n);
    int64_t nt = g4_mmproj_image_tokens(mp, w, h, 0);
    CHECK(nt == want_tokens && nt == want_n, "%s: %lld tokens, ref %lld", name, (long long)nt,
          (long long)want_n);

    /* positions: raster order, (x, y) = (column, row) */
    int tw = 0, th = 0;
    g4_image_target_size(w, h, 0, &tw, &th);
    snprintf(key, sizeof key, "%s.position_ids", name);
    const g4_gguf_tensor *pt = g4_gguf_find_tensor(ref, key);
    int pos_ok = pt && pt->type == G4_TYPE_I32 && pt->ne[0] == 2 && pt->ne[1] == nt;
    for (int64_t i = 0; pos_ok && i < nt; i++) {
        const int32_t *pid = (const int32_t *)pt->data + 2 * i;
        pos_ok = pid[0] == i % (tw / 48) && pid[1] == i / (tw / 48);
    }
    CHECK(pos_ok, "%s: position ids differ from raster (x, y) over a %dx%d grid", name, tw / 48, th / 48);

    /* first tile, HF HWC order in [0,1] */
    snprintf(key, sizeof key, "%s.pixel_values_first_patch", name);
    const float *pv = ref_f32(ref, key, 6912);
    float tile[6912];
    rc = g4_image_tile_hwc(rgb, w, h, 3 * (size_t)w, 0, 0, 0, tile, err, sizeof err);
    int diff = 0;
    for (int i = 0; pv && rc == G4_OK && i < 6912; i++)
        diff += fabsf(tile[i] - pv[i]) > 0.5f / 255;
    CHECK(pv && rc == G4_OK && diff == 0, "%s: first tile differs from the reference in %d of 6912 values",
          name, diff);

    /* embeddings */
    int d = g4_mmproj_n_embd(mp);
    snprintf(key, sizeof key, "%s.embeddings", name);
    const float *re = ref_f32(ref, key, nt * d);
    float *out = calloc((size_t)(nt > 0 ? nt : 1) * d, sizeof(float));
    rc = g4_mmproj_embed_image(mp, NULL, rgb, w, h, 3 * (size_t)w, 0, out, err, sizeof err);
    double e = re && rc == G4_OK ? rel_err(out, re, (size_t)nt * d) : INFINITY;
    printf("%s: %lld tokens, max rel error %.3g (tolerance %.0e)\n", name, (long long)nt, e, tol);
    CHECK(rc == G4_OK && e <= tol, "%s: rc %d (%s), max rel error %g > %g", name, rc, err, e, tol);

    /* multithreaded: the same numbers within float reassociation */
    g4k_pool *pool = g4k_pool_new(4);
    float *out4 = calloc((size_t)(nt > 0 ? nt : 1) * d, sizeof(float));
    rc = g4_mmproj_embed_image(mp, pool, rgb, w, h, 3 * (size_t)w, 0, out4, err, sizeof err);
    double e4 = re && rc == G4_OK ? rel_err(out4, re, (size_t)nt * d) : INFINITY;
    CHECK(rc == G4_OK && e4 <= tol, "%s: 4 threads: rc %d err %g", name, rc, e4);
    free(out4);
    g4k_pool_free(pool);

    /* the same through the ABI-level entry (two-call pattern, file bytes) */
    size_t ntok = 0;
    g4_status st = g4_embed_image_file_mm(mp, NULL, bytes, n, NULL, NULL, 0, &ntok);
    CHECK(st == G4_OK && ntok == (size_t)nt, "%s: sizing call st %d n %zu", name, st, ntok);
    st = g4_embed_image_file_mm(mp, NULL, bytes, n, NULL, out, (size_t)nt * d - 1, &ntok);
    CHECK(st == G4_ERR_BUFFER_TOO_SMALL && ntok == (size_t)nt, "%s: small buffer st %d", name, st);
    memset(out, 0, sizeof(float) * (size_t)nt * d);
    g4_image_options o;
    g4_image_options_init(&o);
    st = g4_embed_image_file_mm(mp, NULL, bytes, n, &o, out, (size_t)nt * d, &ntok);
    double e2 = re && st == G4_OK ? rel_err(out, re, (size_t)nt * d) : INFINITY;
    CHECK(st == G4_OK && e2 <= tol, "%s: file path st %d (%s) err %g", name, st, g4_last_error(), e2);
    free(out);
    free(rgb);
    free(bytes);
}

/* Which resize kernel the reference used: count differing pixels of the first tile. */
static void test_resize_parity(const g4_gguf *ref)
{
#if defined(G4_HAVE_PNG)
    size_t n = 0;
    char err[256];
    void *bytes = t_read_file(path_of("image_resize.png"), &n);
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    if (!bytes || g4_image_decode(bytes, n, &rgb, &w, &h, err, sizeof err) != G4_OK) {
        CHECK(0, "decode image_resize.png");
        free(bytes);
        return;
    }
    const float *pv = ref_f32(ref, "image_resize.pixel_values_first_patch", 6912);
    uint8_t *dst = malloc((size_t)960 * 624 * 3);
    static const char *names[] = {"torch-u8", "torch-f32", "pil"};
    for (int m = 0; m < 3 && pv && dst; m++) {
        g4_image_resize_mode(rgb, w, h, 3 * (size_t)w, dst, 960, 624, (g4_resize_mode)m, err, sizeof err);
        int diff = 0, maxd = 0;
        for (int ky = 0; ky < 48; ky++)
            for (int kx = 0; kx < 48; kx++)
                for (int c = 0; c < 3; c++) {
                    int a = dst[((size_t)ky * 960 + kx) * 3 + c];
                    int b = (int)lrintf(pv[(ky * 48 + kx) * 3 + c] * 255);
                    diff += a != b;
                    maxd = abs(a - b) > maxd ? abs(a - b) : maxd;
                }
        printf("resize %-9s: first tile %d/6912 values differ (max %d)\n", names[m], diff, maxd);
        if (m == G4_RESIZE_DEFAULT)
            CHECK(diff == 0, "default resize kernel differs from the reference in %d values", diff);
    }
    free(dst);
    free(rgb);
    free(bytes);
#else
    (void)ref;
#endif
}

static void test_audio(const g4_mmproj *mp, const g4_gguf *ref)
{
    size_t n = 0;
    char err[256] = "";
    void *bytes = t_read_file(path_of("audio.wav"), &n);
    CHECK(bytes != NULL, "read audio.wav");
    if (!bytes)
        return;
    float *x = NULL;
    size_t ns = 0;
    int rate = 0;
    int rc = g4_audio_decode(bytes, n, &x, &ns, &rate, err, sizeof err);
    CHECK(rc == G4_OK && ns == 16320 && rate == 16000, "audio decode rc %d n %zu rate %d (%s)", rc, ns, rate, err);
    int64_t nt = g4_mmproj_audio_tokens(mp, ns), want = -1;
    g4_gguf_get_i64(ref, "audio.n_tokens", &want);
    CHECK(nt == 26 && nt == want, "audio tokens %lld, ref %lld", (long long)nt, (long long)want);
    int d = g4_mmproj_n_embd(mp);
    const float *re = ref_f32(ref, "audio.embeddings", 26 * (int64_t)d);
    float *out = calloc(26 * (size_t)d, sizeof(float));
    rc = x ? g4_mmproj_embed_audio(mp, NULL, x, ns, out, err, sizeof err) : -1;
    double e = re && rc == G4_OK ? rel_err(out, re, 26 * (size_t)d) : INFINITY;
    printf("audio: 26 tokens, max rel error %.3g (tolerance 1e-3)\n", e);
    CHECK(rc == G4_OK && e <= 1e-3, "audio embeddings rc %d (%s) err %g", rc, err, e);

    size_t ntok = 0;
    memset(out, 0, 26 * sizeof(float) * (size_t)d);
    g4_status st = g4_embed_audio_file_mm(mp, NULL, bytes, n, out, 26 * (size_t)d, &ntok);
    double e2 = re && st == G4_OK ? rel_err(out, re, 26 * (size_t)d) : INFINITY;
    CHECK(st == G4_OK && ntok == 26 && e2 <= 1e-3, "audio file path st %d (%s) err %g", st, g4_last_error(), e2);
    st = g4_embed_audio_mm(mp, NULL, x, ns, 16000, NULL, 0, &ntok);
    CHECK(st == G4_OK && ntok == 26, "audio sizing call");
    st = g4_embed_audio_mm(mp, NULL, x, ns, 16000, out, 26 * (size_t)d - 1, &ntok);
    CHECK(st == G4_ERR_BUFFER_TOO_SMALL && ntok == 26, "audio small buffer st %d", st);
    /* 48 kHz input is resampled: 3x the samples -> the same token count */
    float *x48 = calloc((size_t)ns * 3, sizeof *x48); /* the call may read every sample it is given */
    st = x48 ? g4_embed_audio_mm(mp, NULL, x48, ns * 3, 48000, NULL, 0, &ntok) : G4_ERR_OUT_OF_MEMORY;
    CHECK(st == G4_OK && ntok == 26, "48 kHz sizing: st %d n %zu", st, ntok);
    free(x48);
    free(out);
    free(x);
    free(bytes);
}

/* A sine resampled 44.1 kHz -> 16 kHz must stay that sine (band-limited interpolation). */
static void test_resample(void)
{
    char err[128];
    const int n = 44100;
    float *x = malloc(sizeof(float) * n), *y = NULL;
    size_t m = 0;
    for (int i = 0; i < n; i++)
        x[i] = (float)(0.5 * sin(2 * M_PI * 1000.0 * i / 44100.0));
    int rc = g4_audio_resample(x, n, 44100, 16000, &y, &m, err, sizeof err);
    double maxe = 0;
    for (size_t k = 200; rc == G4_OK && k + 200 < m; k++) {
        double e = fabs(y[k] - 0.5 * sin(2 * M_PI * 1000.0 * k / 16000.0));
        maxe = e > maxe ? e : maxe;
    }
    CHECK(rc == G4_OK && m == 16000 && maxe < 2e-3, "resample 44.1k->16k: rc %d m %zu max err %g", rc, m, maxe);
    free(y);
    /* 8 kHz content above the 8 kHz Nyquist of 16 kHz must be removed: 12 kHz tone at 48 kHz */
    for (int i = 0; i < n; i++)
        x[i] = (float)sin(2 * M_PI * 12000.0 * i / 48000.0);
    rc = g4_audio_resample(x, n, 48000, 16000, &y, &m, err, sizeof err);
    double peak = 0;
    for (size_t k = 200; rc == G4_OK && k + 200 < m; k++)
        peak = fabs(y[k]) > peak ? fabs(y[k]) : peak;
    CHECK(rc == G4_OK && peak < 1e-2, "resample 48k->16k lets a 12 kHz tone through (peak %g)", peak);
    free(y);
    rc = g4_audio_resample(x, n, 1000, 16000, &y, &m, err, sizeof err);
    CHECK(rc == G4_ERR_INVALID_ARGUMENT && !y, "resample from 1 kHz must be refused");
    free(x);
}

/* Encoders of the same libraries produce files the decoders must read back. */
static void test_roundtrip(void)
{
    enum { W = 67, H = 41 };
    uint8_t src[W * H * 4];
    for (int i = 0; i < W * H * 4; i++)
        src[i] = (uint8_t)((i * 37) ^ (i >> 5));
    char err[256];
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
#if defined(G4_HAVE_JPEG)
    {
        struct jpeg_compress_struct c;
        struct jpeg_error_mgr jerr;
        unsigned char *buf = NULL;
        unsigned long len = 0;
        c.err = jpeg_std_error(&jerr);
        jpeg_create_compress(&c);
        jpeg_mem_dest(&c, &buf, &len);
        c.image_width = W;
        c.image_height = H;
        c.input_components = 1; /* greyscale: the decoder must expand it to RGB */
        c.in_color_space = JCS_GRAYSCALE;
        jpeg_set_defaults(&c);
        jpeg_set_quality(&c, 100, TRUE);
        jpeg_start_compress(&c, TRUE);
        while (c.next_scanline < H) {
            JSAMPROW row = src + c.next_scanline * W;
            jpeg_write_scanlines(&c, &row, 1);
        }
        jpeg_finish_compress(&c);
        jpeg_destroy_compress(&c);
        int rc = g4_image_decode(buf, len, &rgb, &w, &h, err, sizeof err);
        int maxd = 0;
        for (int i = 0; rc == G4_OK && i < W * H; i++)
            for (int k = 0; k < 3; k++) {
                int dd = abs((int)rgb[3 * i + k] - (int)src[i]);
                maxd = dd > maxd ? dd : maxd;
            }
        CHECK(rc == G4_OK && w == W && h == H && maxd <= 40, "grey JPEG round trip rc %d max diff %d (%s)", rc, maxd, err);
        free(rgb);
        rgb = NULL;
        /* truncated halfway: an error, not a grey-filled image */
        rc = g4_image_decode(buf, len / 2, &rgb, &w, &h, err, sizeof err);
        CHECK(rc == G4_ERR_FORMAT && !rgb, "JPEG cut in half: rc %d", rc);
        free(buf);
    }
#endif
#if defined(G4_HAVE_PNG)
    {
        /* 8-bit grey + alpha: expand to RGB, drop alpha */
        png_image img;
        memset(&img, 0, sizeof img);
        img.version = PNG_IMAGE_VERSION;
        img.width = W;
        img.height = H;
        img.format = PNG_FORMAT_GA;
        png_alloc_size_t len = 0;
        png_image_write_to_memory(&img, NULL, &len, 0, src, 0, NULL);
        void *buf = malloc(len);
        int ok = buf && png_image_write_to_memory(&img, buf, &len, 0, src, 0, NULL);
        int rc = ok ? g4_image_decode(buf, len, &rgb, &w, &h, err, sizeof err) : -99;
        int same = rc == G4_OK && w == W && h == H;
        for (int i = 0; same && i < W * H; i++)
            same = rgb[3 * i] == src[2 * i] && rgb[3 * i + 1] == src[2 * i] && rgb[3 * i + 2] == src[2 * i];
        CHECK(same, "grey+alpha PNG round trip rc %d (%s)", rc, err);
        free(rgb);
        rgb = NULL;
        free(buf);
    }
#endif
    (void)src;
    (void)err;
    (void)rgb;
    (void)w;
    (void)h;
}

static void test_target_sizes(void)
{
    static const int cases[][5] = {
        /* w, h, S, expected w, expected h (gemma4-12b-unified.md §4.2 table) */
        {224, 224, 280, 768, 768},    {640, 480, 280, 912, 672},  {1024, 768, 280, 912, 672},
        {1280, 720, 280, 1056, 576},  {1920, 1080, 280, 1056, 576}, {3000, 400, 280, 2160, 288},
        {224, 224, 1120, 1584, 1584}, {640, 480, 1120, 1824, 1344}, {1280, 720, 1120, 2112, 1200},
        {960, 672, 0, 960, 672},      {500, 333, 280, 960, 624},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int tw = 0, th = 0;
        int rc = g4_image_target_size(cases[i][0], cases[i][1], cases[i][2], &tw, &th);
        CHECK(rc == G4_OK && tw == cases[i][3] && th == cases[i][4], "%dx%d @%d -> %dx%d, want %dx%d",
              cases[i][0], cases[i][1], cases[i][2], tw, th, cases[i][3], cases[i][4]);
    }
    int tw = 0, th = 0;
    /* a 1-pixel-high strip: one side rounds to 0 -> 48 and the long side is capped at S*48 */
    CHECK(g4_image_target_size(20000, 1, 70, &tw, &th) == G4_OK && th == 48 && tw == 70 * 48,
          "strip: %dx%d", tw, th);
    CHECK(g4_image_target_size(0, 10, 280, &tw, &th) != G4_OK, "zero width accepted");
}

/* Byte buffers that must fail cleanly. */
static void test_bad_inputs(const g4_mmproj *mp)
{
    char err[256];
    uint8_t *rgb = NULL;
    int w, h;
    size_t ntok;
    static const uint8_t garbage[64] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    CHECK(g4_image_decode(garbage, sizeof garbage, &rgb, &w, &h, err, sizeof err) == G4_ERR_FORMAT && !rgb,
          "garbage image");
    CHECK(g4_image_decode(garbage, 0, &rgb, &w, &h, err, sizeof err) == G4_ERR_INVALID_ARGUMENT, "empty image");
    CHECK(g4_image_decode("GIF89a....", 10, &rgb, &w, &h, err, sizeof err) == G4_ERR_UNSUPPORTED, "GIF");

    size_t n = 0;
    uint8_t *png = (uint8_t *)t_read_file(path_of("image_resize.png"), &n);
#if defined(G4_HAVE_PNG)
    if (png) {
        /* truncated at several points, including inside the header */
        static const size_t cuts[] = {8, 20, 33, 60, 1000, 100000};
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
            int rc = g4_image_decode(png, cuts[i], &rgb, &w, &h, err, sizeof err);
            CHECK(rc == G4_ERR_FORMAT && !rgb, "truncated PNG at %zu: rc %d", cuts[i], rc);
        }
        /* huge declared dimensions (IHDR patched; CRC fixed so only the size check can stop it) */
        uint8_t *big = malloc(n);
        memcpy(big, png, n);
        big[16] = 0x00; big[17] = 0x01; big[18] = 0x00; big[19] = 0x00; /* width 65536 */
        big[20] = 0x00; big[21] = 0x01; big[22] = 0x00; big[23] = 0x00; /* height 65536 */
        uint32_t crc = 0xFFFFFFFFu;
        for (int i = 12; i < 29; i++) {
            crc ^= big[i];
            for (int k = 0; k < 8; k++)
                crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
        }
        crc ^= 0xFFFFFFFFu;
        big[29] = (uint8_t)(crc >> 24); big[30] = (uint8_t)(crc >> 16);
        big[31] = (uint8_t)(crc >> 8); big[32] = (uint8_t)crc;
        int rc = g4_image_decode(big, n, &rgb, &w, &h, err, sizeof err);
        CHECK(rc == G4_ERR_FORMAT && !rgb, "huge PNG: rc %d (%s)", rc, err);
        /* corrupt pixel data: flip bytes in the middle of IDAT */
        memcpy(big, png, n);
        for (size_t i = n / 2; i < n / 2 + 64; i++)
            big[i] ^= 0x5a;
        rc = g4_image_decode(big, n, &rgb, &w, &h, err, sizeof err);
        CHECK(rc == G4_ERR_FORMAT && !rgb, "corrupt PNG: rc %d", rc);
        free(rgb);
        rgb = NULL;
        free(big);
        g4_status st = g4_embed_image_file_mm(mp, NULL, png, 100, NULL, NULL, 0, &ntok);
        CHECK(st == G4_ERR_FORMAT, "truncated PNG via embed: %d", st);
    }
#endif
    free(png);
#if defined(G4_HAVE_JPEG)
    {
        /* SOI + a bogus SOF0 declaring 60000x60000, then nothing */
        static const uint8_t jpg[] = {0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0xEA, 0x60, 0xEA,
                                      0x60, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11,
                                      0x01, 0xFF, 0xD9};
        int rc = g4_image_decode(jpg, sizeof jpg, &rgb, &w, &h, err, sizeof err);
        CHECK(rc != G4_OK && !rgb, "bogus JPEG rc %d", rc);
        static const uint8_t jpg2[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F'};
        rc = g4_image_decode(jpg2, sizeof jpg2, &rgb, &w, &h, err, sizeof err);
        CHECK(rc == G4_ERR_FORMAT && !rgb, "truncated JPEG rc %d", rc);
    }
#endif

    /* WAV */
    float *x = NULL;
    size_t ns;
    int rate;
    uint8_t wav[44 + 8];
    memset(wav, 0, sizeof wav);
    memcpy(wav, "RIFF", 4);
    wav[4] = sizeof wav - 8;
    memcpy(wav + 8, "WAVEfmt ", 8);
    wav[16] = 16;
    wav[20] = 1;  /* PCM */
    wav[22] = 2;  /* stereo */
    wav[24] = 0x44; wav[25] = 0xAC; /* 44100 */
    wav[32] = 4;  /* block */
    wav[34] = 16; /* bits */
    memcpy(wav + 36, "data", 4);
    wav[40] = 8;
    int16_t s[4] = {16384, -16384, 32767, 32767}; /* L/R frames: avg 0, ~1 */
    memcpy(wav + 44, s, 8);
    int rc = g4_audio_decode(wav, sizeof wav, &x, &ns, &rate, err, sizeof err);
    CHECK(rc == G4_OK && ns == 2 && rate == 44100 && x && x[0] == 0.0f && fabsf(x[1] - 32767 / 32768.0f) < 1e-6f,
          "stereo WAV downmix: rc %d n %zu (%s)", rc, ns, err);
    free(x);
    x = NULL;
    uint8_t bad[sizeof wav];
    memcpy(bad, wav, sizeof wav);
    bad[34] = 12; /* 12-bit PCM */
    rc = g4_audio_decode(bad, sizeof bad, &x, &ns, &rate, err, sizeof err);
    CHECK(rc == G4_ERR_UNSUPPORTED && !x, "12-bit WAV rc %d", rc);
    memcpy(bad, wav, sizeof wav);
    bad[20] = 2; /* ADPCM */
    rc = g4_audio_decode(bad, sizeof bad, &x, &ns, &rate, err, sizeof err);
    CHECK(rc == G4_ERR_UNSUPPORTED && !x, "ADPCM WAV rc %d", rc);
    memcpy(bad, wav, sizeof wav);
    bad[32] = 3; /* block align lies */
    rc = g4_audio_decode(bad, sizeof bad, &x, &ns, &rate, err, sizeof err);
    CHECK(rc == G4_ERR_FORMAT && !x, "bad block align rc %d", rc);
    memcpy(bad, wav, sizeof wav);
    memcpy(bad + 8, "WAVX", 4);
    rc = g4_audio_decode(bad, sizeof bad, &x, &ns, &rate, err, sizeof err);
    CHECK(rc == G4_ERR_FORMAT && !x, "not WAVE rc %d", rc);
    memcpy(bad, wav, sizeof wav);
    bad[16] = 0xff; bad[17] = 0xff; bad[18] = 0xff; bad[19] = 0x7f; /* fmt chunk runs off the end */
    rc = g4_audio_decode(bad, sizeof bad, &x, &ns, &rate, err, sizeof err);
    CHECK(rc == G4_ERR_FORMAT && !x, "oversized fmt chunk rc %d", rc);
    for (size_t cut = 0; cut < 44; cut += 4) {
        rc = g4_audio_decode(wav, cut, &x, &ns, &rate, err, sizeof err);
        CHECK(rc != G4_OK && !x, "WAV cut at %zu: rc %d", cut, rc);
    }
    rc = g4_audio_decode("fLaC....", 8, &x, &ns, &rate, err, sizeof err);
    CHECK(rc == G4_ERR_UNSUPPORTED, "FLAC rc %d", rc);
    /* data overstated (streamed WAV): read what is there */
    memcpy(bad, wav, sizeof wav);
    bad[40] = 0xff; bad[41] = 0xff; bad[42] = 0xff; bad[43] = 0xff;
    rc = g4_audio_decode(bad, sizeof bad - 2, &x, &ns, &rate, err, sizeof err);
    CHECK(rc == G4_OK && ns == 1, "overstated data chunk: rc %d n %zu", rc, ns);
    free(x);
    x = NULL;
    /* 24-bit and float */
    uint8_t w24[44 + 6];
    memcpy(w24, wav, 44);
    w24[22] = 1; w24[32] = 3; w24[34] = 24; w24[40] = 6;
    uint8_t p24[6] = {0x00, 0x00, 0x40, 0x00, 0x00, 0xC0}; /* +0.5, -0.5 */
    memcpy(w24 + 44, p24, 6);
    rc = g4_audio_decode(w24, sizeof w24, &x, &ns, &rate, err, sizeof err);
    CHECK(rc == G4_OK && ns == 2 && x[0] == 0.5f && x[1] == -0.5f, "24-bit WAV rc %d", rc);
    free(x);
    x = NULL;
    uint8_t wf[44 + 8];
    memcpy(wf, wav, 44);
    wf[20] = 3; wf[22] = 1; wf[32] = 4; wf[34] = 32; wf[40] = 8;
    float fv[2] = {0.25f, -1.0f};
    memcpy(wf + 44, fv, 8);
    rc = g4_audio_decode(wf, sizeof wf, &x, &ns, &rate, err, sizeof err);
    CHECK(rc == G4_OK && ns == 2 && x[0] == 0.25f && x[1] == -1.0f, "float WAV rc %d", rc);
    free(x);
    x = NULL;
    g4_status st = g4_embed_audio_file_mm(mp, NULL, garbage, sizeof garbage, NULL, 0, &ntok);
    CHECK(st == G4_ERR_FORMAT && *g4_last_error(), "garbage audio via embed: %d", st);
}

/* Random byte flips and truncations of real files: any status, but never a crash (run under
 * make SAN=1), and a buffer exactly when the status is G4_OK. */
static void test_mutations(void)
{
    static const char *files[] = {"image_resize.png", "audio.wav"};
    uint32_t seed = 12345;
    char err[256];
    int bad = 0, runs = 0;
    for (int f = 0; f < 2; f++) {
        size_t n = 0;
        uint8_t *orig = (uint8_t *)t_read_file(path_of(files[f]), &n);
        if (!orig)
            continue;
        uint8_t *b = malloc(n);
        for (int it = 0; it < 150; it++, runs++) {
            memcpy(b, orig, n);
            int flips = 1 + it % 8;
            for (int k = 0; k < flips; k++) {
                seed = seed * 1664525u + 1013904223u;
                size_t at = (seed >> 8) % (it % 2 ? 256 : n); /* headers half the time */
                seed = seed * 1664525u + 1013904223u;
                b[at] ^= (uint8_t)(1u << (seed >> 29));
            }
            seed = seed * 1664525u + 1013904223u;
            size_t len = it % 3 == 0 ? (seed >> 4) % n : n;
            if (f == 0) {
                uint8_t *rgb = NULL;
                int w = 0, h = 0;
                int rc = g4_image_decode(b, len, &rgb, &w, &h, err, sizeof err);
                bad += (rc == G4_OK) != (rgb != NULL);
                free(rgb);
            } else {
                float *x = NULL;
                size_t ns = 0;
                int rate = 0;
                int rc = g4_audio_decode(b, len, &x, &ns, &rate, err, sizeof err);
                bad += (rc == G4_OK) != (x != NULL);
                free(x);
            }
        }
        free(b);
        free(orig);
    }
    CHECK(runs == 300 && bad == 0, "mutated files: %d runs, %d inconsistent results", runs, bad);
}

static void test_arguments(const g4_mmproj *mp)
{
    uint8_t px[3 * 64 * 64];
    float buf[4];
    size_t nt = 123;
    memset(px, 128, sizeof px);
    CHECK(g4_embed_image_mm(mp, NULL, NULL, 64, 64, 192, NULL, NULL, 0, &nt) == G4_ERR_INVALID_ARGUMENT, "NULL rgb");
    CHECK(g4_embed_image_mm(mp, NULL, px, 0, 64, 192, NULL, NULL, 0, &nt) == G4_ERR_INVALID_ARGUMENT, "w 0");
    CHECK(g4_embed_image_mm(mp, NULL, px, 64, -1, 192, NULL, NULL, 0, &nt) == G4_ERR_INVALID_ARGUMENT, "h -1");
    CHECK(g4_embed_image_mm(mp, NULL, px, 1 << 30, 64, (size_t)3 << 30, NULL, NULL, 0, &nt) == G4_ERR_INVALID_ARGUMENT, "huge w");
    CHECK(g4_embed_image_mm(mp, NULL, px, 64, 64, 191, NULL, NULL, 0, &nt) == G4_ERR_INVALID_ARGUMENT, "stride < 3w");
    CHECK(g4_embed_image_mm(mp, NULL, px, 64, 64, 192, NULL, NULL, 0, NULL) == G4_ERR_INVALID_ARGUMENT, "NULL n_tokens");
    CHECK(*g4_last_error() != 0, "error message set");
    g4_image_options o;
    g4_image_options_init(&o);
    o.max_soft_tokens = 100;
    CHECK(g4_embed_image_mm(mp, NULL, px, 64, 64, 192, &o, NULL, 0, &nt) == G4_ERR_INVALID_ARGUMENT, "budget 100");
    o.max_soft_tokens = 70;
    o.struct_size = 2;
    CHECK(g4_embed_image_mm(mp, NULL, px, 64, 64, 192, &o, NULL, 0, &nt) == G4_ERR_INVALID_ARGUMENT, "struct_size 2");
    o.struct_size = sizeof o;
    CHECK(g4_embed_image_mm(mp, NULL, px, 64, 64, 192, &o, NULL, 0, &nt) == G4_OK && nt == 64 && *g4_last_error() == 0,
          "64x64 @70 -> %zu tokens (want 8x8)", nt);
    CHECK(g4_embed_image_mm(mp, NULL, px, 64, 64, 192, &o, buf, 4, &nt) == G4_ERR_BUFFER_TOO_SMALL && nt == 64, "small buf");
    CHECK(g4_embed_image_mm(NULL, NULL, px, 64, 64, 192, &o, NULL, 0, &nt) == G4_ERR_UNSUPPORTED, "no projector");
    /* every budget works on a small image (upscaled to fill it), multithreaded */
    g4k_pool *pool = g4k_pool_new(4);
    static const int budgets[] = {70, 140, 280, 560, 1120};
    for (int i = 0; i < 5; i++) {
        o.max_soft_tokens = budgets[i];
        g4_status st = g4_embed_image_mm(mp, pool, px, 37, 61, 192, &o, NULL, 0, &nt);
        float *out = malloc(sizeof(float) * nt * (size_t)g4_mmproj_n_embd(mp));
        st = st == G4_OK ? g4_embed_image_mm(mp, pool, px, 37, 61, 192, &o, out, nt * (size_t)g4_mmproj_n_embd(mp), &nt) : st;
        int finite = 1;
        for (size_t k = 0; st == G4_OK && k < nt * (size_t)g4_mmproj_n_embd(mp); k++)
            finite &= isfinite(out[k]);
        CHECK(st == G4_OK && nt > 0 && nt <= (size_t)budgets[i] && finite, "budget %d: st %d n %zu (%s)",
              budgets[i], st, nt, g4_last_error());
        free(out);
    }
    g4k_pool_free(pool);

    float smp[100] = {0};
    CHECK(g4_embed_audio_mm(mp, NULL, NULL, 100, 16000, NULL, 0, &nt) == G4_ERR_INVALID_ARGUMENT, "NULL samples");
    CHECK(g4_embed_audio_mm(mp, NULL, smp, 0, 16000, NULL, 0, &nt) == G4_ERR_INVALID_ARGUMENT, "0 samples");
    CHECK(g4_embed_audio_mm(mp, NULL, smp, 100, 3999, NULL, 0, &nt) == G4_ERR_INVALID_ARGUMENT, "rate 3999");
    CHECK(g4_embed_audio_mm(mp, NULL, smp, 100, 384001, NULL, 0, &nt) == G4_ERR_INVALID_ARGUMENT, "rate 384001");
    CHECK(g4_embed_audio_mm(mp, NULL, smp, 100, 16000, NULL, 0, &nt) == G4_OK && nt == 1, "100 samples -> 1 token");
    float *o1 = malloc(sizeof(float) * (size_t)g4_mmproj_n_embd(mp));
    CHECK(g4_embed_audio_mm(mp, NULL, smp, 100, 16000, o1, (size_t)g4_mmproj_n_embd(mp), &nt) == G4_OK && o1[0] == 0.0f,
          "silent frame maps to 0");
    free(o1);
    CHECK(g4_embed_audio_mm(NULL, NULL, smp, 100, 16000, NULL, 0, &nt) == G4_ERR_UNSUPPORTED, "no audio projector");
}

static void test_loader(void)
{
    char err[256];
    /* the text model has no clip.* keys: not a projector */
    g4_gguf *g = g4_gguf_open(path_of("tiny-gemma4-unified-bf16.gguf"), 0, err, sizeof err);
    if (g) {
        g4_mmproj *p = g4_mmproj_load(g, 32, err, sizeof err);
        CHECK(!p && strstr(err, "neither"), "text GGUF as mmproj: %s", err);
        g4_mmproj_free(p);
        g4_gguf_close(g);
    }
    g = g4_gguf_open(path_of("mmproj-tiny-gemma4-unified-f32.gguf"), 0, err, sizeof err);
    if (g) {
        g4_mmproj *p = g4_mmproj_load(g, 64, err, sizeof err);
        CHECK(!p && strstr(err, "projection_dim"), "width mismatch must fail: %s", err);
        g4_mmproj_free(p);
        g4_gguf_close(g);
    }
}

int main(void)
{
    char err[256] = "";
    g4k_init(err, sizeof err);
    g4_gguf *g = g4_gguf_open(path_of("mmproj-tiny-gemma4-unified-f32.gguf"), 0, err, sizeof err);
    CHECK(g != NULL, "open mmproj: %s", err);
    g4_gguf *ref = g4_gguf_open(path_of("tiny-gemma4-unified.ref.gguf"), 0, err, sizeof err);
    CHECK(ref != NULL, "open ref: %s", err);
    g4_mmproj *mp = g ? g4_mmproj_load(g, 32, err, sizeof err) : NULL;
    CHECK(mp != NULL, "load mmproj: %s", err);
    if (mp && ref) {
        CHECK(g4_mmproj_has_vision(mp) && g4_mmproj_has_audio(mp) && g4_mmproj_n_embd(mp) == 32, "capabilities");
        test_target_sizes();
        test_image_case(mp, ref, "image_fit", 960, 672, 280, 1e-3);
        test_resize_parity(ref);
        test_image_case(mp, ref, "image_resize", 500, 333, 260, 1e-3);
        test_audio(mp, ref);
        test_resample();
        test_roundtrip();
        test_arguments(mp);
        test_bad_inputs(mp);
        test_mutations();
        test_loader();
    }
    g4_mmproj_free(mp);
    g4_gguf_close(ref);
    g4_gguf_close(g);
    return T_DONE("test_mm_unified");
}
