/* g4k_matmul driver: quantize the activations once (shared by all threads), then split output
 * rows across the pool in chunks taken from an atomic counter. Each chunk is tiled over tokens
 * so a tile's activation rows stay in L2 while every weight row is decoded once per tile; the
 * per-ISA mm kernels do the register tiling (rows × tokens) inside. */
#include <stdatomic.h>
#include <stdlib.h>

#include "quant.h"
#include "topology.h"

/* Per-core L2 for token tiling, bounded: VM-reported cache sizes can be nonsense. */
static size_t l2_bytes(void)
{
    const int64_t l2 = g4k_topology_cache_bytes(2);
    return l2 < (256 << 10) ? (256u << 10) : l2 > (4 << 20) ? (4u << 20) : (size_t)l2;
}

typedef struct {
    const g4k_kernels *k;
    g4k_mm_fn mm;
    const g4k_matrix *w;
    const void *act;
    size_t a_stride;
    int64_t n_tok, tok_block, chunk_unit, n_chunks; /* chunks: whole units of rows (row groups) */
    float *y;
    atomic_llong next; /* chunks taken beyond the first nth (see mm_task) */
} mm_ctx;

/* Chunk ch's first row: the whole units shared as evenly as the count allows (chunk sizes differ
 * by one unit at most, where equal chunks rounded up to units left the last thread short), the
 * rows past the last whole unit going to the last chunk. */
static int64_t chunk_start(const mm_ctx *c, int64_t ch)
{
    const int64_t nr = c->w->n_rows;
    if (ch >= c->n_chunks)
        return nr;
    const int64_t units = nr / c->chunk_unit, q = units / c->n_chunks, r = units % c->n_chunks;
    return (ch * q + (ch < r ? ch : r)) * c->chunk_unit;
}

static void mm_task(void *arg, int ith, int nth)
{
    mm_ctx *c = arg;
    const g4k_matrix *w = c->w;
    /* First chunk is ith (no contention on the common case), then pull from the counter. The
     * counter is relative to the nth this run really has: a run on a pool that another thread
     * is using executes inline as (0, 1), and must then take chunks 1, 2, ... itself. */
    /* A packed matrix's GGUF rows are rebuilt a few at a time (L2-sized) into scratch first. */
    int64_t sub = w->packed ? (int64_t)(l2_bytes() / 4 / (w->row_bytes ? w->row_bytes : 1)) & ~(int64_t)15 : 0;
    if (w->packed && sub < 16)
        sub = 16;
    for (int64_t ch = ith; ch < c->n_chunks; ch = nth + atomic_fetch_add(&c->next, 1)) {
        const int64_t r_end = chunk_start(c, ch + 1);
        for (int64_t r0 = chunk_start(c, ch); r0 < r_end; r0 += sub ? sub : r_end) {
            const int64_t nr = sub && r_end - r0 > sub ? sub : r_end - r0;
            const uint8_t *rows = g4k_matrix_rows(w, r0, nr);
            if (!rows)
                return; /* out of scratch memory: recorded by g4k_scratch */
            for (int64_t t0 = 0; t0 < c->n_tok; t0 += c->tok_block) {
                const int64_t nt = c->n_tok - t0 < c->tok_block ? c->n_tok - t0 : c->tok_block;
                c->mm(w->n_cols, rows, w->row_bytes, nr, (const uint8_t *)c->act + t0 * c->a_stride, c->a_stride, nt,
                      c->y + t0 * w->n_rows + r0, w->n_rows);
            }
        }
    }
}

/* Optional clamp of the activations (g4k_matmul_lowp_clamped): NULL, or {lo, hi}. */
typedef const float *clamp_bounds;

typedef struct {
    uint32_t wtype;
    g4k_qact_fn qact;
    const float *x;
    int64_t n, n_tok;
    void *dst;
    size_t rb;
    clamp_bounds clamp;
} q_ctx;

static void quantize_rows(const q_ctx *c, const float *x, int64_t n_tok, uint8_t *dst)
{
    if (c->qact)
        c->qact(x, c->n, n_tok, dst, c->rb);
    else
        g4k_quantize_act(c->wtype, x, c->n, n_tok, dst);
}

static void quant_task(void *arg, int ith, int nth)
{
    q_ctx *c = arg;
    int64_t t0, t1;
    if (!g4k_share(c->n_tok, 1, ith, nth, &t0, &t1))
        return;
    if (!c->clamp) {
        quantize_rows(c, c->x + t0 * c->n, t1 - t0, (uint8_t *)c->dst + t0 * c->rb);
        return;
    }
    /* each row clamped into this thread's L1-sized buffer, then quantized from there */
    float *row = g4k_scratch(G4K_SCRATCH_CLAMP, sizeof(float) * (size_t)c->n);
    if (!row)
        return; /* recorded by g4k_scratch */
    for (int64_t t = t0; t < t1; t++) {
        g4k_clamp_copy(c->x + t * c->n, row, c->n, c->clamp[0], c->clamp[1]);
        quantize_rows(c, row, 1, (uint8_t *)c->dst + t * c->rb);
    }
}

typedef struct {
    g4k_tile_fn tile;
    int64_t n, n_tok;
    const uint8_t *a; /* quantized activation rows, as apart */
    size_t as, ts;    /* ts: tiled bytes per token */
    uint8_t *dst;
} tile_ctx;

static void tile_task(void *arg, int ith, int nth)
{
    tile_ctx *c = arg;
    int64_t t0, t1;
    if (g4k_share(c->n_tok, 16, ith, nth, &t0, &t1)) /* whole 16-token tiles */
        c->tile(c->n, c->a + (size_t)t0 * c->as, c->as, t1 - t0, c->dst + (size_t)t0 * c->ts);
}

typedef struct {
    g4k_qact_fn pack;
    const float *x;
    int64_t n, n_tok;
    uint8_t *dst;
    size_t stride;
    clamp_bounds clamp;
} pack_ctx;

static void pack_task(void *arg, int ith, int nth)
{
    pack_ctx *c = arg;
    int64_t t0, t1;
    if (!g4k_share(c->n_tok, 16, ith, nth, &t0, &t1)) /* whole 16-token tiles */
        return;
    if (!c->clamp) {
        c->pack(c->x + t0 * c->n, c->n, t1 - t0, c->dst + (size_t)t0 * c->stride, c->stride);
        return;
    }
    /* tile by tile: 16 rows clamped into this thread's buffer (L2), then packed from there */
    float *rows = g4k_scratch(G4K_SCRATCH_CLAMP, sizeof(float) * 16 * (size_t)c->n);
    if (!rows)
        return;
    for (int64_t a = t0; a < t1; a += 16) {
        const int64_t nt = t1 - a < 16 ? t1 - a : 16;
        g4k_clamp_copy(c->x + a * c->n, rows, nt * c->n, c->clamp[0], c->clamp[1]);
        c->pack(rows, c->n, nt, c->dst + (size_t)a * c->stride, c->stride);
    }
}

static void matmul_run(const g4k_kernels *k, int lowp, g4k_pool *pool, const g4k_matrix *w, const float *x,
                       int64_t n_tok, float *y, clamp_bounds clamp)
{
    const g4q_traits *t = g4q_traits_get(w->type);
    if (!t || !k->mm[w->type] || n_tok <= 0 || w->n_rows <= 0)
        return;
    const int64_t n = w->n_cols;
    /* the 16-bit prefill: activations packed once here (even n; odd n keeps the f32 GEMM) */
    const int packed = lowp && n_tok >= G4K_GEMM_MIN_TOK && k->gemm_lowp[w->type] && k->lowp_pack[w->type] &&
                       n % 2 == 0;
    const int rows_in_lanes = w->packed && n_tok <= G4K_MVN_MAX_TOK;
    if (clamp && (rows_in_lanes || (!packed && t->act_type == G4_TYPE_F32))) {
        /* paths that read x as it is: a clamped copy first (this thread's buffer; the pool
         * threads write disjoint ranges of it) */
        float *xc = g4k_scratch(G4K_SCRATCH_CLAMP, sizeof(float) * (size_t)(n * n_tok));
        if (!xc)
            return;
        g4k_clamp_pool(n_tok >= 4 ? pool : NULL, x, xc, n * n_tok, clamp[0], clamp[1]);
        x = xc;
        clamp = NULL;
    }
    if (rows_in_lanes) { /* decode and verify: the rows-in-lanes kernel */
        g4k_matmul_packed_with(k, pool, w->packed, x, n_tok, y);
        return;
    }
    const size_t arb = packed ? (size_t)n * 2 : g4k_act_row_bytes(w->type, n);
    const void *act = x;
    if (packed) {
        uint8_t *abuf = g4k_scratch(G4K_SCRATCH_ACT, arb * (size_t)((n_tok + 15) / 16 * 16));
        if (!abuf)
            return;
        pack_ctx pc = {k->lowp_pack[w->type], x, n, n_tok, abuf, arb, clamp};
        if (pool)
            g4k_pool_run_elastic(pool, pack_task, &pc);
        else
            pack_task(&pc, 0, 1);
        act = abuf;
    } else if (t->act_type != G4_TYPE_F32) {
        /* the caller's thread owns the buffer; pool threads only read it during this call */
        void *abuf = g4k_scratch(G4K_SCRATCH_ACT, arb * (size_t)n_tok);
        if (!abuf)
            return;
        q_ctx qc = {w->type, k->qact[t->act_type], x, n, n_tok, abuf, arb, clamp};
        if (n_tok >= 4 && pool)
            g4k_pool_run_elastic(pool, quant_task, &qc);
        else
            quant_task(&qc, 0, 1);
        act = abuf;
    }
    const int nth = g4k_pool_size(pool);
    mm_ctx c = {.k = k, .mm = k->mm[w->type], .w = w, .act = act, .a_stride = arb, .n_tok = n_tok, .y = y};
    int64_t tb;
    int small_batch = 0, gemm = 0;
    if (n_tok == 1 && k->mv[w->type]) {
        c.mm = k->mv[w->type];
        tb = 1;
    } else if (n_tok <= G4K_MVN_MAX_TOK && k->mvn[w->type]) {
        /* 2..8 tokens with a small-batch kernel: one pass over the weights, every block decoded
         * once for the whole batch (the row chunks need not fit L2: nothing is re-read) */
        c.mm = k->mvn[w->type];
        tb = n_tok;
    } else if (n_tok <= G4K_MVN_MAX_TOK && k->mv[w->type]) {
        /* 2..8 tokens (MTP verification, short prompts): the decode kernel once per token over
         * L2-sized row chunks, so the weights come from memory once and from L2 for the other
         * tokens. Measured 2-4x faster than the 4-token tiles or the GEMM at these sizes, and
         * each token's result is bit-identical to a single-token step (speculative decoding's
         * verify batches, up to 8 rows, rely on it). */
        c.mm = k->mv[w->type];
        tb = 1;
        small_batch = 1;
    } else if (packed || (n_tok >= G4K_GEMM_MIN_TOK && k->gemm[w->type])) {
        /* The gemm kernel tiles tokens itself and decodes each weight row once per call:
         * hand it as many tokens as possible (bounded so its activation panel stays ~L2/L3). */
        c.mm = packed ? k->gemm_lowp[w->type] : k->gemm[w->type];
        gemm = 1;
        tb = (int64_t)(4 * l2_bytes() / (arb ? arb : 1));
        tb = tb < 64 ? 64 : tb > 1024 ? 1024 : tb & ~(int64_t)15;
        /* f32 activations are read in place (the float GEMM): nothing to bound, and every
         * token block would convert the chunk's weight rows again (an audio embed's 750
         * tokens at 4096 columns were three blocks, three conversions of each weight) */
        if (!packed && t->act_type == G4_TYPE_F32)
            tb = n_tok;
    } else {
        /* Token tile: half of L2 for the activation rows, 4..64 tokens. */
        tb = (int64_t)(l2_bytes() / 2 / (arb ? arb : 1));
        tb = tb < 4 ? 4 : tb > 64 ? 64 : tb & ~(int64_t)3;
    }
    c.tok_block = n_tok < tb ? n_tok : tb;
    /* Row chunks: ~8 per thread for balance, whole units of 16 rows (SIMD row groups). The opt-in
     * low-precision calls (the encoders' fast paths, large token counts) take ~2 per thread: every
     * chunk re-arranges its token block's activations (the int8 GEMM's tiles), so fewer chunks is
     * less of that; measured on the E2B tower's 768 x 768..3072 shapes. The float GEMM's units
     * are its row groups (gemm_rows: 48 rows at 512 bits; 16-row chunks of a 64-row matrix, V^T of
     * a 64-wide head, ran at half its rate: test_kernels --bench, 64 x 2528 x 256, 103 vs 199
     * GFLOP/s). The count is a multiple of the threads and chunk_start shares the units evenly
     * among the chunks: 1024 rows of 48-row groups on 2 threads were 11 chunks of 96 rows (one of
     * 64), 576 rows on one thread and 448 on the other; now 12 chunks of 2 or 1 groups. */
    int64_t cr = w->n_rows / ((int64_t)nth * (lowp && gemm ? 2 : 8));
    if (small_batch) {
        const int64_t l2_rows = (int64_t)(l2_bytes() / 2 / (w->row_bytes ? w->row_bytes : 1));
        if (cr > l2_rows)
            cr = l2_rows;
    }
    const int64_t unit = gemm && !packed && k->gemm_rows[w->type] > 16 ? k->gemm_rows[w->type] : 16;
    const int64_t n_units = (w->n_rows + unit - 1) / unit;
    cr = cr < unit ? unit : (cr + unit - 1) / unit * unit;
    c.chunk_unit = unit;
    c.n_chunks = (w->n_rows + cr - 1) / cr;
    if (c.n_chunks % nth)
        c.n_chunks += nth - c.n_chunks % nth;
    if (c.n_chunks > n_units)
        c.n_chunks = n_units;
    if (gemm && !packed && k->gemm_act[w->type]) {
        /* token block by token block: its tiles built once (split across the pool), then every
         * row chunk's gemm reads them */
        const g4k_tile_fn tile = k->gemm_act[w->type];
        const size_t ts = tile(n, NULL, 0, 0, NULL);
        uint8_t *tiles = g4k_scratch(G4K_SCRATCH_TILES, ts * (size_t)((c.tok_block + 15) / 16 * 16));
        if (!tiles)
            return;
        for (int64_t b0 = 0; b0 < n_tok; b0 += c.tok_block) {
            const int64_t nb = n_tok - b0 < c.tok_block ? n_tok - b0 : c.tok_block;
            tile_ctx tc = {tile, n, nb, (const uint8_t *)act + (size_t)b0 * arb, arb, ts, tiles};
            if (nth > 1 && nb > 16)
                g4k_pool_run_elastic(pool, tile_task, &tc);
            else
                tile_task(&tc, 0, 1);
            mm_ctx cb = c;
            cb.act = tiles;
            cb.a_stride = ts;
            cb.n_tok = cb.tok_block = nb;
            cb.y = y + b0 * w->n_rows;
            atomic_init(&cb.next, 0);
            if (nth > 1 && cb.n_chunks > 1)
                g4k_pool_run_elastic(pool, mm_task, &cb);
            else
                mm_task(&cb, 0, 1);
        }
        return;
    }
    atomic_init(&c.next, 0);
    if (nth > 1 && c.n_chunks > 1)
        g4k_pool_run_elastic(pool, mm_task, &c);
    else
        mm_task(&c, 0, 1);
}

void g4k_matmul_with(const g4k_kernels *k, g4k_pool *pool, const g4k_matrix *w, const float *x, int64_t n_tok,
                     float *y)
{
    matmul_run(k, 0, pool, w, x, n_tok, y, NULL);
}

void g4k_matmul_lowp_with(const g4k_kernels *k, g4k_pool *pool, const g4k_matrix *w, const float *x,
                          int64_t n_tok, float *y)
{
    matmul_run(k, 1, pool, w, x, n_tok, y, NULL);
}

void g4k_matmul_lowp_clamped_with(const g4k_kernels *k, g4k_pool *pool, const g4k_matrix *w, const float *x,
                                  int64_t n_tok, float *y, float lo, float hi)
{
    const float b[2] = {lo, hi};
    matmul_run(k, 1, pool, w, x, n_tok, y, b);
}

void g4k_matmul(g4k_pool *pool, const g4k_matrix *w, const float *x, int64_t n_tok, float *y)
{
    matmul_run(g4k_kernels_active(), 0, pool, w, x, n_tok, y, NULL);
}

void g4k_matmul_lowp(g4k_pool *pool, const g4k_matrix *w, const float *x, int64_t n_tok, float *y)
{
    matmul_run(g4k_kernels_active(), 1, pool, w, x, n_tok, y, NULL);
}

void g4k_matmul_lowp_clamped(g4k_pool *pool, const g4k_matrix *w, const float *x, int64_t n_tok, float *y,
                             float lo, float hi)
{
    g4k_matmul_lowp_clamped_with(g4k_kernels_active(), pool, w, x, n_tok, y, lo, hi);
}

int g4k_type_supported(uint32_t type)
{
    return type < G4_TYPE_COUNT && g4q_traits_get(type) && g4k_kernels_active()->mm[type] != NULL;
}

/* ---- f32-activation reference path: dequantize each row once, f32 dot with every token. ---- */
typedef struct {
    const g4k_matrix *w;
    const float *x;
    int64_t n_tok;
    float *y;
    g4k_dot_f32_fn dot;
    atomic_llong next;
} f32_ctx;

static void f32act_task(void *arg, int ith, int nth)
{
    f32_ctx *c = arg;
    const g4k_matrix *w = c->w;
    const g4q_traits *t = g4q_traits_get(w->type);
    float *row = g4k_scratch(G4K_SCRATCH_ROW, (size_t)w->n_cols * sizeof *row);
    if (!row)
        return;
    const int64_t chunk = 16;
    for (int64_t ch = ith; ch * chunk < w->n_rows; ch = nth + atomic_fetch_add(&c->next, 1)) /* as mm_task */
        for (int64_t r = ch * chunk; r < w->n_rows && r < (ch + 1) * chunk; r++) {
            const uint8_t *src = g4k_matrix_rows(w, r, 1);
            if (!src)
                return;
            t->dequant(src, row, w->n_cols);
            for (int64_t i = 0; i < c->n_tok; i++)
                c->y[i * w->n_rows + r] = c->dot(w->n_cols, row, c->x + i * w->n_cols);
        }
}

void g4k_matmul_f32act(g4k_pool *pool, const g4k_matrix *w, const float *x, int64_t n_tok, float *y)
{
    if (!g4q_traits_get(w->type) || n_tok <= 0)
        return;
    f32_ctx c = {.w = w, .x = x, .n_tok = n_tok, .y = y, .dot = g4k_kernels_active()->dot_f32};
    const int nth = g4k_pool_size(pool);
    atomic_init(&c.next, 0);
    if (nth > 1 && w->n_rows > 16)
        g4k_pool_run_elastic(pool, f32act_task, &c);
    else
        f32act_task(&c, 0, 1);
}

int g4k_get_row(const g4k_matrix *w, int64_t r, float *dst)
{
    const g4q_traits *t = g4q_traits_get(w->type);
    if (!t || r < 0 || r >= w->n_rows)
        return -1;
    const uint8_t *src = g4k_matrix_rows(w, r, 1);
    if (!src)
        return -1;
    t->dequant(src, dst, w->n_cols);
    return 0;
}
