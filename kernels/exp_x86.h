/* Vectorised exp-based row functions for x86, included by exp_avx2.c (VW = 8) and
 * exp_avx512.c (VW = 16): softmax exponentials x[i] = exp(x[i] - m) with their sum, a
 * whole-row softmax, the tanh GELU gate g[i] = gelu_tanh(g[i]) * u[i] (also with the encoders'
 * clamps around it), x[i] * sigmoid(s[i]) (SiLU, GLU) and the encoders' clamp. The encoders' rows
 * spent more time in libm's scalar expf / tanhf than in the FMAs of the GEMMs around them.
 *
 * exp(y) = 2^n · e^r with n = round(y / ln 2), r = y - n·ln 2 (two-part ln 2), e^r by the Cephes
 * degree-6 polynomial on [-ln2/2, ln2/2]: within 2 ulp of expf over the range that matters. y below
 * -87.3 (including -inf, masked scores) gives exactly 0; y is never above 0 in a softmax (m is the
 * row max), larger y are clamped at 88.7. Each element's value is the same at both widths; only
 * the sums' order differs (one partial sum per lane).
 *
 * The includer defines VW, vec, ivec, vset1(f), vload(p), vstore(p, v), vadd, vsub, vmul, vdiv,
 * vmin, vmax, vfmadd(a, b, c) (a·b + c), vfnmadd(a, b, c) (c - a·b), vround(v) (to nearest),
 * vcvti(v), vcastf(i), iadd, isub, iset1, israi(i, s), islli(i, s), vzero_lt(p, y, lo) (p with
 * the lanes where y < lo, ordered, set to 0), vhsum(v), vhmax(v) and EXP_FILL (the fill
 * function's name); optionally vscale2(p, n) = p 2^n for integral float n (AVX-512 vscalefps). */
#include <math.h>

#include "quant.h"

#define EX_AI static inline __attribute__((always_inline))

EX_AI vec expv(vec y)
{
    const vec lo = vset1(-87.33654f), hi = vset1(88.72283f);
    const vec y0 = y;
    y = vmin(vmax(y, lo), hi);
    const vec n = vround(vmul(y, vset1(1.44269504088896341f)));
    vec r = vfnmadd(n, vset1(0.693359375f), y);
    r = vfnmadd(n, vset1(-2.12194440e-4f), r);
    vec p = vset1(1.9875691500e-4f);
    p = vfmadd(p, r, vset1(1.3981999507e-3f));
    p = vfmadd(p, r, vset1(8.3334519073e-3f));
    p = vfmadd(p, r, vset1(4.1665795894e-2f));
    p = vfmadd(p, r, vset1(1.6666665459e-1f));
    p = vfmadd(p, r, vset1(5.0000001201e-1f));
    p = vfmadd(vmul(p, r), r, vadd(r, vset1(1.0f)));
#ifdef vscale2
    /* p 2^n in one instruction with one rounding: the value the two factors below give */
    p = vscale2(p, n);
#else
    /* 2^n: n in [-126, 128]; split in two factors so n = 128 and n = -126 stay finite/normal
     * (p 2^n1 is exact, so the result is p 2^n rounded once) */
    const ivec ni = vcvti(n);
    const ivec n1 = israi(ni, 1), n2 = isub(ni, n1);
    const vec s1 = vcastf(islli(iadd(n1, iset1(127)), 23));
    const vec s2 = vcastf(islli(iadd(n2, iset1(127)), 23));
    p = vmul(vmul(p, s1), s2);
#endif
    return vzero_lt(p, y0, lo);
}

/* x[i] = exp(x[i] - m), returns the sum; the tail is run as one padded vector (-inf -> 0). */
static float exp_sub_sum_x86(float *x, int64_t n, float m)
{
    const vec mv = vset1(m);
    vec acc = vset1(0.f);
    int64_t i = 0;
    for (; i + VW <= n; i += VW) {
        const vec e = expv(vsub(vload(x + i), mv));
        vstore(x + i, e);
        acc = vadd(acc, e);
    }
    if (i < n) {
        float t[VW];
        for (int l = 0; l < VW; l++)
            t[l] = i + l < n ? x[i + l] : -INFINITY;
        const vec e = expv(vsub(vload(t), mv));
        vstore(t, e);
        acc = vadd(acc, e);
        for (int64_t l = 0; i + l < n; l++)
            x[i + l] = t[l];
    }
    return vhsum(acc);
}

static void softmax_x86(float *x, int64_t n)
{
    if (n <= 0)
        return;
    vec mv = vset1(-INFINITY);
    int64_t i = 0;
    for (; i + VW <= n; i += VW)
        mv = vmax(mv, vload(x + i));
    float m = vhmax(mv);
    for (; i < n; i++)
        m = x[i] > m ? x[i] : m;
    const float s = 1.0f / exp_sub_sum_x86(x, n, m);
    const vec inv = vset1(s);
    for (i = 0; i + VW <= n; i += VW)
        vstore(x + i, vmul(vload(x + i), inv));
    for (; i < n; i++)
        x[i] *= s;
}

/* x · sigmoid(s) = x / (1 + exp(-s)). expv flushes exp(-s) below -87.3 to 0 (sigmoid 1) and
 * clamps it above 88.7 (a finite 3.4e38: the result ~0, as expf's inf gives 0). */
EX_AI vec mul_sig(vec x, vec s)
{
    return vdiv(x, vadd(vset1(1.0f), expv(vsub(vset1(0.f), s))));
}

/* 0.5 z (1 + tanh(c (z + 0.044715 z^3))) = z · (1 - 1 / (exp(2 c (z + 0.044715 z^3)) + 1)):
 * the logistic form has no cancellation near 0 (error ~1 ulp of the result). */
EX_AI vec gelu(vec z)
{
    const vec c2 = vset1(2.0f * 0.7978845608028654f);
    return mul_sig(z, vmul(c2, vfmadd(vmul(vset1(0.044715f), z), vmul(z, z), z)));
}

/* dst[i] = f(a[i], b[i]) for the row maps below; the tail is run as one zero-padded vector.
 * (Always inlined with a constant f, so f is inlined too: no call per vector.) */
EX_AI void map2(float *dst, const float *a, const float *b, int64_t n, vec (*f)(vec, vec))
{
    int64_t i = 0;
    for (; i + VW <= n; i += VW)
        vstore(dst + i, f(vload(a + i), vload(b + i)));
    if (i < n) {
        float ta[VW] = {0}, tb[VW] = {0};
        for (int64_t l = 0; l < n - i; l++) {
            ta[l] = a[i + l];
            tb[l] = b[i + l];
        }
        vstore(ta, f(vload(ta), vload(tb)));
        for (int64_t l = 0; l < n - i; l++)
            dst[i + l] = ta[l];
    }
}

EX_AI vec gelu_mul(vec g, vec u) { return vmul(gelu(g), u); }

static void geglu_tanh_x86(float *g, const float *u, int64_t n) { map2(g, g, u, n, gelu_mul); }

/* max then min: MAXPS / MINPS return their second operand unless the first is greater (smaller),
 * so NaN -> lo, clamp.c's rule lane by lane at every width */
EX_AI vec clampv(vec v, vec lo, vec hi) { return vmin(vmax(v, lo), hi); }

static void clamp_x86(const float *src, float *dst, int64_t n, float lo, float hi)
{
    const vec l = vset1(lo), h = vset1(hi);
    int64_t i = 0;
    for (; i + 2 * VW <= n; i += 2 * VW) {
        const vec a = vload(src + i), b = vload(src + i + VW);
        vstore(dst + i, clampv(a, l, h));
        vstore(dst + i + VW, clampv(b, l, h));
    }
    for (; i < n; i++)
        dst[i] = g4k_clamp1(src[i], lo, hi);
}

/* the three clamps in registers around gelu_mul (the tail: one zero-padded vector, as map2) */
static void geglu_tanh_clamp_x86(float *g, const float *u, int64_t n, const float b[6])
{
    const vec gl = vset1(b[0]), gh = vset1(b[1]), ul = vset1(b[2]), uh = vset1(b[3]);
    const vec dl = vset1(b[4]), dh = vset1(b[5]);
    int64_t i = 0;
    for (; i + VW <= n; i += VW)
        vstore(g + i, clampv(gelu_mul(clampv(vload(g + i), gl, gh), clampv(vload(u + i), ul, uh)), dl, dh));
    if (i < n) {
        float tg[VW] = {0}, tu[VW] = {0};
        for (int64_t l = 0; l < n - i; l++) {
            tg[l] = g[i + l];
            tu[l] = u[i + l];
        }
        vstore(tg, clampv(gelu_mul(clampv(vload(tg), gl, gh), clampv(vload(tu), ul, uh)), dl, dh));
        for (int64_t l = 0; l < n - i; l++)
            g[i + l] = tg[l];
    }
}

/* dst = x * sigmoid(s) (SiLU: x = s; the GLU gate) */
static void mul_sigmoid_x86(float *dst, const float *x, const float *s, int64_t n) { map2(dst, x, s, n, mul_sig); }

void EXP_FILL(g4k_kernels *k)
{
    k->exp_sub_sum = exp_sub_sum_x86;
    k->softmax = softmax_x86;
    k->geglu_tanh = geglu_tanh_x86;
    k->geglu_tanh_clamp = geglu_tanh_clamp_x86;
    k->clamp = clamp_x86;
    k->mul_sigmoid = mul_sigmoid_x86;
}
