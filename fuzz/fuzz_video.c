/* libFuzzer target for the hosts' video decoding (hosts/common/video_decode.c): arbitrary bytes
 * as a video file through our memory reader and seek callbacks, the header checks (size, frame
 * count against duration, rotation), frame seeking/decoding/conversion and the audio track's
 * resampling. FFmpeg itself parses the containers; what is ours is everything around it.
 * Work per input is bounded: at most 4 frames of at most 4 Mpixel, 30 s of audio.
 * For scripts/fuzz.sh (make fuzz):
 *   fuzz-sources: -DG4_HAVE_FFMPEG=1 -Ihosts/common hosts/common/video_decode.c -lavformat -lavcodec -lswscale -lswresample -lavutil
 *   fuzz-args: -max_len=65536
 * Seeds: fuzz/corpus/video (tiny clips made with the ffmpeg tool). */
#include <stdint.h>
#include <stdlib.h>

#include "g4plug.h"
#include "video_decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g4v_clip *c = NULL;
    g4v_info in;
    char err[256];
    if (g4v_open(data, size, &c, &in, err, sizeof err) != G4_OK)
        return 0;
    if ((int64_t)in.width * in.height <= (4 << 20)) {
        uint8_t *rgb = malloc((size_t)in.width * in.height * 3);
        for (int i = 0; rgb && i < 4; i++)
            if (g4v_frame_at(c, in.duration * i / 4.0, rgb, err, sizeof err) != G4_OK)
                break;
        free(rgb);
    }
    float *x = NULL;
    size_t n = 0;
    if (g4v_audio_16k(c, 30.0, &x, &n, err, sizeof err) == G4_OK)
        free(x);
    g4v_close(c);
    return 0;
}
