/* Loading the MTP drafter GGUF (spec §9.4): arch gemma4-assistant, keys gemma4-assistant.*,
 * every tensor checked for presence and exact shape, bound in place like the model loader, and
 * the whole file checked against the target it will draft for (G4_ERR_MISMATCH otherwise). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "draft/draft.h"

#define DARCH "gemma4-assistant"
/* HF Gemma4AssistantConfig.centroid_intermediate_top_k default. llama.cpp's converter writes no
 * key for it (it drops the centroid head); g4plug reads gemma4-assistant.centroid_top_k when a
 * file carries one (the embedded tiny drafter: tools/train/centroid_head.py). */
#define DEFAULT_CENTROID_TOP_K 32

typedef struct dloader {
    g4_drafter *d;
    const g4_gguf *g;
    const char *path;
    g4_binder b; /* gemma4-assistant.* keys; messages start "drafter PATH: " */
} dloader;

void g4_drafter_free(g4_drafter *d)
{
    if (!d)
        return;
    g4_arena_free(&d->arena);
    free(d->layers);
    if (d->gguf)
        g4_gguf_close(d->gguf);
    free(d);
}

/* ---- centroid-masked head ------------------------------------------------------------------- */

static const g4_gguf_tensor *find_either(const dloader *ld, const char *base)
{
    char name[96];
    snprintf(name, sizeof name, "%s.weight", base);
    const g4_gguf_tensor *t = g4_gguf_find_tensor(ld->g, name);
    return t ? t : g4_gguf_find_tensor(ld->g, base);
}

static g4_status load_centroids(dloader *ld)
{
    g4_drafter *d = ld->d;
    const g4_gguf_tensor *c = find_either(ld, "masked_embd_centroids");
    const g4_gguf_tensor *o = find_either(ld, "masked_embd_ordering");
    const g4_gguf_kv *top_k_kv = g4_gguf_find_kv(ld->g, DARCH ".centroid_top_k");
    if (!c && !o) {
        if (top_k_kv)
            return g4_fail(G4_ERR_FORMAT, "drafter %s: " DARCH ".centroid_top_k without masked_embd_centroids",
                           ld->path);
        return G4_OK;
    }
    if (!c || !o)
        return g4_fail(G4_ERR_FORMAT, "drafter %s: masked_embd_centroids and masked_embd_ordering must come together",
                       ld->path);
    const int64_t nc = c->ne[1];
    if (nc <= 0 || d->hp.n_vocab % nc)
        return g4_fail(G4_ERR_FORMAT, "drafter %s: %lld centroids do not divide the vocabulary (%d)", ld->path,
                       (long long)nc, d->hp.n_vocab);
    char cname[96];
    snprintf(cname, sizeof cname, "%.*s", (int)(c->name.len < 95 ? c->name.len : 95), c->name.ptr);
    g4_status st = g4_bind_matrix(&ld->b, &d->centroids, 1, d->hp.n_embd, nc, 1, "%s", cname);
    if (st)
        return st;
    const uint32_t top_k_default = DEFAULT_CENTROID_TOP_K < nc ? DEFAULT_CENTROID_TOP_K : (uint32_t)nc;
    int32_t top_k;
    if ((st = g4_bind_u32(&ld->b, "centroid_top_k", 0, top_k_default, &top_k)))
        return st;
    if (top_k < 1 || top_k > nc)
        return g4_fail(G4_ERR_FORMAT, "drafter %s: " DARCH ".centroid_top_k is %d, not within [1, %lld] (the "
                       "centroids)", ld->path, top_k, (long long)nc);
    /* ordering: a permutation of the vocabulary, cluster-major (cluster j = entries j*V/C ..) */
    if (o->ne[0] != d->hp.n_vocab || o->ne[1] != 1 || o->ne[2] != 1 || o->ne[3] != 1 ||
        (o->type != G4_TYPE_I32 && o->type != G4_TYPE_I64 && o->type != G4_TYPE_F32))
        return g4_fail(G4_ERR_FORMAT, "drafter %s: masked_embd_ordering must be [%d] of I32, I64 or F32", ld->path,
                       d->hp.n_vocab);
    size_t esz = o->type == G4_TYPE_I64 ? 8 : 4;
    if (o->nbytes < esz * (uint64_t)d->hp.n_vocab)
        return g4_fail(G4_ERR_FORMAT, "drafter %s: masked_embd_ordering is truncated", ld->path);
    d->ordering = g4_arena_alloc(&d->arena, (size_t)d->hp.n_vocab * sizeof(int32_t));
    uint8_t *seen = calloc((size_t)d->hp.n_vocab, 1);
    if (!d->ordering || !seen) {
        free(seen);
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory reading masked_embd_ordering");
    }
    for (int32_t i = 0; i < d->hp.n_vocab; i++) {
        int64_t v;
        const char *p = (const char *)o->data + (size_t)i * esz;
        if (o->type == G4_TYPE_I64) {
            memcpy(&v, p, 8);
        } else if (o->type == G4_TYPE_I32) {
            int32_t t;
            memcpy(&t, p, 4);
            v = t;
        } else {
            float f;
            memcpy(&f, p, 4);
            v = (f >= 0.0f && f < (float)d->hp.n_vocab && f == floorf(f)) ? (int64_t)f : -1;
        }
        if (v < 0 || v >= d->hp.n_vocab || seen[v]) {
            free(seen);
            return g4_fail(G4_ERR_FORMAT, "drafter %s: masked_embd_ordering[%d] = %lld is not a permutation entry",
                           ld->path, i, (long long)v);
        }
        seen[v] = 1;
        d->ordering[i] = (int32_t)v;
    }
    free(seen);
    d->n_centroids = (int32_t)nc;
    d->centroid_top_k = top_k;
    return G4_OK;
}

/* Weight bytes of one draft step: what decides whether it uses the pool (draft.h). */
static uint64_t step_bytes(const g4_drafter *d)
{
    const g4k_matrix *m[] = {&d->pre_proj, &d->post_proj, &d->centroids};
    uint64_t b = 0;
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        b += (uint64_t)m[i]->row_bytes * (uint64_t)m[i]->n_rows;
    for (int32_t l = 0; l < d->hp.n_layer; l++) {
        const g4_layer *L = &d->layers[l];
        const g4k_matrix *lm[] = {&L->wq, &L->wo, &L->ffn_gate, &L->ffn_up, &L->ffn_down};
        for (size_t i = 0; i < sizeof lm / sizeof lm[0]; i++)
            b += (uint64_t)lm[i]->row_bytes * (uint64_t)lm[i]->n_rows;
    }
    const uint64_t head_rows = d->n_centroids
                                   ? (uint64_t)d->centroid_top_k * (uint64_t)(d->hp.n_vocab / d->n_centroids)
                                   : (uint64_t)d->hp.n_vocab;
    return b + head_rows * (uint64_t)d->tok_embd.row_bytes;
}

/* ---- load ---------------------------------------------------------------------------------- */

static g4_status load_all(dloader *ld, const g4_model *tm)
{
    g4_drafter *d = ld->d;
    g4_hparams *hp = &d->hp;
    const g4_hparams *thp = &tm->hp;
    g4_status st;
    g4_gguf_str arch;
    if (g4_gguf_get_str(ld->g, "general.architecture", &arch) != 0 || !g4_gguf_str_eq(arch, DARCH))
        return g4_fail(G4_ERR_FORMAT, "drafter %s: general.architecture is not " DARCH, ld->path);

    int32_t kf, ks, vf, vs, n_ctx_train;
    if ((st = g4_bind_u32(&ld->b, "embedding_length", 1, 0, &hp->n_embd)) ||
        (st = g4_bind_u32(&ld->b, "embedding_length_out", 1, 0, &d->n_embd_out)) ||
        (st = g4_bind_u32(&ld->b, "block_count", 1, 0, &hp->n_layer)) ||
        (st = g4_bind_u32(&ld->b, "attention.head_count", 1, 0, &hp->n_head)) ||
        (st = g4_bind_u32(&ld->b, "context_length", 0, 0, &n_ctx_train)) ||
        (st = g4_bind_u32(&ld->b, "attention.key_length", 1, 0, &kf)) ||
        (st = g4_bind_u32(&ld->b, "attention.value_length", 0, (uint32_t)kf, &vf)) ||
        (st = g4_bind_u32(&ld->b, "attention.key_length_swa", 0, (uint32_t)kf, &ks)) ||
        (st = g4_bind_u32(&ld->b, "attention.value_length_swa", 0, (uint32_t)ks, &vs)) ||
        (st = g4_bind_u32(&ld->b, "rope.dimension_count", 0, (uint32_t)kf, &hp->n_rot[G4_LAYER_FULL])) ||
        (st = g4_bind_u32(&ld->b, "rope.dimension_count_swa", 0, (uint32_t)ks, &hp->n_rot[G4_LAYER_SLIDING])) ||
        (st = g4_bind_f32(&ld->b, "rope.freq_base", 0, 1e6f, &hp->rope_base[G4_LAYER_FULL])) ||
        (st = g4_bind_f32(&ld->b, "rope.freq_base_swa", 0, 1e4f, &hp->rope_base[G4_LAYER_SLIDING])) ||
        (st = g4_bind_u32(&ld->b, "attention.sliding_window", 0, 0, &hp->n_swa)) ||
        (st = g4_bind_f32(&ld->b, "attention.layer_norm_rms_epsilon", 0, 1e-6f, &hp->eps)))
        return st;
    /* final_logit_softcapping may be present (the tiny fixture carries 30): the drafter applies
     * none (spec §7.2), so it is deliberately not read. */
    if (hp->n_embd <= 0 || d->n_embd_out <= 0 || d->n_embd_out == hp->n_embd || hp->n_layer <= 0 ||
        hp->n_layer > G4_MAX_LAYERS || hp->n_head <= 0 || !(hp->eps > 0.0f))
        return g4_fail(G4_ERR_FORMAT, "drafter %s: implausible geometry: embedding_length %d, embedding_length_out %d, "
                       "block_count %d, head_count %d", ld->path, hp->n_embd, d->n_embd_out, hp->n_layer, hp->n_head);
    if (vf != kf || vs != ks)
        return g4_fail(G4_ERR_UNSUPPORTED, "drafter %s: key_length %d/%d differs from value_length %d/%d", ld->path,
                       kf, ks, vf, vs);
    hp->head_dim[G4_LAYER_FULL] = kf;
    hp->head_dim[G4_LAYER_SLIDING] = ks;
    for (int t = 0; t < 2; t++)
        if (hp->head_dim[t] <= 0 || hp->head_dim[t] % 2 || hp->n_rot[t] <= 0 || hp->n_rot[t] % 2 ||
            hp->n_rot[t] > hp->head_dim[t] || !(hp->rope_base[t] > 0.0f))
            return g4_fail(G4_ERR_FORMAT, "drafter %s: bad %s attention geometry (head dim %d, rope dims %d)", ld->path,
                           t ? "full" : "sliding", hp->head_dim[t], hp->n_rot[t]);

    /* Does it belong to this target? */
    if (d->n_embd_out != thp->n_embd)
        return g4_fail(G4_ERR_MISMATCH, "drafter %s expects a target of width %d (embedding_length_out), the model has %d",
                       ld->path, d->n_embd_out, thp->n_embd);

    const g4_gguf_tensor *te = g4_gguf_find_tensor(ld->g, "token_embd.weight");
    if (!te || te->ne[1] <= 0 || te->ne[1] > INT32_MAX)
        return g4_fail(G4_ERR_FORMAT, "drafter %s: tensor token_embd.weight is missing or has no vocabulary", ld->path);
    hp->n_vocab = (int32_t)te->ne[1];
    if (hp->n_vocab != thp->n_vocab)
        return g4_fail(G4_ERR_MISMATCH, "drafter %s has a vocabulary of %d tokens, the model %d", ld->path, hp->n_vocab,
                       thp->n_vocab);

    const int32_t L = hp->n_layer;
    int32_t *ff = calloc((size_t)L, sizeof *ff), *nkv = calloc((size_t)L, sizeof *nkv);
    d->layers = calloc((size_t)L, sizeof *d->layers);
    if (!ff || !nkv || !d->layers) {
        free(ff);
        free(nkv);
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory loading the drafter");
    }
    st = g4_bind_per_layer(&ld->b, "feed_forward_length", L, ff);
    if (!st)
        st = g4_bind_per_layer(&ld->b, "attention.head_count_kv", L, nkv);
    char full[160];
    snprintf(full, sizeof full, DARCH ".attention.sliding_window_pattern");
    const g4_gguf_kv *pat = g4_gguf_find_kv(ld->g, full);
    if (!st && (!pat || pat->type != G4_GGUF_ARRAY || pat->arr_len != (uint64_t)L))
        st = g4_fail(G4_ERR_FORMAT, "drafter %s: %s must be %d booleans", ld->path, full, L);
    int any_swa = 0;
    for (int32_t l = 0; !st && l < L; l++) {
        g4_layer *Ld = &d->layers[l];
        int64_t v = 0;
        if (g4_gguf_arr_i64(pat, (uint64_t)l, &v) != 0) {
            st = g4_fail(G4_ERR_FORMAT, "drafter %s: %s[%d] is not a boolean", ld->path, full, l);
            break;
        }
        Ld->type = v ? G4_LAYER_SLIDING : G4_LAYER_FULL;
        Ld->head_dim = hp->head_dim[Ld->type];
        Ld->n_ff = ff[l];
        any_swa |= Ld->type == G4_LAYER_SLIDING;
        const char *tn = Ld->type ? "full" : "sliding";
        if (ff[l] <= 0) {
            st = g4_fail(G4_ERR_FORMAT, "drafter %s: layer %d has feed_forward_length %d", ld->path, l, ff[l]);
            break;
        }
        /* The cache it reads: the target's last producer of the same type (spec §7.2). */
        Ld->kv_src = g4_model_last_kv_layer(tm, Ld->type);
        Ld->writes_kv = 0;
        if (Ld->kv_src < 0) {
            st = g4_fail(G4_ERR_MISMATCH, "drafter %s: layer %d is %s but the model has no %s layer", ld->path, l, tn, tn);
            break;
        }
        const g4_layer *T = &tm->layers[Ld->kv_src];
        if (T->head_dim != Ld->head_dim || hp->n_head % T->n_head_kv || nkv[l] != T->n_head_kv) {
            st = g4_fail(G4_ERR_MISMATCH,
                         "drafter %s: %s layer %d (%d query heads of %d, declaring %d KV heads) cannot read the model's "
                         "layer %d cache (%d KV heads of %d)", ld->path, tn, l, hp->n_head, Ld->head_dim, nkv[l],
                         Ld->kv_src, T->n_head_kv, T->head_dim);
            break;
        }
        Ld->n_head_kv = T->n_head_kv;
        d->max_ff = ff[l] > d->max_ff ? ff[l] : d->max_ff;
        int32_t qd = hp->n_head * Ld->head_dim;
        d->max_qd = qd > d->max_qd ? qd : d->max_qd;
    }
    free(ff);
    free(nkv);
    if (st)
        return st;
    if (any_swa && (hp->n_swa <= 0 || hp->n_swa > thp->n_swa))
        return g4_fail(G4_ERR_MISMATCH, "drafter %s: sliding window %d does not fit the model's cache window %d",
                       ld->path, hp->n_swa, thp->n_swa);

    const int64_t da = hp->n_embd, dt = d->n_embd_out, nq = hp->n_head;
    if ((st = g4_bind_matrix(&ld->b, &d->tok_embd, 1, da, hp->n_vocab, 1, "token_embd.weight")) ||
        (st = g4_bind_vec(&ld->b, &d->output_norm, 1, da, "output_norm.weight")) ||
        (st = g4_bind_matrix(&ld->b, &d->pre_proj, 1, 2 * dt, da, 1, "nextn.pre_projection.weight")) ||
        (st = g4_bind_matrix(&ld->b, &d->post_proj, 1, da, dt, 1, "nextn.post_projection.weight")))
        return st;
    const float *freqs;
    const int64_t n_freqs = hp->n_rot[G4_LAYER_FULL] / 2;
    if ((st = g4_bind_vec(&ld->b, &freqs, 0, n_freqs, "rope_freqs.weight")))
        return st;
    /* rope_freqs applies to full layers only, as in the target (model_load.c) */
    for (int t = 0; t < 2; t++) {
        d->rope_inv_freq[t] = g4_arena_alloc(&d->arena, (size_t)(hp->n_rot[t] / 2) * sizeof(float));
        if (!d->rope_inv_freq[t])
            return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory building the drafter's RoPE tables");
        g4_rope_inv_freq(hp->n_rot[t], hp->rope_base[t], t == G4_LAYER_FULL ? freqs : NULL, freqs ? n_freqs : 0,
                         d->rope_inv_freq[t]);
    }

    for (int32_t l = 0; l < L; l++) {
        g4_layer *Ld = &d->layers[l];
        const int64_t hd = Ld->head_dim, f = Ld->n_ff;
        const float *scale;
        if ((st = g4_bind_vec(&ld->b, &Ld->attn_norm, 1, da, "blk.%d.attn_norm.weight", l)) ||
            (st = g4_bind_matrix(&ld->b, &Ld->wq, 1, da, nq * hd, 1, "blk.%d.attn_q.weight", l)) ||
            (st = g4_bind_vec(&ld->b, &Ld->q_norm, 1, hd, "blk.%d.attn_q_norm.weight", l)) ||
            (st = g4_bind_matrix(&ld->b, &Ld->wo, 1, nq * hd, da, 1, "blk.%d.attn_output.weight", l)) ||
            (st = g4_bind_vec(&ld->b, &Ld->post_attn_norm, 1, da, "blk.%d.post_attention_norm.weight", l)) ||
            (st = g4_bind_vec(&ld->b, &Ld->ffn_norm, 1, da, "blk.%d.ffn_norm.weight", l)) ||
            (st = g4_bind_matrix(&ld->b, &Ld->ffn_gate, 1, da, f, 1, "blk.%d.ffn_gate.weight", l)) ||
            (st = g4_bind_matrix(&ld->b, &Ld->ffn_up, 1, da, f, 1, "blk.%d.ffn_up.weight", l)) ||
            (st = g4_bind_matrix(&ld->b, &Ld->ffn_down, 1, f, da, 1, "blk.%d.ffn_down.weight", l)) ||
            (st = g4_bind_vec(&ld->b, &Ld->post_ffw_norm, 1, da, "blk.%d.post_ffw_norm.weight", l)) ||
            (st = g4_bind_vec(&ld->b, &scale, 1, 1, "blk.%d.layer_output_scale.weight", l)))
            return st;
        Ld->out_scale = scale[0];
        char kname[64];
        snprintf(kname, sizeof kname, "blk.%d.attn_k.weight", l);
        if (g4_gguf_find_tensor(ld->g, kname))
            g4_log(&tm->log, G4_LOG_WARN, "drafter %s: ignoring %s (drafter layers read the target's cache)",
                   ld->path, kname);
    }
    if ((st = load_centroids(ld)))
        return st;
    /* the view the blocks read; float weights keep f32 activations as the target's do */
    d->dec = (g4_decoder){hp, d->layers, {d->rope_inv_freq[0], d->rope_inv_freq[1]}, tm->linear};

    for (int64_t i = 0; i < g4_gguf_n_tensors(ld->g); i++) {
        const g4_gguf_tensor *t = g4_gguf_tensor_at(ld->g, i);
        uint64_t ne = 1;
        for (uint32_t k = 0; k < G4_GGUF_MAX_DIMS; k++)
            ne *= (uint64_t)(t->ne[k] > 0 ? t->ne[k] : 1);
        d->n_params += ne;
        d->weight_bytes += t->nbytes;
    }
    d->step_bytes = step_bytes(d);
    return G4_OK;
}

g4_status g4_drafter_load(const g4_model *target, const char *path, uint32_t flags, g4_drafter **out)
{
    *out = NULL;
    g4_drafter *d = calloc(1, sizeof *d);
    if (!d)
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory");
    char err[512] = "";
    unsigned gflags = ((flags & G4_LOAD_NO_MMAP) ? G4_GGUF_NO_MMAP : 0) | ((flags & G4_LOAD_MLOCK) ? G4_GGUF_MLOCK : 0);
    d->gguf = g4_gguf_open(path, gflags, err, sizeof err);
    if (!d->gguf) {
        g4_status st = access(path, R_OK) != 0 ? g4_fail(G4_ERR_IO, "cannot read drafter %s: %s", path, err)
                                               : g4_fail(G4_ERR_FORMAT, "drafter %s: %s", path, err);
        g4_drafter_free(d);
        return st;
    }
    char who[600];
    snprintf(who, sizeof who, "drafter %s: ", path);
    dloader ld = {d, d->gguf, path, {d->gguf, DARCH, who, &d->arena}};
    g4_status st = load_all(&ld, target);
    if (st) {
        g4_drafter_free(d);
        return st;
    }
    g4_log(&target->log, G4_LOG_INFO,
           "loaded drafter %s: %d layers, d %d -> %d, %d heads, vocab %d, window %d, %s head", path, d->hp.n_layer,
           d->hp.n_embd, d->n_embd_out, d->hp.n_head, d->hp.n_vocab, d->hp.n_swa, d->n_centroids ? "centroid-masked" : "full");
    *out = d;
    return G4_OK;
}
