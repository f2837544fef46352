/* video_decode — a video container held in memory, decoded with FFmpeg's libraries
 * (libavformat, libavcodec, libswscale, libswresample) for the hosts.
 *
 * Why here and not in the library: the library's ABI takes decoded frames and samples
 * (g4_embed_video_frame, g4_embed_audio) plus the layout policy (g4_video_sample,
 * g4_video_format), so any host (a browser shell with WebCodecs, a phone with its platform
 * decoder, a server with its own FFmpeg) uses it without FFmpeg. FFmpeg is large, changes ABI every
 * major release and parses hostile input; keeping it out of libg4plug keeps the library's
 * dependencies, attack surface and ABI stable, and lets each host link the FFmpeg it ships.
 * See docs/VIDEO.md.
 *
 * Built without FFmpeg (no -DG4_HAVE_FFMPEG), g4v_open fails with G4_ERR_UNSUPPORTED. */
#ifndef G4_VIDEO_DECODE_H
#define G4_VIDEO_DECODE_H

#include <stddef.h>
#include <stdint.h>

typedef struct g4v_clip g4v_clip;

typedef struct g4v_info {
    int width, height;   /* displayed frame size (rotation applied) */
    int rotation;        /* clockwise degrees applied to decoded frames: 0, 90, 180 or 270 */
    int64_t n_frames;    /* frames of the video stream (from the header, or duration x fps) */
    double fps;          /* average frame rate (24 when the file does not say, as the reference) */
    double duration;     /* seconds */
    int has_audio;       /* 1 if there is an audio stream */
    char codec[32];      /* video codec name */
} g4v_info;

/* Limits checked by g4v_open before any frame is decoded. */
#define G4V_MAX_SIDE 16384
#define G4V_MAX_PIXELS (64ll << 20)
#define G4V_MAX_SECONDS (12.0 * 3600.0)

/* Opens a clip held in memory (bytes must stay valid until g4v_close). Returns 0 (G4_OK) or a
 * g4_status with a message in err. */
int g4v_open(const void *bytes, size_t size, g4v_clip **out, g4v_info *info, char *err,
             size_t errlen);

/* The frame displayed at `seconds` from the start (the last frame whose timestamp is not later;
 * the first frame when none is), as 8-bit RGB, info.width x info.height, stride 3 x width, into
 * rgb. Calls must come in non-decreasing time for speed (the decoder seeks forward past gaps of
 * more than a second and never decodes every frame of a long clip); earlier times seek back. */
int g4v_frame_at(g4v_clip *c, double seconds, uint8_t *rgb, char *err, size_t errlen);

/* The whole sound track, resampled to 16 kHz mono float in [-1, 1] (*samples malloc'd; *n may be
 * 0 for an empty track). G4_ERR_UNSUPPORTED when the clip has no audio stream; G4_ERR_INVALID_ARGUMENT
 * when the track runs past max_seconds. */
int g4v_audio_16k(g4v_clip *c, double max_seconds, float **samples, size_t *n, char *err,
                  size_t errlen);

/* Frames decoded so far (a measure of the seeking). */
int64_t g4v_frames_decoded(const g4v_clip *c);

void g4v_close(g4v_clip *c);

#endif
