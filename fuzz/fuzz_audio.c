/* libFuzzer target: g4_audio_decode (WAV bytes from the host, untrusted) and the resampler an
 * accepted file goes through next.
 *   sh scripts/fuzz.sh audio          (builds against build-fuzz/libg4plug_internal.a)
 * Seeds: fuzz/corpus/audio.
 * fuzz-args: -max_len=8192
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "g4plug.h"
#include "media/mmproj.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256] = "";
    float *pcm = NULL;
    size_t n = 99;
    int rate = -1;
    int st = g4_audio_decode(data, size, &pcm, &n, &rate, err, sizeof err);
    if (st != G4_OK) {
        if (!err[0] || pcm || n || rate)
            abort();
        if (st != G4_ERR_FORMAT && st != G4_ERR_UNSUPPORTED && st != G4_ERR_INVALID_ARGUMENT &&
            st != G4_ERR_OUT_OF_MEMORY)
            abort();
        return 0;
    }
    if (!pcm || n == 0 || rate <= 0)
        abort();
    volatile float sum = 0;
    for (size_t i = 0; i < n; i++) {
        /* integer PCM is in [-1, 1]; float files may carry anything, NaN included */
        sum += pcm[i];
    }
    sum += pcm[n - 1];
    /* what g4_embed_audio does with it: resample to 16 kHz (bounded so a run stays fast) */
    if (rate >= G4_AUDIO_MIN_RATE && rate <= G4_AUDIO_MAX_RATE && n <= 48000) {
        float *out = NULL;
        size_t n_out = 0;
        if (g4_audio_resample(pcm, n, rate, 16000, &out, &n_out, err, sizeof err) == G4_OK) {
            if (!out || n_out == 0)
                abort();
            sum += out[n_out - 1];
            free(out);
        } else if (!err[0]) {
            abort();
        }
    }
    (void)sum;
    free(pcm);
    return 0;
}
