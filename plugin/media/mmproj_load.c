/* mmproj loading: projector-type dispatch, shape checks, weights used in place from the mapping.
 * Layout of the 12B Unified projector: gemma4-12b-unified.md §8.2, gemma4-architecture.md §9.3;
 * of the gemma4v vision tower and the gemma4a audio conformer: gemma4-architecture.md §9.3. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define G4_MMPROJ_PRIVATE
#include "base/internal.h"
#include "media/mmproj.h"

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

/* Takes ownership of a malloc'd block (freed with the projector); frees it on failure. */
static int own(g4_mmproj *p, void *b)
{
    if (p->n_owned == p->cap_owned) {
        int cap = p->cap_owned ? 2 * p->cap_owned : 32;
        void **o = realloc(p->owned, sizeof *o * (size_t)cap);
        if (!o) {
            free(b);
            return -1;
        }
        p->owned = o;
        p->cap_owned = cap;
    }
    p->owned[p->n_owned++] = b;
    return 0;
}

/* An f32 view of a small tensor: in place when stored as F32, else a converted copy. */
static const float *f32_view(g4_mmproj *p, const g4_gguf_tensor *t, char *err, size_t errlen)
{
    int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    if (t->type == G4_TYPE_F32)
        return (const float *)t->data;
    float *buf = malloc(sizeof(float) * (size_t)n);
    if (!buf)
        return errf(err, errlen, "mmproj: out of memory converting %.*s", (int)t->name.len,
                    t->name.ptr);
    if (g4k_dequantize(t->type, t->data, buf, n) != 0) {
        free(buf);
        return errf(err, errlen, "mmproj: tensor %.*s has unsupported type %u", (int)t->name.len,
                    t->name.ptr, (unsigned)t->type);
    }
    if (own(p, buf))
        return errf(err, errlen, "mmproj: out of memory");
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
    if (!(p->v_rms_eps > 0.0f && p->v_rms_eps < 1.0f)) /* NaN, Inf, 0 or negative: every output would be NaN or Inf */
        return errf(err, errlen, "mmproj: layer_norm_epsilon %g is not in (0, 1)", (double)p->v_rms_eps), -1;

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
    p->v_kind = G4_MM_UNIFIED;
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
    if (!(p->a_rms_eps > 0.0f && p->a_rms_eps < 1.0f)) /* NaN, Inf, 0 or negative: every output would be NaN or Inf */
        return errf(err, errlen, "mmproj: layer_norm_epsilon %g is not in (0, 1)", (double)p->a_rms_eps), -1;
    if (as_matrix(&p->aproj, t, err, errlen))
        return -1;
    p->has_audio = 1;
    p->a_kind = G4_MM_UNIFIED;
    return 0;
}

/* ---- gemma4v / gemma4a (spec §9.3) ------------------------------------------------------- */

/* A 4-D tensor (conv kernels) with the given dims (-1 = any). */
static const g4_gguf_tensor *need4(const g4_gguf *g, const char *name, int64_t ne0, int64_t ne1,
                                   int64_t ne2, int64_t ne3, char *err, size_t errlen)
{
    const g4_gguf_tensor *t = g4_gguf_find_tensor(g, name);
    if (!t)
        return errf(err, errlen, "mmproj: missing tensor %s", name);
    int64_t want[4] = {ne0, ne1, ne2, ne3};
    for (int i = 0; i < 4; i++)
        if (want[i] >= 0 && t->ne[i] != want[i])
            return errf(err, errlen,
                        "mmproj: tensor %s has shape [%lld, %lld, %lld, %lld], expected "
                        "[%lld, %lld, %lld, %lld]", name, (long long)t->ne[0], (long long)t->ne[1],
                        (long long)t->ne[2], (long long)t->ne[3], (long long)ne0, (long long)ne1,
                        (long long)ne2, (long long)ne3);
    return t;
}

static const char *tname(char *buf, size_t cap, const char *fmt, int il, const char *suffix)
{
    char base[96];
    snprintf(base, sizeof base, fmt, il);
    snprintf(buf, cap, "%s%s", base, suffix);
    return buf;
}

/* A norm / scale vector of exactly n values, as f32. */
static const float *vec(g4_mmproj *p, const g4_gguf *g, const char *name, int64_t n, char *err,
                        size_t errlen)
{
    const g4_gguf_tensor *t = need(g, name, n, 1, 1, err, errlen);
    return t ? f32_view(p, t, err, errlen) : NULL;
}

/* One scalar bound of a ClippableLinear: *v stays at its default (+-inf) when absent. */
static int clamp_bound(g4_mmproj *p, const g4_gguf *g, const char *base, const char *what,
                       float *v, char *err, size_t errlen)
{
    char name[160];
    snprintf(name, sizeof name, "%s.%s", base, what);
    const g4_gguf_tensor *t = g4_gguf_find_tensor(g, name);
    if (!t)
        return 0;
    if (t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3] != 1)
        return errf(err, errlen, "mmproj: %s is not a scalar", name), -1;
    const float *f = f32_view(p, t, err, errlen);
    if (!f)
        return -1;
    if (f[0] != f[0])
        return errf(err, errlen, "mmproj: %s is NaN", name), -1;
    *v = f[0];
    return 0;
}

/* ClippableLinear `base`.weight [n_in, n_out] (n_out -1: any) with its optional clamp scalars. */
static int clin(g4_mmproj *p, const g4_gguf *g, const char *base, int64_t n_in, int64_t n_out,
                g4_clin *L, char *err, size_t errlen)
{
    char name[160];
    snprintf(name, sizeof name, "%s.weight", base);
    const g4_gguf_tensor *t = need(g, name, n_in, n_out, 1, err, errlen);
    if (!t || as_matrix(&L->w, t, err, errlen))
        return -1;
    L->in_min = L->out_min = -INFINITY;
    L->in_max = L->out_max = INFINITY;
    if (clamp_bound(p, g, base, "input_min", &L->in_min, err, errlen) ||
        clamp_bound(p, g, base, "input_max", &L->in_max, err, errlen) ||
        clamp_bound(p, g, base, "output_min", &L->out_min, err, errlen) ||
        clamp_bound(p, g, base, "output_max", &L->out_max, err, errlen))
        return -1;
    L->clamp_in = isfinite(L->in_min) || isfinite(L->in_max);
    L->clamp_out = isfinite(L->out_min) || isfinite(L->out_max);
    return 0;
}

static int get_u32_or(const g4_gguf *g, const char *key, uint32_t dflt)
{
    uint32_t v = dflt;
    g4_gguf_get_u32(g, key, &v);
    return v > (1u << 20) ? -1 : (int)v;
}

static int load_vtower_layer(g4_mmproj *p, const g4_gguf *g, int il, char *err, size_t errlen)
{
    g4_vtower *V = &p->vt;
    g4_vt_layer *L = &V->layers[il];
    const int d = V->d, hd = V->hd, ff = V->ff;
    char b[160];
    const char *f = "v.blk.%d.";
    if (clin(p, g, tname(b, sizeof b, f, il, "attn_q"), d, d, &L->q, err, errlen) ||
        clin(p, g, tname(b, sizeof b, f, il, "attn_k"), d, d, &L->k, err, errlen) ||
        clin(p, g, tname(b, sizeof b, f, il, "attn_v"), d, d, &L->v, err, errlen) ||
        clin(p, g, tname(b, sizeof b, f, il, "attn_out"), d, d, &L->o, err, errlen) ||
        clin(p, g, tname(b, sizeof b, f, il, "ffn_gate"), d, ff, &L->gate, err, errlen) ||
        clin(p, g, tname(b, sizeof b, f, il, "ffn_up"), d, ff, &L->up, err, errlen) ||
        clin(p, g, tname(b, sizeof b, f, il, "ffn_down"), ff, d, &L->down, err, errlen))
        return -1;
    if (!(L->q_norm = vec(p, g, tname(b, sizeof b, f, il, "attn_q_norm.weight"), hd, err, errlen)) ||
        !(L->k_norm = vec(p, g, tname(b, sizeof b, f, il, "attn_k_norm.weight"), hd, err, errlen)) ||
        !(L->ln1 = vec(p, g, tname(b, sizeof b, f, il, "ln1.weight"), d, err, errlen)) ||
        !(L->attn_post_norm = vec(p, g, tname(b, sizeof b, f, il, "attn_post_norm.weight"), d, err, errlen)) ||
        !(L->ln2 = vec(p, g, tname(b, sizeof b, f, il, "ln2.weight"), d, err, errlen)) ||
        !(L->ffn_post_norm = vec(p, g, tname(b, sizeof b, f, il, "ffn_post_norm.weight"), d, err, errlen)))
        return -1;
    L->out_scale = 1.0f; /* layer_scalar: absent in released checkpoints (spec §12 Q4) */
    if (g4_gguf_find_tensor(g, tname(b, sizeof b, f, il, "out_scale.weight"))) {
        const float *s = vec(p, g, b, 1, err, errlen);
        if (!s)
            return -1;
        L->out_scale = s[0];
    }
    return 0;
}

static int load_vtower(g4_mmproj *p, const g4_gguf *g, char *err, size_t errlen)
{
    g4_vtower *V = &p->vt;
    const g4_gguf_tensor *pw = need4(g, "v.patch_embd.weight", 16, 16, 3, -1, err, errlen);
    if (!pw)
        return -1;
    V->patch = get_u32_or(g, "clip.vision.patch_size", 16);
    V->merge = get_u32_or(g, "clip.vision.projector.scale_factor", 3);
    if (V->patch != 16 || V->merge != 3) /* the HF budget rule is built on 48 = 16 x 3 */
        return errf(err, errlen, "mmproj: gemma4v with patch %d / pooling %d (expected 16 / 3)",
                    V->patch, V->merge), -1;
    if (pw->ne[0] != 16 || pw->ne[1] != 16 || pw->ne[3] < 1 || pw->ne[3] > 65536)
        return errf(err, errlen, "mmproj: v.patch_embd.weight has shape [%lld, %lld, %lld, %lld], "
                    "expected [16, 16, 3, d]", (long long)pw->ne[0], (long long)pw->ne[1],
                    (long long)pw->ne[2], (long long)pw->ne[3]), -1;
    V->d = (int)pw->ne[3];
    if (!g4k_type_supported(pw->type))
        return errf(err, errlen, "mmproj: v.patch_embd.weight type %u unsupported", (unsigned)pw->type), -1;
    /* The conv kernel [16,16,3,d] read as d rows of 768 (c, ky, kx): a matmul over im2col'd patches. */
    V->patch_w = (g4k_matrix){.data = pw->data, .type = pw->type, .n_cols = 768, .n_rows = V->d,
                              .row_bytes = g4_type_row_bytes(pw->type, 768)};
    V->n_layer = get_u32_or(g, "clip.vision.block_count", 0);
    V->n_head = get_u32_or(g, "clip.vision.attention.head_count", 0);
    int emb = get_u32_or(g, "clip.vision.embedding_length", V->d);
    if (emb != V->d || V->n_layer <= 0 || V->n_layer > 256 || V->n_head <= 0 || V->d % V->n_head ||
        (V->d / V->n_head) % 4)
        return errf(err, errlen, "mmproj: gemma4v: bad width %d / layers %d / heads %d", emb,
                    V->n_layer, V->n_head), -1;
    V->hd = V->d / V->n_head;
    const g4_gguf_tensor *g0 = need(g, "v.blk.0.ffn_gate.weight", V->d, -1, 1, err, errlen);
    if (!g0)
        return -1;
    V->ff = (int)g0->ne[1];
    V->eps = 1e-6f;
    g4_gguf_get_f32(g, "clip.vision.attention.layer_norm_epsilon", &V->eps);
    if (!(V->eps > 0.0f && V->eps < 1.0f)) /* NaN, Inf, 0 or negative: every output would be NaN or Inf */
        return errf(err, errlen, "mmproj: layer_norm_epsilon %g is not in (0, 1)", (double)V->eps), -1;
    V->theta = 100.0f; /* hard-coded in llama.cpp and HF (spec §9.3) */
    const g4_gguf_tensor *tp = need(g, "v.position_embd.weight", V->d, -1, 2, err, errlen);
    if (!tp || !(V->pos = f32_view(p, tp, err, errlen)))
        return -1;
    if (tp->ne[1] < 1 || tp->ne[1] > (1 << 20))
        return errf(err, errlen, "mmproj: v.position_embd.weight has %lld positions",
                    (long long)tp->ne[1]), -1;
    V->n_pos = (int)tp->ne[1];
    if (g4_gguf_find_tensor(g, "v.std_bias") || g4_gguf_find_tensor(g, "v.std_scale")) {
        if (!(V->std_bias = vec(p, g, "v.std_bias", V->d, err, errlen)) ||
            !(V->std_scale = vec(p, g, "v.std_scale", V->d, err, errlen)))
            return -1;
    }
    const g4_gguf_tensor *tj = need(g, "mm.input_projection.weight", V->d, p->n_embd, 1, err, errlen);
    if (!tj || as_matrix(&V->proj, tj, err, errlen))
        return -1;
    V->layers = calloc((size_t)V->n_layer, sizeof *V->layers);
    if (!V->layers || own(p, V->layers))
        return errf(err, errlen, "mmproj: out of memory"), -1;
    for (int il = 0; il < V->n_layer; il++)
        if (load_vtower_layer(p, g, il, err, errlen))
            return -1;
    p->has_vision = 1;
    p->v_kind = G4_MM_TOWER;
    return 0;
}

static int load_atower_layer(g4_mmproj *p, const g4_gguf *g, int il, char *err, size_t errlen)
{
    g4_atower *A = &p->at;
    g4_at_layer *L = &A->layers[il];
    const int d = A->d, ff = A->ff;
    char b[160];
    const char *f = "a.blk.%d.";
    static const char *const sfx[2] = {"", "_1"}; /* feed_forward1 / feed_forward2 */
    for (int i = 0; i < 2; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "ffn_up%s", sfx[i]);
        if (clin(p, g, tname(b, sizeof b, f, il, nm), d, ff, &L->ffn_up[i], err, errlen))
            return -1;
        snprintf(nm, sizeof nm, "ffn_down%s", sfx[i]);
        if (clin(p, g, tname(b, sizeof b, f, il, nm), ff, d, &L->ffn_down[i], err, errlen))
            return -1;
        snprintf(nm, sizeof nm, "ffn_norm%s.weight", sfx[i]);
        if (!(L->ffn_norm[i] = vec(p, g, tname(b, sizeof b, f, il, nm), d, err, errlen)))
            return -1;
        snprintf(nm, sizeof nm, "ffn_post_norm%s.weight", sfx[i]);
        if (!(L->ffn_post_norm[i] = vec(p, g, tname(b, sizeof b, f, il, nm), d, err, errlen)))
            return -1;
    }
    if (clin(p, g, tname(b, sizeof b, f, il, "attn_q"), d, d, &L->q, err, errlen) ||
        clin(p, g, tname(b, sizeof b, f, il, "attn_k"), d, d, &L->k, err, errlen) ||
        clin(p, g, tname(b, sizeof b, f, il, "attn_v"), d, d, &L->v, err, errlen) ||
        clin(p, g, tname(b, sizeof b, f, il, "attn_out"), d, d, &L->o, err, errlen) ||
        clin(p, g, tname(b, sizeof b, f, il, "conv_pw1"), d, 2 * d, &L->pw1, err, errlen) ||
        clin(p, g, tname(b, sizeof b, f, il, "conv_pw2"), d, d, &L->pw2, err, errlen))
        return -1;
    const g4_gguf_tensor *kr = need(g, tname(b, sizeof b, f, il, "attn_k_rel.weight"), d, d, 1, err, errlen);
    if (!kr || as_matrix(&L->k_rel, kr, err, errlen))
        return -1;
    if (!(L->attn_pre_norm = vec(p, g, tname(b, sizeof b, f, il, "attn_pre_norm.weight"), d, err, errlen)) ||
        !(L->attn_post_norm = vec(p, g, tname(b, sizeof b, f, il, "attn_post_norm.weight"), d, err, errlen)) ||
        !(L->norm_out = vec(p, g, tname(b, sizeof b, f, il, "ln2.weight"), d, err, errlen)) ||
        !(L->per_dim_scale = vec(p, g, tname(b, sizeof b, f, il, "per_dim_scale.weight"), A->hd, err, errlen)) ||
        /* §9.3: GGUF conv_norm is HF lconv1d.pre_layer_norm, norm_conv is HF conv_norm. */
        !(L->conv_pre_norm = vec(p, g, tname(b, sizeof b, f, il, "conv_norm.weight"), d, err, errlen)) ||
        !(L->conv_norm = vec(p, g, tname(b, sizeof b, f, il, "norm_conv.weight"), d, err, errlen)))
        return -1;
    const g4_gguf_tensor *dw = need(g, tname(b, sizeof b, f, il, "conv_dw.weight"), -1, d, 1, err, errlen);
    if (!dw || !(L->conv_dw = f32_view(p, dw, err, errlen)))
        return -1;
    if (il == 0) {
        if (dw->ne[0] < 1 || dw->ne[0] > 64)
            return errf(err, errlen, "mmproj: conv_dw kernel %lld", (long long)dw->ne[0]), -1;
        A->kernel = (int)dw->ne[0];
    } else if (dw->ne[0] != A->kernel) {
        return errf(err, errlen, "mmproj: %s: kernel differs from layer 0", b), -1;
    }
    return 0;
}

static int load_atower(g4_mmproj *p, const g4_gguf *g, char *err, size_t errlen)
{
    g4_atower *A = &p->at;
    const g4_gguf_tensor *c0 = need4(g, "a.conv1d.0.weight", 3, 3, 1, -1, err, errlen);
    const g4_gguf_tensor *c1 = c0 ? need4(g, "a.conv1d.1.weight", 3, 3, c0->ne[3], -1, err, errlen) : NULL;
    if (!c1)
        return -1;
    if (c0->ne[3] < 1 || c0->ne[3] > 4096 || c1->ne[3] < 1 || c1->ne[3] > 4096)
        return errf(err, errlen, "mmproj: SSCP channels %lld / %lld", (long long)c0->ne[3],
                    (long long)c1->ne[3]), -1;
    A->c0 = (int)c0->ne[3];
    A->c1 = (int)c1->ne[3];
    A->f1 = (G4_MEL_BINS + 1) / 2; /* (W + 2 - 3) / 2 + 1 */
    A->f2 = (A->f1 + 1) / 2;
    if (!(A->conv0 = f32_view(p, c0, err, errlen)) || !(A->conv1 = f32_view(p, c1, err, errlen)) ||
        !(A->norm0 = vec(p, g, "a.conv1d.0.norm.weight", A->c0, err, errlen)) ||
        !(A->norm1 = vec(p, g, "a.conv1d.1.norm.weight", A->c1, err, errlen)))
        return -1;
    const g4_gguf_tensor *ip = need(g, "a.input_projection.weight", (int64_t)A->f2 * A->c1, -1, 1, err, errlen);
    if (!ip || as_matrix(&A->in_proj, ip, err, errlen))
        return -1;
    if (ip->ne[1] < 1 || ip->ne[1] > 65536)
        return errf(err, errlen, "mmproj: a.input_projection width %lld", (long long)ip->ne[1]), -1;
    A->d = (int)ip->ne[1];
    A->n_layer = get_u32_or(g, "clip.audio.block_count", 0);
    A->n_head = get_u32_or(g, "clip.audio.attention.head_count", 0);
    int emb = get_u32_or(g, "clip.audio.embedding_length", A->d);
    if (emb != A->d || A->n_layer <= 0 || A->n_layer > 256 || A->n_head <= 0 || A->d % A->n_head ||
        A->d % 2)
        return errf(err, errlen, "mmproj: gemma4a: bad width %d / layers %d / heads %d", emb,
                    A->n_layer, A->n_head), -1;
    A->hd = A->d / A->n_head;
    A->eps = 1e-6f; /* files say 1e-5 by mistake; llama.cpp and HF use 1e-6 (spec §9.3, §11 #7) */
    const g4_gguf_tensor *u0 = need(g, "a.blk.0.ffn_up.weight", A->d, -1, 1, err, errlen);
    if (!u0)
        return -1;
    A->ff = (int)u0->ne[1];
    const g4_gguf_tensor *op = need(g, "a.pre_encode.out.weight", A->d, -1, 1, err, errlen);
    if (!op || as_matrix(&A->out_proj, op, err, errlen))
        return -1;
    A->n_out = (int)op->ne[1];
    if (!(A->out_bias = vec(p, g, "a.pre_encode.out.bias", A->n_out, err, errlen)))
        return -1;
    const g4_gguf_tensor *tj = need(g, "mm.a.input_projection.weight", A->n_out, p->n_embd, 1, err, errlen);
    if (!tj || as_matrix(&A->proj, tj, err, errlen))
        return -1;
    A->layers = calloc((size_t)A->n_layer, sizeof *A->layers);
    if (!A->layers || own(p, A->layers))
        return errf(err, errlen, "mmproj: out of memory"), -1;
    for (int il = 0; il < A->n_layer; il++)
        if (load_atower_layer(p, g, il, err, errlen))
            return -1;
    p->has_audio = 1;
    p->a_kind = G4_MM_TOWER;
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
    int v_tower = want_v && strcmp(vt, "gemma4v") == 0;
    int a_tower = want_a && strcmp(at, "gemma4a") == 0;
    if (want_v && !v_tower && strcmp(vt, "gemma4uv") != 0)
        return errf(err, errlen, "mmproj: unsupported vision projector type '%s'", vt);
    if (want_a && !a_tower && strcmp(at, "gemma4ua") != 0)
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
    p->lin_mode = G4_LINEAR_KERNEL; /* precision F32 (calloc): the conformance default */
    if ((want_v && (v_tower ? load_vtower(p, g, err, errlen) : load_vision(p, g, err, errlen))) ||
        (want_a && (a_tower ? load_atower(p, g, err, errlen) : load_audio(p, g, err, errlen)))) {
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
    free(p->owned);
    free(p->converted);
    free(p);
}

int g4_mmproj_has_vision(const g4_mmproj *p) { return p && p->has_vision; }
int g4_mmproj_has_audio(const g4_mmproj *p) { return p && p->has_audio; }
int g4_mmproj_n_embd(const g4_mmproj *p) { return p ? p->n_embd : 0; }
