/* The drafting state's writers (draft_state.h). */
#include <stdlib.h>

#include "draft/draft_state.h"

void g4_draft_state_reset(g4_draft_state *d)
{
    d->anchor = -1;
    d->kv_written_hi = 0;
}

void g4_draft_state_after_step(g4_draft_state *d, int32_t n_past0, int32_t n_past)
{
    d->anchor = n_past0;
    d->kv_written_hi = n_past;
}

void g4_draft_state_anchor(g4_draft_state *d, int32_t pos) { d->anchor = pos; }

void g4_draft_state_free(g4_draft_state *d)
{
    free(d->ws); /* one block (g4_draft_ws_get) */
    d->ws = NULL;
}
