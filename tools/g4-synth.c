/* g4-synth: writes random-weight Gemma 4 GGUFs with the real shapes, for benchmarks.
 *
 *   g4-synth --shape 12b --type q4_k_m [--layers N] [--seed S] [--pure]
 *            [--vocab ggml-vocab-gemma-4.gguf] -o out.gguf
 *   g4-synth --shape 12b --type q4_0 --layers 6 --plan      (print the plan as JSON, write nothing)
 *
 * Shapes: e2b, e4b, 12b, 26b-a4b, 31b (gemma4-architecture.md §1.2), and tiny: the embedded
 * default model (`make` builds it into build/default/ from assets/gemma4-vocab.gguf.xz), a 12B
 * Unified layout at hidden 64 (6 layers: 5 sliding with window 128 + 1 full K=V layer, head dims
 * 32/64, proportional RoPE) with the real 262144-token vocabulary; its weights use a fan-in
 * scaled init so that the random model runs and produces varied tokens. Only for tiny:
 *   --mmproj OUT   the matching 12B Unified projector (clip, gemma4uv + gemma4ua, F32); also
 *                  for --shape 12b (width 3840: the real projector's shape, for video benchmarks)
 *   --mmproj-width N   make that projector for a text model N wide instead (the trained
 *                  default model, tools/train/, is 128 wide; its projector stays random)
 *   --draft OUT    the matching MTP drafter (gemma4-assistant, 2 layers, hidden 32)
 * --draft also works with --shape 12b: a drafter shaped like a real 12B assistant (4 layers,
 * hidden 1024, FFN 4096, 8 heads, centroid head 2048 x 128 / top 32; see k_12b_draft).
 * (-o may then be left out: each file can be made by its own invocation.) Output is
 * byte-identical for the same arguments and vocab file. --layers N keeps the first
 * N decoder layers and rewrites every per-layer key (block_count, head_count_kv[],
 * feed_forward_length[], sliding_window_pattern[], shared_kv_layers) to match.
 * Metadata keys, their order and types, tensor names, shapes and order mirror what llama.cpp's
 * converter writes (checked against /work/shared/fixtures/gemma4/ *.gguf); the tokenizer.* block
 * is copied byte for byte from the vocab GGUF so llama.cpp accepts the file.
 *
 * Types (--type): f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 iq4_nl q6_k q4_k_m q5_k_m iq4_xs.
 * The per-tensor choice follows llama-quantize (llama-quant.cpp): the tied token_embd gets
 * Q6_K (as the output tensor of a tied model), Q4_K_M / Q5_K_M bump attn_v and ffn_down to Q6_K
 * in the use_more_bits() layers, norms / router / per_layer_model_proj stay unquantised, and a
 * row length that is not a multiple of 256 falls back (Q4_K->Q5_0, Q5_K->Q5_1, Q6_K->Q8_0,
 * IQ4_XS->IQ4_NL). --pure puts every matrix in the base type.
 *
 * Values: quantised blocks are drawn directly (random quants, scales chosen so that weights
 * have zero mean and an RMS of about 0.02, random sign per block); float matrices are N(0, 0.02);
 * norm weights are N(1, 0.05); rope_freqs is exact. Everything is deterministic from --seed and
 * the tensor name, and tensors are streamed to disk in chunks (memory use is a few MiB). The file
 * is written to OUT.tmp and renamed when complete. A summary (JSON) goes to stdout: file bytes,
 * and the weight bytes one decode step reads (every matrix once, the tied LM head included; the
 * token_embd / per_layer_token_embd gathers and MoE experts beyond top-k excluded). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ggml_types.h"

/* Byte-identical output everywhere: no fused multiply-add in the value generators (clang
 * contracts by default; gcc does not in ISO C mode, and warns about this pragma). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define ALIGN 32
#define N_VOCAB 262144
#define MAX_T 4096

/* ---- shapes --------------------------------------------------------------------------------- */
typedef struct shape {
    const char *name, *label;
    int n_layer, d, ff, ff_shared, nq, nkv, nkv_full, period, k_eq_v, window, shared_kv, ple;
    int n_exp, n_exp_used, ff_exp;
    uint32_t ctx;
    int hd_swa, hd_full; /* head dims; 0 = the real models' 256 / 512 */
    int tiny;            /* fan-in scaled init (see tensor_sigma), for a model that runs */
} shape;

static const shape k_shapes[] = {
    /* name      label      L   d     ff     ffsh   nq nkv nkvf per kv=v win  shkv ple  E   k ffe  ctx  hd */
    {"e2b", "E2B", 35, 1536, 6144, 12288, 8, 1, 0, 5, 0, 512, 20, 256, 0, 0, 0, 131072, 0, 0, 0},
    {"e4b", "E4B", 42, 2560, 10240, 10240, 8, 2, 0, 6, 0, 512, 18, 256, 0, 0, 0, 131072, 0, 0, 0},
    {"12b", "12B", 48, 3840, 15360, 15360, 16, 8, 1, 6, 1, 1024, 0, 0, 0, 0, 0, 262144, 0, 0, 0},
    {"26b-a4b", "26B-A4B", 30, 2816, 2112, 2112, 16, 8, 2, 6, 1, 1024, 0, 0, 128, 8, 704, 262144, 0, 0, 0},
    {"31b", "31B", 60, 5376, 21504, 21504, 32, 16, 4, 6, 1, 1024, 0, 0, 0, 0, 0, 262144, 0, 0, 0},
    /* The embedded default model: the 12B Unified layout (5 sliding + 1 full K=V layer,
     * proportional RoPE) shrunk so that the file is mostly the real 262144-token vocabulary. */
    {"tiny", "tiny", 6, 64, 256, 256, 4, 2, 1, 6, 1, 128, 0, 0, 0, 0, 0, 8192, 32, 64, 1},
};

/* The tiny model's MTP drafter (arch gemma4-assistant; the layout of the 12B Unified assistant):
 * 2 layers (sliding + full) with no K/V of their own: both read the target's caches. */
static const shape k_tiny_draft = {"tiny-assistant", "tiny", 2, 32, 128, 128, 4, 2, 1, 2, 1, 128,
                                   2, 0, 0, 0, 0, 8192, 32, 64, 1};

/* The 12B's MTP drafter, shaped like a real assistant (gemma4-architecture.md §1.4, §7.2): 4 layers
 * (3 sliding + 1 full) reading the target's caches, hidden 1024 (the 31B assistant's reported
 * width; the E2B/E4B ones use 256, so 1024 is the conservative, costlier choice for a 3840-wide
 * target), FFN 4096 (4x, the Gemma ratio), 8 query heads (the least multiple of the 12B's 8
 * sliding KV heads) of 256 / 512, window 1024 as the target, and the centroid-masked head of the
 * E2B/E4B assistants: 2048 clusters of 128 tokens, top 32 scored per step (HF defaults). */
static const shape k_12b_draft = {"12b-assistant", "12B", 4, 1024, 4096, 4096, 8, 8, 1, 4, 1, 1024,
                                  4, 0, 0, 0, 0, 262144, 0, 0, 0};
#define DRAFT_CENTROIDS 2048

/* ---- types ---------------------------------------------------------------------------------- */
typedef struct ftype {
    const char *name;
    uint32_t base;      /* g4_type of most matrices */
    uint32_t file_type; /* llama_ftype for general.file_type */
    int k_m;            /* Q4_K_M / Q5_K_M bump rules */
} ftype;

static const ftype k_ftypes[] = {
    {"f32", G4_TYPE_F32, 0, 0},       {"f16", G4_TYPE_F16, 1, 0},
    {"bf16", G4_TYPE_BF16, 32, 0},    {"q4_0", G4_TYPE_Q4_0, 2, 0},
    {"q4_1", G4_TYPE_Q4_1, 3, 0},     {"q5_0", G4_TYPE_Q5_0, 8, 0},
    {"q5_1", G4_TYPE_Q5_1, 9, 0},     {"q8_0", G4_TYPE_Q8_0, 7, 0},
    {"iq4_nl", G4_TYPE_IQ4_NL, 25, 0}, {"q6_k", G4_TYPE_Q6_K, 18, 0},
    {"q4_k_m", G4_TYPE_Q4_K, 15, 1},  {"q5_k_m", G4_TYPE_Q5_K, 17, 1},
    {"iq4_xs", G4_TYPE_IQ4_XS, 30, 0},
};

static int is_float(uint32_t t) { return t == G4_TYPE_F32 || t == G4_TYPE_F16 || t == G4_TYPE_BF16; }

static uint32_t fallback(uint32_t t, int64_t ncols)
{
    if (ncols % 256 == 0)
        return t;
    switch (t) {
    case G4_TYPE_Q4_K: return G4_TYPE_Q5_0;
    case G4_TYPE_Q5_K: return G4_TYPE_Q5_1;
    case G4_TYPE_Q6_K: return G4_TYPE_Q8_0;
    case G4_TYPE_IQ4_XS: return G4_TYPE_IQ4_NL;
    default: return t;
    }
}

/* llama-quant.cpp use_more_bits */
static int use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* ---- tensor plan ---------------------------------------------------------------------------- */
enum { INIT_GAUSS, INIT_NORM, INIT_ONE, INIT_ROPE, INIT_BIAS, INIT_PERM };
typedef struct tplan {
    char name[64];
    int n_dims;
    int64_t ne[3];
    uint32_t type;
    int init;
    uint64_t offset, nbytes;
    double touched; /* fraction of the tensor one decode step reads */
    float sigma;    /* INIT_GAUSS standard deviation */
} tplan;

#define SIGMA 0.02f
/* tiny token_embd: 0.5/sqrt(d). With tied embeddings a larger norm makes the input token's own
 * row win the LM head (0.3: one token repeated forever); at 0.0625 greedy decoding gives ~58
 * distinct tokens in 60 and every activation stays finite. */
#define TINY_EMB_SIGMA 0.0625f

static tplan T[MAX_T];
static int nT;

static tplan *add(const char *name, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2, uint32_t type,
                  int init)
{
    if (nT >= MAX_T) {
        fprintf(stderr, "g4-synth: too many tensors\n");
        exit(1);
    }
    tplan *t = &T[nT++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = n_dims > 1 ? ne1 : 1;
    t->ne[2] = n_dims > 2 ? ne2 : 1;
    t->type = type;
    t->init = init;
    t->touched = (init == INIT_GAUSS && n_dims >= 2) ? 1.0 : 0.0;
    t->sigma = SIGMA;
    return t;
}

typedef struct cfg {
    const shape *s;
    const ftype *f;
    int n_layer, pure;
    uint64_t seed;
    int d_out;       /* drafter: the target's width (nextn projections); 0 for a model */
    int centroids;   /* drafter: masked_embd_centroids rows (0: full-vocabulary head) */
    float emb_sigma; /* tiny: token_embd standard deviation */
} cfg;

static int head_dim(const shape *s, int swa)
{
    return swa ? (s->hd_swa ? s->hd_swa : 256) : (s->hd_full ? s->hd_full : 512);
}

static int layer_is_swa(const cfg *c, int il) { return (il % c->s->period) != c->s->period - 1; }
static int layer_n_kv_from_start(const cfg *c)
{
    /* llama.cpp: n_layer_kv_from_start = n_layer - shared_kv_layers (the original model's split) */
    return c->s->n_layer - c->s->shared_kv;
}
static int shared_kv_layers(const cfg *c)
{
    int kv = layer_n_kv_from_start(c);
    return c->n_layer > kv ? c->n_layer - kv : 0;
}
static int layer_nkv(const cfg *c, int il)
{
    return (!layer_is_swa(c, il) && c->s->nkv_full) ? c->s->nkv_full : c->s->nkv;
}
static int layer_ff(const cfg *c, int il)
{
    return il >= layer_n_kv_from_start(c) && c->s->shared_kv ? c->s->ff_shared : c->s->ff;
}

static void layout_plan(void);

static void build_plan(const cfg *c)
{
    const shape *s = c->s;
    uint32_t base = c->f->base;
    uint32_t flt = is_float(base) ? base : G4_TYPE_BF16; /* "kept unquantised": source dtype */
    uint32_t emb = (c->pure || is_float(base) || base == G4_TYPE_Q8_0) ? base : G4_TYPE_Q6_K;
    char nm[64];
    int L = c->n_layer;
    int n_wv = 0, i_wv = 0;
    int kv_start = layer_n_kv_from_start(c);
    for (int il = 0; il < L; il++)
        if (il < kv_start && !(s->k_eq_v && !layer_is_swa(c, il)))
            n_wv++;
    nT = 0;
    add("rope_freqs.weight", 1, head_dim(s, 0) / 2, 1, 1, G4_TYPE_F32, INIT_ROPE);
    tplan *te = add("token_embd.weight", 2, s->d, N_VOCAB, 1, fallback(emb, s->d), INIT_GAUSS);
    if (s->tiny)
        te->sigma = c->emb_sigma;
    te->touched = 1.0; /* tied LM head: read whole every step (the gathered row is noise) */
    if (s->ple) {
        tplan *p = add("per_layer_token_embd.weight", 2, (int64_t)L * s->ple, N_VOCAB, 1,
                       fallback(base, (int64_t)L * s->ple), INIT_GAUSS);
        p->touched = 0.0; /* one row gathered per token */
    }
#define Q(t, ncols) (c->pure ? (t) : fallback((t), (ncols)))
    for (int il = 0; il < L; il++) {
        int swa = layer_is_swa(c, il);
        int hd = head_dim(s, swa);
        int nkv = layer_nkv(c, il);
        int ff = layer_ff(c, il);
        int has_kv = il < kv_start;
        int has_v = has_kv && !(s->k_eq_v && !swa);
        uint32_t t_down = base, t_v = base;
        if (c->f->k_m && !c->pure) {
            if (use_more_bits(il, L))
                t_down = G4_TYPE_Q6_K;
            if (has_v && use_more_bits(i_wv, n_wv))
                t_v = G4_TYPE_Q6_K;
        }
        if (has_v)
            i_wv++;
#define B(suffix) (snprintf(nm, sizeof nm, "blk.%d.%s", il, suffix), nm)
        if (s->n_exp) {
            tplan *t = add(B("ffn_down_exps.weight"), 3, s->ff_exp, s->d, s->n_exp,
                           Q(t_down, s->ff_exp), INIT_GAUSS);
            t->touched = (double)s->n_exp_used / s->n_exp;
            t = add(B("ffn_gate_up_exps.weight"), 3, s->d, 2 * s->ff_exp, s->n_exp, Q(base, s->d),
                    INIT_GAUSS);
            t->touched = (double)s->n_exp_used / s->n_exp;
        }
        add(B("attn_norm.weight"), 1, s->d, 1, 1, G4_TYPE_F32, INIT_NORM);
        add(B("layer_output_scale.weight"), 1, 1, 1, 1, G4_TYPE_F32, INIT_ONE);
        add(B("ffn_down.weight"), 2, ff, s->d, 1, Q(t_down, ff), INIT_GAUSS);
        add(B("ffn_gate.weight"), 2, s->d, ff, 1, Q(base, s->d), INIT_GAUSS);
        add(B("ffn_up.weight"), 2, s->d, ff, 1, Q(base, s->d), INIT_GAUSS);
        if (s->ple) {
            add(B("inp_gate.weight"), 2, s->d, s->ple, 1, Q(base, s->d), INIT_GAUSS);
            add(B("proj.weight"), 2, s->ple, s->d, 1, Q(base, s->ple), INIT_GAUSS);
        }
        add(B("post_attention_norm.weight"), 1, s->d, 1, 1, G4_TYPE_F32, INIT_NORM);
        add(B("post_ffw_norm.weight"), 1, s->d, 1, 1, G4_TYPE_F32, INIT_NORM);
        if (s->n_exp) {
            add(B("post_ffw_norm_1.weight"), 1, s->d, 1, 1, G4_TYPE_F32, INIT_NORM);
            add(B("post_ffw_norm_2.weight"), 1, s->d, 1, 1, G4_TYPE_F32, INIT_NORM);
        }
        if (s->ple)
            add(B("post_norm.weight"), 1, s->d, 1, 1, G4_TYPE_F32, INIT_NORM);
        add(B("ffn_norm.weight"), 1, s->d, 1, 1, G4_TYPE_F32, INIT_NORM);
        if (s->n_exp) {
            add(B("pre_ffw_norm_2.weight"), 1, s->d, 1, 1, G4_TYPE_F32, INIT_NORM);
            add(B("ffn_down_exps.scale"), 1, s->n_exp, 1, 1, G4_TYPE_F32, INIT_NORM);
            tplan *r = add(B("ffn_gate_inp.weight"), 2, s->d, s->n_exp, 1, G4_TYPE_F32, INIT_GAUSS);
            r->touched = 1.0;
            add(B("ffn_gate_inp.scale"), 1, s->d, 1, 1, G4_TYPE_F32, INIT_NORM);
        }
        if (has_kv) {
            add(B("attn_k_norm.weight"), 1, hd, 1, 1, G4_TYPE_F32, INIT_NORM);
            add(B("attn_k.weight"), 2, s->d, (int64_t)nkv * hd, 1, Q(base, s->d), INIT_GAUSS);
        }
        add(B("attn_output.weight"), 2, (int64_t)s->nq * hd, s->d, 1, Q(base, (int64_t)s->nq * hd),
            INIT_GAUSS);
        add(B("attn_q_norm.weight"), 1, hd, 1, 1, G4_TYPE_F32, INIT_NORM);
        add(B("attn_q.weight"), 2, s->d, (int64_t)s->nq * hd, 1, Q(base, s->d), INIT_GAUSS);
        if (has_v)
            add(B("attn_v.weight"), 2, s->d, (int64_t)nkv * hd, 1, Q(t_v, s->d), INIT_GAUSS);
#undef B
    }
#undef Q
    add("output_norm.weight", 1, s->d, 1, 1, G4_TYPE_F32, INIT_NORM);
    if (c->d_out) {
        /* MTP head: [target embedding ; target hidden] -> drafter width -> target width */
        add("nextn.post_projection.weight", 2, s->d, c->d_out, 1, fallback(base, s->d), INIT_GAUSS);
        add("nextn.pre_projection.weight", 2, 2 * (int64_t)c->d_out, s->d, 1,
            fallback(base, 2 * (int64_t)c->d_out), INIT_GAUSS);
    }
    if (c->centroids) {
        /* HF use_ordered_embeddings: cluster scores, and the vocabulary listed cluster by
         * cluster (a fixed pseudo-random permutation). One step reads the centroids and the
         * top-k clusters' rows of token_embd, not the whole head. */
        add("masked_embd_centroids.weight", 2, s->d, c->centroids, 1, fallback(base, s->d), INIT_GAUSS);
        add("masked_embd_ordering", 1, N_VOCAB, 1, 1, G4_TYPE_I32, INIT_PERM)->touched = 0.0;
        te->touched = 32.0 / c->centroids;
    }
    if (s->ple) {
        add("per_layer_model_proj.weight", 2, s->d, (int64_t)L * s->ple, 1, flt, INIT_GAUSS);
        add("per_layer_proj_norm.weight", 1, s->ple, 1, 1, G4_TYPE_F32, INIT_NORM);
    }
    if (s->tiny) /* fan-in init (as the HF tiny fixtures): activations stay O(1) layer to layer */
        for (int i = 0; i < nT; i++)
            if (T[i].init == INIT_GAUSS && &T[i] != te)
                T[i].sigma = 0.5f / sqrtf((float)T[i].ne[0]);
    layout_plan();
}

static void layout_plan(void)
{
    uint64_t off = 0;
    for (int i = 0; i < nT; i++) {
        tplan *t = &T[i];
        size_t rb = g4_type_row_bytes(t->type, t->ne[0]);
        if (rb == 0) {
            fprintf(stderr, "g4-synth: %s: %lld columns do not fit type %u\n", t->name,
                    (long long)t->ne[0], t->type);
            exit(1);
        }
        t->offset = off;
        t->nbytes = (uint64_t)rb * (uint64_t)t->ne[1] * (uint64_t)t->ne[2];
        off += (t->nbytes + ALIGN - 1) / ALIGN * ALIGN;
    }
}

/* ---- output buffer -------------------------------------------------------------------------- */
typedef struct wbuf {
    FILE *f;
    uint64_t pos;
    unsigned char *b;
    size_t n, cap;
} wbuf;

static void w_flush(wbuf *w)
{
    if (w->n && fwrite(w->b, 1, w->n, w->f) != w->n) {
        fprintf(stderr, "g4-synth: write failed: %s\n", strerror(errno));
        exit(1);
    }
    w->n = 0;
}
static void w_bytes(wbuf *w, const void *p, size_t n)
{
    const unsigned char *s = p;
    while (n) {
        if (w->n == w->cap)
            w_flush(w);
        size_t k = w->cap - w->n < n ? w->cap - w->n : n;
        memcpy(w->b + w->n, s, k);
        w->n += k;
        s += k;
        n -= k;
        w->pos += k;
    }
}
static void w_u32(wbuf *w, uint32_t v) { w_bytes(w, &v, 4); }
static void w_u64(wbuf *w, uint64_t v) { w_bytes(w, &v, 8); }
static void w_str(wbuf *w, const char *s)
{
    w_u64(w, strlen(s));
    w_bytes(w, s, strlen(s));
}
static void w_pad(wbuf *w)
{
    static const unsigned char z[ALIGN];
    size_t r = (size_t)(w->pos % ALIGN);
    if (r)
        w_bytes(w, z, ALIGN - r);
}

/* KV writers (GGUF value types) */
enum { VT_U32 = 4, VT_I32 = 5, VT_F32 = 6, VT_BOOL = 7, VT_STR = 8, VT_ARR = 9 };
static int n_kv;
static void kv_u32(wbuf *w, const char *k, uint32_t v) { w_str(w, k); w_u32(w, VT_U32); w_u32(w, v); n_kv++; }
static void kv_f32(wbuf *w, const char *k, float v) { w_str(w, k); w_u32(w, VT_F32); w_bytes(w, &v, 4); n_kv++; }
static void kv_str(wbuf *w, const char *k, const char *v) { w_str(w, k); w_u32(w, VT_STR); w_str(w, v); n_kv++; }
static void kv_arr_i32(wbuf *w, const char *k, const int32_t *v, int n)
{
    w_str(w, k); w_u32(w, VT_ARR); w_u32(w, VT_I32); w_u64(w, (uint64_t)n);
    w_bytes(w, v, sizeof(int32_t) * (size_t)n);
    n_kv++;
}
static void kv_arr_bool(wbuf *w, const char *k, const int *v, int n)
{
    w_str(w, k); w_u32(w, VT_ARR); w_u32(w, VT_BOOL); w_u64(w, (uint64_t)n);
    for (int i = 0; i < n; i++) {
        unsigned char b = v[i] ? 1 : 0;
        w_bytes(w, &b, 1);
    }
    n_kv++;
}

/* ---- tokenizer block: raw copy of the tokenizer.* KVs of the vocab GGUF ---------------------- */
typedef struct vocab_kvs {
    unsigned char *map;
    size_t size;
    struct { size_t off, len; } kv[64];
    int n;
} vocab_kvs;

static size_t vt_size(uint32_t t)
{
    static const size_t sz[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t < 13 ? sz[t] : 0;
}

/* advance *p past a value of type t; 0 on success */
static int skip_val(const unsigned char *m, size_t size, size_t *p, uint32_t t)
{
    if (t == VT_STR) {
        uint64_t n;
        if (*p + 8 > size) return -1;
        memcpy(&n, m + *p, 8);
        if (n > size - *p - 8) return -1;
        *p += 8 + n;
        return 0;
    }
    if (t == VT_ARR) {
        uint32_t at;
        uint64_t n;
        if (*p + 12 > size) return -1;
        memcpy(&at, m + *p, 4);
        memcpy(&n, m + *p + 4, 8);
        *p += 12;
        if (at == VT_STR || at == VT_ARR) {
            for (uint64_t i = 0; i < n; i++)
                if (skip_val(m, size, p, at)) return -1;
            return 0;
        }
        size_t es = vt_size(at);
        if (!es || n > (size - *p) / es) return -1;
        *p += es * n;
        return 0;
    }
    size_t es = vt_size(t);
    if (!es || *p + es > size) return -1;
    *p += es;
    return 0;
}

static int load_vocab(const char *path, vocab_kvs *v)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "g4-synth: %s: %s\n", path, strerror(errno));
        return -1;
    }
    v->size = (size_t)st.st_size;
    v->map = mmap(NULL, v->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (v->map == MAP_FAILED || v->size < 24 || memcmp(v->map, "GGUF", 4) != 0)
        return -1;
    uint64_t nkv;
    memcpy(&nkv, v->map + 16, 8);
    size_t p = 24;
    v->n = 0;
    for (uint64_t i = 0; i < nkv; i++) {
        size_t start = p;
        uint64_t kl;
        uint32_t t;
        if (p + 8 > v->size) return -1;
        memcpy(&kl, v->map + p, 8);
        if (kl > v->size - p - 12) return -1;
        int is_tok = kl > 10 && memcmp(v->map + p + 8, "tokenizer.", 10) == 0;
        p += 8 + kl;
        memcpy(&t, v->map + p, 4);
        p += 4;
        if (skip_val(v->map, v->size, &p, t)) {
            fprintf(stderr, "g4-synth: %s: malformed metadata\n", path);
            return -1;
        }
        if (is_tok && v->n < 64) {
            v->kv[v->n].off = start;
            v->kv[v->n].len = p - start;
            v->n++;
        }
    }
    if (v->n == 0) {
        fprintf(stderr, "g4-synth: %s has no tokenizer.* keys\n", path);
        return -1;
    }
    return 0;
}

/* ---- random values --------------------------------------------------------------------------- */
static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
typedef struct rng { uint64_t s[4]; } rng;
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t rnext(rng *r) /* xoshiro256** */
{
    uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return res;
}
static void rseed(rng *r, uint64_t seed, const char *name)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a of the name */
    for (const char *c = name; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ull;
    uint64_t x = seed ^ h;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix(&x);
}
static double runif(rng *r) { return (double)(rnext(r) >> 11) * (1.0 / 9007199254740992.0); }
/* approximately standard normal: Irwin-Hall(4), rescaled */
static float rnorm(rng *r)
{
    uint64_t a = rnext(r), b = rnext(r);
    double s = (double)(a >> 32) + (double)(a & 0xffffffffu) + (double)(b >> 32) +
               (double)(b & 0xffffffffu);
    return (float)((s / 4294967296.0 - 2.0) * 1.7320508075688772);
}
static void rbytes(rng *r, unsigned char *p, size_t n)
{
    while (n >= 8) {
        uint64_t v = rnext(r);
        memcpy(p, &v, 8);
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t v = rnext(r);
        memcpy(p, &v, n);
    }
}

static uint16_t f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    int32_t e = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t m = x & 0x7fffffu;
    if (e <= 0) /* tiny: flush (our values never get there) */
        return (uint16_t)sign;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00u);
    uint32_t h = sign | ((uint32_t)e << 10) | (m >> 13);
    if ((m & 0x1fffu) > 0x1000u || ((m & 0x1fffu) == 0x1000u && (h & 1u)))
        h++;
    return (uint16_t)h;
}
static float f16_to_f32(uint16_t h) /* normal numbers only: all this tool produces */
{
    float v = ldexpf((float)(1024 + (h & 0x3ff)), ((h >> 10) & 0x1f) - 25);
    return (h & 0x8000u) ? -v : v;
}
static uint16_t f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

/* Block scale: |d| = sigma / rms(quant * sub-scale) with a +-50% jitter and a random sign, so
 * that each block is zero-mean in expectation with weights of RMS ~sigma. */
static uint16_t rand_d(rng *r, float sigma, double rms_unit)
{
    double d = sigma / rms_unit * (0.5 + runif(r));
    if (rnext(r) & 1)
        d = -d;
    return f32_to_f16((float)d);
}

/* Fill one row of `ncols` elements of type t at dst. */
static void gen_row(rng *r, uint32_t t, int64_t ncols, unsigned char *dst, int init, float sigma)
{
    if (is_float(t)) {
        for (int64_t i = 0; i < ncols; i++) {
            float v = init == INIT_NORM ? 1.0f + 0.05f * rnorm(r)
                      : init == INIT_ONE ? 1.0f
                      : init == INIT_BIAS ? 0.1f * rnorm(r)
                                          : sigma * rnorm(r);
            if (t == G4_TYPE_F32)
                memcpy(dst + 4 * i, &v, 4);
            else {
                uint16_t h = t == G4_TYPE_F16 ? f32_to_f16(v) : f32_to_bf16(v);
                memcpy(dst + 2 * i, &h, 2);
            }
        }
        return;
    }
    const g4_type_info *ti = g4_type_get(t);
    int64_t nb = ncols / ti->block_elems;
    rbytes(r, dst, (size_t)nb * ti->block_bytes);
    for (int64_t b = 0; b < nb; b++) {
        unsigned char *p = dst + (size_t)b * ti->block_bytes;
        uint16_t d, m;
        switch (t) {
        case G4_TYPE_Q4_0: d = rand_d(r, sigma, 4.61); memcpy(p, &d, 2); break;
        case G4_TYPE_Q5_0: d = rand_d(r, sigma, 9.23); memcpy(p, &d, 2); break;
        case G4_TYPE_Q8_0: d = rand_d(r, sigma, 73.9); memcpy(p, &d, 2); break;
        case G4_TYPE_IQ4_NL: d = rand_d(r, sigma, 67.4); memcpy(p, &d, 2); break;
        case G4_TYPE_Q4_1:
        case G4_TYPE_Q5_1: {
            double mid = t == G4_TYPE_Q4_1 ? 7.5 : 15.5;
            d = rand_d(r, sigma, t == G4_TYPE_Q4_1 ? 4.61 : 9.23);
            m = f32_to_f16((float)(-mid) * f16_to_f32(d)); /* w = d*q + m, zero mean */
            memcpy(p, &d, 2);
            memcpy(p + 2, &m, 2);
            break;
        }
        case G4_TYPE_Q4_K:
        case G4_TYPE_Q5_K: {
            /* w = d*sc*q - dmin*m, sc/m uniform 6-bit; dmin = mid*d keeps E[w] = 0 */
            double mid = t == G4_TYPE_Q4_K ? 7.5 : 15.5;
            d = rand_d(r, sigma, t == G4_TYPE_Q4_K ? 258.0 : 527.0);
            m = f32_to_f16((float)mid * f16_to_f32(d));
            memcpy(p, &d, 2);
            memcpy(p + 2, &m, 2);
            break;
        }
        case G4_TYPE_Q6_K: d = rand_d(r, sigma, 74.0 * 18.5); memcpy(p + 208, &d, 2); break;
        case G4_TYPE_IQ4_XS: d = rand_d(r, sigma, 18.5 * 67.4); memcpy(p, &d, 2); break;
        default:
            fprintf(stderr, "g4-synth: no generator for type %u\n", t);
            exit(1);
        }
    }
}

static void write_tensor(wbuf *w, const tplan *t, uint64_t seed, unsigned char *row)
{
    rng r;
    rseed(&r, seed, t->name);
    size_t rb = g4_type_row_bytes(t->type, t->ne[0]);
    int64_t nrows = t->ne[1] * t->ne[2];
    if (t->init == INIT_PERM) {
        /* i -> (i * odd) mod 2^18 is a permutation of the 262144 ids */
        for (int64_t i = 0; i < t->ne[0]; i++) {
            int32_t v = (int32_t)(((uint64_t)i * 40503u + 977u) % (uint64_t)t->ne[0]);
            w_bytes(w, &v, 4);
        }
        return;
    }
    if (t->init == INIT_ROPE) {
        /* proportional RoPE on full layers: a quarter of the frequency pairs rotated (64 of 256
         * for a 512 head); the rest get a huge divisor, i.e. no rotation */
        for (int64_t i = 0; i < t->ne[0]; i++) {
            float v = i < t->ne[0] / 4 ? 1.0f : 1e30f;
            w_bytes(w, &v, 4);
        }
        return;
    }
    for (int64_t i = 0; i < nrows; i++) {
        gen_row(&r, t->type, t->ne[0], row, t->init, t->sigma);
        w_bytes(w, row, rb);
    }
}

/* ---- GGUF files ------------------------------------------------------------------------------ */

/* Arch-prefixed keys ("gemma4.block_count", "gemma4-assistant.block_count"). */
static const char *ak(const char *arch, const char *key)
{
    static char buf[128];
    snprintf(buf, sizeof buf, "%s.%s", arch, key);
    return buf;
}

typedef struct model_meta {
    const cfg *c;
    const char *arch, *name, *label;
    const vocab_kvs *vk;
} model_meta;

/* Model metadata: key order as llama.cpp's converter writes it (fixtures). */
static void emit_model_kvs(wbuf *w, const void *ud)
{
    const model_meta *mm = ud;
    const cfg *c = mm->c;
    const shape *s = c->s;
    const char *A = mm->arch;
    int L = c->n_layer;
    int32_t hkv[128], ffa[128];
    int swa[128];
    for (int il = 0; il < L; il++) {
        hkv[il] = layer_nkv(c, il);
        ffa[il] = layer_ff(c, il);
        swa[il] = layer_is_swa(c, il);
    }
    int ff_is_arr = s->ff_shared != s->ff;
    kv_str(w, "general.architecture", A);
    kv_str(w, "general.type", "model");
    kv_str(w, "general.name", mm->name);
    kv_str(w, "general.size_label", mm->label);
    kv_u32(w, ak(A, "block_count"), (uint32_t)L);
    kv_u32(w, ak(A, "context_length"), s->ctx);
    kv_u32(w, ak(A, "embedding_length"), (uint32_t)s->d);
    if (ff_is_arr)
        kv_arr_i32(w, ak(A, "feed_forward_length"), ffa, L);
    else
        kv_u32(w, ak(A, "feed_forward_length"), (uint32_t)s->ff);
    kv_u32(w, ak(A, "attention.head_count"), (uint32_t)s->nq);
    if (s->nkv_full)
        kv_arr_i32(w, ak(A, "attention.head_count_kv"), hkv, L);
    else
        kv_u32(w, ak(A, "attention.head_count_kv"), (uint32_t)s->nkv);
    kv_f32(w, ak(A, "rope.freq_base"), 1000000.0f);
    kv_f32(w, ak(A, "rope.freq_base_swa"), 10000.0f);
    kv_f32(w, ak(A, "attention.layer_norm_rms_epsilon"), 1e-6f);
    if (s->n_exp) {
        kv_u32(w, ak(A, "expert_count"), (uint32_t)s->n_exp);
        kv_u32(w, ak(A, "expert_used_count"), (uint32_t)s->n_exp_used);
    }
    kv_u32(w, ak(A, "attention.key_length"), (uint32_t)head_dim(s, 0));
    kv_u32(w, ak(A, "attention.value_length"), (uint32_t)head_dim(s, 0));
    kv_u32(w, "general.file_type", c->f->file_type);
    kv_f32(w, ak(A, "final_logit_softcapping"), 30.0f);
    kv_u32(w, ak(A, "attention.sliding_window"), (uint32_t)s->window);
    kv_u32(w, ak(A, "attention.shared_kv_layers"), (uint32_t)shared_kv_layers(c));
    kv_u32(w, ak(A, "embedding_length_per_layer_input"), (uint32_t)s->ple);
    kv_arr_bool(w, ak(A, "attention.sliding_window_pattern"), swa, L);
    kv_u32(w, ak(A, "attention.key_length_swa"), (uint32_t)head_dim(s, 1));
    kv_u32(w, ak(A, "attention.value_length_swa"), (uint32_t)head_dim(s, 1));
    if (s->n_exp)
        kv_u32(w, ak(A, "expert_feed_forward_length"), (uint32_t)s->ff_exp);
    kv_u32(w, ak(A, "rope.dimension_count"), (uint32_t)head_dim(s, 0));
    kv_u32(w, ak(A, "rope.dimension_count_swa"), (uint32_t)head_dim(s, 1));
    if (c->d_out) {
        kv_u32(w, ak(A, "embedding_length_out"), (uint32_t)c->d_out);
        kv_u32(w, ak(A, "nextn_predict_layers"), (uint32_t)L);
    }
    kv_u32(w, "general.quantization_version", 2);
    for (int i = 0; i < mm->vk->n; i++) {
        w_bytes(w, mm->vk->map + mm->vk->kv[i].off, mm->vk->kv[i].len);
        n_kv++;
    }
}

/* ---- 12B Unified projector (clip: gemma4uv + gemma4ua), tensors as llama.cpp writes them ---- */
#define MM_TILE_LEN 6912 /* 3 x 48 x 48: one 16-px patch pooled 3x3 */
#define MM_N_POS 1120
#define MM_FRAME 640 /* 40 ms of 16 kHz audio */

static void build_mmproj_plan(int d)
{
    nT = 0;
    /* fan-in init: every stage's output stays O(1), like the fixture projector */
    add("mm.a.input_projection.weight", 2, MM_FRAME, d, 1, G4_TYPE_F32, INIT_GAUSS);
    add("mm.input_projection.weight", 2, d, d, 1, G4_TYPE_F32, INIT_GAUSS);
    add("v.patch_embd.bias", 1, d, 1, 1, G4_TYPE_F32, INIT_BIAS);
    add("v.patch_embd.weight", 2, MM_TILE_LEN, d, 1, G4_TYPE_F32, INIT_GAUSS);
    add("v.patch_norm.1.bias", 1, MM_TILE_LEN, 1, 1, G4_TYPE_F32, INIT_BIAS);
    add("v.patch_norm.1.weight", 1, MM_TILE_LEN, 1, 1, G4_TYPE_F32, INIT_NORM);
    add("v.patch_norm.2.bias", 1, d, 1, 1, G4_TYPE_F32, INIT_BIAS);
    add("v.patch_norm.2.weight", 1, d, 1, 1, G4_TYPE_F32, INIT_NORM);
    add("v.position_embd.weight", 3, d, MM_N_POS, 2, G4_TYPE_F32, INIT_GAUSS);
    add("v.patch_norm.3.bias", 1, d, 1, 1, G4_TYPE_F32, INIT_BIAS);
    add("v.patch_norm.3.weight", 1, d, 1, 1, G4_TYPE_F32, INIT_NORM);
    for (int i = 0; i < nT; i++)
        if (T[i].init == INIT_GAUSS)
            T[i].sigma = 0.5f / sqrtf((float)T[i].ne[0]);
    layout_plan();
}

static void kv_bool(wbuf *w, const char *k, int v)
{
    unsigned char b = v ? 1 : 0;
    w_str(w, k); w_u32(w, VT_BOOL); w_bytes(w, &b, 1);
    n_kv++;
}
static void kv_arr_f32(wbuf *w, const char *k, const float *v, int n)
{
    w_str(w, k); w_u32(w, VT_ARR); w_u32(w, VT_F32); w_u64(w, (uint64_t)n);
    w_bytes(w, v, sizeof(float) * (size_t)n);
    n_kv++;
}

typedef struct mmproj_meta {
    int d;
    const char *name, *label;
} mmproj_meta;

/* Key order and values as in the fixture projector (mmproj-tiny-gemma4-unified-f32.gguf). */
static void emit_mmproj_kvs(wbuf *w, const void *ud)
{
    const mmproj_meta *mm = ud;
    static const float mean[3] = {0, 0, 0}, stdv[3] = {1, 1, 1};
    kv_str(w, "general.architecture", "clip");
    kv_str(w, "general.type", "mmproj");
    kv_str(w, "general.name", mm->name);
    kv_str(w, "general.size_label", mm->label);
    kv_u32(w, "general.file_type", 0);
    kv_bool(w, "clip.has_vision_encoder", 1);
    kv_u32(w, "clip.vision.projection_dim", (uint32_t)mm->d);
    kv_u32(w, "clip.vision.image_size", 224);
    kv_u32(w, "clip.vision.patch_size", 16);
    kv_u32(w, "clip.vision.embedding_length", (uint32_t)mm->d);
    kv_u32(w, "clip.vision.feed_forward_length", 0);
    kv_u32(w, "clip.vision.block_count", 0);
    kv_u32(w, "clip.vision.attention.head_count", 0);
    kv_arr_f32(w, "clip.vision.image_mean", mean, 3);
    kv_arr_f32(w, "clip.vision.image_std", stdv, 3);
    kv_bool(w, "clip.has_audio_encoder", 1);
    kv_u32(w, "clip.audio.projection_dim", (uint32_t)mm->d);
    kv_u32(w, "clip.audio.embedding_length", MM_FRAME);
    kv_u32(w, "clip.audio.feed_forward_length", 0);
    kv_u32(w, "clip.audio.block_count", 0);
    kv_u32(w, "clip.audio.attention.head_count", 0);
    kv_str(w, "clip.vision.projector_type", "gemma4uv");
    kv_f32(w, "clip.vision.attention.layer_norm_epsilon", 1e-6f);
    kv_str(w, "clip.audio.projector_type", "gemma4ua");
    kv_u32(w, "clip.audio.num_mel_bins", 128);
    kv_f32(w, "clip.audio.attention.layer_norm_epsilon", 1e-6f);
    kv_u32(w, "general.quantization_version", 2);
}

/* Writes header, metadata (emit), the tensor infos and data of the plan T[0..nT) to out (via
 * out.tmp + rename), or only counts bytes when out is NULL. Returns the data offset. */
static uint64_t write_gguf(const char *out, void (*emit)(wbuf *, const void *), const void *ud,
                           uint64_t seed)
{
    char tmp[4096];
    wbuf w;
    memset(&w, 0, sizeof w);
    w.cap = 8u << 20;
    w.b = malloc(w.cap);
    if (out) {
        snprintf(tmp, sizeof tmp, "%s.tmp", out);
        w.f = fopen(tmp, "wb");
        if (!w.f) {
            fprintf(stderr, "g4-synth: %s: %s\n", tmp, strerror(errno));
            exit(1);
        }
    } else {
        w.f = fopen("/dev/null", "wb");
    }
    if (!w.b || !w.f) {
        fprintf(stderr, "g4-synth: cannot set up the output\n");
        exit(1);
    }

    /* header; n_kv is patched at the end */
    w_bytes(&w, "GGUF", 4);
    w_u32(&w, 3);
    w_u64(&w, (uint64_t)nT);
    long nkv_pos = 16;
    w_u64(&w, 0);
    n_kv = 0;
    emit(&w, ud);
    for (int i = 0; i < nT; i++) {
        w_str(&w, T[i].name);
        w_u32(&w, (uint32_t)T[i].n_dims);
        for (int k = 0; k < T[i].n_dims; k++)
            w_u64(&w, (uint64_t)T[i].ne[k]);
        w_u32(&w, T[i].type);
        w_u64(&w, T[i].offset);
    }
    w_pad(&w);
    uint64_t data_start = w.pos;

    if (out) {
        size_t max_rb = 0;
        for (int i = 0; i < nT; i++) {
            size_t rb = g4_type_row_bytes(T[i].type, T[i].ne[0]);
            if (rb > max_rb)
                max_rb = rb;
        }
        unsigned char *row = malloc(max_rb + 64);
        for (int i = 0; i < nT; i++) {
            while (w.pos - data_start < T[i].offset) {
                unsigned char z = 0;
                w_bytes(&w, &z, 1);
            }
            write_tensor(&w, &T[i], seed, row);
        }
        w_pad(&w);
        free(row);
        w_flush(&w);
        uint64_t nkv64 = (uint64_t)n_kv;
        if (fseek(w.f, nkv_pos, SEEK_SET) != 0 || fwrite(&nkv64, 8, 1, w.f) != 1 ||
            fclose(w.f) != 0) {
            fprintf(stderr, "g4-synth: %s: %s\n", tmp, strerror(errno));
            exit(1);
        }
        if (rename(tmp, out) != 0) {
            fprintf(stderr, "g4-synth: rename %s: %s\n", out, strerror(errno));
            exit(1);
        }
    } else {
        w_flush(&w);
        fclose(w.f);
    }
    free(w.b);
    return data_start;
}

static void plan_totals(uint64_t *data_bytes, uint64_t *touched, uint64_t *n_params)
{
    *data_bytes = *touched = *n_params = 0;
    for (int i = 0; i < nT; i++) {
        *data_bytes = T[i].offset + T[i].nbytes;
        *touched += (uint64_t)((double)T[i].nbytes * T[i].touched);
        *n_params += (uint64_t)(T[i].ne[0] * T[i].ne[1] * T[i].ne[2]);
    }
}

static void size_label(char *buf, size_t n, uint64_t n_params, int tiny)
{
    if (!tiny)
        snprintf(buf, n, "%.1fB", (double)n_params / 1e9);
    else
        snprintf(buf, n, "%.1fM", (double)n_params / 1e6);
}

/* ---- main ------------------------------------------------------------------------------------ */
static void usage(void)
{
    fprintf(stderr,
            "usage: g4-synth --shape e2b|e4b|12b|26b-a4b|31b|tiny --type TYPE [--layers N]\n"
            "                [--seed S] [--pure] [--vocab FILE] (-o OUT.gguf | --plan)\n"
            "                [--mmproj MMPROJ.gguf [--mmproj-width N]] [--draft DRAFT.gguf]\n"
            "                [--emb-sigma S]                        (the last four: tiny only)\n"
            "  TYPE: f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 iq4_nl q6_k q4_k_m q5_k_m iq4_xs\n");
    exit(2);
}

/* Stream salts, so that the drafter's and projector's tensors (some share the model's names)
 * are not copies of the model's random streams. */
#define SALT_DRAFT 0x6472616674ull  /* "draft" */
#define SALT_MMPROJ 0x6d6d70726full /* "mmpro" */

int main(int argc, char **argv)
{
    const char *shape_s = NULL, *type_s = NULL, *out = NULL, *mmproj_out = NULL, *draft_out = NULL;
    const char *vocab = "/work/shared/fixtures/tokenizer/ggml-vocab-gemma-4.gguf";
    int mmproj_width = 0;
    cfg c;
    memset(&c, 0, sizeof c);
    c.seed = 1;
    c.emb_sigma = TINY_EMB_SIGMA;
    int plan_only = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(s) (strcmp(a, s) == 0 && v && (++i, 1))
        if (ARG("--shape")) shape_s = v;
        else if (ARG("--type")) type_s = v;
        else if (ARG("--layers")) c.n_layer = atoi(v);
        else if (ARG("--seed")) c.seed = strtoull(v, NULL, 0);
        else if (ARG("--vocab")) vocab = v;
        else if (ARG("-o")) out = v;
        else if (ARG("--mmproj")) mmproj_out = v;
        else if (ARG("--draft")) draft_out = v;
        else if (ARG("--mmproj-width")) mmproj_width = atoi(v);
        else if (ARG("--emb-sigma")) c.emb_sigma = strtof(v, NULL);
        else if (strcmp(a, "--pure") == 0) c.pure = 1;
        else if (strcmp(a, "--plan") == 0) plan_only = 1;
        else usage();
#undef ARG
    }
    if (!shape_s || !type_s || (!out && !plan_only && !mmproj_out && !draft_out))
        usage();
    for (size_t i = 0; i < sizeof k_shapes / sizeof k_shapes[0]; i++)
        if (strcmp(shape_s, k_shapes[i].name) == 0)
            c.s = &k_shapes[i];
    for (size_t i = 0; i < sizeof k_ftypes / sizeof k_ftypes[0]; i++)
        if (strcmp(type_s, k_ftypes[i].name) == 0)
            c.f = &k_ftypes[i];
    if (!c.s || !c.f)
        usage();
    /* The projector and the drafter exist for the tiny shape and the real 12b one (the 12B
     * Unified's encoder-free embedder; a 12B-shaped assistant for the speculative benchmark). */
    if ((draft_out || mmproj_out) && !c.s->tiny && strcmp(shape_s, "12b") != 0) {
        fprintf(stderr, "g4-synth: --draft and --mmproj are only made for --shape tiny and 12b\n");
        return 2;
    }
    if (c.n_layer <= 0 || c.n_layer > c.s->n_layer)
        c.n_layer = c.s->n_layer;
    const shape *s = c.s;
    int L = c.n_layer;

    /* the tokenizer block is needed by the model and the drafter, not by the projector */
    vocab_kvs vk;
    memset(&vk, 0, sizeof vk);
    if (!plan_only && (out || draft_out) && load_vocab(vocab, &vk) != 0) {
        fprintf(stderr, "g4-synth: cannot use vocab file %s\n", vocab);
        return 1;
    }

    if (out || plan_only) {
        build_plan(&c);
        uint64_t data_bytes, touched, n_params;
        plan_totals(&data_bytes, &touched, &n_params);
        char name[160], label[64];
        snprintf(name, sizeof name, "g4-synth Gemma 4 %s %s%s L%d seed %llu%s", s->label,
                 c.f->name, c.pure ? " pure" : "", L, (unsigned long long)c.seed,
                 s->tiny ? " (RANDOM weights)" : "");
        size_label(label, sizeof label, n_params, s->tiny);
        model_meta mm = {&c, "gemma4", name, label, &vk};
        uint64_t data_start = write_gguf(plan_only ? NULL : out, emit_model_kvs, &mm, c.seed);

        /* summary */
        uint64_t type_bytes[G4_TYPE_COUNT] = {0};
        for (int i = 0; i < nT; i++)
            type_bytes[T[i].type] += T[i].nbytes;
        printf("{\"shape\":\"%s\",\"type\":\"%s\",\"pure\":%d,\"layers\":%d,\"seed\":%llu,"
               "\"n_tensors\":%d,\"n_params\":%llu,\"file_bytes\":%llu,\"weight_bytes\":%llu,"
               "\"decode_bytes_per_token\":%llu,\"bytes_by_type\":{",
               s->name, c.f->name, c.pure, L, (unsigned long long)c.seed, nT,
               (unsigned long long)n_params, (unsigned long long)(data_start + data_bytes),
               (unsigned long long)data_bytes, (unsigned long long)touched);
        int first = 1;
        for (int t = 0; t < G4_TYPE_COUNT; t++)
            if (type_bytes[t]) {
                printf("%s\"%s\":%llu", first ? "" : ",", g4_type_get((uint32_t)t)->name,
                       (unsigned long long)type_bytes[t]);
                first = 0;
            }
        printf("}");
        if (plan_only) {
            printf(",\"tensors\":[");
            for (int i = 0; i < nT; i++)
                printf("%s\n{\"name\":\"%s\",\"ne\":[%lld,%lld,%lld],\"type\":\"%s\",\"bytes\":%llu}",
                       i ? "," : "", T[i].name, (long long)T[i].ne[0], (long long)T[i].ne[1],
                       (long long)T[i].ne[2], g4_type_get(T[i].type)->name,
                       (unsigned long long)T[i].nbytes);
            printf("]");
        }
        printf("}\n");
        if (plan_only)
            return 0;
    }

    if (draft_out) {
        cfg dc = c;
        dc.s = s->tiny ? &k_tiny_draft : &k_12b_draft;
        dc.n_layer = dc.s->n_layer;
        dc.d_out = s->d;
        dc.centroids = s->tiny ? 0 : DRAFT_CENTROIDS;
        build_plan(&dc);
        uint64_t data_bytes, touched, n_params;
        plan_totals(&data_bytes, &touched, &n_params);
        char name[160], label[64];
        snprintf(name, sizeof name, "g4-synth Gemma 4 %s assistant %s seed %llu (RANDOM weights)",
                 s->label, c.f->name, (unsigned long long)c.seed);
        size_label(label, sizeof label, n_params, s->tiny);
        model_meta mm = {&dc, "gemma4-assistant", name, label, &vk};
        uint64_t data_start = write_gguf(draft_out, emit_model_kvs, &mm, c.seed ^ SALT_DRAFT);
        printf("{\"draft\":\"%s\",\"n_tensors\":%d,\"n_params\":%llu,\"file_bytes\":%llu,"
               "\"step_bytes\":%llu}\n",
               draft_out, nT, (unsigned long long)n_params,
               (unsigned long long)(data_start + data_bytes), (unsigned long long)touched);
    }

    if (mmproj_out) {
        int mw = mmproj_width > 0 ? mmproj_width : s->d;
        build_mmproj_plan(mw);
        uint64_t data_bytes, touched, n_params;
        plan_totals(&data_bytes, &touched, &n_params);
        char name[160], label[64];
        snprintf(name, sizeof name, "g4-synth Gemma 4 %s projector seed %llu (RANDOM weights)",
                 s->tiny ? "tiny" : shape_s, (unsigned long long)c.seed);
        size_label(label, sizeof label, n_params, s->tiny);
        mmproj_meta mm = {mw, name, label};
        uint64_t data_start = write_gguf(mmproj_out, emit_mmproj_kvs, &mm, c.seed ^ SALT_MMPROJ);
        printf("{\"mmproj\":\"%s\",\"n_tensors\":%d,\"n_params\":%llu,\"file_bytes\":%llu}\n",
               mmproj_out, nT, (unsigned long long)n_params,
               (unsigned long long)(data_start + data_bytes));
    }
    return 0;
}
