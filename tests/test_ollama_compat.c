/* Ollama store compatibility, end to end through g4_load("gemma4:NAME"):
 *
 * 1. A monolithic MoE blob in Ollama's own layout (hosts-and-packaging.md §0.2, §2d):
 *    tokenizer.ggml.model = "llama", experts split into ffn_gate_exps + ffn_up_exps, and the
 *    per-expert scale stored as blk.N.ffn_gate_inp.per_expert_scale. It must load from a fake
 *    store laid out like Ollama's and give the same tokens and logits as the upstream file.
 * 2. A single blob carrying the projector inline (v.* / mm.* tensors and clip.* keys, no
 *    projector layer): the model must report vision/audio and embed exactly like the separate
 *    mmproj file does. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "g4plug.h"
#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "t.h"

static char g_root[256];

static void sha256_of(const char *path, char hex[65])
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
    FILE *p = popen(cmd, "r");
    hex[0] = 0;
    if (p) {
        if (fscanf(p, "%64s", hex) != 1)
            hex[0] = 0;
        pclose(p);
    }
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void mkdirs(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "mkdir failed: %s\n", path);
}

/* Moves `blob` into the store as sha256-<hex> and writes manifests/.../gemma4/<tag>. */
static int publish(const char *blob, const char *tag)
{
    char hex[65], dst[700], dir[512], man[700];
    sha256_of(blob, hex);
    if (strlen(hex) != 64)
        return -1;
    long size = file_size(blob);
    snprintf(dir, sizeof dir, "%s/blobs", g_root);
    mkdirs(dir);
    snprintf(dst, sizeof dst, "%s/sha256-%s", dir, hex);
    if (rename(blob, dst) != 0)
        return -1;
    snprintf(dir, sizeof dir, "%s/manifests/registry.ollama.ai/library/gemma4", g_root);
    mkdirs(dir);
    snprintf(man, sizeof man, "%s/%s", dir, tag);
    FILE *f = fopen(man, "w");
    if (!f)
        return -1;
    /* The config layer's blob is not needed to load; a real store has it, so write one. */
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/blobs/sha256-%064d", g_root, 0);
    FILE *c = fopen(cfg, "w");
    if (c) {
        fputs("{}", c);
        fclose(c);
    }
    fprintf(f,
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
            "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\","
            "\"digest\":\"sha256:%064d\",\"size\":2},"
            "\"layers\":[{\"mediaType\":\"application/vnd.ollama.image.model\",\"digest\":\"sha256:%s\","
            "\"size\":%ld}]}",
            0, hex, size);
    fclose(f);
    return 0;
}

/* Copies every kv of `g` (with overrides applied by the caller afterwards). */
static void copy_kvs(g4_gguf_writer *w, const g4_gguf *g)
{
    for (int64_t i = 0; i < g4_gguf_n_kv(g); i++) {
        const g4_gguf_kv *kv = g4_gguf_kv_at(g, i);
        if (g4_gguf_str_eq(kv->key, "general.alignment"))
            continue;
        g4_gguf_set_kv_from(w, kv);
    }
}

static int add_same(g4_gguf_writer *w, const g4_gguf_tensor *t, const char *name)
{
    char nm[128];
    snprintf(nm, sizeof nm, "%.*s", (int)t->name.len, t->name.ptr);
    return g4_gguf_writer_add_tensor(w, name ? name : nm, t->type, t->n_dims, t->ne, t->data);
}

/* The MoE fixture rewritten the way Ollama publishes Gemma 4. */
static int write_ollama_moe(const char *src, const char *out, void **keep, size_t *n_keep)
{
    char err[256];
    g4_gguf *g = g4_gguf_open(src, 0, err, sizeof err);
    if (!g)
        return -1;
    g4_gguf_writer *w = g4_gguf_writer_new();
    copy_kvs(w, g);
    g4_gguf_set_str(w, "tokenizer.ggml.model", "llama");
    int rc = 0;
    for (int64_t i = 0; i < g4_gguf_n_tensors(g) && !rc; i++) {
        const g4_gguf_tensor *t = g4_gguf_tensor_at(g, i);
        char nm[128];
        int layer;
        snprintf(nm, sizeof nm, "%.*s", (int)t->name.len, t->name.ptr);
        if (sscanf(nm, "blk.%d.", &layer) == 1 && strstr(nm, ".ffn_gate_up_exps.weight")) {
            /* [d, 2*fe, E], gate rows first within each expert -> two [d, fe, E] tensors. */
            int64_t rows2 = t->ne[1], E = t->ne[2], fe = rows2 / 2;
            size_t row_bytes = t->nbytes / (size_t)(rows2 * E);
            size_t half = (size_t)fe * row_bytes;
            char *gate = malloc(half * (size_t)E), *up = malloc(half * (size_t)E);
            for (int64_t e = 0; e < E; e++) {
                const char *base = (const char *)t->data + (size_t)e * 2 * half;
                memcpy(gate + (size_t)e * half, base, half);
                memcpy(up + (size_t)e * half, base + half, half);
            }
            keep[(*n_keep)++] = gate;
            keep[(*n_keep)++] = up;
            int64_t ne[3] = {t->ne[0], fe, E};
            char a[128], b[128];
            snprintf(a, sizeof a, "blk.%d.ffn_gate_exps.weight", layer);
            snprintf(b, sizeof b, "blk.%d.ffn_up_exps.weight", layer);
            rc |= g4_gguf_writer_add_tensor(w, a, t->type, 3, ne, gate);
            rc |= g4_gguf_writer_add_tensor(w, b, t->type, 3, ne, up);
        } else if (sscanf(nm, "blk.%d.", &layer) == 1 && strstr(nm, ".ffn_down_exps.scale")) {
            char a[128];
            snprintf(a, sizeof a, "blk.%d.ffn_gate_inp.per_expert_scale", layer);
            rc |= add_same(w, t, a);
        } else {
            rc |= add_same(w, t, NULL);
        }
    }
    if (!rc)
        rc = g4_gguf_writer_write_file(w, out);
    if (rc)
        fprintf(stderr, "writer: %s\n", g4_gguf_writer_error(w));
    g4_gguf_writer_free(w);
    g4_gguf_close(g);
    return rc;
}

/* Model + projector in one file: every tensor of both, the model's keys plus the projector's
 * clip.* keys. */
static int write_monolithic(const char *model, const char *mmproj, const char *out)
{
    char err[256];
    g4_gguf *gm = g4_gguf_open(model, 0, err, sizeof err), *gp = g4_gguf_open(mmproj, 0, err, sizeof err);
    if (!gm || !gp)
        return -1;
    g4_gguf_writer *w = g4_gguf_writer_new();
    copy_kvs(w, gm);
    for (int64_t i = 0; i < g4_gguf_n_kv(gp); i++) {
        const g4_gguf_kv *kv = g4_gguf_kv_at(gp, i);
        if (kv->key.len > 5 && memcmp(kv->key.ptr, "clip.", 5) == 0)
            g4_gguf_set_kv_from(w, kv);
    }
    int rc = 0;
    for (int64_t i = 0; i < g4_gguf_n_tensors(gm) && !rc; i++)
        rc |= add_same(w, g4_gguf_tensor_at(gm, i), NULL);
    for (int64_t i = 0; i < g4_gguf_n_tensors(gp) && !rc; i++)
        rc |= add_same(w, g4_gguf_tensor_at(gp, i), NULL);
    if (!rc)
        rc = g4_gguf_writer_write_file(w, out);
    g4_gguf_writer_free(w);
    g4_gguf_close(gm);
    g4_gguf_close(gp);
    return rc;
}

static g4_model *load(const char *model, const char *mmproj)
{
    g4_load_params p;
    g4_model *m = NULL;
    g4_load_params_init(&p);
    p.model = model;
    p.mmproj = mmproj;
    p.n_threads = 2;
    if (g4_load(&p, &m) != G4_OK) {
        fprintf(stderr, "load %s: %s\n", model, g4_last_error());
        return NULL;
    }
    return m;
}

/* Logits at every position of a short chat prompt. */
static float *run(g4_model *m, int32_t *ids, size_t n)
{
    g4_session *s = NULL;
    if (g4_session_new(m, NULL, &s) != G4_OK)
        return NULL;
    uint8_t want[64];
    memset(want, G4_OUT_LOGITS, sizeof want);
    g4_batch b;
    g4_batch_init(&b);
    b.n_tokens = (int32_t)n;
    b.tokens = ids;
    b.want = want;
    int32_t V = g4_vocab_size(m);
    float *out = NULL;
    if (g4_step(s, &b) == G4_OK) {
        out = malloc(sizeof(float) * (size_t)V * n);
        for (size_t i = 0; i < n; i++)
            memcpy(out + i * (size_t)V, g4_logits(s, (int32_t)i), sizeof(float) * (size_t)V);
    }
    g4_session_free(s);
    return out;
}

int main(void)
{
    char src[512], mm[512], blob[512], img[512];
    const char *fx = t_fixtures();
    snprintf(src, sizeof src, "%s/gemma4/tiny-gemma4-moe-bf16.gguf", fx);
    if (access(src, R_OK) != 0) {
        printf("test_ollama_compat: fixtures not found at %s (set G4_FIXTURES)\n", fx);
        return T_DONE("test_ollama_compat");
    }
    snprintf(g_root, sizeof g_root, "/tmp/g4-ollama-XXXXXX");
    if (!mkdtemp(g_root))
        return 1;
    setenv("OLLAMA_MODELS", g_root, 1);

    /* 1. Monolithic MoE in Ollama's layout. */
    void *keep[64];
    size_t n_keep = 0;
    snprintf(blob, sizeof blob, "%s/moe.tmp", g_root);
    CHECK(write_ollama_moe(src, blob, keep, &n_keep) == 0, "could not write the Ollama-style blob");
    CHECK(publish(blob, "tiny-moe") == 0, "could not publish the blob");
    g4_model *ref = load(src, NULL), *oll = load("gemma4:tiny-moe", NULL);
    CHECK(ref && oll, "loading failed: %s", g4_last_error());
    if (ref && oll) {
        const char *chat = "<bos><|turn>user\nWhat is a mixture of experts?<turn|>\n<|turn>model\n";
        int32_t a[64], b2[64];
        size_t na = 0, nb = 0;
        CHECK(g4_tokenize(ref, chat, strlen(chat), G4_TOKENIZE_PARSE_SPECIAL, a, 64, &na) == G4_OK, "tokenize");
        CHECK(g4_tokenize(oll, chat, strlen(chat), G4_TOKENIZE_PARSE_SPECIAL, b2, 64, &nb) == G4_OK, "tokenize");
        CHECK(na == nb && na > 3 && memcmp(a, b2, na * sizeof *a) == 0,
              "the \"llama\"-labelled vocabulary tokenizes differently (%zu vs %zu ids)", na, nb);
        CHECK(na > 2 && a[1] == 105, "<|turn> was not a single control token (got %d)", (int)a[1]);
        float *la = run(ref, a, na), *lb = run(oll, a, na);
        CHECK(la && lb, "step failed: %s", g4_last_error());
        if (la && lb) {
            double worst = 0;
            size_t total = na * (size_t)g4_vocab_size(ref);
            for (size_t i = 0; i < total; i++)
                worst = fmax(worst, fabs((double)la[i] - lb[i]));
            CHECK(worst <= 1e-5, "split experts / renamed scale change the logits by %g", worst);
        }
        free(la);
        free(lb);
    }
    g4_model_free(ref);
    g4_model_free(oll);
    for (size_t i = 0; i < n_keep; i++)
        free(keep[i]);

    /* 2. Projector inside the model blob. */
    snprintf(src, sizeof src, "%s/gemma4/tiny-gemma4-unified-bf16.gguf", fx);
    snprintf(mm, sizeof mm, "%s/gemma4/mmproj-tiny-gemma4-unified-f32.gguf", fx);
    snprintf(img, sizeof img, "%s/gemma4/image_fit.png", fx);
    snprintf(blob, sizeof blob, "%s/uni.tmp", g_root);
    CHECK(write_monolithic(src, mm, blob) == 0, "could not write the single-blob model");
    CHECK(publish(blob, "tiny-unified") == 0, "could not publish the blob");
    ref = load(src, mm);
    oll = load("gemma4:tiny-unified", NULL);
    CHECK(ref && oll, "loading failed: %s", g4_last_error());
    if (ref && oll) {
        g4_model_info ia, ib;
        memset(&ia, 0, sizeof ia);
        memset(&ib, 0, sizeof ib);
        ia.struct_size = ib.struct_size = sizeof ia;
        g4_model_get_info(ref, &ia);
        g4_model_get_info(oll, &ib);
        CHECK(ib.capabilities == ia.capabilities && (ib.capabilities & G4_MODEL_HAS_VISION) &&
                  (ib.capabilities & G4_MODEL_HAS_AUDIO),
              "capabilities %u vs %u", ib.capabilities, ia.capabilities);
        FILE *f = fopen(img, "rb");
        static unsigned char bytes[4 << 20];
        size_t nbytes = f ? fread(bytes, 1, sizeof bytes, f) : 0;
        if (f)
            fclose(f);
        size_t nta = 0, ntb = 0;
        g4_embed_image_file(ref, bytes, nbytes, NULL, NULL, 0, &nta);
        g4_embed_image_file(oll, bytes, nbytes, NULL, NULL, 0, &ntb);
        CHECK(nta == 280 && ntb == nta, "soft tokens %zu vs %zu", ntb, nta);
        if (nta == 280 && ntb == nta) {
            size_t cap = nta * (size_t)ia.n_embd;
            float *ea = malloc(cap * sizeof(float)), *eb = malloc(cap * sizeof(float));
            CHECK(g4_embed_image_file(ref, bytes, nbytes, NULL, ea, cap, &nta) == G4_OK &&
                      g4_embed_image_file(oll, bytes, nbytes, NULL, eb, cap, &ntb) == G4_OK,
                  "embed: %s", g4_last_error());
            CHECK(memcmp(ea, eb, cap * sizeof(float)) == 0, "inline projector embeds differently");
            free(ea);
            free(eb);
        }
    }
    g4_model_free(ref);
    g4_model_free(oll);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", g_root);
    return T_DONE("test_ollama_compat");
}
