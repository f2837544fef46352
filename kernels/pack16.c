/* Packed matrices (LM heads, layer weights): a copy of a weight matrix in groups of 16 rows
 * interleaved "rows in lanes" (layout in quant.h, g4k_r16_act), built once at load, its matmul
 * driver, and the way back to GGUF rows (g4k_packed_rows) for prefill's GEMM.
 *
 * Why: decode and MTP verify multiply every matrix with 1..8 tokens only, and in the
 * GGUF's row layout a multi-token pass is compute-bound (per row and token: int->float per
 * block lane and a horizontal sum). Packed, a token costs per 32 values of 16 rows 8 vpdpbusd
 * with its activation's 4 bytes broadcast, one int->float and one FMA: a 4-token verify costs
 * about one decode step. One kernel runs 1..8 tokens and a token's arithmetic does not depend on
 * the others, so a verify batch's logits are bit for bit those of single-token steps.
 *
 * Driver: the activations are quantized as g4k_matmul does (Q8_0 for Q8_0 / Q4_0 weights, Q8_K
 * for Q6_K / Q4_K), with per-token block corrections (the weights' +128 / +8 / the -32 of Q6_K /
 * Q4_K's min sums) and scales laid
 * out for the kernels; groups are split across the pool in chunks; a last group with fewer than
 * 16 real rows (zero padding) is computed into a small buffer and its real rows copied out. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "os.h"
#if !defined(_WIN32)
#include <sys/mman.h>
#endif
#include "quant.h"

struct g4k_packed {
    g4k_matrix orig;     /* the original matrix: > G4K_MVN_MAX_TOK tokens run g4k_matmul on it */
    const g4k_kernels *k;
    g4k_r16_fn fn;
    uint8_t *data;       /* n_groups x group_bytes, 64-byte aligned */
    size_t group_bytes;
    int64_t n_groups;
};

size_t g4k_r16_group_bytes(uint32_t type, int64_t n)
{
    if (type == G4_TYPE_Q8_0 && n > 0 && n % G4_QK == 0)
        return (size_t)((n / G4_QK + 1) / 2) * 1088;
    if (type == G4_TYPE_Q6_K && n > 0 && n % G4_QK_K == 0)
        return (size_t)(n / G4_QK_K) * 3360;
    if (type == G4_TYPE_Q4_0 && n > 0 && n % G4_QK == 0)
        return (size_t)((n / G4_QK + 1) / 2) * 576;
    if (type == G4_TYPE_Q4_K && n > 0 && n % G4_QK_K == 0)
        return (size_t)(n / G4_QK_K) * 2304;
    return 0;
}

/* Types whose packed form g4k_packed_rows turns back into GGUF rows (a pure byte transpose):
 * the ones a layer matrix may be packed in, since prefill's GEMM then reads them that way. */
static int has_unpack(uint32_t type)
{
    return type == G4_TYPE_Q4_0 || type == G4_TYPE_Q4_K || type == G4_TYPE_Q6_K || type == G4_TYPE_Q8_0;
}

/* ---- packing ------------------------------------------------------------------------------ */
/* The packers work on 32-bit words (4 consecutive quants of a row = one lane of a k-quad):
 * SWAR arithmetic, so that packing a 262144-row head takes a fraction of a second per GB. */
static inline uint32_t ld32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void st32(void *p, uint32_t v) { memcpy(p, &v, sizeof v); }

static void pack_q8_0_group(const g4k_matrix *w, int64_t g, uint8_t *dst, size_t gb)
{
    const int64_t nb = w->n_cols / G4_QK;
    memset(dst, 0, gb); /* padding rows (quants 128 = 0 with scale 0 are rewritten below) and an
                         * odd block count's last half pair */
    for (int i = 0; i < G4K_R16; i++) {
        const int64_t r = g * G4K_R16 + i;
        const g4q_q8_0 *x = r < w->n_rows ? (const g4q_q8_0 *)((const uint8_t *)w->data + r * w->row_bytes) : NULL;
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *q = dst + (b >> 1) * 1088 + (b & 1) * 512 + i * 4;
            for (int m = 0; m < 8; m++) /* + 128 on each byte = flipping its top bit */
                st32(q + m * 64, (x ? ld32(x[b].qs + 4 * m) : 0) ^ 0x80808080u);
            uint16_t d = x ? x[b].d : 0;
            memcpy(dst + (b >> 1) * 1088 + 1024 + (b & 1) * 32 + i * 2, &d, sizeof d);
        }
    }
}

/* The 64 k-quads of row lane quants (6-bit, 0..63) of a Q6_K block, as 32-bit words. */
static void q6_K_words(const g4q_q6_K *x, uint32_t kq[64])
{
    const uint32_t m4 = 0x0F0F0F0Fu, m2 = 0x03030303u;
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = x->ql + 64 * h, *qh = x->qh + 32 * h;
        uint32_t *o = kq + 32 * h; /* values 128 h + ... */
        for (int l = 0; l < 32; l += 4) {
            const uint32_t a = ld32(ql + l), b = ld32(ql + l + 32), c = ld32(qh + l);
            o[l / 4] = (a & m4) | (c & m2) << 4;
            o[8 + l / 4] = (b & m4) | (c >> 2 & m2) << 4;
            o[16 + l / 4] = (a >> 4 & m4) | (c >> 4 & m2) << 4;
            o[24 + l / 4] = (b >> 4 & m4) | (c >> 6 & m2) << 4;
        }
    }
}

static void pack_q6_K_group(const g4k_matrix *w, int64_t g, uint8_t *dst)
{
    const int64_t ns = w->n_cols / G4_QK_K;
    const uint32_t m4 = 0x0F0F0F0Fu, m2 = 0x03030303u;
    uint32_t kq[64];
    for (int i = 0; i < G4K_R16; i++) {
        const int64_t r = g * G4K_R16 + i;
        const g4q_q6_K *x = r < w->n_rows ? (const g4q_q6_K *)((const uint8_t *)w->data + r * w->row_bytes) : NULL;
        for (int64_t s = 0; s < ns; s++) {
            if (x)
                q6_K_words(&x[s], kq);
            else
                for (int k = 0; k < 64; k++)
                    kq[k] = 0x20202020u; /* padding row: value 0 with scale 0 */
            uint8_t *sb = dst + s * 3360;
            for (int c = 0; c < 16; c++) { /* part c = sub-block c: its k-quads 4c .. 4c + 3 */
                const uint32_t *k4 = kq + 4 * c;
                uint8_t *part = sb + c * 192 + i * 4;
                st32(part, (k4[0] & m4) | (k4[2] & m4) << 4);
                st32(part + 64, (k4[1] & m4) | (k4[3] & m4) << 4);
                st32(part + 128, (k4[0] >> 4 & m2) | (k4[1] >> 4 & m2) << 2 | (k4[2] >> 4 & m2) << 4 |
                                     (k4[3] >> 4 & m2) << 6);
            }
            int8_t *sc = (int8_t *)(sb + 3072);
            for (int j = 0; j < 16; j++)
                sc[j * G4K_R16 + i] = x ? x[s].scales[j] : 0;
            uint16_t d = x ? x[s].d : 0;
            memcpy(sb + 3072 + 256 + i * 2, &d, sizeof d);
        }
    }
}

/* Q4_0 and Q4_K: the quants' 4-byte words as stored, transposed (layout: quant.h). */
static void pack_q4_0_group(const g4k_matrix *w, int64_t g, uint8_t *dst, size_t gb)
{
    const int64_t nb = w->n_cols / G4_QK;
    if ((g + 1) * G4K_R16 > w->n_rows || nb % 2) /* padding rows, an odd block count's last half pair */
        memset(dst, 0, gb);
    for (int i = 0; i < G4K_R16; i++) {
        const int64_t r = g * G4K_R16 + i;
        if (r >= w->n_rows)
            break;
        const g4q_q4_0 *x = (const g4q_q4_0 *)((const uint8_t *)w->data + r * w->row_bytes);
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *pair = dst + (b >> 1) * 576;
            for (int m = 0; m < 4; m++)
                st32(pair + (b & 1) * 256 + m * 64 + i * 4, ld32(x[b].qs + 4 * m));
            memcpy(pair + 512 + (b & 1) * 32 + i * 2, &x[b].d, 2);
        }
    }
}

static void pack_q4_K_group(const g4k_matrix *w, int64_t g, uint8_t *dst, size_t gb)
{
    const int64_t ns = w->n_cols / G4_QK_K;
    if ((g + 1) * G4K_R16 > w->n_rows) /* padding rows */
        memset(dst, 0, gb);
    for (int i = 0; i < G4K_R16; i++) {
        const int64_t r = g * G4K_R16 + i;
        if (r >= w->n_rows)
            break;
        const g4q_q4_K *x = (const g4q_q4_K *)((const uint8_t *)w->data + r * w->row_bytes);
        for (int64_t s = 0; s < ns; s++) {
            uint8_t *sb = dst + s * 2304;
            for (int m = 0; m < 32; m++)
                st32(sb + m * 64 + i * 4, ld32(x[s].qs + 4 * m));
            for (int k = 0; k < 3; k++)
                st32(sb + 2048 + k * 64 + i * 4, ld32(x[s].scales + 4 * k));
            memcpy(sb + 2240 + i * 2, &x[s].d, 2);
            memcpy(sb + 2272 + i * 2, &x[s].dmin, 2);
        }
    }
}

/* Lane i of a packed Q6_K super-block back to the GGUF block (pack_q6_K_group inverted). */
static void unpack_q6_K(const uint8_t *sb, int i, g4q_q6_K *x)
{
    const uint32_t m4 = 0x0F0F0F0Fu, m2 = 0x03030303u;
    uint32_t kq[64];
    for (int c = 0; c < 16; c++) {
        const uint8_t *part = sb + c * 192 + i * 4;
        const uint32_t w0 = ld32(part), w1 = ld32(part + 64), w2 = ld32(part + 128);
        uint32_t *k4 = kq + 4 * c;
        k4[0] = (w0 & m4) | (w2 & m2) << 4;
        k4[2] = (w0 >> 4 & m4) | (w2 >> 4 & m2) << 4;
        k4[1] = (w1 & m4) | (w2 >> 2 & m2) << 4;
        k4[3] = (w1 >> 4 & m4) | (w2 >> 6 & m2) << 4;
    }
    for (int h = 0; h < 2; h++) /* q6_K_words inverted */
        for (int l = 0; l < 32; l += 4) {
            const uint32_t *o = kq + 32 * h;
            const uint32_t p = o[l / 4], q = o[8 + l / 4], r = o[16 + l / 4], t = o[24 + l / 4];
            st32(x->ql + 64 * h + l, (p & m4) | (r & m4) << 4);
            st32(x->ql + 64 * h + l + 32, (q & m4) | (t & m4) << 4);
            st32(x->qh + 32 * h + l, (p >> 4 & m2) | (q >> 4 & m2) << 2 | (r >> 4 & m2) << 4 | (t >> 4 & m2) << 6);
        }
    for (int j = 0; j < 16; j++)
        x->scales[j] = (int8_t)sb[3072 + j * G4K_R16 + i];
    memcpy(&x->d, sb + 3072 + 256 + i * 2, 2);
}

/* Row i of packed group `grp` back to its GGUF bytes (n columns). */
static void unpack_row(uint32_t type, int64_t n, const uint8_t *grp, int i, uint8_t *dst)
{
    if (type == G4_TYPE_Q8_0) {
        g4q_q8_0 *x = (g4q_q8_0 *)dst;
        for (int64_t b = 0; b < n / G4_QK; b++) {
            const uint8_t *pair = grp + (b >> 1) * 1088;
            for (int m = 0; m < 8; m++)
                st32(x[b].qs + 4 * m, ld32(pair + (b & 1) * 512 + m * 64 + i * 4) ^ 0x80808080u);
            memcpy(&x[b].d, pair + 1024 + (b & 1) * 32 + i * 2, 2);
        }
    } else if (type == G4_TYPE_Q6_K) {
        g4q_q6_K *x = (g4q_q6_K *)dst;
        for (int64_t s = 0; s < n / G4_QK_K; s++)
            unpack_q6_K(grp + s * 3360, i, &x[s]);
    } else if (type == G4_TYPE_Q4_0) {
        g4q_q4_0 *x = (g4q_q4_0 *)dst;
        for (int64_t b = 0; b < n / G4_QK; b++) {
            const uint8_t *pair = grp + (b >> 1) * 576;
            for (int m = 0; m < 4; m++)
                st32(x[b].qs + 4 * m, ld32(pair + (b & 1) * 256 + m * 64 + i * 4));
            memcpy(&x[b].d, pair + 512 + (b & 1) * 32 + i * 2, 2);
        }
    } else { /* Q4_K */
        g4q_q4_K *x = (g4q_q4_K *)dst;
        for (int64_t s = 0; s < n / G4_QK_K; s++) {
            const uint8_t *sb = grp + s * 2304;
            for (int m = 0; m < 32; m++)
                st32(x[s].qs + 4 * m, ld32(sb + m * 64 + i * 4));
            for (int k = 0; k < 3; k++)
                st32(x[s].scales + 4 * k, ld32(sb + 2048 + k * 64 + i * 4));
            memcpy(&x[s].d, sb + 2240 + i * 2, 2);
            memcpy(&x[s].dmin, sb + 2272 + i * 2, 2);
        }
    }
}

int g4k_packed_rows(const g4k_packed *p, int64_t r0, int64_t nr, void *dst)
{
    if (!p || !has_unpack(p->orig.type) || r0 < 0 || nr < 0 || r0 + nr > p->orig.n_rows)
        return -1;
    for (int64_t r = r0; r < r0 + nr; r++)
        unpack_row(p->orig.type, p->orig.n_cols, p->data + (size_t)(r / G4K_R16) * p->group_bytes, (int)(r % G4K_R16),
                   (uint8_t *)dst + (size_t)(r - r0) * p->orig.row_bytes);
    return 0;
}

const uint8_t *g4k_matrix_rows(const g4k_matrix *w, int64_t r0, int64_t nr)
{
    if (!w->packed)
        return (const uint8_t *)w->data + (size_t)r0 * w->row_bytes;
    uint8_t *buf = g4k_scratch(G4K_SCRATCH_UNPACK, (size_t)nr * w->row_bytes);
    if (!buf || g4k_packed_rows(w->packed, r0, nr, buf) != 0)
        return NULL;
    return buf;
}

typedef struct {
    const g4k_matrix *w;
    g4k_packed *p;
    atomic_llong next;
} pack_ctx;

static void pack_task(void *arg, int ith, int nth)
{
    pack_ctx *c = arg;
    const int64_t chunk = 64;
    for (int64_t ch = ith; ch * chunk < c->p->n_groups; ch = nth + atomic_fetch_add(&c->next, 1))
        for (int64_t g = ch * chunk; g < c->p->n_groups && g < (ch + 1) * chunk; g++) {
            uint8_t *dst = c->p->data + (size_t)g * c->p->group_bytes;
            switch (c->w->type) {
            case G4_TYPE_Q8_0: pack_q8_0_group(c->w, g, dst, c->p->group_bytes); break;
            case G4_TYPE_Q4_0: pack_q4_0_group(c->w, g, dst, c->p->group_bytes); break;
            case G4_TYPE_Q4_K: pack_q4_K_group(c->w, g, dst, c->p->group_bytes); break;
            default: pack_q6_K_group(c->w, g, dst); break;
            }
        }
}

g4k_packed *g4k_pack_with(const g4k_kernels *k, g4k_pool *pool, const g4k_matrix *w)
{
    if (!k || w->type >= G4_TYPE_COUNT || !k->rows16[w->type] || w->n_rows <= 0)
        return NULL;
    const size_t gb = g4k_r16_group_bytes(w->type, w->n_cols);
    if (!gb)
        return NULL;
    g4k_packed *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->orig = *w;
    p->orig.packed = NULL;
    p->k = k;
    p->fn = k->rows16[w->type];
    p->group_bytes = gb;
    p->n_groups = (w->n_rows + G4K_R16 - 1) / G4K_R16;
    void *mem = NULL;
    const size_t bytes = gb * (size_t)p->n_groups;
    /* 2 MiB alignment for large copies: transparent huge pages (the decode streams it all) */
    if (posix_memalign(&mem, bytes >= ((size_t)8 << 20) ? ((size_t)2 << 20) : 64, bytes) != 0) {
        free(p);
        return NULL;
    }
    p->data = mem;
#if defined(MADV_HUGEPAGE) && !defined(_WIN32)
    if (bytes >= ((size_t)8 << 20))
        madvise(mem, bytes, MADV_HUGEPAGE); /* advice only */
#endif
    pack_ctx c = {.w = w, .p = p};
    atomic_init(&c.next, 0);
    if (pool && g4k_pool_size(pool) > 1)
        g4k_pool_run(pool, pack_task, &c);
    else
        pack_task(&c, 0, 1);
    return p;
}

g4k_packed *g4k_pack(g4k_pool *pool, const g4k_matrix *w)
{
    /* Every type with a packed kernel. (Until the layers were packed too, Q6_K heads were not by
     * default: their single-token decode had measured 6-8% slower than the GGUF layout's. With
     * packed layers, same-run A/B on the 12B shape Q4_K_M, tg32, 3 rounds: packed head 18.8-19.6
     * vs 18.1-19.2 t/s at 1 thread, 30.4-31.1 vs 27.6-30.6 at 2: not slower, and verify rows
     * cost a fraction.) G4_PACK_HEAD=0 packs none. */
    const char *env = getenv("G4_PACK_HEAD");
    if (env && strcmp(env, "0") == 0)
        return NULL;
    return g4k_pack_with(g4k_kernels_active(), pool, w);
}

g4k_packed *g4k_pack_layer(g4k_pool *pool, const g4k_matrix *w)
{
    const char *env = getenv("G4_PACK_LAYERS");
    if ((env && strcmp(env, "0") == 0) || !has_unpack(w->type))
        return NULL;
    return g4k_pack_with(g4k_kernels_active(), pool, w);
}

void g4k_packed_free(g4k_packed *p)
{
    if (!p)
        return;
    g4_os_aligned_free(p->data);
    free(p);
}

size_t g4k_packed_bytes(const g4k_packed *p)
{
    return p ? p->group_bytes * (size_t)p->n_groups : 0;
}

/* ---- matmul ------------------------------------------------------------------------------- */
typedef struct {
    const g4k_packed *p;
    const g4k_r16_act *a;
    float *y;
    int64_t chunk;
    atomic_llong next;
} run_ctx;

static void run_task(void *arg, int ith, int nth)
{
    run_ctx *c = arg;
    const g4k_packed *p = c->p;
    const int64_t n_rows = p->orig.n_rows, n_full = n_rows / G4K_R16, nt = c->a->nt;
    for (int64_t ch = ith; ch * c->chunk < p->n_groups; ch = nth + atomic_fetch_add(&c->next, 1)) {
        const int64_t g0 = ch * c->chunk;
        int64_t g1 = g0 + c->chunk < p->n_groups ? g0 + c->chunk : p->n_groups;
        const int64_t gf = g1 < n_full ? g1 : n_full; /* [g0, gf): whole groups */
        if (gf > g0)
            p->fn(p->orig.n_cols, p->data + (size_t)g0 * p->group_bytes, p->group_bytes, gf - g0, c->a,
                  c->y + g0 * G4K_R16, n_rows);
        if (g1 > n_full) { /* the last group, partly padding */
            float tmp[G4K_MVN_MAX_TOK * G4K_R16];
            p->fn(p->orig.n_cols, p->data + (size_t)n_full * p->group_bytes, p->group_bytes, 1, c->a, tmp, G4K_R16);
            const int64_t nr = n_rows - n_full * G4K_R16;
            for (int64_t t = 0; t < nt; t++)
                memcpy(c->y + t * n_rows + n_full * G4K_R16, tmp + t * G4K_R16, sizeof(float) * (size_t)nr);
        }
    }
}

static size_t align64(size_t x) { return (x + 63) & ~(size_t)63; }

/* One pass for nt <= G4K_MVN_MAX_TOK tokens. */
static void packed_pass(const g4k_kernels *k, g4k_pool *pool, const g4k_packed *p, const float *x, int64_t nt,
                        float *y)
{
    const uint32_t wt = p->orig.type;
    const int64_t n = p->orig.n_cols;
    const uint32_t at = g4q_traits_get(wt)->act_type; /* Q8_0 (Q8_0, Q4_0) or Q8_K (Q6_K, Q4_K) */
    const size_t arb = g4k_act_row_bytes(wt, n);
    const int64_t n_corr = at == G4_TYPE_Q8_0 ? n / G4_QK : wt == G4_TYPE_Q4_K ? n / 64 : n / 16;
    const int64_t n_d = at == G4_TYPE_Q8_0 ? n / G4_QK : n / G4_QK_K;
    const size_t off_corr = align64(arb * (size_t)nt), off_d = off_corr + align64(sizeof(int32_t) * (size_t)(n_corr * nt));
    uint8_t *buf = g4k_scratch(G4K_SCRATCH_ACT, off_d + sizeof(float) * (size_t)(n_d * nt));
    if (!buf)
        return;
    if (k->qact[at])
        k->qact[at](x, n, nt, buf, arb);
    else
        g4k_quantize_act(wt, x, n, nt, buf);
    int32_t *corr = (int32_t *)(buf + off_corr);
    float *d = (float *)(buf + off_d);
    for (int64_t t = 0; t < nt; t++) {
        const uint8_t *row = buf + (size_t)t * arb;
        if (at == G4_TYPE_Q8_0) {
            const g4q_q8_0 *q = (const g4q_q8_0 *)row;
            const int32_t off = wt == G4_TYPE_Q8_0 ? 128 : 8; /* the weights' offset */
            for (int64_t b = 0; b < n_corr; b++) {
                int32_t s = 0;
                for (int j = 0; j < G4_QK; j++)
                    s += q[b].qs[j];
                corr[t * n_corr + b] = off * s;
                d[t * n_d + b] = g4k_f16_to_f32(q[b].d);
            }
        } else if (wt == G4_TYPE_Q4_K) {
            const g4q_q8_K *q = (const g4q_q8_K *)row;
            for (int64_t s = 0; s < n_d; s++) {
                for (int j = 0; j < 4; j++) {
                    const int32_t lo = q[s].bsums[4 * j] + q[s].bsums[4 * j + 1];
                    const int32_t hi = q[s].bsums[4 * j + 2] + q[s].bsums[4 * j + 3];
                    corr[t * n_corr + s * 4 + j] = (int32_t)((uint32_t)(lo & 0xFFFF) | (uint32_t)hi << 16);
                }
                d[t * n_d + s] = q[s].d;
            }
        } else {
            const g4q_q8_K *q = (const g4q_q8_K *)row;
            for (int64_t s = 0; s < n_d; s++) {
                for (int j = 0; j < 16; j++)
                    corr[t * n_corr + s * 16 + j] = 32 * q[s].bsums[j];
                d[t * n_d + s] = q[s].d;
            }
        }
    }
    const g4k_r16_act a = {buf, arb, corr, d, n_corr, n_d, nt};
    const int nth = g4k_pool_size(pool);
    run_ctx c = {.p = p, .a = &a, .y = y};
    c.chunk = p->n_groups / ((int64_t)nth * 8);
    if (c.chunk < 1)
        c.chunk = 1;
    atomic_init(&c.next, 0);
    if (nth > 1 && p->n_groups > c.chunk)
        g4k_pool_run_elastic(pool, run_task, &c);
    else
        run_task(&c, 0, 1);
}

void g4k_matmul_packed_with(const g4k_kernels *k, g4k_pool *pool, const g4k_packed *p, const float *x,
                            int64_t n_tok, float *y)
{
    if (!p || n_tok <= 0)
        return;
    if (n_tok > G4K_MVN_MAX_TOK) { /* prefill-sized batches: the GEMM on the GGUF layout */
        g4k_matrix w = p->orig;
        if (has_unpack(w.type))
            w.packed = p; /* rebuilt from the packed copy (the original may be released) */
        g4k_matmul_with(k, pool, &w, x, n_tok, y);
        return;
    }
    packed_pass(k, pool, p, x, n_tok, y);
}

void g4k_matmul_packed(g4k_pool *pool, const g4k_packed *p, const float *x, int64_t n_tok, float *y)
{
    if (p)
        g4k_matmul_packed_with(p->k, pool, p, x, n_tok, y);
}
