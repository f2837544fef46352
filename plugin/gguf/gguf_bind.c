/* Shared metadata and tensor binding for the loaders (see gguf_bind.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf_bind.h"

void *g4_arena_alloc(g4_arena *a, size_t bytes)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        void **p = realloc(a->p, cap * sizeof *p);
        if (!p)
            return NULL;
        a->p = p;
        a->cap = cap;
    }
    void *m = malloc(bytes ? bytes : 1);
    if (m)
        a->p[a->n++] = m;
    return m;
}

void g4_arena_free(g4_arena *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->p[i]);
    free(a->p);
    a->p = NULL;
    a->n = a->cap = 0;
}

const char *g4_bind_type_name(uint32_t type)
{
    const g4_type_info *ti = g4_type_get(type);
    return ti && ti->name ? ti->name : "invalid";
}

/* ---- metadata ------------------------------------------------------------------------------ */

g4_status g4_bind_u32(const g4_binder *b, const char *key, int required, uint32_t dflt, int32_t *out)
{
    char full[160];
    snprintf(full, sizeof full, "%s.%s", b->prefix, key);
    uint32_t v;
    if (g4_gguf_get_u32(b->g, full, &v) != 0) {
        if (required || g4_gguf_find_kv(b->g, full))
            return g4_fail(G4_ERR_FORMAT, "%smetadata key %s is missing or not an integer", b->who, full);
        v = dflt;
    }
    if (v > INT32_MAX)
        return g4_fail(G4_ERR_FORMAT, "%smetadata key %s = %u is out of range", b->who, full, v);
    *out = (int32_t)v;
    return G4_OK;
}

g4_status g4_bind_f32(const g4_binder *b, const char *key, int required, float dflt, float *out)
{
    char full[160];
    snprintf(full, sizeof full, "%s.%s", b->prefix, key);
    if (g4_gguf_get_f32(b->g, full, out) != 0) {
        if (required || g4_gguf_find_kv(b->g, full))
            return g4_fail(G4_ERR_FORMAT, "%smetadata key %s is missing or not a float", b->who, full);
        *out = dflt;
    }
    return G4_OK;
}

g4_status g4_bind_per_layer(const g4_binder *b, const char *key, int32_t n_layer, int32_t *out)
{
    char full[160];
    snprintf(full, sizeof full, "%s.%s", b->prefix, key);
    const g4_gguf_kv *kv = g4_gguf_find_kv(b->g, full);
    if (!kv)
        return g4_fail(G4_ERR_FORMAT, "%smetadata key %s is missing", b->who, full);
    if (kv->type != G4_GGUF_ARRAY) {
        int32_t v = 0;
        g4_status st = g4_bind_u32(b, key, 1, 0, &v);
        for (int32_t l = 0; !st && l < n_layer; l++)
            out[l] = v;
        return st;
    }
    if (kv->arr_len != (uint64_t)n_layer)
        return g4_fail(G4_ERR_FORMAT, "%smetadata %s has %llu entries, expected %d (block_count)", b->who, full,
                       (unsigned long long)kv->arr_len, n_layer);
    for (int32_t l = 0; l < n_layer; l++) {
        int64_t v;
        if (g4_gguf_arr_i64(kv, (uint64_t)l, &v) != 0 || v < 0 || v > INT32_MAX)
            return g4_fail(G4_ERR_FORMAT, "%smetadata %s[%d] is not a valid count", b->who, full, l);
        out[l] = (int32_t)v;
    }
    return G4_OK;
}

/* ---- tensors ------------------------------------------------------------------------------- */

/* Looks up `name` and checks it is [ne0, ne1, ne2]. *t = NULL when absent and not required. */
static g4_status find_shaped(const g4_binder *b, const char *name, int required, int64_t ne0, int64_t ne1,
                             int64_t ne2, const g4_gguf_tensor **t)
{
    *t = g4_gguf_find_tensor(b->g, name);
    if (!*t) {
        if (!required)
            return G4_OK;
        if (ne2 > 1)
            return g4_fail(G4_ERR_FORMAT, "%stensor %s is missing (expected shape [%lld, %lld, %lld])", b->who,
                           name, (long long)ne0, (long long)ne1, (long long)ne2);
        return g4_fail(G4_ERR_FORMAT, "%stensor %s is missing (expected shape [%lld, %lld])", b->who, name,
                       (long long)ne0, (long long)ne1);
    }
    const int64_t *ne = (*t)->ne;
    if (ne[0] != ne0 || ne[1] != ne1 || ne[2] != ne2 || ne[3] != 1)
        return g4_fail(G4_ERR_FORMAT, "%stensor %s has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld, %lld, 1]",
                       b->who, name, (long long)ne[0], (long long)ne[1], (long long)ne[2], (long long)ne[3],
                       (long long)ne0, (long long)ne1, (long long)ne2);
    return G4_OK;
}

g4_status g4_bind_matrix(const g4_binder *b, g4k_matrix *out, int required, int64_t ne0, int64_t ne1,
                         int64_t ne2, const char *fmt, ...)
{
    char name[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    memset(out, 0, sizeof *out);
    const g4_gguf_tensor *t;
    g4_status st = find_shaped(b, name, required, ne0, ne1, ne2, &t);
    if (st || !t)
        return st;
    if (!g4_type_get(t->type) || !g4k_type_supported(t->type))
        return g4_fail(G4_ERR_UNSUPPORTED, "%stensor %s has type %s (%u), which this build cannot compute with",
                       b->who, name, g4_bind_type_name(t->type), t->type);
    size_t rb = g4_type_row_bytes(t->type, ne0);
    if (!rb)
        return g4_fail(G4_ERR_FORMAT, "%stensor %s: rows of %lld elements do not fit %s blocks", b->who, name,
                       (long long)ne0, g4_bind_type_name(t->type));
    if (t->nbytes < rb * (uint64_t)ne1 * (uint64_t)ne2)
        return g4_fail(G4_ERR_FORMAT, "%stensor %s holds %llu bytes, expected %llu", b->who, name,
                       (unsigned long long)t->nbytes, (unsigned long long)(rb * (uint64_t)ne1 * (uint64_t)ne2));
    out->data = t->data;
    out->type = t->type;
    out->n_cols = ne0;
    out->n_rows = ne1;
    out->row_bytes = rb;
    return G4_OK;
}

g4_status g4_bind_vec(const g4_binder *b, const float **out, int required, int64_t n, const char *fmt, ...)
{
    char name[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    *out = NULL;
    const g4_gguf_tensor *t;
    g4_status st = find_shaped(b, name, required, n, 1, 1, &t);
    if (st || !t)
        return st;
    if (t->type == G4_TYPE_F32 && ((uintptr_t)t->data % sizeof(float)) == 0) {
        *out = t->data;
        return G4_OK;
    }
    if (t->type != G4_TYPE_F32 && t->type != G4_TYPE_F16 && t->type != G4_TYPE_BF16)
        return g4_fail(G4_ERR_UNSUPPORTED, "%stensor %s has type %s; vectors must be F32, F16 or BF16", b->who,
                       name, g4_bind_type_name(t->type));
    float *v = g4_arena_alloc(b->arena, (size_t)n * sizeof(float));
    if (!v)
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "%sout of memory converting %s", b->who, name);
    if (t->type == G4_TYPE_F32)
        memcpy(v, t->data, (size_t)n * sizeof(float));
    else if (g4k_dequantize(t->type, t->data, v, n) != 0)
        return g4_fail(G4_ERR_UNSUPPORTED, "%scannot convert tensor %s (%s)", b->who, name, g4_bind_type_name(t->type));
    *out = v;
    return G4_OK;
}
