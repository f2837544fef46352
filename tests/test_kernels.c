/* Kernel-layer tests: conversions, hand-built blocks, quantizer round trips, and every matmul
 * type on every ISA level this CPU runs (in-process, through g4k_kernels_for) against a
 * dequantize-then-dot reference. `--bench` runs the decode micro-benchmark instead. */
#include <math.h>
#include <stdint.h>
#include <time.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "quant.h"
#include "t.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static float frand(void) { return (float)((rng() >> 11) * (1.0 / 9007199254740992.0)) * 2 - 1; }
/* Roughly gaussian, with occasional outliers like real weights. */
static float grand(void)
{
    float s = frand() + frand() + frand();
    if ((rng() & 63) == 0)
        s *= 4;
    return s;
}

static void *xaligned(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 64))
        return NULL;
    return p;
}

/* ---- conversions ---------------------------------------------------------------------- */
static void test_conversions(void)
{
    CHECK(g4k_f16_to_f32(0x3C00) == 1.0f, "1.0");
    CHECK(g4k_f16_to_f32(0xC000) == -2.0f, "-2");
    CHECK(g4k_f16_to_f32(0x0001) == 0x1p-24f, "min subnormal");
    CHECK(g4k_f16_to_f32(0x7BFF) == 65504.0f, "max");
    CHECK(isinf(g4k_f16_to_f32(0x7C00)), "inf");
    CHECK(g4k_f32_to_f16(65520.0f) == 0x7C00, "overflow rounds to inf");
    CHECK(g4k_f32_to_f16(1.0f + 0x1p-11f) == 0x3C00, "tie to even down");
    CHECK(g4k_f32_to_f16(1.0f + 3 * 0x1p-11f) == 0x3C02, "tie to even up");
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF))
            continue; /* NaN */
        if (g4k_f32_to_f16(g4k_f16_to_f32((uint16_t)h)) != h)
            bad++;
    }
    CHECK(bad == 0, "f16 round trip: %d bad", bad);
    CHECK(g4k_bf16_to_f32(0x3F80) == 1.0f, "bf16 1");
    CHECK(g4k_f32_to_bf16(1.0f + 0x1p-8f) == 0x3F80, "bf16 tie even");
    CHECK(g4k_f32_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3F82, "bf16 tie up");
    CHECK((g4k_f32_to_bf16(NAN) & 0x7FC0) == 0x7FC0, "bf16 nan stays nan");
}

/* ---- hand-built blocks ---------------------------------------------------------------- */
static void test_handbuilt(void)
{
    float y[256];
    { /* Q4_0: d=0.5, q[j]=j%16 (low), 15-j%16 (high) */
        g4q_q4_0 b = {.d = 0x3800};
        for (int j = 0; j < 16; j++)
            b.qs[j] = (uint8_t)(j | ((15 - j) << 4));
        g4k_dequantize(G4_TYPE_Q4_0, &b, y, 32);
        int ok = 1;
        for (int j = 0; j < 16; j++)
            ok &= y[j] == 0.5f * (j - 8) && y[j + 16] == 0.5f * (7 - j);
        CHECK(ok, "q4_0 hand block");
    }
    { /* Q4_1: d=2, m=-1 */
        g4q_q4_1 b = {.d = 0x4000, .m = 0xBC00};
        for (int j = 0; j < 16; j++)
            b.qs[j] = (uint8_t)(j | (j << 4));
        g4k_dequantize(G4_TYPE_Q4_1, &b, y, 32);
        CHECK(y[3] == 5.0f && y[19] == 5.0f && y[0] == -1.0f, "q4_1 hand block");
    }
    { /* Q5_0: element 0 high bit set, element 16 high bit set */
        g4q_q5_0 b = {.d = 0x3C00};
        uint32_t qh = 1u | (1u << 16);
        memcpy(b.qh, &qh, 4);
        b.qs[0] = 0x21; /* elem0 nib 1, elem16 nib 2 */
        g4k_dequantize(G4_TYPE_Q5_0, &b, y, 32);
        CHECK(y[0] == 1.0f && y[16] == 2.0f && y[1] == -16.0f, "q5_0 hand block %g %g %g", y[0], y[16], y[1]);
    }
    { /* Q5_1 */
        g4q_q5_1 b = {.d = 0x3C00, .m = 0x3C00};
        uint32_t qh = 1u << 17;
        memcpy(b.qh, &qh, 4);
        b.qs[1] = 0x30;
        g4k_dequantize(G4_TYPE_Q5_1, &b, y, 32);
        CHECK(y[17] == 20.0f && y[1] == 1.0f, "q5_1 hand block");
    }
    { /* Q8_0 */
        g4q_q8_0 b = {.d = 0x3400}; /* 0.25 */
        for (int j = 0; j < 32; j++)
            b.qs[j] = (int8_t)(j - 16);
        g4k_dequantize(G4_TYPE_Q8_0, &b, y, 32);
        CHECK(y[0] == -4.0f && y[31] == 3.75f, "q8_0 hand block");
    }
    { /* IQ4_NL */
        g4q_iq4_nl b = {.d = 0x3C00};
        b.qs[0] = 0xF0;
        g4k_dequantize(G4_TYPE_IQ4_NL, &b, y, 32);
        CHECK(y[0] == -127.0f && y[16] == 113.0f && y[1] == -127.0f, "iq4_nl hand block");
    }
    { /* MXFP4: e=128 -> scale 1 for the doubled table, 0x7 -> 12 (=6.0*2), 0xF -> -12 */
        g4q_mxfp4 b = {.e = 128};
        b.qs[0] = 0xF7;
        b.qs[1] = 0x21;
        g4k_dequantize(G4_TYPE_MXFP4, &b, y, 32);
        CHECK(y[0] == 12.0f && y[16] == -12.0f && y[1] == 1.0f && y[17] == 2.0f, "mxfp4 e=128");
        b.e = 127;
        g4k_dequantize(G4_TYPE_MXFP4, &b, y, 32);
        CHECK(y[0] == 6.0f, "mxfp4 e=127 (E2M1 max 6.0)");
        b.e = 0;
        g4k_dequantize(G4_TYPE_MXFP4, &b, y, 32);
        CHECK(y[0] == 12.0f * 0x1p-128f, "mxfp4 e=0 subnormal scale");
    }
    { /* Q4_K: sub-block 0 sc=1,m=2; sub-block 5 sc=33 (high bits in scales[1]), m=17 */
        g4q_q4_K b;
        memset(&b, 0, sizeof b);
        b.d = 0x3C00;
        b.dmin = 0x3800; /* 0.5 */
        b.scales[0] = 1;
        b.scales[4] = 2;
        /* j=5: sc = (s[9]&15) | (s[1]>>6)<<4 ; m = (s[9]>>4) | (s[5]>>6)<<4 */
        b.scales[9] = (uint8_t)(1 | (1 << 4));
        b.scales[1] = (uint8_t)(2 << 6);
        b.scales[5] = (uint8_t)(1 << 6);
        b.qs[0] = 0x3; /* element 0 q=3 */
        b.qs[64 + 0] = 0x50; /* group 2 high nibble -> element 64*2+32 = 160 = sub-block 5, q=5 */
        g4k_dequantize(G4_TYPE_Q4_K, &b, y, 256);
        CHECK(y[0] == 1.0f * 3 - 0.5f * 2, "q4_K elem0 %g", y[0]);
        CHECK(y[160] == 33.0f * 5 - 0.5f * 17, "q4_K elem160 %g", y[160]);
        CHECK(y[1] == -1.0f, "q4_K elem1 %g", y[1]);
    }
    { /* Q5_K: element 64*1+32+3 (group 1 high) uses qh bit 3 */
        g4q_q5_K b;
        memset(&b, 0, sizeof b);
        b.d = 0x3C00;
        b.scales[3] = 1; /* sub-block 3: sc=1, m=0 */
        b.qh[3] = 1 << 3;
        b.qs[32 + 3] = 0x20;
        g4k_dequantize(G4_TYPE_Q5_K, &b, y, 256);
        CHECK(y[99] == 18.0f, "q5_K elem99 %g", y[99]);
    }
    { /* Q6_K: half 1, quarter 3, l=20 -> element 128+96+20=244, scale index 8+6+1=15 */
        g4q_q6_K b;
        memset(&b, 0, sizeof b);
        b.d = 0x3C00;
        b.scales[15] = -3;
        b.ql[64 + 32 + 20] = 0x70;                 /* lo = 7 (high nibble) */
        b.qh[32 + 20] = (uint8_t)(2 << 6);        /* hi = 2 */
        g4k_dequantize(G4_TYPE_Q6_K, &b, y, 256);
        CHECK(y[244] == -3.0f * ((7 | (2 << 4)) - 32), "q6_K elem244 %g", y[244]);
        CHECK(y[0] == 0.0f * -32, "q6_K elem0");
    }
    { /* IQ4_XS: sub-block 3 ls = (scales_l[1]>>4) | ((scales_h>>6)&3)<<4 */
        g4q_iq4_xs b;
        memset(&b, 0, sizeof b);
        b.d = 0x3C00;
        b.scales_l[1] = 0x50;
        b.scales_h = (uint16_t)(2 << 6); /* ls = 5 | 32 = 37 -> 5 */
        b.qs[16 * 3 + 2] = 0xF0;
        g4k_dequantize(G4_TYPE_IQ4_XS, &b, y, 256);
        CHECK(y[96 + 2] == 5.0f * -127 && y[96 + 18] == 5.0f * 113, "iq4_xs sub-block 3");
        CHECK(y[0] == -32.0f * -127, "iq4_xs sub-block 0 ls=0 -> -32");
    }
    { /* Q2_K: scales[0] = sc 3, m 1; element 0 q = 2 */
        g4q_q2_K b;
        memset(&b, 0, sizeof b);
        b.d = 0x3C00;
        b.dmin = 0x3C00;
        b.scales[0] = 0x13;
        b.qs[0] = 2;
        g4k_dequantize(G4_TYPE_Q2_K, &b, y, 256);
        CHECK(y[0] == 5.0f && y[1] == -1.0f, "q2_K %g %g", y[0], y[1]);
    }
    { /* Q3_K: all scales 0 -> (0-32); hmask bit set -> q=(q&3) */
        g4q_q3_K b;
        memset(&b, 0, sizeof b);
        b.d = 0x3C00;
        b.hmask[0] = 1;
        b.qs[0] = 3;
        g4k_dequantize(G4_TYPE_Q3_K, &b, y, 256);
        CHECK(y[0] == -32.0f * 3 && y[1] == -32.0f * -4, "q3_K %g %g", y[0], y[1]);
    }
    { /* Q8_K quantizer: signed max maps to -127, bsums */
        float x[256];
        for (int j = 0; j < 256; j++)
            x[j] = (float)(j % 7) - 3;
        x[5] = 10;
        g4q_q8_K q;
        CHECK(g4k_quantize(G4_TYPE_Q8_K, x, &q, 256) == 292, "q8_K size");
        CHECK(q.qs[5] == -127, "q8_K max -> -127");
        int s = 0;
        for (int j = 0; j < 16; j++)
            s += q.qs[j];
        CHECK(q.bsums[0] == s, "q8_K bsums");
    }
}

/* ---- quantizer round trips ------------------------------------------------------------- */
typedef struct {
    uint32_t type;
    double bound; /* max rms error / rms of data */
} rt_case;

static void test_roundtrip(void)
{
    /* Bounds: step/sqrt(12) relative to the data rms, step = range/levels per block, with
     * margin for the outliers grand() injects (which inflate block ranges). */
    const rt_case cases[] = {
        {G4_TYPE_Q8_0, 0.012}, {G4_TYPE_Q8_K, 0.012}, {G4_TYPE_Q4_0, 0.14}, {G4_TYPE_Q4_1, 0.12},
        {G4_TYPE_Q5_0, 0.07},  {G4_TYPE_Q5_1, 0.06},  {G4_TYPE_Q4_K, 0.11}, {G4_TYPE_Q5_K, 0.055},
        {G4_TYPE_Q6_K, 0.03},  {G4_TYPE_IQ4_NL, 0.12}, {G4_TYPE_IQ4_XS, 0.13}, {G4_TYPE_MXFP4, 0.25},
        {G4_TYPE_F16, 1e-3},   {G4_TYPE_BF16, 4e-3},  {G4_TYPE_F32, 0},
    };
    const int n = 4096;
    float *x = malloc(n * 4), *y = malloc(n * 4);
    void *q = xaligned(n * 4);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int i = 0; i < n; i++)
            x[i] = grand();
        for (int i = 0; i < 64; i++)
            x[i] = 0; /* an all-zero block */
        const size_t bytes = g4k_quantize(cases[c].type, x, q, n);
        CHECK(bytes == g4_type_row_bytes(cases[c].type, n), "%s bytes", g4_type_get(cases[c].type)->name);
        g4k_dequantize(cases[c].type, q, y, n);
        double e2 = 0, s2 = 0;
        int zero_ok = 1;
        for (int i = 0; i < n; i++) {
            e2 += (double)(x[i] - y[i]) * (x[i] - y[i]);
            s2 += (double)x[i] * x[i];
        }
        for (int i = 0; i < 32; i++)
            zero_ok &= y[i] == 0;
        const double rel = sqrt(e2 / s2);
        CHECK(rel <= cases[c].bound, "%s round trip rel rms %.4f > %.4f", g4_type_get(cases[c].type)->name, rel,
              cases[c].bound);
        CHECK(zero_ok, "%s zero block", g4_type_get(cases[c].type)->name);
        if (getenv("G4_TEST_VERBOSE"))
            printf("  %-7s rel rms %.4f\n", g4_type_get(cases[c].type)->name, rel);
    }
    free(x);
    free(y);
    free(q);
}

/* ---- matmul ---------------------------------------------------------------------------- */
static const uint32_t k_mm_types[] = {G4_TYPE_F32,  G4_TYPE_F16,  G4_TYPE_BF16,   G4_TYPE_Q4_0,
                                      G4_TYPE_Q4_1, G4_TYPE_Q5_0, G4_TYPE_Q5_1,   G4_TYPE_Q8_0,
                                      G4_TYPE_Q4_K, G4_TYPE_Q5_K, G4_TYPE_Q6_K,   G4_TYPE_IQ4_NL,
                                      G4_TYPE_IQ4_XS, G4_TYPE_MXFP4, G4_TYPE_Q2_K, G4_TYPE_Q3_K};

/* Random bytes for types without a quantizer, with sane fp16 scales. */
static void fill_random_blocks(uint32_t type, uint8_t *dst, int64_t n)
{
    const g4_type_info *ti = g4_type_get(type);
    const size_t bytes = g4_type_row_bytes(type, n);
    for (size_t i = 0; i < bytes; i++)
        dst[i] = (uint8_t)rng();
    for (int64_t b = 0; b < n / ti->block_elems; b++) {
        uint8_t *blk = dst + b * ti->block_bytes;
        uint16_t d = g4k_f32_to_f16(0.01f + 0.01f * (float)(rng() & 7)), m = g4k_f32_to_f16(0.005f);
        if (type == G4_TYPE_Q2_K) {
            memcpy(blk + 80, &d, 2);
            memcpy(blk + 82, &m, 2);
        } else if (type == G4_TYPE_Q3_K) {
            memcpy(blk + 108, &d, 2);
        }
    }
}

static int g_fail_mm; /* caps the failure output */

/* n_rows rows of n_cols standard-normal values quantized to `type` (it must have a quantizer),
 * g4_type_row_bytes apart, 64-byte aligned; NULL when out of memory. */
static uint8_t *random_quant_rows(uint32_t type, int64_t n_cols, int64_t n_rows)
{
    const size_t rb = g4_type_row_bytes(type, n_cols);
    uint8_t *w = xaligned(rb * (size_t)n_rows);
    float *row = malloc(sizeof(float) * (size_t)n_cols);
    if (w && row)
        for (int64_t r = 0; r < n_rows; r++) {
            for (int64_t i = 0; i < n_cols; i++)
                row[i] = grand();
            g4q_traits_get(type)->quant(row, w + r * rb, n_cols);
        }
    free(row);
    return w;
}

static void run_mm_case(const g4k_kernels *k, g4k_pool *pool, uint32_t type, int64_t n_cols, int64_t n_rows,
                        int64_t n_tok, int pad, int lowp)
{
    const g4q_traits *tr = g4q_traits_get(type);
    const size_t rb = g4_type_row_bytes(type, n_cols), stride = rb + (size_t)pad;
    uint8_t *w = xaligned(stride * (size_t)n_rows);
    float *wf = malloc(sizeof(float) * (size_t)(n_cols * n_rows));
    float *x = malloc(sizeof(float) * (size_t)(n_cols * n_tok));
    float *xq = malloc(sizeof(float) * (size_t)(n_cols * n_tok));
    float *y = malloc(sizeof(float) * (size_t)(n_rows * n_tok));
    for (int64_t r = 0; r < n_rows; r++) {
        float *row = wf + r * n_cols;
        if (tr->quant) {
            for (int64_t i = 0; i < n_cols; i++)
                row[i] = grand();
            tr->quant(row, w + r * stride, n_cols);
        } else {
            fill_random_blocks(type, w + r * stride, n_cols);
        }
        tr->dequant(w + r * stride, row, n_cols);
    }
    for (int64_t i = 0; i < n_cols * n_tok; i++)
        x[i] = grand();
    /* The activations as the kernels see them (after the matching 8-bit quantization). */
    if (tr->act_type != G4_TYPE_F32) {
        const size_t arb = g4k_act_row_bytes(type, n_cols);
        void *aq = malloc(arb * (size_t)n_tok);
        g4k_quantize_act(type, x, n_cols, n_tok, aq);
        for (int64_t t = 0; t < n_tok; t++)
            g4q_traits_get(tr->act_type)->dequant((uint8_t *)aq + t * arb, xq + t * n_cols, n_cols);
        free(aq);
    } else {
        memcpy(xq, x, sizeof(float) * (size_t)(n_cols * n_tok));
    }
    const g4k_matrix m = {w, type, n_cols, n_rows, stride, NULL};
    for (int64_t i = 0; i < n_rows * n_tok; i++)
        y[i] = NAN;
    (lowp ? g4k_matmul_lowp_with : g4k_matmul_with)(k, pool, &m, x, n_tok, y);
    int bad = 0;
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t r = 0; r < n_rows; r++) {
            double ref = 0, refq = 0, mag = 0, qerr = 0, amag = 0, wmax = 0;
            for (int64_t i = 0; i < n_cols; i++) {
                const double wv = wf[r * n_cols + i], xv = x[t * n_cols + i], xqv = xq[t * n_cols + i];
                ref += wv * xv;
                refq += wv * xqv;
                mag += fabs(wv * xqv);
                qerr += fabs(wv) * fabs(xv - xqv);
                amag += fabs(xqv);
                wmax = fabs(wv) > wmax ? fabs(wv) : wmax;
            }
            /* Against the quantized activations: only f32 rounding of block scales and sums
             * differs (1e-5 of the magnitude); Q8_1 also stores s = d*Σq as fp16 (2^-11). */
            double tol = 2e-5 * mag + 1e-6;
            if (tr->act_type == G4_TYPE_Q8_1)
                tol += 0x1p-10 * amag * wmax;
            /* the opt-in BF16 prefill with AVX512-BF16 rounds activations to bf16 (rel. error
             * <= 2^-9 per product); the default path keeps them f32 */
            if (lowp && type == G4_TYPE_BF16 && n_tok >= G4K_GEMM_MIN_TOK && k->gemm_lowp[type])
                tol += 0x1p-8 * mag;
            const double got = y[t * n_rows + r];
            if (!(fabs(got - refq) <= tol))
                bad++;
            /* Against f32 activations: bounded by Σ|w|·|x - x̂| (the activation quantization). */
            if (!(fabs(got - ref) <= qerr + tol))
                bad++;
            if (bad && g_fail_mm < 10) {
                g_fail_mm++;
                fprintf(stderr, "  %s/%s n=%lld r=%lld t=%lld: got %g refq %g ref %g tol %g\n", g4k_isa_name(k->isa),
                        g4_type_get(type)->name, (long long)n_cols, (long long)r, (long long)t, got, refq, ref, tol);
                break;
            }
        }
    CHECK(bad == 0, "matmul%s %s %s n_cols=%lld n_rows=%lld n_tok=%lld pad=%d pool=%d", lowp ? "_lowp" : "",
          g4k_isa_name(k->isa), g4_type_get(type)->name, (long long)n_cols, (long long)n_rows, (long long)n_tok, pad,
          pool != NULL);
    free(w);
    free(wf);
    free(x);
    free(xq);
    free(y);
}

static void test_matmul(void)
{
    const int64_t rows[] = {1, 3, 17, 257};
    const int64_t toks[] = {1, 2, 4, 7, 8, 33};
    g4k_pool *pool = g4k_pool_new(2);
    for (int isa = 0; isa < 4; isa++) {
        const g4k_kernels *k = g4k_kernels_for((g4k_isa)isa);
        if (!k)
            continue;
        for (size_t ti = 0; ti < sizeof k_mm_types / sizeof k_mm_types[0]; ti++) {
            const uint32_t type = k_mm_types[ti];
            const uint32_t be = g4_type_get(type)->block_elems;
            /* 224 = 7 blocks (odd tails), 768 = 24 blocks (the 4-block zmm decode paths) */
            int64_t cols[4] = {be == 1 ? 37 : be, be == 32 ? 224 : 768, be == 32 ? 768 : 0, 0};
            if (be == 1) { /* float rows: 8 and 70 (35 bf16 pairs: the lowp packing's 16 + 16 + 3 blocks) */
                cols[2] = 8;
                cols[3] = 70;
            }
            for (int ci = 0; ci < 4 && cols[ci]; ci++)
                for (int ri = 0; ri < 4; ri++)
                    for (int tt = 0; tt < 6; tt++) {
                        /* keep the big scalar cases few: long rows only with small products */
                        if (cols[ci] >= 768 && rows[ri] * toks[tt] > 257 * 8)
                            continue;
                        run_mm_case(k, (ri + tt) % 2 ? pool : NULL, type, cols[ci], rows[ri], toks[tt],
                                    (ri == 2 && be != 1) ? (int)g4_type_get(type)->block_bytes : 0, 0);
                        /* the opt-in 16-bit-activation path, where a level has one */
                        if (k->gemm_lowp[type] && toks[tt] >= G4K_GEMM_MIN_TOK)
                            run_mm_case(k, (ri + tt) % 2 ? pool : NULL, type, cols[ci], rows[ri], toks[tt], 0, 1);
                    }
        }
        /* The float GEMM's panels and its prefetch of the next rows: long rows (4096: one
         * 32- or 48-row group per panel with a 1 MB L2) over several groups, and many partial groups
         * with padded rows (a stride other than the row's bytes), one call for all tokens. */
        const uint32_t flt[] = {G4_TYPE_F32, G4_TYPE_F16, G4_TYPE_BF16};
        for (int ti = 0; ti < 3; ti++) {
            run_mm_case(k, pool, flt[ti], 4096, 100, 12, 0, 0);
            run_mm_case(k, NULL, flt[ti], 100, 330, 40, 64, 0);
        }
    }
    g4k_pool_free(pool);
}

/* The float GEMM's outputs are sequential FMA chains over k, whatever the row group a row falls
 * in and however k is blocked: equal, bit for bit, to fmaf(w[k], x[k], acc) from k = 0 up, for
 * row counts that end in every narrower last group (16, 32, a partial one), token counts past
 * the micro-kernel's token tile, rows long enough to be split into k blocks (9000: a row group
 * over half of an L2 up to 3.4 MB), on the pool (its chunks) and without. */
static void test_flt_gemm_exact(void)
{
    const int64_t rows[] = {16, 32, 48, 56, 64, 80, 100, 150};
    const int64_t cols[] = {37, 300, 9000};
    const int64_t nt = 33;
    const uint32_t types[] = {G4_TYPE_F32, G4_TYPE_F16};
    g4k_pool *pool = g4k_pool_new(2);
    for (int isa = 1; isa < 4; isa++) {
        const g4k_kernels *k = g4k_kernels_for((g4k_isa)isa);
        if (!k)
            continue;
        int bad = 0, cases = 0;
        for (int ti = 0; ti < 2; ti++) {
            if (!k->gemm[types[ti]])
                continue;
            for (int ci = 0; ci < 3; ci++)
                for (int ri = 0; ri < 8; ri++) {
                    if (cols[ci] > 1000 && rows[ri] != 100)
                        continue; /* the long rows once: two full groups and a partial one */
                    const int64_t n = cols[ci], nr = rows[ri];
                    const size_t rb = g4_type_row_bytes(types[ti], n);
                    uint8_t *w = xaligned(rb * (size_t)nr);
                    float *wf = malloc(sizeof(float) * (size_t)(n * nr)), *x = malloc(sizeof(float) * (size_t)(n * nt));
                    float *y = malloc(sizeof(float) * (size_t)(nr * nt));
                    for (int64_t i = 0; i < n * nr; i++)
                        wf[i] = grand();
                    for (int64_t r = 0; r < nr; r++) {
                        g4k_quantize(types[ti], wf + r * n, w + r * rb, n);
                        g4k_dequantize(types[ti], w + r * rb, wf + r * n, n);
                    }
                    for (int64_t i = 0; i < n * nt; i++)
                        x[i] = grand();
                    const g4k_matrix m = {w, types[ti], n, nr, rb, NULL};
                    for (int p = 0; p < 2; p++) {
                        for (int64_t i = 0; i < nr * nt; i++)
                            y[i] = NAN;
                        g4k_matmul_with(k, p ? pool : NULL, &m, x, nt, y);
                        for (int64_t t = 0; t < nt; t++)
                            for (int64_t r = 0; r < nr; r++) {
                                float acc = 0.f;
                                for (int64_t i = 0; i < n; i++)
                                    acc = fmaf(wf[r * n + i], x[t * n + i], acc);
                                bad += memcmp(&acc, y + t * nr + r, sizeof acc) != 0;
                            }
                        cases++;
                    }
                    free(w);
                    free(wf);
                    free(x);
                    free(y);
                }
        }
        CHECK(cases == 0 || bad == 0, "float gemm %s: sequential FMA chains bit for bit (%d cases, %d differ)",
              g4k_isa_name((g4k_isa)isa), cases, bad);
    }
    g4k_pool_free(pool);
}

/* g4k_matmul_lowp_clamped (the encoders' ClippableLinear inputs, clamped while the activations
 * are converted) gives, bit for bit, g4k_matmul_lowp on a clamped copy, and leaves x as it is:
 * every activation route (8-bit rows, bf16 tiles, f32 rows, the rows-in-lanes packed kernel),
 * odd token counts, NaN and infinities, with and without a pool. */
static void test_matmul_clamped(void)
{
    const uint32_t types[] = {G4_TYPE_Q8_0, G4_TYPE_BF16, G4_TYPE_F32, G4_TYPE_F16, G4_TYPE_Q4_K};
    const int64_t toks[] = {1, 3, 8, 9, 40};
    const int64_t n_cols = 256, n_rows = 48;
    const float lo = -0.75f, hi = 1.25f;
    g4k_pool *pool = g4k_pool_new(2);
    for (int isa = 0; isa < 4; isa++) {
        const g4k_kernels *k = g4k_kernels_for((g4k_isa)isa);
        if (!k)
            continue;
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            const uint32_t type = types[ti];
            if (!k->mm[type])
                continue;
            const size_t rb = g4_type_row_bytes(type, n_cols);
            uint8_t *w = random_quant_rows(type, n_cols, n_rows);
            g4k_matrix m = {w, type, n_cols, n_rows, rb, NULL};
            for (int pk = 0; pk < 2; pk++) {
                g4k_packed *p = NULL;
                if (pk) { /* the rows-in-lanes route, where this level packs the type */
                    p = g4k_pack_with(k, NULL, &m);
                    if (!p)
                        continue;
                    m.packed = p;
                }
                for (size_t tt = 0; tt < sizeof toks / sizeof toks[0]; tt++) {
                    const int64_t nt = toks[tt], nx = n_cols * nt;
                    float *x = malloc(sizeof(float) * (size_t)nx), *x0 = malloc(sizeof(float) * (size_t)nx);
                    float *xc = malloc(sizeof(float) * (size_t)nx);
                    float *y0 = malloc(sizeof(float) * (size_t)(n_rows * nt));
                    float *y1 = malloc(sizeof(float) * (size_t)(n_rows * nt));
                    for (int64_t i = 0; i < nx; i++)
                        x[i] = 2 * grand();
                    x[0] = NAN;
                    x[nx / 2] = INFINITY;
                    x[nx - 1] = -INFINITY;
                    memcpy(x0, x, sizeof(float) * (size_t)nx);
                    g4k_clamp_copy(x, xc, nx, lo, hi);
                    int clamp_ok = !isnan(xc[0]) && xc[0] == lo && xc[nx / 2] == hi && xc[nx - 1] == lo;
                    for (int64_t i = 0; i < nx; i++)
                        clamp_ok &= xc[i] >= lo && xc[i] <= hi;
                    CHECK(clamp_ok, "g4k_clamp_copy bounds every value, NaN -> lo");
                    for (int64_t len = nx; len > 0 && isa == 0 && ti == 0 && !pk; len = len > 17 ? 17 : len - 16) {
                        /* the pooled split (whole cache lines, a short last one) gives the same values */
                        float *xp = malloc(sizeof(float) * (size_t)len);
                        g4k_clamp_pool(pool, x, xp, len, lo, hi);
                        CHECK(!memcmp(xp, xc, sizeof(float) * (size_t)len), "g4k_clamp_pool of %lld values", (long long)len);
                        free(xp);
                    }
                    for (int pl = 0; pl < 2; pl++) {
                        g4k_pool *pp = pl ? pool : NULL;
                        g4k_matmul_lowp_with(k, pp, &m, xc, nt, y0);
                        g4k_matmul_lowp_clamped_with(k, pp, &m, x, nt, y1, lo, hi);
                        CHECK(!memcmp(y0, y1, sizeof(float) * (size_t)(n_rows * nt)),
                              "lowp_clamped %s %s packed=%d n_tok=%lld pool=%d equals lowp on a clamped copy",
                              g4k_isa_name(k->isa), g4_type_get(type)->name, pk, (long long)nt, pl);
                        CHECK(!memcmp(x, x0, sizeof(float) * (size_t)nx), "lowp_clamped leaves x as it is");
                    }
                    free(x);
                    free(x0);
                    free(xc);
                    free(y0);
                    free(y1);
                }
                if (p) {
                    m.packed = NULL;
                    g4k_packed_free(p);
                }
            }
            free(w);
        }
    }
    g4k_pool_free(pool);
}

/* A token's result must not depend on its batch: every small-batch (mvn) kernel gives, bit
 * for bit, what the single-token (mv) kernel gives for each token alone. Speculative decoding
 * relies on it (a verify batch scores each row as plain decoding would). */
static void test_small_batch_invariance(void)
{
    const uint32_t types[] = {G4_TYPE_Q4_0, G4_TYPE_Q4_K, G4_TYPE_Q6_K, G4_TYPE_Q8_0};
    const int64_t n_rows = 37;
    int checked = 0;
    for (int isa = 0; isa < 4; isa++) {
        const g4k_kernels *k = g4k_kernels_for((g4k_isa)isa);
        if (!k)
            continue;
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            const uint32_t type = types[ti];
            if (!k->mvn[type])
                continue;
            /* 3840: the 12B width; 544 (17 blocks) and 16640 (> 16384) take Q4_0's generic path
             * (544 leaves Q8_0 one block past its groups of four); 128: the default model's
             * width (its Q8_0 LM head) */
            const int64_t widths[] = {512, 3840, 544, 16640, 128};
            for (size_t ci = 0; ci < sizeof widths / sizeof widths[0]; ci++) {
                const int64_t n_cols = widths[ci];
                if (n_cols % g4_type_get(type)->block_elems)
                    continue;
                const size_t rb = g4_type_row_bytes(type, n_cols);
                uint8_t *w = random_quant_rows(type, n_cols, n_rows);
                const size_t arb = g4k_act_row_bytes(type, n_cols);
                for (int64_t nt = 2; nt <= G4K_MVN_MAX_TOK; nt++) {
                    float *x = malloc(sizeof(float) * (size_t)(n_cols * nt));
                    for (int64_t i = 0; i < n_cols * nt; i++)
                        x[i] = grand();
                    void *aq = xaligned(arb * (size_t)nt);
                    g4k_quantize_act(type, x, n_cols, nt, aq);
                    float *yb = malloc(sizeof(float) * (size_t)(n_rows * nt)), *y1 = malloc(sizeof(float) * (size_t)n_rows);
                    k->mvn[type](n_cols, w, rb, n_rows, aq, arb, nt, yb, n_rows);
                    int bad = 0;
                    for (int64_t t = 0; t < nt; t++) {
                        k->mv[type](n_cols, w, rb, n_rows, (uint8_t *)aq + t * arb, arb, 1, y1, n_rows);
                        bad += memcmp(y1, yb + t * n_rows, sizeof(float) * (size_t)n_rows) != 0;
                    }
                    CHECK(bad == 0, "mvn %s %s n_cols=%lld nt=%lld: %d token(s) differ from the single-token kernel",
                          g4k_isa_name(k->isa), g4_type_get(type)->name, (long long)n_cols, (long long)nt, bad);
                    checked++;
                    free(x), free(aq), free(yb), free(y1);
                }
                free(w);
            }
        }
    }
    /* The same through g4k_matmul for every quantized type the decoder streams, with the pool:
     * up to G4K_MVN_MAX_TOK tokens, a token's row equals its single-token result. */
    const uint32_t all[] = {G4_TYPE_Q4_0, G4_TYPE_Q4_1, G4_TYPE_Q5_0, G4_TYPE_Q8_0, G4_TYPE_Q4_K,
                            G4_TYPE_Q5_K, G4_TYPE_Q6_K, G4_TYPE_IQ4_NL, G4_TYPE_IQ4_XS};
    g4k_pool *pool = g4k_pool_new(2);
    for (int isa = 0; isa < 4; isa++) {
        const g4k_kernels *k = g4k_kernels_for((g4k_isa)isa);
        if (!k)
            continue;
        for (size_t ti = 0; ti < sizeof all / sizeof all[0]; ti++) {
            const uint32_t type = all[ti];
            const int64_t n_cols = 768, n_rows = 300, nt = G4K_MVN_MAX_TOK;
            const size_t rb = g4_type_row_bytes(type, n_cols);
            uint8_t *w = random_quant_rows(type, n_cols, n_rows);
            float *x = malloc(sizeof(float) * (size_t)(n_cols * nt));
            float *yb = malloc(sizeof(float) * (size_t)(n_rows * nt)), *y1 = malloc(sizeof(float) * (size_t)n_rows);
            for (int64_t i = 0; i < n_cols * nt; i++)
                x[i] = grand();
            const g4k_matrix m = {w, type, n_cols, n_rows, rb, NULL};
            for (int64_t n = 2; n <= nt; n += nt - 2) {
                g4k_matmul_with(k, pool, &m, x, n, yb);
                int bad = 0;
                for (int64_t t = 0; t < n; t++) {
                    g4k_matmul_with(k, pool, &m, x + t * n_cols, 1, y1);
                    bad += memcmp(y1, yb + t * n_rows, sizeof(float) * (size_t)n_rows) != 0;
                }
                CHECK(bad == 0, "matmul %s %s n_tok=%lld: %d token(s) differ from single-token steps", g4k_isa_name(k->isa),
                      g4_type_get(type)->name, (long long)n, bad);
                checked++;
            }
            free(w), free(x), free(yb), free(y1);
        }
    }
    g4k_pool_free(pool);
    printf("small-batch invariance: %d cases\n", checked);
}

/* Q8_0 blocks left over after the single-token kernels' groups of four (every block of a row
 * narrower than 128, as the embedded drafter's 64-wide rows) go through a vectorised block dot
 * (kernels/q8_0_block_x86.h) that must equal the scalar dot bit for bit: each level's mv on rows
 * of 32..96 columns gives g4q_dot_q8_0's value, and on 160 / 224 (groups plus a tail) the same as
 * the group part plus the scalar tail, which is what the verify kernel (mvn) adds. Extreme quants
 * (-128, 127) are included: no saturating 8-bit products. */
static void test_q8_0_narrow_rows(void)
{
    const int64_t n_rows = 41;
    int checked = 0;
    for (int isa = 0; isa < 4; isa++) {
        const g4k_kernels *k = g4k_kernels_for((g4k_isa)isa);
        if (!k || !k->mv[G4_TYPE_Q8_0])
            continue;
        const int64_t widths[] = {32, 64, 96, 160, 224};
        for (size_t ci = 0; ci < sizeof widths / sizeof widths[0]; ci++) {
            const int64_t n_cols = widths[ci], nb = n_cols / 32;
            const size_t rb = g4_type_row_bytes(G4_TYPE_Q8_0, n_cols);
            uint8_t *w = xaligned(rb * (size_t)n_rows);
            float *row = malloc(sizeof(float) * (size_t)n_cols), *y = malloc(sizeof(float) * (size_t)n_rows);
            for (int64_t r = 0; r < n_rows; r++) {
                for (int64_t i = 0; i < n_cols; i++)
                    row[i] = grand();
                g4k_quantize(G4_TYPE_Q8_0, row, w + r * rb, n_cols);
                if (r % 5 == 0) { /* quants at the type's ends */
                    g4q_q8_0 *b = (g4q_q8_0 *)(w + r * rb);
                    for (int j = 0; j < 32; j++)
                        b[nb - 1].qs[j] = (int8_t)(j & 1 ? 127 : -128);
                }
            }
            for (int64_t i = 0; i < n_cols; i++)
                row[i] = grand();
            const size_t arb = g4k_act_row_bytes(G4_TYPE_Q8_0, n_cols);
            g4q_q8_0 *aq = xaligned(arb);
            g4k_quantize_act(G4_TYPE_Q8_0, row, n_cols, 1, aq);
            for (int j = 0; j < 32; j++)
                aq[nb - 1].qs[j] = (int8_t)(j % 3 ? -128 : 127);
            k->mv[G4_TYPE_Q8_0](n_cols, w, rb, n_rows, aq, arb, 1, y, n_rows);
            int bad = 0;
            for (int64_t r = 0; r < n_rows; r++) {
                const g4q_q8_0 *x = (const g4q_q8_0 *)(w + r * rb);
                float want;
                if (nb < 4) {
                    want = g4q_dot_q8_0(n_cols, x, aq);
                } else { /* the groups through the kernel itself (128 columns), then the scalar tail */
                    k->mv[G4_TYPE_Q8_0](128 * (nb / 4), x, rb, 1, aq, arb, 1, &want, 1);
                    for (int64_t b = 4 * (nb / 4); b < nb; b++)
                        want += g4q_dot_q8_0(32, &x[b], &aq[b]);
                }
                bad += memcmp(&want, &y[r], sizeof want) != 0;
            }
            CHECK(bad == 0, "mv %s Q8_0 n_cols=%lld: %d row(s) differ from the scalar block dot",
                  g4k_isa_name(k->isa), (long long)n_cols, bad);
            checked++;
            free(w), free(row), free(y), free(aq);
        }
    }
    printf("Q8_0 narrow rows: %d cases\n", checked);
}

/* g4k_matmul_rows: each selected row's value equals g4k_matmul's for that row (any order,
 * repeats allowed); a bad row index is refused without touching y. */
static void test_matmul_rows(void)
{
    const uint32_t types[] = {G4_TYPE_Q4_0, G4_TYPE_Q8_0, G4_TYPE_Q4_K, G4_TYPE_Q6_K};
    const int64_t n_cols = 1024, n_rows = 700;
    g4k_pool *pool = g4k_pool_new(2);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const uint32_t type = types[ti];
        const size_t rb = g4_type_row_bytes(type, n_cols);
        uint8_t *w = xaligned(rb * (size_t)n_rows);
        float *row = malloc(sizeof(float) * (size_t)n_cols), *x = malloc(sizeof(float) * (size_t)n_cols);
        float *yall = malloc(sizeof(float) * (size_t)n_rows), *ysel = malloc(sizeof(float) * 600);
        int32_t sel[600];
        for (int64_t r = 0; r < n_rows; r++) {
            for (int64_t i = 0; i < n_cols; i++)
                row[i] = grand();
            g4k_quantize(type, row, w + r * rb, n_cols);
        }
        for (int64_t i = 0; i < n_cols; i++)
            x[i] = grand();
        for (int i = 0; i < 600; i++)
            sel[i] = (int32_t)(rng() % (uint64_t)n_rows);
        const g4k_matrix m = {w, type, n_cols, n_rows, rb, NULL};
        g4k_matmul(NULL, &m, x, 1, yall);
        for (int pass = 0; pass < 2; pass++) {
            const int64_t n_sel = pass ? 600 : 7; /* 600: split over the pool */
            CHECK(g4k_matmul_rows(pass ? pool : NULL, &m, sel, n_sel, x, ysel) == 0, "matmul_rows %s",
                  g4_type_get(type)->name);
            int bad = 0;
            for (int64_t i = 0; i < n_sel; i++)
                bad += memcmp(&ysel[i], &yall[sel[i]], sizeof(float)) != 0;
            CHECK(bad == 0, "matmul_rows %s n_sel=%lld: %d value(s) differ from g4k_matmul", g4_type_get(type)->name,
                  (long long)n_sel, bad);
        }
        sel[3] = (int32_t)n_rows;
        ysel[0] = 12345.0f;
        CHECK(g4k_matmul_rows(NULL, &m, sel, 7, x, ysel) == -1 && ysel[0] == 12345.0f,
              "matmul_rows refuses row %lld of %lld", (long long)n_rows, (long long)n_rows);
        sel[3] = -1;
        CHECK(g4k_matmul_rows(NULL, &m, sel, 7, x, ysel) == -1, "matmul_rows refuses row -1");
        free(w), free(row), free(x), free(yall), free(ysel);
    }
    g4k_pool_free(pool);
}

static void test_f32act_and_get_row(void)
{
    const int64_t n = 512, nr = 9, nt = 3;
    float *wf = malloc(n * nr * 4), *x = malloc(n * nt * 4), *y = malloc(nr * nt * 4), *row = malloc(n * 4);
    void *w = xaligned(g4_type_row_bytes(G4_TYPE_Q4_K, n) * nr);
    for (int64_t i = 0; i < n * nr; i++)
        wf[i] = grand();
    for (int64_t i = 0; i < n * nt; i++)
        x[i] = grand();
    const size_t rb = g4_type_row_bytes(G4_TYPE_Q4_K, n);
    for (int64_t r = 0; r < nr; r++)
        g4k_quantize(G4_TYPE_Q4_K, wf + r * n, (uint8_t *)w + r * rb, n);
    const g4k_matrix m = {w, G4_TYPE_Q4_K, n, nr, rb, NULL};
    g4k_pool *pool = g4k_pool_new(2);
    g4k_matmul_f32act(pool, &m, x, nt, y);
    g4k_pool_free(pool);
    int bad = 0;
    for (int64_t r = 0; r < nr; r++) {
        CHECK(g4k_get_row(&m, r, row) == 0, "get_row");
        for (int64_t t = 0; t < nt; t++) {
            double ref = 0, mag = 0;
            for (int64_t i = 0; i < n; i++) {
                ref += (double)row[i] * x[t * n + i];
                mag += fabs((double)row[i] * x[t * n + i]);
            }
            bad += !(fabs(y[t * nr + r] - ref) <= 1e-5 * mag);
        }
    }
    CHECK(bad == 0, "matmul_f32act exact path: %d bad", bad);
    CHECK(g4k_get_row(&m, nr, row) == -1, "get_row out of range");
    CHECK(g4k_dequantize(G4_TYPE_IQ2_XXS, w, row, 256) == -1, "unsupported dequant");
    CHECK(g4k_quantize(G4_TYPE_Q2_K, wf, w, 256) == 0, "no quantizer");
    CHECK(g4k_type_supported(G4_TYPE_Q4_K) && !g4k_type_supported(G4_TYPE_IQ2_XXS), "type_supported");
    free(wf);
    free(x);
    free(y);
    free(row);
    free(w);
}

/* Per-ISA activation quantizers must produce the scalar quantizers' bytes exactly. */
static void test_qact(void)
{
    const int64_t n = 1024, nt = 3;
    float *x = malloc(sizeof(float) * n * nt);
    const uint32_t acts[] = {G4_TYPE_Q8_0, G4_TYPE_Q8_1, G4_TYPE_Q8_K};
    for (int rep = 0; rep < 4; rep++) {
        for (int64_t i = 0; i < n * nt; i++) {
            x[i] = grand() * (rep == 1 ? 1e-3f : rep == 2 ? 300.f : 1.f);
            if (rep == 3) /* exact ties: block amax 127 gives d = 1, so k + 0.5 lands on .5 */
                x[i] = (i % 32 == 5) ? 127.f : (float)((int)(rng() % 200) - 100) + 0.5f;
        }
        if (rep == 0)
            for (int64_t i = 256; i < 512; i++)
                x[i] = 0; /* an all-zero Q8_K block */
        for (size_t ai = 0; ai < sizeof acts / sizeof acts[0]; ai++) {
            const size_t rb = g4_type_row_bytes(acts[ai], n);
            uint8_t *ref = malloc(rb * nt), *got = malloc(rb * nt);
            for (int64_t t = 0; t < nt; t++)
                g4q_traits_get(acts[ai])->quant(x + t * n, ref + t * rb, n);
            for (int isa = 0; isa < 4; isa++) {
                const g4k_kernels *k = g4k_kernels_for((g4k_isa)isa);
                if (!k || !k->qact[acts[ai]])
                    continue;
                memset(got, 0xAB, rb * nt);
                k->qact[acts[ai]](x, n, nt, got, rb);
                CHECK(!memcmp(ref, got, rb * nt), "qact %s %s rep %d bit-exact", g4k_isa_name((g4k_isa)isa),
                      g4_type_get(acts[ai])->name, rep);
            }
            free(ref);
            free(got);
        }
    }
    free(x);
}

static void test_init(void)
{
    char err[200] = "";
    CHECK(g4k_init(err, sizeof err) == 0, "g4k_init: %s", err);
    printf("active ISA: %s (available:", g4k_isa_name(g4k_active_isa()));
    for (int i = 0; i < 4; i++)
        if (g4k_kernels_for((g4k_isa)i))
            printf(" %s", g4k_isa_name((g4k_isa)i));
    printf(")\n");
    CHECK(g4k_kernels_for(G4K_ISA_SCALAR) != NULL, "scalar always there");
}

/* ---- benchmark ------------------------------------------------------------------------- */
/* Thread CPU time, not wall time: the development machine is shared and heavily loaded, and
 * time spent descheduled would otherwise dominate. G4_BENCH_WALL=1 switches to wall time. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(getenv("G4_BENCH_WALL") ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Single-thread streaming read bandwidth: 4 independent 16-byte accumulators (SSE2 is the x86-64
 * baseline) so the loop is bound by memory, not by the adds. */
static double read_bw(const void *buf, size_t bytes)
{
    double best = 1e30;
    volatile uint64_t sink = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now();
#if defined(__SSE2__)
        const __m128i *p = buf;
        __m128i s0 = _mm_setzero_si128(), s1 = s0, s2 = s0, s3 = s0;
        for (size_t i = 0; i + 4 <= bytes / 16; i += 4) {
            s0 = _mm_add_epi64(s0, _mm_load_si128(p + i));
            s1 = _mm_add_epi64(s1, _mm_load_si128(p + i + 1));
            s2 = _mm_add_epi64(s2, _mm_load_si128(p + i + 2));
            s3 = _mm_add_epi64(s3, _mm_load_si128(p + i + 3));
        }
        s0 = _mm_add_epi64(_mm_add_epi64(s0, s1), _mm_add_epi64(s2, s3));
        sink += (uint64_t)_mm_cvtsi128_si64(s0);
#else
        const uint64_t *p = buf;
        uint64_t s[8] = {0};
        for (size_t i = 0; i + 8 <= bytes / 8; i += 8)
            for (int k = 0; k < 8; k++)
                s[k] += p[i + k];
        sink += s[0] ^ s[1] ^ s[2] ^ s[3] ^ s[4] ^ s[5] ^ s[6] ^ s[7];
#endif
        double dt = now() - t0;
        best = dt < best ? dt : best;
    }
    (void)sink;
    return bytes / best / 1e9;
}

/* g4k_quantize_rows (the active level's vectorised quantizer where there is one) gives
 * g4k_quantize's bytes exactly, rows `stride` apart (a padded stride leaves the gap alone). */
static void test_quantize_rows(void)
{
    const uint32_t types[] = {G4_TYPE_Q8_0, G4_TYPE_Q8_K, G4_TYPE_BF16, G4_TYPE_F16, G4_TYPE_Q4_K};
    const int64_t n = 512, nr = 7;
    float *x = malloc(sizeof(float) * n * nr);
    for (int64_t i = 0; i < n * nr; i++)
        x[i] = grand() * (i % 97 == 0 ? 40.0f : 1.0f);
    x[3] = 0.5f; /* exact rounding ties */
    x[4] = -1.5f;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const size_t rb = g4_type_row_bytes(types[ti], n), stride = rb + 16;
        uint8_t *a = calloc(nr, stride), *b = calloc(nr, stride);
        for (int64_t r = 0; r < nr; r++)
            g4k_quantize(types[ti], x + r * n, b + r * stride, n);
        CHECK(g4k_quantize_rows(types[ti], x, n, nr, a, stride) == 0 && !memcmp(a, b, nr * stride),
              "g4k_quantize_rows %s equals g4k_quantize byte for byte", g4_type_get(types[ti])->name);
        free(a);
        free(b);
    }
    CHECK(g4k_quantize_rows(G4_TYPE_Q8_0, x, 33, 1, x, 64) == -1, "a row that is not whole blocks is refused");
    free(x);
}

/* Mismatches of y[t * n_out + j] (and its pool twin y1, bit for bit if cmp_pool) against
 * sum_i bf16(w[j * js + i * is]) x[t * len + i] in double, within 2e-5 (f32 sums) plus xround
 * (bf16 rounding of x) of sum |w x|. */
static int check_bf16_products(const float *w, int64_t js, int64_t is, const float *x, int64_t len, int64_t nx,
                               int64_t n_out, const float *y, const float *y1, double xround, int cmp_pool)
{
    int fail = 0;
    for (int64_t t = 0; t < nx; t++)
        for (int64_t j = 0; j < n_out; j++) {
            double ref = 0, mag = 0;
            for (int64_t i = 0; i < len; i++) {
                const double wv = g4k_bf16_to_f32(g4k_f32_to_bf16(w[j * js + i * is])), xv = x[t * len + i];
                ref += wv * xv;
                mag += fabs(wv * xv);
            }
            fail += !(fabs(y[t * n_out + j] - ref) <= (2e-5 + xround) * mag + 1e-6);
            fail += cmp_pool && memcmp(&y[t * n_out + j], &y1[t * n_out + j], sizeof(float)) != 0;
        }
    return fail;
}

/* g4k_scores_bf16 and g4k_pv_bf16 on every level against a double-precision reference over the
 * bf16 keys and values: key counts around the 16-lane groups and odd (the padding must be zero
 * and never stored: the buffers start as NaN bytes, and a canary follows each output), odd row
 * tails (the 8- and 4-row tiles), heads of 8, 13, 64 and 70 values, keys and values packed on
 * one thread or split across a pool, and a pool for the products. With outputs in lanes the
 * queries and probabilities are rounded to bf16 too (2^-9 per product), and every output is
 * bit for bit the same with or without the pool (a lane does not depend on the split). */
static void test_attn_bf16(void)
{
    const int64_t keys[] = {1, 15, 16, 17, 33, 100};
    const int64_t qs[] = {1, 3, 4, 9, 13, 17};
    const int64_t hds[] = {8, 13, 64, 70};
    g4k_pool *pool = g4k_pool_new(2);
    int cases = 0, bad = 0, lanes = 0;
    for (int isa = 0; isa < 4; isa++) {
        const g4k_kernels *k = g4k_kernels_for((g4k_isa)isa);
        if (!k)
            continue;
        lanes += k->lanes_bf16 != NULL;
        for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++)
            for (size_t ki = 0; ki < sizeof keys / sizeof keys[0]; ki++)
                for (size_t qi = 0; qi < sizeof qs / sizeof qs[0]; qi++) {
                    const int64_t hd = hds[hi], nk = keys[ki], nq = qs[qi], ld = hd + 5;
                    float *key = malloc(sizeof(float) * (size_t)(nk * ld)), *val = malloc(sizeof(float) * (size_t)(nk * ld));
                    float *q = malloc(sizeof(float) * (size_t)(nq * hd)), *p = malloc(sizeof(float) * (size_t)(nq * nk));
                    float *s = malloc(sizeof(float) * (size_t)(nq * nk + 16)), *s1 = malloc(sizeof(float) * (size_t)(nq * nk));
                    float *o = malloc(sizeof(float) * (size_t)(nq * hd + 16)), *o1 = malloc(sizeof(float) * (size_t)(nq * hd));
                    const size_t kn = g4k_keys_bf16_elems(nk, hd), vn = g4k_values_bf16_elems(nk, hd);
                    uint16_t *kb = malloc(sizeof(uint16_t) * kn), *vb = malloc(sizeof(uint16_t) * vn);
                    for (int64_t i = 0; i < nk * ld; i++) {
                        key[i] = grand();
                        val[i] = grand();
                    }
                    for (int64_t i = 0; i < nq * hd; i++)
                        q[i] = grand();
                    for (int64_t i = 0; i < nq * nk; i++)
                        p[i] = grand();
                    memset(kb, 0xff, sizeof(uint16_t) * kn); /* stale bytes: bf16 NaN */
                    memset(vb, 0xff, sizeof(uint16_t) * vn);
                    g4k_pool *pk = (ki + qi) % 2 ? pool : NULL; /* packing split across threads or not */
                    g4k_keys_bf16_with(k, pk, key, ld, hd, nk, kb);
                    g4k_values_bf16_with(k, pk, val, ld, hd, nk, vb);
                    for (int64_t i = 0; i < nq * nk + 16; i++)
                        s[i] = -7.0f;
                    for (int64_t i = 0; i < nq * hd + 16; i++)
                        o[i] = -7.0f;
                    g4k_scores_bf16_with(k, NULL, kb, nk, hd, q, nq, s);
                    g4k_scores_bf16_with(k, pool, kb, nk, hd, q, nq, s1);
                    g4k_pv_bf16_with(k, NULL, vb, nk, hd, p, nq, o);
                    g4k_pv_bf16_with(k, pool, vb, nk, hd, p, nq, o1);
                    /* the fallback rounds activations only where g4k_matmul_lowp does (its GEMM) */
                    const double xround = k->lanes_bf16 || (nq >= G4K_GEMM_MIN_TOK && k->gemm_lowp[G4_TYPE_BF16]) ? 0x1p-8 : 0;
                    /* scores: output i of row t is key i (stride ld, step 1) . q_t; p v: output c is
                     * value column c (stride 1, step ld) . p_t */
                    const int cmp_pool = k->lanes_bf16 != NULL;
                    int fail = check_bf16_products(key, ld, 1, q, hd, nq, nk, s, s1, xround, cmp_pool) +
                               check_bf16_products(val, 1, ld, p, nk, nq, hd, o, o1, xround, cmp_pool);
                    for (int i = 0; i < 16; i++)
                        fail += (s[nq * nk + i] != -7.0f) + (o[nq * hd + i] != -7.0f);
                    if (fail && bad < 5)
                        fprintf(stderr, "  attn_bf16 %s hd=%lld keys=%lld queries=%lld packed on a pool=%d: %d bad\n",
                                g4k_isa_name(k->isa), (long long)hd, (long long)nk, (long long)nq, pk != NULL, fail);
                    bad += fail != 0;
                    cases++;
                    free(key);
                    free(val);
                    free(q);
                    free(p);
                    free(s);
                    free(s1);
                    free(o);
                    free(o1);
                    free(kb);
                    free(vb);
                }
    }
    CHECK(bad == 0, "g4k_scores_bf16 / g4k_pv_bf16 match the bf16 reference on every level (%d cases, %d level(s) in lanes)",
          cases, lanes);
    g4k_pool_free(pool);
}

/* g4k_attn_f32 (with g4k_keys_f32 / g4k_values_f32) on every level against a double-precision
 * softmax(q K^T) V; on levels with the float GEMM's panels, bit for bit the composition it
 * replaced in the vision tower (g4k_matmul of the keys as an F32 matrix, g4k_softmax, g4k_matmul
 * of V^T: batches of G4K_GEMM_MIN_TOK or more queries) and the same with or without a pool.
 * Key counts around the 16- and 32-row groups, query counts around the 12-token blocks, heads
 * of 8, 13, 64 and 70 values, strided q / k / v / o rows (the output's gaps must stay as they
 * were), the layouts written on one thread or a pool. */
static void test_attn_f32(void)
{
    const int64_t keys[] = {1, 15, 31, 32, 33, 100};
    const int64_t qs[] = {1, 5, 12, 13, 40};
    const int64_t hds[] = {8, 13, 64, 70};
    g4k_pool *pool = g4k_pool_new(2);
    int cases = 0, bad = 0, exact = 0;
    for (int isa = 0; isa < 4; isa++) {
        const g4k_kernels *k = g4k_kernels_for((g4k_isa)isa);
        if (!k)
            continue;
        for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++)
            for (size_t ki = 0; ki < sizeof keys / sizeof keys[0]; ki++)
                for (size_t qi = 0; qi < sizeof qs / sizeof qs[0]; qi++) {
                    const int64_t hd = hds[hi], nk = keys[ki], nq = qs[qi], ld = hd + 5, ldq = hd + 3, ldo = hd + 2;
                    float *key = malloc(sizeof(float) * (size_t)(nk * ld)), *val = malloc(sizeof(float) * (size_t)(nk * ld));
                    float *q = malloc(sizeof(float) * (size_t)(nq * ldq)), *o = malloc(sizeof(float) * (size_t)(nq * ldo));
                    float *o1 = malloc(sizeof(float) * (size_t)(nq * ldo));
                    float *kf = malloc(sizeof(float) * g4k_keys_f32_elems(nk, hd));
                    float *vf = malloc(sizeof(float) * g4k_values_f32_elems(nk, hd));
                    for (int64_t i = 0; i < nk * ld; i++) {
                        key[i] = (float)(grand() * 0.5);
                        val[i] = grand();
                    }
                    for (int64_t i = 0; i < nq * ldq; i++)
                        q[i] = (float)(grand() * 0.5);
                    for (int64_t i = 0; i < nq * ldo; i++)
                        o[i] = o1[i] = -7.0f;
                    g4k_pool *pk = (ki + qi) % 2 ? pool : NULL;
                    g4k_keys_f32_with(k, pk, key, ld, hd, nk, kf);
                    g4k_values_f32_with(k, pk, val, ld, hd, nk, vf);
                    g4k_attn_f32_with(k, NULL, kf, vf, nk, hd, q, ldq, nq, o, ldo);
                    g4k_attn_f32_with(k, pool, kf, vf, nk, hd, q, ldq, nq, o1, ldo);
                    int fail = 0;
                    double *p = malloc(sizeof(double) * (size_t)nk);
                    for (int64_t t = 0; t < nq; t++) {
                        double m = -1e300, sum = 0;
                        for (int64_t i = 0; i < nk; i++) {
                            double d = 0;
                            for (int64_t c = 0; c < hd; c++)
                                d += (double)q[t * ldq + c] * key[i * ld + c];
                            p[i] = d;
                            m = d > m ? d : m;
                        }
                        for (int64_t i = 0; i < nk; i++)
                            sum += p[i] = exp(p[i] - m);
                        for (int64_t c = 0; c < hd; c++) {
                            double ref = 0, mag = 0;
                            for (int64_t i = 0; i < nk; i++) {
                                ref += p[i] / sum * val[i * ld + c];
                                mag += p[i] / sum * fabs(val[i * ld + c]);
                            }
                            fail += !(fabs(o[t * ldo + c] - ref) <= 2e-5 * mag + 1e-6);
                        }
                        for (int64_t c = hd; c < ldo; c++)
                            fail += o[t * ldo + c] != -7.0f || o1[t * ldo + c] != -7.0f;
                    }
                    free(p);
                    if (k->flt_panel_mm) {
                        fail += memcmp(o, o1, sizeof(float) * (size_t)(nq * ldo)) != 0;
                        if (nq >= G4K_GEMM_MIN_TOK) { /* the composition the tower ran before */
                            float *kr = malloc(sizeof(float) * (size_t)(nk * hd)), *vt = malloc(sizeof(float) * (size_t)(nk * hd));
                            float *qr = malloc(sizeof(float) * (size_t)(nq * hd)), *sc = malloc(sizeof(float) * (size_t)(nq * nk));
                            float *oc = malloc(sizeof(float) * (size_t)(nq * hd));
                            for (int64_t i = 0; i < nk; i++)
                                for (int64_t c = 0; c < hd; c++) {
                                    kr[i * hd + c] = key[i * ld + c];
                                    vt[c * nk + i] = val[i * ld + c];
                                }
                            for (int64_t t = 0; t < nq; t++)
                                memcpy(qr + t * hd, q + t * ldq, sizeof(float) * (size_t)hd);
                            const g4k_matrix K = {kr, G4_TYPE_F32, hd, nk, sizeof(float) * (size_t)hd, NULL};
                            const g4k_matrix VT = {vt, G4_TYPE_F32, nk, hd, sizeof(float) * (size_t)nk, NULL};
                            g4k_matmul_with(k, pool, &K, qr, nq, sc);
                            for (int64_t t = 0; t < nq; t++)
                                k->softmax(sc + t * nk, nk);
                            g4k_matmul_with(k, pool, &VT, sc, nq, oc);
                            for (int64_t t = 0; t < nq; t++)
                                fail += memcmp(oc + t * hd, o + t * ldo, sizeof(float) * (size_t)hd) != 0;
                            exact++;
                            free(kr); free(vt); free(qr); free(sc); free(oc);
                        }
                    }
                    if (fail && bad < 5)
                        fprintf(stderr, "  attn_f32 %s hd=%lld keys=%lld queries=%lld packed on a pool=%d: %d bad\n",
                                g4k_isa_name(k->isa), (long long)hd, (long long)nk, (long long)nq, pk != NULL, fail);
                    bad += fail != 0;
                    cases++;
                    free(key); free(val); free(q); free(o); free(o1); free(kf); free(vf);
                }
    }
    CHECK(bad == 0, "g4k_attn_f32 matches the double reference on every level (%d cases; %d bit for bit the matmul / softmax / matmul composition)",
          cases, exact);
    g4k_pool_free(pool);
}

static int bench(int argc, char **argv)
{
    const int64_t n_cols = getenv("G4_BENCH_COLS") ? atoll(getenv("G4_BENCH_COLS")) : 3840,
                  n_rows = getenv("G4_BENCH_ROWS") ? atoll(getenv("G4_BENCH_ROWS")) : 15360;
    /* G4_BENCH_LOWP=1: g4k_matmul_lowp (the encoders' opt-in precisions) instead of g4k_matmul */
    void (*mm)(const g4k_kernels *, g4k_pool *, const g4k_matrix *, const float *, int64_t, float *) =
        getenv("G4_BENCH_LOWP") && atoi(getenv("G4_BENCH_LOWP")) ? g4k_matmul_lowp_with : g4k_matmul_with;
    int n_tok = 1, n_thr = 1;
    for (int i = 2; i < argc; i++) {
        if (!strncmp(argv[i], "--tok=", 6))
            n_tok = atoi(argv[i] + 6);
        if (!strncmp(argv[i], "--threads=", 10))
            n_thr = atoi(argv[i] + 10);
    }
    const int reps = n_tok >= 64 ? 3 : n_rows < 2000 ? 200 : 8;
    /* several threads: CPU time of the caller alone means nothing, use wall time */
    if (n_thr > 1)
        setenv("G4_BENCH_WALL", "1", 1);
    g4k_pool *pool = n_thr > 1 ? g4k_pool_new(n_thr) : NULL;
    const char *only_isa = getenv("G4_BENCH_ISA");
    const size_t big = (size_t)n_cols * n_rows * 4;
    uint8_t *buf = xaligned(big), *dst = xaligned(big);
    for (size_t i = 0; i < big; i++)
        buf[i] = (uint8_t)i;
    const double rbw = read_bw(buf, big / 2);
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now();
        memcpy(dst, buf, big / 2);
        double dt = now() - t0;
        best = dt < best ? dt : best;
    }
    printf("bench: %lldx%lld, n_tok=%d, %d thread(s). read bw %.1f GB/s, memcpy %.1f GB/s (copied bytes/s)\n",
           (long long)n_rows, (long long)n_cols, n_tok, n_thr, rbw, big / 2 / best / 1e9);
    free(dst);
    float *x = malloc(sizeof(float) * n_cols * n_tok), *y = malloc(sizeof(float) * n_rows * n_tok);
    float *tmp = malloc(sizeof(float) * n_cols * 64);
    for (int64_t i = 0; i < n_cols * n_tok; i++)
        x[i] = grand();
    for (int64_t i = 0; i < n_cols * 64; i++)
        tmp[i] = grand();
    const uint32_t types[] = {G4_TYPE_Q4_0, G4_TYPE_Q4_K, G4_TYPE_Q8_0, G4_TYPE_Q6_K, G4_TYPE_Q5_K,
                              G4_TYPE_IQ4_XS, G4_TYPE_IQ4_NL, G4_TYPE_Q4_1, G4_TYPE_Q5_0, G4_TYPE_Q5_1,
                              G4_TYPE_MXFP4, G4_TYPE_BF16, G4_TYPE_F16, G4_TYPE_F32};
    const char *only = getenv("G4_BENCH_TYPE");
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const uint32_t type = types[ti];
        if (only && strcmp(only, g4_type_get(type)->name))
            continue;
        const size_t rb = g4_type_row_bytes(type, n_cols);
        /* 64 distinct quantized rows, tiled: the bytes streamed are what matters. */
        for (int r = 0; r < 64; r++)
            g4k_quantize(type, tmp + r * n_cols, buf + r * rb, n_cols);
        for (int64_t r = 64; r < n_rows; r++)
            memcpy(buf + r * rb, buf + (r % 64) * rb, rb);
        const g4k_matrix m = {buf, type, n_cols, n_rows, rb, NULL};
        printf("%-7s %6.1f MB:", g4_type_get(type)->name, rb * n_rows / 1e6);
        for (int isa = 0; isa < 4; isa++) {
            const g4k_kernels *k = g4k_kernels_for((g4k_isa)isa);
            if (!k || (isa == 0 && n_tok > 1) || (only_isa && strcmp(only_isa, g4k_isa_name((g4k_isa)isa))))
                continue;
            mm(k, pool, &m, x, n_tok, y); /* warm */
            double bt = 1e30;
            for (int rep = 0; rep < (isa == 0 ? 2 : reps); rep++) {
                double t0 = now();
                mm(k, pool, &m, x, n_tok, y);
                double dt = now() - t0;
                bt = dt < bt ? dt : bt;
            }
            printf("  %s %6.1f GB/s (%5.1f%%)", g4k_isa_name((g4k_isa)isa), rb * n_rows / bt / 1e9,
                   100 * rb * n_rows / bt / 1e9 / rbw);
            if (n_tok > 1)
                printf(" %.1f GFLOP/s", 2.0 * n_cols * n_rows * n_tok / bt / 1e9);
        }
        printf("\n");
    }
    g4k_pool_free(pool);
    free(buf);
    free(x);
    free(y);
    free(tmp);
    return 0;
}

/* A matmul asked for on a pool that is already running (another thread's run, or nested in a
 * task, as with concurrent embedders sharing a model's pool) runs inline as (0, 1) and must
 * still compute every row: equal, bit for bit, to the same matmul on a free pool. */
typedef struct {
    g4k_pool *pool;
    const g4k_matrix *m;
    const float *x;
    int64_t n_tok;
    float *y;
} busy_mm;

static void busy_mm_task(void *ctx, int ith, int nth)
{
    busy_mm *b = ctx;
    (void)nth;
    if (ith == 0) {
        g4k_matmul(b->pool, b->m, b->x, b->n_tok, b->y);
        g4k_matmul_f32act(b->pool, b->m, b->x, b->n_tok, b->y + b->m->n_rows * b->n_tok);
    }
}

static void test_matmul_busy_pool(void)
{
    const int64_t n = 256, nr = 200;
    const size_t rb = g4_type_row_bytes(G4_TYPE_Q8_0, n);
    void *w = xaligned(rb * nr);
    float *row = malloc(sizeof(float) * n), *x = malloc(sizeof(float) * n * 8);
    for (int64_t r = 0; r < nr; r++) {
        for (int64_t i = 0; i < n; i++)
            row[i] = grand();
        g4k_quantize(G4_TYPE_Q8_0, row, (uint8_t *)w + r * rb, n);
    }
    for (int64_t i = 0; i < n * 8; i++)
        x[i] = grand();
    const g4k_matrix m = {w, G4_TYPE_Q8_0, n, nr, rb, NULL};
    g4k_pool *pool = g4k_pool_new(3);
    const int64_t toks[3] = {1, 3, 8};
    for (int k = 0; k < 3; k++) {
        const int64_t nt = toks[k], ny = nr * nt;
        float *want = malloc(sizeof(float) * 2 * ny), *got = malloc(sizeof(float) * 2 * ny);
        g4k_matmul(pool, &m, x, nt, want);
        g4k_matmul_f32act(pool, &m, x, nt, want + ny);
        for (int64_t i = 0; i < 2 * ny; i++)
            got[i] = NAN;
        busy_mm b = {pool, &m, x, nt, got};
        g4k_pool_run(pool, busy_mm_task, &b);
        CHECK(!memcmp(want, got, sizeof(float) * 2 * ny),
              "matmul on a busy pool (%lld tokens) equals the free-pool result", (long long)nt);
        free(want);
        free(got);
    }
    g4k_pool_free(pool);
    free(w);
    free(row);
    free(x);
}

/* g4k_clamp_changes (and its pooled form) against the clamp itself: 0 exactly when every value
 * is strictly inside the bounds, so a 0 always means the clamped copy would equal the input bit
 * for bit; 1 for one value outside, at a bound or NaN, at any position of lengths 0..70 (the
 * 16-value blocks and the tail), and on a pool for a long buffer with one value out near its end. */
static void test_clamp_changes(void)
{
    const float lo = -0.5f, hi = 0.25f;
    const float special[] = {NAN, -0.5f, 0.25f, -0.6f, 0.3f, INFINITY, -INFINITY, -0.0f};
    const int special_in[] = {0, 0, 0, 0, 0, 0, 0, 1}; /* -0.0 is strictly inside */
    float x[70], y[70];
    int bad = 0, cases = 0;
    for (int n = 0; n <= 70; n++) {
        for (int i = 0; i < n; i++)
            x[i] = (float)(0.2 * tanh(grand())); /* strictly inside */
        bad += g4k_clamp_changes(x, n, lo, hi) != 0;
        for (int pos = 0; pos < n; pos++)
            for (int sp = 0; sp < 8; sp++) {
                const float keep = x[pos];
                x[pos] = special[sp];
                const int ch = g4k_clamp_changes(x, n, lo, hi);
                g4k_clamp_copy(x, y, n, lo, hi);
                bad += ch != !special_in[sp];
                bad += !ch && memcmp(x, y, sizeof(float) * (size_t)n) != 0;
                x[pos] = keep;
                cases++;
            }
    }
    enum { BIG = 100003 };
    float *big = malloc(sizeof(float) * BIG);
    g4k_pool *pool = g4k_pool_new(2);
    for (int i = 0; i < BIG; i++)
        big[i] = (float)(0.2 * sin(i * 0.37));
    bad += g4k_clamp_changes_pool(pool, big, BIG, lo, hi) != 0 || g4k_clamp_changes_pool(NULL, big, BIG, lo, hi) != 0;
    big[BIG - 5] = 0.9f;
    bad += g4k_clamp_changes_pool(pool, big, BIG, lo, hi) != 1 || g4k_clamp_changes(big, BIG, lo, hi) != 1;
    g4k_pool_free(pool);
    free(big);
    CHECK(bad == 0, "g4k_clamp_changes is 0 exactly when every value is strictly inside the bounds (%d cases, %d wrong)",
          cases, bad);
}

/* Every level's clamp (and g4k_clamp_copy, the active one) against the scalar definition, bit
 * for bit: (v > lo ? v : lo) then (v < hi ? v : hi), so NaN -> lo, and the zeros' signs as the
 * comparisons leave them; every length 0..40 at four alignments, out of place and in place
 * (src == dst, as the encoders' whole-buffer clamps run). */
static void test_clamp_exact(void)
{
    const float lo = -0.5f, hi = 0.0f; /* hi = +0: -0.0 < +0 is false, so -0.0 -> +0 */
    float src[48], a[48], b[48];
    int bad = 0, cases = 0;
    for (int isa = -1; isa < 4; isa++) /* -1: g4k_clamp_copy */
      for (int off = 0; off < 4; off++)
        for (int n = 0; n <= 40; n++) {
            const g4k_kernels *k = isa < 0 ? NULL : g4k_kernels_for((g4k_isa)isa);
            if (isa >= 0 && !k)
                break;
            void (*clamp)(const float *, float *, int64_t, float, float) = k ? k->clamp : g4k_clamp_copy;
            for (int i = 0; i < 48; i++) {
                const float special[] = {NAN, -0.0f, 0.0f, INFINITY, -INFINITY, lo, hi, -NAN};
                src[i] = (i * 7 + n) % 5 == 0 ? special[(i + n) % 8] : grand();
            }
            float *in = src + off;
            for (int i = 0; i < 48; i++)
                b[i] = a[i] = src[i];
            clamp(in, a + off, n, lo, hi); /* out of place */
            clamp(b + off, b + off, n, lo, hi); /* in place */
            for (int i = 0; i < 48; i++) {
                float want = src[i];
                if (i >= off && i < off + n) {
                    const float v = src[i] > lo ? src[i] : lo;
                    want = v < hi ? v : hi;
                }
                uint32_t wa, ga, gb;
                memcpy(&wa, &want, 4);
                memcpy(&ga, &a[i], 4);
                memcpy(&gb, &b[i], 4);
                bad += wa != ga || wa != gb;
            }
            cases++;
        }
    CHECK(bad == 0, "g4k_clamp_copy and every level's clamp equal the scalar definition bit for bit (%d cases, %d values differ)",
          cases, bad);
}

/* RMSNorm's row passes on every level against the scalar definitions, bit for bit: the sum of
 * squares in double over eight chains (element i in chain i % 8, the tail in chain 0, summed
 * ((0+1)+(2+3))+((4+5)+(6+7))), the scaling (x * s) * w, y + (x * s) * w, and x * s without
 * weights, in place too; lengths 0..70 and 3840 (a 12B row), values across 60 binades. */
static double sum_sq_def(const float *x, int64_t n)
{
    double a[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int c = 0; c < 8; c++)
            a[c] += (double)x[i + c] * x[i + c];
    for (; i < n; i++)
        a[0] += (double)x[i] * x[i];
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

static void test_norm_rows(void)
{
    enum { NMAX = 3840 };
    float *x = malloc(sizeof(float) * NMAX), *w = malloc(sizeof(float) * NMAX), *y = malloc(sizeof(float) * NMAX);
    float *want = malloc(sizeof(float) * NMAX), *y0 = malloc(sizeof(float) * NMAX);
    int bad = 0, cases = 0;
    for (int isa = 0; isa < 4; isa++) {
        const g4k_kernels *k = g4k_kernels_for((g4k_isa)isa);
        if (!k)
            continue;
        for (int n = 0; n <= 71; n++) {
            const int64_t len = n == 71 ? NMAX : n;
            for (int64_t i = 0; i < len; i++) {
                x[i] = (float)(grand() * ldexp(1.0, (int)(i * 7 % 61) - 30));
                w[i] = (float)(1.0 + 0.3 * grand());
                y0[i] = (float)grand();
            }
            const double ss = k->sum_sq(x, len), ref = sum_sq_def(x, len);
            bad += memcmp(&ss, &ref, sizeof ss) != 0;
            const float s = (float)(1.0 / sqrt(ref / (double)(len ? len : 1) + 1e-6));
            for (int mode = 0; mode < 4; mode++) { /* weights, none, add, in place */
                for (int64_t i = 0; i < len; i++) { /* one rounding per statement (no FMA contraction) */
                    const float xs = x[i] * s;
                    const float xsw = xs * w[i];
                    want[i] = mode == 1 ? xs : mode == 2 ? y0[i] + xsw : xsw;
                }
                memcpy(y, mode == 3 ? x : y0, sizeof(float) * (size_t)len);
                k->scale_row(mode == 3 ? y : x, s, mode == 1 ? NULL : w, y, len, mode == 2);
                bad += memcmp(y, want, sizeof(float) * (size_t)len) != 0;
                cases++;
            }
        }
    }
    CHECK(bad == 0, "sum_sq / scale_row equal their scalar definitions bit for bit on every level (%d cases, %d differ)",
          cases, bad);
    free(x);
    free(w);
    free(y);
    free(want);
    free(y0);
}

/* The fused gate of the E-series encoders' MLP (g4k_geglu_tanh_clamp) against what it replaces,
 * bit for bit on every level: the level's clamp of g and of u, its geglu_tanh, its clamp of the
 * product; lengths 0..70 (the vectors and the padded tail), NaN, infinities, values at and past
 * each bound, in both operands; u left as it was. */
static void test_geglu_clamp(void)
{
    enum { N = 70 };
    const float b[6] = {-2.5f, 3.0f, -1.75f, 2.0f, -0.3f, 1.5f};
    const float special[] = {NAN, INFINITY, -INFINITY, -2.5f, 3.0f, -1.75f, 2.0f, -9.0f, 9.0f, -0.0f};
    float g[N], u[N], u0[N], want[N], wu[N];
    int bad = 0, cases = 0, clamped = 0;
    for (int isa = 0; isa < 4; isa++) {
        const g4k_kernels *k = g4k_kernels_for((g4k_isa)isa);
        if (!k)
            continue;
        for (int n = 0; n <= N; n++) {
            for (int i = 0; i < n; i++) {
                g[i] = (i * 3 + n) % 7 == 0 ? special[(i + n) % 10] : (float)(3.0 * grand());
                u0[i] = (i * 5 + n) % 6 == 0 ? special[(i + 2 * n) % 10] : (float)(2.0 * grand());
            }
            memcpy(want, g, sizeof(float) * (size_t)n);
            memcpy(wu, u0, sizeof(float) * (size_t)n);
            memcpy(u, u0, sizeof(float) * (size_t)n);
            k->clamp(want, want, n, b[0], b[1]);
            k->clamp(wu, wu, n, b[2], b[3]);
            k->geglu_tanh(want, wu, n);
            for (int i = 0; i < n; i++)
                clamped += want[i] > b[5] || want[i] < b[4];
            k->clamp(want, want, n, b[4], b[5]);
            k->geglu_tanh_clamp(g, u, n, b);
            bad += memcmp(g, want, sizeof(float) * (size_t)n) != 0 || memcmp(u, u0, sizeof(float) * (size_t)n) != 0;
            cases++;
        }
    }
    CHECK(bad == 0 && clamped > 0,
          "geglu_tanh_clamp equals clamp, geglu_tanh, clamp bit for bit on every level (%d cases, %d differ, %d products clamped)",
          cases, bad, clamped);
}

/* Every level's softmax exponentials against libm: <= 4 ulp-ish (5e-7 relative) per element,
 * exact zeros below the underflow threshold and for -inf (masked scores), odd tails. */
static void test_exp_sub_sum(void)
{
    float x[67], ref[67];
    for (int isa = 0; isa < 4; isa++) {
        const g4k_kernels *k = g4k_kernels_for((g4k_isa)isa);
        if (!k)
            continue;
        int bad = 0;
        for (int n = 1; n <= 67 && !bad; n += 3) {
            for (int i = 0; i < n; i++) {
                x[i] = i % 11 == 5 ? -INFINITY : i % 13 == 7 ? -100.f : (float)(grand() * 5.0); /* |x| <= 60 */
                ref[i] = i % 11 == 5 ? 0.f : expf(x[i] - 3.5f);
            }
            double rs = 0;
            for (int i = 0; i < n; i++)
                rs += ref[i];
            const float s = k->exp_sub_sum(x, n, 3.5f);
            for (int i = 0; i < n; i++)
                if (!(fabsf(x[i] - ref[i]) <= 5e-7f * ref[i] + 1e-37f) || (ref[i] == 0.f && x[i] != 0.f))
                    bad++;
            if (!(fabs(s - rs) <= 1e-5 * rs + 1e-30)) /* f32 sums: n·eps */
                bad++;
        }
        CHECK(bad == 0, "exp_sub_sum %s matches expf", g4k_isa_name((g4k_isa)isa));
    }
}

/* The x86 levels' exponentials are the same per element (exp_x86.h: the AVX-512 level scales by
 * 2^n with vscalefps, AVX2 with two exponent factors): a sweep of exp(y) over [-90, 0] across
 * the smallest normal results and the cut to 0 below ln(FLT_MIN) = -87.34, and x sigmoid(s) over
 * [-100, 100] (exp(-s) up to the clamp at 88.7), compared bit for bit. */
static void test_exp_levels_agree(void)
{
    const g4k_kernels *a = g4k_kernels_for(G4K_ISA_AVX2), *b = g4k_kernels_for(G4K_ISA_AVX512);
    if (!a || !b) {
        CHECK(1, "exp levels agree (skipped: this CPU lacks AVX2 or AVX-512)");
        return;
    }
    enum { N = 4099 };
    static float x0[N], xa[N], xb[N], sa[N], sb[N];
    int bad = 0;
    for (int i = 0; i < N; i++)
        x0[i] = -90.0f + 90.0f * (float)i / (N - 1) + (i % 7) * 1e-4f;
    memcpy(xa, x0, sizeof x0);
    memcpy(xb, x0, sizeof x0);
    a->exp_sub_sum(xa, N, 0.f);
    b->exp_sub_sum(xb, N, 0.f);
    for (int i = 0; i < N; i++) {
        bad += memcmp(&xa[i], &xb[i], 4) != 0;
        x0[i] = -100.0f + 200.0f * (float)i / (N - 1);
    }
    a->mul_sigmoid(sa, x0, x0, N);
    b->mul_sigmoid(sb, x0, x0, N);
    for (int i = 0; i < N; i++)
        bad += memcmp(&sa[i], &sb[i], 4) != 0;
    int cut = 0, tiny = 0; /* the sweep covers both sides of the cut */
    for (int i = 0; i < N; i++) {
        cut += xb[i] == 0.f;
        tiny += xb[i] > 0.f && xb[i] < 4 * 1.17549435e-38f;
    }
    CHECK(bad == 0 && cut > 0 && tiny > 0,
          "exp_sub_sum / mul_sigmoid: AVX-512 and AVX2 equal per element (%d differ; %d cut to 0, %d below 4 FLT_MIN)", bad,
          cut, tiny);
}

/* Row softmax and the tanh-GELU gate against double references on every level. */
static void test_softmax_geglu(void)
{
    enum { N = 301 };
    static float x[N], g[N], u[N];
    for (int isa = 0; isa < 4; isa++) {
        const g4k_kernels *k = g4k_kernels_for((g4k_isa)isa);
        if (!k)
            continue;
        int bad = 0;
        for (int n = 1; n <= N; n += 50) {
            double m = -1e300, sum = 0;
            for (int i = 0; i < n; i++) {
                x[i] = i % 17 == 3 ? -INFINITY : (float)(grand() * 4.0);
                m = x[i] > m ? x[i] : m;
            }
            for (int i = 0; i < n; i++)
                sum += exp((double)x[i] - m);
            double ref[N], tol[N];
            for (int i = 0; i < n; i++) { /* + the f32 rounding of x - m, amplified by exp */
                ref[i] = exp((double)x[i] - m) / sum;
                tol[i] = ref[i] > 0 ? (2e-6 + 1.2e-7 * fabs((double)x[i] - m)) * ref[i] : 0.0;
            }
            k->softmax(x, n);
            for (int i = 0; i < n; i++)
                if (!(fabs(x[i] - ref[i]) <= tol[i])) {
                    if (bad++ < 3)
                        fprintf(stderr, "  softmax %s n=%d i=%d got %g ref %g\n", g4k_isa_name((g4k_isa)isa), n, i, x[i], ref[i]);
                }
            for (int i = 0; i < n; i++) {
                g[i] = (float)(grand() * 3.0);
                u[i] = (float)grand();
            }
            g[0] = 0.f;
            if (n > 2) {
                g[1] = -30.f; /* deep negative tail: ~0 */
                g[2] = 30.f;  /* identity */
            }
            double gref[N], gtol[N];
            for (int i = 0; i < n; i++) { /* the scalar tanhf form cancels for z < 0: ~eps·|z·u| */
                const double z = g[i];
                gref[i] = 0.5 * z * (1.0 + tanh(0.7978845608028654 * (z + 0.044715 * z * z * z))) * u[i];
                gtol[i] = 1e-6 * fabs(gref[i]) + 4e-7 * fabs(z * u[i]);
            }
            k->geglu_tanh(g, u, n);
            for (int i = 0; i < n; i++)
                if (!(fabs(g[i] - gref[i]) <= gtol[i])) {
                    if (bad++ < 3)
                        fprintf(stderr, "  geglu %s n=%d i=%d got %g ref %g\n", g4k_isa_name((g4k_isa)isa), n, i, g[i], gref[i]);
                }
            /* x * sigmoid(s), out of place (the GLU) and in place (SiLU), the tails included */
            for (int i = 0; i < n; i++) {
                g[i] = (float)(grand() * 6.0);
                u[i] = (float)(grand() * 2.0);
            }
            if (n > 2) {
                g[1] = -100.f; /* exp(100) overflows expf: sigmoid 0 */
                g[2] = 100.f;  /* sigmoid 1 */
            }
            double sref[N], siref[N];
            for (int i = 0; i < n; i++) {
                sref[i] = u[i] / (1.0 + exp(-(double)g[i]));
                siref[i] = g[i] / (1.0 + exp(-(double)g[i]));
            }
            float sg[N];
            k->mul_sigmoid(sg, u, g, n);
            k->mul_sigmoid(g, g, g, n);
            for (int i = 0; i < n; i++) {
                const int ok = fabs(sg[i] - sref[i]) <= 1e-6 * fabs(sref[i]) + 1e-30 &&
                               fabs(g[i] - siref[i]) <= 1e-6 * fabs(siref[i]) + 1e-30;
                if (!ok && bad++ < 3)
                    fprintf(stderr, "  mul_sigmoid %s n=%d i=%d got %g / %g ref %g / %g\n", g4k_isa_name((g4k_isa)isa), n, i,
                            sg[i], g[i], sref[i], siref[i]);
            }
        }
        CHECK(bad == 0, "softmax / geglu_tanh / mul_sigmoid %s match double references", g4k_isa_name((g4k_isa)isa));
    }
}

/* KV-cache row kernels on every level against the dequantized row (f32 sums: 1e-5 relative). */
static void test_kv_rows(void)
{
    const uint32_t types[] = {G4_TYPE_F32, G4_TYPE_F16, G4_TYPE_BF16, G4_TYPE_Q8_0};
    enum { N = 256 };
    static float src[N], deq[N], q[N], o[N], oref[N];
    static uint8_t row[N * 4];
    for (int isa = 0; isa < 4; isa++) {
        const g4k_kernels *k = g4k_kernels_for((g4k_isa)isa);
        if (!k)
            continue;
        int bad = 0;
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
            for (int n = 32; n <= N; n += 96) { /* 32, 128, 224 */
                const uint32_t type = types[ti];
                for (int i = 0; i < n; i++) {
                    src[i] = grand();
                    q[i] = grand();
                    o[i] = oref[i] = grand();
                }
                CHECK(g4k_quantize(type, src, row, n) == g4_type_row_bytes(type, n), "kv row quantize");
                g4k_dequantize(type, row, deq, n);
                double ref = 0, mag = 0;
                for (int i = 0; i < n; i++) {
                    ref += (double)deq[i] * q[i];
                    mag += fabs((double)deq[i] * q[i]);
                    oref[i] += 0.37f * deq[i];
                }
                if (!(fabs(k->row_dot[type](row, q, n) - ref) <= 1e-5 * mag + 1e-6))
                    bad++;
                k->row_axpy[type](row, 0.37f, o, n);
                for (int i = 0; i < n; i++)
                    if (!(fabsf(o[i] - oref[i]) <= 1e-6f * (fabsf(oref[i]) + 1.f)))
                        bad++;
            }
        CHECK(bad == 0, "kv row dot/axpy %s", g4k_isa_name((g4k_isa)isa));
    }
}

/* Greedy choice over a row (g4k_argmax / g4k_first_ge): every level gives exactly the scalar
 * loop's index -- first maximum, NaN never wins (unless it is x[0]), -inf rows give 0 -- on
 * random rows, rows full of ties, NaN/inf sprinkled in, every length around the vector width,
 * and a 262144-wide row (Gemma 4's vocabulary). */
static int64_t argmax_ref(const float *x, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

static void test_argmax(void)
{
    const int64_t big = 262144;
    float *x = malloc(sizeof(float) * big);
    int bad = 0, cases = 0;
    for (int isa = 0; isa < 4; isa++) {
        const g4k_kernels *k = g4k_kernels_for((g4k_isa)isa);
        if (!k)
            continue;
        for (int kind = 0; kind < 7; kind++)
            for (int64_t n = 1; n <= 70; n += (n < 40 ? 1 : 7)) {
                for (int64_t i = 0; i < n; i++) {
                    const float g = grand();
                    x[i] = kind == 1 ? (float)(int)(g * 2.f) /* many ties */
                         : kind == 2 ? -INFINITY
                         : kind == 3 ? (i % 5 == 2 ? NAN : g)
                         : kind == 4 ? (i % 3 == 0 ? NAN : -INFINITY)
                         : kind == 5 ? (i == n / 2 ? INFINITY : g)
                         : g;
                }
                if (kind == 6)
                    x[0] = NAN; /* the scalar rule then keeps 0 */
                const int64_t r = k->argmax(x, n);
                bad += r != argmax_ref(x, n);
                const float t = x[n / 2];
                int64_t fr = 0;
                while (fr < n && !(x[fr] >= t))
                    fr++;
                bad += k->first_ge(x, n, t) != fr;
                cases++;
            }
        for (int64_t i = 0; i < big; i++)
            x[i] = grand();
        x[big - 3] = 1e30f; /* the winner late in the row, then a tie after it */
        x[big - 1] = 1e30f;
        bad += k->argmax(x, big) != big - 3;
        x[77] = 1e30f; /* an earlier tie wins */
        bad += k->argmax(x, big) != 77;
        bad += k->first_ge(x, big, 1e29f) != 77;
        bad += k->first_ge(x, big, 2e30f) != big;
        cases += 4;
    }
    CHECK(bad == 0, "argmax / first_ge agree with the scalar rule on every level (%d cases)", cases);
    free(x);
}

/* --bench-attn [--tok=queries] [--threads=n]: g4k_scores_bf16 and g4k_pv_bf16 (outputs in lanes
 * where the level has them) against the plain bf16 rows (keys, values transposed) through
 * g4k_matmul_lowp that the E2B tower used before, on each level; G4_BENCH_ROWS keys (2520: the
 * E2B tower's patches), G4_BENCH_COLS head values (64). Best of 7, interleaved, GFLOP/s. */
static int bench_attn(int argc, char **argv)
{
    const int64_t nk = getenv("G4_BENCH_ROWS") ? atoll(getenv("G4_BENCH_ROWS")) : 2520,
                  hd = getenv("G4_BENCH_COLS") ? atoll(getenv("G4_BENCH_COLS")) : 64;
    int nq = 256, n_thr = 1;
    for (int i = 2; i < argc; i++) {
        if (!strncmp(argv[i], "--tok=", 6))
            nq = atoi(argv[i] + 6);
        if (!strncmp(argv[i], "--threads=", 10))
            n_thr = atoi(argv[i] + 10);
    }
    if (n_thr > 1)
        setenv("G4_BENCH_WALL", "1", 1);
    g4k_pool *pool = n_thr > 1 ? g4k_pool_new(n_thr) : NULL;
    float *kv = malloc(sizeof(float) * (size_t)(nk * hd)), *q = malloc(sizeof(float) * (size_t)(nq * hd));
    float *s = malloc(sizeof(float) * (size_t)(nq * nk)), *o = malloc(sizeof(float) * (size_t)(nq * hd));
    const size_t kn = g4k_keys_bf16_elems(nk, hd), vn = g4k_values_bf16_elems(nk, hd);
    uint16_t *kb = malloc(sizeof(uint16_t) * kn), *vb = malloc(sizeof(uint16_t) * vn);
    uint16_t *rows = malloc(sizeof(uint16_t) * (size_t)(nk * hd)), *vt = malloc(sizeof(uint16_t) * (size_t)(nk * hd));
    for (int64_t i = 0; i < nk * hd; i++) { /* one matrix serves as the keys and as the values */
        kv[i] = grand();
        rows[i] = g4k_f32_to_bf16(kv[i]);
        vt[(i % hd) * nk + i / hd] = rows[i];
    }
    for (int64_t i = 0; i < nq * hd; i++)
        q[i] = grand();
    for (int64_t i = 0; i < nq * nk; i++)
        s[i] = grand();
    const g4k_matrix K = {rows, G4_TYPE_BF16, hd, nk, sizeof(uint16_t) * (size_t)hd, NULL};
    const g4k_matrix VT = {vt, G4_TYPE_BF16, nk, hd, sizeof(uint16_t) * (size_t)nk, NULL};
    const double flop = 2.0 * (double)nk * (double)hd * nq;
    printf("attention: %lld keys x %lld values, %d queries, %d thread(s), GFLOP/s\n", (long long)nk, (long long)hd,
           nq, n_thr);
    for (int isa = 1; isa < 4; isa++) {
        const g4k_kernels *k = g4k_kernels_for((g4k_isa)isa);
        if (!k)
            continue;
        g4k_keys_bf16_with(k, NULL, kv, hd, hd, nk, kb);
        g4k_values_bf16_with(k, NULL, kv, hd, hd, nk, vb);
        double bt[4] = {1e30, 1e30, 1e30, 1e30};
        for (int rep = 0; rep < 7; rep++)
            for (int m = 0; m < 4; m++) { /* interleaved: the host's load hits all alike */
                double t0 = now();
                if (m == 0)
                    g4k_scores_bf16_with(k, pool, kb, nk, hd, q, nq, s);
                else if (m == 1)
                    g4k_matmul_lowp_with(k, pool, &K, q, nq, s);
                else if (m == 2)
                    g4k_pv_bf16_with(k, pool, vb, nk, hd, s, nq, o);
                else
                    g4k_matmul_lowp_with(k, pool, &VT, s, nq, o);
                const double dt = now() - t0;
                bt[m] = dt < bt[m] ? dt : bt[m];
            }
        printf("  %-6s (in lanes: %s)  q k^T %6.1f, as rows %6.1f   p v %6.1f, as rows %6.1f\n",
               g4k_isa_name((g4k_isa)isa), k->lanes_bf16 ? "yes" : "no", flop / bt[0] / 1e9, flop / bt[1] / 1e9,
               flop / bt[2] / 1e9, flop / bt[3] / 1e9);
    }
    free(kv);
    free(q);
    free(s);
    free(o);
    free(kb);
    free(vb);
    free(rows);
    free(vt);
    g4k_pool_free(pool);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--bench"))
        return bench(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "--bench-attn"))
        return bench_attn(argc, argv);
    test_init();
    test_conversions();
    test_handbuilt();
    test_roundtrip();
    test_f32act_and_get_row();
    test_qact();
    test_quantize_rows();
    test_matmul();
    test_flt_gemm_exact();
    test_matmul_clamped();
    test_matmul_busy_pool();
    test_small_batch_invariance();
    test_q8_0_narrow_rows();
    test_matmul_rows();
    test_clamp_exact();
    test_clamp_changes();
    test_exp_sub_sum();
    test_exp_levels_agree();
    test_softmax_geglu();
    test_geglu_clamp();
    test_norm_rows();
    test_kv_rows();
    test_argmax();
    test_attn_bf16();
    test_attn_f32();
    return T_DONE("test_kernels");
}
