/* Binding GGUF metadata and tensors to a loader's fields, with the checks every loader needs
 * (present, shape, type, byte size) and error messages that name the key or tensor. Shared by
 * the text model (model_load.c) and the MTP drafter (draft_load.c). Weights stay views into the
 * mapping; only small vectors stored as F16/BF16 are converted, into an arena freed with the
 * model. */
#ifndef G4_GGUF_BIND_H
#define G4_GGUF_BIND_H

#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "base/internal.h"
#include "kernels.h"

/* Allocations that live as long as their owner; freed all at once. */
typedef struct g4_arena {
    void **p;
    size_t n, cap;
} g4_arena;
void *g4_arena_alloc(g4_arena *a, size_t bytes); /* NULL when out of memory */
void g4_arena_free(g4_arena *a);

typedef struct g4_binder {
    const g4_gguf *g;
    const char *prefix; /* metadata key prefix: "gemma4", "gemma4-assistant" */
    const char *who;    /* prepended to messages: "" or "drafter FILE: " */
    g4_arena *arena;    /* where converted vectors live */
} g4_binder;

/* PREFIX.key as an int32 (any integer type that fits). Absent and not required: dflt. */
g4_status g4_bind_u32(const g4_binder *b, const char *key, int required, uint32_t dflt, int32_t *out);
/* PREFIX.key as a float. Absent and not required: dflt. */
g4_status g4_bind_f32(const g4_binder *b, const char *key, int required, float dflt, float *out);
/* PREFIX.key: one integer for every layer, or an array of n_layer integers. */
g4_status g4_bind_per_layer(const g4_binder *b, const char *key, int32_t n_layer, int32_t *out);

/* The tensor named by fmt, checked to be [ne0, ne1, ne2] of a type the kernels compute with,
 * as a g4k_matrix of ne1 rows (expert stacks: the first of ne2). Absent and not required: a
 * zeroed matrix (data NULL) and G4_OK. */
g4_status g4_bind_matrix(const g4_binder *b, g4k_matrix *out, int required, int64_t ne0, int64_t ne1,
                         int64_t ne2, const char *fmt, ...) G4_PRINTF(7, 8);
/* A vector of n floats: F32 used in place, F16/BF16 converted once into the arena. Absent and not
 * required: *out = NULL and G4_OK. */
g4_status g4_bind_vec(const g4_binder *b, const float **out, int required, int64_t n, const char *fmt, ...)
    G4_PRINTF(5, 6);

const char *g4_bind_type_name(uint32_t type);

#endif
