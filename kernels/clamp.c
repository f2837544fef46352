/* The encoders' clamp (ClippableLinear, spec §4.3): one definition for the media code's row
 * passes, its whole-buffer clamps and g4k_matmul_lowp_clamped, so all of them round alike. */
#include <string.h>

#include "kernels.h"
#include "quant.h"

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

/* The scalar level's clamp (the x86 levels have wider ones: exp_x86.h, the same values).
 * max(v, lo) then min(v, hi) with the scalar definition's rounding and NaN rule exactly: MAXPS
 * and MINPS return the second operand unless the first is greater (smaller), which is
 * (v > lo ? v : lo) and (v < hi ? v : hi) lane by lane, NaN -> lo included. Written out rather
 * than left to the vectoriser: gcc -O3 turned the fixed-size blocks this replaces into scalar
 * code through the stack (10x slower than at -O2; 6.5% of an -O3 audio embed), and a plain
 * loop is not vectorised in place (src == dst fails its overlap check). */
void g4k_clamp_base(const float *src, float *dst, int64_t n, float lo, float hi)
{
    int64_t i = 0;
#if defined(__SSE__)
    const __m128 l = _mm_set1_ps(lo), h = _mm_set1_ps(hi);
    for (; i + 8 <= n; i += 8) {
        const __m128 a = _mm_loadu_ps(src + i), b = _mm_loadu_ps(src + i + 4);
        _mm_storeu_ps(dst + i, _mm_min_ps(_mm_max_ps(a, l), h));
        _mm_storeu_ps(dst + i + 4, _mm_min_ps(_mm_max_ps(b, l), h));
    }
#else
    typedef float v4f __attribute__((vector_size(16)));
    typedef int32_t v4i __attribute__((vector_size(16)));
    const v4f l = {lo, lo, lo, lo}, h = {hi, hi, hi, hi};
    for (; i + 4 <= n; i += 4) {
        v4f a;
        memcpy(&a, src + i, sizeof a);
        v4i m = a > l; /* false for NaN */
        a = (v4f)((m & (v4i)a) | (~m & (v4i)l));
        m = a < h;
        a = (v4f)((m & (v4i)a) | (~m & (v4i)h));
        memcpy(dst + i, &a, sizeof a);
    }
#endif
    for (; i < n; i++)
        dst[i] = g4k_clamp1(src[i], lo, hi);
}

/* 1 unless every value is strictly inside (lo, hi), where the clamp returns it bit for bit (a
 * value equal to a bound may come back as the bound's zero sign; NaN becomes lo). */
int g4k_clamp_changes(const float *src, int64_t n, float lo, float hi)
{
    int64_t i = 0;
#if defined(__SSE__)
    const __m128 l = _mm_set1_ps(lo), h = _mm_set1_ps(hi);
    for (; i + 16 <= n; i += 16) { /* a cache line per test */
        __m128 in = _mm_cmpgt_ps(h, l);
        for (int j = 0; j < 16; j += 4) {
            const __m128 a = _mm_loadu_ps(src + i + j);
            in = _mm_and_ps(in, _mm_and_ps(_mm_cmpgt_ps(a, l), _mm_cmplt_ps(a, h))); /* false for NaN */
        }
        if (_mm_movemask_ps(in) != 15)
            return 1;
    }
#endif
    for (; i < n; i++)
        if (!(src[i] > lo && src[i] < hi))
            return 1;
    return 0;
}

typedef struct {
    const float *src;
    float *dst;
    int64_t n;
    float lo, hi;
    _Atomic int changes; /* g4k_clamp_changes_pool */
} clamp_ctx;

static void clamp_task(void *arg, int ith, int nth)
{
    const clamp_ctx *c = arg;
    int64_t i0, i1; /* 16-float units: whole cache lines of an aligned buffer */
    if (g4k_share(c->n, 16, ith, nth, &i0, &i1))
        g4k_clamp_copy(c->src + i0, c->dst + i0, i1 - i0, c->lo, c->hi);
}

static void changes_task(void *arg, int ith, int nth)
{
    clamp_ctx *c = arg;
    int64_t i0, i1;
    if (g4k_share(c->n, 16, ith, nth, &i0, &i1) && g4k_clamp_changes(c->src + i0, i1 - i0, c->lo, c->hi))
        c->changes = 1;
}

int g4k_clamp_changes_pool(g4k_pool *pool, const float *src, int64_t n, float lo, float hi)
{
    clamp_ctx c = {.src = src, .n = n, .lo = lo, .hi = hi, .changes = 0};
    if (pool && n > 16)
        g4k_pool_run_elastic(pool, changes_task, &c);
    else
        changes_task(&c, 0, 1);
    return c.changes;
}

/* Split across the pool: run serially, the clamps around the tower's linears took ~5% of a
 * 2-thread image embed while the other thread waited. */
void g4k_clamp_pool(g4k_pool *pool, const float *src, float *dst, int64_t n, float lo, float hi)
{
    clamp_ctx c = {.src = src, .dst = dst, .n = n, .lo = lo, .hi = hi};
    if (pool && n > 16)
        g4k_pool_run_elastic(pool, clamp_task, &c);
    else
        clamp_task(&c, 0, 1);
}
