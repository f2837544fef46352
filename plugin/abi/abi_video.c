/* ABI 1.1 video policy: g4_video_options_init_sized, g4_video_sample, g4_embed_video_frame,
 * g4_video_format.
 *
 * The library decodes no video container (see docs/VIDEO.md: hosts bring the frames, through
 * FFmpeg or anything else); what lives here is the policy every host must share so that a video
 * reaches the model as the reference processor (transformers' Gemma 4) lays it out:
 *   - which frames: indices = floor(i * T / n), the reference's arange(0, T, T / n), n = 32 by
 *     default or T / fps_src * fps when a rate is asked for; timestamps = index / fps_src;
 *   - each frame through the image path at a 70-token budget (configurable), soft token <|video|>;
 *   - per frame "mm:ss <|image>" + <|video|> x n + "<image|>", frames joined by a space;
 *   - the sound track (our addition; the reference has none for Gemma 4 video): its tokens split
 *     by time and each frame interval's share placed right after that frame, the way Qwen2.5-Omni's
 *     use_audio_in_video interleaves audio and video chunks by timestamp. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/internal.h"
#include "media/mmproj.h"
#include "model/model.h"

/* g4_video_options first appeared in 1.1: its smallest layout is the 1.1 one. */
#define VIDEO_OPTIONS_V1_1_SIZE G4_V1_0_SIZE(g4_video_options, reserved)

static void video_options_defaults(g4_video_options *d)
{
    memset(d, 0, sizeof *d);
    d->struct_size = sizeof *d;
    d->n_frames = G4_VIDEO_DEFAULT_FRAMES;
    d->frame_tokens = G4_VIDEO_DEFAULT_FRAME_TOKENS;
}

G4_API g4_status G4_CALL g4_video_options_init_sized(g4_video_options *o, size_t size)
{
    g4_video_options d;
    g4_clear_error();
    video_options_defaults(&d);
    return g4_struct_init(o, size, VIDEO_OPTIONS_V1_1_SIZE, &d, sizeof d, "g4_video_options");
}

static int budget_ok(int32_t s) { return s == 0 || s == 70 || s == 140 || s == 280 || s == 560 || s == 1120; }

/* Checks the options; a NULL pointer means the defaults. */
static g4_status get_options(const g4_video_options *o, const char *fn, g4_video_options *out)
{
    video_options_defaults(out);
    if (!o)
        return G4_OK;
    g4_video_options in;
    video_options_defaults(&in);
    g4_status st = g4_struct_in(&in, sizeof in, o, VIDEO_OPTIONS_V1_1_SIZE, "g4_video_options");
    if (st != G4_OK)
        return st;
    o = &in;
    if (o->n_frames < 0 || o->n_frames > G4_VIDEO_MAX_FRAMES)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "%s: n_frames is %d: use 1..%d (0 = %d)", fn,
                       (int)o->n_frames, G4_VIDEO_MAX_FRAMES, G4_VIDEO_DEFAULT_FRAMES);
    if (!(o->fps >= 0.0) || o->fps > 1000.0)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "%s: fps is %g: use a rate in (0, 1000], or 0 for "
                       "uniform sampling", fn, o->fps);
    if (o->max_frames < 0 || o->max_frames > G4_VIDEO_MAX_FRAMES)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "%s: max_frames is %d: use 1..%d (0 = %d)", fn,
                       (int)o->max_frames, G4_VIDEO_MAX_FRAMES, G4_VIDEO_MAX_FRAMES);
    if (!budget_ok(o->frame_tokens))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "%s: frame_tokens is %d: use 70, 140, 280, 560 or "
                       "1120 (0 = 70)", fn, (int)o->frame_tokens);
    if (o->flags & ~G4_VIDEO_NO_AUDIO)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "%s: unknown flags 0x%x", fn, (unsigned)o->flags);
    *out = *o;
    if (!out->n_frames)
        out->n_frames = G4_VIDEO_DEFAULT_FRAMES;
    if (!out->max_frames)
        out->max_frames = G4_VIDEO_MAX_FRAMES;
    if (!out->frame_tokens)
        out->frame_tokens = G4_VIDEO_DEFAULT_FRAME_TOKENS;
    return G4_OK;
}

G4_API g4_status G4_CALL g4_video_sample(const g4_video_options *o, int64_t n_source_frames,
                                         double source_fps, int64_t *indices, double *seconds,
                                         size_t cap, size_t *n_frames)
{
    g4_clear_error();
    if (!n_frames)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_video_sample: n_frames is NULL");
    *n_frames = 0;
    g4_video_options opt;
    g4_status st = get_options(o, "g4_video_sample", &opt);
    if (st != G4_OK)
        return st;
    if (n_source_frames <= 0)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_video_sample: the video has %lld frames",
                       (long long)n_source_frames);
    if (n_source_frames > ((int64_t)1 << 40))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_video_sample: %lld frames is not a real video",
                       (long long)n_source_frames);
    if (!(source_fps > 0.0) || !isfinite(source_fps))
        source_fps = 24.0; /* what the reference assumes when the metadata has no rate */
    if (source_fps > 10000.0)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_video_sample: a rate of %g frames/s is not a "
                       "real video", source_fps);
    const double T = (double)n_source_frames;
    double want = opt.fps > 0.0 ? floor(T / source_fps * opt.fps) : (double)opt.n_frames;
    if (want < 1.0)
        want = 1.0;
    if (want > T)
        want = T; /* the reference refuses; showing every frame is the useful answer */
    if (want > opt.max_frames)
        want = opt.max_frames;
    size_t n = (size_t)want;
    *n_frames = n;
    if (!indices && !seconds)
        return G4_OK;
    if (cap < n)
        return g4_fail(G4_ERR_BUFFER_TOO_SMALL, "g4_video_sample: %zu frames, cap is %zu", n, cap);
    const double step = T / (double)n;
    for (size_t i = 0; i < n; i++) {
        int64_t idx = (int64_t)floor((double)i * step);
        if (idx >= n_source_frames)
            idx = n_source_frames - 1;
        if (indices)
            indices[i] = idx;
        if (seconds)
            seconds[i] = (double)idx / source_fps;
    }
    return G4_OK;
}

G4_API g4_status G4_CALL g4_embed_video_frame(const g4_model *m, const uint8_t *rgb, int32_t width,
                                              int32_t height, size_t stride,
                                              const g4_video_options *o, float *out,
                                              size_t out_cap, size_t *n_tokens)
{
    const g4_mmproj *p;
    g4k_pool *pool;
    g4_status st = g4_abi_model_mm(m, "g4_embed_video_frame", &p, &pool);
    if (st != G4_OK)
        return st;
    if (!n_tokens)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_embed_video_frame: n_tokens is NULL");
    *n_tokens = 0;
    g4_video_options opt;
    if ((st = get_options(o, "g4_embed_video_frame", &opt)) != G4_OK)
        return st;
    g4_image_options io;
    g4_image_options_init(&io);
    io.max_soft_tokens = opt.frame_tokens;
    if (out || rgb)
        return g4_embed_image_mm(p, pool, rgb, width, height, stride, &io, out, out_cap, n_tokens);
    /* Sizing from the dimensions alone. */
    if (!p || !g4_mmproj_has_vision(p))
        return g4_fail(G4_ERR_UNSUPPORTED, "g4_embed_video_frame: the model has no vision "
                       "projector (load one with g4_load_params.mmproj)");
    if (width <= 0 || height <= 0 || width > G4_IMAGE_MAX_SIDE || height > G4_IMAGE_MAX_SIDE ||
        (int64_t)width * height > G4_IMAGE_MAX_PIXELS)
        return g4_fail(G4_ERR_INVALID_ARGUMENT,
                       "g4_embed_video_frame: frame size %dx%d is outside 1..%d per side / %lld "
                       "pixels", (int)width, (int)height, G4_IMAGE_MAX_SIDE,
                       (long long)G4_IMAGE_MAX_PIXELS);
    int64_t n = g4_mmproj_image_tokens(p, width, height, opt.frame_tokens);
    if (n <= 0)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_embed_video_frame: a %dx%d frame has no valid "
                       "size under a %d-token budget", (int)width, (int)height,
                       (int)opt.frame_tokens);
    *n_tokens = (size_t)n;
    return G4_OK;
}

/* ---- layout text ----------------------------------------------------------------------------- */
typedef struct sbuf {
    char *buf;
    size_t cap, len; /* len counts everything, also what did not fit */
} sbuf;

static void put(sbuf *s, const char *p, size_t n)
{
    if (s->len < s->cap) {
        size_t room = s->cap - s->len;
        memcpy(s->buf + s->len, p, n < room ? n : room);
    }
    s->len += n;
}
static void put_str(sbuf *s, const char *p) { put(s, p, strlen(p)); }
static void put_rep(sbuf *s, const char *p, int64_t n)
{
    size_t l = strlen(p);
    for (int64_t i = 0; i < n; i++)
        put(s, p, l);
}

/* The reference's f"{int(s // 60):02d}:{int(s % 60):02d}". */
static void put_timestamp(sbuf *s, double sec)
{
    if (sec < 0)
        sec = 0;
    char t[48];
    long long mm = (long long)floor(sec / 60.0);
    int ss = (int)fmod(sec, 60.0);
    snprintf(t, sizeof t, "%02lld:%02d ", mm, ss);
    put_str(s, t);
}

G4_API g4_status G4_CALL g4_video_format(const g4_model *m, const g4_video_layout *v, char *buf,
                                         size_t cap, size_t *len)
{
    g4_clear_error();
    if (!len)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_video_format: len is NULL");
    *len = 0;
    if (!g4_model_live(m))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_video_format: model is NULL or not a live handle");
    g4_status st = g4_check_struct(v, v ? v->struct_size : 0, sizeof *v, sizeof *v, "g4_video_layout");
    if (st != G4_OK)
        return st;
    if (g4_token_id(m, G4_TOKEN_VIDEO_SOFT) < 0 || g4_token_id(m, G4_TOKEN_IMAGE_START) < 0)
        return g4_fail(G4_ERR_UNSUPPORTED, "g4_video_format: the vocabulary has no <|video|> token");
    if (v->n_frames < 1 || v->n_frames > G4_VIDEO_MAX_FRAMES)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_video_format: n_frames is %d: use 1..%d",
                       (int)v->n_frames, G4_VIDEO_MAX_FRAMES);
    if (!v->seconds)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_video_format: seconds is NULL");
    for (int32_t i = 0; i < v->n_frames; i++)
        if (!isfinite(v->seconds[i]) || v->seconds[i] < 0 || v->seconds[i] > 1e7 ||
            (i && v->seconds[i] < v->seconds[i - 1]))
            return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_video_format: timestamp %d (%g s) is "
                           "negative, not finite or earlier than the one before", (int)i,
                           v->seconds[i]);
    if (v->frame_tokens < 1 || v->frame_tokens > 1120)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_video_format: frame_tokens is %d: use 1..1120",
                       (int)v->frame_tokens);
    const int64_t N = v->audio_tokens;
    if (N < 0 || N > ((int64_t)1 << 24)) /* 186 hours at 40 ms a token */
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_video_format: audio_tokens is %lld",
                       (long long)N);
    if (N > 0 && (!isfinite(v->duration) || !(v->duration > 0)))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_video_format: audio needs the clip's duration "
                       "(%g s)", v->duration);
    if (N > 0 && g4_token_id(m, G4_TOKEN_AUDIO_SOFT) < 0)
        return g4_fail(G4_ERR_UNSUPPORTED, "g4_video_format: the vocabulary has no <|audio|> token");

    sbuf s = {buf, buf ? cap : 0, 0};
    int64_t a_prev = 0;
    for (int32_t i = 0; i < v->n_frames; i++) {
        if (i)
            put_str(&s, " ");
        put_timestamp(&s, v->seconds[i]);
        put_str(&s, "<|image>");
        put_rep(&s, "<|video|>", v->frame_tokens);
        put_str(&s, "<image|>");
        if (N <= 0)
            continue;
        /* this frame's interval [seconds_i, seconds_i+1): tokens [a_prev, a_next) */
        int64_t a_next = N;
        if (i + 1 < v->n_frames) {
            double f = v->seconds[i + 1] / v->duration;
            a_next = f >= 1.0 ? N : (int64_t)llround(f * (double)N);
            if (a_next < a_prev)
                a_next = a_prev;
        }
        if (a_next > a_prev) {
            put_str(&s, "<|audio>");
            put_rep(&s, "<|audio|>", a_next - a_prev);
            put_str(&s, "<audio|>");
        }
        a_prev = a_next;
    }
    *len = s.len;
    if (!buf)
        return G4_OK;
    if (cap < s.len + 1)
        return g4_fail(G4_ERR_BUFFER_TOO_SMALL, "g4_video_format: needs %zu bytes, cap is %zu",
                       s.len + 1, cap);
    buf[s.len] = '\0';
    return G4_OK;
}
