/* The Gemma 4 text decoder: hyperparameters, weights (views into the GGUF mapping), sessions,
 * and the block functions of the forward pass (spec gemma4-architecture.md §2, §3, §9).
 *
 * Ownership: a g4_model owns its g4_gguf (the mapping every g4k_matrix points into), the few
 * small f32 vectors it converts at load (norm weights, scales, RoPE tables) and the tokenizer.
 * It is immutable after g4_load. A g4_session owns its KV cache, thread pool and scratch. */
#ifndef G4_MODEL_H
#define G4_MODEL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "gguf_bind.h"
#include "internal.h"
#include "kernels.h"
#include "kv_cache.h"

struct g4_tokenizer;
struct g4_drafter;  /* draft.h: the MTP drafter loaded beside the model */
struct g4_draft_ws; /* draft.h: a session's drafter scratch */

enum { G4_LAYER_SLIDING = 0, G4_LAYER_FULL = 1 };

#define G4_MAX_LAYERS 512
#define G4_MAX_EXPERTS 1024

typedef struct g4_hparams {
    int32_t n_vocab, n_embd, n_layer, n_head;
    int32_t n_ctx_train;
    int32_t head_dim[2];      /* by layer type ([G4_LAYER_SLIDING], [G4_LAYER_FULL]) */
    int32_t n_rot[2];         /* rotated span of a head, NEOX pairing i <-> i + n_rot/2 */
    float rope_base[2];
    int32_t n_swa;            /* sliding window: keys with q_pos - k_pos < n_swa (self included) */
    int32_t n_kv_shared;      /* the last n_kv_shared layers read another layer's cache */
    int32_t n_embd_per_layer; /* PLE width P; 0 = no PLE */
    int32_t n_expert, n_expert_used, n_ff_expert;
    float eps;
    float softcap;            /* final logit softcap; 0 = none */
    int bidir_vision;         /* image spans attend bidirectionally on sliding layers */
} g4_hparams;

/* A stack of E expert matrices stored as one 3-D tensor [n_cols, n_rows, E]. */
typedef struct g4_experts {
    g4k_matrix m;        /* expert 0; the others follow every `stride` bytes */
    size_t stride;
} g4_experts;

typedef struct g4_layer {
    int32_t type;        /* G4_LAYER_SLIDING / G4_LAYER_FULL */
    int32_t n_head_kv, head_dim, n_ff;
    int32_t kv_src;      /* layer whose KV cache this layer attends to (itself when it owns one) */
    int32_t k_eq_v;      /* V is the raw K projection (full layers of 12B/26B/31B) */

    const float *attn_norm, *q_norm, *k_norm, *post_attn_norm, *ffn_norm, *post_ffw_norm;
    float out_scale;     /* layer_scalar */
    g4k_matrix wq, wk, wv, wo;
    g4k_matrix ffn_gate, ffn_up, ffn_down;

    /* PLE injection (E2B/E4B) */
    g4k_matrix ple_gate, ple_proj;
    const float *ple_post_norm;

    /* MoE (26B-A4B) */
    g4k_matrix router;
    const float *router_scale, *expert_scale;
    const float *pre_ffw_norm_2, *post_ffw_norm_1, *post_ffw_norm_2;
    int32_t exp_fused;   /* 1: exp_gate_up (gate rows first); 0: exp_gate + exp_up */
    g4_experts exp_gate_up, exp_gate, exp_up, exp_down;
} g4_layer;

/* Handle validation: the first member of a live model/session holds its magic number, which
 * *_free overwrites. A freed or foreign pointer is then refused with G4_ERR_INVALID_ARGUMENT
 * instead of being used (best effort: reading freed memory is still undefined; ASan builds
 * catch it outright). */
#define G4_MODEL_MAGIC 0x67344d4cu   /* "g4ML" */
#define G4_SESSION_MAGIC 0x67345353u /* "g4SS" */
#define G4_DEAD_MAGIC 0xdeadbeefu

struct g4_model {
    uint32_t magic;
    g4_gguf *gguf;
    g4_logger log;
    g4_hparams hp;
    g4_layer *layers;
    g4k_matrix tok_embd;          /* [n_vocab rows of n_embd] */
    g4k_matrix lm_head;           /* output.weight if present, else tok_embd (tied) */
    g4k_matrix ple_tok_embd;      /* [n_vocab rows of n_layer*P] */
    g4k_matrix ple_model_proj;    /* [n_layer*P rows of n_embd] */
    const float *ple_proj_norm;   /* [P] */
    const float *output_norm;     /* [n_embd] */
    float *rope_inv_freq[2];      /* [n_rot/2] per layer type; 0 = that pair is not rotated */
    struct g4_tokenizer *tok;
    struct g4_drafter *draft;     /* MTP drafter (g4_load_params.draft), or NULL */

    uint32_t flags;               /* G4_LOAD_* */
    uint64_t max_memory;          /* g4_load_params.max_memory (0: physical RAM) */
    int32_t n_threads;
    int32_t n_ctx_default;
    int exact;                    /* every matmul keeps f32 activations (G4_EXACT=1) */
    int vocab_only;
    uint32_t capabilities;        /* G4_MODEL_HAS_* */

    /* Multimodal projector: from its own GGUF (mm_gguf) or from the model's (Ollama single-blob
     * files carry v. and mm. tensors); NULL when the model has none. */
    g4_gguf *mm_gguf;
    struct g4_mmproj *mmproj;
    g4k_pool *pool;               /* for model-level work (embedders); sessions have their own */

    g4_arena arena;               /* small converted vectors, freed with the model */

    uint64_t n_params, weight_bytes;
    char name[128], variant[32];

    /* The vocabulary as a byte trie for grammar masks: built on first use (token_trie.c). */
    struct g4_token_trie *_Atomic token_trie;
};

/* Internal, non-ABI accessors. */
struct g4_mmproj;
const struct g4_mmproj *g4_model_mmproj(const g4_model *m); /* NULL: none loaded */
g4k_pool *g4_model_pool(const g4_model *m);                 /* NULL: run inline */
const struct g4_tokenizer *g4_model_tokenizer(const g4_model *m);
const g4_hparams *g4_model_hparams(const g4_model *m);
/* Last layer that owns a KV cache of the given type (-1 if none): what KV-shared layers and the
 * MTP drafter attend to. */
int32_t g4_model_last_kv_layer(const g4_model *m, int32_t type);

/* Bytes of one session's KV cache at n_ctx (sliding rings sized as g4_session_new sizes them),
 * and the part of it that grows per position; plus an estimate of its scratch buffers. */
uint64_t g4_model_kv_bytes(const g4_model *m, int32_t n_ctx, uint64_t *per_token, uint64_t *fixed);
/* The same for a cache whose K and V rows are stored as type_k / type_v. */
uint64_t g4_model_kv_bytes_typed(const g4_model *m, int32_t n_ctx, uint32_t type_k, uint32_t type_v,
                                 uint64_t *per_token, uint64_t *fixed);
uint64_t g4_model_scratch_bytes(const g4_model *m);
uint64_t g4_physical_ram(void); /* bytes of RAM, 0 if unknown */

g4_status g4_model_load(const g4_load_params *p, g4_model **out);
void g4_model_destroy(g4_model *m);
/* draft_load.c: load the drafter at `path` for `target` (G4_ERR_MISMATCH if it does not fit). */
g4_status g4_drafter_load(const g4_model *target, const char *path, uint32_t flags, struct g4_drafter **out);
void g4_drafter_free(struct g4_drafter *d);

/* ---- sessions ------------------------------------------------------------------------------ */

/* Internal session options (the ABI fixes them to defaults; tests shrink them to exercise the
 * sliding-window ring). */
typedef struct g4_session_opts {
    int32_t n_ctx;           /* 0: model default */
    int32_t n_threads;       /* 0: model default */
    int32_t n_ubatch;        /* tokens per internal forward chunk; 0: G4_DEFAULT_UBATCH */
    int32_t rollback_margin; /* extra ring rows for rollback beyond one chunk; <0: default */
    uint32_t kv_type_k, kv_type_v; /* g4_type of the KV cache rows (0 = F32) */
} g4_session_opts;

#define G4_DEFAULT_UBATCH 512
#define G4_DEFAULT_ROLLBACK_MARGIN 256

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
    /* MTP drafting state, as transformers' assisted generation keeps it (the reference the
     * conformance fixtures were recorded from):
     *  - draft_anchor: the position whose final hidden state the drafter starts from: the first
     *    row of the last step ("row n_accepted" with nothing accepted yet), or, after a
     *    g4_session_truncate, the new last position (the last accepted row);
     *  - kv_written_hi: one past the highest position the last step wrote. When it exceeds
     *    n_past, the slot at n_past still holds that step's K/V (a rejected draft) and the
     *    drafter attends to it, as transformers does by slicing the shared cache by length. */
    int32_t draft_anchor, kv_written_hi;
    struct g4_draft_ws *draft_ws; /* drafter scratch (draft.c), created on first use */

    int32_t capture;         /* record the residual stream on the next steps */
    float *captured;         /* [(n_layer+1), out_n, d] */
    size_t captured_cap;     /* floats */
    int32_t captured_valid;

    g4_embd_span *spans_tmp; /* chunk-local copies of the batch's spans */
    int32_t spans_tmp_cap;
};

g4_status g4_session_create(const g4_model *m, const g4_session_opts *o, g4_session **out);
void g4_draft_ws_free(struct g4_draft_ws *w); /* draft.c */
void g4_session_destroy(g4_session *s);
/* flags: 0, or G4_STEP_RAW_LOGITS: the logits rows are left before the final softcap (only
 * g4_generate's greedy steps ask: g4_greedy_token reads them, and g4_generate invalidates its
 * steps' outputs before returning, so a host never sees them). */
#define G4_STEP_RAW_LOGITS 1u
g4_status g4_session_step(g4_session *s, const g4_batch *b, unsigned flags);
g4_status g4_session_do_truncate(g4_session *s, int32_t n);
int32_t g4_session_min_pos(const g4_session *s);

/* Final-normed hidden state of batch position i of the last step, whether or not the host asked
 * for it (the MTP drafter's input); NULL when there is none. */
const float *g4_session_final_hidden(const g4_session *s, int32_t batch_index);
/* The cache `layer` attends to (resolved through KV sharing), for the drafter. */
g4_status g4_session_kv_view(const g4_session *s, int32_t layer, g4_kv_view *out);

/* ---- forward pass (forward.c) and its blocks ---------------------------------------------- */

typedef struct g4_chunk {
    const int32_t *tokens;       /* [n] */
    int32_t n;
    int32_t pos0;                /* position of tokens[0] */
    const g4_embd_span *spans;   /* chunk-local, sorted */
    int32_t n_spans;
    float *hidden_out;           /* [n, d] final-normed hidden */
    float *capture;              /* NULL, or entry 0 row 0 of [(L+1), stride_rows, d] */
    int32_t capture_stride_rows; /* rows per capture entry (the whole batch) */
} g4_chunk;

/* Runs every layer over one chunk, appending to the cache. Returns G4_OK or G4_ERR_CANCELLED. */
g4_status g4_forward_chunk(g4_session *s, const g4_chunk *c);
/* logits[r] = softcap(E . hidden[r]) for n rows; raw != 0: E . hidden[r] (no softcap). */
void g4_forward_logits(g4_session *s, const float *hidden, int32_t n, float *logits, int raw);
/* The greedy token of a logit row: the first index of the largest softcap(x[i]) when x holds
 * logits before a softcap of `softcap` (> 0), else of the largest x[i]. Exactly what an argmax
 * over the softcapped row gives, without 262144 tanhf: softcap is monotone, so only values
 * within a (checked) margin of the raw maximum can tie with it once capped. */
int32_t g4_greedy_token(const float *x, int32_t n, float softcap);

/* y = W x for n token rows, choosing the kernel path for the weight type (see linear policy). */
void g4_linear(const g4_session *s, const g4k_matrix *w, const float *x, int64_t n, float *y);
g4k_matrix g4_expert(const g4_experts *e, int32_t idx);

/* Parallel loop over [0, n): fn(ctx, i0, i1) on the session's pool. */
typedef void (*g4_range_fn)(void *ctx, int64_t i0, int64_t i1);
void g4_parallel_for(g4k_pool *pool, int64_t n, g4_range_fn fn, void *ctx);

/* norm.c: y = x * (mean(x^2) + eps)^-1/2 * w  (w NULL: weightless), per row of `dim`; y may be x. */
void g4_rmsnorm(const float *x, const float *w, int64_t n_rows, int64_t dim, float eps, float *y);
/* y += rmsnorm(x; w) */
void g4_add_rmsnorm(float *y, const float *x, const float *w, int64_t n_rows, int64_t dim, float eps);
float g4_gelu_tanh(float x);

/* rope.c */
g4_status g4_rope_tables(g4_model *m, const float *freq_factors, int64_t n_factors);
/* Rotates n_head heads of width head_dim in each of n rows at positions pos0.. (NEOX pairing). */
void g4_rope(const g4_model *m, int32_t type, float *x, int32_t n, int32_t n_head, int32_t head_dim,
             int32_t pos0);

/* block_attention.c: out[n, d] = W_o . attn(...) for layer l (writes K/V into the cache). */
void g4_block_attention(g4_session *s, int32_t l, const g4_chunk *c, const float *a, float *out);
/* block_mlp.c: out[n, d] = W_down (gelu_tanh(W_gate x) * (W_up x)) */
void g4_geglu(g4_session *s, float *gate, const float *up, int64_t n); /* gate = gelu(gate)*up */
void g4_block_mlp(g4_session *s, const g4_layer *L, const float *x, int32_t n, float *out);
/* block_moe.c: out[n, d] = sum_k w_k expert_k(rmsnorm(r; pre_ffw_norm_2)) (router reads r) */
void g4_block_moe(g4_session *s, const g4_layer *L, const float *r, int32_t n, float *out);
/* block_ple.c: per-layer inputs ple[n, L*P] from the tokens and the scaled embeddings x0. */
void g4_block_ple_inputs(g4_session *s, const g4_chunk *c, const float *x0, float *ple);
/* x += rmsnorm(W_proj (gelu_tanh(W_gate x) * ple_l); post_norm) */
void g4_block_ple_inject(g4_session *s, int32_t l, float *x, int32_t n, const float *ple);

static inline int g4_model_live(const g4_model *m) { return m && m->magic == G4_MODEL_MAGIC; }
static inline int g4_session_live(const g4_session *s) { return s && s->magic == G4_SESSION_MAGIC; }

/* Attention dot product over a head: 8 independent partial sums (vectorizes, and the fixed
 * summation order keeps results independent of how work is split across threads). */
/* fminf(fmaxf(x, lo), hi) (NaN -> lo, like it) written so the compiler vectorises the loops
 * around it: libm's fminf/fmaxf are calls without -ffinite-math-only. */
static inline float g4_clampf(float x, float lo, float hi)
{
    x = x > lo ? x : lo;
    return x < hi ? x : hi;
}

static inline float g4_dot_f32(const float *a, const float *b, int32_t n)
{
    float acc[8] = {0};
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += a[i + j] * b[i + j];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

#endif
