/* Per-session KV cache (spec §2.9).
 *
 * Each layer that owns a cache stores K and V as rows of n_head_kv*head_dim elements in the
 * session's cache types (F32 default, F16, BF16 or Q8_0; K and V may differ), written with
 * g4k_quantize and read only through the kernels' row interface (g4k_row_dot / g4k_row_axpy)
 * at the byte offset g4_kv_head_off gives a KV head; position p
 * lives in row p % cap. Full layers get cap = n_ctx (never wraps). Sliding layers get a ring of
 * cap = window - 1 + (largest chunk) + rollback margin rows (or n_ctx if that is smaller): a
 * chunk of m tokens overwrites the rows of positions up to m + margin older than the window
 * still needs, so both the chunk's own attention and a rollback within the margin stay exact.
 * KV-shared layers own nothing. Positions are contiguous, so no per-row position is stored:
 * the ring holds positions [lo, n_past). */
#ifndef G4_KV_CACHE_H
#define G4_KV_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "g4plug.h" /* g4_status */

/* Session defaults that size the sliding rings (window - 1 + ubatch + margin rows), here because
 * the model's memory estimate (model_load.c) sizes them the same way. */
#define G4_DEFAULT_UBATCH 512          /* tokens per internal forward chunk */
#define G4_DEFAULT_ROLLBACK_MARGIN 256 /* extra ring rows for rollback beyond one chunk */

typedef struct g4_kv_layer {
    uint8_t *k, *v;  /* [cap][row] each; NULL for layers that do not own a cache */
    int32_t cap;     /* rows */
    int32_t row;     /* elements per row = n_head_kv * head_dim */
    uint32_t type_k, type_v;   /* g4_type: F32, F16, BF16, Q8_0 */
    size_t rb_k, rb_v;         /* bytes per row */
} g4_kv_layer;

typedef struct g4_kv_cache {
    g4_kv_layer *layers; /* [n_layer] */
    int32_t n_layer;
    int32_t n_ctx;
    int32_t n_swa;       /* window (0: no sliding layers) */
    int32_t swa_cap;     /* rows of every sliding ring */
    int32_t lo;          /* oldest position the sliding rings still hold */
    uint32_t type_k, type_v;
} g4_kv_cache;

/* A read-only view of one layer's cache, for the MTP drafter. Row of position p: p % cap,
 * valid for pos_lo <= p < pos_hi. */
typedef struct g4_kv_view {
    const uint8_t *k, *v;
    uint32_t type_k, type_v;
    size_t rb_k, rb_v;   /* bytes per row (all KV heads) */
    int32_t cap, n_head_kv, head_dim;
    int32_t pos_lo, pos_hi;
    int32_t type;        /* G4_LAYER_SLIDING / G4_LAYER_FULL */
    int32_t n_swa;
} g4_kv_view;

struct g4_model;

/* G4_ERR_OUT_OF_MEMORY (g4_fail) on allocation failure, nothing left allocated. type_k / type_v
 * must pass g4_kv_type_check. */
g4_status g4_kv_init(g4_kv_cache *kv, const struct g4_model *m, int32_t n_ctx, int32_t swa_cap, uint32_t type_k,
                     uint32_t type_v);
/* G4_OK if `type` can hold this model's K/V rows (F32, F16, BF16; Q8_0 needs head dims that are
 * multiples of 32), else G4_ERR_INVALID_ARGUMENT with the reason set (g4_fail). */
g4_status g4_kv_type_check(const struct g4_model *m, uint32_t type);
/* Bytes of one row of n elements in a cache type. */
size_t g4_kv_row_bytes(uint32_t type, int64_t n);
void g4_kv_free(g4_kv_cache *kv);
/* Grow the sliding rings to at least `cap` rows, keeping positions [lo, n_past); on
 * G4_ERR_OUT_OF_MEMORY the cache is unchanged. */
g4_status g4_kv_grow_swa(g4_kv_cache *kv, int32_t cap, int32_t n_past);
/* Rows a chunk of m tokens may take without evicting what its own queries need. */
int32_t g4_kv_max_chunk(const g4_kv_cache *kv);
/* Record that positions [pos0, pos0 + n) were written (the ring forgets older ones). */
void g4_kv_note_write(g4_kv_cache *kv, int32_t pos0, int32_t n);
/* Smallest n_past a truncation may go back to while the sliding layers stay exact. */
int32_t g4_kv_min_rollback(const g4_kv_cache *kv, int32_t n_past);
void g4_kv_reset(g4_kv_cache *kv);

static inline uint8_t *g4_kv_k(const g4_kv_layer *L, int32_t pos)
{
    return L->k + (size_t)(pos % L->cap) * L->rb_k;
}
static inline uint8_t *g4_kv_v(const g4_kv_layer *L, int32_t pos)
{
    return L->v + (size_t)(pos % L->cap) * L->rb_v;
}
/* Byte offset of KV head g (head_dim hd) inside a row of `type`. */
static inline size_t g4_kv_head_off(uint32_t type, int32_t g, int32_t hd)
{
    return g4_kv_row_bytes(type, (int64_t)g * hd);
}

#endif
