/*
 * g4plug — Gemma 4 inference behind a small, stable C ABI.
 *
 * Conventions (see abi/ABI.md for the full stability promise):
 *  - Every function returns a g4_status (0 = G4_OK) unless it says otherwise. On failure the
 *    calling thread's last-error string (g4_last_error) says what went wrong.
 *  - Handles are opaque. The library allocates them and the matching *_free releases them;
 *    passing NULL to a *_free function is a no-op.
 *  - Every parameter struct starts with `uint32_t struct_size`; fill it with sizeof(struct) (the
 *    *_init helpers do). A larger struct_size than the library knows is accepted when the unknown
 *    tail is zero; a smaller one is accepted when it covers at least the version-1.0 fields.
 *  - g4_X_init(p) is a macro over g4_X_init_sized(p, sizeof *p) (since 1.1, as zlib's
 *    deflateInit passes the caller's sizeof): the library never writes past the caller's struct.
 *    The plain 1.0 functions of the same names still exist for hosts that dlsym them or call
 *    them through the 1.0 members of g4_api_v1; they fill exactly the 1.0 layout.
 *  - Pointers passed in are borrowed for the duration of the call only, unless stated.
 *    Pointers returned by the library are owned by it and valid until the stated event.
 *  - A g4_model is immutable after g4_load and may be shared by any number of threads.
 *    A g4_session is used by one thread at a time (g4_session_cancel may be called from any thread).
 *  - The library never aborts or exits the host process, never prints to stdout/stderr unless a
 *    log callback is installed (or G4_LOG=stderr is set), and never installs signal handlers.
 *  - Text is UTF-8. Token ids are int32_t. Sizes are size_t. Floats are IEEE-754 binary32.
 *
 * This header compiles as C89 and C++.
 */
#ifndef G4PLUG_H
#define G4PLUG_H

#include <stddef.h>

#if defined(_MSC_VER) && _MSC_VER < 1600
typedef unsigned __int8 uint8_t;
typedef __int32 int32_t;
typedef unsigned __int32 uint32_t;
typedef unsigned __int64 uint64_t;
#else
#include <stdint.h>
#endif

#if defined(_WIN32)
#  if defined(G4_BUILDING_LIBRARY)
#    define G4_API __declspec(dllexport)
#  else
#    define G4_API __declspec(dllimport)
#  endif
#  define G4_CALL __cdecl
#else
#  if defined(G4_BUILDING_LIBRARY)
#    define G4_API __attribute__((visibility("default")))
#  else
#    define G4_API
#  endif
#  define G4_CALL
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Versioning                                                                                  */
/* ------------------------------------------------------------------------------------------ */

#define G4_ABI_VERSION_MAJOR 1
#define G4_ABI_VERSION_MINOR 1
/* (major << 16) | minor. A host built against major M works with any library of major M and
 * minor >= the minor it needs (check g4_abi_version() at run time). */
#define G4_ABI_VERSION ((G4_ABI_VERSION_MAJOR << 16) | G4_ABI_VERSION_MINOR)

G4_API uint32_t G4_CALL g4_abi_version(void);
/* Library release, e.g. "1.0.0"; static string. */
G4_API const char *G4_CALL g4_version_string(void);

/* ------------------------------------------------------------------------------------------ */
/* Status codes and errors                                                                     */
/* ------------------------------------------------------------------------------------------ */

typedef int32_t g4_status;
#define G4_OK 0
#define G4_ERR_INVALID_ARGUMENT (-1) /* NULL where not allowed, bad struct_size, bad value */
#define G4_ERR_UNSUPPORTED (-2)      /* valid request this build/model cannot do */
#define G4_ERR_IO (-3)               /* file not found, unreadable */
#define G4_ERR_FORMAT (-4)           /* corrupt or unrecognised file contents */
#define G4_ERR_OUT_OF_MEMORY (-5)    /* allocation failed, or the estimate does not fit */
#define G4_ERR_CANCELLED (-6)        /* a progress callback or g4_session_cancel stopped it */
#define G4_ERR_CONTEXT_FULL (-7)     /* the batch would run past the session's context size */
#define G4_ERR_BUFFER_TOO_SMALL (-8) /* two-call pattern: the needed size was written */
#define G4_ERR_NOT_FOUND (-9)        /* model name could not be resolved */
#define G4_ERR_MISMATCH (-10)        /* drafter/projector does not belong to this model */
#define G4_ERR_STATE (-11)           /* call not valid in the object's current state */
#define G4_ERR_INTERNAL (-12)        /* a bug: please report it */

/* The last error message of the calling thread: never NULL ("" when none). Owned by the
 * library, valid until the next g4_* call on this thread. */
G4_API const char *G4_CALL g4_last_error(void);
/* Static English name of a status code ("G4_ERR_FORMAT"). */
G4_API const char *G4_CALL g4_status_name(g4_status s);

/* ------------------------------------------------------------------------------------------ */
/* Logging                                                                                     */
/* ------------------------------------------------------------------------------------------ */

#define G4_LOG_ERROR 0
#define G4_LOG_WARN 1
#define G4_LOG_INFO 2
#define G4_LOG_DEBUG 3

/* msg is NUL-terminated, without a trailing newline, valid during the call only.
 * May be called from library worker threads. */
typedef void(G4_CALL *g4_log_fn)(void *user_data, int32_t level, const char *msg);

/* Progress in [0, 1]. Return 0 to cancel (the call then fails with G4_ERR_CANCELLED and
 * frees everything it allocated), nonzero to continue. */
typedef int32_t(G4_CALL *g4_progress_fn)(void *user_data, float progress);

/* ------------------------------------------------------------------------------------------ */
/* Models                                                                                      */
/* ------------------------------------------------------------------------------------------ */

typedef struct g4_model g4_model;
typedef struct g4_session g4_session;
typedef struct g4_sampler g4_sampler;

/* flags for g4_load_params.flags */
#define G4_LOAD_NO_MMAP 0x1u     /* read weights into memory instead of mapping the file */
#define G4_LOAD_MLOCK 0x2u       /* lock mapped weights in RAM */
#define G4_LOAD_NO_MEMCHECK 0x4u /* skip the "does it fit in RAM" estimate check */
#define G4_LOAD_VOCAB_ONLY 0x8u  /* tokenizer and metadata only; no inference */

/* 1.1: encoders: values of g4_load_params.mm_precision, the arithmetic of the image/audio
 * encoders' linear layers (and the vision tower's attention). F32 (0, the default) is the
 * conformance path. BF16 and Q8 are opt-in faster paths that change results by a documented,
 * tested amount (docs/BENCHMARKS.md, "Encoder precision"): BF16 rounds weights and activations
 * to bf16 (AVX512-BF16), Q8 stores weights as Q8_0 and multiplies them with Q8_0 activations
 * (int8 dot products, as llama.cpp runs Q8_0 mmproj files). */
#define G4_MM_PRECISION_F32 0
#define G4_MM_PRECISION_BF16 1
#define G4_MM_PRECISION_Q8 2

typedef struct g4_load_params {
    uint32_t struct_size;
    uint32_t flags;           /* G4_LOAD_* */
    /* What to load. `model` is a GGUF path (split files: any shard), an LM Studio model folder,
     * or an Ollama name such as "gemma4:12b". mmproj/draft are optional paths (NULL: use what
     * the store provides beside the model, if anything). */
    const char *model;
    const char *mmproj;
    const char *draft;
    int32_t n_threads;        /* 0: physical (performance) cores */
    int32_t n_ctx;            /* default context size for sessions; 0: min(model's, 8192) */
    g4_progress_fn progress;  /* optional */
    void *progress_user_data;
    g4_log_fn log;            /* optional; NULL = silent */
    void *log_user_data;
    int32_t log_level;        /* highest level passed to `log` (G4_LOG_*) */
    int32_t reserved0;
    uint64_t max_memory;      /* refuse to load if the estimate exceeds this; 0 = available RAM */
    /* 1.1: encoders */
    int32_t mm_precision;     /* G4_MM_PRECISION_*: 0 = F32 (conformance); unknown values are refused */
} g4_load_params;

/* Fill defaults (sets struct_size). */
G4_API void G4_CALL g4_load_params_init(g4_load_params *p);
/* 1.1: fills defaults in the first `size` bytes only (size = the host's sizeof); G4_ERR_INVALID_ARGUMENT
 * when size is smaller than the 1.0 layout. */
G4_API g4_status G4_CALL g4_load_params_init_sized(g4_load_params *p, size_t size);
#define g4_load_params_init(p) g4_load_params_init_sized((p), sizeof *(p))

/* Load a model. On success *out receives a new handle (free with g4_model_free). */
G4_API g4_status G4_CALL g4_load(const g4_load_params *p, g4_model **out);
G4_API void G4_CALL g4_model_free(g4_model *m);

#define G4_MODEL_HAS_VISION 0x1u
#define G4_MODEL_HAS_AUDIO 0x2u
#define G4_MODEL_HAS_DRAFT 0x4u

typedef struct g4_model_info {
    uint32_t struct_size;
    uint32_t capabilities;   /* G4_MODEL_HAS_* */
    int32_t n_vocab;
    int32_t n_embd;          /* width of embeddings fed through g4_batch.embd */
    int32_t n_layer;
    int32_t n_ctx_train;
    int32_t n_ctx_default;   /* what sessions get when they ask for 0 */
    int32_t n_threads;
    char arch[32];           /* "gemma4" */
    char name[128];          /* general.name, truncated */
    char variant[32];        /* "E2B", "E4B", "12B", "26B-A4B", "31B", or "custom" */
    char isa[32];            /* kernel variant in use: "scalar", "avx2", "avx512", "neon" */
    uint64_t n_params;
    uint64_t weight_bytes;   /* bytes of weights (mapped) */
    uint64_t kv_bytes_per_token; /* KV cache growth per context position (full-attention layers) */
    uint64_t kv_bytes_fixed;     /* KV cache independent of context (sliding-window rings) */
    uint64_t mem_estimate;       /* weights + KV cache + scratch of one session at n_ctx_default */
} g4_model_info;

G4_API g4_status G4_CALL g4_model_get_info(const g4_model *m, g4_model_info *out);

/* Metadata value of `key` rendered as text (numbers in decimal, arrays abbreviated).
 * Two-call pattern: writes up to cap bytes incl. NUL, *len = bytes needed excl. NUL. */
G4_API g4_status G4_CALL g4_model_meta(const g4_model *m, const char *key, char *buf, size_t cap,
                                       size_t *len);

/* ------------------------------------------------------------------------------------------ */
/* Vocabulary                                                                                  */
/* ------------------------------------------------------------------------------------------ */

#define G4_TOKENIZE_ADD_BOS 0x1u       /* prepend <bos> */
#define G4_TOKENIZE_PARSE_SPECIAL 0x2u /* recognise control tokens such as <|turn> in the text
                                        (user-defined ones such as <|channel> always are) */

/* Two-call pattern: writes up to cap ids; *n_tokens = total needed. Returns
 * G4_ERR_BUFFER_TOO_SMALL (with *n_tokens set) when cap is too small. Invalid UTF-8 is
 * tokenized byte by byte (never an error). */
G4_API g4_status G4_CALL g4_tokenize(const g4_model *m, const char *text, size_t len, uint32_t flags,
                                     int32_t *tokens, size_t cap, size_t *n_tokens);

#define G4_DETOK_RENDER_SPECIAL 0x1u /* render control tokens (<turn|>, ...) as their text */

/* Text of a sequence of tokens (no NUL added; *len = bytes needed). A single token's piece may
 * be an incomplete UTF-8 sequence (byte tokens); decode whole sequences for display. */
G4_API g4_status G4_CALL g4_detokenize(const g4_model *m, const int32_t *tokens, size_t n,
                                       uint32_t flags, char *buf, size_t cap, size_t *len);
G4_API g4_status G4_CALL g4_token_to_piece(const g4_model *m, int32_t token, uint32_t flags,
                                           char *buf, size_t cap, size_t *len);

/* Well-known token ids; -1 when the vocabulary has none. */
#define G4_TOKEN_BOS 0
#define G4_TOKEN_EOS 1
#define G4_TOKEN_PAD 2
#define G4_TOKEN_TURN_START 3   /* <|turn> */
#define G4_TOKEN_TURN_END 4     /* <turn|> */
#define G4_TOKEN_IMAGE_START 5  /* <|image> */
#define G4_TOKEN_IMAGE_SOFT 6   /* <|image|> placeholder */
#define G4_TOKEN_IMAGE_END 7    /* <image|> */
#define G4_TOKEN_AUDIO_START 8  /* <|audio> */
#define G4_TOKEN_AUDIO_SOFT 9   /* <|audio|> placeholder */
#define G4_TOKEN_AUDIO_END 10   /* <audio|> */
#define G4_TOKEN_VIDEO_SOFT 11  /* 1.1: <|video|>, the soft token of a video frame (258884) */
G4_API int32_t G4_CALL g4_token_id(const g4_model *m, int32_t which);
/* 1 if generation should stop at this token (<eos>, <turn|>, <|tool_response>), else 0. */
G4_API int32_t G4_CALL g4_token_is_eog(const g4_model *m, int32_t token);
G4_API int32_t G4_CALL g4_vocab_size(const g4_model *m);
/* The model's Jinja chat template (NUL-terminated, owned by the model), or NULL. */
G4_API const char *G4_CALL g4_chat_template(const g4_model *m);

/* Build a Gemma 4 chat prompt. role: "system", "user", "model" (or "assistant").
 * In content, the markers "<|image|>" / "<|audio|>" stand where the media of that turn go;
 * g4_chat_format leaves them in place (the host expands each to start + soft tokens + end via
 * the embedding calls). add_generation_prompt appends "<|turn>model\n".
 * Two-call pattern; output is NUL-terminated text, *len excludes the NUL. */
typedef struct g4_chat_message {
    const char *role;
    const char *content;
} g4_chat_message;
#define G4_CHAT_ADD_GENERATION_PROMPT 0x1u
#define G4_CHAT_ENABLE_THINKING 0x2u
G4_API g4_status G4_CALL g4_chat_format(const g4_model *m, const g4_chat_message *msgs, size_t n,
                                        uint32_t flags, char *buf, size_t cap, size_t *len);

/* 1.1: special-token safe chat prompts. The same conversation as g4_chat_format, tokenized with
 * the template's own markers (<bos>, <|turn>, <turn|>, ...) as control tokens and each message
 * content as plain text: a user cannot fake a turn by typing "<|turn>system". (llama-server and
 * transformers render the template to text and parse every special token in it.) Flags: those
 * of g4_chat_format, plus
 *   G4_CHAT_PARSE_SPECIAL_IN_CONTENT  parse control tokens in contents too (the old behaviour);
 *   G4_CHAT_MEDIA_MARKERS             "<|image|>" / "<|audio|>" / "<|video|>" in contents become
 *                                     the image / audio / video placeholder ids (for hosts that
 *                                     put media there).
 * Benign conversations get exactly the ids of g4_tokenize(g4_chat_format(...), PARSE_SPECIAL).
 * Output starts with BOS. Two-call pattern (tokens == NULL: *n_tokens = the count). */
#define G4_CHAT_PARSE_SPECIAL_IN_CONTENT 0x4u
#define G4_CHAT_MEDIA_MARKERS 0x8u
G4_API g4_status G4_CALL g4_chat_tokenize(const g4_model *m, const g4_chat_message *msgs, size_t n,
                                          uint32_t flags, int32_t *tokens, size_t cap, size_t *n_tokens);
/* 1.1: tools, thinking and structured chat.
 * g4_chat_format_json renders an OpenAI-style conversation exactly as Gemma 4's official chat
 * template does, tools included: `messages_json` is a JSON array of messages ({"role": "system" |
 * "developer" | "user" | "assistant" | "model" | "tool", "content": string or parts
 * [{"type":"text","text":...}, {"type":"image"|"image_url"}, {"type":"audio"|"input_audio"}],
 * "tool_calls": [{"id":..., "function": {"name":..., "arguments": object}}], "tool_call_id",
 * "reasoning_content"}); `tools_json` is NULL or a JSON array of OpenAI tools ({"type":"function",
 * "function": {"name", "description", "parameters": JSON Schema}}). Image/audio parts become the
 * <|image|> / <|audio|> markers. Arguments given as a JSON *string* are inserted verbatim, as the
 * template does: parse them to an object first. Same output conventions as g4_chat_format. */
G4_API g4_status G4_CALL g4_chat_format_json(const g4_model *m, const char *messages_json, size_t messages_len,
                                             const char *tools_json, size_t tools_len, uint32_t flags,
                                             char *buf, size_t cap, size_t *len);

/* Split generated text (detokenized with G4_DETOK_RENDER_SPECIAL) into its parts, as JSON:
 *   {"content": "...", "reasoning_content": "...", "tool_calls": [{"name": "...", "arguments": {...}}]}
 * "reasoning_content" is present when the text has a <|channel>thought ... <channel|> block (an
 * unterminated one runs to the end); each <|tool_call>call:NAME{...}<tool_call|> becomes a call
 * with its Gemma-notation arguments converted to JSON. Channel and tool markers never remain in
 * "content"; a call whose arguments do not parse stays in "content" as text (without markers).
 * flags: 0. Two-call pattern, NUL-terminated. */
/* 1.1: g4_chat_format_json's conversation as token ids, the way g4_chat_tokenize does it: the
 * template's markers are control tokens; message texts, tool-call argument strings, tool results'
 * strings and tool descriptions are plain text (G4_CHAT_PARSE_SPECIAL_IN_CONTENT parses them too;
 * G4_CHAT_MEDIA_MARKERS as for g4_chat_tokenize; image/audio parts always become placeholders).
 * Output starts with BOS. Two-call pattern (tokens == NULL: *n_tokens = the count). */
G4_API g4_status G4_CALL g4_chat_tokenize_json(const g4_model *m, const char *messages_json, size_t messages_len,
                                               const char *tools_json, size_t tools_len, uint32_t flags,
                                               int32_t *tokens, size_t cap, size_t *n_tokens);

G4_API g4_status G4_CALL g4_chat_parse(const g4_model *m, const char *text, size_t len, uint32_t flags, char *buf,
                                       size_t cap, size_t *out_len);

/* ------------------------------------------------------------------------------------------ */
/* Multimodal embeddings                                                                       */
/* ------------------------------------------------------------------------------------------ */

typedef struct g4_image_options {
    uint32_t struct_size;
    int32_t max_soft_tokens; /* 70, 140, 280 (default when 0), 560 or 1120 */
} g4_image_options;
G4_API void G4_CALL g4_image_options_init(g4_image_options *o);
/* 1.1: fills defaults in the first `size` bytes only (size = the host's sizeof); G4_ERR_INVALID_ARGUMENT
 * when size is smaller than the 1.0 layout. */
G4_API g4_status G4_CALL g4_image_options_init_sized(g4_image_options *o, size_t size);
#define g4_image_options_init(o) g4_image_options_init_sized((o), sizeof *(o))

/* Image soft tokens from 8-bit RGB pixels (row stride in bytes, >= 3*width).
 * Output: n_tokens rows of n_embd floats, to be passed in a g4_batch at positions whose token is
 * G4_TOKEN_IMAGE_SOFT. Two-call pattern: call with out == NULL to get *n_tokens; then with
 * out_cap >= n_tokens * n_embd floats. G4_ERR_UNSUPPORTED if the model has no vision. */
G4_API g4_status G4_CALL g4_embed_image(const g4_model *m, const uint8_t *rgb, int32_t width,
                                        int32_t height, size_t stride, const g4_image_options *opt,
                                        float *out, size_t out_cap, size_t *n_tokens);

/* Audio soft tokens from mono float samples in [-1, 1]. Any sample rate is accepted and
 * resampled to 16 kHz (rates outside 4 kHz..384 kHz are G4_ERR_INVALID_ARGUMENT). Same output
 * and two-call conventions as g4_embed_image. */
G4_API g4_status G4_CALL g4_embed_audio(const g4_model *m, const float *samples, size_t n_samples,
                                        int32_t sample_rate, float *out, size_t out_cap,
                                        size_t *n_tokens);

/* Decode an image file (PNG/JPEG) or audio file (WAV; FLAC, OGG and MP3 are recognised and refused
 * with G4_ERR_UNSUPPORTED) held in memory and embed it: a convenience for hosts that have file
 * bytes. Same output conventions. */
G4_API g4_status G4_CALL g4_embed_image_file(const g4_model *m, const void *bytes, size_t size,
                                             const g4_image_options *opt, float *out,
                                             size_t out_cap, size_t *n_tokens);
G4_API g4_status G4_CALL g4_embed_audio_file(const g4_model *m, const void *bytes, size_t size,
                                             float *out, size_t out_cap, size_t *n_tokens);

/* ------------------------------------------------------------------------------------------ */
/* Video (1.1)                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* The library does not decode video containers: the host decodes (FFmpeg, a platform API, a
 * camera) and uses these calls for the policy, so that every host lays a video out the same way
 * as the reference processor (transformers' Gemma 4):
 *   1. g4_video_sample picks the frames to show (uniform, or by rate) and their timestamps;
 *   2. g4_embed_video_frame embeds each decoded frame (the image path at the frame budget);
 *   3. g4_embed_audio embeds the sound track (16 kHz mono after resampling), when kept;
 *   4. g4_video_format lays the video part out as prompt text: per frame "mm:ss " + <|image> +
 *      <|video|> x n + <image|>, then that frame interval's audio tokens as <|audio> + <|audio|> x k
 *      + <audio|>; frames joined by a space. The host tokenizes the text with
 *      G4_TOKENIZE_PARSE_SPECIAL, gives each run of <|video|> the next frame's embeddings
 *      (G4_SPAN_VIDEO) and each run of <|audio|> the next rows of the track's embeddings
 *      (G4_SPAN_AUDIO), in order. */
#define G4_VIDEO_DEFAULT_FRAMES 32       /* the reference's num_frames */
#define G4_VIDEO_DEFAULT_FRAME_TOKENS 70 /* the reference's per-frame max_soft_tokens */
#define G4_VIDEO_MAX_FRAMES 7200         /* hard cap on sampled frames (2 h at 1 fps) */
#define G4_VIDEO_NO_AUDIO 0x1u           /* g4_video_options.flags: leave the sound track out */

typedef struct g4_video_options {
    uint32_t struct_size;
    int32_t n_frames;     /* frames sampled uniformly over the clip; 0: 32 (ignored when fps > 0) */
    double fps;           /* > 0: sample this many frames per second of video instead */
    int32_t max_frames;   /* at most this many frames (0: G4_VIDEO_MAX_FRAMES) */
    int32_t frame_tokens; /* soft-token budget per frame: 70 (default when 0), 140, 280, 560, 1120 */
    uint32_t flags;       /* G4_VIDEO_* */
    uint32_t reserved;
} g4_video_options;
/* Fill defaults; size is sizeof the caller's struct (use the macro). Writes at most size bytes. */
G4_API g4_status G4_CALL g4_video_options_init_sized(g4_video_options *o, size_t size);
#define g4_video_options_init(o) g4_video_options_init_sized((o), sizeof *(o))

/* The frames to show of a stream of n_source_frames frames at source_fps (<= 0: 24, as the
 * reference assumes). Uniform: index_i = floor(i * T / n) for i < n, n = min(n_frames, T);
 * by rate: n = floor(T / source_fps * fps) (at least 1), then the same rule. n is then capped by
 * max_frames. seconds_i = index_i / source_fps. Two-call pattern: indices/seconds may be NULL
 * with cap 0 to learn *n_frames. */
G4_API g4_status G4_CALL g4_video_sample(const g4_video_options *o, int64_t n_source_frames,
                                         double source_fps, int64_t *indices, double *seconds,
                                         size_t cap, size_t *n_frames);

/* Soft tokens of one decoded video frame (8-bit RGB, as g4_embed_image) at o->frame_tokens: the
 * same embeddings as g4_embed_image at that budget, for positions G4_TOKEN_VIDEO_SOFT in a
 * G4_SPAN_VIDEO span. Two-call pattern; the sizing call (out == NULL) accepts rgb == NULL, so a
 * host can size a whole video from its frame dimensions before decoding anything. */
G4_API g4_status G4_CALL g4_embed_video_frame(const g4_model *m, const uint8_t *rgb, int32_t width,
                                              int32_t height, size_t stride,
                                              const g4_video_options *o, float *out,
                                              size_t out_cap, size_t *n_tokens);

/* One video part of a prompt, for g4_video_format. */
typedef struct g4_video_layout {
    uint32_t struct_size;
    int32_t n_frames;          /* sampled frames (>= 1) */
    const double *seconds;     /* [n_frames] timestamps, non-decreasing */
    int32_t frame_tokens;      /* soft tokens per frame (from g4_embed_video_frame) */
    int32_t reserved;
    int64_t audio_tokens;      /* soft tokens of the whole sound track; 0: none */
    double duration;           /* seconds of the clip (> 0 when audio_tokens > 0) */
} g4_video_layout;

/* The prompt text of a video part (NUL-terminated; *len excludes the NUL; two-call pattern).
 * Audio placement: the track's tokens are split by time, frame i getting the tokens that cover
 * [seconds_i, seconds_i+1) (the first frame also what precedes it, the last frame everything to
 * the end), right after that frame's <image|>. */
G4_API g4_status G4_CALL g4_video_format(const g4_model *m, const g4_video_layout *v, char *buf,
                                         size_t cap, size_t *len);

/* ------------------------------------------------------------------------------------------ */
/* Sessions: KV cache, stepping, rollback                                                      */
/* ------------------------------------------------------------------------------------------ */

typedef struct g4_session_params {
    uint32_t struct_size;
    int32_t n_ctx;      /* 0: the model's n_ctx_default */
    int32_t n_threads;  /* 0: the model's thread count */
    uint32_t flags;     /* reserved, 0 */
    /* 1.1: KV cache storage types, G4_KV_TYPE_* (ggml type ids). The default 0 is f32 (exact);
     * f16/bf16 halve the cache, q8_0 (head dims multiples of 32) takes 34/128 of f32. */
    int32_t kv_type_k;
    int32_t kv_type_v;
} g4_session_params;
#define G4_KV_TYPE_F32 0
#define G4_KV_TYPE_F16 1
#define G4_KV_TYPE_Q8_0 8
#define G4_KV_TYPE_BF16 30
G4_API void G4_CALL g4_session_params_init(g4_session_params *p);
/* 1.1: fills defaults in the first `size` bytes only (size = the host's sizeof); G4_ERR_INVALID_ARGUMENT
 * when size is smaller than the 1.0 layout. */
G4_API g4_status G4_CALL g4_session_params_init_sized(g4_session_params *p, size_t size);
#define g4_session_params_init(p) g4_session_params_init_sized((p), sizeof *(p))

G4_API g4_status G4_CALL g4_session_new(const g4_model *m, const g4_session_params *p,
                                        g4_session **out);
G4_API void G4_CALL g4_session_free(g4_session *s);
/* Forget everything (position 0). */
G4_API g4_status G4_CALL g4_session_reset(g4_session *s);
/* Number of positions in the cache (the next token's position). */
G4_API int32_t G4_CALL g4_session_n_past(const g4_session *s);
G4_API int32_t G4_CALL g4_session_n_ctx(const g4_session *s);
/* Roll back to n_past = n (0 <= n <= current); also anchors drafting at position n - 1 (see
 * g4_draft). Sliding-window layers stay correct: the cache
 * keeps enough history to roll back; G4_ERR_STATE if n is further back than what is kept
 * (see g4_session_min_rollback). */
G4_API g4_status G4_CALL g4_session_truncate(g4_session *s, int32_t n);
/* Smallest n accepted by g4_session_truncate right now. */
G4_API int32_t G4_CALL g4_session_min_rollback(const g4_session *s);
/* Ask a running g4_step/g4_generate on this session to stop (thread-safe, async-signal-safe).
 * The step then returns G4_ERR_CANCELLED and the session is rolled back to before that step. */
G4_API void G4_CALL g4_session_cancel(g4_session *s);

/* A span of soft-token embeddings inside a batch. */
#define G4_SPAN_IMAGE 1 /* bidirectional within the span on sliding layers (12B/26B/31B) */
#define G4_SPAN_AUDIO 2 /* causal */
#define G4_SPAN_VIDEO 3 /* 1.1: one video frame; bidirectional within the span like an image */
typedef struct g4_embd_span {
    int32_t first;      /* index in the batch of the first position it covers */
    int32_t n;          /* number of positions */
    int32_t kind;       /* G4_SPAN_* */
    int32_t reserved;
    const float *embd;  /* n * n_embd floats (from g4_embed_image / g4_embed_audio) */
} g4_embd_span;

/* Output selection for g4_batch.want */
#define G4_OUT_NONE 0
#define G4_OUT_LOGITS 1  /* logits (after the final softcap) */
#define G4_OUT_HIDDEN 2  /* final-normed hidden state (n_embd) */

typedef struct g4_batch {
    uint32_t struct_size;
    int32_t n_tokens;          /* positions in this batch; they continue at g4_session_n_past */
    const int32_t *tokens;     /* [n_tokens]; at span positions the placeholder id (e.g. <|image|>) */
    const uint8_t *want;       /* [n_tokens] G4_OUT_* bits per position; NULL = logits for the last */
    const g4_embd_span *spans; /* optional, sorted, non-overlapping, inside [0, n_tokens) */
    int32_t n_spans;
    int32_t reserved;
} g4_batch;
G4_API void G4_CALL g4_batch_init(g4_batch *b);
/* 1.1: fills defaults in the first `size` bytes only (size = the host's sizeof); G4_ERR_INVALID_ARGUMENT
 * when size is smaller than the 1.0 layout. */
G4_API g4_status G4_CALL g4_batch_init_sized(g4_batch *b, size_t size);
#define g4_batch_init(b) g4_batch_init_sized((b), sizeof *(b))

/* Run the model over the batch, appending to the cache. On error the cache is unchanged.
 * G4_ERR_CONTEXT_FULL if n_past + n_tokens > n_ctx; G4_ERR_INVALID_ARGUMENT for an
 * out-of-range token or a bad span. */
G4_API g4_status G4_CALL g4_step(g4_session *s, const g4_batch *b);

/* Outputs of the last g4_step, by batch index. NULL if not requested. Owned by the session,
 * valid until the next g4_step / g4_draft / truncate / reset / free on it. */
G4_API const float *G4_CALL g4_logits(const g4_session *s, int32_t batch_index);
G4_API const float *G4_CALL g4_hidden(const g4_session *s, int32_t batch_index);

/* ------------------------------------------------------------------------------------------ */
/* Sampling                                                                                    */
/* ------------------------------------------------------------------------------------------ */

typedef struct g4_sampler_params {
    uint32_t struct_size;
    float temperature;      /* <= 0: greedy (argmax); default 0.8 */
    int32_t top_k;          /* <= 0: off; default 64 */
    float top_p;            /* >= 1: off; default 0.95 */
    float min_p;            /* <= 0: off; default 0.0 */
    float repeat_penalty;   /* 1: off; default 1.0 */
    int32_t repeat_last_n;  /* tokens of history the penalty looks at; default 64 */
    uint32_t reserved;
    uint64_t seed;          /* same seed + same logits => same tokens */
} g4_sampler_params;
G4_API void G4_CALL g4_sampler_params_init(g4_sampler_params *p);
/* 1.1: fills defaults in the first `size` bytes only (size = the host's sizeof); G4_ERR_INVALID_ARGUMENT
 * when size is smaller than the 1.0 layout. */
G4_API g4_status G4_CALL g4_sampler_params_init_sized(g4_sampler_params *p, size_t size);
#define g4_sampler_params_init(p) g4_sampler_params_init_sized((p), sizeof *(p))

G4_API g4_status G4_CALL g4_sampler_new(const g4_sampler_params *p, g4_sampler **out);
G4_API void G4_CALL g4_sampler_free(g4_sampler *smp);
/* Pick a token from n_vocab logits. The sampler remembers accepted tokens for the repeat
 * penalty (g4_sampler_accept); it never modifies `logits`. */
G4_API g4_status G4_CALL g4_sampler_sample(g4_sampler *smp, const float *logits, int32_t n_vocab,
                                           int32_t *token);
G4_API g4_status G4_CALL g4_sampler_accept(g4_sampler *smp, int32_t token);
G4_API g4_status G4_CALL g4_sampler_reset(g4_sampler *smp);

/* 1.1: grammar-constrained sampling. A g4_grammar follows one generation: g4_grammar_apply sets
 * the logits of every token the grammar does not allow next to -INFINITY (end-of-generation
 * tokens are allowed exactly when the grammar is complete), g4_grammar_accept advances it by
 * the chosen token. Token masks come from a byte trie over the vocabulary (built once per model)
 * and are cached per grammar state. One thread at a time per grammar.
 * Kinds:
 *   G4_GRAMMAR_JSON_SCHEMA  text is a JSON Schema: object, properties, required,
 *       additionalProperties, array/items/minItems/maxItems, enum, const, string (minLength,
 *       maxLength), number, integer, boolean, null, anyOf/oneOf, $defs/definitions + $ref.
 *       Output is compact JSON (an optional space after ':' and ','), properties in schema order;
 *       an object schema without additionalProperties admits only its listed properties.
 *       Keywords it cannot enforce (pattern, minimum, allOf, ...) give G4_ERR_UNSUPPORTED.
 *   G4_GRAMMAR_JSON_OBJECT  any JSON object (text ignored; may be NULL).
 *   G4_GRAMMAR_TOOL_CALL    text is an OpenAI tools array: exactly one Gemma 4 tool call
 *       <|tool_call>call:NAME{args}<tool_call|> of one of the tools, args following its
 *       parameters schema in Gemma's notation.
 * G4_ERR_INVALID_ARGUMENT for text that is not valid JSON or not a valid schema. */
typedef struct g4_grammar g4_grammar;
#define G4_GRAMMAR_JSON_SCHEMA 1
#define G4_GRAMMAR_JSON_OBJECT 2
#define G4_GRAMMAR_TOOL_CALL 3
G4_API g4_status G4_CALL g4_grammar_new(const g4_model *m, int32_t kind, const char *text, size_t len,
                                        g4_grammar **out);
G4_API void G4_CALL g4_grammar_free(g4_grammar *g);
/* Back to the start (a new generation). */
G4_API g4_status G4_CALL g4_grammar_reset(g4_grammar *g);
/* G4_ERR_STATE when no token can continue (or the grammar has ended). */
G4_API g4_status G4_CALL g4_grammar_apply(g4_grammar *g, float *logits, int32_t n_vocab);
/* G4_ERR_INVALID_ARGUMENT (state unchanged) when the grammar does not allow the token. */
G4_API g4_status G4_CALL g4_grammar_accept(g4_grammar *g, int32_t token);
/* 1 when the text so far is a complete sentence of the grammar, else 0. */
G4_API int32_t G4_CALL g4_grammar_is_complete(const g4_grammar *g);

/* ------------------------------------------------------------------------------------------ */
/* MTP drafting and speculative generation                                                     */
/* ------------------------------------------------------------------------------------------ */

/* Propose up to k tokens with the model's drafter (loaded via g4_load_params.draft) from the
 * session's current state, without changing its cache. `last_token` is the token just chosen by
 * the target and not yet stepped; every proposal is made at position n_past (MTP drafts "from one
 * position"). The drafter starts from a target hidden state kept exactly as transformers'
 * assisted generation keeps it (the reference Gemma 4's drafters are specified by):
 *   - after a g4_step, the final hidden state of that batch's FIRST position (for a one-token
 *     step, position n_past - 1);
 *   - after g4_session_truncate(n), that of position n - 1 (the last accepted row of a verify
 *     step), which the most recent g4_step must have computed;
 * and it also attends to a rolled-back K/V entry still in the slot at n_past (a rejected draft).
 * g4_generate drives this state itself. G4_ERR_STATE when the needed hidden state is not
 * available. Greedy proposals. *n_out <= k. */
G4_API g4_status G4_CALL g4_draft(g4_session *s, int32_t last_token, int32_t k, int32_t *out_tokens,
                                  int32_t *n_out);

/* Streaming callback for g4_generate: called once per emitted token, in order. Return 0 to stop. */
typedef int32_t(G4_CALL *g4_token_fn)(void *user_data, int32_t token);

typedef struct g4_generate_params {
    uint32_t struct_size;
    int32_t max_tokens;         /* stop after this many emitted tokens */
    int32_t n_draft;            /* max drafted tokens per round; 0 = no drafting; -1 = adaptive */
    int32_t stop_at_eog;        /* nonzero: stop after an end-of-generation token (default 1) */
    const g4_sampler_params *sampling; /* NULL: greedy */
    g4_token_fn on_token;
    void *user_data;
    /* 1.1: optional grammar (reset by the caller, advanced by g4_generate). With a grammar,
     * generation does not draft (n_draft is ignored) and ends when the grammar completes. */
    g4_grammar *grammar;
} g4_generate_params;
G4_API void G4_CALL g4_generate_params_init(g4_generate_params *p);
/* 1.1: fills defaults in the first `size` bytes only (size = the host's sizeof); G4_ERR_INVALID_ARGUMENT
 * when size is smaller than the 1.0 layout. */
G4_API g4_status G4_CALL g4_generate_params_init_sized(g4_generate_params *p, size_t size);
#define g4_generate_params_init(p) g4_generate_params_init_sized((p), sizeof *(p))

typedef struct g4_generate_stats {
    uint32_t struct_size;
    int32_t n_generated;
    int32_t n_drafted;
    int32_t n_accepted;
    int32_t n_target_steps;
    double seconds;
} g4_generate_stats;

/* Generate after the prompt already stepped into the session (the last g4_step must have
 * requested logits for its last position). With a drafter and n_draft != 0, runs lossless
 * speculative decoding: greedy output is identical to plain greedy decoding. stats may be NULL. */
G4_API g4_status G4_CALL g4_generate(g4_session *s, const g4_generate_params *p,
                                     g4_generate_stats *stats);

/* ------------------------------------------------------------------------------------------ */
/* Introspection for conformance testing                                                       */
/* ------------------------------------------------------------------------------------------ */

/* When enabled, the next g4_step records the residual stream entering layer 0 and leaving each
 * layer (n_layer + 1 entries, n_embd floats each) for every batch position. */
G4_API g4_status G4_CALL g4_session_capture_layers(g4_session *s, int32_t enable);
/* Recorded state: entry 0..n_layer, batch index. NULL if not recorded. Same lifetime as
 * g4_logits. */
G4_API const float *G4_CALL g4_captured_layer(const g4_session *s, int32_t entry,
                                              int32_t batch_index);

/* ------------------------------------------------------------------------------------------ */
/* Plugin manifest                                                                             */
/* ------------------------------------------------------------------------------------------ */

/* Validate an LM Studio-style plugin manifest (JSON text) against g4plug's schema.
 * G4_OK if valid; G4_ERR_FORMAT with a message naming the first problem otherwise. */
G4_API g4_status G4_CALL g4_manifest_check(const char *json, size_t len);

/* ------------------------------------------------------------------------------------------ */
/* Single-symbol function table                                                                */
/* ------------------------------------------------------------------------------------------ */

/* Version 1 table. New minor versions only append members; check struct_size before using a
 * member added after 1.0. */
typedef struct g4_api_v1 {
    uint32_t struct_size;
    uint32_t abi_version;
    uint32_t(G4_CALL *abi_version_fn)(void);
    const char *(G4_CALL *version_string)(void);
    const char *(G4_CALL *last_error)(void);
    const char *(G4_CALL *status_name)(g4_status);
    void(G4_CALL *load_params_init)(g4_load_params *);
    g4_status(G4_CALL *load)(const g4_load_params *, g4_model **);
    void(G4_CALL *model_free)(g4_model *);
    g4_status(G4_CALL *model_get_info)(const g4_model *, g4_model_info *);
    g4_status(G4_CALL *model_meta)(const g4_model *, const char *, char *, size_t, size_t *);
    g4_status(G4_CALL *tokenize)(const g4_model *, const char *, size_t, uint32_t, int32_t *,
                                 size_t, size_t *);
    g4_status(G4_CALL *detokenize)(const g4_model *, const int32_t *, size_t, uint32_t, char *,
                                   size_t, size_t *);
    g4_status(G4_CALL *token_to_piece)(const g4_model *, int32_t, uint32_t, char *, size_t,
                                       size_t *);
    int32_t(G4_CALL *token_id)(const g4_model *, int32_t);
    int32_t(G4_CALL *token_is_eog)(const g4_model *, int32_t);
    int32_t(G4_CALL *vocab_size)(const g4_model *);
    const char *(G4_CALL *chat_template)(const g4_model *);
    g4_status(G4_CALL *chat_format)(const g4_model *, const g4_chat_message *, size_t, uint32_t,
                                    char *, size_t, size_t *);
    void(G4_CALL *image_options_init)(g4_image_options *);
    g4_status(G4_CALL *embed_image)(const g4_model *, const uint8_t *, int32_t, int32_t, size_t,
                                    const g4_image_options *, float *, size_t, size_t *);
    g4_status(G4_CALL *embed_audio)(const g4_model *, const float *, size_t, int32_t, float *,
                                    size_t, size_t *);
    g4_status(G4_CALL *embed_image_file)(const g4_model *, const void *, size_t,
                                         const g4_image_options *, float *, size_t, size_t *);
    g4_status(G4_CALL *embed_audio_file)(const g4_model *, const void *, size_t, float *, size_t,
                                         size_t *);
    void(G4_CALL *session_params_init)(g4_session_params *);
    g4_status(G4_CALL *session_new)(const g4_model *, const g4_session_params *, g4_session **);
    void(G4_CALL *session_free)(g4_session *);
    g4_status(G4_CALL *session_reset)(g4_session *);
    int32_t(G4_CALL *session_n_past)(const g4_session *);
    int32_t(G4_CALL *session_n_ctx)(const g4_session *);
    g4_status(G4_CALL *session_truncate)(g4_session *, int32_t);
    int32_t(G4_CALL *session_min_rollback)(const g4_session *);
    void(G4_CALL *session_cancel)(g4_session *);
    void(G4_CALL *batch_init)(g4_batch *);
    g4_status(G4_CALL *step)(g4_session *, const g4_batch *);
    const float *(G4_CALL *logits)(const g4_session *, int32_t);
    const float *(G4_CALL *hidden)(const g4_session *, int32_t);
    void(G4_CALL *sampler_params_init)(g4_sampler_params *);
    g4_status(G4_CALL *sampler_new)(const g4_sampler_params *, g4_sampler **);
    void(G4_CALL *sampler_free)(g4_sampler *);
    g4_status(G4_CALL *sampler_sample)(g4_sampler *, const float *, int32_t, int32_t *);
    g4_status(G4_CALL *sampler_accept)(g4_sampler *, int32_t);
    g4_status(G4_CALL *sampler_reset)(g4_sampler *);
    g4_status(G4_CALL *draft)(g4_session *, int32_t, int32_t, int32_t *, int32_t *);
    void(G4_CALL *generate_params_init)(g4_generate_params *);
    g4_status(G4_CALL *generate)(g4_session *, const g4_generate_params *, g4_generate_stats *);
    g4_status(G4_CALL *session_capture_layers)(g4_session *, int32_t);
    const float *(G4_CALL *captured_layer)(const g4_session *, int32_t, int32_t);
    g4_status(G4_CALL *manifest_check)(const char *, size_t);
    /* 1.1: struct initialisers that take the caller's sizeof (prefer these to the 1.0 members
     * above, which fill only the 1.0 layout) */
    g4_status(G4_CALL *load_params_init_sized)(g4_load_params *, size_t);
    g4_status(G4_CALL *image_options_init_sized)(g4_image_options *, size_t);
    g4_status(G4_CALL *session_params_init_sized)(g4_session_params *, size_t);
    g4_status(G4_CALL *batch_init_sized)(g4_batch *, size_t);
    g4_status(G4_CALL *sampler_params_init_sized)(g4_sampler_params *, size_t);
    g4_status(G4_CALL *generate_params_init_sized)(g4_generate_params *, size_t);
    /* 1.1: special-token safe chat prompts */
    g4_status(G4_CALL *chat_tokenize)(const g4_model *, const g4_chat_message *, size_t, uint32_t,
                                      int32_t *, size_t, size_t *);
    /* 1.1: tools, thinking and structured chat */
    g4_status(G4_CALL *chat_format_json)(const g4_model *, const char *, size_t, const char *, size_t, uint32_t,
                                         char *, size_t, size_t *);
    g4_status(G4_CALL *chat_parse)(const g4_model *, const char *, size_t, uint32_t, char *, size_t, size_t *);
    g4_status(G4_CALL *grammar_new)(const g4_model *, int32_t, const char *, size_t, g4_grammar **);
    void(G4_CALL *grammar_free)(g4_grammar *);
    g4_status(G4_CALL *grammar_reset)(g4_grammar *);
    g4_status(G4_CALL *grammar_apply)(g4_grammar *, float *, int32_t);
    g4_status(G4_CALL *grammar_accept)(g4_grammar *, int32_t);
    int32_t(G4_CALL *grammar_is_complete)(const g4_grammar *);
    g4_status(G4_CALL *chat_tokenize_json)(const g4_model *, const char *, size_t, const char *, size_t, uint32_t,
                                           int32_t *, size_t, size_t *);
    /* 1.1: video */
    g4_status(G4_CALL *video_options_init_sized)(g4_video_options *, size_t);
    g4_status(G4_CALL *video_sample)(const g4_video_options *, int64_t, double, int64_t *,
                                     double *, size_t, size_t *);
    g4_status(G4_CALL *embed_video_frame)(const g4_model *, const uint8_t *, int32_t, int32_t,
                                          size_t, const g4_video_options *, float *, size_t,
                                          size_t *);
    g4_status(G4_CALL *video_format)(const g4_model *, const g4_video_layout *, char *, size_t,
                                     size_t *);
} g4_api_v1;

/* 1 if the table t (from g4_get_api) has `member`: members added after 1.0 exist only in
 * libraries of that minor version or later. */
#define G4_API_HAS(t, member) \
    ((t)->struct_size >= offsetof(g4_api_v1, member) + sizeof((t)->member) && (t)->member != NULL)

/* *out receives a static table for ABI major version `major` (only 1 exists).
 * G4_ERR_UNSUPPORTED for an unknown major. */
G4_API g4_status G4_CALL g4_get_api(uint32_t major, const void **out);

#ifdef __cplusplus
}
#endif

#endif /* G4PLUG_H */
