/* Scalar reference kernels for the rows-in-lanes packed matrices (layout: quant.h, g4k_r16_act;
 * packing and driver: pack16.c). They do, per row lane, exactly the operations the vector
 * kernels do per lane (exact integer sums, then per block / super-block one int->float, one
 * product of the two scales and one fused multiply-add), so they give the same floats, bit for
 * bit (tests/test_kernels.c checks it), and they run the packed heads at the scalar level. */
#include <math.h>
#include <string.h>

#include "quant.h"

static inline int32_t load_i8(const int8_t *p) { return *p; }

/* Lane i's 32 quants of block b (value order; Q8_0 stored + 128, Q4_0 0..15) and its fp16 scale,
 * in a packed group of 32-value blocks (Q8_0: pairs of 1088 bytes, Q4_0: pairs of 576). */
static uint16_t lane_block32(uint32_t type, const uint8_t *base, int64_t b, int i, int32_t q[32])
{
    const size_t pair = type == G4_TYPE_Q8_0 ? 1088 : 576, qbytes = type == G4_TYPE_Q8_0 ? 512 : 256;
    const uint8_t *qb = base + (size_t)(b >> 1) * pair + (size_t)(b & 1) * qbytes;
    for (int m = 0; m < (type == G4_TYPE_Q8_0 ? 8 : 4); m++)
        for (int e = 0; e < 4; e++) {
            const int v = qb[m * 64 + i * 4 + e];
            if (type == G4_TYPE_Q8_0) {
                q[4 * m + e] = v;
            } else {
                q[4 * m + e] = v & 15;
                q[16 + 4 * m + e] = v >> 4;
            }
        }
    uint16_t d;
    memcpy(&d, base + (size_t)(b >> 1) * pair + 2 * qbytes + (size_t)(b & 1) * 32 + (size_t)i * 2, sizeof d);
    return d;
}

/* Q8_0 and Q4_0 (Q8_0 activations): per block the exact sum from -corr, then one FMA. */
static void r16_block32_scalar(uint32_t type, int64_t n, const uint8_t *groups, size_t gb, int64_t ng,
                               const g4k_r16_act *a, float *y, int64_t ys)
{
    const int64_t nb = n / G4_QK;
    for (int64_t g = 0; g < ng; g++) {
        const uint8_t *base = groups + (size_t)g * gb;
        for (int64_t t = 0; t < a->nt; t++) {
            const g4q_q8_0 *x = (const g4q_q8_0 *)(a->q + (size_t)t * a->q_stride);
            for (int i = 0; i < G4K_R16; i++) {
                float acc = 0.0f;
                for (int64_t b = 0; b < nb; b++) {
                    int32_t q[32];
                    const uint16_t d = lane_block32(type, base, b, i, q);
                    int32_t s = -a->corr[t * a->n_corr + b];
                    for (int k = 0; k < 32; k++)
                        s += q[k] * load_i8(&x[b].qs[k]);
                    const float scale = g4k_f16_to_f32(d) * a->d[t * a->n_d + b];
                    acc = fmaf((float)s, scale, acc);
                }
                y[t * ys + g * G4K_R16 + i] = acc;
            }
        }
    }
}

static void r16_q8_0_scalar(int64_t n, const uint8_t *groups, size_t gb, int64_t ng, const g4k_r16_act *a, float *y,
                            int64_t ys)
{
    r16_block32_scalar(G4_TYPE_Q8_0, n, groups, gb, ng, a, y, ys);
}

static void r16_q4_0_scalar(int64_t n, const uint8_t *groups, size_t gb, int64_t ng, const g4k_r16_act *a, float *y,
                            int64_t ys)
{
    r16_block32_scalar(G4_TYPE_Q4_0, n, groups, gb, ng, a, y, ys);
}

/* The 6-bit quant e (0..3) of k-quad kq of lane i in a packed Q6_K super-block. */
static inline int32_t q6_at(const uint8_t *sb, int kq, int i, int e)
{
    const uint8_t *part = sb + (kq / 4) * 192 + i * 4 + e;
    const int m = kq % 4;
    const int lo = (part[m % 2 * 64] >> (4 * (m / 2))) & 0xF;
    const int hi = (part[128] >> (2 * m)) & 3;
    return lo | hi << 4;
}

static void r16_q6_K_scalar(int64_t n, const uint8_t *groups, size_t gb, int64_t ng, const g4k_r16_act *a, float *y,
                            int64_t ys)
{
    const int64_t ns = n / G4_QK_K;
    for (int64_t g = 0; g < ng; g++) {
        const uint8_t *base = groups + (size_t)g * gb;
        for (int64_t t = 0; t < a->nt; t++) {
            const g4q_q8_K *x = (const g4q_q8_K *)(a->q + (size_t)t * a->q_stride);
            for (int i = 0; i < G4K_R16; i++) {
                float acc = 0.0f;
                for (int64_t s = 0; s < ns; s++) {
                    const uint8_t *sb = base + s * 3360;
                    const int8_t *sc = (const int8_t *)(sb + 3072);
                    const uint16_t *d = (const uint16_t *)(sb + 3072 + 256);
                    int32_t sum = 0;
                    for (int j = 0; j < 16; j++) {
                        int32_t isum = -a->corr[t * a->n_corr + s * 16 + j];
                        for (int m = 0; m < 4; m++)
                            for (int e = 0; e < 4; e++)
                                isum += q6_at(sb, 4 * j + m, i, e) * load_i8(&x[s].qs[16 * j + 4 * m + e]);
                        sum += isum * sc[j * G4K_R16 + i];
                    }
                    const float scale = g4k_f16_to_f32(d[i]) * a->d[t * a->n_d + s];
                    acc = fmaf((float)sum, scale, acc);
                }
                y[t * ys + g * G4K_R16 + i] = acc;
            }
        }
    }
}

/* Sub-block j's 6-bit scale (mins = 0) or min (mins = 1) from a row's 12 packed bytes (GGUF's
 * get_scale_min_k4). */
static inline int32_t q4k_scale(const uint8_t *q, int j, int mins)
{
    if (j < 4)
        return q[j + 4 * mins] & 63;
    return mins ? (q[j + 4] >> 4) | (q[j] >> 6) << 4 : (q[j + 4] & 15) | (q[j - 4] >> 6) << 4;
}

static void r16_q4_K_scalar(int64_t n, const uint8_t *groups, size_t gb, int64_t ng, const g4k_r16_act *a, float *y,
                            int64_t ys)
{
    const int64_t ns = n / G4_QK_K;
    for (int64_t g = 0; g < ng; g++) {
        const uint8_t *base = groups + (size_t)g * gb;
        for (int64_t t = 0; t < a->nt; t++) {
            const g4q_q8_K *x = (const g4q_q8_K *)(a->q + (size_t)t * a->q_stride);
            for (int i = 0; i < G4K_R16; i++) {
                float acc = 0.0f;
                for (int64_t s = 0; s < ns; s++) {
                    const uint8_t *sb = base + s * 2304;
                    uint8_t sm[12];
                    for (int k = 0; k < 3; k++)
                        for (int e = 0; e < 4; e++)
                            sm[4 * k + e] = sb[2048 + k * 64 + i * 4 + e];
                    int32_t isum = 0, msum = 0;
                    for (int j = 0; j < 8; j++) {
                        int32_t p = 0;
                        for (int m = 0; m < 8; m++)
                            for (int e = 0; e < 4; e++) {
                                const int v = sb[(8 * (j / 2) + m) * 64 + i * 4 + e];
                                p += (j % 2 ? v >> 4 : v & 15) * load_i8(&x[s].qs[32 * j + 4 * m + e]);
                            }
                        isum += p * q4k_scale(sm, j, 0);
                        const int32_t c = a->corr[t * a->n_corr + s * 4 + j / 2];
                        msum += q4k_scale(sm, j, 1) * (int16_t)(j % 2 ? (uint32_t)c >> 16 : (uint32_t)c & 0xFFFF);
                    }
                    const float da = a->d[t * a->n_d + s];
                    const float d = g4k_f16_to_f32(((const uint16_t *)(sb + 2240))[i]) * da;
                    const float dm = g4k_f16_to_f32(((const uint16_t *)(sb + 2272))[i]) * da;
                    acc = fmaf((float)isum, d, acc);
                    acc = fmaf(-(float)msum, dm, acc);
                }
                y[t * ys + g * G4K_R16 + i] = acc;
            }
        }
    }
}

void g4k_fill_scalar_rows16(g4k_kernels *k)
{
    k->rows16[G4_TYPE_Q4_0] = r16_q4_0_scalar;
    k->rows16[G4_TYPE_Q4_K] = r16_q4_K_scalar;
    k->rows16[G4_TYPE_Q8_0] = r16_q8_0_scalar;
    k->rows16[G4_TYPE_Q6_K] = r16_q6_K_scalar;
}
