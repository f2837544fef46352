/* The MTP drafter ("assistant", GGUF arch gemma4-assistant; spec gemma4-architecture.md §7, §9.4).
 *
 * A small Gemma 4 decoder whose layers have no K/V of their own: each attends to the TARGET's
 * cache of its last sliding / last full producer layer. One draft step for token `tok` and
 * hidden `h` (the target's final-normed hidden, or the previous step's h_next):
 *
 *   x      = W_pre . [E_target[tok] * sqrt(d_t) ; h]          [d_a]
 *   per layer:  x += rms(W_o attn(rope_P(rms_head(W_q rms(x)))); post_attn_norm)
 *               x += rms(FFN(rms(x; ffn_norm)); post_ffw_norm);   x *= layer_scalar
 *   xn     = rms(x; output_norm)
 *   logits = E_a . xn   (no softcap; sparse over the top centroid clusters when present)
 *   h_next = W_post . xn                                        [d_t]
 *
 * Every step of a round queries at the same position P = n_past and sees target keys < P.
 * The layers are decoder layers (g4_layer) run by the decoder's own attention and MLP blocks;
 * what is the drafter's own is only the projections around them and the output head.
 * The drafter owns its GGUF mapping; it is immutable after load and shared by all sessions. */
#ifndef G4_DRAFT_H
#define G4_DRAFT_H

#include "model/blocks.h"

/* The drafter: a g4_decoder of its own (hp, layers, RoPE tables) whose layers run through the
 * target's blocks (blocks.h) over the target session's cache, plus the input and output
 * projections around it. hp holds the drafter's geometry (n_embd = d_a, n_layer, n_head,
 * n_vocab, head dims, RoPE, window, eps; no PLE, MoE or softcap). Each layer's kv_src is the
 * target layer whose cache it reads (the last producer of its type, spec §7.2); writes_kv 0. */
typedef struct g4_drafter {
    g4_gguf *gguf;
    g4_hparams hp;
    g4_layer *layers;
    float *rope_inv_freq[2];
    g4_decoder dec;
    int32_t n_embd_out;    /* d_t: the target's width (embedding_length_out) */
    int32_t max_ff, max_qd;
    g4k_matrix tok_embd;   /* E_a [n_vocab rows of d_a]: the output head only */
    g4k_matrix pre_proj;   /* [d_a rows of 2 d_t] */
    g4k_matrix post_proj;  /* [d_t rows of d_a] */
    const float *output_norm;

    /* Centroid-masked head (HF use_ordered_embeddings): n_centroids clusters of
     * n_vocab / n_centroids tokens each, listed by `ordering`; logits only for the tokens of the
     * top_k best-scoring clusters. n_centroids == 0: full-vocabulary head. */
    g4k_matrix centroids;  /* [n_centroids rows of d_a] */
    int32_t *ordering;     /* [n_vocab] */
    int32_t n_centroids, centroid_top_k;

    g4_arena arena;        /* small converted vectors */
    uint64_t n_params, weight_bytes;
    /* Weight bytes one draft step reads (layers, projections, the head's scored rows). Below
     * G4_DRAFT_POOL_MIN_BYTES a step runs on the calling thread: its matrices are a few KB to a
     * few hundred KB each, and handing each of them (~15 per step) to the pool cost more than the
     * work (the embedded drafter, 0.3 MB per step: 2 threads 0.06-0.10 of a target step, 1 thread
     * 0.015-0.022, g4-spec-bench on the shared 2-core machine at load ~5). */
    uint64_t step_bytes;
} g4_drafter;

#define G4_DRAFT_POOL_MIN_BYTES ((uint64_t)4 << 20)

/* draft_load.c: load the drafter at `path` for `target` (G4_ERR_MISMATCH if it does not fit);
 * g4_load hands both to the model loader (model.h, g4_drafter_loader). */
g4_status g4_drafter_load(const g4_model *target, const char *path, uint32_t flags, g4_drafter **out);
void g4_drafter_free(g4_drafter *d);

/* Per-session scratch for draft steps (one query row). */
typedef struct g4_draft_ws {
    g4_scratch sc;   /* the blocks' buffers for one row of the drafter: x, a, o, f [d_a]; q, att
                      * [nq * max head_dim]; ff_gate, ff_up [max n_ff]; scores: the session's */
    float *u;        /* [2 d_t] */
    float *xn;       /* [d_a] */
    float *h;        /* [d_t] current hidden */
    float *logits;   /* [n_vocab] (or [n_centroids] + selected rows + one row for the sparse head) */
    int32_t *sel;    /* [top_k] chosen clusters */
    int32_t *rows;   /* [top_k * n_vocab / n_centroids] their tokens (sparse head) */
} g4_draft_ws;

/* One draft step: (tok, w->h) at position pos, attending to the target's keys < key_end (pos:
 * the committed prefix; tests pass pos + 1 to reproduce the HF reference, see test_draft.c)
 * -> argmax token; w->h is replaced by h_next. */
g4_status g4_draft_step(g4_session *s, int32_t tok, int32_t pos, int32_t key_end, g4_draft_ws *w,
                        int32_t *out_tok);
/* k greedy proposals after last_token at the constant position n_past, from the session's
 * drafting state (draft_state.h); what g4_draft and g4_generate call. */
g4_status g4_draft_round(g4_session *s, int32_t last_token, int32_t k, int32_t *out, int32_t *n_out);
/* The session's drafter scratch (created on first use, freed with the session). */
g4_status g4_draft_ws_get(g4_session *s, g4_draft_ws **out);
/* The target's final-normed hidden of position pos from the most recent step, or NULL. */
const float *g4_draft_hidden_at(const g4_session *s, int32_t pos);

#endif
