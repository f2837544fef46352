/* srv_video — a "video_url" media part of a g4-server request into prompt tokens and spans
 * (hosts/common/video_embed.c does the decoding and embedding). */
#ifndef SRV_VIDEO_H
#define SRV_VIDEO_H

#include <stddef.h>
#include <stdint.h>

#include "g4plug.h"
#include "srv_request.h"
#include "video_embed.h"

/* Embeds md (SRV_MEDIA_VIDEO) and tokenizes its layout: *ids (malloc'd, *n_ids) are the video
 * part's tokens, *spans (malloc'd, *n_spans) cover them from index 0, and e owns the embeddings
 * the spans point into. token_room bounds the tokens the part may take. Returns 0 or a g4_status
 * with a client-facing message in err. */
int srv_video_expand(const g4_api_v1 *A, const g4_model *m, const srv_media *md, int64_t token_room,
                     g4v_embedded *e, int32_t **ids, size_t *n_ids, g4_embd_span **spans,
                     size_t *n_spans, char *err, size_t errlen);

#endif
