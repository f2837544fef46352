/* g4-quantize IN.gguf OUT.gguf TYPE
 *
 * Requantizes the 2-D weight matrices of a GGUF to TYPE (Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K
 * Q6_K IQ4_NL IQ4_XS), following llama-quantize's conventions:
 *   - 1-D tensors, norms, rope_freqs, the MoE router (ffn_gate_inp) and per_layer_model_proj
 *     are copied unchanged;
 *   - token_embd / output become Q6_K for 4-bit targets (as in Q4_K_M mixes);
 *   - a row length that is not a multiple of the target block falls back to Q8_0, or stays as
 *     it is when not even that fits.
 * Plain round-to-nearest / least-squares quantizers (no imatrix). Rows are converted in the
 * writer's fill callback, spread over a thread pool, so the output is never held in memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "kernels.h"

typedef struct {
    const g4_gguf_tensor *src;
    uint32_t dst_type;
    g4k_pool *pool;
    /* per fill call */
    uint8_t *dst;
    int64_t row0, nrows;
    int failed;
} qctx;

static void quant_rows(void *arg, int ith, int nth)
{
    qctx *c = arg;
    const int64_t ne0 = c->src->ne[0];
    const size_t srb = g4_type_row_bytes(c->src->type, ne0), drb = g4_type_row_bytes(c->dst_type, ne0);
    float *buf = malloc(sizeof(float) * (size_t)ne0);
    if (!buf) {
        c->failed = 1;
        return;
    }
    for (int64_t r = ith; r < c->nrows; r += nth) {
        const uint8_t *s = (const uint8_t *)c->src->data + (size_t)(c->row0 + r) * srb;
        if (g4k_dequantize(c->src->type, s, buf, ne0) != 0 || g4k_quantize(c->dst_type, buf, c->dst + (size_t)r * drb, ne0) != drb)
            c->failed = 1;
    }
    free(buf);
}

static int fill(void *arg, void *dst, uint64_t offset, size_t nbytes)
{
    qctx *c = arg;
    const size_t drb = g4_type_row_bytes(c->dst_type, c->src->ne[0]);
    c->dst = dst;
    c->row0 = (int64_t)(offset / drb);
    c->nrows = (int64_t)(nbytes / drb);
    c->failed = 0;
    g4k_pool_run(c->pool, quant_rows, c);
    return c->failed;
}

static int has(const char *name, const char *s) { return strstr(name, s) != NULL; }

static uint32_t choose_type(const char *name, const g4_gguf_tensor *t, uint32_t target)
{
    const int is_float = t->type == G4_TYPE_F32 || t->type == G4_TYPE_F16 || t->type == G4_TYPE_BF16;
    int64_t rows = 1;
    for (uint32_t d = 1; d < t->n_dims; d++)
        rows *= t->ne[d];
    if (t->n_dims < 2 || rows == 1 || has(name, "norm") || has(name, "rope_freqs") || has(name, "ffn_gate_inp") ||
        has(name, "per_layer_model_proj"))
        return t->type;
    (void)is_float;
    uint32_t want = target;
    const int four_bit = target == G4_TYPE_Q4_0 || target == G4_TYPE_Q4_1 || target == G4_TYPE_IQ4_NL ||
                         target == G4_TYPE_IQ4_XS || target == G4_TYPE_Q4_K;
    if (four_bit && (!strcmp(name, "token_embd.weight") || !strcmp(name, "output.weight")))
        want = G4_TYPE_Q6_K;
    if (t->ne[0] % g4_type_get(want)->block_elems)
        want = t->ne[0] % 32 == 0 ? G4_TYPE_Q8_0 : t->type;
    return want;
}

static uint32_t llama_ftype(uint32_t t)
{
    switch (t) {
    case G4_TYPE_Q4_0: return 2;
    case G4_TYPE_Q4_1: return 3;
    case G4_TYPE_Q8_0: return 7;
    case G4_TYPE_Q5_0: return 8;
    case G4_TYPE_Q5_1: return 9;
    case G4_TYPE_Q4_K: return 15; /* Q4_K_M-like mix */
    case G4_TYPE_Q5_K: return 17;
    case G4_TYPE_Q6_K: return 18;
    case G4_TYPE_IQ4_NL: return 25;
    case G4_TYPE_IQ4_XS: return 30;
    default: return 0;
    }
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s IN.gguf OUT.gguf TYPE\n", argv[0]);
        return 2;
    }
    uint32_t target = G4_TYPE_COUNT;
    for (uint32_t t = 0; t < G4_TYPE_COUNT; t++) {
        const g4_type_info *ti = g4_type_get(t);
        if (ti && !strcmp(ti->name, argv[3]) && llama_ftype(t))
            target = t;
    }
    if (target == G4_TYPE_COUNT) {
        fprintf(stderr, "g4-quantize: unsupported TYPE %s (Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K IQ4_NL IQ4_XS)\n",
                argv[3]);
        return 2;
    }
    char err[256];
    if (g4k_init(err, sizeof err) != 0)
        fprintf(stderr, "g4-quantize: %s (continuing)\n", err);
    g4_gguf *in = g4_gguf_open(argv[1], 0, err, sizeof err);
    if (!in) {
        fprintf(stderr, "g4-quantize: %s: %s\n", argv[1], err);
        return 1;
    }
    g4_gguf_writer *w = g4_gguf_writer_new();
    g4k_pool *pool = g4k_pool_new(0);
    int rc = 0;
    if (g4_gguf_writer_set_alignment(w, g4_gguf_alignment(in)) != 0)
        rc = 1;
    for (int64_t i = 0; i < g4_gguf_n_kv(in) && !rc; i++) {
        const g4_gguf_kv *kv = g4_gguf_kv_at(in, i);
        if (g4_gguf_str_eq(kv->key, "general.alignment"))
            continue;
        if (g4_gguf_str_eq(kv->key, "general.file_type"))
            rc = g4_gguf_set_u32(w, "general.file_type", llama_ftype(target)) != 0;
        else
            rc = g4_gguf_set_kv_from(w, kv) != 0;
    }
    if (!rc && !g4_gguf_find_kv(in, "general.file_type"))
        rc = g4_gguf_set_u32(w, "general.file_type", llama_ftype(target)) != 0;
    const int64_t nt = g4_gguf_n_tensors(in);
    qctx *ctx = calloc((size_t)(nt > 0 ? nt : 1), sizeof *ctx);
    uint64_t in_bytes = 0, out_bytes = 0;
    for (int64_t i = 0; i < nt && !rc; i++) {
        const g4_gguf_tensor *t = g4_gguf_tensor_at(in, i);
        char name[256];
        const size_t len = t->name.len < sizeof name - 1 ? t->name.len : sizeof name - 1;
        memcpy(name, t->name.ptr, len);
        name[len] = 0;
        uint32_t dt = choose_type(name, t, target);
        /* requantizing needs a dequantizer for the source type */
        float probe[256];
        if (dt != t->type && g4k_dequantize(t->type, t->data, probe, 0) != 0)
            dt = t->type;
        int64_t rows = 1;
        for (uint32_t d = 1; d < t->n_dims; d++)
            rows *= t->ne[d];
        in_bytes += t->nbytes;
        if (dt == t->type) {
            rc = g4_gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne, t->data) != 0;
            out_bytes += t->nbytes;
        } else {
            ctx[i] = (qctx){.src = t, .dst_type = dt, .pool = pool};
            rc = g4_gguf_writer_add_tensor_fill(w, name, dt, t->n_dims, t->ne, fill, &ctx[i]) != 0;
            out_bytes += g4_type_row_bytes(dt, t->ne[0]) * (uint64_t)rows;
        }
        printf("%-48s %-6s -> %-6s", name, g4_type_get(t->type)->name, g4_type_get(dt)->name);
        for (uint32_t d = 0; d < t->n_dims; d++)
            printf(" %lld", (long long)t->ne[d]);
        printf("\n");
    }
    if (!rc && g4_gguf_writer_write_file(w, argv[2]) != 0)
        rc = 1;
    if (rc)
        fprintf(stderr, "g4-quantize: failed: %s\n", g4_gguf_writer_error(w));
    else
        printf("g4-quantize: %.1f MB -> %.1f MB (%s)\n", in_bytes / 1e6, out_bytes / 1e6, argv[3]);
    free(ctx);
    g4k_pool_free(pool);
    g4_gguf_writer_free(w);
    g4_gguf_close(in);
    return rc;
}
