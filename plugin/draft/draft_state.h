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
 *  - ws: the drafter's scratch (draft.c), one allocation, made on first use;
 *  - costs: what adaptive k (g4_generate, n_draft = -1) has measured: seconds of a target step
 *    of n rows, of a draft step, the decayed acceptance counts and the evidence of the current
 *    run of missed rounds (generate.c has the rule). They survive resets and
 *    g4_generate calls (they describe the model, this machine and the recent text, so a chat's
 *    next turn or a server's next request need not learn them again); they change only speed,
 *    never which tokens are emitted. */
#ifndef G4_DRAFT_STATE_H
#define G4_DRAFT_STATE_H

#include <stdint.h>

struct g4_draft_ws;

#define G4_DRAFT_KMAX 7 /* most drafts per round (see generate.c: DRAFT_MAX) */

typedef struct g4_draft_costs {
    double v[G4_DRAFT_KMAX + 2]; /* seconds per target step of n rows (running mean); 0: none */
    double d;                    /* seconds per draft step; 0: none yet */
    double acc, tested;          /* decayed counts of accepted / tested drafts */
    double missed;               /* evidence (nats) of the current run of rounds that accepted nothing */
} g4_draft_costs;

typedef struct g4_draft_state {
    int32_t anchor;
    int32_t kv_written_hi;
    struct g4_draft_ws *ws;
    g4_draft_costs costs;
} g4_draft_state;

/* Nothing to draft from (a new or reset session). Keeps ws and costs. */
void g4_draft_state_reset(g4_draft_state *d);
/* A step wrote positions [n_past0, n_past): start from its first row. */
void g4_draft_state_after_step(g4_draft_state *d, int32_t n_past0, int32_t n_past);
/* Start from position pos (after a truncation to pos + 1: the last accepted row). */
void g4_draft_state_anchor(g4_draft_state *d, int32_t pos);
/* Adaptive k's measurements: a target step of n_rows (1..G4_DRAFT_KMAX + 1) took secs; one draft
 * step took secs; a round of nd drafts kept `kept` of them (decay: weight of the older rounds;
 * a round that kept none adds -ln(1 - a) nats, at most ln(50)/2, ln(50)/2 below a = 0.2, to the
 * evidence of the run of missed rounds, one that kept any ends the run). */
void g4_draft_costs_step(g4_draft_state *d, int32_t n_rows, double secs);
void g4_draft_costs_draft(g4_draft_state *d, double secs);
void g4_draft_costs_round(g4_draft_state *d, int32_t nd, int32_t kept, double decay);
/* The k in 1..kmax with the most expected tokens per second (at most kstart while no step of
 * more than one row has been measured), or 0 when a plain step does better or nothing is
 * measured yet. */
int32_t g4_draft_costs_choose(const g4_draft_state *d, int32_t kmax, int32_t kstart);
/* The pause the run of missed rounds calls for: -1 none (below ln 50 nats: the record gives the
 * run at least a 2% chance), else its doublings, one per further ln(50)/2. */
int32_t g4_draft_costs_pause_level(const g4_draft_state *d);
/* A new g4_generate call: 1 when the run of missed rounds had paused drafting (the call starts
 * with a one-draft probe, and a miss pauses again as the first pause did). */
int g4_draft_costs_resume(g4_draft_state *d);
/* 1 once a plain step has been timed. */
int g4_draft_costs_known(const g4_draft_state *d);
/* Releases ws. */
void g4_draft_state_free(g4_draft_state *d);

#endif
