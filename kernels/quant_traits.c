/* Per-type traits (activation pairing as in ggml's type_traits_cpu) and the public
 * g4k_dequantize / g4k_quantize entry points. */
#include "quant.h"

_Static_assert(sizeof(g4q_q4_0) == 18, "q4_0");
_Static_assert(sizeof(g4q_q4_1) == 20, "q4_1");
_Static_assert(sizeof(g4q_q5_0) == 22, "q5_0");
_Static_assert(sizeof(g4q_q5_1) == 24, "q5_1");
_Static_assert(sizeof(g4q_q8_0) == 34, "q8_0");
_Static_assert(sizeof(g4q_q8_1) == 36, "q8_1");
_Static_assert(sizeof(g4q_q2_K) == 84, "q2_K");
_Static_assert(sizeof(g4q_q3_K) == 110, "q3_K");
_Static_assert(sizeof(g4q_q4_K) == 144, "q4_K");
_Static_assert(sizeof(g4q_q5_K) == 176, "q5_K");
_Static_assert(sizeof(g4q_q6_K) == 210, "q6_K");
_Static_assert(sizeof(g4q_q8_K) == 292, "q8_K");
_Static_assert(sizeof(g4q_iq4_nl) == 18, "iq4_nl");
_Static_assert(sizeof(g4q_iq4_xs) == 136, "iq4_xs");
_Static_assert(sizeof(g4q_mxfp4) == 17, "mxfp4");

#define T(type, act, dq, q, dot) [G4_TYPE_##type] = {G4_TYPE_##act, dq, q, dot}
static const g4q_traits k_traits[G4_TYPE_COUNT] = {
    T(F32, F32, g4q_dequant_f32, g4q_quant_f32, NULL),
    T(F16, F32, g4q_dequant_f16, g4q_quant_f16, NULL),
    T(BF16, F32, g4q_dequant_bf16, g4q_quant_bf16, NULL),
    T(Q4_0, Q8_0, g4q_dequant_q4_0, g4q_quant_q4_0, g4q_dot_q4_0),
    T(Q4_1, Q8_1, g4q_dequant_q4_1, g4q_quant_q4_1, g4q_dot_q4_1),
    T(Q5_0, Q8_0, g4q_dequant_q5_0, g4q_quant_q5_0, g4q_dot_q5_0),
    T(Q5_1, Q8_1, g4q_dequant_q5_1, g4q_quant_q5_1, g4q_dot_q5_1),
    T(Q8_0, Q8_0, g4q_dequant_q8_0, g4q_quant_q8_0, g4q_dot_q8_0),
    T(Q8_1, F32, g4q_dequant_q8_1, g4q_quant_q8_1, NULL),
    T(Q2_K, F32, g4q_dequant_q2_K, NULL, NULL),
    T(Q3_K, F32, g4q_dequant_q3_K, NULL, NULL),
    T(Q4_K, Q8_K, g4q_dequant_q4_K, g4q_quant_q4_K, g4q_dot_q4_K),
    T(Q5_K, Q8_K, g4q_dequant_q5_K, g4q_quant_q5_K, g4q_dot_q5_K),
    T(Q6_K, Q8_K, g4q_dequant_q6_K, g4q_quant_q6_K, g4q_dot_q6_K),
    T(Q8_K, F32, g4q_dequant_q8_K, g4q_quant_q8_K, NULL),
    T(IQ4_NL, Q8_0, g4q_dequant_iq4_nl, g4q_quant_iq4_nl, g4q_dot_iq4_nl),
    T(IQ4_XS, Q8_K, g4q_dequant_iq4_xs, g4q_quant_iq4_xs, g4q_dot_iq4_xs),
    T(MXFP4, Q8_0, g4q_dequant_mxfp4, g4q_quant_mxfp4, g4q_dot_mxfp4),
};
#undef T

const g4q_traits *g4q_traits_get(uint32_t type)
{
    if (type >= G4_TYPE_COUNT || !k_traits[type].dequant)
        return NULL;
    return &k_traits[type];
}

int g4k_dequantize(uint32_t type, const void *src, float *dst, int64_t n)
{
    const g4q_traits *t = g4q_traits_get(type);
    const g4_type_info *ti = g4_type_get(type);
    if (!t || !ti || n < 0 || n % ti->block_elems)
        return -1;
    t->dequant(src, dst, n);
    return 0;
}

size_t g4k_quantize(uint32_t type, const float *src, void *dst, int64_t n)
{
    const g4q_traits *t = g4q_traits_get(type);
    if (!t || !t->quant)
        return 0;
    const size_t bytes = g4_type_row_bytes(type, n);
    if (!bytes && n)
        return 0;
    t->quant(src, dst, n);
    return bytes;
}

int g4k_quantize_rows(uint32_t type, const float *src, int64_t n, int64_t n_rows, void *dst, size_t stride)
{
    const g4q_traits *t = g4q_traits_get(type);
    if (!t || !t->quant || (n && !g4_type_row_bytes(type, n)))
        return -1;
    const g4k_qact_fn q = type < G4_TYPE_COUNT ? g4k_kernels_active()->qact[type] : NULL;
    if (q)
        q(src, n, n_rows, dst, stride);
    else
        for (int64_t r = 0; r < n_rows; r++)
            t->quant(src + r * n, (uint8_t *)dst + (size_t)r * stride, n);
    return 0;
}

size_t g4k_act_row_bytes(uint32_t wtype, int64_t n)
{
    const g4q_traits *t = g4q_traits_get(wtype);
    return t ? g4_type_row_bytes(t->act_type, n) : 0;
}

void g4k_quantize_act(uint32_t wtype, const float *x, int64_t n, int64_t n_tok, void *dst)
{
    const g4q_traits *t = g4q_traits_get(wtype);
    const g4q_traits *at = g4q_traits_get(t->act_type);
    const size_t rb = g4_type_row_bytes(t->act_type, n);
    for (int64_t i = 0; i < n_tok; i++)
        at->quant(x + i * n, (uint8_t *)dst + i * rb, n);
}
