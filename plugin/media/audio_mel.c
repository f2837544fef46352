/* gemma4a log-mel front end (spec §5.1; transformers Gemma4AudioFeatureExtractor):
 *
 *   pad n up to a multiple of 128 with zeros, prepend 160 zeros (semicausal)
 *   frame f = samples [160 f, 160 f + 321) with the last one dropped -> 320 samples
 *   |rfft_512(frame * hann_periodic_320)| -> 128 HTK triangles over 0..8 kHz -> log(mel + 1e-3)
 *   frame f is valid iff its 321st sample is real audio; invalid frames are zeroed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define G4_MMPROJ_PRIVATE
#include "media/mmproj.h"

#define N_FREQ (G4_MEL_FFT / 2 + 1)

static double hz_to_mel(double f) { return 2595.0 * log10(1.0 + f / 700.0); }
static double mel_to_hz(double m) { return 700.0 * (pow(10.0, m / 2595.0) - 1.0); }

/* transformers mel_filter_bank(norm=None, mel_scale="htk"): band edges equally spaced in mel
 * (np.linspace), triangles evaluated on the linear FFT-bin frequencies. */
void g4_mel_filterbank(double *fb)
{
    const int M = G4_MEL_BINS;
    double edge[G4_MEL_BINS + 2];
    double m0 = hz_to_mel(0.0), m1 = hz_to_mel(8000.0), step = (m1 - m0) / (M + 1);
    for (int i = 0; i < M + 2; i++)
        edge[i] = mel_to_hz(i == M + 1 ? m1 : m0 + i * step);
    for (int k = 0; k < N_FREQ; k++) {
        double f = 8000.0 * k / (N_FREQ - 1); /* np.linspace(0, sr // 2, 257) */
        for (int m = 0; m < M; m++) {
            double down = (f - edge[m]) / (edge[m + 1] - edge[m]);
            double up = (edge[m + 2] - f) / (edge[m + 2] - edge[m + 1]);
            double v = down < up ? down : up;
            fb[k * M + m] = v > 0.0 ? v : 0.0;
        }
    }
}

int64_t g4_mel_frames(size_t n, int64_t *n_valid)
{
    size_t padded = (n + 127) / 128 * 128;
    int64_t total = padded + G4_MEL_HOP >= G4_MEL_FRAME + 1
                        ? (int64_t)((padded + G4_MEL_HOP - (G4_MEL_FRAME + 1)) / G4_MEL_HOP) + 1
                        : 0;
    /* valid: 160 f + 320 < 160 + n (the window's last sample lies in the real audio) */
    int64_t valid = n > G4_MEL_HOP ? (int64_t)((n - G4_MEL_HOP - 1) / G4_MEL_HOP) + 1 : 0;
    if (n_valid)
        *n_valid = valid < total ? valid : total;
    return total;
}

int g4_log_mel(const float *x, size_t n, const double *fb, int64_t f0, int64_t nf, float *out)
{
    g4_rfft_plan plan;
    if (g4_rfft_init(&plan, G4_MEL_FFT) != G4_OK)
        return G4_ERR_OUT_OF_MEMORY;
    double buf[G4_MEL_FFT], re[N_FREQ], im[N_FREQ], work[2 * G4_MEL_FFT], mag[N_FREQ];
    float win[G4_MEL_FRAME];
    const double pi = 3.14159265358979323846;
    for (int i = 0; i < G4_MEL_FRAME; i++) /* periodic Hann, cast to f32 as HF does */
        win[i] = (float)(0.5 - 0.5 * cos(2.0 * pi * i / G4_MEL_FRAME));
    int64_t n_valid = 0;
    g4_mel_frames(n, &n_valid);
    for (int64_t f = f0; f < f0 + nf; f++) {
        float *o = out + (size_t)(f - f0) * G4_MEL_BINS;
        if (f >= n_valid) {
            memset(o, 0, sizeof(float) * G4_MEL_BINS);
            continue;
        }
        for (int i = 0; i < G4_MEL_FFT; i++) {
            /* padded index 160 f + i holds x[160 f + i - 160] */
            int64_t s = f * G4_MEL_HOP + i - G4_MEL_HOP;
            float v = i < G4_MEL_FRAME && s >= 0 && (size_t)s < n ? x[s] : 0.0f;
            buf[i] = i < G4_MEL_FRAME ? (double)(v * win[i]) : 0.0; /* f32 product, as numpy */
        }
        g4_rfft(&plan, buf, re, im, work);
        for (int k = 0; k < N_FREQ; k++)
            mag[k] = sqrt(re[k] * re[k] + im[k] * im[k]);
        /* bins innermost (the filter bank's rows are contiguous, a vector loop); each bin
         * still sums k = 0, 1, ... from 0, the order of the per-bin column walk this
         * replaced (~2.5% of an audio embed), so the values are the same */
        double s[G4_MEL_BINS] = {0};
        for (int k = 0; k < N_FREQ; k++) {
            const double a = mag[k], *row = fb + (size_t)k * G4_MEL_BINS;
            for (int m = 0; m < G4_MEL_BINS; m++)
                s[m] += a * row[m];
        }
        for (int m = 0; m < G4_MEL_BINS; m++)
            o[m] = (float)log(s[m] + 1e-3);
    }
    g4_rfft_free(&plan);
    return G4_OK;
}
