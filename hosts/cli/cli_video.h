/* The g4 CLI's video options (--video, --frames, --fps, --max-frames, --frame-tokens, --no-audio)
 * and the steps of `g4 run MODEL "..." --video clip.mp4` that are not prompt plumbing. */
#ifndef G4_CLI_VIDEO_H
#define G4_CLI_VIDEO_H

#include <stdint.h>

#include "g4plug.h"
#include "video_embed.h"

typedef struct cli_video_args {
    const char *path;   /* --video FILE */
    int32_t n_frames;   /* --frames N (0: the library's default, 32) */
    double fps;         /* --fps F (0: off) */
    int32_t max_frames; /* --max-frames N */
    int32_t frame_tokens; /* --frame-tokens B */
    int no_audio;       /* --no-audio */
} cli_video_args;

#define CLI_VIDEO_USAGE                                                                       \
    "  --video FILE         video (MP4/MKV/WebM/...) with its sound: frames + audio at <|video|>\n" \
    "                       in PROMPT, else first\n"                                            \
    "  --frames N           frames sampled uniformly over the clip (default 32)\n"               \
    "  --fps F              sample F frames per second instead (e.g. 1)\n"                      \
    "  --max-frames N       at most N frames\n"                                                 \
    "  --frame-tokens B     soft tokens per frame: 70 (default), 140, 280, 560, 1120\n"          \
    "  --no-audio           leave the video's sound track out\n"                                 \
    "  --show-prompt        print the laid-out prompt (timestamps, media runs) to stderr\n"

/* Consumes argv[*i] (and its value) if it is a video option; returns 1 then, else 0. A bad value
 * is a usage error: message on stderr, exit status 2. */
int cli_video_parse(int argc, char **argv, int *i, cli_video_args *v);

/* Reads and embeds the clip (progress on stderr), prints
 * "video FILE -> N frames, M soft tokens + K audio tokens in T ms". Returns 0 or a g4_status with
 * a message in err. */
int cli_video_embed(const g4_api_v1 *A, const g4_model *m, const cli_video_args *v,
                    int64_t token_room, g4v_embedded *e, char *err, size_t errlen);

/* Prints ids as text with control tokens rendered and runs of one soft token shortened to
 * "<|video|>x70" (stream: stderr). */
void cli_show_prompt(const g4_api_v1 *A, const g4_model *m, const int32_t *ids, size_t n);

#endif
