/* libFuzzer target: g4_image_decode (PNG / JPEG bytes from the host, untrusted), then the resize
 * and tiling that an accepted image goes through, so that decoded dimensions that lie are caught
 * where the pixels are used.
 *   sh scripts/fuzz.sh image          (builds against build-fuzz/libg4plug_internal.a)
 * Seeds: fuzz/corpus/image.
 * fuzz-args: -max_len=16384
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "g4plug.h"
#include "media/mmproj.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256] = "";
    uint8_t *rgb = NULL;
    int w = -1, h = -1;
    int st = g4_image_decode(data, size, &rgb, &w, &h, err, sizeof err);
    if (st != G4_OK) {
        /* a refusal says why, hands back nothing, and uses a documented code */
        if (!err[0] || rgb || w || h)
            abort();
        if (st != G4_ERR_FORMAT && st != G4_ERR_UNSUPPORTED && st != G4_ERR_INVALID_ARGUMENT &&
            st != G4_ERR_OUT_OF_MEMORY)
            abort();
        return 0;
    }
    if (!rgb || w <= 0 || h <= 0 || w > G4_IMAGE_MAX_SIDE || h > G4_IMAGE_MAX_SIDE ||
        (int64_t)w * h > G4_IMAGE_MAX_PIXELS)
        abort();
    /* every decoded byte must be inside the allocation ASan knows about */
    const size_t stride = 3 * (size_t)w;
    volatile uint8_t sum = 0;
    for (size_t i = 0; i < stride * (size_t)h; i += 61)
        sum += rgb[i];
    sum += rgb[stride * (size_t)h - 1];
    /* what g4_embed_image does next: the budget rule and the bicubic resizer. The resize goes to
     * small sizes derived from the input (a full 70-token resize per input is 30x slower) */
    int tw = 0, th = 0;
    if (g4_image_target_size(w, h, 70, &tw, &th) == G4_OK && (tw <= 0 || th <= 0 || tw % 48 || th % 48))
        abort(); /* the budget rule yields whole 48-pixel tiles */
    if ((int64_t)w * h <= (1 << 18)) {
        const int dw = 1 + (w * 7 + h) % 40, dh = 1 + (h * 5 + w) % 40;
        uint8_t *dst = malloc(3 * (size_t)dw * (size_t)dh);
        if (dst) {
            if (g4_image_resize_bicubic(rgb, w, h, stride, dst, dw, dh, err, sizeof err) == G4_OK)
                sum += dst[3 * (size_t)dw * (size_t)dh - 1];
            free(dst);
        }
    }
    (void)sum;
    free(rgb);
    return 0;
}
