/* Packed ("rows in lanes") LM-head kernels (kernels/pack16.c): on every ISA level that has them,
 *  - each token's values are bit for bit the same whether it runs alone or in a batch of 2..8
 *    (what keeps drafted greedy output equal to plain greedy output);
 *  - the same whether the groups are split over a pool's threads or not, and whatever the row
 *    count (not a multiple of 16: the last group is padded);
 *  - the vector kernels equal the scalar reference kernels bit for bit;
 *  - against the dequantized weights and the quantized activations, within the f32 rounding of
 *    block scales and sums (2e-5 of sum |w x^|), and against f32 activations within that plus
 *    the activation quantization's bound sum |w| |x - x^| (as test_kernels checks g4k_matmul). */
#include <math.h>
#include <stdint.h>
#include <time.h>

#include "quant.h"
#include "t.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static float frand(void) { return (float)((rng() >> 11) * (1.0 / 9007199254740992.0)) * 2 - 1; }
static float grand(void)
{
    float s = frand() + frand() + frand();
    if ((rng() & 63) == 0)
        s *= 4;
    return s;
}

typedef struct {
    uint32_t type;
    int64_t n_cols, n_rows;
    uint8_t *w;
    float *wf; /* dequantized */
    g4k_matrix m;
} case_t;

static void make_case(case_t *c, uint32_t type, int64_t n_cols, int64_t n_rows)
{
    const g4q_traits *tr = g4q_traits_get(type);
    const size_t rb = g4_type_row_bytes(type, n_cols);
    c->type = type, c->n_cols = n_cols, c->n_rows = n_rows;
    c->w = malloc(rb * (size_t)n_rows);
    c->wf = malloc(sizeof(float) * (size_t)(n_cols * n_rows));
    for (int64_t r = 0; r < n_rows; r++) {
        float *row = c->wf + r * n_cols;
        for (int64_t i = 0; i < n_cols; i++)
            row[i] = grand() * (r % 7 == 3 ? 0.01f : 1.0f); /* some rows of small scale */
        tr->quant(row, c->w + r * rb, n_cols);
        tr->dequant(c->w + r * rb, row, n_cols);
    }
    c->m = (g4k_matrix){c->w, type, n_cols, n_rows, rb, NULL};
}

static int check_ref(const case_t *c, const float *x, int64_t nt, const float *y, const char *what)
{
    const g4q_traits *tr = g4q_traits_get(c->type);
    const int64_t n = c->n_cols;
    const size_t arb = g4k_act_row_bytes(c->type, n);
    void *aq = malloc(arb * (size_t)nt);
    float *xq = malloc(sizeof(float) * (size_t)(n * nt));
    g4k_quantize_act(c->type, x, n, nt, aq);
    for (int64_t t = 0; t < nt; t++)
        g4q_traits_get(tr->act_type)->dequant((uint8_t *)aq + t * arb, xq + t * n, n);
    int bad = 0;
    for (int64_t t = 0; t < nt; t++)
        for (int64_t r = 0; r < c->n_rows; r++) {
            double ref = 0, refq = 0, mag = 0, qerr = 0;
            for (int64_t i = 0; i < n; i++) {
                const double wv = c->wf[r * n + i], xv = x[t * n + i], xqv = xq[t * n + i];
                ref += wv * xv, refq += wv * xqv, mag += fabs(wv * xqv), qerr += fabs(wv) * fabs(xv - xqv);
            }
            const double tol = 2e-5 * mag + 1e-6, got = y[t * c->n_rows + r];
            if (!(fabs(got - refq) <= tol) || !(fabs(got - ref) <= qerr + tol)) {
                if (bad++ < 3)
                    fprintf(stderr, "  %s r=%lld t=%lld: got %g refq %g ref %g tol %g\n", what, (long long)r,
                            (long long)t, got, refq, ref, tol);
            }
        }
    free(aq), free(xq);
    return bad;
}

static void run_case(const g4k_kernels *k, const g4k_kernels *ks, g4k_pool *pool, uint32_t type, int64_t n_cols,
                     int64_t n_rows)
{
    const int64_t NT = G4K_MVN_MAX_TOK;
    char what[128];
    snprintf(what, sizeof what, "%s %s %lldx%lld", g4k_isa_name(k->isa), g4_type_get(type)->name,
             (long long)n_rows, (long long)n_cols);
    case_t c;
    make_case(&c, type, n_cols, n_rows);
    g4k_packed *p = g4k_pack_with(k, pool, &c.m);
    CHECK(p != NULL, "%s: packed", what);
    if (!p)
        return;
    const size_t odd_pad = n_cols / 32 % 2 == 0 ? 0 : type == G4_TYPE_Q8_0 ? 544 : type == G4_TYPE_Q4_0 ? 288 : 0;
    CHECK(g4k_packed_bytes(p) == (size_t)((n_rows + 15) / 16 * 16) * g4_type_row_bytes(type, n_cols) + (size_t)(n_rows + 15) / 16 * odd_pad,
          "%s: packed bytes %zu = the padded rows' GGUF bytes", what, g4k_packed_bytes(p));
    float *x = malloc(sizeof(float) * (size_t)(n_cols * NT));
    for (int64_t i = 0; i < n_cols * NT; i++)
        x[i] = grand();
    /* each token alone, no pool: the reference for every batch */
    float *y1 = malloc(sizeof(float) * (size_t)(n_rows * NT)), *yb = malloc(sizeof(float) * (size_t)(n_rows * NT));
    for (int64_t t = 0; t < NT; t++)
        g4k_matmul_packed_with(k, NULL, p, x + t * n_cols, 1, y1 + t * n_rows);
    CHECK(check_ref(&c, x, NT, y1, what) == 0, "%s: single-token packed matmul within tolerance", what);
    for (int64_t nt = 1; nt <= NT; nt++)
        for (int use_pool = 0; use_pool < 2; use_pool++) {
            for (int64_t i = 0; i < n_rows * nt; i++)
                yb[i] = NAN;
            g4k_matmul_packed_with(k, use_pool ? pool : NULL, p, x, nt, yb);
            int diff = 0;
            for (int64_t t = 0; t < nt; t++)
                diff += memcmp(yb + t * n_rows, y1 + t * n_rows, sizeof(float) * (size_t)n_rows) != 0;
            CHECK(diff == 0, "%s: %lld tokens (pool %d): %d token(s) differ from single-token", what, (long long)nt,
                  use_pool, diff);
        }
    /* the vector kernel against the scalar reference kernel, bit for bit */
    if (ks && ks != k) {
        g4k_packed *ps = g4k_pack_with(ks, NULL, &c.m);
        g4k_matmul_packed_with(ks, NULL, ps, x, NT, yb);
        CHECK(memcmp(yb, y1, sizeof(float) * (size_t)(n_rows * NT)) == 0, "%s: equals the scalar reference", what);
        g4k_packed_free(ps);
    }
    /* more than G4K_MVN_MAX_TOK tokens: the original matrix's path, still right */
    const int64_t big = NT + 3;
    float *xb = malloc(sizeof(float) * (size_t)(n_cols * big)), *yg = malloc(sizeof(float) * (size_t)(n_rows * big));
    for (int64_t i = 0; i < n_cols * big; i++)
        xb[i] = grand();
    g4k_matmul_packed_with(k, pool, p, xb, big, yg);
    CHECK(check_ref(&c, xb, big, yg, what) == 0, "%s: %lld tokens within tolerance", what, (long long)big);
    {
        /* layer matrices: the GGUF rows come back byte for byte, and a matrix carrying the
         * packed copy runs decode / verify batches on it and prefill batches on the GEMM over
         * the rebuilt rows, bit for bit the original's GEMM */
        const size_t rb = c.m.row_bytes;
        uint8_t *back = malloc(rb * (size_t)n_rows);
        CHECK(g4k_packed_rows(p, 0, n_rows, back) == 0 && memcmp(back, c.w, rb * (size_t)n_rows) == 0,
              "%s: g4k_packed_rows gives the GGUF rows back", what);
        CHECK(g4k_packed_rows(p, n_rows - 1, 2, back) == -1, "%s: rows past the end refused", what);
        g4k_matrix wp = c.m;
        wp.packed = p;
        float *yo = malloc(sizeof(float) * (size_t)(n_rows * big));
        g4k_matmul_with(k, pool, &c.m, xb, big, yo);
        g4k_matmul_with(k, pool, &wp, xb, big, yg);
        CHECK(memcmp(yo, yg, sizeof(float) * (size_t)(n_rows * big)) == 0, "%s: %lld tokens on the packed matrix = the original's GEMM",
              what, (long long)big);
        g4k_matmul_with(k, pool, &wp, x, NT, yg);
        CHECK(memcmp(yg, y1, sizeof(float) * (size_t)(n_rows * NT)) == 0, "%s: %lld tokens on the packed matrix = packed kernel",
              what, (long long)NT);
        float *row = malloc(sizeof(float) * (size_t)n_cols), *row0 = malloc(sizeof(float) * (size_t)n_cols);
        CHECK(g4k_get_row(&wp, n_rows - 1, row) == 0 && g4k_get_row(&c.m, n_rows - 1, row0) == 0 &&
                  memcmp(row, row0, sizeof(float) * (size_t)n_cols) == 0,
              "%s: a row of the packed matrix dequantizes as the original's", what);
        free(row), free(row0), free(yo), free(back);
    }
    free(xb), free(yg);
    g4k_packed_free(p);
    free(x), free(y1), free(yb), free(c.w), free(c.wf);
}

static void test_packed(void)
{
    g4k_pool *pool = g4k_pool_new(3);
    const g4k_kernels *ks = g4k_kernels_for(G4K_ISA_SCALAR);
    int levels = 0;
    for (int isa = 0; isa < 4; isa++) {
        const g4k_kernels *k = g4k_kernels_for((g4k_isa)isa);
        if (!k || !k->rows16[G4_TYPE_Q8_0])
            continue;
        levels++;
        /* 37 / 300: not multiples of 16 (padded last group); 64: exact; 128 / 3840: the default
         * model's and the 12B's widths; 96: an odd block count */
        run_case(k, ks, pool, G4_TYPE_Q8_0, 128, 37);
        run_case(k, ks, pool, G4_TYPE_Q8_0, 96, 64);
        run_case(k, ks, pool, G4_TYPE_Q8_0, 3840, 300);
        run_case(k, ks, pool, G4_TYPE_Q6_K, 256, 37);
        run_case(k, ks, pool, G4_TYPE_Q6_K, 768, 64);
        run_case(k, ks, pool, G4_TYPE_Q6_K, 3840, 300);
        run_case(k, ks, pool, G4_TYPE_Q4_0, 128, 37);
        run_case(k, ks, pool, G4_TYPE_Q4_0, 96, 64);
        run_case(k, ks, pool, G4_TYPE_Q4_0, 3840, 300);
        run_case(k, ks, pool, G4_TYPE_Q4_K, 256, 37);
        run_case(k, ks, pool, G4_TYPE_Q4_K, 768, 64);
        run_case(k, ks, pool, G4_TYPE_Q4_K, 3840, 300);
    }
    CHECK(levels >= 1, "the scalar level at least has the packed kernels");
    /* a type without a packed form is declined (the caller keeps the GGUF layout) */
    case_t c;
    make_case(&c, G4_TYPE_Q5_K, 256, 16);
    CHECK(g4k_pack_with(ks, NULL, &c.m) == NULL, "Q5_K is not packed");
    CHECK(g4k_pack_layer(NULL, &c.m) == NULL, "nor as a layer matrix");
    free(c.w), free(c.wf);
    g4k_pool_free(pool);
}

/* ---- --bench: the head alone, GGUF layout (g4k_matmul: mv / mvn) against packed ------------ */
static double now(int wall)
{
    struct timespec ts;
    clock_gettime(wall ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* usage: test_pack16 --bench [--threads=N] [--reps=N]; env G4_BENCH_TYPE=Q8_0|Q6_K|Q4_0|Q4_K
 * (default all), G4_BENCH_ROWS (262144), G4_BENCH_COLS (Q8_0: 128, the default model; others:
 * 3840, 12B).
 * 1 thread: thread CPU time; more: wall time. Prints median (and min) ms per call, GB/s of the
 * matrix, and each token count's cost relative to one token.
 * Each call reads the next of several copies of the matrix (G4_BENCH_COPIES; default: enough for
 * 1 GB): re-reading one 130 MB matrix measured ~1.6x DRAM's speed on this machine's host, whose
 * last-level cache the VM does not see. */
static int bench(int argc, char **argv)
{
    int n_thr = 1, reps = 15;
    for (int i = 2; i < argc; i++) {
        if (!strncmp(argv[i], "--threads=", 10))
            n_thr = atoi(argv[i] + 10);
        if (!strncmp(argv[i], "--reps=", 7))
            reps = atoi(argv[i] + 7);
    }
    if (reps < 1 || reps > 1000)
        reps = 15;
    const int wall = n_thr > 1;
    g4k_pool *pool = n_thr > 1 ? g4k_pool_new(n_thr) : NULL;
    const int64_t n_rows = getenv("G4_BENCH_ROWS") ? atoll(getenv("G4_BENCH_ROWS")) : 262144;
    const char *only = getenv("G4_BENCH_TYPE");
    const uint32_t types[] = {G4_TYPE_Q8_0, G4_TYPE_Q6_K, G4_TYPE_Q4_0, G4_TYPE_Q4_K};
    double *ts = malloc(sizeof(double) * (size_t)reps);
    for (int ti = 0; ti < 4; ti++) {
        const uint32_t type = types[ti];
        if (only && strcmp(only, g4_type_get(type)->name))
            continue;
        const int64_t n_cols = getenv("G4_BENCH_COLS") ? atoll(getenv("G4_BENCH_COLS")) : type == G4_TYPE_Q8_0 ? 128 : 3840;
        const size_t rb = g4_type_row_bytes(type, n_cols);
        const size_t mat_bytes = rb * (size_t)n_rows;
        int copies = getenv("G4_BENCH_COPIES") ? atoi(getenv("G4_BENCH_COPIES")) : (int)(1000000000 / mat_bytes) + 1;
        if (copies < 1 || copies > 64)
            copies = copies < 1 ? 1 : 64;
        uint8_t *w = malloc(mat_bytes * (size_t)copies); /* the copies, back to back; copy 0 built here */
        float *row = malloc(sizeof(float) * (size_t)n_cols);
        for (int r = 0; r < 64; r++) {
            for (int64_t i = 0; i < n_cols; i++)
                row[i] = grand();
            g4k_quantize(type, row, w + r * rb, n_cols);
        }
        for (int64_t r = 64; r < n_rows; r++)
            memcpy(w + r * rb, w + (r % 64) * rb, rb);
        g4k_matrix m[64];
        g4k_packed *p[64] = {0};
        for (int c = 0; c < copies; c++) {
            if (c > 0)
                memcpy(w + mat_bytes * (size_t)c, w, mat_bytes);
            m[c] = (g4k_matrix){w + mat_bytes * (size_t)c, type, n_cols, n_rows, rb, NULL};
            p[c] = g4k_pack_with(g4k_kernels_active(), pool, &m[c]);
        }
        float *x = malloc(sizeof(float) * (size_t)(n_cols * G4K_MVN_MAX_TOK));
        float *y = malloc(sizeof(float) * (size_t)(n_rows * G4K_MVN_MAX_TOK));
        for (int64_t i = 0; i < n_cols * G4K_MVN_MAX_TOK; i++)
            x[i] = grand();
        const double mb = (double)rb * n_rows / 1e6;
        printf("%s %lldx%lld (%.1f MB, %d copies), isa %s, %d thread(s), %s time, median (min) of %d\n",
               g4_type_get(type)->name, (long long)n_rows, (long long)n_cols, mb, copies, g4k_isa_name(g4k_active_isa()), n_thr,
               wall ? "wall" : "thread CPU", reps);
        for (int packed = 0; packed < 2; packed++) {
            if (packed && !p[0])
                break;
            double t1 = 0;
            for (int nt = 1; nt <= G4K_MVN_MAX_TOK; nt++) {
                if (nt == 6 || nt == 7)
                    continue;
                for (int r = -1; r < reps; r++) {
                    const int c = (r + 1 + nt * reps) % copies;
                    const double t0 = now(wall);
                    if (packed)
                        g4k_matmul_packed(pool, p[c], x, nt, y);
                    else
                        g4k_matmul(pool, &m[c], x, nt, y);
                    if (r >= 0)
                        ts[r] = now(wall) - t0;
                }
                qsort(ts, (size_t)reps, sizeof *ts, cmp_d);
                const double med = ts[reps / 2];
                if (nt == 1)
                    t1 = med;
                printf("  %-6s n=%d  %8.3f ms (%8.3f)  %6.1f GB/s  x%.2f of n=1\n", packed ? "packed" : "gguf", nt,
                       med * 1e3, ts[0] * 1e3, mb / 1e3 / med, med / t1);
            }
        }
        for (int c = 0; c < copies; c++)
            g4k_packed_free(p[c]);
        free(w), free(row), free(x), free(y);
    }
    free(ts);
    g4k_pool_free(pool);
    return 0;
}

int main(int argc, char **argv)
{
    char err[160];
    if (g4k_init(err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (argc > 1 && !strcmp(argv[1], "--bench"))
        return bench(argc, argv);
    test_packed();
    return T_DONE("test_pack16");
}
