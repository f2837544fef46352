/* Real FFT for the gemma4a log-mel front end (spec §5.1: |rfft| of 320 windowed samples
 * zero-padded to 512). An n-point real transform is one n/2-point complex radix-2 FFT of the
 * even/odd samples packed as z[k] = x[2k] + i x[2k+1], then the usual split step. Double
 * precision throughout: numpy's rfft, which the reference uses, is double too. */
#include <math.h>
#include <stdlib.h>

#define G4_MMPROJ_PRIVATE
#include "media/mmproj.h"

int g4_rfft_init(g4_rfft_plan *p, int n)
{
    p->n = 0;
    p->cs = p->sn = NULL;
    if (n < 4 || n > 65536 || (n & (n - 1)))
        return G4_ERR_INVALID_ARGUMENT;
    p->cs = malloc(sizeof(double) * (size_t)(n / 2));
    p->sn = malloc(sizeof(double) * (size_t)(n / 2));
    if (!p->cs || !p->sn) {
        g4_rfft_free(p);
        return G4_ERR_OUT_OF_MEMORY;
    }
    const double pi = 3.14159265358979323846;
    for (int k = 0; k < n / 2; k++) {
        p->cs[k] = cos(2.0 * pi * k / n);
        p->sn[k] = sin(2.0 * pi * k / n);
    }
    p->n = n;
    return G4_OK;
}

void g4_rfft_free(g4_rfft_plan *p)
{
    free(p->cs);
    free(p->sn);
    p->cs = p->sn = NULL;
    p->n = 0;
}

/* In-place forward complex FFT of size m (m | n/2 twiddle table of the n-point plan):
 * bit-reversal permutation, then log2(m) butterfly passes, Z[k] = sum z[j] e^{-2 pi i jk/m}. */
static void cfft(const g4_rfft_plan *p, double *re, double *im, int m)
{
    for (int i = 1, j = 0; i < m; i++) {
        int bit = m >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j |= bit;
        if (i < j) {
            double t = re[i]; re[i] = re[j]; re[j] = t;
            t = im[i]; im[i] = im[j]; im[j] = t;
        }
    }
    const int tstep = p->n / m; /* e^{-2 pi i k/m} = table entry k * n/m */
    for (int len = 2; len <= m; len <<= 1) {
        int half = len / 2, stride = tstep * (m / len);
        for (int s = 0; s < m; s += len)
            for (int k = 0; k < half; k++) {
                double wr = p->cs[k * stride], wi = -p->sn[k * stride];
                int a = s + k, b = a + half;
                double xr = re[b] * wr - im[b] * wi, xi = re[b] * wi + im[b] * wr;
                re[b] = re[a] - xr;
                im[b] = im[a] - xi;
                re[a] += xr;
                im[a] += xi;
            }
    }
}

/* X[k] = E[k] + e^{-2 pi i k/n} O[k], with E = (Z[k] + conj Z[m-k]) / 2 and
 * O = (Z[k] - conj Z[m-k]) / 2i the transforms of the even and odd samples. */
void g4_rfft(const g4_rfft_plan *p, const double *x, double *re, double *im, double *work)
{
    const int n = p->n, m = n / 2;
    double *zr = work, *zi = work + m;
    for (int k = 0; k < m; k++) {
        zr[k] = x[2 * k];
        zi[k] = x[2 * k + 1];
    }
    cfft(p, zr, zi, m);
    for (int k = 0; k <= m; k++) {
        int a = k % m, b = (m - k) % m;
        double er = 0.5 * (zr[a] + zr[b]), ei = 0.5 * (zi[a] - zi[b]);
        double or_ = 0.5 * (zi[a] + zi[b]), oi = -0.5 * (zr[a] - zr[b]);
        double wr = k < m ? p->cs[k] : -1.0, wi = k < m ? -p->sn[k] : 0.0;
        re[k] = er + wr * or_ - wi * oi;
        im[k] = ei + wr * oi + wi * or_;
    }
}
