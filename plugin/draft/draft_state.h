/* The MTP drafting state a session carries, kept exactly as transformers' assisted generation
 * keeps it (the reference the conformance fixtures were recorded from). The session holds one
 * (g4_session.draft); draft_state.c is the only code that writes it: the session reports its
 * steps, truncations and resets through these calls, g4_generate anchors the last accepted row.
 *  - anchor: the position whose final hidden state the drafter starts from: the first row of
 *    the last step ("row n_accepted" with nothing accepted yet), or, after a truncation, the new
 *    last position (the last accepted row); -1: none;
 *  - kv_written_hi: one past the highest position the last step wrote. When it exceeds n_past,
 *    the slot at n_past still holds that step's K/V (a rejected draft) and the drafter attends
 *    to it, as transformers does by slicing the shared cache by length;
 *  - ws: the drafter's scratch (draft.c), one allocation, made on first use. */
#ifndef G4_DRAFT_STATE_H
#define G4_DRAFT_STATE_H

#include <stdint.h>

struct g4_draft_ws;

typedef struct g4_draft_state {
    int32_t anchor;
    int32_t kv_written_hi;
    struct g4_draft_ws *ws;
} g4_draft_state;

/* Nothing to draft from (a new or reset session). Keeps ws. */
void g4_draft_state_reset(g4_draft_state *d);
/* A step wrote positions [n_past0, n_past): start from its first row. */
void g4_draft_state_after_step(g4_draft_state *d, int32_t n_past0, int32_t n_past);
/* Start from position pos (after a truncation to pos + 1: the last accepted row). */
void g4_draft_state_anchor(g4_draft_state *d, int32_t pos);
/* Releases ws. */
void g4_draft_state_free(g4_draft_state *d);

#endif
