/* Sessions (session.c): one conversation's KV cache, thread pool, scratch and the outputs of
 * its last step, over a shared immutable g4_model. session.c is the only writer of a session's
 * state, except the drafting sub-state (g4_draft_state), which draft_state.c writes when
 * session.c reports a step, a truncation or a reset to it. */
#ifndef G4_SESSION_H
#define G4_SESSION_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "draft/draft_state.h"
#include "model/kv_cache.h"
#include "model/model.h"

/* Internal session options (the ABI fixes them to defaults; tests shrink them to exercise the
 * sliding-window ring). */
typedef struct g4_session_opts {
    int32_t n_ctx;           /* 0: model default */
    int32_t n_threads;       /* 0: model default */
    int32_t n_ubatch;        /* tokens per internal forward chunk; 0: G4_DEFAULT_UBATCH */
    int32_t rollback_margin; /* extra ring rows for rollback beyond one chunk; <0: default */
    uint32_t kv_type_k, kv_type_v; /* g4_type of the KV cache rows (0 = F32) */
} g4_session_opts;


/* Per-chunk scratch: sized for the largest chunk seen, grown on demand, never shrunk. */
typedef struct g4_scratch {
    int32_t n_tok;           /* rows each buffer holds */
    float *x, *a, *o, *f;    /* [n, d] residual, normed input, attention out, ffn out */
    float *q, *k, *v, *att;  /* [n, nq*hd], [n, nkv*hd] x2, [n, nq*hd] */
    float *ff_gate, *ff_up;  /* [n, max ff] (and 2*ff_expert) */
    float *ple;              /* [n, L*P] per-layer inputs */
    float *ple_tmp;          /* [n, L*P] */
    /* MoE */
    float *router_logits;    /* [n, E] */
    int32_t *sel;            /* [n, k] chosen experts */
    float *sel_w;            /* [n, k] their weights */
    int32_t *rows;           /* [n] token rows routed to one expert */
    float *xe, *xg, *eo;     /* [n, d] expert input, gathered input, expert out */
    float *moe;              /* [n, d] */
    /* attention: per-thread score rows */
    float *scores;
    size_t scores_stride;
    int32_t scores_threads;
    /* tiled prompt attention (attention_prefill.c): scores_threads blocks of attn_tiles_stride */
    float *attn_tiles;       /* 64-byte aligned inside attn_tiles_mem (malloc'd) */
    size_t attn_tiles_stride;
    void *attn_tiles_mem;
} g4_scratch;

struct g4_session {
    uint32_t magic;
    const g4_model *m;
    g4k_pool *pool;
    int32_t n_threads;
    int32_t n_ctx;
    int32_t n_ubatch;
    int32_t rollback_margin;
    int32_t n_past;
    g4_kv_cache kv;
    g4_scratch sc;
    atomic_int cancel;

    /* outputs of the last g4_step, indexed by batch position */
    int32_t out_n;
    size_t out_cap;          /* positions the per-position arrays hold */
    int32_t *out_logit_row;  /* row in `logits`, or -1 */
    uint8_t *out_want;
    float *hidden;           /* [out_n, d] final-normed hidden of every position */
    float *logits;           /* [n_logit_rows, n_vocab] */
    size_t logits_cap;       /* floats */
    int32_t out_hidden_valid;/* hidden[] rows belong to the last successful step */
    /* MTP: hidden[] rows are positions [hid_pos0, hid_pos0 + hid_n) of the last successful step;
     * unlike out_n this survives g4_session_truncate (rows below n_past stay valid). */
    int32_t hid_pos0, hid_n;
    g4_draft_state draft;    /* MTP drafting state: written only through draft_state.c */

    int32_t capture;         /* record the residual stream on the next steps */
    float *captured;         /* [(n_layer+1), out_n, d] */
    size_t captured_cap;     /* floats */
    int32_t captured_valid;

    g4_embd_span *spans_tmp; /* chunk-local copies of the batch's spans */
    int32_t spans_tmp_cap;
};

g4_status g4_session_create(const g4_model *m, const g4_session_opts *o, g4_session **out);
void g4_session_destroy(g4_session *s);
/* flags: 0, or G4_STEP_RAW_LOGITS: the logits rows are left before the final softcap (only
 * g4_generate's greedy steps ask: g4_greedy_token reads them, and g4_generate invalidates its
 * steps' outputs before returning, so a host never sees them). */
#define G4_STEP_RAW_LOGITS 1u
g4_status g4_session_step(g4_session *s, const g4_batch *b, unsigned flags);
g4_status g4_session_do_truncate(g4_session *s, int32_t n);
/* Forget everything: position 0, no outputs, empty cache (g4_session_reset). */
void g4_session_do_reset(g4_session *s);
/* The outputs of the last step are gone (hidden rows the drafter reads stay). */
void g4_session_invalidate_outputs(g4_session *s);
int32_t g4_session_min_pos(const g4_session *s);

/* Logits of batch position i of the last step, NULL if not requested (g4_logits). */
const float *g4_session_logits(const g4_session *s, int32_t batch_index);
/* Final-normed hidden state of batch position i of the last step, whether or not the host asked
 * for it (the MTP drafter's input); NULL when there is none. */
const float *g4_session_final_hidden(const g4_session *s, int32_t batch_index);
/* The cache `layer` attends to (resolved through KV sharing), for the drafter. */
g4_status g4_session_kv_view(const g4_session *s, int32_t layer, g4_kv_view *out);

static inline int g4_session_live(const g4_session *s) { return s && s->magic == G4_SESSION_MAGIC; }

#endif
