/* Loading a gemma4 GGUF (spec §9.1, §9.2): hyperparameters from the gemma4.* keys, every tensor
 * checked for presence, type and exact shape, and bound in place (g4k_matrix views into the
 * mapping; only small vectors are converted to f32 copies). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _WIN32
#include "os.h" /* sysconf(_SC_PHYS_PAGES) */
#endif

#include "media/mmproj.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "gguf/gguf_bind.h"
#include "store/model_resolve.h"
#include "vocab/model_vocab.h"
#include "topology.h" /* g4k_topology_default_threads */


#define ARCH "gemma4"

typedef struct loader {
    g4_model *m;
    const g4_gguf *g;
    const g4_load_params *p;
    g4_binder b; /* gemma4.* keys; converted vectors go to m->arena */
} loader;

/* ---- tensors ------------------------------------------------------------------------------- */

static g4_status bind_experts(const loader *ld, g4_experts *out, int required, int64_t ne0,
                              int64_t ne1, int64_t n_expert, const char *fmt, int32_t l)
{
    char name[160];
    snprintf(name, sizeof name, fmt, l);
    memset(out, 0, sizeof *out);
    g4_status st = g4_bind_matrix(&ld->b, &out->m, required, ne0, ne1, n_expert, "%s", name);
    if (st || !out->m.data)
        return st;
    out->stride = out->m.row_bytes * (size_t)ne1;
    return G4_OK;
}

/* ---- hyperparameters ----------------------------------------------------------------------- */

static g4_status load_hparams(loader *ld, int32_t **ff_out, int32_t **nkv_out, uint8_t **swa_out)
{
    g4_model *m = ld->m;
    g4_hparams *hp = &m->hp;
    g4_status st;
    if ((st = g4_bind_u32(&ld->b, "embedding_length", 1, 0, &hp->n_embd)) ||
        (st = g4_bind_u32(&ld->b, "block_count", 1, 0, &hp->n_layer)) ||
        (st = g4_bind_u32(&ld->b, "attention.head_count", 1, 0, &hp->n_head)) ||
        (st = g4_bind_u32(&ld->b, "context_length", 0, 0, &hp->n_ctx_train)))
        return st;
    if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_layer > G4_MAX_LAYERS || hp->n_head <= 0)
        return g4_fail(G4_ERR_FORMAT, "implausible model size: embedding_length %d, block_count %d, head_count %d",
                       hp->n_embd, hp->n_layer, hp->n_head);
    const int32_t L = hp->n_layer;

    int32_t kf = 0, kvf = 0, ks = 0, kvs = 0;
    if ((st = g4_bind_u32(&ld->b, "attention.key_length", 1, 0, &kf)) ||
        (st = g4_bind_u32(&ld->b, "attention.value_length", 0, (uint32_t)kf, &kvf)) ||
        (st = g4_bind_u32(&ld->b, "attention.key_length_swa", 0, (uint32_t)kf, &ks)) ||
        (st = g4_bind_u32(&ld->b, "attention.value_length_swa", 0, (uint32_t)ks, &kvs)))
        return st;
    if (kvf != kf || kvs != ks)
        return g4_fail(G4_ERR_UNSUPPORTED, "key_length %d/%d differs from value_length %d/%d", kf, ks, kvf, kvs);
    hp->head_dim[G4_LAYER_FULL] = kf;
    hp->head_dim[G4_LAYER_SLIDING] = ks;
    if ((st = g4_bind_u32(&ld->b, "rope.dimension_count", 0, (uint32_t)kf, &hp->n_rot[G4_LAYER_FULL])) ||
        (st = g4_bind_u32(&ld->b, "rope.dimension_count_swa", 0, (uint32_t)ks, &hp->n_rot[G4_LAYER_SLIDING])) ||
        (st = g4_bind_f32(&ld->b, "rope.freq_base", 0, 1e6f, &hp->rope_base[G4_LAYER_FULL])) ||
        (st = g4_bind_f32(&ld->b, "rope.freq_base_swa", 0, 1e4f, &hp->rope_base[G4_LAYER_SLIDING])) ||
        (st = g4_bind_u32(&ld->b, "attention.sliding_window", 0, 0, &hp->n_swa)) ||
        (st = g4_bind_u32(&ld->b, "attention.shared_kv_layers", 0, 0, &hp->n_kv_shared)) ||
        (st = g4_bind_u32(&ld->b, "embedding_length_per_layer_input", 0, 0, &hp->n_embd_per_layer)) ||
        (st = g4_bind_u32(&ld->b, "expert_count", 0, 0, &hp->n_expert)) ||
        (st = g4_bind_u32(&ld->b, "expert_used_count", 0, 0, &hp->n_expert_used)) ||
        (st = g4_bind_u32(&ld->b, "expert_feed_forward_length", 0, 0, &hp->n_ff_expert)) ||
        (st = g4_bind_f32(&ld->b, "attention.layer_norm_rms_epsilon", 0, 1e-6f, &hp->eps)) ||
        (st = g4_bind_f32(&ld->b, "final_logit_softcapping", 0, 0.0f, &hp->softcap)))
        return st;
    for (int t = 0; t < 2; t++)
        if (hp->head_dim[t] <= 0 || hp->head_dim[t] % 2 || hp->n_rot[t] <= 0 || hp->n_rot[t] % 2 ||
            hp->n_rot[t] > hp->head_dim[t] || !(hp->rope_base[t] > 0.0f))
            return g4_fail(G4_ERR_FORMAT, "bad %s attention geometry: head dim %d, rope dims %d, rope base %g",
                           t ? "full" : "sliding", hp->head_dim[t], hp->n_rot[t], (double)hp->rope_base[t]);
    if (hp->n_kv_shared >= L)
        return g4_fail(G4_ERR_FORMAT, "shared_kv_layers %d leaves no layer owning a cache (block_count %d)",
                       hp->n_kv_shared, L);
    if (hp->n_expert > G4_MAX_EXPERTS || (hp->n_expert &&
        (hp->n_expert_used <= 0 || hp->n_expert_used > hp->n_expert || hp->n_ff_expert <= 0)))
        return g4_fail(G4_ERR_FORMAT, "bad MoE geometry: %d experts, %d used, expert width %d",
                       hp->n_expert, hp->n_expert_used, hp->n_ff_expert);
    if (hp->softcap < 0.0f || hp->eps <= 0.0f)
        return g4_fail(G4_ERR_FORMAT, "bad softcap %g or rms epsilon %g", (double)hp->softcap, (double)hp->eps);

    int32_t *ff = calloc((size_t)L, sizeof *ff), *nkv = calloc((size_t)L, sizeof *nkv);
    uint8_t *swa = calloc((size_t)L, 1);
    *ff_out = ff;
    *nkv_out = nkv;
    *swa_out = swa;
    if (!ff || !nkv || !swa)
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory reading hyperparameters");
    if ((st = g4_bind_per_layer(&ld->b, "feed_forward_length", L, ff)) ||
        (st = g4_bind_per_layer(&ld->b, "attention.head_count_kv", L, nkv)))
        return st;
    const g4_gguf_kv *pat = g4_gguf_find_kv(ld->g, ARCH ".attention.sliding_window_pattern");
    if (pat) {
        if (pat->type != G4_GGUF_ARRAY || pat->arr_len != (uint64_t)L)
            return g4_fail(G4_ERR_FORMAT, "metadata " ARCH ".attention.sliding_window_pattern must be %d booleans", L);
        for (int32_t l = 0; l < L; l++) {
            int64_t v;
            if (g4_gguf_arr_i64(pat, (uint64_t)l, &v) != 0)
                return g4_fail(G4_ERR_FORMAT, "metadata " ARCH ".attention.sliding_window_pattern[%d] is not a boolean", l);
            swa[l] = v != 0;
        }
    } else {
        /* HF default: 5 sliding : 1 full, last layer full */
        g4_log(&m->log, G4_LOG_WARN, "no sliding_window_pattern: using 5 sliding : 1 full");
        for (int32_t l = 0; l < L; l++)
            swa[l] = (l % 6 != 5) && l != L - 1;
    }
    int any_swa = 0;
    for (int32_t l = 0; l < L; l++) {
        any_swa |= swa[l];
        if (ff[l] <= 0 || nkv[l] <= 0 || hp->n_head % nkv[l])
            return g4_fail(G4_ERR_FORMAT, "layer %d: feed_forward_length %d / head_count_kv %d (head_count %d) invalid",
                           l, ff[l], nkv[l], hp->n_head);
    }
    if (any_swa && hp->n_swa <= 0)
        return g4_fail(G4_ERR_FORMAT, "sliding layers present but " ARCH ".attention.sliding_window is missing");
    /* E2B/E4B (PLE models) keep image tokens causal; 12B/26B/31B open them on sliding layers
     * (spec §2.5; llama.cpp decides by n_embd, we by the E-series' defining PLE). */
    hp->bidir_vision = hp->n_embd_per_layer == 0;
    return G4_OK;
}

/* ---- layers -------------------------------------------------------------------------------- */

static g4_status load_layer(loader *ld, int32_t l, const int32_t *ff, const int32_t *nkv, const uint8_t *swa)
{
    g4_model *m = ld->m;
    const g4_hparams *hp = &m->hp;
    g4_layer *L = &m->layers[l];
    const int64_t d = hp->n_embd, nq = hp->n_head, P = hp->n_embd_per_layer;
    g4_status st;

    L->type = swa[l] ? G4_LAYER_SLIDING : G4_LAYER_FULL;
    L->head_dim = hp->head_dim[L->type];
    L->n_head_kv = nkv[l];
    L->n_ff = ff[l];
    L->kv_src = l;
    L->writes_kv = 1;
    const int64_t hd = L->head_dim;
    const int shared = l >= hp->n_layer - hp->n_kv_shared;
    if (shared) {
        /* producer: the last non-shared layer of the same type (spec §2.5 item 3) */
        L->kv_src = -1;
        L->writes_kv = 0;
        for (int32_t j = hp->n_layer - hp->n_kv_shared - 1; j >= 0; j--)
            if (m->layers[j].type == L->type) {
                L->kv_src = j;
                break;
            }
        if (L->kv_src < 0)
            return g4_fail(G4_ERR_FORMAT, "KV-shared layer %d (%s) has no earlier %s layer to read from", l,
                           L->type ? "full" : "sliding", L->type ? "full" : "sliding");
        L->n_head_kv = m->layers[L->kv_src].n_head_kv;
    }
    const int64_t nk = L->n_head_kv;

    if ((st = g4_bind_vec(&ld->b, &L->attn_norm, 1, d, "blk.%d.attn_norm.weight", l)) ||
        (st = g4_bind_matrix(&ld->b, &L->wq, 0, d, nq * hd, 1, "blk.%d.attn_q.weight", l)))
        return st;
    if (!L->wq.data) {
        /* convert --fuse-qkv: rows are Q, then K, then V */
        g4k_matrix qkv;
        int64_t rows = nq * hd + 2 * nk * hd;
        if ((st = g4_bind_matrix(&ld->b, &qkv, 0, d, rows, 1, "blk.%d.attn_qkv.weight", l)))
            return st;
        if (!qkv.data)
            return g4_fail(G4_ERR_FORMAT, "tensor blk.%d.attn_q.weight is missing (expected shape [%lld, %lld])",
                           l, (long long)d, (long long)(nq * hd));
        L->wq = L->wk = L->wv = qkv;
        L->wq.n_rows = nq * hd;
        L->wk.n_rows = L->wv.n_rows = nk * hd;
        L->wk.data = (const char *)qkv.data + qkv.row_bytes * (size_t)(nq * hd);
        L->wv.data = (const char *)L->wk.data + qkv.row_bytes * (size_t)(nk * hd);
    } else if (!shared) {
        if ((st = g4_bind_matrix(&ld->b, &L->wk, 1, d, nk * hd, 1, "blk.%d.attn_k.weight", l)) ||
            (st = g4_bind_matrix(&ld->b, &L->wv, L->type == G4_LAYER_SLIDING, d, nk * hd, 1, "blk.%d.attn_v.weight", l)))
            return st;
    }
    if (!shared) {
        L->k_eq_v = L->wv.data == NULL; /* full layers of 12B/26B/31B: V = raw K */
        if ((st = g4_bind_vec(&ld->b, &L->k_norm, 1, hd, "blk.%d.attn_k_norm.weight", l)))
            return st;
    }
    if ((st = g4_bind_vec(&ld->b, &L->q_norm, 1, hd, "blk.%d.attn_q_norm.weight", l)) ||
        (st = g4_bind_matrix(&ld->b, &L->wo, 1, nq * hd, d, 1, "blk.%d.attn_output.weight", l)) ||
        (st = g4_bind_vec(&ld->b, &L->post_attn_norm, 1, d, "blk.%d.post_attention_norm.weight", l)) ||
        (st = g4_bind_vec(&ld->b, &L->ffn_norm, 1, d, "blk.%d.ffn_norm.weight", l)) ||
        (st = g4_bind_matrix(&ld->b, &L->ffn_gate, 1, d, L->n_ff, 1, "blk.%d.ffn_gate.weight", l)) ||
        (st = g4_bind_matrix(&ld->b, &L->ffn_up, 1, d, L->n_ff, 1, "blk.%d.ffn_up.weight", l)) ||
        (st = g4_bind_matrix(&ld->b, &L->ffn_down, 1, L->n_ff, d, 1, "blk.%d.ffn_down.weight", l)) ||
        (st = g4_bind_vec(&ld->b, &L->post_ffw_norm, 1, d, "blk.%d.post_ffw_norm.weight", l)))
        return st;
    const float *scale;
    if ((st = g4_bind_vec(&ld->b, &scale, 0, 1, "blk.%d.layer_output_scale.weight", l)))
        return st;
    L->out_scale = scale ? scale[0] : 1.0f;

    if (P > 0 && ((st = g4_bind_matrix(&ld->b, &L->ple_gate, 1, d, P, 1, "blk.%d.inp_gate.weight", l)) ||
                  (st = g4_bind_matrix(&ld->b, &L->ple_proj, 1, P, d, 1, "blk.%d.proj.weight", l)) ||
                  (st = g4_bind_vec(&ld->b, &L->ple_post_norm, 1, d, "blk.%d.post_norm.weight", l))))
        return st;

    if (hp->n_expert > 0) {
        const int64_t E = hp->n_expert, fe = hp->n_ff_expert;
        if ((st = g4_bind_matrix(&ld->b, &L->router, 1, d, E, 1, "blk.%d.ffn_gate_inp.weight", l)) ||
            (st = g4_bind_vec(&ld->b, &L->router_scale, 1, d, "blk.%d.ffn_gate_inp.scale", l)) ||
            (st = g4_bind_vec(&ld->b, &L->expert_scale, 0, E, "blk.%d.ffn_down_exps.scale", l)) ||
            /* Ollama's monolithic blobs keep the per-expert scale under the router's name. */
            (!L->expert_scale &&
             (st = g4_bind_vec(&ld->b, &L->expert_scale, 1, E, "blk.%d.ffn_gate_inp.per_expert_scale", l))) ||
            (st = g4_bind_vec(&ld->b, &L->pre_ffw_norm_2, 1, d, "blk.%d.pre_ffw_norm_2.weight", l)) ||
            (st = g4_bind_vec(&ld->b, &L->post_ffw_norm_1, 1, d, "blk.%d.post_ffw_norm_1.weight", l)) ||
            (st = g4_bind_vec(&ld->b, &L->post_ffw_norm_2, 1, d, "blk.%d.post_ffw_norm_2.weight", l)) ||
            (st = bind_experts(ld, &L->exp_gate_up, 0, d, 2 * fe, E, "blk.%d.ffn_gate_up_exps.weight", l)) ||
            (st = bind_experts(ld, &L->exp_down, 1, fe, d, E, "blk.%d.ffn_down_exps.weight", l)))
            return st;
        L->exp_fused = L->exp_gate_up.m.data != NULL;
        if (!L->exp_fused &&
            ((st = bind_experts(ld, &L->exp_gate, 1, d, fe, E, "blk.%d.ffn_gate_exps.weight", l)) ||
             (st = bind_experts(ld, &L->exp_up, 1, d, fe, E, "blk.%d.ffn_up_exps.weight", l))))
            return st;
    }
    return G4_OK;
}

static const char *variant_of(const g4_hparams *hp)
{
    if (hp->n_layer == 35 && hp->n_embd == 1536) return "E2B";
    if (hp->n_layer == 42 && hp->n_embd == 2560) return "E4B";
    if (hp->n_layer == 48 && hp->n_embd == 3840) return "12B";
    if (hp->n_layer == 30 && hp->n_embd == 2816 && hp->n_expert) return "26B-A4B";
    if (hp->n_layer == 60 && hp->n_embd == 5376) return "31B";
    return "custom";
}

static int progress(const loader *ld, float f)
{
    return !ld->p->progress || ld->p->progress(ld->p->progress_user_data, f) != 0;
}

/* ---- load / free --------------------------------------------------------------------------- */

void g4_model_destroy(g4_model *m)
{
    if (!m)
        return;
    g4_model_vocab_free(m->tok);
    g4_mmproj_free(m->mmproj);
    if (m->mm_gguf)
        g4_gguf_close(m->mm_gguf);
    g4k_pool_free(m->pool);
    g4k_packed_free(m->lm_head_packed);
    g4_model_free_packed_layers(m);
    if (m->draft)
        m->draft_free(m->draft);
    g4_arena_free(&m->arena);
    free(m->rope_inv_freq[0]);
    free(m->rope_inv_freq[1]);
    free(m->layers);
    if (m->gguf)
        g4_gguf_close(m->gguf);
    m->magic = G4_DEAD_MAGIC;
    free(m);
}

/* RoPE tables of both layer types; rope_freqs applies to full layers only (llama.cpp: "used by
 * full layers only"). */
static g4_status rope_tables(g4_model *m, const float *freq_factors, int64_t n_factors)
{
    const g4_hparams *hp = &m->hp;
    for (int type = 0; type < 2; type++) {
        m->rope_inv_freq[type] = malloc((size_t)(hp->n_rot[type] / 2 > 0 ? hp->n_rot[type] / 2 : 1) * sizeof(float));
        if (!m->rope_inv_freq[type])
            return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory building RoPE tables");
        g4_rope_inv_freq(hp->n_rot[type], hp->rope_base[type], type == G4_LAYER_FULL ? freq_factors : NULL,
                         n_factors, m->rope_inv_freq[type]);
    }
    return G4_OK;
}

static g4_status load_weights(loader *ld)
{
    g4_model *m = ld->m;
    g4_hparams *hp = &m->hp;
    int32_t *ff = NULL, *nkv = NULL;
    uint8_t *swa = NULL;
    g4_status st = load_hparams(ld, &ff, &nkv, &swa);
    if (st)
        goto done;

    const g4_gguf_tensor *te = g4_gguf_find_tensor(ld->g, "token_embd.weight");
    if (!te) {
        st = g4_fail(G4_ERR_FORMAT, "tensor token_embd.weight is missing (expected shape [%d, n_vocab])", hp->n_embd);
        goto done;
    }
    if (te->ne[1] <= 0 || te->ne[1] > INT32_MAX) {
        st = g4_fail(G4_ERR_FORMAT, "tensor token_embd.weight has a bad vocabulary size %lld", (long long)te->ne[1]);
        goto done;
    }
    hp->n_vocab = (int32_t)te->ne[1];
    const int64_t d = hp->n_embd, V = hp->n_vocab, LP = (int64_t)hp->n_layer * hp->n_embd_per_layer;
    if ((st = g4_bind_matrix(&ld->b, &m->tok_embd, 1, d, V, 1, "token_embd.weight")) ||
        (st = g4_bind_matrix(&ld->b, &m->lm_head, 0, d, V, 1, "output.weight")) ||
        (st = g4_bind_vec(&ld->b, &m->output_norm, 1, d, "output_norm.weight")))
        goto done;
    if (!m->lm_head.data)
        m->lm_head = m->tok_embd; /* tied */
    if (hp->n_embd_per_layer > 0 &&
        ((st = g4_bind_matrix(&ld->b, &m->ple_tok_embd, 1, LP, V, 1, "per_layer_token_embd.weight")) ||
         (st = g4_bind_matrix(&ld->b, &m->ple_model_proj, 1, d, LP, 1, "per_layer_model_proj.weight")) ||
         (st = g4_bind_vec(&ld->b, &m->ple_proj_norm, 1, hp->n_embd_per_layer, "per_layer_proj_norm.weight"))))
        goto done;
    const float *freqs;
    int64_t n_freqs = hp->n_rot[G4_LAYER_FULL] / 2;
    if ((st = g4_bind_vec(&ld->b, &freqs, 0, n_freqs, "rope_freqs.weight")) ||
        (st = rope_tables(m, freqs, freqs ? n_freqs : 0)))
        goto done;

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) {
        st = g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory for %d layers", hp->n_layer);
        goto done;
    }
    for (int32_t l = 0; l < hp->n_layer; l++) {
        if ((st = load_layer(ld, l, ff, nkv, swa)))
            goto done;
        if (!progress(ld, 0.1f + 0.85f * (float)(l + 1) / (float)hp->n_layer)) {
            st = g4_fail(G4_ERR_CANCELLED, "loading cancelled by the progress callback");
            goto done;
        }
    }
done:
    free(ff);
    free(nkv);
    free(swa);
    return st;
}

uint64_t g4_physical_ram(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    return pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
}

/* The image/audio projector: its own file, or (path == NULL) the model's own GGUF. */
static g4_status load_projector(g4_model *m, const char *path, unsigned gflags)
{
    char err[512] = "";
    const g4_gguf *g = m->gguf;
    if (path) {
        if (!(m->mm_gguf = g4_gguf_open(path, gflags, err, sizeof err)))
            return access(path, R_OK) != 0 ? g4_fail(G4_ERR_IO, "cannot read projector %s: %s", path, err)
                                           : g4_fail(G4_ERR_FORMAT, "projector %s: %s", path, err);
        g = m->mm_gguf;
    }
    m->mmproj = g4_mmproj_load(g, m->hp.n_embd, err, sizeof err);
    if (!m->mmproj) {
        g4_status code = strstr(err, "projection_dim") ? G4_ERR_MISMATCH
                         : strstr(err, "not supported") ? G4_ERR_UNSUPPORTED
                                                        : G4_ERR_FORMAT;
        return g4_fail(code, "projector %s: %s", path ? path : "(inside the model file)", err);
    }
    if (g4_mmproj_has_vision(m->mmproj))
        m->capabilities |= G4_MODEL_HAS_VISION;
    if (g4_mmproj_has_audio(m->mmproj))
        m->capabilities |= G4_MODEL_HAS_AUDIO;
    return G4_OK;
}

g4_status g4_model_load(const g4_load_params *p, const g4_drafter_loader *drafter, g4_model **out)
{
    char err[512] = "";
    if (g4k_init(err, sizeof err) != 0)
        return g4_fail(G4_ERR_UNSUPPORTED, "kernel initialisation failed: %s", err);
    g4_model *m = calloc(1, sizeof *m);
    if (!m)
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory");
    m->magic = G4_MODEL_MAGIC;
    m->log.fn = p->log;
    m->log.user_data = p->log_user_data;
    m->log.level = p->log_level;
    m->flags = p->flags;
    m->max_memory = p->max_memory;
    m->vocab_only = (p->flags & G4_LOAD_VOCAB_ONLY) != 0;
    const char *ex = getenv("G4_EXACT");
    m->linear = ex && *ex && strcmp(ex, "0") != 0 ? G4_LINEAR_F32 : G4_LINEAR_DECODER;
    loader ld = {.m = m, .p = p};
    g4_status st = G4_OK;
    g4_resolved *res = NULL;

    /* A path, an LM Studio folder or an Ollama name: find the GGUF files first. Explicit
     * mmproj/draft paths in the parameters win over what the store provides. */
    res = malloc(sizeof *res); /* ~12 KiB: off the stack */
    if (!res) {
        st = g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    if ((st = g4_resolve_model(p->model, res)) != G4_OK)
        goto fail;
    const char *model_path = res->model;
    const char *mmproj_path = p->mmproj && *p->mmproj ? p->mmproj : (res->mmproj[0] ? res->mmproj : NULL);
    int inline_proj = !(p->mmproj && *p->mmproj) && res->projector_in_model;
    if (strcmp(res->source, "path") != 0)
        g4_log(&m->log, G4_LOG_INFO, "resolved '%s' (%s) to %s%s%s", p->model, res->source, model_path,
               mmproj_path ? " + " : "", mmproj_path ? mmproj_path : "");

    unsigned gflags = ((p->flags & G4_LOAD_NO_MMAP) ? G4_GGUF_NO_MMAP : 0) |
                      ((p->flags & G4_LOAD_MLOCK) ? G4_GGUF_MLOCK : 0);
    m->gguf = g4_gguf_open(model_path, gflags, err, sizeof err);
    if (!m->gguf) {
        st = access(model_path, R_OK) != 0 ? g4_fail(G4_ERR_IO, "cannot read %s: %s", model_path, err)
             : strstr(err, "out of memory") ? g4_fail(G4_ERR_OUT_OF_MEMORY, "%s: %s", model_path, err)
                                            : g4_fail(G4_ERR_FORMAT, "%s: %s", model_path, err);
        goto fail;
    }
    ld.g = m->gguf;
    ld.b = (g4_binder){ld.g, ARCH, "", &m->arena};
    if (!progress(&ld, 0.05f)) {
        st = g4_fail(G4_ERR_CANCELLED, "loading cancelled by the progress callback");
        goto fail;
    }
    g4_gguf_str arch;
    if (g4_gguf_get_str(ld.g, "general.architecture", &arch) != 0) {
        st = g4_fail(G4_ERR_FORMAT, "%s has no general.architecture", p->model);
        goto fail;
    }
    if (!g4_gguf_str_eq(arch, ARCH)) {
        st = g4_fail(G4_ERR_UNSUPPORTED, "%s: architecture '%.*s' is not gemma4%s", p->model,
                     (int)(arch.len > 64 ? 64 : arch.len), arch.ptr,
                     g4_gguf_str_eq(arch, "gemma4-assistant") ? " (a drafter: pass it as draft)" : "");
        goto fail;
    }
    g4_gguf_str name;
    if (g4_gguf_get_str(ld.g, "general.name", &name) == 0)
        snprintf(m->name, sizeof m->name, "%.*s", (int)(name.len > 127 ? 127 : name.len), name.ptr);

    m->tok = g4_model_vocab_load(ld.g, err, sizeof err);
    if (!m->tok && strstr(err, "out of memory")) {
        st = g4_fail(G4_ERR_OUT_OF_MEMORY, "%s: tokenizer: %s", p->model, err);
        goto fail;
    }
    if (!m->tok && g4_gguf_find_kv(ld.g, "tokenizer.ggml.tokens")) {
        /* A vocabulary is there but unusable: a corrupt file, not a model without one. */
        st = g4_fail(G4_ERR_FORMAT, "%s: tokenizer: %s", p->model, err);
        goto fail;
    }
    if (!m->tok) {
        if (m->vocab_only) {
            st = g4_fail(G4_ERR_FORMAT, "%s: tokenizer: %s", p->model, err);
            goto fail;
        }
        g4_log(&m->log, G4_LOG_WARN, "%s: no usable tokenizer (%s); token ids only", p->model, err);
    }

    if (!m->vocab_only) {
        if ((st = load_weights(&ld)))
            goto fail;
        m->dec = (g4_decoder){&m->hp, m->layers, {m->rope_inv_freq[0], m->rope_inv_freq[1]}, m->linear};
        /* Every token the tokenizer can produce needs an embedding row: refuse at load what
         * would otherwise fail only when a prompt holds such a token. */
        int32_t n_tok_vocab = g4_model_vocab_n(m->tok);
        if (n_tok_vocab > m->hp.n_vocab) {
            st = g4_fail(G4_ERR_FORMAT,
                         "%s: token_embd.weight has %d rows but the tokenizer has %d tokens",
                         p->model, (int)m->hp.n_vocab, (int)n_tok_vocab);
            goto fail;
        }
        const char *draft_path = p->draft && *p->draft ? p->draft : (res->draft[0] ? res->draft : NULL);
        if (draft_path && !drafter) {
            st = g4_fail(G4_ERR_UNSUPPORTED, "%s: this build loads no drafter", draft_path);
            goto fail;
        }
        if (draft_path && (st = drafter->load(m, draft_path, p->flags, &m->draft)))
            goto fail;
        if (m->draft)
            m->draft_free = drafter->free;
    } else {
        /* metadata only: still fill what g4_model_get_info reports */
        int32_t *ff = NULL, *nkv = NULL;
        uint8_t *swa = NULL;
        st = load_hparams(&ld, &ff, &nkv, &swa);
        free(ff);
        free(nkv);
        free(swa);
        if (st)
            goto fail;
        const g4_gguf_tensor *te = g4_gguf_find_tensor(ld.g, "token_embd.weight");
        m->hp.n_vocab = te ? (int32_t)te->ne[1] : 0;
    }

    if (!m->vocab_only && (mmproj_path || inline_proj) && (st = load_projector(m, mmproj_path, gflags)))
        goto fail;

    for (int64_t i = 0; i < g4_gguf_n_tensors(ld.g); i++) {
        const g4_gguf_tensor *t = g4_gguf_tensor_at(ld.g, i);
        uint64_t ne = 1;
        for (uint32_t k = 0; k < G4_GGUF_MAX_DIMS; k++)
            ne *= (uint64_t)(t->ne[k] > 0 ? t->ne[k] : 1);
        m->n_params += ne;
        m->weight_bytes += t->nbytes;
    }
    snprintf(m->variant, sizeof m->variant, "%s", variant_of(&m->hp));

    m->n_threads = p->n_threads;
    if (m->n_threads <= 0) /* what g4k_pool_new(0) would start, without starting it */
        m->n_threads = g4k_topology_default_threads();
    if (m->mmproj && !(m->pool = g4k_pool_new(m->n_threads)))
        g4_log(&m->log, G4_LOG_WARN, "could not start a thread pool for the embedders; they run on one thread");
    g4_model_pack_head(m);
    g4_model_pack_layers(m);
    if (m->mmproj && p->mm_precision != G4_MM_PRECISION_F32) { /* opt-in: convert the encoders' weights once */
        int rc = g4_mmproj_set_precision(m->mmproj, m->pool, p->mm_precision, err, sizeof err);
        if (rc != G4_OK) {
            st = g4_fail((g4_status)rc, "projector precision: %s", err);
            goto fail;
        }
    }
    int32_t train = m->hp.n_ctx_train > 0 ? m->hp.n_ctx_train : 8192;
    m->n_ctx_default = p->n_ctx > 0 ? p->n_ctx : (train < 8192 ? train : 8192);

    /* Refuse up front what cannot fit: mapped weights + one session's KV cache and scratch at
     * the default context. (Mapped pages can be evicted, but a model that does not fit in RAM
     * thrashes the disk at every token, which hosts want to hear about before, not during.) */
    if (!m->vocab_only && !(p->flags & G4_LOAD_NO_MEMCHECK)) {
        uint64_t limit = p->max_memory ? p->max_memory : g4_physical_ram();
        uint64_t need = m->weight_bytes + (uint64_t)m->head_extra_bytes +
                        g4_model_kv_bytes(m, m->n_ctx_default, NULL, NULL) + g4_model_scratch_bytes(m);
        if (limit && need > limit) {
            st = g4_fail(G4_ERR_OUT_OF_MEMORY,
                         "%s needs about %.2f GiB (weights %.2f GiB + KV cache and scratch for %d "
                         "positions), more than the limit of %.2f GiB; use a smaller context, a "
                         "smaller quantization, or G4_LOAD_NO_MEMCHECK to load anyway",
                         p->model, need / 1073741824.0, m->weight_bytes / 1073741824.0, m->n_ctx_default,
                         limit / 1073741824.0);
            goto fail;
        }
    }

    if (!progress(&ld, 1.0f)) {
        st = g4_fail(G4_ERR_CANCELLED, "loading cancelled by the progress callback");
        goto fail;
    }
    g4_log(&m->log, G4_LOG_INFO,
           "loaded %s (%s): %d layers, d %d, %d heads, vocab %d, window %d, %d KV-shared, PLE %d, "
           "%d experts (top %d), %d threads, isa %s%s",
           m->name, m->variant, m->hp.n_layer, m->hp.n_embd, m->hp.n_head, m->hp.n_vocab, m->hp.n_swa,
           m->hp.n_kv_shared, m->hp.n_embd_per_layer, m->hp.n_expert, m->hp.n_expert_used, m->n_threads,
           g4k_isa_name(g4k_active_isa()), m->linear == G4_LINEAR_F32 ? ", exact f32 activations" : "");
    free(res);
    *out = m;
    return G4_OK;
fail:
    free(res);
    g4_model_destroy(m);
    return st;
}

uint64_t g4_model_kv_bytes(const g4_model *m, int32_t n_ctx, uint64_t *per_token, uint64_t *fixed)
{
    return g4_model_kv_bytes_typed(m, n_ctx, G4_TYPE_F32, G4_TYPE_F32, per_token, fixed);
}

uint64_t g4_model_kv_bytes_typed(const g4_model *m, int32_t n_ctx, uint32_t type_k, uint32_t type_v,
                                 uint64_t *per_token, uint64_t *fixed)
{
    const g4_hparams *hp = &m->hp;
    /* Mirrors g4_session_new: full layers keep n_ctx rows, sliding layers a ring of
     * window - 1 + one chunk + the rollback margin (or n_ctx if smaller). */
    int64_t ring = (int64_t)hp->n_swa - 1 + G4_DEFAULT_UBATCH + G4_DEFAULT_ROLLBACK_MARGIN;
    if (ring > n_ctx)
        ring = n_ctx;
    uint64_t pt = 0, fx = 0;
    for (int32_t l = 0; m->layers && l < hp->n_layer; l++) {
        const g4_layer *L = &m->layers[l];
        if (L->kv_src != l)
            continue; /* KV-shared: stores nothing */
        const int64_t n = (int64_t)L->n_head_kv * L->head_dim;
        uint64_t row = (uint64_t)g4_kv_row_bytes(type_k, n) + (uint64_t)g4_kv_row_bytes(type_v, n);
        if (L->type == G4_LAYER_FULL)
            pt += row;
        else
            fx += row * (uint64_t)ring;
    }
    if (per_token)
        *per_token = pt;
    if (fixed)
        *fixed = fx;
    return fx + pt * (uint64_t)n_ctx;
}

uint64_t g4_model_scratch_bytes(const g4_model *m)
{
    const g4_hparams *hp = &m->hp;
    /* Activations for one chunk of G4_DEFAULT_UBATCH rows (residual, norms, q/k/v, FFN, PLE)
     * plus logits for one row: a generous upper bound of what g4_step allocates. */
    int64_t ff = 0, q = 0;
    for (int32_t l = 0; m->layers && l < hp->n_layer; l++) {
        if (m->layers[l].n_ff > ff)
            ff = m->layers[l].n_ff;
        int64_t qw = (int64_t)hp->n_head * m->layers[l].head_dim;
        if (qw > q)
            q = qw;
    }
    if (hp->n_expert > 0 && 2 * hp->n_ff_expert > ff)
        ff = 2 * hp->n_ff_expert;
    int64_t per_row = 8 * (int64_t)hp->n_embd + 4 * q + 2 * ff + 2 * (int64_t)hp->n_layer * hp->n_embd_per_layer;
    return (uint64_t)(per_row * G4_DEFAULT_UBATCH + hp->n_vocab) * sizeof(float);
}

const struct g4_mmproj *g4_model_mmproj(const g4_model *m) { return m ? m->mmproj : NULL; }
g4k_pool *g4_model_pool(const g4_model *m) { return m ? m->pool : NULL; }

const struct g4_tokenizer *g4_model_tokenizer(const g4_model *m) { return m ? m->tok : NULL; }
int g4_model_is_eog(const g4_model *m, int32_t token) { return g4_model_vocab_is_eog(m->tok, token); }
const g4_hparams *g4_model_hparams(const g4_model *m) { return &m->hp; }

int32_t g4_model_last_kv_layer(const g4_model *m, int32_t type)
{
    for (int32_t l = m->hp.n_layer - 1; l >= 0; l--)
        if (m->layers && m->layers[l].kv_src == l && m->layers[l].type == type)
            return l;
    return -1;
}
