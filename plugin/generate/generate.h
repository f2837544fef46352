/* The generation loop (generate.c): plain and speculative decoding over a session, with the
 * sampler (sampler.c) and an optional grammar. */
#ifndef G4_GENERATE_H
#define G4_GENERATE_H

#include "model/session.h"

/* Where g4_generate gets its proposals: the drafter by default; tests substitute an oracle to
 * exercise acceptance (random-weight drafters are never accepted). propose() fills up to k
 * tokens following `last` (not yet stepped, at position n_past) and sets *n_out. */
typedef struct g4_proposer {
    g4_status (*propose)(void *ctx, g4_session *s, int32_t last, int32_t k, int32_t *out, int32_t *n_out);
    void *ctx;
} g4_proposer;
/* g4_generate with an explicit proposer (NULL: the model's drafter, if any). */
g4_status g4_generate_with(g4_session *s, const g4_generate_params *p, g4_generate_stats *stats,
                           const g4_proposer *prop);

#endif
