/* Synthesizes a gemma4v + gemma4a mmproj GGUF with the llama.cpp converter's keys, tensor names
 * and shapes (gemma4-architecture.md §9.3) and deterministic random weights. Used by
 * tests/test_mm_towers.c (tiny shapes) and tools/g4-mm-bench.c (real shapes); header-only so
 * both programs can include it. Tensor data is produced during the write by fill callbacks,
 * so real-size files never sit in memory. */
#ifndef G4_MM_SYNTH_H
#define G4_MM_SYNTH_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf_write.h"
#include "kernels.h"

typedef struct mm_synth_cfg {
    int n_embd;                                   /* LM width */
    int v_on, v_d, v_layers, v_heads, v_ff, v_npos;
    int v_clamp;                                  /* ClippableLinear bounds (E2B/E4B) */
    int v_std;                                    /* std_bias / std_scale (26B/31B) */
    int a_on, a_d, a_layers, a_heads, a_ff, a_c0, a_c1, a_nout;
    int a_clamp;
    float clamp_in, clamp_out;                    /* bound magnitudes when clamps are on */
    uint32_t wtype;                               /* matrix type: G4_TYPE_F32 or G4_TYPE_F16 */
    uint32_t seed;
} mm_synth_cfg;

typedef struct mm_fill {
    uint64_t key;
    float offset, scale;
    uint32_t type;
} mm_fill;

typedef struct mm_synth {
    g4_gguf_writer *w;
    mm_fill *fills;
    int n_fills, cap_fills;
    uint32_t seed;
    int fail;
} mm_synth;

static uint64_t mm_hash(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* Uniform in [-1, 1), a pure function of (tensor key, element index). */
static float mm_unif(uint64_t key, uint64_t i)
{
    return (float)((mm_hash(key * 0x9e3779b97f4a7c15ull + i) >> 40) * (1.0 / 8388608.0) - 1.0);
}

static int mm_fill_fn(void *ctx, void *dst, uint64_t offset, size_t nbytes)
{
    const mm_fill *f = ctx;
    size_t es = f->type == G4_TYPE_F32 ? 4 : 2;
    uint64_t i0 = offset / es, n = nbytes / es;
    for (uint64_t i = 0; i < n; i++) {
        float v = f->offset + f->scale * mm_unif(f->key, i0 + i);
        if (f->type == G4_TYPE_F32)
            ((float *)dst)[i] = v;
        else
            ((uint16_t *)dst)[i] = g4k_f32_to_f16(v);
    }
    return 0;
}

static void mm_tensor(mm_synth *s, const char *name, uint32_t type, int nd, int64_t a, int64_t b,
                      int64_t c, int64_t d, float offset, float scale)
{
    if (s->fail)
        return;
    if (s->n_fills == s->cap_fills) {
        /* fill contexts must stay put until the write: grow by reallocating only before any
         * pointer is handed out is not possible, so allocate generously up front instead */
        s->fail = 1;
        fprintf(stderr, "mm_synth: too many tensors\n");
        return;
    }
    mm_fill *f = &s->fills[s->n_fills++];
    uint64_t h = s->seed;
    for (const char *p = name; *p; p++)
        h = mm_hash(h ^ (unsigned char)*p);
    *f = (mm_fill){.key = h, .offset = offset, .scale = scale, .type = type};
    int64_t ne[4] = {a, b, c, d};
    if (g4_gguf_writer_add_tensor_fill(s->w, name, type, (uint32_t)nd, ne, mm_fill_fn, f) != 0) {
        fprintf(stderr, "mm_synth: %s: %s\n", name, g4_gguf_writer_error(s->w));
        s->fail = 1;
    }
}

/* A (Clippable)Linear: weight [n_in, n_out] + optional f32 [1] bounds. */
static void mm_linear(mm_synth *s, const mm_synth_cfg *c, const char *base, int64_t n_in,
                      int64_t n_out, int clamp)
{
    char name[160];
    snprintf(name, sizeof name, "%s.weight", base);
    mm_tensor(s, name, c->wtype, 2, n_in, n_out, 1, 1, 0.0f, sqrtf(3.0f / (float)n_in));
    if (!clamp)
        return;
    static const char *const what[4] = {"input_min", "input_max", "output_min", "output_max"};
    for (int i = 0; i < 4; i++) {
        float mag = i < 2 ? c->clamp_in : c->clamp_out;
        snprintf(name, sizeof name, "%s.%s", base, what[i]);
        mm_tensor(s, name, G4_TYPE_F32, 1, 1, 1, 1, 1, (i % 2 ? 1.0f : -1.0f) * mag, 0.0f);
    }
}

static void mm_norm(mm_synth *s, const char *name, int64_t n)
{
    mm_tensor(s, name, G4_TYPE_F32, 1, n, 1, 1, 1, 1.0f, 0.2f);
}

static void mm_synth_vision(mm_synth *s, const mm_synth_cfg *c)
{
    g4_gguf_writer *w = s->w;
    const int d = c->v_d, hd = c->v_d / c->v_heads;
    g4_gguf_set_str(w, "clip.vision.projector_type", "gemma4v");
    g4_gguf_set_u32(w, "clip.vision.embedding_length", (uint32_t)d);
    g4_gguf_set_u32(w, "clip.vision.feed_forward_length", (uint32_t)c->v_ff);
    g4_gguf_set_u32(w, "clip.vision.block_count", (uint32_t)c->v_layers);
    g4_gguf_set_u32(w, "clip.vision.attention.head_count", (uint32_t)c->v_heads);
    g4_gguf_set_f32(w, "clip.vision.attention.layer_norm_epsilon", 1e-6f);
    g4_gguf_set_u32(w, "clip.vision.image_size", 224);
    g4_gguf_set_u32(w, "clip.vision.patch_size", 16);
    g4_gguf_set_u32(w, "clip.vision.projection_dim", (uint32_t)c->n_embd);
    float mean[3] = {0, 0, 0}, std[3] = {1, 1, 1};
    g4_gguf_set_arr(w, "clip.vision.image_mean", G4_GGUF_FLOAT32, mean, 3);
    g4_gguf_set_arr(w, "clip.vision.image_std", G4_GGUF_FLOAT32, std, 3);
    mm_tensor(s, "v.patch_embd.weight", c->wtype, 4, 16, 16, 3, d, 0.0f, sqrtf(3.0f / 768.0f));
    mm_tensor(s, "v.position_embd.weight", G4_TYPE_F32, 3, d, c->v_npos, 2, 1, 0.0f, 0.3f);
    char b[128];
    for (int l = 0; l < c->v_layers; l++) {
        static const char *const lin[7] = {"attn_q", "attn_k", "attn_v", "attn_out", "ffn_gate", "ffn_up", "ffn_down"};
        for (int i = 0; i < 7; i++) {
            snprintf(b, sizeof b, "v.blk.%d.%s", l, lin[i]);
            mm_linear(s, c, b, i == 6 ? c->v_ff : d, i == 4 || i == 5 ? c->v_ff : d, c->v_clamp);
        }
        snprintf(b, sizeof b, "v.blk.%d.attn_q_norm.weight", l);
        mm_norm(s, b, hd);
        snprintf(b, sizeof b, "v.blk.%d.attn_k_norm.weight", l);
        mm_norm(s, b, hd);
        static const char *const nrm[4] = {"ln1", "attn_post_norm", "ln2", "ffn_post_norm"};
        for (int i = 0; i < 4; i++) {
            snprintf(b, sizeof b, "v.blk.%d.%s.weight", l, nrm[i]);
            mm_norm(s, b, d);
        }
    }
    if (c->v_std) {
        mm_tensor(s, "v.std_bias", G4_TYPE_F32, 1, d, 1, 1, 1, 0.0f, 0.1f);
        mm_tensor(s, "v.std_scale", G4_TYPE_F32, 1, d, 1, 1, 1, 1.0f, 0.1f);
    }
    mm_linear(s, c, "mm.input_projection", d, c->n_embd, 0);
}

static void mm_synth_audio(mm_synth *s, const mm_synth_cfg *c)
{
    g4_gguf_writer *w = s->w;
    const int d = c->a_d, hd = c->a_d / c->a_heads;
    g4_gguf_set_str(w, "clip.audio.projector_type", "gemma4a");
    g4_gguf_set_u32(w, "clip.audio.embedding_length", (uint32_t)d);
    g4_gguf_set_u32(w, "clip.audio.feed_forward_length", (uint32_t)c->a_ff);
    g4_gguf_set_u32(w, "clip.audio.block_count", (uint32_t)c->a_layers);
    g4_gguf_set_u32(w, "clip.audio.attention.head_count", (uint32_t)c->a_heads);
    g4_gguf_set_u32(w, "clip.audio.num_mel_bins", 128);
    g4_gguf_set_u32(w, "clip.audio.projection_dim", (uint32_t)c->n_embd);
    g4_gguf_set_f32(w, "clip.audio.attention.layer_norm_epsilon", 1e-5f); /* as the converter */
    mm_tensor(s, "a.conv1d.0.weight", G4_TYPE_F32, 4, 3, 3, 1, c->a_c0, 0.0f, sqrtf(3.0f / 9.0f));
    mm_tensor(s, "a.conv1d.1.weight", G4_TYPE_F32, 4, 3, 3, c->a_c0, c->a_c1, 0.0f, sqrtf(3.0f / (9.0f * c->a_c0)));
    mm_norm(s, "a.conv1d.0.norm.weight", c->a_c0);
    mm_norm(s, "a.conv1d.1.norm.weight", c->a_c1);
    mm_linear(s, c, "a.input_projection", 32 * c->a_c1, d, 0);
    char b[128];
    for (int l = 0; l < c->a_layers; l++) {
        static const char *const sfx[2] = {"", "_1"};
        for (int i = 0; i < 2; i++) {
            snprintf(b, sizeof b, "a.blk.%d.ffn_up%s", l, sfx[i]);
            mm_linear(s, c, b, d, c->a_ff, c->a_clamp);
            snprintf(b, sizeof b, "a.blk.%d.ffn_down%s", l, sfx[i]);
            mm_linear(s, c, b, c->a_ff, d, c->a_clamp);
            snprintf(b, sizeof b, "a.blk.%d.ffn_norm%s.weight", l, sfx[i]);
            mm_norm(s, b, d);
            snprintf(b, sizeof b, "a.blk.%d.ffn_post_norm%s.weight", l, sfx[i]);
            mm_norm(s, b, d);
        }
        static const char *const lin[4] = {"attn_q", "attn_k", "attn_v", "attn_out"};
        for (int i = 0; i < 4; i++) {
            snprintf(b, sizeof b, "a.blk.%d.%s", l, lin[i]);
            mm_linear(s, c, b, d, d, c->a_clamp);
        }
        snprintf(b, sizeof b, "a.blk.%d.attn_k_rel", l);
        mm_linear(s, c, b, d, d, 0);
        snprintf(b, sizeof b, "a.blk.%d.per_dim_scale.weight", l);
        mm_tensor(s, b, G4_TYPE_F32, 1, hd, 1, 1, 1, 0.7f, 0.2f); /* softplus'd: positive */
        static const char *const nrm[5] = {"attn_pre_norm", "attn_post_norm", "ln2", "conv_norm", "norm_conv"};
        for (int i = 0; i < 5; i++) {
            snprintf(b, sizeof b, "a.blk.%d.%s.weight", l, nrm[i]);
            mm_norm(s, b, d);
        }
        snprintf(b, sizeof b, "a.blk.%d.conv_pw1", l);
        mm_linear(s, c, b, d, 2 * d, c->a_clamp);
        snprintf(b, sizeof b, "a.blk.%d.conv_pw2", l);
        mm_linear(s, c, b, d, d, c->a_clamp);
        snprintf(b, sizeof b, "a.blk.%d.conv_dw.weight", l);
        mm_tensor(s, b, G4_TYPE_F32, 2, 5, d, 1, 1, 0.0f, sqrtf(3.0f / 5.0f));
    }
    mm_linear(s, c, "a.pre_encode.out", d, c->a_nout, 0);
    mm_tensor(s, "a.pre_encode.out.bias", G4_TYPE_F32, 1, c->a_nout, 1, 1, 1, 0.0f, 0.1f);
    mm_linear(s, c, "mm.a.input_projection", c->a_nout, c->n_embd, 0);
}

/* Writes the file; returns 0 or -1 (message on stderr). */
static int mm_synth_write(const mm_synth_cfg *c, const char *path)
{
    mm_synth s = {.w = g4_gguf_writer_new(), .cap_fills = 4096, .seed = c->seed};
    s.fills = calloc((size_t)s.cap_fills, sizeof *s.fills);
    if (!s.w || !s.fills) {
        g4_gguf_writer_free(s.w);
        free(s.fills);
        return -1;
    }
    g4_gguf_set_str(s.w, "general.architecture", "clip");
    g4_gguf_set_str(s.w, "general.type", "mmproj");
    g4_gguf_set_bool(s.w, "clip.has_vision_encoder", c->v_on);
    g4_gguf_set_bool(s.w, "clip.has_audio_encoder", c->a_on);
    if (c->v_on)
        mm_synth_vision(&s, c);
    if (c->a_on)
        mm_synth_audio(&s, c);
    int rc = s.fail ? -1 : g4_gguf_writer_write_file(s.w, path);
    if (rc && !s.fail)
        fprintf(stderr, "mm_synth: %s: %s\n", path, g4_gguf_writer_error(s.w));
    g4_gguf_writer_free(s.w);
    free(s.fills);
    return rc;
}

#endif
