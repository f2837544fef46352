/* Regenerates the small seed corpora under fuzz/corpus/ from the fixtures, with the library's own
 * decoders and resizer plus libpng/libjpeg writers (kept small: a few KB per file).
 *   cc -D_GNU_SOURCE -DG4_HAVE_PNG=1 -DG4_HAVE_JPEG=1 -Iabi -Iplugin -Ikernels fuzz/make_seeds.c \
 *      build/libg4plug_internal.a -lpng -ljpeg -lhwloc -lcjson -lm -ldl -pthread -o /tmp/make_seeds
 *   /tmp/make_seeds ../shared/fixtures fuzz/corpus
 * Not part of the build: the seeds are committed; this records how they were made. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
/* jpeglib.h needs size_t and FILE first */
#include <jpeglib.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "g4plug.h"
#include "media/mmproj.h"

static void *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *b = malloc((size_t)sz);
    *n = fread(b, 1, (size_t)sz, f);
    fclose(f);
    return b;
}

static void dump(const char *dir, const char *name, const void *p, size_t n)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) {
        perror(path);
        exit(1);
    }
    fclose(f);
}

/* color_type: PNG_COLOR_TYPE_RGB / GRAY / GRAY_ALPHA / RGBA / PALETTE; interlace 0/1; depth 8 or 16 */
static void write_png(const char *path, const uint8_t *rgb, int w, int h, int color_type, int interlace,
                      int depth)
{
    FILE *f = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (!f || !png || !info || setjmp(png_jmpbuf(png))) {
        fprintf(stderr, "png write failed: %s\n", path);
        exit(1);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color_type,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_color pal[16];
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        for (int i = 0; i < 16; i++)
            pal[i].red = (png_byte)(i * 16), pal[i].green = (png_byte)(255 - i * 16), pal[i].blue = (png_byte)(i * 7);
        png_set_PLTE(png, info, pal, 16);
    }
    png_write_info(png, info);
    int ch = color_type == PNG_COLOR_TYPE_RGB ? 3 : color_type == PNG_COLOR_TYPE_RGBA ? 4
           : color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : 1;
    int bps = depth / 8;
    uint8_t *rows = malloc((size_t)w * h * ch * 2);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *s = rgb + 3 * ((size_t)y * w + x);
            uint8_t v[4] = {s[0], s[1], s[2], (uint8_t)(x * 255 / (w > 1 ? w - 1 : 1))};
            if (ch <= 2)
                v[0] = (uint8_t)((s[0] + s[1] + s[2]) / 3), v[1] = v[3];
            if (color_type == PNG_COLOR_TYPE_PALETTE)
                v[0] = (uint8_t)(s[0] >> 4);
            for (int c = 0; c < ch; c++)
                for (int b = 0; b < bps; b++)
                    rows[(((size_t)y * w + x) * ch + c) * bps + b] = v[c];
        }
    png_bytep *rp = malloc(sizeof *rp * (size_t)h);
    for (int y = 0; y < h; y++)
        rp[y] = rows + (size_t)y * w * ch * bps;
    png_write_image(png, rp);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    free(rp);
    free(rows);
}

static void write_jpeg(const char *path, const uint8_t *rgb, int w, int h, int gray, int progressive)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    unsigned char *buf = NULL;
    unsigned long len = 0;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &buf, &len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = gray ? 1 : 3;
    c.in_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 60, TRUE);
    if (progressive)
        jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    uint8_t *row = malloc(3 * (size_t)w);
    while (c.next_scanline < c.image_height) {
        const uint8_t *s = rgb + 3 * (size_t)w * c.next_scanline;
        for (int x = 0; x < w; x++)
            row[x] = (uint8_t)((s[3 * x] + s[3 * x + 1] + s[3 * x + 2]) / 3);
        JSAMPROW r = (JSAMPROW)(gray ? row : s);
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    FILE *f = fopen(path, "wb");
    fwrite(buf, 1, len, f);
    fclose(f);
    free(buf);
    free(row);
}

static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v & 0xffff), put16(p + 2, v >> 16); }

/* WAV from mono f32: tag 1 (PCM) or 3 (float), or 0xFFFE (extensible wrapping PCM) */
static void write_wav(const char *dir, const char *name, const float *x, size_t n, int rate, int tag,
                      int bits, int ch)
{
    int ext = tag == 0xFFFE, fmt_len = ext ? 40 : 16, block = ch * bits / 8;
    size_t data = n * (size_t)block, total = 12 + 8 + (size_t)fmt_len + 8 + data;
    uint8_t *b = calloc(1, total);
    memcpy(b, "RIFF", 4), put32(b + 4, (uint32_t)(total - 8)), memcpy(b + 8, "WAVE", 4);
    uint8_t *f = b + 12;
    memcpy(f, "fmt ", 4), put32(f + 4, (uint32_t)fmt_len);
    put16(f + 8, (unsigned)tag), put16(f + 10, (unsigned)ch), put32(f + 12, (uint32_t)rate);
    put32(f + 16, (uint32_t)(rate * block)), put16(f + 20, (unsigned)block), put16(f + 22, (unsigned)bits);
    if (ext)
        put16(f + 24, 22), put16(f + 26, (unsigned)bits), put16(f + 32, 1); /* sub-format PCM */
    uint8_t *d = f + 8 + fmt_len;
    memcpy(d, "data", 4), put32(d + 4, (uint32_t)data);
    uint8_t *s = d + 8;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < ch; c++, s += bits / 8) {
            float v = x[i] * (c ? -1.0f : 1.0f);
            if (tag == 3 && bits == 32)
                memcpy(s, &v, 4);
            else if (tag == 3) {
                double dv = v;
                memcpy(s, &dv, 8);
            } else if (bits == 8)
                s[0] = (uint8_t)(128 + (int)(v * 127));
            else {
                int32_t iv = (int32_t)(v * 2147483000.0f);
                for (int k = 0; k < bits / 8; k++)
                    s[k] = (uint8_t)((uint32_t)iv >> (32 - bits + 8 * k));
            }
        }
    dump(dir, name, b, total);
    free(b);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: make_seeds FIXTURES_DIR CORPUS_DIR\n");
        return 2;
    }
    char path[2048], dir[1024], err[256];
    size_t n;
    /* ---- images: the fixture, downscaled with the library's resizer ---- */
    snprintf(path, sizeof path, "%s/gemma4/image_resize.png", argv[1]);
    void *png = slurp(path, &n);
    uint8_t *rgb;
    int w, h;
    if (!png || g4_image_decode(png, n, &rgb, &w, &h, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", path, err);
        return 1;
    }
    const int sw = 30, sh = 20;
    uint8_t *small = malloc(3 * sw * sh);
    g4_image_resize_bicubic(rgb, w, h, 3 * (size_t)w, small, sw, sh, err, sizeof err);
    snprintf(dir, sizeof dir, "%s/image", argv[2]);
    snprintf(path, sizeof path, "%s/rgb8.png", dir), write_png(path, small, sw, sh, PNG_COLOR_TYPE_RGB, 0, 8);
    snprintf(path, sizeof path, "%s/rgba16_adam7.png", dir), write_png(path, small, 12, 8, PNG_COLOR_TYPE_RGBA, 1, 16);
    snprintf(path, sizeof path, "%s/gray_alpha.png", dir), write_png(path, small, 10, 6, PNG_COLOR_TYPE_GRAY_ALPHA, 0, 8);
    snprintf(path, sizeof path, "%s/palette.png", dir), write_png(path, small, 9, 7, PNG_COLOR_TYPE_PALETTE, 0, 8);
    snprintf(path, sizeof path, "%s/rgb.jpg", dir), write_jpeg(path, small, sw, sh, 0, 0);
    snprintf(path, sizeof path, "%s/gray_progressive.jpg", dir), write_jpeg(path, small, 17, 11, 1, 1);
    free(small);
    free(rgb);
    free(png);
    /* ---- audio: 0.05 s of the fixture in several encodings ---- */
    snprintf(path, sizeof path, "%s/gemma4/audio.wav", argv[1]);
    void *wav = slurp(path, &n);
    float *pcm;
    size_t ns;
    int rate;
    if (!wav || g4_audio_decode(wav, n, &pcm, &ns, &rate, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", path, err);
        return 1;
    }
    snprintf(dir, sizeof dir, "%s/audio", argv[2]);
    write_wav(dir, "pcm16_16k.wav", pcm + 4000, 800, 16000, 1, 16, 1);
    write_wav(dir, "pcm8_stereo_8k.wav", pcm + 4000, 400, 8000, 1, 8, 2);
    write_wav(dir, "pcm24_44k.wav", pcm + 4000, 300, 44100, 1, 24, 1);
    write_wav(dir, "f32_48k.wav", pcm + 4000, 300, 48000, 3, 32, 1);
    write_wav(dir, "f64_22k.wav", pcm + 4000, 200, 22050, 3, 64, 1);
    write_wav(dir, "ext_pcm32_stereo.wav", pcm + 4000, 200, 16000, 0xFFFE, 32, 2);
    free(pcm);
    free(wav);
    return 0;
}
