/* Packed weights at the model level (plugin/model/weight_pack.c), on the embedded default
 * model (build/default/gemma4-tiny.gguf: Q8_0 layers and a tied Q8_0 head of 262144 rows, made
 * by `make all`):
 *   - where the active level has the packed kernels, every layer matrix and the head are
 *     packed; G4_PACK_LAYERS=0 / G4_PACK_HEAD=0 keep the GGUF layout, and so does a copy read
 *     into memory (G4_LOAD_NO_MMAP: its pages cannot be given back, a packed copy would double
 *     the weights);
 *   - a prompt (prefill's GEMM over rows rebuilt from the packed layers) gives bit for bit the
 *     logits of the same model with unpacked layers;
 *   - where the active level has the packed kernel, the head is packed, and the memory estimate
 *     counts the packed copy (tied head: its whole size) against the same model loaded with
 *     G4_PACK_HEAD=0;
 *   - embedding rows still read right after the mapped head's pages were given back (the
 *     rows of a copy read into memory with G4_LOAD_NO_MMAP, byte for byte);
 *   - the logits of a batch of 2..8 positions are bit for bit those of single-token steps
 *     (what makes drafted greedy output equal plain greedy output), and within the activation
 *     quantization's tolerance of the unpacked head's;
 *   - greedy generation with the drafter equals plain greedy generation. */
#include <math.h>

#include "t.h"
#include "model/model.h"

static char g_model[512], g_draft[512];

static g4_model *load(const char *draft, uint32_t flags)
{
    g4_load_params p;
    g4_load_params_init(&p);
    p.model = g_model;
    p.draft = draft;
    p.n_threads = 2;
    p.flags = flags;
    g4_model *m = NULL;
    if (g4_load(&p, &m) != G4_OK)
        fprintf(stderr, "load %s: %s\n", g_model, g4_last_error());
    return m;
}

/* logits[n][V] of tokens t[0..n) (n <= 16) stepped as one batch at the session's position */
static int step_logits(g4_session *s, const int32_t *t, int32_t n, float *out, int32_t V)
{
    uint8_t want[16];
    if (n > 16)
        return -1;
    for (int32_t i = 0; i < n; i++)
        want[i] = G4_OUT_LOGITS;
    g4_batch b;
    g4_batch_init(&b);
    b.n_tokens = n;
    b.tokens = t;
    b.want = want;
    if (g4_step(s, &b) != G4_OK)
        return -1;
    for (int32_t i = 0; i < n; i++)
        memcpy(out + (size_t)i * V, g4_logits(s, i), sizeof(float) * (size_t)V);
    return 0;
}

static int32_t g_out[64], g_n;
static int32_t G4_CALL collect(void *u, int32_t tok)
{
    (void)u;
    if (g_n < 64)
        g_out[g_n++] = tok;
    return 1;
}

static int generate(g4_model *m, int32_t n_draft, int32_t *out)
{
    g4_session *s = NULL;
    if (g4_session_new(m, NULL, &s) != G4_OK)
        return -1;
    const int32_t prompt[] = {2, 105, 2364, 107, 9259, 236764, 1217, 659, 611, 236881, 106, 107, 105, 4368, 107};
    g4_batch b;
    g4_batch_init(&b);
    b.n_tokens = (int32_t)(sizeof prompt / sizeof prompt[0]);
    b.tokens = prompt;
    g4_generate_params gp;
    g4_generate_params_init(&gp);
    gp.max_tokens = 40;
    gp.n_draft = n_draft;
    gp.stop_at_eog = 0;
    gp.on_token = collect;
    g_n = 0;
    int rc = g4_step(s, &b) == G4_OK && g4_generate(s, &gp, NULL) == G4_OK ? 0 : -1;
    memcpy(out, g_out, sizeof g_out);
    g4_session_free(s);
    return rc ? -1 : g_n;
}

int main(int argc, char **argv)
{
    /* the build directory this binary is in (BUILD/tests/test_weight_pack): its default/ models */
    char build[400] = "build";
    const char *slash = argc > 0 ? strstr(argv[0], "/tests/test_weight_pack") : NULL;
    if (slash && slash - argv[0] < (long)sizeof build)
        snprintf(build, sizeof build, "%.*s", (int)(slash - argv[0]), argv[0]);
    snprintf(g_model, sizeof g_model, "%s/default/gemma4-tiny.gguf", build);
    snprintf(g_draft, sizeof g_draft, "%s/default/gemma4-tiny-assistant.gguf", build);
    char err[160];
    if (g4k_init(err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const int has_kernel = g4k_active_isa() == G4K_ISA_AVX512 || g4k_active_isa() == G4K_ISA_SCALAR;

    setenv("G4_PACK_HEAD", "0", 1);
    setenv("G4_PACK_LAYERS", "0", 1);
    g4_model *plain = load(NULL, 0);
    unsetenv("G4_PACK_HEAD");
    g4_model *head_only = load(NULL, 0);
    unsetenv("G4_PACK_LAYERS");
    g4_model *m = load(g_draft, 0);
    g4_model *copy = load(NULL, G4_LOAD_NO_MMAP);
    CHECK(plain && head_only && m && copy, "the default model loads (run `make all` first)");
    if (!plain || !head_only || !m || !copy)
        return T_DONE("test_weight_pack");
    CHECK(plain->lm_head_packed == NULL, "G4_PACK_HEAD=0: not packed");
    CHECK((m->lm_head_packed != NULL) == has_kernel, "packed iff the level (%s) has the kernel",
          g4k_isa_name(g4k_active_isa()));
    int n_mat = 0, n_packed[3] = {0, 0, 0};
    for (int32_t l = 0; l < m->hp.n_layer; l++) {
        const g4_model *ms[3] = {m, head_only, copy};
        for (int k = 0; k < 3; k++) {
            const g4_layer *L = &ms[k]->layers[l];
            const g4k_matrix *all[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_gate, &L->ffn_up, &L->ffn_down};
            for (int i = 0; i < 7; i++) {
                n_mat += k == 0 && all[i]->data;
                n_packed[k] += all[i]->packed != NULL;
            }
        }
    }
    CHECK(n_mat > 0 && n_packed[0] == (has_kernel ? n_mat : 0), "%d of %d layer matrices packed", n_packed[0], n_mat);
    CHECK(n_packed[1] == 0, "G4_PACK_LAYERS=0: no layer matrix packed (%d)", n_packed[1]);
    CHECK(n_packed[2] == 0, "G4_LOAD_NO_MMAP: no layer matrix packed (%d)", n_packed[2]);
    if (!m->lm_head_packed) {
        g4_model_free(plain), g4_model_free(head_only), g4_model_free(m), g4_model_free(copy);
        return T_DONE("test_weight_pack");
    }
    CHECK(m->lm_head.data == m->tok_embd.data, "the default model's head is tied");

    /* memory accounting: the tied head's packed copy is counted in full */
    g4_model_info a = {.struct_size = sizeof a}, b = {.struct_size = sizeof b};
    CHECK(g4_model_get_info(m, &a) == G4_OK && g4_model_get_info(plain, &b) == G4_OK, "info");
    CHECK(m->head_extra_bytes == (int64_t)g4k_packed_bytes(m->lm_head_packed) &&
              a.mem_estimate == b.mem_estimate + (uint64_t)m->head_extra_bytes,
          "memory estimate %llu = %llu + packed %lld", (unsigned long long)a.mem_estimate,
          (unsigned long long)b.mem_estimate, (long long)m->head_extra_bytes);
    CHECK(g4k_packed_bytes(m->lm_head_packed) >= (size_t)m->lm_head.n_rows * m->lm_head.row_bytes,
          "packed copy holds every row");

    /* embedding rows after the head's pages were released: byte-identical to a read copy */
    const int64_t V = m->hp.n_vocab;
    int bad = 0;
    for (int64_t r = 0; r < V; r += 4099)
        bad += memcmp((const uint8_t *)m->tok_embd.data + r * m->tok_embd.row_bytes,
                      (const uint8_t *)copy->tok_embd.data + r * copy->tok_embd.row_bytes, m->tok_embd.row_bytes) != 0;
    CHECK(bad == 0, "%d embedding rows differ from the in-memory copy after the release", bad);

    /* a prompt of 15 positions (the GEMM) over the packed layers: the unpacked layers' logits */
    {
        const int32_t prompt[15] = {2, 105, 2364, 107, 9259, 236764, 1217, 659, 611, 236881, 106, 107, 105, 4368, 107};
        const int64_t Vp = m->hp.n_vocab;
        float *lp = malloc(sizeof(float) * (size_t)(15 * Vp)), *lu = malloc(sizeof(float) * (size_t)(15 * Vp));
        g4_session *sp = NULL, *su = NULL;
        g4_session_new(m, NULL, &sp);
        g4_session_new(head_only, NULL, &su);
        const int okp = sp && su && step_logits(sp, prompt, 15, lp, (int32_t)Vp) == 0 &&
                        step_logits(su, prompt, 15, lu, (int32_t)Vp) == 0;
        /* every position's logits: 15 head rows also take the GEMM over the rebuilt head rows */
        CHECK(okp && memcmp(lp, lu, sizeof(float) * (size_t)(15 * Vp)) == 0,
              "a 15-token prompt on packed layers: logits bit for bit the unpacked layers'");
        g4_session_free(sp), g4_session_free(su);
        free(lp), free(lu);
    }

    /* batch invariance through g4_step, and the packed weights against the GGUF layout's */
    const int32_t toks[8] = {2, 105, 2364, 107, 9259, 236764, 1217, 659};
    float *single = malloc(sizeof(float) * (size_t)(8 * V)), *batch = malloc(sizeof(float) * (size_t)(8 * V));
    float *ref = malloc(sizeof(float) * (size_t)(8 * V));
    g4_session *s1 = NULL, *s2 = NULL, *s3 = NULL;
    g4_session_new(m, NULL, &s1);
    g4_session_new(plain, NULL, &s3);
    int ok = s1 && s3;
    for (int32_t i = 0; ok && i < 8; i++)
        ok = step_logits(s1, toks + i, 1, single + (size_t)i * V, (int32_t)V) == 0 &&
             step_logits(s3, toks + i, 1, ref + (size_t)i * V, (int32_t)V) == 0;
    CHECK(ok, "single steps");
    for (int32_t n = 2; ok && n <= 8; n++) {
        /* positions 8 - n .. 7 as one batch after the prefix stepped alone */
        g4_session_new(m, NULL, &s2);
        ok = s2 && (8 - n == 0 || step_logits(s2, toks, 8 - n, batch, (int32_t)V) == 0) &&
             step_logits(s2, toks + 8 - n, n, batch, (int32_t)V) == 0;
        CHECK(ok && memcmp(batch, single + (size_t)(8 - n) * V, sizeof(float) * (size_t)(n * V)) == 0,
              "a batch of %d positions: logits bit for bit those of single steps", n);
        g4_session_free(s2);
    }
    /* packed vs GGUF layout: the same activation quantization, f32 rounding apart (the logits
     * are softcapped, |x| < 30; 1e-3 absolute is ~100x the observed difference) */
    double worst = 0;
    for (int64_t i = 0; i < 8 * V; i++)
        worst = fmax(worst, fabs((double)single[i] - ref[i]));
    CHECK(worst < 1e-3, "packed vs GGUF-layout logits: max |diff| %g", worst);
    g4_session_free(s1), g4_session_free(s3);
    free(single), free(batch), free(ref);

    /* drafted greedy == plain greedy with the packed head and layers */
    int32_t p0[64], p1[64], p2[64];
    const int n0 = generate(m, 0, p0), n1 = generate(m, 4, p1), n2 = generate(m, -1, p2);
    CHECK(n0 == 40 && n1 == n0 && n2 == n0 && !memcmp(p0, p1, sizeof(int32_t) * 40) &&
              !memcmp(p0, p2, sizeof(int32_t) * 40),
          "drafted (k=4, adaptive) greedy output equals plain greedy output (%d %d %d tokens)", n0, n1, n2);

    g4_model_free(plain), g4_model_free(head_only), g4_model_free(m), g4_model_free(copy);
    return T_DONE("test_weight_pack");
}
