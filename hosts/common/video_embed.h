/* video_embed — a whole video clip into soft tokens and prompt text, for the hosts: FFmpeg
 * decoding (video_decode.h) + the library's video policy (g4_video_sample, g4_embed_video_frame,
 * g4_embed_audio, g4_video_format). The token count is known and checked against the room left
 * in the context before any frame is embedded.
 *
 * Use: g4v_embed_clip, then put e.text in the prompt where the video goes, tokenize the prompt
 * with G4_TOKENIZE_PARSE_SPECIAL, and g4v_spans over the video part's ids. */
#ifndef G4_VIDEO_EMBED_H
#define G4_VIDEO_EMBED_H

#include <stddef.h>
#include <stdint.h>

#include "g4plug.h"
#include "video_decode.h"

typedef struct g4v_embedded {
    char *text;           /* the video part's prompt text (g4_video_format) */
    size_t n_prompt;      /* its token count */
    int32_t n_frames;
    int64_t *indices;     /* [n_frames] sampled source frames */
    double *seconds;      /* [n_frames] their timestamps */
    size_t frame_tokens;  /* soft tokens per frame */
    float *frames;        /* n_frames x frame_tokens x n_embd */
    size_t audio_tokens;  /* 0: no audio in the prompt */
    float *audio;         /* audio_tokens x n_embd */
    int32_t n_embd;
    double ms;            /* wall time: decoding and embedding */
    g4v_info info;
    const char *audio_note; /* why there is no audio (static text), or NULL */
} g4v_embedded;

/* Called after each embedded frame (and once with done = 0 before the first); return 0 to stop
 * (the call then fails with G4_ERR_CANCELLED). */
typedef int (*g4v_progress_fn)(void *user, int done, int total);

/* Decodes and embeds the clip held in bytes. token_room: prompt tokens the video may take (the
 * context left); a clip that needs more is refused before embedding, with a message that says
 * how many it needs and which options reduce them. Returns 0 or a g4_status, message in err. */
int g4v_embed_clip(const g4_api_v1 *A, const g4_model *m, const void *bytes, size_t size,
                   const g4_video_options *o, int64_t token_room, g4v_progress_fn progress,
                   void *user, g4v_embedded *e, char *err, size_t errlen);
void g4v_embedded_free(g4v_embedded *e);

/* Spans over the video part's ids (ids[0..n) are the tokens of e->text; first_index is where
 * ids[0] sits in the batch): each run of <|video|> gets the next frame (G4_SPAN_VIDEO), each run
 * of <|audio|> the next audio rows (G4_SPAN_AUDIO). Writes up to cap spans; *n_spans = needed.
 * Returns 0 or G4_ERR_FORMAT / G4_ERR_BUFFER_TOO_SMALL with a message. */
int g4v_spans(const g4_api_v1 *A, const g4_model *m, const int32_t *ids, size_t n,
              int32_t first_index, const g4v_embedded *e, g4_embd_span *spans, size_t cap,
              size_t *n_spans, char *err, size_t errlen);

#endif
