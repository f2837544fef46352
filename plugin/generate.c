/* Drafting and the generation loop. Placeholder bodies until the MTP drafter lands: they
 * validate their arguments and report G4_ERR_UNSUPPORTED, never crash. */
#include <string.h>

#include "internal.h"

G4_API void G4_CALL g4_generate_params_init(g4_generate_params *p)
{
    if (!p)
        return;
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    p->max_tokens = 256;
    p->n_draft = -1;
    p->stop_at_eog = 1;
}

G4_API g4_status G4_CALL g4_draft(g4_session *s, int32_t last_token, int32_t k, int32_t *out_tokens,
                                  int32_t *n_out)
{
    g4_clear_error();
    if (!s || !out_tokens || !n_out)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_draft: NULL argument");
    *n_out = 0;
    return g4_fail(G4_ERR_UNSUPPORTED, "g4_draft: MTP drafting is not implemented in this build");
}

G4_API g4_status G4_CALL g4_generate(g4_session *s, const g4_generate_params *p,
                                     g4_generate_stats *stats)
{
    g4_clear_error();
    if (!s || !p)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_generate: NULL argument");
    return g4_fail(G4_ERR_UNSUPPORTED, "g4_generate: not implemented in this build");
}
