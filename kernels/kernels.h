/* The kernel layer's contract with the model code.
 *
 * Model code never touches SIMD or quant blocks: it hands a weight matrix (as stored in the
 * GGUF, any supported type) and f32 activations to g4k_matmul, and runs its own per-head or
 * per-row loops on the thread pool with g4k_pool_run. ISA selection happens once
 * (g4k_init); the dispatch table lives in kernels/dispatch.c. */
#ifndef G4_KERNELS_H
#define G4_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "ggml_types.h"

/* ---- ISA selection -------------------------------------------------------------------- */
typedef enum g4k_isa {
    G4K_ISA_SCALAR = 0,
    G4K_ISA_AVX2 = 1,   /* AVX2 + FMA + F16C */
    G4K_ISA_AVX512 = 2, /* AVX-512 F/BW/VL/DQ + VNNI (+BF16 when present) */
    G4K_ISA_NEON = 3    /* Armv8 NEON (+dotprod, +i8mm when present) */
} g4k_isa;

/* Detects CPU features once and fills the dispatch table. Honours G4_ISA=scalar|avx2|avx512|neon
 * (a level the CPU lacks is an error). Thread-safe, idempotent. Returns 0, or -1 with a message in
 * err. */
int g4k_init(char *err, size_t errlen);
g4k_isa g4k_active_isa(void);
const char *g4k_isa_name(g4k_isa isa);

/* ---- Thread pool ---------------------------------------------------------------------- */
typedef struct g4k_pool g4k_pool;

/* n_threads <= 0: choose from the topology (physical / performance cores). */
g4k_pool *g4k_pool_new(int n_threads);
void g4k_pool_free(g4k_pool *p);
int g4k_pool_size(const g4k_pool *p);

/* Runs fn(ctx, ith, nth) on every thread of the pool (ith in [0, nth)), the caller being thread 0;
 * returns when all are done. One run at a time per pool: a run asked for while the pool is busy
 * (nested in a task, or from another thread sharing the pool, e.g. concurrent embedders on one
 * model) executes inline on the calling thread as fn(ctx, 0, 1), as does a NULL pool. So a task
 * must split its work by the (ith, nth) it is given, never by g4k_pool_size(). */
typedef void (*g4k_task_fn)(void *ctx, int ith, int nth);
void g4k_pool_run(g4k_pool *p, g4k_task_fn fn, void *ctx);

/* Same contract, except that a worker which has not started by the time the caller has finished
 * its own share no longer holds the run up: the caller runs that ith itself (so one thread may
 * run several ith, one after the other). For tasks that do not use g4k_pool_barrier and do not
 * care which thread runs an ith: the decode path's matmuls and loops, so that a busy core beside
 * the model slows a step down by its share instead of by a scheduler time slice per run. */
void g4k_pool_run_elastic(g4k_pool *p, g4k_task_fn fn, void *ctx);

/* Kernels allocate their scratch lazily; when that fails they skip their work. This returns 1
 * (and clears the record) if any kernel run on this thread or on the pool's workers since the
 * last call failed so; the caller must then treat its results as garbage (G4_ERR_OUT_OF_MEMORY). */
int g4k_take_alloc_failure(g4k_pool *p);
int g4k_scratch_take_failure(void); /* this thread only */

/* ---- Matrices ------------------------------------------------------------------------- */
typedef struct g4k_matrix {
    const void *data;  /* row-major rows of n_cols elements in `type`, rows row_bytes apart */
    uint32_t type;     /* g4_type */
    int64_t n_cols;    /* inner (contiguous) dimension = GGUF ne[0] */
    int64_t n_rows;    /* = GGUF ne[1] */
    size_t row_bytes;
    /* NULL, or the same matrix re-laid out rows in lanes (g4k_pack_layer): then every g4k_*
     * call on this matrix reads the packed copy only (data's pages may have been given back to
     * the OS; reading them would fault them in from the file again, still correct). */
    const struct g4k_packed *packed;
} g4k_matrix;

/* 1 if the matmul path supports this weight type, else 0. */
int g4k_type_supported(uint32_t type);

/* Y[t * n_rows + r] = sum_k W[r, k] * X[t * n_cols + k]   for t < n_tok, r < W->n_rows.
 * Decode (n_tok small) and prefill (n_tok large) take different paths internally.
 * Accumulation is f32 or exact integer; activations may be quantized internally to the
 * weight's matching 8-bit format (documented per format in kernels/README.md). */
void g4k_matmul(g4k_pool *pool, const g4k_matrix *w, const float *x, int64_t n_tok, float *y);

/* Opt-in lower-precision prefill: like g4k_matmul, but float weights may multiply activations
 * rounded to 16 bits where the CPU has a faster 16-bit dot product (today: BF16 weights with
 * AVX512-BF16 vdpbf16ps, relative error <= 2^-9 per product, about 2x the f32 FMA rate). Where
 * no such kernel exists it is exactly g4k_matmul. Never used by default (conformance). */
void g4k_matmul_lowp(g4k_pool *pool, const g4k_matrix *w, const float *x, int64_t n_tok, float *y);

/* The one clamp rule (the encoders' ClippableLinear, the conformer's gradient clip): v > lo ? v :
 * lo, then < hi ? : hi, so NaN -> lo; every level's vector clamp gives exactly this per value. */
static inline float g4k_clamp1(float v, float lo, float hi)
{
    v = v > lo ? v : lo;
    return v < hi ? v : hi;
}
/* dst[i] = g4k_clamp1(src[i], lo, hi) (dst may be src). g4k_clamp_pool: the same split across
 * the pool (NULL: this thread). */
void g4k_clamp_copy(const float *src, float *dst, int64_t n, float lo, float hi);
void g4k_clamp_pool(g4k_pool *pool, const float *src, float *dst, int64_t n, float lo, float hi);
/* 0 when clamp(src[i], lo, hi) is src[i] bit for bit for every i < n (all strictly inside
 * (lo, hi)), else 1 (a value outside, at a bound, or NaN): the encoders skip a clamped copy whose
 * bounds do not bind. g4k_clamp_changes_pool: the same check split across the pool. */
int g4k_clamp_changes(const float *src, int64_t n, float lo, float hi);
int g4k_clamp_changes_pool(g4k_pool *pool, const float *src, int64_t n, float lo, float hi);
/* g4k_matmul_lowp of clamp(x, lo, hi), x left as it is. The clamp is applied where the
 * activations are converted anyway (quantized rows, bf16 tiles), so no clamped copy of x goes
 * through memory: the E-series encoders' ClippableLinear inputs. Results are those of
 * g4k_matmul_lowp on a clamped copy, bit for bit. */
void g4k_matmul_lowp_clamped(g4k_pool *pool, const g4k_matrix *w, const float *x, int64_t n_tok, float *y,
                             float lo, float hi);

/* Same as g4k_matmul but with every activation kept in f32 (no activation quantization):
 * the reference path used by the conformance runner's --exact mode and by tests. */
void g4k_matmul_f32act(g4k_pool *pool, const g4k_matrix *w, const float *x, int64_t n_tok, float *y);

/* y[i] = W[rows[i]] . x for i < n_sel, one token, quantized weights (activations quantized as
 * g4k_matmul does, each value equal to g4k_matmul's for that row): heads that need only some
 * rows. Returns 0, or -1 (bad type or row index, or no scratch memory; y untouched then). */
int g4k_matmul_rows(g4k_pool *pool, const g4k_matrix *w, const int32_t *rows, int64_t n_sel, const float *x,
                    float *y);

/* ---- Packed matrices (pack16.c) --------------------------------------------------------
 * A copy of a weight matrix re-arranged for the active level's "rows in lanes" kernel (16 rows
 * interleaved, one 32-bit vector lane per row, no horizontal sums): for the LM head and the
 * layers' matrices, which decode and MTP verify multiply with 1..G4K_MVN_MAX_TOK tokens. */
typedef struct g4k_packed g4k_packed;
/* A layer's weight matrix packed for decode and verify (threaded on pool): set it as the
 * matrix's .packed, and g4k_matmul then runs 1..G4K_MVN_MAX_TOK tokens on the rows-in-lanes
 * kernel (a verify batch costs about one decode step, and each token's result is bit for bit a
 * single-token call's) and larger batches on the GEMM, reading the GGUF rows rebuilt from the
 * packed copy (g4k_packed_rows): the original's pages are no longer needed. Q4_0, Q4_K, Q6_K and Q8_0 on
 * levels with their packed kernels; NULL (keep the GGUF layout) for other types, with
 * G4_PACK_LAYERS=0 in the environment, or when out of memory. */
g4k_packed *g4k_pack_layer(g4k_pool *pool, const g4k_matrix *w);
/* The GGUF bytes of rows [r0, r0 + nr) of a packed matrix into dst (nr x row_bytes): exactly
 * the original's. 0, or -1 (a type without an unpacker, rows out of range). */
int g4k_packed_rows(const g4k_packed *p, int64_t r0, int64_t nr, void *dst);
/* Packs w (threaded on pool). NULL, and w is to be used as it is, when the active level has no
 * packed kernel for w's type (today Q8_0, Q6_K, Q4_0 and Q4_K, on AVX-512 and scalar), when
 * the environment sets G4_PACK_HEAD=0, or when out of memory. w's data must stay valid for the
 * packed matrix's life (kept for types without an unpacker; see g4k_packed_rows). */
g4k_packed *g4k_pack(g4k_pool *pool, const g4k_matrix *w);
void g4k_packed_free(g4k_packed *p);
/* Bytes the packed copy holds (its own allocation). */
size_t g4k_packed_bytes(const g4k_packed *p);
/* Y = W X as g4k_matmul (the same activation formats), for the packed W. Up to
 * G4K_MVN_MAX_TOK tokens (8) run in one pass of one kernel whose per-token arithmetic does not
 * depend on the other tokens, nor on how rows are split across threads: each token's logits are
 * bit for bit those of a single-token call. More tokens: g4k_matmul on the original matrix. */
void g4k_matmul_packed(g4k_pool *pool, const g4k_packed *p, const float *x, int64_t n_tok, float *y);

/* Dequantize row r of w into dst[n_cols] (embedding lookups, tests). Returns 0, -1 on bad type. */
int g4k_get_row(const g4k_matrix *w, int64_t r, float *dst);

/* Scalar reference dequantizer for n elements (n a multiple of the block size). */
int g4k_dequantize(uint32_t type, const void *src, float *dst, int64_t n);

/* Scalar reference quantizers (used by tools/g4-quantize and tests). Return bytes written or 0
 * if the type has no quantizer. n must be a multiple of the block size. */
size_t g4k_quantize(uint32_t type, const float *src, void *dst, int64_t n);

/* The same result as g4k_quantize, bit for bit, for n_rows rows of n floats (rows `stride`
 * bytes apart in dst), with the active level's vectorised quantizer where it has one (Q8_0 today;
 * test_kernels checks those byte for byte against the scalar quantizers): converting weights at
 * load (the encoders' opt-in q8 precision). Returns 0, -1 if the type has no quantizer. */
int g4k_quantize_rows(uint32_t type, const float *src, int64_t n, int64_t n_rows, void *dst, size_t stride);

/* Softmax exponentials: x[i] = exp(x[i] - m) for i < n, returns their sum (f32). Vectorised
 * where the level has it (within 2 ulp of expf; x[i] - m below -87.3, -inf included, gives 0),
 * libm's expf on the scalar level. */
float g4k_exp_sub_sum(float *x, int64_t n, float m);
/* In-place row softmax (max-subtracted), same exponentials. */
void g4k_softmax(float *x, int64_t n);
/* g[i] = gelu_tanh(g[i]) * u[i] (gelu_pytorch_tanh; vectorised levels use the equivalent
 * logistic form z·sigmoid(2c(z + 0.044715 z^3)), within a few ulp of the tanhf formula). */
void g4k_geglu_tanh(float *g, const float *u, int64_t n);
/* The E-series encoders' MLP gate with its three ClippableLinear clamps in the same pass:
 * g[i] = clamp(gelu_tanh(clamp(g[i], b[0], b[1])) * clamp(u[i], b[2], b[3]), b[4], b[5]) (the
 * gate's and up's output clamps, the down projection's input clamp; u is not written). Bit for
 * bit g4k_clamp_copy, g4k_geglu_tanh and g4k_clamp_copy in turn, without three more passes. */
void g4k_geglu_tanh_clamp(float *g, const float *u, int64_t n, const float b[6]);
/* RMSNorm's row passes (ops/norm.c). g4k_sum_sq: sum of x[i]^2 in double in eight chains
 * (element i in chain i % 8, the tail in chain 0, summed ((0+1)+(2+3))+((4+5)+(6+7))), the same
 * value on every level. g4k_scale_row: y[i] = x[i] * s * w[i] (w NULL: x[i] * s; add: y[i] +=
 * x[i] * s * w[i], w required), each operation rounded as written, on every level; y may be x. */
double g4k_sum_sq(const float *x, int64_t n);
void g4k_scale_row(const float *x, float s, const float *w, float *y, int64_t n, int add);
/* dst[i] = x[i] * sigmoid(s[i]) = x[i] / (1 + exp(-s[i])): SiLU (x = s) and the GLU gate of the
 * audio conformer. dst may be x or s. Vectorised levels use the softmax's exponential (within
 * 2 ulp of expf); the scalar level is libm's expf. */
void g4k_mul_sigmoid(float *dst, const float *x, const float *s, int64_t n);
/* The first index of the largest of x[0..n) (NaN never wins unless x[0] is NaN; n >= 1): the
 * greedy token of a logit row. Every level gives exactly the scalar loop's answer. */
int64_t g4k_argmax(const float *x, int64_t n);
/* The first i in [0, n) with x[i] >= t, or n. */
int64_t g4k_first_ge(const float *x, int64_t n, float t);

/* KV-cache rows (the attention's one interface to the cache's storage type): a row of n
 * elements stored as `type` (F32, F16, BF16, Q8_0 — g4k_row_type_supported; n a multiple of 8,
 * and of 32 for Q8_0), written with g4k_quantize. dot(row, q), and o += w · row. */
int g4k_row_type_supported(uint32_t type);
float g4k_row_dot(uint32_t type, const void *row, const float *q, int64_t n);
void g4k_row_axpy(uint32_t type, const void *row, float w, float *o, int64_t n);

/* Prompt-attention tiles (plugin/attention_prefill.c): a tile of keys widened once to f32 and
 * reused by every query row of a block. dst = row (as g4k_row_dot reads it) in f32. */
void g4k_row_to_f32(uint32_t type, const void *row, float *dst, int64_t n);
/* Key tile to k-major: kt[d * ldk + j] = k[j * hd + d] for j < nk, d < hd. */
void g4k_attn_kt(const float *k, int64_t nk, int64_t hd, float *kt, int64_t ldk);
/* Scores: s[r * ss + j] = sum_d q[r * hd + d] * kt[d * nk + j] for r < nr, j < nk (nk a
 * multiple of G4K_ATTN_BK: pad the key tile with zero columns). */
void g4k_attn_qk(const float *q, int64_t nr, int64_t hd, const float *kt, int64_t nk, float *s, int64_t ss);
/* Values: o[r * hd + d] += sum_j p[r * ps + j] * v[j * hd + d] for r < nr, j < nk, d < hd. */
void g4k_attn_pv(const float *p, int64_t ps, int64_t nr, const float *v, int64_t hd, int64_t nk, float *o);
#define G4K_ATTN_BK 64 /* keys per tile; g4k_attn_qk's nk is a multiple of it */

/* Attention against bf16 keys and values (attn_bf16.c): the encoders' opt-in precisions round
 * a head's keys and values to bf16 once and run every query block against them. Their layouts
 * are the active level's: outputs in lanes where it has such a kernel (AVX512-BF16: queries and
 * probabilities rounded to bf16 too, relative error <= 2^-9 per product, as g4k_matmul_lowp),
 * else plain bf16 rows (keys, and values transposed) multiplied through g4k_matmul_lowp. */
/* uint16 elements the keys, or the values, of one head take (n_keys keys of hd values). */
size_t g4k_keys_bf16_elems(int64_t n_keys, int64_t hd);
size_t g4k_values_bf16_elems(int64_t n_keys, int64_t hd);
/* Rounds the n_keys keys (key i at key + i * ldk, hd floats), or their values (v + i * ldv),
 * into dst (threaded on pool). */
void g4k_keys_bf16(g4k_pool *pool, const float *key, int64_t ldk, int64_t hd, int64_t n_keys, uint16_t *dst);
void g4k_values_bf16(g4k_pool *pool, const float *v, int64_t ldv, int64_t hd, int64_t n_keys, uint16_t *dst);
/* s[t * n_keys + i] = q_t . key_i for t < nq, i < n_keys (q rows hd floats apart). */
void g4k_scores_bf16(g4k_pool *pool, const uint16_t *keys, int64_t n_keys, int64_t hd, const float *q, int64_t nq,
                     float *s);
/* o[t * hd + c] = sum_i p[t * n_keys + i] v_i[c] for t < nq, c < hd. */
void g4k_pv_bf16(g4k_pool *pool, const uint16_t *values, int64_t n_keys, int64_t hd, const float *p, int64_t nq,
                 float *o);

/* Whole-row attention in f32 (attn_f32.c), the vision towers' default: a head's keys and values
 * are laid out once (the float GEMM's panels where the level has them, else plain rows) and
 * every query tile runs scores, softmax and p v in its own thread with the score rows in L2.
 * Each output is what g4k_matmul (keys as an F32 matrix) -> g4k_softmax -> g4k_matmul (values
 * transposed) gives for a batch of G4K_GEMM_MIN_TOK or more queries, bit for bit.
 * Floats the keys, or the values, of one head take (n_keys keys of hd values). */
size_t g4k_keys_f32_elems(int64_t n_keys, int64_t hd);
size_t g4k_values_f32_elems(int64_t n_keys, int64_t hd);
/* Lays out the n_keys keys (key i at key + i * ldk, hd floats), or their values (v + i * ldv),
 * in dst (threaded on pool; the layout starts at dst's first 64-byte boundary, so pass the same
 * pointer to g4k_attn_f32). */
void g4k_keys_f32(g4k_pool *pool, const float *key, int64_t ldk, int64_t hd, int64_t n_keys, float *dst);
void g4k_values_f32(g4k_pool *pool, const float *v, int64_t ldv, int64_t hd, int64_t n_keys, float *dst);
/* o[t * ldo + c] = sum_i softmax_i(q_t . key_i) v_i[c] for t < nq, c < hd (q_t at q + t * ldq;
 * scale 1: callers fold any scale into q), no mask; threaded on pool over query tiles. */
void g4k_attn_f32(g4k_pool *pool, const float *keys, const float *values, int64_t n_keys, int64_t hd, const float *q,
                  int64_t ldq, int64_t nq, float *o, int64_t ldo);

/* fp16 / bf16 conversions (scalar, exact round-to-nearest-even). */
float g4k_f16_to_f32(uint16_t h);
uint16_t g4k_f32_to_f16(float f);
float g4k_bf16_to_f32(uint16_t h);
uint16_t g4k_f32_to_bf16(float f);

#endif
