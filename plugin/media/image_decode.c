/* PNG (libpng) and JPEG (libjpeg-turbo) decoding from memory to RGB8, the way PIL's
 * Image.convert("RGB") sees them: palette and grey expanded, alpha dropped, 16-bit reduced to 8.
 * Both libraries report errors by longjmp; every error path here lands in one place that frees
 * what was allocated. Declared dimensions are checked before any pixel buffer is allocated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "media/mmproj.h"

#if defined(G4_HAVE_PNG)
#include <png.h>
#endif
#if defined(G4_HAVE_JPEG)
#include <jpeglib.h>
#include <jerror.h>
#endif


#if defined(G4_HAVE_PNG) || defined(G4_HAVE_JPEG)
static int dims_ok(uint64_t w, uint64_t h)
{
    return w > 0 && h > 0 && w <= G4_IMAGE_MAX_SIDE && h <= G4_IMAGE_MAX_SIDE &&
           w * h <= (uint64_t)G4_IMAGE_MAX_PIXELS;
}
#endif

/* ---- PNG --------------------------------------------------------------------------------- */
#if defined(G4_HAVE_PNG)
typedef struct png_src {
    const uint8_t *p;
    size_t n, off;
    char msg[160];
} png_src;

static void png_read_mem(png_structp png, png_bytep out, png_size_t len)
{
    png_src *s = png_get_io_ptr(png);
    if (len > s->n - s->off)
        png_error(png, "truncated PNG data");
    memcpy(out, s->p + s->off, len);
    s->off += len;
}

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_src *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* the library never prints */
}

static int decode_png(const uint8_t *bytes, size_t size, uint8_t **out, int *ow, int *oh,
                      char *err, size_t errlen)
{
    png_src src = {bytes, size, 0, ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
    if (!png)
        return g4_errbuf(err, errlen, G4_ERR_OUT_OF_MEMORY, "PNG: out of memory");
    png_infop info = png_create_info_struct(png);
    /* volatile: modified between setjmp and a possible longjmp back */
    uint8_t *volatile rgb = NULL;
    png_bytep *volatile rows = NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return g4_errbuf(err, errlen, G4_ERR_OUT_OF_MEMORY, "PNG: out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        free(rgb);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return g4_errbuf(err, errlen, G4_ERR_FORMAT, "PNG: %s", src.msg[0] ? src.msg : "corrupt file");
    }
    png_set_read_fn(png, &src, png_read_mem);
    png_set_user_limits(png, G4_IMAGE_MAX_SIDE, G4_IMAGE_MAX_SIDE);
    png_set_chunk_malloc_max(png, 64u << 20); /* ancillary chunks (iCCP, zTXt...) */
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (!dims_ok(w, h)) {
        png_destroy_read_struct(&png, &info, NULL);
        return g4_errbuf(err, errlen, G4_ERR_FORMAT, "PNG: image of %ux%u is too large",
                     (unsigned)w, (unsigned)h);
    }
    int ct = png_get_color_type(png, info), bd = png_get_bit_depth(png, info);
    if (bd == 16)
        png_set_strip_16(png);
    if (ct == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (ct == PNG_COLOR_TYPE_GRAY && bd < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    if (ct & PNG_COLOR_MASK_ALPHA)
        png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != 3 * (size_t)w)
        png_error(png, "unexpected row layout after conversion");
    rgb = malloc(3 * (size_t)w * h);
    rows = malloc(sizeof(png_bytep) * h);
    if (!rgb || !rows) {
        free(rgb);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return g4_errbuf(err, errlen, G4_ERR_OUT_OF_MEMORY, "PNG: out of memory for %ux%u pixels",
                     (unsigned)w, (unsigned)h);
    }
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = rgb + 3 * (size_t)w * y;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    *out = rgb;
    *ow = (int)w;
    *oh = (int)h;
    return G4_OK;
}
#endif

/* ---- JPEG -------------------------------------------------------------------------------- */
#if defined(G4_HAVE_JPEG)
typedef struct jpg_err {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jpg_err;

static void jpg_on_error(j_common_ptr cinfo)
{
    jpg_err *e = (jpg_err *)cinfo->err;
    cinfo->err->format_message(cinfo, e->msg);
    longjmp(e->jb, 1);
}

/* Warnings are silent, except a truncated stream: PIL refuses those too, and libjpeg would
 * otherwise hand back a half-grey image without complaint. */
static void jpg_on_message(j_common_ptr cinfo, int level)
{
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF)
        jpg_on_error(cinfo);
}

static int decode_jpeg(const uint8_t *bytes, size_t size, uint8_t **out, int *ow, int *oh,
                       char *err, size_t errlen)
{
    struct jpeg_decompress_struct cinfo;
    jpg_err je;
    uint8_t *volatile rgb = NULL;
    memset(&cinfo, 0, sizeof cinfo);
    je.msg[0] = '\0';
    cinfo.err = jpeg_std_error(&je.mgr);
    je.mgr.error_exit = jpg_on_error;
    je.mgr.emit_message = jpg_on_message;
    if (setjmp(je.jb)) {
        free(rgb);
        jpeg_destroy_decompress(&cinfo);
        return g4_errbuf(err, errlen, G4_ERR_FORMAT, "JPEG: %s", je.msg[0] ? je.msg : "corrupt file");
    }
    jpeg_create_decompress(&cinfo);
    cinfo.mem->max_memory_to_use = 512l << 20;
    jpeg_mem_src(&cinfo, bytes, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if (!dims_ok(cinfo.image_width, cinfo.image_height)) {
        unsigned w = cinfo.image_width, h = cinfo.image_height;
        jpeg_destroy_decompress(&cinfo);
        return g4_errbuf(err, errlen, G4_ERR_FORMAT, "JPEG: image of %ux%u is too large", w, h);
    }
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&cinfo);
        return g4_errbuf(err, errlen, G4_ERR_UNSUPPORTED, "JPEG: CMYK images are not supported");
    }
    cinfo.out_color_space = JCS_RGB; /* grey and YCbCr both convert */
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_components != 3) {
        jpeg_destroy_decompress(&cinfo);
        return g4_errbuf(err, errlen, G4_ERR_UNSUPPORTED, "JPEG: %d output components",
                     cinfo.output_components);
    }
    unsigned w = cinfo.output_width, h = cinfo.output_height;
    rgb = malloc(3 * (size_t)w * h);
    if (!rgb) {
        jpeg_destroy_decompress(&cinfo);
        return g4_errbuf(err, errlen, G4_ERR_OUT_OF_MEMORY, "JPEG: out of memory for %ux%u pixels",
                     w, h);
    }
    while (cinfo.output_scanline < h) {
        JSAMPROW row = rgb + 3 * (size_t)w * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    *out = rgb;
    *ow = (int)w;
    *oh = (int)h;
    return G4_OK;
}
#endif

int g4_image_decode(const void *bytes, size_t size, uint8_t **rgb, int *w, int *h, char *err,
                    size_t errlen)
{
    const uint8_t *b = bytes;
    if (!bytes || !rgb || !w || !h)
        return g4_errbuf(err, errlen, G4_ERR_INVALID_ARGUMENT, "image: NULL argument");
    *rgb = NULL;
    *w = *h = 0;
    if (size == 0)
        return g4_errbuf(err, errlen, G4_ERR_INVALID_ARGUMENT, "image: empty buffer");
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (size >= 8 && memcmp(b, png_sig, 8) == 0) {
#if defined(G4_HAVE_PNG)
        return decode_png(b, size, rgb, w, h, err, errlen);
#else
        return g4_errbuf(err, errlen, G4_ERR_UNSUPPORTED, "image: this build has no PNG support (libpng)");
#endif
    }
    if (size >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) {
#if defined(G4_HAVE_JPEG)
        return decode_jpeg(b, size, rgb, w, h, err, errlen);
#else
        return g4_errbuf(err, errlen, G4_ERR_UNSUPPORTED,
                     "image: this build has no JPEG support (libjpeg)");
#endif
    }
    if (size >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0))
        return g4_errbuf(err, errlen, G4_ERR_UNSUPPORTED, "image: GIF is not supported (PNG or JPEG)");
    if (size >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0)
        return g4_errbuf(err, errlen, G4_ERR_UNSUPPORTED, "image: WebP is not supported (PNG or JPEG)");
    if (size >= 2 && b[0] == 'B' && b[1] == 'M')
        return g4_errbuf(err, errlen, G4_ERR_UNSUPPORTED, "image: BMP is not supported (PNG or JPEG)");
    return g4_errbuf(err, errlen, G4_ERR_FORMAT, "image: not a PNG or JPEG file");
}
