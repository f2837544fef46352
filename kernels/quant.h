/* Internal to the kernel layer: ggml block structs (byte-exact with ggml-common.h), the
 * per-type traits table and the per-ISA kernel table. Nothing here is visible to model code. */
#ifndef G4_QUANT_H
#define G4_QUANT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels.h"

#define G4_QK 32
#define G4_QK_K 256

/* Blocks hold fp16 fields as raw uint16_t. All structs have the exact ggml sizeof (asserted in
 * quant_traits.c), so a row is an array of them. */
typedef struct { uint16_t d; uint8_t qs[16]; } g4q_q4_0;
typedef struct { uint16_t d, m; uint8_t qs[16]; } g4q_q4_1;
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } g4q_q5_0;
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } g4q_q5_1;
typedef struct { uint16_t d; int8_t qs[32]; } g4q_q8_0;
typedef struct { uint16_t d, s; int8_t qs[32]; } g4q_q8_1;
typedef struct { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; } g4q_q2_K;
typedef struct { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; } g4q_q3_K;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } g4q_q4_K;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } g4q_q5_K;
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } g4q_q6_K;
typedef struct { float d; int8_t qs[256]; int16_t bsums[16]; } g4q_q8_K;
typedef struct { uint16_t d; uint8_t qs[16]; } g4q_iq4_nl;
typedef struct { uint16_t d; uint16_t scales_h; uint8_t scales_l[4]; uint8_t qs[128]; } g4q_iq4_xs;
typedef struct { uint8_t e; uint8_t qs[16]; } g4q_mxfp4;

extern const int8_t g4q_kvalues_iq4nl[16];
extern const int8_t g4q_kvalues_mxfp4[16];

/* ggml's nearest_int: round half to even for |x| < 2^22, no libm call. */
static inline int g4q_nearest_int(float f)
{
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* 2^(e-128): the E8M0 scale with MXFP4's doubled E2M1 table folded in (ggml-impl.h). */
static inline float g4q_e8m0_half(uint8_t e)
{
    uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* 6-bit scale and min j of a Q4_K/Q5_K block (ggml get_scale_min_k4). */
static inline void g4q_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* ---- per-format scalar reference functions (one row of n elements) -------------------- */
typedef void (*g4q_dequant_fn)(const void *src, float *dst, int64_t n);
typedef void (*g4q_quant_fn)(const float *src, void *dst, int64_t n);
/* Dot of one weight row with one activation row already in the traits' act_type. */
typedef float (*g4q_dot_fn)(int64_t n, const void *w, const void *a);

#define G4Q_DECL(T)                                                                        \
    void g4q_dequant_##T(const void *src, float *dst, int64_t n);                         \
    void g4q_quant_##T(const float *src, void *dst, int64_t n);                           \
    float g4q_dot_##T(int64_t n, const void *w, const void *a);
G4Q_DECL(q4_0)
G4Q_DECL(q4_1)
G4Q_DECL(q5_0)
G4Q_DECL(q5_1)
G4Q_DECL(q8_0)
G4Q_DECL(q4_K)
G4Q_DECL(q5_K)
G4Q_DECL(q6_K)
G4Q_DECL(iq4_nl)
G4Q_DECL(iq4_xs)
G4Q_DECL(mxfp4)
#undef G4Q_DECL
void g4q_dequant_q2_K(const void *src, float *dst, int64_t n);
void g4q_dequant_q3_K(const void *src, float *dst, int64_t n);
void g4q_dequant_q8_1(const void *src, float *dst, int64_t n);
void g4q_quant_q8_1(const float *src, void *dst, int64_t n);
void g4q_dequant_q8_K(const void *src, float *dst, int64_t n);
void g4q_quant_q8_K(const float *src, void *dst, int64_t n);
void g4q_dequant_f32(const void *src, float *dst, int64_t n);
void g4q_quant_f32(const float *src, void *dst, int64_t n);
void g4q_dequant_f16(const void *src, float *dst, int64_t n);
void g4q_quant_f16(const float *src, void *dst, int64_t n);
void g4q_dequant_bf16(const void *src, float *dst, int64_t n);
void g4q_quant_bf16(const float *src, void *dst, int64_t n);

typedef struct g4q_traits {
    uint32_t act_type;       /* format activations are converted to for g4k_matmul (F32: none) */
    g4q_dequant_fn dequant;  /* NULL: unsupported type */
    g4q_quant_fn quant;      /* NULL: no quantizer */
    g4q_dot_fn dot;          /* scalar dot against act_type; NULL when act_type is F32 */
} g4q_traits;

/* NULL if the type has no dequantizer. */
const g4q_traits *g4q_traits_get(uint32_t type);

/* ---- rows-in-lanes packed matrices (pack16.c, rows16_scalar.c, *_rows16_avx512.c) ------ */
/* A matrix packed for the LM head: groups of G4K_R16 rows, one 32-bit lane per row. A group is
 * group_bytes long (groups back to back) and is read front to back as ONE sequential stream
 * (several interleaved streams inside the same 4 KB pages defeat Zen 4's prefetchers, see
 * below). For n columns:
 *   Q8_0: pairs of 32-value blocks, 1088 bytes each: the two blocks' quants (512 bytes each),
 *     then their scales (16 rows' fp16 d, 32 bytes each). A block's quants are 8 "k-quads" of
 *     64 bytes: k-quad m, lane i = row i's quants 4m..4m+3, each + 128 (unsigned, so that they
 *     are vpdpbusd's unsigned operand and the activation's 4 bytes its broadcast signed one).
 *     An odd block count leaves the last pair's second half zero.
 *   Q6_K: per 256-value super-block 3360 bytes: 16 x 192 bytes of quants, then 16 sub-blocks x
 *     16 rows of int8 scales (sub-block-major), then the 16 rows' fp16 d. The quants are 64
 *     k-quads of 6-bit values (0..63, as stored); 192-byte part c is sub-block c, k-quads
 *     4c .. 4c+3: the low nibbles of k-quads 4c | 4c+2 (low | high nibble), of 4c+1 | 4c+3,
 *     then the high 2-bit pairs of k-quads 4c, 4c+1, 4c+2, 4c+3 (bits 0, 2, 4, 6).
 *   Q4_0: pairs of 32-value blocks, 576 bytes each: the two blocks' quants (256 bytes each),
 *     then their scales (16 rows' fp16 d, 32 bytes each). A block's quants are 4 words of 64
 *     bytes: word m, lane i = row i's qs[4m..4m+3] as stored (low nibbles: values 4m..4m+3,
 *     high nibbles: values 16+4m..16+4m+3). An odd block count leaves the last pair's second
 *     half zero.
 *   Q4_K: per 256-value super-block 2304 bytes: 32 words of 64 bytes of quants (word m, lane
 *     i = row i's qs[4m..4m+3] as stored: low nibbles values 64(m/8) + 4(m%8) .. +3 of
 *     sub-block 2(m/8), high nibbles the same + 32, of sub-block 2(m/8) + 1), then 3 words of
 *     the 12 packed 6-bit scale/min bytes (word k, lane i = row i's scales[4k..4k+3]), then the
 *     16 rows' fp16 d, then their fp16 dmin.
 * The same bytes per row as the GGUF's blocks (544 per 16 x 32 Q8_0 values, 288 per 16 x 32
 * Q4_0, 2304 per 16 x 256 Q4_K, 3360 per 16 x 256 Q6_K): the packed copy streams no more
 * memory than the original, and g4k_packed_rows gives the GGUF rows back byte for byte (Q4_0,
 * Q4_K: prefill's GEMM reads a packed layer matrix that way). */
#define G4K_R16 16
typedef struct g4k_r16_act {
    const uint8_t *q;    /* nt activation rows (Q8_0 for Q8_0 weights, Q8_K for Q6_K), q_stride apart */
    size_t q_stride;
    const int32_t *corr; /* [nt][n_corr] per token: Q8_0 weights: 128*sum(a) per block; Q4_0:
                          * 8*sum(a) per block; Q6_K: 32*bsum per 16; Q4_K: per 64 values the
                          * i16 pair (sum(a) of the first 32 | of the second 32 << 16) */
    const float *d;      /* [nt][n_d] per token: the activation's scale per block (Q8_0) / super-block */
    int64_t n_corr, n_d, nt;
} g4k_r16_act;
/* y[t * y_stride + g * 16 + i] = row i of group g . token t, for g < n_groups, i < 16, t < a->nt
 * (all 16 rows of every group are written, padding rows included). */
typedef void (*g4k_r16_fn)(int64_t n, const uint8_t *groups, size_t group_bytes, int64_t n_groups,
                           const g4k_r16_act *a, float *y, int64_t y_stride);
/* Bytes of one packed group of G4K_R16 rows of n columns of `type`; 0: no packed form. */
size_t g4k_r16_group_bytes(uint32_t type, int64_t n);
void g4k_r16_q8_0_avx512(int64_t n, const uint8_t *groups, size_t gb, int64_t ng, const g4k_r16_act *a, float *y,
                         int64_t ys);
void g4k_r16_q6_K_avx512(int64_t n, const uint8_t *groups, size_t gb, int64_t ng, const g4k_r16_act *a, float *y,
                         int64_t ys);
void g4k_r16_q4_0_avx512(int64_t n, const uint8_t *groups, size_t gb, int64_t ng, const g4k_r16_act *a, float *y,
                         int64_t ys);
void g4k_r16_q4_K_avx512(int64_t n, const uint8_t *groups, size_t gb, int64_t ng, const g4k_r16_act *a, float *y,
                         int64_t ys);

/* ---- per-ISA kernel table ------------------------------------------------------------- */
/* y[t*y_stride + r] = dot(row r of w, activation row t) for r < nr, t < nt.
 * w rows are w_stride bytes apart, activation rows a_stride bytes apart, both in the layout the
 * type's traits name (act_type F32 means plain float activations). */
typedef void (*g4k_mm_fn)(int64_t n, const void *w, size_t w_stride, int64_t nr, const void *a,
                          size_t a_stride, int64_t nt, float *y, int64_t y_stride);
typedef float (*g4k_dot_f32_fn)(int64_t n, const float *a, const float *b);
/* Activation rows (the type's act format) to a GEMM's token tiles; see g4k_kernels.gemm_act. */
typedef size_t (*g4k_tile_fn)(int64_t n, const void *a, size_t a_stride, int64_t nt, void *dst);

/* Quantize n_tok rows of n floats into act rows `stride` bytes apart; bit-exact with the
 * scalar quantizer of that act format (tests check it). */
typedef void (*g4k_qact_fn)(const float *x, int64_t n, int64_t n_tok, void *dst, size_t stride);

typedef struct g4k_kernels {
    g4k_isa isa;
    g4k_mm_fn mm[G4_TYPE_COUNT];   /* any nt; NULL: no matmul for this type */
    g4k_mm_fn mv[G4_TYPE_COUNT];   /* nt == 1 (decode) specialisation; NULL: use mm */
    g4k_mm_fn gemm[G4_TYPE_COUNT]; /* nt >= G4K_GEMM_MIN_TOK (prefill) specialisation; NULL: mm */
    /* Rows gemm computes together (its micro-kernel's row group): the driver's row chunks are a
     * multiple of it, else a chunk's last group is partly padding (0: 16). */
    int gemm_rows[G4_TYPE_COUNT];
    /* Opt-in prefill variant that rounds f32 activations to 16 bits (vdpbf16ps for BF16
     * weights): used only by g4k_matmul_lowp; NULL: gemm. */
    g4k_mm_fn gemm_lowp[G4_TYPE_COUNT];
    /* gemm_lowp's activation packing, done once per g4k_matmul_lowp call (shared by the pool's
     * threads) instead of once per row chunk: x (n_tok rows of n floats, n even) to tiles of 16
     * tokens, tile i at dst + 16 * i * stride (stride = 2n bytes per token), inside a tile the
     * bf16 pair (x[2p], x[2p+1]) of token t at uint32 [p * 16 + t]; tokens past n_tok are 0.
     * gemm_lowp then gets `a` at the tile of its first token (a multiple of 16) and that stride. */
    g4k_qact_fn lowp_pack[G4_TYPE_COUNT];
    /* gemm's activation tiles, built once per g4k_matmul token block (shared by the pool's
     * threads) instead of once per row chunk, which made that work grow with the thread count
     * (8 chunks per thread, each re-tiling every token: 8% of a 2-thread pp512, and a constant
     * per-thread cost that capped scaling at 16 threads). Quantized activation rows (a_stride
     * apart) in, ceil(nt / 16) tiles of 16 tokens out, tile i at dst + 16 * i * stride; returns
     * stride, the tiled bytes per token (dst NULL: only returns it). gemm then gets `a` at the
     * tile of its first token (a multiple of 16) and that stride. NULL: gemm takes the rows. */
    g4k_tile_fn gemm_act[G4_TYPE_COUNT];
    g4k_qact_fn qact[G4_TYPE_COUNT]; /* indexed by act type (Q8_0, Q8_1, Q8_K); NULL: scalar */
    g4k_dot_f32_fn dot_f32;
    /* 2..G4K_MVN_MAX_TOK tokens (MTP verification): each weight block decoded once for all the
     * tokens, results bit-identical to mv per token; NULL: mv per token over L2-sized chunks */
    g4k_mm_fn mvn[G4_TYPE_COUNT];
    float (*exp_sub_sum)(float *x, int64_t n, float m); /* g4k_exp_sub_sum */
    void (*softmax)(float *x, int64_t n);                 /* g4k_softmax */
    void (*geglu_tanh)(float *g, const float *u, int64_t n); /* g4k_geglu_tanh */
    void (*geglu_tanh_clamp)(float *g, const float *u, int64_t n, const float b[6]); /* g4k_geglu_tanh_clamp */
    void (*clamp)(const float *src, float *dst, int64_t n, float lo, float hi); /* g4k_clamp_copy */
    double (*sum_sq)(const float *x, int64_t n); /* g4k_sum_sq */
    void (*scale_row)(const float *x, float s, const float *w, float *y, int64_t n, int add); /* g4k_scale_row */
    void (*mul_sigmoid)(float *dst, const float *x, const float *s, int64_t n); /* g4k_mul_sigmoid */
    int64_t (*argmax)(const float *x, int64_t n);            /* g4k_argmax */
    int64_t (*first_ge)(const float *x, int64_t n, float t); /* g4k_first_ge */
    /* KV-cache rows (g4k_row_dot / g4k_row_axpy), indexed by the row's type */
    float (*row_dot[G4_TYPE_COUNT])(const void *row, const float *q, int64_t n);
    void (*row_axpy[G4_TYPE_COUNT])(const void *row, float w, float *o, int64_t n);
    /* prompt attention tiles (g4k_row_to_f32, g4k_attn_kt / _qk / _pv; attn_tile*.c) */
    void (*row_f32[G4_TYPE_COUNT])(const void *row, float *dst, int64_t n);
    void (*attn_kt)(const float *k, int64_t nk, int64_t hd, float *kt, int64_t ldk);
    void (*attn_qk)(const float *q, int64_t nr, int64_t hd, const float *kt, int64_t nk, float *s, int64_t ss);
    void (*attn_pv)(const float *p, int64_t ps, int64_t nr, const float *v, int64_t hd, int64_t nk, float *o);
    /* rows-in-lanes packed matrices (pack16.c: g4k_pack / g4k_matmul_packed), indexed by the
     * original weight type; NULL: g4k_pack declines and the caller keeps the GGUF layout */
    g4k_r16_fn rows16[G4_TYPE_COUNT];
    /* Products with the outputs in lanes, bf16 (attn_bf16.c: g4k_scores_bf16, g4k_pv_bf16):
     * y[t * ys + j] = sum_i x[t * ldx + i] w_j[i] for output groups [g0, g1) of rows t < nx,
     * outputs past n_out not stored. w packed as [group of 16 outputs][pair p of (len + 1) / 2]
     * [16 lanes] uint32 (lane j: output 16g + j's bf16 pair (w_j[2p], w_j[2p + 1]), zero past
     * n_out and past len); x f32, rounded to bf16 pairs by the kernel. NULL: the attention keeps
     * plain bf16 rows, multiplied through g4k_matmul_lowp. */
    void (*lanes_bf16)(const uint32_t *wp, int64_t len, int64_t n_out, int64_t g0, int64_t g1, const float *x,
                       int64_t ldx, int64_t nx, float *y, int64_t ys);
    /* Its w, packed from f32 (round to nearest even, zero padding): outputs as x's rows (keys:
     * output j = x[j * ldx + i], i < len) for output groups [g0, g1), or as x's columns (values:
     * output j = x[i * ldx + j], i < len, j < n_out) for input pairs [p0, p1). Set with it. */
    void (*lanes_rows_bf16)(const float *x, int64_t ldx, int64_t len, int64_t n_out, int64_t g0, int64_t g1,
                            uint32_t *dst);
    void (*lanes_cols_bf16)(const float *x, int64_t ldx, int64_t len, int64_t n_out, int64_t p0, int64_t p1,
                            uint32_t *dst);
    /* The float GEMM's panels, packed once and multiplied many times (attn_f32.c: a head's keys
     * and values against every query tile). flt_rg rows per group (a divisor of
     * G4K_FLT_RG_MAX), group g stored k-major: dst[g * n * rg + k * rg + i] = row g * rg + i's
     * value k, zero past the last row; panels 64-byte aligned.
     * flt_pack: groups [g0, g1) of the nr rows of w (row i at w + i * ldw, n floats).
     * flt_panel_mm: y[t * ys + r] = sum_k row_r[k] x[t * xs + k] for r < nr, t < nt, each a
     * sequential f32 FMA sum over k: bit for bit gemm[G4_TYPE_F32] on the rows as a matrix.
     * NULL: the attention keeps plain rows and multiplies through g4k_matmul. */
    int flt_rg;
    void (*flt_pack)(const float *w, int64_t ldw, int64_t n, int64_t nr, int64_t g0, int64_t g1, float *dst);
    void (*flt_panel_mm)(const float *panel, int64_t n, int64_t nr, const float *x, int64_t xs, int64_t nt,
                         float *y, int64_t ys);
} g4k_kernels;

/* Largest flt_rg of any level (the f32 attention's buffers are padded to it). */
#define G4K_FLT_RG_MAX 32

/* Decode row pairing. Kernels that run two rows per pass (sharing the activation loads) pair
 * row r of their chunk with row r + nr/2, never with row r + 1: two streams one row apart
 * (2-8 KB, inside the same 4 KB pages) defeat the hardware prefetchers of AMD Zen 4, which then
 * streamed Q4_0 / Q8_0 / Q6_K at 6.5-9.7 GB/s from DRAM, a third of the 1-row AVX2 kernels;
 * the two halves of a chunk are two independent sequential streams and ran at 23-26 GB/s
 * (test_kernels --bench, 15360x3840, 1 thread). A row's value does not depend on its partner. */

/* Largest token count the mvn entries take (a verify batch of 1 + 7 drafts). */
#define G4K_MVN_MAX_TOK 8
/* How far ahead (bytes) the x86 mvn kernels prefetch their weight stream: at 2-8 tokens they
 * spend several times the single-token instructions per weight byte, and the hardware
 * prefetchers fall behind, so the weight loads stall the arithmetic instead of overlapping it.
 * One thread keeps ~distance / 64 lines in flight, and the stream needs about bandwidth x
 * latency of them. Packed 61440x3840 matrices (test_pack16 --bench), this Zen machine, ms,
 * medians of 3 interleaved rounds, 2048 / 8192 / 16384 bytes ahead:
 *   Q4_K 1 thread: 1 token 4.60 / 3.27 / 3.87, 4 tokens 6.51 / 4.74 / 4.82
 *   Q4_0 1 thread: 1 token 5.54 / 5.13 / 4.83, 4 tokens 6.90 / 5.86 / 5.75
 *   Q6_K 1 thread: 1 token 5.67 / 5.66 / 5.52, 4 tokens 7.90 / 6.66 / 6.74
 *   2 threads, 4 tokens: Q4_K 3.47 / 2.48 / 2.75, Q4_0 3.70 / 3.05 / 3.13, Q6_K 4.16 / 3.53 / 3.60
 * (an earlier Zen 4 sweep with GGUF-layout kernels: none / 1 KB / 2 KB ahead gave Q4_K 6.9 / 8.4 /
 * 8.8 GB/s at 4 tokens). Prefetches never fault: running past a matrix's end is harmless. */
#define G4K_MVN_PREFETCH 8192

/* Token count from which g4k_matmul hands whole token blocks to the gemm entry. */
#define G4K_GEMM_MIN_TOK (G4K_MVN_MAX_TOK + 1) /* verify batches (<= 8 rows) never take the GEMM */

/* Each ISA translation unit overrides the entries it accelerates. */
void g4k_fill_scalar(g4k_kernels *k);
void g4k_fill_avx2(g4k_kernels *k);
void g4k_fill_avx512(g4k_kernels *k);
void g4k_fill_neon(g4k_kernels *k);
/* Separately compiled parts of a level, called by the fill functions above. */
void g4k_fill_avx2_mv(g4k_kernels *k);
void g4k_fill_avx2_qact(g4k_kernels *k);
void g4k_fill_avx512_gemm(g4k_kernels *k);
void g4k_fill_neon_mm(g4k_kernels *k);
void g4k_fill_avx512_mv(g4k_kernels *k);
void g4k_fill_avx512_mvn(g4k_kernels *k);
void g4k_avx512_mvn_q4_0(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, int64_t nt,
                         float *y, int64_t ys); /* zmm_q4_0's shapes only */
void g4k_fill_avx512_bf16(g4k_kernels *k); /* only when the CPU has AVX512-BF16 */
void g4k_fill_avx2_gemm_flt(g4k_kernels *k);   /* float-weight prefill GEMM (gemm_flt_x86.h) */
void g4k_fill_avx512_gemm_flt(g4k_kernels *k);
void g4k_fill_avx2_exp(g4k_kernels *k); /* softmax exponentials (exp_avx2.c) */
void g4k_fill_avx512_exp(g4k_kernels *k); /* the same, 512-bit (exp_avx512.c) */
void g4k_fill_avx512_norm(g4k_kernels *k); /* RMSNorm's row passes (norm_avx512.c) */
void g4k_fill_avx2_argmax(g4k_kernels *k); /* greedy choice over a row (argmax_avx2.c) */
void g4k_fill_avx2_kvrow(g4k_kernels *k); /* KV-cache row dot / axpy (kvrow_avx2.c) */
void g4k_fill_scalar_attn(g4k_kernels *k); /* prompt attention tiles (attn_tile.c, attn_tile_*.c) */
void g4k_fill_avx2_attn(g4k_kernels *k);
void g4k_fill_avx512_attn(g4k_kernels *k);
void g4k_fill_scalar_rows16(g4k_kernels *k); /* packed heads (rows16_scalar.c, *_rows16_avx512.c) */
/* The scalar level's clamp entry (clamp.c; 128-bit where SSE is there). */
void g4k_clamp_base(const float *src, float *dst, int64_t n, float lo, float hi);
void g4k_fill_avx512_rows16(g4k_kernels *k);

/* Thread ith's share [*a, *b) of n items in whole units of `unit` (the last one may be short);
 * 0 when its share is empty. The pool tasks' static split. */
static inline int g4k_share(int64_t n, int64_t unit, int ith, int nth, int64_t *a, int64_t *b)
{
    const int64_t units = (n + unit - 1) / unit, per = (units + nth - 1) / nth;
    const int64_t u0 = ith * per, u1 = u0 + per < units ? u0 + per : units;
    *a = u0 * unit;
    *b = u1 * unit < n ? u1 * unit : n;
    return u0 < u1;
}

/* Per-thread scratch that only grows (freed at thread exit): slot < G4K_SCRATCH_SLOTS.
 * Returns a 64-byte aligned buffer of at least `bytes`, or NULL if out of memory. The content
 * is not preserved across calls that grow it. */
#define G4K_SCRATCH_SLOTS 8
enum {
    G4K_SCRATCH_ACT = 0,
    G4K_SCRATCH_GEMM_A = 1,
    G4K_SCRATCH_GEMM_W = 2,
    G4K_SCRATCH_ROW = 3,
    G4K_SCRATCH_TILES = 4, /* g4k_matmul's shared GEMM activation tiles (the caller's thread) */
    G4K_SCRATCH_UNPACK = 5, /* GGUF rows rebuilt from a packed matrix (g4k_packed_rows) */
    G4K_SCRATCH_CLAMP = 6,  /* g4k_matmul_lowp_clamped's clamped activation rows */
    G4K_SCRATCH_SCORES = 7  /* g4k_attn_f32's score tile (and its fallback's query rows) */
};
void *g4k_scratch(int slot, size_t bytes);

/* CPU feature probe (cpu_features.c): highest level usable by CPU *and* OS. */
typedef struct g4k_cpu {
    int avx2, fma, f16c;
    int avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16;
    int neon, dotprod, i8mm;
} g4k_cpu;
void g4k_cpu_detect(g4k_cpu *c);
int g4k_cpu_supports(const g4k_cpu *c, g4k_isa isa);

/* ---- internal API (tests, benchmarks) ------------------------------------------------- */
/* Kernel table for an ISA level, or NULL if this CPU/build lacks it. Initialises dispatch. */
const g4k_kernels *g4k_kernels_for(g4k_isa isa);
const g4k_kernels *g4k_kernels_active(void);
/* g4k_matmul with an explicit table. */
void g4k_matmul_with(const g4k_kernels *k, g4k_pool *pool, const g4k_matrix *w, const float *x,
                     int64_t n_tok, float *y);
void g4k_matmul_lowp_with(const g4k_kernels *k, g4k_pool *pool, const g4k_matrix *w, const float *x,
                          int64_t n_tok, float *y);
void g4k_matmul_lowp_clamped_with(const g4k_kernels *k, g4k_pool *pool, const g4k_matrix *w, const float *x,
                                  int64_t n_tok, float *y, float lo, float hi);
/* g4k_keys_bf16 / g4k_values_bf16 / g4k_scores_bf16 / g4k_pv_bf16 with an explicit table (the
 * layouts are the table's). */
void g4k_keys_bf16_with(const g4k_kernels *k, g4k_pool *pool, const float *key, int64_t ldk, int64_t hd,
                        int64_t n_keys, uint16_t *dst);
void g4k_values_bf16_with(const g4k_kernels *k, g4k_pool *pool, const float *v, int64_t ldv, int64_t hd,
                          int64_t n_keys, uint16_t *dst);
void g4k_scores_bf16_with(const g4k_kernels *k, g4k_pool *pool, const uint16_t *keys, int64_t n_keys, int64_t hd,
                          const float *q, int64_t nq, float *s);
void g4k_pv_bf16_with(const g4k_kernels *k, g4k_pool *pool, const uint16_t *values, int64_t n_keys, int64_t hd,
                      const float *p, int64_t nq, float *o);
/* g4k_keys_f32 / g4k_values_f32 / g4k_attn_f32 with an explicit table (the layouts are the
 * table's). */
void g4k_keys_f32_with(const g4k_kernels *k, g4k_pool *pool, const float *key, int64_t ldk, int64_t hd,
                       int64_t n_keys, float *dst);
void g4k_values_f32_with(const g4k_kernels *k, g4k_pool *pool, const float *v, int64_t ldv, int64_t hd,
                         int64_t n_keys, float *dst);
void g4k_attn_f32_with(const g4k_kernels *k, g4k_pool *pool, const float *keys, const float *values, int64_t n_keys,
                       int64_t hd, const float *q, int64_t ldq, int64_t nq, float *o, int64_t ldo);
/* g4k_pack / g4k_matmul_packed with an explicit table (NULL: that table has no packed kernel
 * for w's type). G4_PACK_HEAD=0 is honoured by g4k_pack only. */
g4k_packed *g4k_pack_with(const g4k_kernels *k, g4k_pool *pool, const g4k_matrix *w);
void g4k_matmul_packed_with(const g4k_kernels *k, g4k_pool *pool, const g4k_packed *p, const float *x,
                            int64_t n_tok, float *y);
/* Rows [r0, r0 + nr) of w in its GGUF layout: w's own bytes, or (a packed matrix) rebuilt into
 * this thread's G4K_SCRATCH_UNPACK scratch, valid until its next use; NULL: out of memory. */
const uint8_t *g4k_matrix_rows(const g4k_matrix *w, int64_t r0, int64_t nr);
/* Bytes of one activation row of n elements for a weight type's act_type. */
size_t g4k_act_row_bytes(uint32_t wtype, int64_t n);
/* Quantize n_tok activation rows for weight type wtype (scalar; act rows g4k_act_row_bytes apart). */
void g4k_quantize_act(uint32_t wtype, const float *x, int64_t n, int64_t n_tok, void *dst);

#endif
