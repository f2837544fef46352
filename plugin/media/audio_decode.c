/* WAV decoding (parsed here, no library) and resampling to 16 kHz.
 *
 * WAV: RIFF/WAVE with a fmt chunk before the data chunk; PCM (format 1) 8-bit unsigned,
 * 16/24/32-bit signed, IEEE float (format 3) 32/64-bit, or WAVE_FORMAT_EXTENSIBLE (0xFFFE) with
 * a PCM / float sub-format. Integers scale by 1/2^(bits-1) (int16: x/32768, as the reference's
 * audio.sample_scale says); channels are averaged to mono. A data chunk that claims more bytes
 * than the file holds (streamed recordings write 0 or 0xFFFFFFFF) is read up to the last whole
 * frame.
 *
 * Resampling: band-limited interpolation with a Kaiser-windowed sinc (beta 8.6, 32 zero crossings
 * each side of the centre, cutoff 0.95 x the lower Nyquist), tabulated at 512 phases per zero
 * crossing with linear interpolation between phases. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "media/mmproj.h"

#define WAV_MAX_SAMPLES ((size_t)1 << 31) /* per channel; ~37 h at 16 kHz */


static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static double sample_at(const uint8_t *p, int fmt_float, int bits)
{
    switch (bits) {
    case 8: return ((int)p[0] - 128) / 128.0;
    case 16: return (int16_t)rd16(p) / 32768.0;
    case 24: {
        int32_t v = (int32_t)((uint32_t)p[0] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 24);
        return (v >> 8) / 8388608.0;
    }
    case 32:
        if (fmt_float) {
            float f;
            memcpy(&f, p, 4); /* little-endian host assumed, as the GGUF reader does */
            return f;
        }
        return (int32_t)rd32(p) / 2147483648.0;
    case 64: {
        double d;
        memcpy(&d, p, 8);
        return d;
    }
    default: return 0.0;
    }
}

int g4_audio_decode(const void *bytes, size_t size, float **samples, size_t *n, int *rate,
                    char *err, size_t errlen)
{
    const uint8_t *b = bytes;
    if (!bytes || !samples || !n || !rate)
        return g4_errbuf(err, errlen, G4_ERR_INVALID_ARGUMENT, "audio: NULL argument");
    *samples = NULL;
    *n = 0;
    *rate = 0;
    if (size == 0)
        return g4_errbuf(err, errlen, G4_ERR_INVALID_ARGUMENT, "audio: empty buffer");
    if (size >= 4 && memcmp(b, "fLaC", 4) == 0)
        return g4_errbuf(err, errlen, G4_ERR_UNSUPPORTED, "audio: FLAC is not supported yet (use WAV)");
    if (size >= 4 && memcmp(b, "OggS", 4) == 0)
        return g4_errbuf(err, errlen, G4_ERR_UNSUPPORTED, "audio: Ogg is not supported yet (use WAV)");
    if ((size >= 3 && memcmp(b, "ID3", 3) == 0) || (size >= 2 && b[0] == 0xFF && (b[1] & 0xE0) == 0xE0))
        return g4_errbuf(err, errlen, G4_ERR_UNSUPPORTED, "audio: MP3 is not supported yet (use WAV)");
    if (size >= 4 && (memcmp(b, "RF64", 4) == 0 || memcmp(b, "RIFX", 4) == 0))
        return g4_errbuf(err, errlen, G4_ERR_UNSUPPORTED, "audio: RF64/RIFX WAV is not supported");
    if (size < 12 || memcmp(b, "RIFF", 4) != 0 || memcmp(b + 8, "WAVE", 4) != 0)
        return g4_errbuf(err, errlen, G4_ERR_FORMAT, "audio: not a WAV (RIFF/WAVE) file");

    int have_fmt = 0, fmt_float = 0, channels = 0, bits = 0, block = 0;
    uint32_t sr = 0;
    size_t off = 12;
    while (off + 8 <= size) {
        const uint8_t *ck = b + off;
        uint32_t len = rd32(ck + 4);
        size_t body = off + 8, avail = size - body;
        if (memcmp(ck, "fmt ", 4) == 0) {
            if (len < 16 || len > avail)
                return g4_errbuf(err, errlen, G4_ERR_FORMAT, "audio: WAV fmt chunk of %u bytes", len);
            const uint8_t *f = b + body;
            unsigned tag = rd16(f);
            channels = rd16(f + 2);
            sr = rd32(f + 4);
            block = rd16(f + 12);
            bits = rd16(f + 14);
            if (tag == 0xFFFE) {
                /* WAVE_FORMAT_EXTENSIBLE: the real tag opens the sub-format GUID */
                if (len < 40)
                    return g4_errbuf(err, errlen, G4_ERR_FORMAT, "audio: short WAVE_FORMAT_EXTENSIBLE");
                tag = rd16(f + 24);
            }
            if (tag == 1)
                fmt_float = 0;
            else if (tag == 3)
                fmt_float = 1;
            else
                return g4_errbuf(err, errlen, G4_ERR_UNSUPPORTED,
                             "audio: WAV encoding 0x%04x is not supported (PCM or IEEE float only)",
                             tag);
            if (fmt_float ? (bits != 32 && bits != 64)
                          : (bits != 8 && bits != 16 && bits != 24 && bits != 32))
                return g4_errbuf(err, errlen, G4_ERR_UNSUPPORTED,
                             "audio: %d-bit %s WAV samples are not supported", bits,
                             fmt_float ? "float" : "integer");
            if (channels < 1 || channels > 32)
                return g4_errbuf(err, errlen, G4_ERR_FORMAT, "audio: WAV with %d channels", channels);
            if (block != channels * bits / 8)
                return g4_errbuf(err, errlen, G4_ERR_FORMAT,
                             "audio: WAV block align %d does not match %d x %d-bit", block,
                             channels, bits);
            if (sr == 0 || sr > 10000000)
                return g4_errbuf(err, errlen, G4_ERR_FORMAT, "audio: WAV sample rate %u", sr);
            have_fmt = 1;
        } else if (memcmp(ck, "data", 4) == 0) {
            if (!have_fmt)
                return g4_errbuf(err, errlen, G4_ERR_FORMAT, "audio: WAV data chunk before fmt chunk");
            size_t dlen = len < avail ? len : avail; /* streamed files overstate it */
            size_t frames = dlen / (size_t)block;
            if (frames == 0)
                return g4_errbuf(err, errlen, G4_ERR_FORMAT, "audio: WAV holds no samples");
            if (frames > WAV_MAX_SAMPLES)
                return g4_errbuf(err, errlen, G4_ERR_UNSUPPORTED, "audio: WAV is too long");
            float *out = malloc(sizeof(float) * frames);
            if (!out)
                return g4_errbuf(err, errlen, G4_ERR_OUT_OF_MEMORY, "audio: out of memory");
            const uint8_t *d = b + body;
            const int bps = bits / 8;
            for (size_t i = 0; i < frames; i++) {
                double acc = 0.0;
                for (int c = 0; c < channels; c++)
                    acc += sample_at(d + i * (size_t)block + (size_t)c * bps, fmt_float, bits);
                out[i] = (float)(acc / channels);
            }
            *samples = out;
            *n = frames;
            *rate = (int)sr;
            return G4_OK;
        }
        if (len > avail)
            break;
        off = body + len + (len & 1); /* chunks are padded to even sizes */
    }
    return g4_errbuf(err, errlen, G4_ERR_FORMAT,
                 have_fmt ? "audio: WAV has no data chunk" : "audio: WAV has no fmt chunk");
}

/* ---- resampling ---------------------------------------------------------------------------- */
#define RS_ZC 32      /* zero crossings per side */
#define RS_PHASES 512 /* table entries per zero crossing */
#define RS_BETA 8.6
#define RS_ROLLOFF 0.95

static double bessel_i0(double x)
{
    double sum = 1.0, term = 1.0, q = x * x / 4.0;
    for (int k = 1; k < 64; k++) {
        term *= q / ((double)k * k);
        sum += term;
        if (term < sum * 1e-17)
            break;
    }
    return sum;
}

int g4_audio_resample(const float *in, size_t n, int in_rate, int out_rate, float **out,
                      size_t *n_out, char *err, size_t errlen)
{
    if (!in || !out || !n_out || n == 0)
        return g4_errbuf(err, errlen, G4_ERR_INVALID_ARGUMENT, "resample: no input");
    *out = NULL;
    *n_out = 0;
    if (in_rate < G4_AUDIO_MIN_RATE || in_rate > G4_AUDIO_MAX_RATE || out_rate < G4_AUDIO_MIN_RATE ||
        out_rate > G4_AUDIO_MAX_RATE)
        return g4_errbuf(err, errlen, G4_ERR_INVALID_ARGUMENT,
                     "resample: sample rate outside %d..%d Hz", G4_AUDIO_MIN_RATE, G4_AUDIO_MAX_RATE);
    size_t m = (size_t)(((unsigned long long)n * (unsigned)out_rate + (unsigned)in_rate - 1) /
                        (unsigned)in_rate);
    float *y = malloc(sizeof(float) * (m ? m : 1));
    if (!y)
        return g4_errbuf(err, errlen, G4_ERR_OUT_OF_MEMORY, "resample: out of memory");
    if (in_rate == out_rate) {
        memcpy(y, in, sizeof(float) * n);
        *out = y;
        *n_out = n;
        return G4_OK;
    }
    /* h(t) = fc * sinc(fc * t) * kaiser(t / half_width), t in input samples; fc = cutoff as a
     * fraction of the input rate's Nyquist-normalised frequency. Tabulated over fc*t in
     * [0, RS_ZC]. */
    const int tab_n = RS_ZC * RS_PHASES + 2;
    float *tab = malloc(sizeof(float) * (size_t)tab_n);
    if (!tab) {
        free(y);
        return g4_errbuf(err, errlen, G4_ERR_OUT_OF_MEMORY, "resample: out of memory");
    }
    const double i0b = bessel_i0(RS_BETA);
    for (int i = 0; i < tab_n; i++) {
        double u = (double)i / RS_PHASES; /* in zero crossings */
        double r = u / RS_ZC;
        double win = r < 1.0 ? bessel_i0(RS_BETA * sqrt(1.0 - r * r)) / i0b : 0.0;
        double s = u == 0.0 ? 1.0 : sin(M_PI * u) / (M_PI * u);
        tab[i] = (float)(s * win);
    }
    double ratio = (double)out_rate / in_rate;
    double fc = RS_ROLLOFF * (ratio < 1.0 ? ratio : 1.0); /* cutoff, cycles per input sample x2 */
    double half = RS_ZC / fc;                               /* half-width in input samples */
    for (size_t k = 0; k < m; k++) {
        double t = (double)k / ratio; /* position in input samples */
        long long lo = (long long)ceil(t - half), hi = (long long)floor(t + half);
        if (lo < 0)
            lo = 0;
        if (hi > (long long)n - 1)
            hi = (long long)n - 1;
        double acc = 0.0;
        for (long long j = lo; j <= hi; j++) {
            double u = fabs(t - (double)j) * fc * RS_PHASES;
            int iu = (int)u;
            if (iu >= tab_n - 1)
                continue;
            double fr = u - iu;
            acc += in[j] * (tab[iu] + (tab[iu + 1] - tab[iu]) * fr);
        }
        y[k] = (float)(acc * fc);
    }
    free(tab);
    *out = y;
    *n_out = m;
    return G4_OK;
}
