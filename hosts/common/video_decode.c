/* video_decode — FFmpeg-backed decoding of a clip held in memory (see video_decode.h). */
#include "video_decode.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "g4plug.h"

static int fail(char *err, size_t errlen, int status, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return status;
}

#if !defined(G4_HAVE_FFMPEG)

int g4v_open(const void *bytes, size_t size, g4v_clip **out, g4v_info *info, char *err,
             size_t errlen)
{
    (void)bytes, (void)size, (void)info;
    if (out)
        *out = NULL;
    return fail(err, errlen, G4_ERR_UNSUPPORTED,
                "this program was built without FFmpeg (install the libavformat, libavcodec, "
                "libswscale and libswresample development packages and rebuild)");
}
int g4v_frame_at(g4v_clip *c, double seconds, uint8_t *rgb, char *err, size_t errlen)
{
    (void)c, (void)seconds, (void)rgb;
    return fail(err, errlen, G4_ERR_UNSUPPORTED, "built without FFmpeg");
}
int g4v_audio_16k(g4v_clip *c, double max_seconds, float **samples, size_t *n, char *err,
                  size_t errlen)
{
    (void)c, (void)max_seconds, (void)samples, (void)n;
    return fail(err, errlen, G4_ERR_UNSUPPORTED, "built without FFmpeg");
}
int64_t g4v_frames_decoded(const g4v_clip *c) { (void)c; return 0; }
void g4v_close(g4v_clip *c) { (void)c; }

#else

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>

/* Containers we open: the common video ones. Playlists (HLS, DASH, concat) are left out on
 * purpose: they name other files or URLs, and the hosts never fetch. */
#define FORMAT_WHITELIST "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,ogg,flv,mpeg,asf,gif,h264,hevc"

typedef struct memsrc {
    const uint8_t *p;
    size_t n, pos;
} memsrc;

struct g4v_clip {
    memsrc src;
    AVIOContext *io;
    AVFormatContext *fmt;
    AVCodecContext *dec;
    struct SwsContext *sws;
    int vs, as;            /* stream indices (as = -1: none) */
    int cw, ch;            /* coded (pre-rotation) size */
    g4v_info info;
    double start;          /* stream start time, seconds */
    double tb;             /* video time base, seconds */
    AVFrame *cur;          /* last decoded frame at or before the last request */
    double cur_t;
    AVFrame *next;         /* a decoded frame later than the last request */
    double next_t;
    AVPacket *pkt;
    int eof;               /* the decoder is drained */
    int64_t n_decoded;
    uint8_t *tmp;          /* coded-size RGB before rotation */
};

static int mem_read(void *opaque, uint8_t *buf, int size)
{
    memsrc *m = opaque;
    size_t left = m->n - m->pos;
    if (!left)
        return AVERROR_EOF;
    size_t k = (size_t)size < left ? (size_t)size : left;
    memcpy(buf, m->p + m->pos, k);
    m->pos += k;
    return (int)k;
}

static int64_t mem_seek(void *opaque, int64_t off, int whence)
{
    memsrc *m = opaque;
    if (whence & AVSEEK_SIZE)
        return (int64_t)m->n;
    whence &= ~AVSEEK_FORCE;
    int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (int64_t)m->pos
                 : whence == SEEK_END ? (int64_t)m->n : -1;
    if (base < 0 || off > INT64_MAX - base || base + off < 0 || base + off > (int64_t)m->n)
        return AVERROR(EINVAL);
    m->pos = (size_t)(base + off);
    return (int64_t)m->pos;
}

static const char *averr(int e, char *b, size_t n)
{
    av_strerror(e, b, n);
    return b;
}

void g4v_close(g4v_clip *c)
{
    if (!c)
        return;
    av_frame_free(&c->cur);
    av_frame_free(&c->next);
    av_packet_free(&c->pkt);
    sws_freeContext(c->sws);
    avcodec_free_context(&c->dec);
    avformat_close_input(&c->fmt);
    if (c->io) {
        av_freep(&c->io->buffer);
        avio_context_free(&c->io);
    }
    free(c->tmp);
    free(c);
}

/* Clockwise degrees from the stream's display matrix (what the ffmpeg tool applies). */
static int stream_rotation(const AVStream *st)
{
    const uint8_t *dm = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, NULL);
    if (!dm)
        return 0;
    double r = -av_display_rotation_get((const int32_t *)dm);
    if (isnan(r))
        return 0;
    int d = (int)lround(r / 90.0) * 90 % 360;
    return d < 0 ? d + 360 : d;
}

int g4v_open(const void *bytes, size_t size, g4v_clip **out, g4v_info *info, char *err,
             size_t errlen)
{
    char eb[128];
    if (!out || !info)
        return fail(err, errlen, G4_ERR_INVALID_ARGUMENT, "g4v_open: NULL argument");
    *out = NULL;
    if (!bytes || !size)
        return fail(err, errlen, G4_ERR_FORMAT, "the video file is empty");
    av_log_set_level(AV_LOG_QUIET);
    g4v_clip *c = calloc(1, sizeof *c);
    if (!c)
        return fail(err, errlen, G4_ERR_OUT_OF_MEMORY, "out of memory");
    c->src.p = bytes;
    c->src.n = size;
    c->as = -1;
    int rc = G4_ERR_OUT_OF_MEMORY;
    uint8_t *iobuf = av_malloc(1 << 16);
    c->io = iobuf ? avio_alloc_context(iobuf, 1 << 16, 0, &c->src, mem_read, NULL, mem_seek) : NULL;
    c->fmt = avformat_alloc_context();
    c->pkt = av_packet_alloc();
    if (!c->io || !c->fmt || !c->pkt) {
        if (!c->io)
            av_free(iobuf);
        rc = fail(err, errlen, rc, "out of memory");
        goto bad;
    }
    c->fmt->pb = c->io;
    c->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    c->fmt->format_whitelist = av_strdup(FORMAT_WHITELIST);
    c->fmt->protocol_whitelist = av_strdup("none"); /* nothing besides our memory reader */
    int e = avformat_open_input(&c->fmt, NULL, NULL, NULL);
    if (e < 0) {
        rc = fail(err, errlen, G4_ERR_FORMAT, "not a video file FFmpeg can read (%s)", averr(e, eb, sizeof eb));
        goto bad;
    }
    if ((e = avformat_find_stream_info(c->fmt, NULL)) < 0) {
        rc = fail(err, errlen, G4_ERR_FORMAT, "the video's streams cannot be read (%s)", averr(e, eb, sizeof eb));
        goto bad;
    }
    const AVCodec *codec = NULL;
    c->vs = av_find_best_stream(c->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (c->vs < 0 || !codec) {
        rc = fail(err, errlen, G4_ERR_FORMAT, c->vs == AVERROR_DECODER_NOT_FOUND
                 ? "the video stream's codec is not supported by this FFmpeg"
                 : "the file has no decodable video stream (none, or a zero-length one)");
        goto bad;
    }
    AVStream *st = c->fmt->streams[c->vs];
    c->as = av_find_best_stream(c->fmt, AVMEDIA_TYPE_AUDIO, -1, c->vs, NULL, 0);
    if (c->as < 0)
        c->as = -1;
    c->cw = st->codecpar->width;
    c->ch = st->codecpar->height;
    if (c->cw <= 0 || c->ch <= 0 || c->cw > G4V_MAX_SIDE || c->ch > G4V_MAX_SIDE ||
        (int64_t)c->cw * c->ch > G4V_MAX_PIXELS) {
        rc = fail(err, errlen, G4_ERR_FORMAT, "the video's frame size %dx%d is outside 1..%d per side / "
             "%lld pixels", c->cw, c->ch, G4V_MAX_SIDE, (long long)G4V_MAX_PIXELS);
        goto bad;
    }
    c->dec = avcodec_alloc_context3(codec);
    if (!c->dec) {
        rc = fail(err, errlen, rc, "out of memory");
        goto bad;
    }
    if ((e = avcodec_parameters_to_context(c->dec, st->codecpar)) < 0 ||
        (c->dec->thread_count = 1, e = avcodec_open2(c->dec, codec, NULL)) < 0) {
        rc = fail(err, errlen, G4_ERR_FORMAT, "the video decoder cannot start (%s)", averr(e, eb, sizeof eb));
        goto bad;
    }
    c->tb = av_q2d(st->time_base);
    if (!(c->tb > 0))
        c->tb = 1.0 / 90000;
    c->start = st->start_time != AV_NOPTS_VALUE ? st->start_time * c->tb : 0.0;
    g4v_info *in = &c->info;
    double fps = av_q2d(st->avg_frame_rate);
    if (!(fps > 0 && fps < 10000))
        fps = av_q2d(st->r_frame_rate);
    if (!(fps > 0 && fps < 10000))
        fps = 24.0; /* as the reference assumes */
    double dur = st->duration != AV_NOPTS_VALUE && st->duration > 0 ? st->duration * c->tb
               : c->fmt->duration > 0 ? c->fmt->duration / (double)AV_TIME_BASE : 0.0;
    int64_t nf = st->nb_frames > 0 ? st->nb_frames : (int64_t)llround(dur * fps);
    if (dur <= 0 && nf > 0)
        dur = nf / fps;
    if (nf <= 0 || !(dur > 0)) {
        rc = fail(err, errlen, G4_ERR_FORMAT, "the video stream has no frames (zero length)");
        goto bad;
    }
    if (st->nb_frames > 0 && fabs(nf / fps - dur) > 0.1 * dur + 2.0) {
        rc = fail(err, errlen, G4_ERR_FORMAT, "the video's header contradicts itself: %lld frames "
                  "at %.3g frames/s last %.0f s, but the stream says %.1f s", (long long)nf, fps,
                  nf / fps, dur);
        goto bad;
    }
    if (dur > G4V_MAX_SECONDS || nf > (int64_t)(G4V_MAX_SECONDS * 1000)) {
        rc = fail(err, errlen, G4_ERR_FORMAT, "the video says it lasts %.0f s (%lld frames), more than "
             "the %.0f h this decoder accepts", dur, (long long)nf, G4V_MAX_SECONDS / 3600);
        goto bad;
    }
    in->rotation = stream_rotation(st);
    in->width = in->rotation % 180 ? c->ch : c->cw;
    in->height = in->rotation % 180 ? c->cw : c->ch;
    in->fps = fps;
    in->duration = dur;
    in->n_frames = nf;
    in->has_audio = c->as >= 0;
    snprintf(in->codec, sizeof in->codec, "%s", codec->name);
    c->tmp = malloc((size_t)c->cw * c->ch * 3);
    c->cur = av_frame_alloc();
    c->next = av_frame_alloc();
    if (!c->tmp || !c->cur || !c->next) {
        rc = fail(err, errlen, rc, "out of memory");
        goto bad;
    }
    c->cur_t = c->next_t = -1;
    *info = *in;
    *out = c;
    return G4_OK;
bad:
    g4v_close(c);
    return rc;
}

int64_t g4v_frames_decoded(const g4v_clip *c) { return c ? c->n_decoded : 0; }

/* Next decoded video frame into f (its time in *t). 1: got one, 0: end of stream, <0: error. */
static int decode_next(g4v_clip *c, AVFrame *f, double *t)
{
    for (;;) {
        int e = avcodec_receive_frame(c->dec, f);
        if (e == 0) {
            int64_t ts = f->best_effort_timestamp != AV_NOPTS_VALUE ? f->best_effort_timestamp : f->pts;
            *t = ts != AV_NOPTS_VALUE ? ts * c->tb - c->start : (c->cur_t >= 0 ? c->cur_t + 1.0 / c->info.fps : 0.0);
            c->n_decoded++;
            return 1;
        }
        if (e == AVERROR_EOF)
            return 0;
        if (e != AVERROR(EAGAIN))
            return e;
        if (c->eof)
            return 0;
        for (;;) {
            e = av_read_frame(c->fmt, c->pkt);
            if (e < 0) {
                c->eof = 1;
                avcodec_send_packet(c->dec, NULL); /* drain */
                break;
            }
            if (c->pkt->stream_index == c->vs) {
                e = avcodec_send_packet(c->dec, c->pkt);
                av_packet_unref(c->pkt);
                if (e < 0 && e != AVERROR(EAGAIN) && e != AVERROR_INVALIDDATA)
                    return e;
                break;
            }
            av_packet_unref(c->pkt);
        }
    }
}

static void seek_to(g4v_clip *c, double t)
{
    int64_t ts = (int64_t)floor((t + c->start) / c->tb);
    av_seek_frame(c->fmt, c->vs, ts, AVSEEK_FLAG_BACKWARD);
    avcodec_flush_buffers(c->dec);
    av_frame_unref(c->cur);
    av_frame_unref(c->next);
    c->cur_t = c->next_t = -1;
    c->eof = 0;
}

/* cur -> rgb (rotated). */
static int convert(g4v_clip *c, uint8_t *rgb, char *err, size_t errlen)
{
    AVFrame *f = c->cur;
    c->sws = sws_getCachedContext(c->sws, f->width, f->height, f->format, c->cw, c->ch,
                                  AV_PIX_FMT_RGB24, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT,
                                  NULL, NULL, NULL);
    if (!c->sws)
        return fail(err, errlen, G4_ERR_FORMAT, "cannot convert %dx%d frames of pixel format %d to RGB",
                    f->width, f->height, f->format);
    /* The frame's own colour matrix and range (BT.709 HD video is not BT.601). */
    int cs = f->colorspace != AVCOL_SPC_UNSPECIFIED ? f->colorspace
           : (c->cw >= 1280 ? AVCOL_SPC_BT709 : AVCOL_SPC_BT470BG);
    const int *coef = sws_getCoefficients(cs);
    sws_setColorspaceDetails(c->sws, coef, f->color_range == AVCOL_RANGE_JPEG, coef, 1, 0, 1 << 16, 1 << 16);
    const int W = c->cw, H = c->ch;
    uint8_t *dst[4] = {c->info.rotation ? c->tmp : rgb, NULL, NULL, NULL};
    int dst_ls[4] = {3 * W, 0, 0, 0};
    if (sws_scale(c->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, dst_ls) <= 0)
        return fail(err, errlen, G4_ERR_FORMAT, "frame conversion failed");
    if (!c->info.rotation)
        return G4_OK;
    const int ow = c->info.width;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int ox, oy;
            switch (c->info.rotation) {
            case 90: ox = H - 1 - y; oy = x; break;
            case 180: ox = W - 1 - x; oy = H - 1 - y; break;
            default: ox = y; oy = W - 1 - x; break; /* 270 */
            }
            memcpy(rgb + ((size_t)oy * ow + ox) * 3, c->tmp + ((size_t)y * W + x) * 3, 3);
        }
    return G4_OK;
}

static void mmss(double t, char *b, size_t n)
{
    if (t < 0)
        t = 0;
    snprintf(b, n, "%02lld:%02d", (long long)(t / 60), (int)fmod(t, 60));
}

int g4v_frame_at(g4v_clip *c, double t, uint8_t *rgb, char *err, size_t errlen)
{
    char eb[128];
    if (!c || !rgb || !(t >= 0))
        return fail(err, errlen, G4_ERR_INVALID_ARGUMENT, "g4v_frame_at: bad argument");
    const double half = 0.5 / c->info.fps;
    /* Seek when going back, or when the target is more than a second past what we hold (a
     * keyframe is usually closer than decoding everything in between). */
    double have = c->next_t >= 0 ? c->next_t : c->cur_t;
    if ((c->cur_t >= 0 && t + half < c->cur_t) || (have < 0 && t > 1.0) || (have >= 0 && t > have + 1.0))
        seek_to(c, t);
    for (;;) {
        AVFrame *f;
        double ft = 0;
        if (c->next_t >= 0) {
            f = c->next;
            ft = c->next_t;
            c->next_t = -1;
        } else {
            f = c->next;
            av_frame_unref(f);
            int r = decode_next(c, f, &ft);
            if (r < 0)
                return fail(err, errlen, G4_ERR_FORMAT, "the video data is corrupt (%s)", averr(r, eb, sizeof eb));
            if (r == 0) {
                char a[24], b[24];
                mmss(t, a, sizeof a);
                mmss(c->cur_t, b, sizeof b);
                if (c->cur_t < 0)
                    return fail(err, errlen, G4_ERR_FORMAT, "no frame could be decoded at %s (the "
                                "file is truncated or corrupt)", a);
                if (t > c->cur_t + 1.0 + 2 * half)
                    return fail(err, errlen, G4_ERR_FORMAT, "the video ends at %s but the frame at "
                                "%s is needed: the file is shorter than its header says (%.1f s); "
                                "truncated?", b, a, c->info.duration);
                return convert(c, rgb, err, errlen);
            }
        }
        if (ft <= t + half || c->cur_t < 0) {
            /* f becomes the current frame (swap the two frame objects) */
            AVFrame *old = c->cur;
            c->cur = f;
            c->next = old;
            av_frame_unref(c->next);
            c->cur_t = ft;
            if (ft > t + half) /* the first frame after a seek is already later: show it */
                return convert(c, rgb, err, errlen);
            continue;
        }
        c->next_t = ft; /* keep it for a later request */
        return convert(c, rgb, err, errlen);
    }
}

int g4v_audio_16k(g4v_clip *c, double max_seconds, float **samples, size_t *n, char *err,
                  size_t errlen)
{
    char eb[128];
    if (!c || !samples || !n)
        return fail(err, errlen, G4_ERR_INVALID_ARGUMENT, "g4v_audio_16k: NULL argument");
    *samples = NULL;
    *n = 0;
    if (c->as < 0)
        return fail(err, errlen, G4_ERR_UNSUPPORTED, "the video has no sound track");
    AVStream *st = c->fmt->streams[c->as];
    const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
    if (!codec)
        return fail(err, errlen, G4_ERR_FORMAT, "the sound track's codec is not supported by this FFmpeg");
    AVCodecContext *dec = avcodec_alloc_context3(codec);
    SwrContext *swr = NULL;
    AVFrame *f = av_frame_alloc();
    float *buf = NULL;
    size_t len = 0, cap = 0;
    const size_t max_n = (size_t)(max_seconds * 16000.0);
    int rc = G4_OK, e;
    if (!dec || !f) {
        rc = fail(err, errlen, G4_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    if ((e = avcodec_parameters_to_context(dec, st->codecpar)) < 0 || (e = avcodec_open2(dec, codec, NULL)) < 0) {
        rc = fail(err, errlen, G4_ERR_FORMAT, "the audio decoder cannot start (%s)", averr(e, eb, sizeof eb));
        goto done;
    }
    AVChannelLayout in_layout, mono = AV_CHANNEL_LAYOUT_MONO;
    if (dec->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || av_channel_layout_check(&dec->ch_layout) == 0)
        av_channel_layout_default(&in_layout, dec->ch_layout.nb_channels > 0 ? dec->ch_layout.nb_channels : 1);
    else
        av_channel_layout_copy(&in_layout, &dec->ch_layout);
    if (dec->sample_rate <= 0 || dec->sample_rate > 768000 ||
        swr_alloc_set_opts2(&swr, &mono, AV_SAMPLE_FMT_FLT, 16000, &in_layout, dec->sample_fmt,
                            dec->sample_rate, 0, NULL) < 0 || swr_init(swr) < 0) {
        av_channel_layout_uninit(&in_layout);
        rc = fail(err, errlen, G4_ERR_FORMAT, "the sound track (%d Hz) cannot be resampled", dec->sample_rate);
        goto done;
    }
    av_channel_layout_uninit(&in_layout);
    /* One pass over the file from the start, audio packets only. */
    av_seek_frame(c->fmt, -1, 0, AVSEEK_FLAG_BACKWARD);
    int flushing = 0;
    for (;;) {
        if (!flushing) {
            e = av_read_frame(c->fmt, c->pkt);
            if (e < 0) {
                flushing = 1;
                avcodec_send_packet(dec, NULL);
            } else {
                if (c->pkt->stream_index == c->as)
                    avcodec_send_packet(dec, c->pkt); /* a bad packet is skipped, as players do */
                av_packet_unref(c->pkt);
            }
        }
        int got_any = 0;
        while ((e = avcodec_receive_frame(dec, f)) == 0) {
            got_any = 1;
            int out_max = swr_get_out_samples(swr, f->nb_samples);
            if (out_max < 0)
                out_max = 0;
            if (len + (size_t)out_max > cap) {
                size_t nc = (len + (size_t)out_max) * 2 + 16000;
                float *nb = realloc(buf, nc * sizeof *nb);
                if (!nb) {
                    rc = fail(err, errlen, G4_ERR_OUT_OF_MEMORY, "out of memory");
                    goto done;
                }
                buf = nb;
                cap = nc;
            }
            uint8_t *o[1] = {(uint8_t *)(buf + len)};
            int k = swr_convert(swr, o, out_max, (const uint8_t **)f->extended_data, f->nb_samples);
            av_frame_unref(f);
            if (k > 0)
                len += (size_t)k;
            if (len > max_n) {
                rc = fail(err, errlen, G4_ERR_INVALID_ARGUMENT, "the sound track runs past %.0f s",
                          max_seconds);
                goto done;
            }
        }
        if (flushing && !got_any)
            break;
    }
    /* what the resampler still holds */
    int tail = swr_get_out_samples(swr, 0);
    if (tail > 0) {
        float *nb = realloc(buf, (len + (size_t)tail + 1) * sizeof *nb);
        if (nb) {
            buf = nb;
            uint8_t *o[1] = {(uint8_t *)(buf + len)};
            int k = swr_convert(swr, o, tail, NULL, 0);
            if (k > 0)
                len += (size_t)k;
        }
    }
    /* the video decoder continues from a seek of its own */
    seek_to(c, 0);
done:
    swr_free(&swr);
    av_frame_free(&f);
    avcodec_free_context(&dec);
    if (rc != G4_OK) {
        free(buf);
        return rc;
    }
    *samples = buf;
    *n = len;
    return G4_OK;
}

#endif
