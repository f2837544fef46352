/* mmproj loading: projector-type dispatch, shape checks, weights used in place from the mapping.
 * Layout of the 12B Unified projector: gemma4-12b-unified.md §8.2, gemma4-architecture.md §9.3. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define G4_MMPROJ_PRIVATE
#include "internal.h"
#include "mmproj.h"

static void *errf(char *err, size_t errlen, const char *fmt, ...) G4_PRINTF(3, 4);
static void *errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return NULL;
}

/* Projector type of one modality: clip.<m>.projector_type, else the legacy clip.projector_type. */
static int get_ptype(const g4_gguf *g, const char *modality, char *buf, size_t cap)
{
    char key[64];
    g4_gguf_str s;
    snprintf(key, sizeof key, "clip.%s.projector_type", modality);
    if (g4_gguf_get_str(g, key, &s) != 0 && g4_gguf_get_str(g, "clip.projector_type", &s) != 0)
        return -1;
    size_t n = s.len < cap - 1 ? (size_t)s.len : cap - 1;
    memcpy(buf, s.ptr, n);
    buf[n] = '\0';
    return 0;
}

static int get_flag(const g4_gguf *g, const char *key)
{
    int v = 0;
    return g4_gguf_get_bool(g, key, &v) == 0 && v;
}

/* Tensor with exactly the given dims (-1 = any); NULL + message otherwise. */
static const g4_gguf_tensor *need(const g4_gguf *g, const char *name, int64_t ne0, int64_t ne1,
                                  int64_t ne2, char *err, size_t errlen)
{
    const g4_gguf_tensor *t = g4_gguf_find_tensor(g, name);
    if (!t)
        return errf(err, errlen, "mmproj: missing tensor %s", name);
    int64_t want[3] = {ne0, ne1, ne2};
    for (int i = 0; i < 3; i++)
        if (want[i] >= 0 && t->ne[i] != want[i])
            return errf(err, errlen,
                        "mmproj: tensor %s has shape [%lld, %lld, %lld], expected [%lld, %lld, %lld]",
                        name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                        (long long)ne0, (long long)ne1, (long long)ne2);
    if (t->ne[3] != 1)
        return errf(err, errlen, "mmproj: tensor %s has an unexpected 4th dimension", name);
    return t;
}

/* An f32 view of a small tensor: in place when stored as F32, else a converted copy. */
static const float *f32_view(g4_mmproj *p, const g4_gguf_tensor *t, char *err, size_t errlen)
{
    int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    if (t->type == G4_TYPE_F32)
        return (const float *)t->data;
    if (p->n_owned >= (int)(sizeof p->owned / sizeof p->owned[0]))
        return errf(err, errlen, "mmproj: internal: too many converted tensors");
    float *buf = malloc(sizeof(float) * (size_t)n);
    if (!buf)
        return errf(err, errlen, "mmproj: out of memory converting %.*s", (int)t->name.len,
                    t->name.ptr);
    if (g4k_dequantize(t->type, t->data, buf, n) != 0) {
        free(buf);
        return errf(err, errlen, "mmproj: tensor %.*s has unsupported type %u", (int)t->name.len,
                    t->name.ptr, (unsigned)t->type);
    }
    p->owned[p->n_owned++] = buf;
    return buf;
}

static int as_matrix(g4k_matrix *m, const g4_gguf_tensor *t, char *err, size_t errlen)
{
    if (!g4k_type_supported(t->type)) {
        errf(err, errlen, "mmproj: tensor %.*s has type %u, which the matmul kernels do not support",
             (int)t->name.len, t->name.ptr, (unsigned)t->type);
        return -1;
    }
    m->data = t->data;
    m->type = t->type;
    m->n_cols = t->ne[0];
    m->n_rows = t->ne[1];
    m->row_bytes = g4_type_row_bytes(t->type, t->ne[0]);
    if (m->row_bytes == 0) {
        errf(err, errlen, "mmproj: tensor %.*s: row of %lld is not whole blocks", (int)t->name.len,
             t->name.ptr, (long long)t->ne[0]);
        return -1;
    }
    return 0;
}

static int load_vision(g4_mmproj *p, const g4_gguf *g, char *err, size_t errlen)
{
    uint32_t patch = 16;
    g4_gguf_get_u32(g, "clip.vision.patch_size", &patch);
    if (patch != 16) /* the HF budget rule and the tiling are built on 48 = 16 x 3 */
        return errf(err, errlen, "mmproj: gemma4uv with clip.vision.patch_size %u (expected 16)",
                    patch), -1;
    p->v_tile = (int)patch * 3; /* the unified embedder's 3x3 merge is folded into the tile */
    p->v_tile_len = 3 * p->v_tile * p->v_tile;
    p->v_ln_eps = 1e-5f; /* the three LayerNorms are torch defaults (spec §8.2) */
    p->v_rms_eps = 1e-6f;
    g4_gguf_get_f32(g, "clip.vision.attention.layer_norm_epsilon", &p->v_rms_eps);

    const g4_gguf_tensor *dense = need(g, "v.patch_embd.weight", p->v_tile_len, -1, 1, err, errlen);
    if (!dense)
        return -1;
    int64_t d = dense->ne[1];
    if (d <= 0 || d > 65536)
        return errf(err, errlen, "mmproj: v.patch_embd.weight width %lld", (long long)d), -1;
    p->v_dim = (int)d;
    uint32_t emb = 0;
    if (g4_gguf_get_u32(g, "clip.vision.embedding_length", &emb) == 0 && (int64_t)emb != d)
        return errf(err, errlen,
                    "mmproj: clip.vision.embedding_length %u disagrees with v.patch_embd.weight (%lld)",
                    emb, (long long)d), -1;
    const g4_gguf_tensor *t_db = need(g, "v.patch_embd.bias", d, 1, 1, err, errlen);
    const g4_gguf_tensor *t_l1w = t_db ? need(g, "v.patch_norm.1.weight", p->v_tile_len, 1, 1, err, errlen) : NULL;
    const g4_gguf_tensor *t_l1b = t_l1w ? need(g, "v.patch_norm.1.bias", p->v_tile_len, 1, 1, err, errlen) : NULL;
    const g4_gguf_tensor *t_l2w = t_l1b ? need(g, "v.patch_norm.2.weight", d, 1, 1, err, errlen) : NULL;
    const g4_gguf_tensor *t_l2b = t_l2w ? need(g, "v.patch_norm.2.bias", d, 1, 1, err, errlen) : NULL;
    const g4_gguf_tensor *t_l3w = t_l2b ? need(g, "v.patch_norm.3.weight", d, 1, 1, err, errlen) : NULL;
    const g4_gguf_tensor *t_l3b = t_l3w ? need(g, "v.patch_norm.3.bias", d, 1, 1, err, errlen) : NULL;
    const g4_gguf_tensor *t_pos = t_l3b ? need(g, "v.position_embd.weight", d, -1, 2, err, errlen) : NULL;
    const g4_gguf_tensor *t_prj = t_pos ? need(g, "mm.input_projection.weight", d, p->n_embd, 1, err, errlen) : NULL;
    if (!t_prj)
        return -1;
    if (t_pos->ne[1] <= 0 || t_pos->ne[1] > (1 << 20))
        return errf(err, errlen, "mmproj: v.position_embd.weight has %lld positions",
                    (long long)t_pos->ne[1]), -1;
    p->v_n_pos = (int)t_pos->ne[1];
    if (!(p->dense_b = f32_view(p, t_db, err, errlen)) ||
        !(p->ln1_w = f32_view(p, t_l1w, err, errlen)) ||
        !(p->ln1_b = f32_view(p, t_l1b, err, errlen)) ||
        !(p->ln2_w = f32_view(p, t_l2w, err, errlen)) ||
        !(p->ln2_b = f32_view(p, t_l2b, err, errlen)) ||
        !(p->ln3_w = f32_view(p, t_l3w, err, errlen)) ||
        !(p->ln3_b = f32_view(p, t_l3b, err, errlen)) ||
        !(p->pos = f32_view(p, t_pos, err, errlen)))
        return -1;
    if (as_matrix(&p->dense, dense, err, errlen) || as_matrix(&p->vproj, t_prj, err, errlen))
        return -1;
    p->has_vision = 1;
    return 0;
}

static int load_audio(g4_mmproj *p, const g4_gguf *g, char *err, size_t errlen)
{
    const g4_gguf_tensor *t = need(g, "mm.a.input_projection.weight", -1, p->n_embd, 1, err, errlen);
    if (!t)
        return -1;
    /* clip.audio.embedding_length says 640; num_mel_bins is stale (llama.cpp ignores it too). */
    if (t->ne[0] <= 0 || t->ne[0] > 65536)
        return errf(err, errlen, "mmproj: audio frame size %lld", (long long)t->ne[0]), -1;
    p->a_frame = (int)t->ne[0];
    uint32_t emb = 0;
    if (g4_gguf_get_u32(g, "clip.audio.embedding_length", &emb) == 0 && (int64_t)emb != t->ne[0])
        return errf(err, errlen,
                    "mmproj: clip.audio.embedding_length %u disagrees with "
                    "mm.a.input_projection.weight (%lld)",
                    emb, (long long)t->ne[0]), -1;
    p->a_rms_eps = 1e-6f;
    g4_gguf_get_f32(g, "clip.audio.attention.layer_norm_epsilon", &p->a_rms_eps);
    if (as_matrix(&p->aproj, t, err, errlen))
        return -1;
    p->has_audio = 1;
    return 0;
}

g4_mmproj *g4_mmproj_load(const g4_gguf *g, int n_embd_text, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!g)
        return errf(err, errlen, "mmproj: no file");
    int want_v = get_flag(g, "clip.has_vision_encoder");
    int want_a = get_flag(g, "clip.has_audio_encoder");
    if (!want_v && !want_a)
        return errf(err, errlen, "mmproj: the file declares neither a vision nor an audio projector "
                                 "(clip.has_vision_encoder / clip.has_audio_encoder)");
    char vt[64] = "", at[64] = "";
    if (want_v && get_ptype(g, "vision", vt, sizeof vt))
        return errf(err, errlen, "mmproj: clip.vision.projector_type is missing");
    if (want_a && get_ptype(g, "audio", at, sizeof at))
        return errf(err, errlen, "mmproj: clip.audio.projector_type is missing");
    if (want_v && strcmp(vt, "gemma4v") == 0)
        return errf(err, errlen, "mmproj: vision projector 'gemma4v' (the E2B/E4B/26B/31B vision "
                                 "tower) is not supported yet");
    if (want_v && strcmp(vt, "gemma4uv") != 0)
        return errf(err, errlen, "mmproj: unsupported vision projector type '%s'", vt);
    if (want_a && strcmp(at, "gemma4a") == 0)
        return errf(err, errlen, "mmproj: audio projector 'gemma4a' (the E2B/E4B conformer) is "
                                 "not supported yet");
    if (want_a && strcmp(at, "gemma4ua") != 0)
        return errf(err, errlen, "mmproj: unsupported audio projector type '%s'", at);

    /* The LM width: what the caller says, else the file's projection_dim (tests). */
    int64_t pd = 0;
    if (g4_gguf_get_i64(g, want_v ? "clip.vision.projection_dim" : "clip.audio.projection_dim",
                        &pd) != 0)
        pd = 0;
    if (n_embd_text > 0 && pd > 0 && pd != n_embd_text)
        return errf(err, errlen,
                    "mmproj: projection_dim %lld does not match the model's embedding width %d "
                    "(projector of another model?)",
                    (long long)pd, n_embd_text);
    int n_embd = n_embd_text > 0 ? n_embd_text : (int)pd;
    if (n_embd <= 0 || n_embd > (1 << 20))
        return errf(err, errlen, "mmproj: unknown or bad projection width %d", n_embd);

    g4_mmproj *p = calloc(1, sizeof *p);
    if (!p)
        return errf(err, errlen, "mmproj: out of memory");
    p->n_embd = n_embd;
    if ((want_v && load_vision(p, g, err, errlen)) || (want_a && load_audio(p, g, err, errlen))) {
        g4_mmproj_free(p);
        return NULL;
    }
    return p;
}

void g4_mmproj_free(g4_mmproj *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n_owned; i++)
        free(p->owned[i]);
    free(p);
}

int g4_mmproj_has_vision(const g4_mmproj *p) { return p && p->has_vision; }
int g4_mmproj_has_audio(const g4_mmproj *p) { return p && p->has_audio; }
int g4_mmproj_n_embd(const g4_mmproj *p) { return p ? p->n_embd : 0; }
