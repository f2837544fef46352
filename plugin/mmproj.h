/* Multimodal projector ("mmproj"): image and audio soft-token embedders, plus the media decoders
 * they need. Today: the 12B Unified encoder-free front-ends (llama.cpp projector types gemma4uv
 * and gemma4ua; spec gemma4-12b-unified.md §4-§5, §8.2). The E-series towers (gemma4v/gemma4a)
 * are recognised and refused with G4_ERR_UNSUPPORTED.
 *
 * Every function returning int returns a g4_status (G4_OK = 0, else a negative G4_ERR_*) and, on
 * failure, writes a NUL-terminated message into err (errlen bytes; err may be NULL). Nothing here
 * touches the thread's last-error string: the ABI layer (abi_embed.c) does that. */
#ifndef G4_MMPROJ_H
#define G4_MMPROJ_H

#include <stddef.h>
#include <stdint.h>

#include "g4plug.h"
#include "gguf.h"
#include "kernels.h"

typedef struct g4_mmproj g4_mmproj;

/* Builds the projector from an opened GGUF: a separate mmproj file, or the model GGUF itself when
 * it carries clip.* keys and v.* / mm.* tensors (Ollama single blobs). Weights stay in the
 * mapping, so `g` must outlive the projector. n_embd_text is the LM width every projection must
 * produce (mismatch -> error). NULL on failure (message in err); a file with neither vision nor
 * audio is an error too. */
g4_mmproj *g4_mmproj_load(const g4_gguf *g, int n_embd_text, char *err, size_t errlen);
void g4_mmproj_free(g4_mmproj *p);

int g4_mmproj_has_vision(const g4_mmproj *p);
int g4_mmproj_has_audio(const g4_mmproj *p);
int g4_mmproj_n_embd(const g4_mmproj *p); /* output width (= the LM's n_embd) */

/* ---- images ------------------------------------------------------------------------------ */
#define G4_IMAGE_DEFAULT_SOFT_TOKENS 280
#define G4_IMAGE_MAX_SIDE 32768              /* decoded / raw input limits */
#define G4_IMAGE_MAX_PIXELS (64ll << 20)

/* HF budget rule (gemma4-12b-unified.md §4.2): the (w, h) an image of w x h is resized to under a
 * budget of max_soft_tokens (0 = 280). Returns G4_OK or G4_ERR_INVALID_ARGUMENT. */
int g4_image_target_size(int w, int h, int max_soft_tokens, int *tw, int *th);

/* Soft-token count for a w x h image, or -1 if the request is invalid (no vision, bad size,
 * budget, or a grid beyond the position table). */
int64_t g4_mmproj_image_tokens(const g4_mmproj *p, int w, int h, int max_soft_tokens);

/* out: image_tokens * n_embd floats. rgb: h rows of w RGB8 pixels, `stride` bytes apart.
 * pool may be NULL (single-threaded). */
int g4_mmproj_embed_image(const g4_mmproj *p, g4k_pool *pool, const uint8_t *rgb, int w, int h,
                          size_t stride, int max_soft_tokens, float *out, char *err, size_t errlen);

/* Preprocessing only (tests, tools): the 6912-value tile vector of tile (tx, ty) of the resized
 * image, in HF order (HWC, [0,1]) - what the reference calls pixel_values_first_patch. */
int g4_image_tile_hwc(const uint8_t *rgb, int w, int h, size_t stride, int max_soft_tokens, int tx,
                      int ty, float *out6912, char *err, size_t errlen);

/* ---- audio ------------------------------------------------------------------------------- */
int64_t g4_mmproj_audio_tokens(const g4_mmproj *p, size_t n_samples_16k);
/* samples: mono 16 kHz floats in [-1, 1]; out: audio_tokens * n_embd floats. */
int g4_mmproj_embed_audio(const g4_mmproj *p, g4k_pool *pool, const float *samples_16k, size_t n,
                          float *out, char *err, size_t errlen);

/* ---- decoders ------------------------------------------------------------------------------ */
/* PNG / JPEG in memory -> malloc'd RGB8 (stride 3*w). Needs G4_HAVE_PNG / G4_HAVE_JPEG at build
 * time (else G4_ERR_UNSUPPORTED). Oversized declared dimensions are refused before allocating. */
int g4_image_decode(const void *bytes, size_t size, uint8_t **rgb, int *w, int *h, char *err,
                    size_t errlen);

/* Bicubic (a = -0.5) resize with antialias, torchvision semantics on uint8 input: separable,
 * horizontal pass then vertical pass in f32, clamp, round half-to-even. dst is dw x dh RGB8 with
 * stride 3*dw. Memory: a ring of a few horizontally resampled rows, never the whole image. */
int g4_image_resize_bicubic(const uint8_t *src, int sw, int sh, size_t sstride, uint8_t *dst,
                            int dw, int dh, char *err, size_t errlen);
/* The same with an explicit kernel variant (for parity tests): torch's native uint8 kernel (the
 * default, int16 weights), torch's f32 kernel (round at the end), Pillow's 22-bit fixed point. */
typedef enum g4_resize_mode {
    G4_RESIZE_TORCH_U8 = 0,
    G4_RESIZE_TORCH_F32 = 1,
    G4_RESIZE_PIL = 2
} g4_resize_mode;
#define G4_RESIZE_DEFAULT G4_RESIZE_TORCH_U8
int g4_image_resize_mode(const uint8_t *src, int sw, int sh, size_t sstride, uint8_t *dst, int dw,
                         int dh, g4_resize_mode mode, char *err, size_t errlen);

/* WAV (RIFF/WAVE; PCM 8/16/24/32-bit int, 32/64-bit float, WAVE_FORMAT_EXTENSIBLE) in memory ->
 * malloc'd mono f32 samples (channels averaged) and the file's sample rate. FLAC/OGG/MP3 are
 * recognised and refused with G4_ERR_UNSUPPORTED. */
int g4_audio_decode(const void *bytes, size_t size, float **samples, size_t *n, int *rate,
                    char *err, size_t errlen);

/* Band-limited resampling (Kaiser-windowed sinc) from in_rate to out_rate; *out is malloc'd
 * (a copy when the rates are equal). */
#define G4_AUDIO_MIN_RATE 4000
#define G4_AUDIO_MAX_RATE 384000
int g4_audio_resample(const float *in, size_t n, int in_rate, int out_rate, float **out,
                      size_t *n_out, char *err, size_t errlen);

/* ---- ABI-level entry points over an explicit projector ------------------------------------
 * What g4_embed_image / g4_embed_audio / *_file do once they have the model's projector, width
 * and pool: argument validation, two-call pattern, errors through g4_fail. p may be NULL (then
 * G4_ERR_UNSUPPORTED). Used by abi_embed.c and directly by the tests. */
g4_status g4_embed_image_mm(const g4_mmproj *p, g4k_pool *pool, const uint8_t *rgb, int32_t width,
                            int32_t height, size_t stride, const g4_image_options *opt, float *out,
                            size_t out_cap, size_t *n_tokens);
g4_status g4_embed_audio_mm(const g4_mmproj *p, g4k_pool *pool, const float *samples,
                            size_t n_samples, int32_t sample_rate, float *out, size_t out_cap,
                            size_t *n_tokens);
g4_status g4_embed_image_file_mm(const g4_mmproj *p, g4k_pool *pool, const void *bytes,
                                 size_t size, const g4_image_options *opt, float *out,
                                 size_t out_cap, size_t *n_tokens);
g4_status g4_embed_audio_file_mm(const g4_mmproj *p, g4k_pool *pool, const void *bytes,
                                 size_t size, float *out, size_t out_cap, size_t *n_tokens);

/* ---- layout (private to the mmproj_*.c / embed_*_unified.c files) ------------------------ */
#ifdef G4_MMPROJ_PRIVATE
struct g4_mmproj {
    int n_embd; /* LM width = rows of both projections */
    int has_vision, has_audio;

    /* gemma4uv: per 48x48 tile, LN -> Dense -> LN -> + pos[x] + pos[y] -> LN -> RMS -> Linear */
    int v_dim;      /* mm_embed_dim (3840 for the 12B) */
    int v_tile;     /* 48 = patch_size 16 x pooling 3 */
    int v_tile_len; /* 3 * 48 * 48 = 6912, CHW order in llama.cpp GGUFs */
    int v_n_pos;    /* entries per axis of the position table (1120) */
    float v_ln_eps, v_rms_eps;
    const float *ln1_w, *ln1_b; /* [v_tile_len] v.patch_norm.1 */
    const float *dense_b;       /* [v_dim] v.patch_embd.bias */
    const float *ln2_w, *ln2_b; /* [v_dim] v.patch_norm.2 */
    const float *ln3_w, *ln3_b; /* [v_dim] v.patch_norm.3 */
    const float *pos;           /* [2][v_n_pos][v_dim]: plane 0 = x (column), 1 = y (row) */
    g4k_matrix dense;           /* v.patch_embd.weight: v_tile_len -> v_dim */
    g4k_matrix vproj;           /* mm.input_projection.weight: v_dim -> n_embd */

    /* gemma4ua: per 640-sample frame, RMS (no weight) -> Linear */
    int a_frame;
    float a_rms_eps;
    g4k_matrix aproj; /* mm.a.input_projection.weight: a_frame -> n_embd */

    void *owned[12]; /* f32 copies of small tensors stored in other types */
    int n_owned;
};
#endif

#endif
