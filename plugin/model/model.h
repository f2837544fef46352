/* The Gemma 4 text decoder as loaded: hyperparameters, layers (configuration + weight views into
 * the GGUF mapping) and the model (spec gemma4-architecture.md §2, §3, §9). Sessions are in
 * session.h, the blocks of the forward pass in blocks.h, the shared numeric ops in ops.h.
 *
 * Ownership: a g4_model owns its g4_gguf (the mapping every g4k_matrix points into), the few
 * small f32 vectors it converts at load (norm weights, scales, RoPE tables) and the tokenizer.
 * It is immutable after g4_load. */
#ifndef G4_MODEL_H
#define G4_MODEL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "gguf/gguf_bind.h"
#include "base/internal.h"
#include "kernels.h"
#include "ops/ops.h"

struct g4_tokenizer;
struct g4_drafter;  /* draft.h: the MTP drafter loaded beside the model */

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

/* One decoder layer: its configuration and weights (gemma.cpp's LayerConfig). The target's
 * layers and the MTP drafter's are both g4_layer and run through the same blocks; a drafter
 * layer has no K/V projections and reads the target's cache (kv_src indexes the TARGET's
 * cache, writes_kv 0). */
typedef struct g4_layer {
    int32_t type;        /* G4_LAYER_SLIDING / G4_LAYER_FULL */
    int32_t n_head_kv, head_dim, n_ff;
    int32_t kv_src;      /* the cache this layer attends to: a layer index of the target model */
    int32_t writes_kv;   /* computes K/V and stores them in kv_src's cache (it owns that cache) */
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

/* What the blocks read of a decoder (gemma.cpp's ModelConfig): the target model fills one
 * (g4_model.dec), the MTP drafter another (g4_drafter.dec). Points into its owner. */
typedef struct g4_decoder {
    const g4_hparams *hp;
    const g4_layer *layers;
    const float *rope_inv_freq[2]; /* [n_rot/2] per layer type; 0 = that pair is not rotated */
    g4_linear_mode linear;         /* activation policy of every linear layer */
} g4_decoder;

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
    g4k_packed *lm_head_packed;   /* lm_head re-laid out for its kernel (weight_pack.c), or NULL */
    int64_t head_extra_bytes;     /* memory the packed head adds: its bytes, less a separate
                                   * output.weight's pages given back to the OS (weight_pack.c) */
    g4k_matrix ple_tok_embd;      /* [n_vocab rows of n_layer*P] */
    g4k_matrix ple_model_proj;    /* [n_layer*P rows of n_embd] */
    const float *ple_proj_norm;   /* [P] */
    const float *output_norm;     /* [n_embd] */
    float *rope_inv_freq[2];      /* [n_rot/2] per layer type; 0 = that pair is not rotated */
    struct g4_tokenizer *tok;
    struct g4_drafter *draft;     /* MTP drafter (g4_load_params.draft), or NULL */
    void (*draft_free)(struct g4_drafter *d); /* its destructor (g4_drafter_loader.free) */

    uint32_t flags;               /* G4_LOAD_* */
    uint64_t max_memory;          /* g4_load_params.max_memory (0: physical RAM) */
    int32_t n_threads;
    int32_t n_ctx_default;
    g4_linear_mode linear;        /* G4_LINEAR_F32 under G4_EXACT=1, else G4_LINEAR_DECODER */
    g4_decoder dec;               /* hp, layers, RoPE tables and linear mode, for the blocks */
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

    /* The vocabulary as a byte trie for grammar masks: built on first use by token_trie.c, freed
     * by g4_model_free (the grammar code owns it; the model only carries the slot). */
    struct g4_token_trie *_Atomic token_trie;
};

/* weight_pack.c: pack the LM head, and the layers' Q4_0/Q4_K/Q6_K/Q8_0 matrices (their
 * .packed), for the multi-token kernels (after the thread count is known); never fails the
 * load (the GGUF layout is kept where the kernel layer declines). g4_model_free_packed_layers
 * undoes the layers' part (g4_model_destroy). */
void g4_model_pack_head(g4_model *m);
void g4_model_pack_layers(g4_model *m);
void g4_model_free_packed_layers(g4_model *m);

/* Internal, non-ABI accessors. */
struct g4_mmproj;
const struct g4_mmproj *g4_model_mmproj(const g4_model *m); /* NULL: none loaded */
g4k_pool *g4_model_pool(const g4_model *m);                 /* NULL: run inline */
const struct g4_tokenizer *g4_model_tokenizer(const g4_model *m);
int g4_model_is_eog(const g4_model *m, int32_t token); /* 0 without a tokenizer */
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

/* How the model loader loads the MTP drafter beside the model: the drafter's code depends on the
 * model, not the other way round, so its caller (the ABI, g4_load) hands in draft_load.c's
 * functions. NULL: a drafter named by the parameters or the store is refused. */
typedef struct g4_drafter_loader {
    /* load the drafter at `path` for `target` (G4_ERR_MISMATCH if it does not fit) */
    g4_status (*load)(const g4_model *target, const char *path, uint32_t flags, struct g4_drafter **out);
    void (*free)(struct g4_drafter *d);
} g4_drafter_loader;

g4_status g4_model_load(const g4_load_params *p, const g4_drafter_loader *drafter, g4_model **out);
void g4_model_destroy(g4_model *m);

static inline int g4_model_live(const g4_model *m) { return m && m->magic == G4_MODEL_MAGIC; }

#endif
