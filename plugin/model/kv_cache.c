/* Per-session KV cache: full layers linear, sliding layers a ring, shared layers nothing. */
#include <stdlib.h>
#include <string.h>

#include "model/kv_cache.h"
#include "model/model.h"

static int ring_wraps(const g4_kv_cache *kv) { return kv->n_swa > 0 && kv->swa_cap < kv->n_ctx; }

size_t g4_kv_row_bytes(uint32_t type, int64_t n) { return g4_type_row_bytes(type, n); }

g4_status g4_kv_type_check(const g4_model *m, uint32_t type)
{
    if (!g4k_row_type_supported(type))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "KV cache type %u is not one of f32, f16, bf16, q8_0", type);
    if (type == G4_TYPE_Q8_0 && m->layers)
        for (int32_t l = 0; l < m->hp.n_layer; l++)
            if (m->layers[l].head_dim % 32)
                return g4_fail(G4_ERR_INVALID_ARGUMENT, "KV cache type q8_0 needs head dims that are multiples of 32 "
                               "(layer %d has %d)", l, m->layers[l].head_dim);
    return G4_OK;
}

static int alloc_layer(g4_kv_layer *L, int32_t cap, int32_t row, uint32_t type_k, uint32_t type_v)
{
    L->type_k = type_k;
    L->type_v = type_v;
    L->rb_k = g4_kv_row_bytes(type_k, row);
    L->rb_v = g4_kv_row_bytes(type_v, row);
    L->k = malloc((size_t)cap * L->rb_k);
    L->v = malloc((size_t)cap * L->rb_v);
    L->cap = cap;
    L->row = row;
    if (!L->k || !L->v) {
        free(L->k);
        free(L->v);
        L->k = L->v = NULL;
        return -1;
    }
    return 0;
}

g4_status g4_kv_init(g4_kv_cache *kv, const g4_model *m, int32_t n_ctx, int32_t swa_cap, uint32_t type_k,
                     uint32_t type_v)
{
    memset(kv, 0, sizeof *kv);
    kv->type_k = type_k;
    kv->type_v = type_v;
    const g4_hparams *hp = &m->hp;
    kv->n_layer = hp->n_layer;
    kv->n_ctx = n_ctx;
    kv->layers = calloc((size_t)hp->n_layer, sizeof *kv->layers);
    if (!kv->layers)
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory for a KV cache of %d positions", n_ctx);
    int any_swa = 0;
    for (int32_t l = 0; l < hp->n_layer; l++)
        any_swa |= m->layers[l].type == G4_LAYER_SLIDING && m->layers[l].kv_src == l;
    kv->n_swa = any_swa ? hp->n_swa : 0;
    kv->swa_cap = swa_cap < n_ctx ? swa_cap : n_ctx;
    for (int32_t l = 0; l < hp->n_layer; l++) {
        const g4_layer *L = &m->layers[l];
        if (L->kv_src != l)
            continue; /* KV-shared: reads its producer's cache */
        int32_t cap = L->type == G4_LAYER_SLIDING ? kv->swa_cap : n_ctx;
        if (alloc_layer(&kv->layers[l], cap, L->n_head_kv * L->head_dim, type_k, type_v) != 0) {
            g4_kv_free(kv);
            return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory for a KV cache of %d positions", n_ctx);
        }
    }
    return G4_OK;
}

void g4_kv_free(g4_kv_cache *kv)
{
    if (!kv->layers)
        return;
    for (int32_t l = 0; l < kv->n_layer; l++) {
        free(kv->layers[l].k);
        free(kv->layers[l].v);
    }
    free(kv->layers);
    memset(kv, 0, sizeof *kv);
}

g4_status g4_kv_grow_swa(g4_kv_cache *kv, int32_t cap, int32_t n_past)
{
    if (cap > kv->n_ctx)
        cap = kv->n_ctx;
    if (cap <= kv->swa_cap)
        return G4_OK;
    /* Allocate every new ring first so that a failure leaves the cache untouched. */
    g4_kv_layer *nl = calloc((size_t)kv->n_layer, sizeof *nl);
    if (!nl)
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory growing the sliding-window cache to %d rows", cap);
    for (int32_t l = 0; l < kv->n_layer; l++) {
        const g4_kv_layer *L = &kv->layers[l];
        if (!L->k || L->cap != kv->swa_cap || L->cap == kv->n_ctx)
            continue;
        if (alloc_layer(&nl[l], cap, L->row, L->type_k, L->type_v) != 0) {
            for (int32_t j = 0; j < kv->n_layer; j++) {
                free(nl[j].k);
                free(nl[j].v);
            }
            free(nl);
            return g4_fail(G4_ERR_OUT_OF_MEMORY, "out of memory growing the sliding-window cache to %d rows", cap);
        }
    }
    int32_t lo = kv->lo > n_past ? n_past : kv->lo;
    for (int32_t l = 0; l < kv->n_layer; l++) {
        g4_kv_layer *L = &kv->layers[l];
        if (!nl[l].k)
            continue;
        for (int32_t p = lo; p < n_past; p++) {
            memcpy(g4_kv_k(&nl[l], p), g4_kv_k(L, p), L->rb_k);
            memcpy(g4_kv_v(&nl[l], p), g4_kv_v(L, p), L->rb_v);
        }
        free(L->k);
        free(L->v);
        *L = nl[l];
    }
    free(nl);
    kv->swa_cap = cap;
    return G4_OK;
}

int32_t g4_kv_max_chunk(const g4_kv_cache *kv)
{
    if (!ring_wraps(kv))
        return kv->n_ctx;
    return kv->swa_cap - (kv->n_swa - 1);
}

void g4_kv_note_write(g4_kv_cache *kv, int32_t pos0, int32_t n)
{
    if (!ring_wraps(kv))
        return;
    int32_t evicted = pos0 + n - kv->swa_cap; /* rows of positions < this were overwritten */
    if (evicted > kv->lo)
        kv->lo = evicted;
}

int32_t g4_kv_min_rollback(const g4_kv_cache *kv, int32_t n_past)
{
    if (!ring_wraps(kv) || kv->lo == 0)
        return 0;
    /* A query at position n needs keys n - n_swa + 1 .. n - 1 from the ring. */
    int32_t need = kv->lo + kv->n_swa - 1;
    return need < n_past ? need : n_past;
}

void g4_kv_reset(g4_kv_cache *kv) { kv->lo = 0; }
