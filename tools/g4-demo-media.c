/* g4-demo-media: writes the demo inputs of the embedded default model (`g4 run` with no MODEL).
 *
 *   g4-demo-media --png OUT.png --wav OUT.wav
 *
 * PNG: a 192x128 RGB picture (sky, sun, sea). WAV: 1 s of 16 kHz mono 16-bit PCM (a rising
 * triangle-wave chirp with fade in/out). Integer arithmetic only and a hand-written PNG encoder
 * (stored deflate blocks): the bytes are identical on every machine, whatever libpng or zlib
 * version is installed (or none). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMG_W 192
#define IMG_H 128
#define WAV_RATE 16000
#define WAV_N 16000

/* ---- PNG -------------------------------------------------------------------------------------- */
static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

static uint32_t crc_update(uint32_t c, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static int chunk(FILE *f, const char *type, const unsigned char *data, size_t n)
{
    unsigned char hdr[8], tail[4];
    put32(hdr, (uint32_t)n);
    memcpy(hdr + 4, type, 4);
    uint32_t c = crc_update(0xffffffffu, hdr + 4, 4);
    c = crc_update(c, data, n) ^ 0xffffffffu;
    put32(tail, c);
    return fwrite(hdr, 1, 8, f) == 8 && (n == 0 || fwrite(data, 1, n, f) == n) &&
                   fwrite(tail, 1, 4, f) == 4
               ? 0
               : -1;
}

/* |x| folded into a triangle of period 2*half: 0..half..0 */
static int tri(int x, int half)
{
    int m = ((x % (2 * half)) + 2 * half) % (2 * half);
    return m < half ? m : 2 * half - m;
}

static void draw(unsigned char *rgb)
{
    const int horizon = IMG_H * 5 / 8, sx = IMG_W * 2 / 3, sy = IMG_H / 3, sr = IMG_H / 7;
    for (int y = 0; y < IMG_H; y++)
        for (int x = 0; x < IMG_W; x++) {
            unsigned char *p = rgb + 3 * ((size_t)y * IMG_W + x);
            int r, g, b;
            if (y < horizon) { /* sky: light at the horizon, deep blue above */
                int t = 255 * y / horizon;
                r = 40 + t * 150 / 255;
                g = 90 + t * 130 / 255;
                b = 200 + t * 40 / 255;
                int dx = x - sx, dy = y - sy, d2 = dx * dx + dy * dy;
                if (d2 <= sr * sr) { /* sun */
                    r = 255;
                    g = 220;
                    b = 90;
                } else if (d2 <= 4 * sr * sr) { /* glow */
                    int k = 4 * sr * sr - d2, kmax = 3 * sr * sr;
                    r += (255 - r) * k / kmax / 2;
                    g += (230 - g) * k / kmax / 2;
                }
            } else { /* sea with triangle-wave ripples getting larger towards the viewer */
                int depth = y - horizon, span = IMG_H - horizon;
                int wave = tri(x * (2 + depth / 8) + depth * 13, 24 + depth);
                r = 10 + depth * 40 / span;
                g = 60 + depth * 60 / span + wave / 3;
                b = 120 + depth * 60 / span + wave / 2;
                if (x > sx - sr && x < sx + sr && wave < 6 + depth / 6) { /* sun's reflection */
                    r = 240;
                    g = 200;
                    b = 110;
                }
            }
            p[0] = (unsigned char)(r > 255 ? 255 : r);
            p[1] = (unsigned char)(g > 255 ? 255 : g);
            p[2] = (unsigned char)(b > 255 ? 255 : b);
        }
}

static int write_png(const char *path)
{
    unsigned char *rgb = malloc((size_t)IMG_W * IMG_H * 3);
    size_t raw_n = (size_t)IMG_H * (1 + 3 * IMG_W);
    unsigned char *raw = malloc(raw_n);
    /* zlib stream of stored blocks: 2-byte header, 5 bytes per 65535, adler32 */
    size_t nblk = (raw_n + 65534) / 65535, z_n = 2 + raw_n + 5 * nblk + 4;
    unsigned char *z = malloc(z_n);
    if (!rgb || !raw || !z)
        return -1;
    draw(rgb);
    for (int y = 0; y < IMG_H; y++) {
        raw[(size_t)y * (1 + 3 * IMG_W)] = 0; /* filter: none */
        memcpy(raw + (size_t)y * (1 + 3 * IMG_W) + 1, rgb + (size_t)y * 3 * IMG_W, 3 * IMG_W);
    }
    size_t k = 0;
    z[k++] = 0x78;
    z[k++] = 0x01;
    uint32_t a = 1, b = 0;
    for (size_t off = 0; off < raw_n; off += 65535) {
        size_t n = raw_n - off < 65535 ? raw_n - off : 65535;
        z[k++] = off + n == raw_n ? 1 : 0; /* BFINAL, BTYPE = stored */
        z[k++] = (unsigned char)n;
        z[k++] = (unsigned char)(n >> 8);
        z[k++] = (unsigned char)~n;
        z[k++] = (unsigned char)(~n >> 8);
        memcpy(z + k, raw + off, n);
        k += n;
    }
    for (size_t i = 0; i < raw_n; i++) {
        a = (a + raw[i]) % 65521;
        b = (b + a) % 65521;
    }
    put32(z + k, (b << 16) | a);
    k += 4;

    unsigned char ihdr[13];
    put32(ihdr, IMG_W);
    put32(ihdr + 4, IMG_H);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 2;  /* RGB */
    ihdr[10] = 0; /* deflate */
    ihdr[11] = 0; /* adaptive filtering */
    ihdr[12] = 0; /* no interlace */
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    FILE *f = fopen(path, "wb");
    int rc = -1;
    if (f) {
        rc = fwrite(sig, 1, 8, f) == 8 && chunk(f, "IHDR", ihdr, 13) == 0 &&
                     chunk(f, "IDAT", z, k) == 0 && chunk(f, "IEND", NULL, 0) == 0
                 ? 0
                 : -1;
        if (fclose(f) != 0)
            rc = -1;
    }
    free(rgb);
    free(raw);
    free(z);
    return rc;
}

/* ---- WAV -------------------------------------------------------------------------------------- */
static void le16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static void le32(unsigned char *p, uint32_t v)
{
    le16(p, v & 0xffff);
    le16(p + 2, v >> 16);
}

static int write_wav(const char *path)
{
    unsigned char *b = malloc(44 + 2 * WAV_N);
    if (!b)
        return -1;
    memcpy(b, "RIFF", 4);
    le32(b + 4, 36 + 2 * WAV_N);
    memcpy(b + 8, "WAVEfmt ", 8);
    le32(b + 16, 16);
    le16(b + 20, 1); /* PCM */
    le16(b + 22, 1); /* mono */
    le32(b + 24, WAV_RATE);
    le32(b + 28, 2 * WAV_RATE);
    le16(b + 32, 2);
    le16(b + 34, 16);
    memcpy(b + 36, "data", 4);
    le32(b + 40, 2 * WAV_N);
    /* triangle chirp 300 -> 1200 Hz: 32-bit phase accumulator, frequency rising linearly */
    uint32_t phase = 0;
    for (int i = 0; i < WAV_N; i++) {
        uint64_t hz = 300 + (uint64_t)900 * (uint64_t)i / WAV_N;
        phase += (uint32_t)((hz << 32) / WAV_RATE);
        int32_t t = (int32_t)(phase >> 16);                   /* 0..65535 */
        int32_t v = t < 32768 ? 2 * t - 32768 : 98303 - 2 * t; /* -32768..32767 triangle */
        int32_t env = i < 800 ? i : i > WAV_N - 800 ? WAV_N - i : 800; /* 50 ms fades */
        v = v * env / 800 * 3 / 5;                                     /* about -4.4 dBFS */
        le16(b + 44 + 2 * i, (uint16_t)(int16_t)v);
    }
    FILE *f = fopen(path, "wb");
    int rc = -1;
    if (f) {
        rc = fwrite(b, 1, 44 + 2 * WAV_N, f) == 44 + 2 * WAV_N ? 0 : -1;
        if (fclose(f) != 0)
            rc = -1;
    }
    free(b);
    return rc;
}

int main(int argc, char **argv)
{
    const char *png = NULL, *wav = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--png"))
            png = argv[i + 1];
        else if (!strcmp(argv[i], "--wav"))
            wav = argv[i + 1];
        else
            png = wav = NULL, i = argc;
    }
    if ((!png && !wav) || argc % 2 == 0) {
        fprintf(stderr, "usage: g4-demo-media [--png OUT.png] [--wav OUT.wav]\n");
        return 2;
    }
    crc_init();
    if (png && write_png(png) != 0) {
        fprintf(stderr, "g4-demo-media: %s: %s\n", png, strerror(errno));
        return 1;
    }
    if (wav && write_wav(wav) != 0) {
        fprintf(stderr, "g4-demo-media: %s: %s\n", wav, strerror(errno));
        return 1;
    }
    return 0;
}
