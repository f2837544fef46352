/* The drafter's centroid-masked head (draft.c sparse_argmax, draft_load.c load_centroids) on
 * copies of the tiny unified assistant fixture with masked_embd_centroids / masked_embd_ordering
 * (and gemma4-assistant.centroid_top_k) added by the project's GGUF writer:
 *   - top_k = all clusters: every token is scored, so the proposals equal the full head's;
 *   - top_k = 1 with all-zero centroids (every score ties, the lowest cluster wins): every
 *     proposal lies in cluster 0 as the ordering lists it -- equal to the full head's proposals
 *     when cluster 0 holds them, never one of them when it holds none; top_k = 3: in clusters 0-2;
 *   - loading: no key -> top_k 32 (HF's default); a key of 0, of more than the centroids, a key
 *     without centroids, centroids that do not divide the vocabulary and an ordering that is not
 *     a permutation are G4_ERR_FORMAT with a message naming what is wrong. */
#include <stdint.h>
#include <unistd.h>

#include "t.h"
#include "draft/draft.h"
#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "model/model.h"

#define TARGET "tiny-gemma4-unified-bf16.gguf"
#define ASSIST "tiny-gemma4-unified-assistant-bf16.gguf"
#define N_VOCAB 262144
#define N_ROUNDS 6
#define K_DRAFT 4

static char g_dir[256];

static void fixture(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/gemma4/%s", t_fixtures(), name);
}

/* A copy of the assistant fixture plus a centroid head of n_c centroids (values cen, or 0 when
 * NULL), `ordering` (n_ord entries) and the top-k key (top_k < 0: none). n_c = 0: no tensors. */
static int write_variant(const char *path, int64_t n_c, const float *cen, const int32_t *ordering, int64_t n_ord,
                         int64_t top_k)
{
    char src[512], err[256];
    fixture(src, sizeof src, ASSIST);
    g4_gguf *g = g4_gguf_open(src, 0, err, sizeof err);
    if (!g)
        return -1;
    g4_gguf_writer *w = g4_gguf_writer_new();
    int rc = 0;
    int32_t d_a = 0;
    for (int64_t i = 0; i < g4_gguf_n_kv(g) && !rc; i++) {
        const g4_gguf_kv *kv = g4_gguf_kv_at(g, i);
        if (!g4_gguf_str_eq(kv->key, "general.alignment"))
            rc = g4_gguf_set_kv_from(w, kv);
    }
    uint32_t u;
    if (g4_gguf_get_u32(g, "gemma4-assistant.embedding_length", &u) == 0)
        d_a = (int32_t)u;
    if (!rc && top_k >= 0)
        rc = g4_gguf_set_u32(w, "gemma4-assistant.centroid_top_k", (uint32_t)top_k);
    for (int64_t i = 0; i < g4_gguf_n_tensors(g) && !rc; i++) {
        const g4_gguf_tensor *t = g4_gguf_tensor_at(g, i);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        rc = g4_gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne, t->data);
    }
    float *zeros = NULL;
    if (!rc && n_c > 0) {
        const int64_t ne_c[2] = {d_a, n_c}, ne_o[1] = {n_ord};
        if (!cen)
            cen = zeros = calloc((size_t)(d_a * n_c), sizeof(float));
        rc = g4_gguf_writer_add_tensor_copy(w, "masked_embd_centroids.weight", G4_TYPE_F32, 2, ne_c, cen) ||
             g4_gguf_writer_add_tensor_copy(w, "masked_embd_ordering", G4_TYPE_I32, 1, ne_o, ordering);
    }
    if (!rc)
        rc = g4_gguf_writer_write_file(w, path);
    if (rc)
        fprintf(stderr, "write_variant: %s\n", g4_gguf_writer_error(w));
    free(zeros);
    g4_gguf_writer_free(w);
    g4_gguf_close(g);
    return rc ? -1 : 0;
}

static g4_status load_with(const char *draft, g4_model **m)
{
    char target[512];
    fixture(target, sizeof target, TARGET);
    g4_load_params p;
    g4_load_params_init(&p);
    p.model = target;
    p.draft = draft;
    p.n_threads = 1;
    *m = NULL;
    return g4_load(&p, m);
}

/* N_ROUNDS drafting rounds of K_DRAFT proposals along a fixed token sequence: after a prompt,
 * each round drafts from the last token, then the target takes one more token. */
static int proposals(g4_model *m, int32_t out[N_ROUNDS][K_DRAFT])
{
    g4_session *s;
    if (g4_session_new(m, NULL, &s) != G4_OK)
        return -1;
    int32_t toks[16 + N_ROUNDS];
    for (int i = 0; i < 16 + N_ROUNDS; i++)
        toks[i] = 2 + (int32_t)((i * 7919u + 13u) % 5000u);
    g4_batch b;
    g4_batch_init(&b);
    b.n_tokens = 16;
    b.tokens = toks;
    int rc = g4_step(s, &b) != G4_OK;
    for (int r = 0; r < N_ROUNDS && !rc; r++) {
        int32_t n = 0;
        rc = g4_draft(s, toks[16 + r], K_DRAFT, out[r], &n) != G4_OK || n != K_DRAFT;
        b.n_tokens = 1;
        b.tokens = &toks[16 + r];
        rc = rc || g4_step(s, &b) != G4_OK;
    }
    if (rc)
        fprintf(stderr, "proposals: %s\n", g4_last_error());
    g4_session_free(s);
    return rc ? -1 : 0;
}

/* ordering: the ids in `first` (n_first, distinct) first, then every other id ascending */
static void make_ordering(int32_t *ord, const int32_t *first, int n_first)
{
    uint8_t *used = calloc(N_VOCAB, 1);
    int64_t j = 0;
    for (int i = 0; i < n_first; i++) {
        ord[j++] = first[i];
        used[first[i]] = 1;
    }
    for (int32_t t = 0; t < N_VOCAB; t++)
        if (!used[t])
            ord[j++] = t;
    free(used);
}

static int in_set(int32_t t, const int32_t *set, int n)
{
    for (int i = 0; i < n; i++)
        if (set[i] == t)
            return 1;
    return 0;
}

static void test_selection(const int32_t full[N_ROUNDS][K_DRAFT])
{
    char path[300];
    snprintf(path, sizeof path, "%s/assistant-centroids.gguf", g_dir);
    int32_t *ord = malloc(sizeof(int32_t) * N_VOCAB);
    int32_t got[N_ROUNDS][K_DRAFT];
    g4_model *m;

    /* every cluster selected: the full head's proposals, with pseudo-random centroids */
    const int64_t n_c = 2048, per = N_VOCAB / n_c, d_a = 16;
    float *cen = malloc(sizeof(float) * (size_t)(n_c * d_a));
    for (int64_t i = 0; i < n_c * d_a; i++)
        cen[i] = (float)((i * 2654435761u) % 1000u) / 500.0f - 1.0f;
    make_ordering(ord, NULL, 0);
    for (int64_t c = 0; c < n_c; c++) /* a scattered permutation: cluster c = ids c, c + n_c, ... */
        for (int64_t k = 0; k < per; k++)
            ord[c * per + k] = (int32_t)(c + k * n_c);
    CHECK(write_variant(path, n_c, cen, ord, N_VOCAB, n_c) == 0, "write all-clusters variant");
    CHECK(load_with(path, &m) == G4_OK, "%s", g4_last_error());
    if (m) {
        CHECK(m->draft->n_centroids == 2048 && m->draft->centroid_top_k == 2048, "C %d top_k %d",
              m->draft->n_centroids, m->draft->centroid_top_k);
        CHECK(proposals(m, got) == 0 && !memcmp(got, full, sizeof got),
              "top_k = all clusters: the sparse head proposes what the full head does");
        g4_model_free(m);
    }

    /* top_k 1, zero centroids: cluster 0 (the first `per` ids of the ordering) always wins */
    int32_t set[128];
    int n_set = 0;
    for (int r = 0; r < N_ROUNDS; r++)
        for (int k = 0; k < K_DRAFT; k++)
            if (!in_set(full[r][k], set, n_set))
                set[n_set++] = full[r][k];
    const int n_full = n_set;
    for (int32_t t = 100; n_set < (int)per; t++) /* fill cluster 0 with ids the full head did not propose */
        if (!in_set(t, set, n_set))
            set[n_set++] = t;
    make_ordering(ord, set, n_set);
    CHECK(write_variant(path, n_c, NULL, ord, N_VOCAB, 1) == 0, "write top-1 variant");
    CHECK(load_with(path, &m) == G4_OK, "%s", g4_last_error());
    if (m) {
        CHECK(m->draft->centroid_top_k == 1, "top_k %d", m->draft->centroid_top_k);
        CHECK(proposals(m, got) == 0 && !memcmp(got, full, sizeof got),
              "top_k 1, cluster 0 holds the full head's proposals: the same proposals");
        g4_model_free(m);
    }
    /* cluster 0 without any of them: every proposal from cluster 0, none of the full head's */
    int32_t other[128];
    int n_other = 0;
    for (int32_t t = 100; n_other < (int)per; t++)
        if (!in_set(t, set, n_full))
            other[n_other++] = t;
    make_ordering(ord, other, n_other);
    CHECK(write_variant(path, n_c, NULL, ord, N_VOCAB, 1) == 0, "write top-1 variant 2");
    CHECK(load_with(path, &m) == G4_OK, "%s", g4_last_error());
    if (m) {
        int bad = proposals(m, got) != 0;
        for (int r = 0; r < N_ROUNDS; r++)
            for (int k = 0; k < K_DRAFT; k++)
                bad += !in_set(got[r][k], other, n_other) || in_set(got[r][k], set, n_full);
        CHECK(bad == 0, "top_k 1: every proposal lies in cluster 0 and none is the full head's (%d bad)", bad);
        g4_model_free(m);
    }
    /* top_k 3: clusters 0..2 (the ordering's first 3 * per ids) */
    CHECK(write_variant(path, n_c, NULL, ord, N_VOCAB, 3) == 0, "write top-3 variant");
    CHECK(load_with(path, &m) == G4_OK, "%s", g4_last_error());
    if (m) {
        int bad = proposals(m, got) != 0;
        for (int r = 0; r < N_ROUNDS; r++)
            for (int k = 0; k < K_DRAFT; k++)
                bad += !in_set(got[r][k], ord, 3 * (int)per);
        CHECK(bad == 0, "top_k 3: every proposal lies in clusters 0-2 (%d bad)", bad);
        g4_model_free(m);
    }
    unlink(path);
    free(cen);
    free(ord);
}

static void test_loading(void)
{
    char path[300];
    snprintf(path, sizeof path, "%s/assistant-bad.gguf", g_dir);
    int32_t *ord = malloc(sizeof(int32_t) * N_VOCAB);
    make_ordering(ord, NULL, 0);
    g4_model *m;
    g4_status st;

    CHECK(write_variant(path, 2048, NULL, ord, N_VOCAB, -1) == 0, "write no-key variant");
    st = load_with(path, &m);
    CHECK(st == G4_OK && m && m->draft->centroid_top_k == 32, "no centroid_top_k key: HF's default 32 (%s)",
          g4_last_error());
    g4_model_free(m);
    CHECK(write_variant(path, 16, NULL, ord, N_VOCAB, -1) == 0, "write 16-centroid variant");
    st = load_with(path, &m);
    CHECK(st == G4_OK && m && m->draft->centroid_top_k == 16, "no key, 16 centroids: top_k 16 (%s)",
          g4_last_error());
    g4_model_free(m);

    const struct {
        int64_t n_c, top_k;
        const char *what;
    } bad[] = {
        {2048, 0, "centroid_top_k"},
        {2048, 2049, "centroid_top_k"},
        {0, 4, "without masked_embd_centroids"},
        {3, 1, "do not divide"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(write_variant(path, bad[i].n_c, NULL, ord, N_VOCAB, bad[i].top_k) == 0, "write bad variant %zu", i);
        st = load_with(path, &m);
        CHECK(st == G4_ERR_FORMAT && !m && strstr(g4_last_error(), bad[i].what),
              "C %lld top_k %lld: %s (%s)", (long long)bad[i].n_c, (long long)bad[i].top_k, g4_status_name(st),
              g4_last_error());
        g4_model_free(m);
    }
    ord[5] = ord[6]; /* a repeated id: not a permutation */
    CHECK(write_variant(path, 2048, NULL, ord, N_VOCAB, 8) == 0, "write bad ordering");
    st = load_with(path, &m);
    CHECK(st == G4_ERR_FORMAT && !m && strstr(g4_last_error(), "permutation"), "ordering with a repeat: %s (%s)",
          g4_status_name(st), g4_last_error());
    g4_model_free(m);
    unlink(path);
    free(ord);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/g4-test-centroids-XXXXXX");
    if (!mkdtemp(g_dir)) {
        CHECK(0, "mkdtemp");
        return T_DONE("test_draft_centroids");
    }
    char assist[512];
    fixture(assist, sizeof assist, ASSIST);
    g4_model *m;
    int32_t full[N_ROUNDS][K_DRAFT];
    CHECK(load_with(assist, &m) == G4_OK, "%s", g4_last_error());
    if (m) {
        CHECK(m->draft->n_centroids == 0, "the fixture's assistant has a full head");
        CHECK(proposals(m, full) == 0, "full-head proposals");
        g4_model_free(m);
        test_selection(full);
    }
    test_loading();
    rmdir(g_dir);
    return T_DONE("test_draft_centroids");
}
