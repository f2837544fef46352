/* KV-cache row kernels, AVX2 + FMA + F16C (the AVX-512 level inherits them): dot(q, row) and
 * o += w·row for one head's row stored as F32, F16, BF16 or Q8_0 (g4k_row_dot / g4k_row_axpy),
 * and the row widened to f32 (g4k_row_to_f32, the prompt attention's tile conversion).
 * The attention loops call them once per cached position, so they convert in registers and
 * never write a widened copy. */
#include <immintrin.h>
#include <string.h>

#include "quant.h"

static inline __attribute__((always_inline)) __m256 ld8(uint32_t type, const uint8_t *p, int64_t i)
{
    switch (type) {
    case G4_TYPE_F16:
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 2 * i)));
    case G4_TYPE_BF16:
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p + 2 * i))), 16));
    default:
        return _mm256_loadu_ps((const float *)p + i);
    }
}

static inline __attribute__((always_inline)) float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* n a multiple of 8 for the float formats (head dims are), of 32 for Q8_0 */
static inline __attribute__((always_inline)) float dot_flt(uint32_t type, const void *row, const float *q, int64_t n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(ld8(type, row, i), _mm256_loadu_ps(q + i), a0);
        a1 = _mm256_fmadd_ps(ld8(type, row, i + 8), _mm256_loadu_ps(q + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(ld8(type, row, i), _mm256_loadu_ps(q + i), a0);
    return hsum(_mm256_add_ps(a0, a1));
}
static float dot_f32(const void *r, const float *q, int64_t n) { return dot_flt(G4_TYPE_F32, r, q, n); }
static float dot_f16(const void *r, const float *q, int64_t n) { return dot_flt(G4_TYPE_F16, r, q, n); }
static float dot_bf16(const void *r, const float *q, int64_t n) { return dot_flt(G4_TYPE_BF16, r, q, n); }

static float dot_q8_0(const void *row, const float *q, int64_t n)
{
    const g4q_q8_0 *b = row;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t k = 0; k < n / 32; k++) {
        __m256 s = _mm256_setzero_ps();
        for (int j = 0; j < 32; j += 8) {
            const __m256 w = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b[k].qs + j))));
            s = _mm256_fmadd_ps(w, _mm256_loadu_ps(q + 32 * k + j), s);
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b[k].d)), s, acc);
    }
    return hsum(acc);
}

static inline __attribute__((always_inline)) void axpy_flt(uint32_t type, const void *row, float w, float *o, int64_t n)
{
    const __m256 wv = _mm256_set1_ps(w);
    for (int64_t i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(o + i, _mm256_fmadd_ps(wv, ld8(type, row, i), _mm256_loadu_ps(o + i)));
}
static void axpy_f32(const void *r, float w, float *o, int64_t n) { axpy_flt(G4_TYPE_F32, r, w, o, n); }
static void axpy_f16(const void *r, float w, float *o, int64_t n) { axpy_flt(G4_TYPE_F16, r, w, o, n); }
static void axpy_bf16(const void *r, float w, float *o, int64_t n) { axpy_flt(G4_TYPE_BF16, r, w, o, n); }

static void axpy_q8_0(const void *row, float w, float *o, int64_t n)
{
    const g4q_q8_0 *b = row;
    for (int64_t k = 0; k < n / 32; k++) {
        const __m256 wd = _mm256_set1_ps(w * _cvtsh_ss(b[k].d));
        for (int j = 0; j < 32; j += 8) {
            const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b[k].qs + j))));
            float *oj = o + 32 * k + j;
            _mm256_storeu_ps(oj, _mm256_fmadd_ps(wd, q, _mm256_loadu_ps(oj)));
        }
    }
}

/* dst = row as f32 (the prompt attention's tile conversion, g4k_row_to_f32) */
static inline __attribute__((always_inline)) void f32_flt(uint32_t type, const void *row, float *dst, int64_t n)
{
    for (int64_t i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, ld8(type, row, i));
}
static void f32_f32(const void *r, float *d, int64_t n) { f32_flt(G4_TYPE_F32, r, d, n); }
static void f32_f16(const void *r, float *d, int64_t n) { f32_flt(G4_TYPE_F16, r, d, n); }
static void f32_bf16(const void *r, float *d, int64_t n) { f32_flt(G4_TYPE_BF16, r, d, n); }

static void f32_q8_0(const void *row, float *dst, int64_t n)
{
    const g4q_q8_0 *b = row;
    for (int64_t k = 0; k < n / 32; k++) {
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(b[k].d));
        for (int j = 0; j < 32; j += 8) {
            const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b[k].qs + j))));
            _mm256_storeu_ps(dst + 32 * k + j, _mm256_mul_ps(d, q));
        }
    }
}

void g4k_fill_avx2_kvrow(g4k_kernels *k)
{
    k->row_f32[G4_TYPE_F32] = f32_f32;
    k->row_f32[G4_TYPE_F16] = f32_f16;
    k->row_f32[G4_TYPE_BF16] = f32_bf16;
    k->row_f32[G4_TYPE_Q8_0] = f32_q8_0;
    k->row_dot[G4_TYPE_F32] = dot_f32;
    k->row_dot[G4_TYPE_F16] = dot_f16;
    k->row_dot[G4_TYPE_BF16] = dot_bf16;
    k->row_dot[G4_TYPE_Q8_0] = dot_q8_0;
    k->row_axpy[G4_TYPE_F32] = axpy_f32;
    k->row_axpy[G4_TYPE_F16] = axpy_f16;
    k->row_axpy[G4_TYPE_BF16] = axpy_bf16;
    k->row_axpy[G4_TYPE_Q8_0] = axpy_q8_0;
}
