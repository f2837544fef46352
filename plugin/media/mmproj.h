/* Multimodal projector ("mmproj"): image and audio soft-token embedders, plus the media decoders
 * they need: the 12B Unified encoder-free front-ends (llama.cpp projector types gemma4uv and
 * gemma4ua; spec gemma4-12b-unified.md §4-§5, §8.2) and the E-series / 26B / 31B encoders
 * (gemma4v: the vision tower, gemma4a: the audio conformer; gemma4-architecture.md §4, §5, §9.3).
 * The public functions below dispatch on the projector type.
 *
 * Every function returning int returns a g4_status (G4_OK = 0, else a negative G4_ERR_*) and, on
 * failure, writes a NUL-terminated message into err (errlen bytes; err may be NULL). Nothing here
 * touches the thread's last-error string: the ABI layer (abi_embed.c) does that. */
#ifndef G4_MMPROJ_H
#define G4_MMPROJ_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "g4plug.h"
#include "gguf/gguf.h"
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

/* mmproj_precision.c: opt-in encoder precision (G4_MM_PRECISION_*, abi/g4plug.h). F32 is the
 * default and leaves everything as loaded (conformance). BF16 converts the float weights of the
 * encoders' linear layers once to bf16 copies and runs them through g4k_matmul_lowp (activations
 * rounded to bf16 where the CPU has vdpbf16ps), the vision tower's attention likewise; Q8
 * converts them to Q8_0 (per 32 weights an fp16 scale) and runs them through g4k_matmul's int8
 * GEMM (activations quantized to Q8_0 per 32), the tower's attention as bf16. Call once, right
 * after g4_mmproj_load and before any embedding (not thread-safe against embedders). pool may
 * be NULL. Errors: G4_ERR_INVALID_ARGUMENT (unknown precision, or a second change),
 * G4_ERR_OUT_OF_MEMORY (the projector is then unchanged). The documented error of each path
 * is in docs/BENCHMARKS.md ("Encoder precision"). */
int g4_mmproj_set_precision(g4_mmproj *p, g4k_pool *pool, int precision, char *err, size_t errlen);
int g4_mmproj_precision(const g4_mmproj *p);

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
/* Soft tokens for n samples at 16 kHz, -1 without audio. gemma4ua: one per 640 samples. gemma4a:
 * 25 per second (ceil(ceil(F/2)/2) over the F valid mel frames of every 30 s chunk); audio too
 * short for one frame (< 161 samples in a chunk) gives 0, and embedding it is an error. */
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
/* The model's projector (NULL when it has none) and pool, for the ABI entry points; fails (error
 * set, `fn` names the caller) for a dead handle or a projector of the wrong width. */
g4_status g4_abi_model_mm(const g4_model *m, const char *fn, const g4_mmproj **p, g4k_pool **pool);

/* ---- pieces of the gemma4a / gemma4v encoders, exposed for tests and tools ----------------- */
/* fft.c: n-point real FFT (n a power of two, 4..65536) through an n/2-point complex radix-2 FFT.
 * re/im receive bins 0..n/2. work: 2n doubles. */
typedef struct g4_rfft_plan {
    int n;
    double *cs; /* [n/2] cos(2 pi k / n) */
    double *sn; /* [n/2] sin(2 pi k / n) */
} g4_rfft_plan;
int g4_rfft_init(g4_rfft_plan *p, int n);
void g4_rfft_free(g4_rfft_plan *p);
void g4_rfft(const g4_rfft_plan *p, const double *x, double *re, double *im, double *work);

/* audio_mel.c: the gemma4a log-mel front end (spec §5.1; transformers Gemma4AudioFeatureExtractor).
 * 16 kHz, semicausal pad 160, frames of 321 cut every 160 with the last sample dropped, periodic
 * Hann 320, |rfft 512|, 128 HTK mel filters 0..8 kHz (no Slaney norm), log(mel + 1e-3). */
#define G4_MEL_BINS 128
#define G4_MEL_FFT 512
#define G4_MEL_HOP 160
#define G4_MEL_FRAME 320
#define G4_AUDIO_CHUNK_SAMPLES 480000 /* 30 s: longer audio is encoded in chunks (llama.cpp) */
/* fb[k * 128 + m]: weight of FFT bin k (0..256) in filter m (transformers mel_filter_bank). */
void g4_mel_filterbank(double *fb);
/* Frames transformers makes for n samples (after its padding to a multiple of 128 samples) and,
 * in *n_valid, how many of them are valid (their window ends inside the real audio). */
int64_t g4_mel_frames(size_t n, int64_t *n_valid);
/* Log-mel of frames [f0, f0 + nf): out[(f - f0) * 128 + m]; invalid frames are 0 (as HF masks
 * them). fb from g4_mel_filterbank. Returns G4_OK or G4_ERR_OUT_OF_MEMORY. */
int g4_log_mel(const float *x, size_t n, const double *fb, int64_t f0, int64_t nf, float *out);

/* embed_image_tower.c: 2-D RoPE (spec §4.2). Tables for positions 0..n-1 of one axis:
 * c/s[pos * hd/4 + i] = cos/sin(pos * theta^(-2i / (hd/2))), computed in double, stored f32.
 * g4_rope2d_head rotates one head in place: the first hd/2 values with the x (column) tables at
 * px, the second half with the y (row) tables at py; NEOX pairing (i, i + hd/4) in each half. */
void g4_rope2d_tables(int n, int hd, float theta, float *c, float *s);
void g4_rope2d_head(float *x, int hd, const float *cx, const float *sx, const float *cy,
                    const float *sy, int px, int py);
/* 3x3 average pooling of a ny x nx grid of d-vectors (row-major) into (ny/3) x (nx/3), times
 * scale (sqrt(d_v) in the model). */
void g4_pool3x3(const float *x, int nx, int ny, int d, float scale, float *out);

/* embed_audio_conformer.c: chunked local attention (spec §5.2.3) of n frames, n_head heads of hd:
 * q already scaled (q_scale * softplus(per_dim_scale)), k already scaled (k_scale); rk: the 13
 * projected relative-position rows [13][n_head * hd] (row p = distance 12 - p). Blocks of 12
 * queries see 24 context keys; Transformer-XL rel-shift; softcap 50; key j visible to query i iff
 * 0 <= i - j < 12 and 0 <= j < n. out: [n][n_head * hd]. */
void g4_audio_local_attention(g4k_pool *pool, const float *q, const float *k, const float *v,
                              const float *rk, int64_t n, int n_head, int hd, float *out);
/* The 13 sinusoidal relative-position rows (before relative_k_proj): [13][d], d even. */
void g4_audio_rel_pos_table(int d, float *out);

/* ---- layout (private to the mmproj_*.c / embed_*.c files) --------------------------------- */
#ifdef G4_MMPROJ_PRIVATE
#include "ops/ops.h"

enum { G4_MM_NONE = 0, G4_MM_UNIFIED = 1, G4_MM_TOWER = 2 };

/* ClippableLinear (spec §4.3): y = clamp(W clamp(x, in_min, in_max), out_min, out_max); the
 * bounds are +-inf when the *.input_min/... tensors are absent. */
typedef struct g4_clin {
    g4k_matrix w;
    float in_min, in_max, out_min, out_max;
    int clamp_in, clamp_out; /* any finite bound */
} g4_clin;
/* clippable_linear.c: y[n, rows] = clamp(W clamp(x)) through g4_linear (mode: the projector's
 * lin_mode); tmp[n, cols] holds the clamped input when clamp_in (tmp may be x: clamped in place). */
void g4_clin_run(g4k_pool *pool, g4_linear_mode mode, const g4_clin *L, const float *x, int64_t n, float *y, float *tmp);
/* The same with some clamps left to the caller, who fuses them into a row pass it makes anyway
 * (normalising, copying, the gate) while the rows are in L1, instead of a separate sweep over
 * memory: G4_CLIN_IN_DONE (x is already clamped to in_min/in_max), G4_CLIN_OUT_LATER (the caller
 * applies g4_clin_clamp_out to every output row before reading it). */
enum { G4_CLIN_IN_DONE = 1, G4_CLIN_OUT_LATER = 2 };
void g4_clin_linear(g4k_pool *pool, g4_linear_mode mode, const g4_clin *L, const float *x, int64_t n, float *y,
                    float *tmp, int flags);
static inline void g4_clin_clamp_out(const g4_clin *L, float *y, int64_t n)
{
    if (L->clamp_out)
        g4k_clamp_copy(y, y, n, L->out_min, L->out_max);
}
static inline void g4_clin_clamp_in(const g4_clin *L, const float *x, float *dst, int64_t n)
{
    if (L->clamp_in)
        g4k_clamp_copy(x, dst, n, L->in_min, L->in_max);
    else if (dst != x)
        memcpy(dst, x, sizeof(float) * (size_t)n);
}

typedef struct g4_vt_layer {
    g4_clin q, k, v, o, gate, up, down;
    const float *ln1, *attn_post_norm, *ln2, *ffn_post_norm; /* [d] */
    const float *q_norm, *k_norm;                            /* [hd] */
    float out_scale;                                         /* v.blk.N.out_scale, else 1 */
} g4_vt_layer;

typedef struct g4_vtower { /* gemma4v */
    int d, n_layer, n_head, hd, ff;
    int patch, merge;  /* 16, 3 */
    int n_pos;         /* entries per axis of the position table (10240) */
    float eps, theta;
    g4k_matrix patch_w;          /* v.patch_embd.weight [16,16,3,d] as d rows of 768 (CHW) */
    const float *pos;            /* [2][n_pos][d] */
    const float *std_bias, *std_scale; /* NULL unless standardize */
    g4k_matrix proj;             /* mm.input_projection.weight: d -> n_embd */
    g4_vt_layer *layers;
} g4_vtower;

typedef struct g4_at_layer {
    const float *ffn_norm[2], *ffn_post_norm[2];
    g4_clin ffn_up[2], ffn_down[2];
    const float *attn_pre_norm, *attn_post_norm, *norm_out;
    g4_clin q, k, v, o;
    g4k_matrix k_rel;
    const float *per_dim_scale; /* softplus already applied by the converter */
    const float *conv_pre_norm, *conv_norm; /* GGUF conv_norm / norm_conv (names swapped, §9.3) */
    g4_clin pw1, pw2;
    const float *conv_dw; /* [d][kernel] */
} g4_at_layer;

typedef struct g4_atower { /* gemma4a */
    int d, n_layer, n_head, hd, ff, n_out; /* 1024, 12, 8, 128, 4096, 1536 */
    int c0, c1;       /* SSCP channels (128, 32) */
    int f1, f2;       /* frequency width after each conv (64, 32) */
    int kernel;       /* depthwise conv taps (5) */
    float eps;
    const float *conv0, *conv1;     /* [c0][1][3][3], [c1][c0][3][3] */
    const float *norm0, *norm1;     /* [c0], [c1] LayerNorm weights */
    g4k_matrix in_proj;             /* a.input_projection: f2*c1 -> d */
    g4k_matrix out_proj;            /* a.pre_encode.out: d -> n_out */
    const float *out_bias;          /* [n_out] */
    g4k_matrix proj;                /* mm.a.input_projection: n_out -> n_embd */
    g4_at_layer *layers;
} g4_atower;

struct g4_mmproj {
    int n_embd; /* LM width = rows of both projections */
    int has_vision, has_audio;
    int v_kind, a_kind; /* G4_MM_UNIFIED or G4_MM_TOWER */

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

    g4_vtower vt; /* gemma4v */
    g4_atower at; /* gemma4a */

    /* Encoder precision (mmproj_precision.c): G4_MM_PRECISION_F32 (default: the weights as stored,
     * f32 activations for float weights) or an opt-in fast path, whose converted weight copies
     * the matrices above then point at (owned). lin_mode is what every encoder linear passes to
     * g4_linear: G4_LINEAR_KERNEL at F32, G4_LINEAR_LOWP at the opt-in precisions. */
    int precision;
    g4_linear_mode lin_mode;
    void *converted; /* one block holding every converted weight copy (NULL at F32) */

    void **owned; /* f32 copies of small tensors stored in other types, layer arrays */
    int n_owned, cap_owned;
};

/* The encoders behind the public functions (v_kind / a_kind == G4_MM_TOWER). */
int64_t g4_vtower_image_tokens(const g4_mmproj *p, int w, int h, int max_soft_tokens);
int g4_vtower_embed_image(const g4_mmproj *p, g4k_pool *pool, const uint8_t *rgb, int w, int h,
                          size_t stride, int max_soft_tokens, float *out, char *err, size_t errlen);
int64_t g4_atower_audio_tokens(const g4_mmproj *p, size_t n_samples_16k);
int g4_atower_embed_audio(const g4_mmproj *p, g4k_pool *pool, const float *samples_16k, size_t n,
                          float *out, char *err, size_t errlen);
#endif

#endif
