/* The 32-element "legacy" formats Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the Q8_1 activation format:
 * ggml-exact dequantizers, round-to-nearest quantizers (ggml's *_ref), scalar dots. */
#include <math.h>

#include "quant.h"

#define H2F g4k_f16_to_f32
#define F2H g4k_f32_to_f16

/* ---- Q4_0: x = d*(q-8); d = signed-max/-8 so the largest magnitude lands on -8 ------------ */
void g4q_dequant_q4_0(const void *src, float *y, int64_t n)
{
    const g4q_q4_0 *x = src;
    for (int64_t i = 0; i < n / G4_QK; i++, y += G4_QK) {
        const float d = H2F(x[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = ((x[i].qs[j] & 0x0F) - 8) * d;
            y[j + 16] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}
void g4q_quant_q4_0(const float *x, void *dst, int64_t n)
{
    g4q_q4_0 *y = dst;
    for (int64_t i = 0; i < n / G4_QK; i++, x += G4_QK) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < G4_QK; j++)
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        const float d = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = F2H(d);
        for (int j = 0; j < 16; j++) {
            int a = (int)(int8_t)(x[j] * id + 8.5f), b = (int)(int8_t)(x[j + 16] * id + 8.5f);
            a = a < 15 ? a : 15;
            b = b < 15 ? b : 15;
            y[i].qs[j] = (uint8_t)(a | (b << 4));
        }
    }
}
float g4q_dot_q4_0(int64_t n, const void *w, const void *a)
{
    const g4q_q4_0 *x = w;
    const g4q_q8_0 *q = a;
    float s = 0;
    for (int64_t i = 0; i < n / G4_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += ((x[i].qs[j] & 0x0F) - 8) * q[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * q[i].qs[j + 16];
        s += sumi * H2F(x[i].d) * H2F(q[i].d);
    }
    return s;
}

/* ---- Q4_1: x = d*q + m -------------------------------------------------------------------- */
void g4q_dequant_q4_1(const void *src, float *y, int64_t n)
{
    const g4q_q4_1 *x = src;
    for (int64_t i = 0; i < n / G4_QK; i++, y += G4_QK) {
        const float d = H2F(x[i].d), m = H2F(x[i].m);
        for (int j = 0; j < 16; j++) {
            y[j] = (x[i].qs[j] & 0x0F) * d + m;
            y[j + 16] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}
void g4q_quant_q4_1(const float *x, void *dst, int64_t n)
{
    g4q_q4_1 *y = dst;
    for (int64_t i = 0; i < n / G4_QK; i++, x += G4_QK) {
        float min = INFINITY, max = -INFINITY;
        for (int j = 0; j < G4_QK; j++) {
            min = x[j] < min ? x[j] : min;
            max = x[j] > max ? x[j] : max;
        }
        const float d = (max - min) / 15;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = F2H(d);
        y[i].m = F2H(min);
        for (int j = 0; j < 16; j++) {
            int a = (int)(int8_t)((x[j] - min) * id + 0.5f), b = (int)(int8_t)((x[j + 16] - min) * id + 0.5f);
            a = a < 15 ? a : 15;
            b = b < 15 ? b : 15;
            y[i].qs[j] = (uint8_t)(a | (b << 4));
        }
    }
}
float g4q_dot_q4_1(int64_t n, const void *w, const void *a)
{
    const g4q_q4_1 *x = w;
    const g4q_q8_1 *q = a;
    float s = 0;
    for (int64_t i = 0; i < n / G4_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += (x[i].qs[j] & 0x0F) * q[i].qs[j] + (x[i].qs[j] >> 4) * q[i].qs[j + 16];
        s += (H2F(x[i].d) * H2F(q[i].d)) * sumi + H2F(x[i].m) * H2F(q[i].s);
    }
    return s;
}

/* ---- Q5_0: q = nibble | qh bit << 4, x = d*(q-16) ----------------------------------------- */
void g4q_dequant_q5_0(const void *src, float *y, int64_t n)
{
    const g4q_q5_0 *x = src;
    for (int64_t i = 0; i < n / G4_QK; i++, y += G4_QK) {
        const float d = H2F(x[i].d);
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < 16; j++) {
            const int x0 = (x[i].qs[j] & 0x0F) | (int)(((qh >> j) & 1) << 4);
            const int x1 = (x[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = (x0 - 16) * d;
            y[j + 16] = (x1 - 16) * d;
        }
    }
}
void g4q_quant_q5_0(const float *x, void *dst, int64_t n)
{
    g4q_q5_0 *y = dst;
    for (int64_t i = 0; i < n / G4_QK; i++, x += G4_QK) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < G4_QK; j++)
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        const float d = max / -16;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = F2H(d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int a = (int)(int8_t)(x[j] * id + 16.5f), b = (int)(int8_t)(x[j + 16] * id + 16.5f);
            a = a < 31 ? a : 31;
            b = b < 31 ? b : 31;
            y[i].qs[j] = (uint8_t)((a & 0x0F) | ((b & 0x0F) << 4));
            qh |= ((uint32_t)(a & 0x10) >> 4) << j;
            qh |= ((uint32_t)(b & 0x10) >> 4) << (j + 16);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}
float g4q_dot_q5_0(int64_t n, const void *w, const void *a)
{
    const g4q_q5_0 *x = w;
    const g4q_q8_0 *q = a;
    float s = 0;
    for (int64_t i = 0; i < n / G4_QK; i++) {
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            const int x0 = ((x[i].qs[j] & 0x0F) | (int)(((qh >> j) & 1) << 4)) - 16;
            const int x1 = ((x[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4)) - 16;
            sumi += x0 * q[i].qs[j] + x1 * q[i].qs[j + 16];
        }
        s += sumi * H2F(x[i].d) * H2F(q[i].d);
    }
    return s;
}

/* ---- Q5_1: x = d*q + m, 5-bit q ---------------------------------------------------------- */
void g4q_dequant_q5_1(const void *src, float *y, int64_t n)
{
    const g4q_q5_1 *x = src;
    for (int64_t i = 0; i < n / G4_QK; i++, y += G4_QK) {
        const float d = H2F(x[i].d), m = H2F(x[i].m);
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < 16; j++) {
            const int x0 = (x[i].qs[j] & 0x0F) | (int)(((qh >> j) & 1) << 4);
            const int x1 = (x[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = x0 * d + m;
            y[j + 16] = x1 * d + m;
        }
    }
}
void g4q_quant_q5_1(const float *x, void *dst, int64_t n)
{
    g4q_q5_1 *y = dst;
    for (int64_t i = 0; i < n / G4_QK; i++, x += G4_QK) {
        float min = INFINITY, max = -INFINITY;
        for (int j = 0; j < G4_QK; j++) {
            min = x[j] < min ? x[j] : min;
            max = x[j] > max ? x[j] : max;
        }
        const float d = (max - min) / 31;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = F2H(d);
        y[i].m = F2H(min);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            const int a = (int)(uint8_t)((x[j] - min) * id + 0.5f);
            const int b = (int)(uint8_t)((x[j + 16] - min) * id + 0.5f);
            y[i].qs[j] = (uint8_t)((a & 0x0F) | ((b & 0x0F) << 4));
            qh |= ((uint32_t)(a & 0x10) >> 4) << j;
            qh |= ((uint32_t)(b & 0x10) >> 4) << (j + 16);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}
float g4q_dot_q5_1(int64_t n, const void *w, const void *a)
{
    const g4q_q5_1 *x = w;
    const g4q_q8_1 *q = a;
    float s = 0;
    for (int64_t i = 0; i < n / G4_QK; i++) {
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            const int x0 = (x[i].qs[j] & 0x0F) | (int)(((qh >> j) & 1) << 4);
            const int x1 = (x[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            sumi += x0 * q[i].qs[j] + x1 * q[i].qs[j + 16];
        }
        s += (H2F(x[i].d) * H2F(q[i].d)) * sumi + H2F(x[i].m) * H2F(q[i].s);
    }
    return s;
}

/* ---- Q8_0: x = d*q, d = amax/127 ----------------------------------------------------------- */
void g4q_dequant_q8_0(const void *src, float *y, int64_t n)
{
    const g4q_q8_0 *x = src;
    for (int64_t i = 0; i < n / G4_QK; i++, y += G4_QK) {
        const float d = H2F(x[i].d);
        for (int j = 0; j < G4_QK; j++)
            y[j] = x[i].qs[j] * d;
    }
}
void g4q_quant_q8_0(const float *x, void *dst, int64_t n)
{
    g4q_q8_0 *y = dst;
    for (int64_t i = 0; i < n / G4_QK; i++, x += G4_QK) {
        float amax = 0.0f;
        for (int j = 0; j < G4_QK; j++)
            amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
        const float d = amax / 127;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = F2H(d);
        for (int j = 0; j < G4_QK; j++)
            y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}
float g4q_dot_q8_0(int64_t n, const void *w, const void *a)
{
    const g4q_q8_0 *x = w;
    const g4q_q8_0 *q = a;
    float s = 0;
    for (int64_t i = 0; i < n / G4_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < G4_QK; j++)
            sumi += x[i].qs[j] * q[i].qs[j];
        s += sumi * (H2F(x[i].d) * H2F(q[i].d));
    }
    return s;
}

/* ---- Q8_1 (activations for Q4_1/Q5_1): Q8_0 plus s = d*sum(q) --------------------------- */
void g4q_dequant_q8_1(const void *src, float *y, int64_t n)
{
    const g4q_q8_1 *x = src;
    for (int64_t i = 0; i < n / G4_QK; i++, y += G4_QK) {
        const float d = H2F(x[i].d);
        for (int j = 0; j < G4_QK; j++)
            y[j] = x[i].qs[j] * d;
    }
}
void g4q_quant_q8_1(const float *x, void *dst, int64_t n)
{
    g4q_q8_1 *y = dst;
    for (int64_t i = 0; i < n / G4_QK; i++, x += G4_QK) {
        float amax = 0.0f;
        for (int j = 0; j < G4_QK; j++)
            amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
        const float d = amax / 127;
        const float id = d ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < G4_QK; j++) {
            y[i].qs[j] = (int8_t)roundf(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].d = F2H(d);
        y[i].s = F2H(sum * d);
    }
}
