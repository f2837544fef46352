/* Prompt-attention tile kernels, scalar reference (the fallback level and what the x86 and tests
 * compare against): K tile transpose, scores of a block of query rows against a key tile, and
 * the probability-weighted sum of a value tile (g4k_attn_kt / g4k_attn_qk / g4k_attn_pv, used
 * by plugin/attention_prefill.c). Plain sequential f32 sums. */
#include "quant.h"

static void attn_kt(const float *k, int64_t nk, int64_t hd, float *kt, int64_t ldk)
{
    for (int64_t j = 0; j < nk; j++)
        for (int64_t d = 0; d < hd; d++)
            kt[d * ldk + j] = k[j * hd + d];
}

static void attn_qk(const float *q, int64_t nr, int64_t hd, const float *kt, int64_t nk, float *s, int64_t ss)
{
    for (int64_t r = 0; r < nr; r++) {
        float *sr = s + r * ss;
        for (int64_t j = 0; j < nk; j++)
            sr[j] = 0.f;
        for (int64_t d = 0; d < hd; d++) {
            const float qd = q[r * hd + d];
            const float *kd = kt + d * nk;
            for (int64_t j = 0; j < nk; j++)
                sr[j] += qd * kd[j];
        }
    }
}

static void attn_pv(const float *p, int64_t ps, int64_t nr, const float *v, int64_t hd, int64_t nk, float *o)
{
    for (int64_t r = 0; r < nr; r++)
        for (int64_t j = 0; j < nk; j++) {
            const float w = p[r * ps + j];
            for (int64_t d = 0; d < hd; d++)
                o[r * hd + d] += w * v[j * hd + d];
        }
}

/* KV row to f32 through the type's dequantizer (F32, F16, BF16, Q8_0) */
#define ROW_F32(T, TYPE)                                                                           \
    static void row_f32_##T(const void *row, float *dst, int64_t n)                                \
    {                                                                                              \
        g4q_traits_get(TYPE)->dequant(row, dst, n);                                                \
    }
ROW_F32(f32, G4_TYPE_F32)
ROW_F32(f16, G4_TYPE_F16)
ROW_F32(bf16, G4_TYPE_BF16)
ROW_F32(q8_0, G4_TYPE_Q8_0)

void g4k_fill_scalar_attn(g4k_kernels *k)
{
    k->row_f32[G4_TYPE_F32] = row_f32_f32;
    k->row_f32[G4_TYPE_F16] = row_f32_f16;
    k->row_f32[G4_TYPE_BF16] = row_f32_bf16;
    k->row_f32[G4_TYPE_Q8_0] = row_f32_q8_0;
    k->attn_kt = attn_kt;
    k->attn_qk = attn_qk;
    k->attn_pv = attn_pv;
}
