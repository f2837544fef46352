/* srv_video — see srv_video.h. */
#include "srv_video.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int srv_video_expand(const g4_api_v1 *A, const g4_model *m, const srv_media *md, int64_t token_room,
                     g4v_embedded *e, int32_t **ids, size_t *n_ids, g4_embd_span **spans,
                     size_t *n_spans, char *err, size_t errlen)
{
    *ids = NULL;
    *spans = NULL;
    *n_ids = *n_spans = 0;
    g4_video_options o;
    A->video_options_init_sized(&o, sizeof o);
    if (md->frames)
        o.n_frames = md->frames;
    if (md->max_frames)
        o.max_frames = md->max_frames;
    if (md->frame_tokens)
        o.frame_tokens = md->frame_tokens;
    o.fps = md->fps;
    if (md->no_audio)
        o.flags |= G4_VIDEO_NO_AUDIO;
    int rc = g4v_embed_clip(A, m, md->data, md->size, &o, token_room, NULL, NULL, e, err, errlen);
    if (rc != G4_OK)
        return rc;
    size_t n = 0, len = strlen(e->text);
    g4_status st = A->tokenize(m, e->text, len, G4_TOKENIZE_PARSE_SPECIAL, NULL, 0, &n);
    int32_t *t = (st == G4_OK || st == G4_ERR_BUFFER_TOO_SMALL) ? malloc(sizeof *t * (n + 1)) : NULL;
    if (!t || A->tokenize(m, e->text, len, G4_TOKENIZE_PARSE_SPECIAL, t, n + 1, &n) != G4_OK) {
        free(t);
        g4v_embedded_free(e);
        snprintf(err, errlen, "video: tokenizing the layout failed");
        return G4_ERR_INTERNAL;
    }
    size_t ns = 0;
    g4v_spans(A, m, t, n, 0, e, NULL, 0, &ns, NULL, 0);
    g4_embd_span *sp = malloc(sizeof *sp * (ns + 1));
    if (!sp || (rc = g4v_spans(A, m, t, n, 0, e, sp, ns, &ns, err, errlen)) != G4_OK) {
        free(sp);
        free(t);
        g4v_embedded_free(e);
        return sp ? rc : G4_ERR_OUT_OF_MEMORY;
    }
    *ids = t;
    *n_ids = n;
    *spans = sp;
    *n_spans = ns;
    return G4_OK;
}
