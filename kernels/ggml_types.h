/* ggml tensor type ids and block geometry, exactly as GGUF files store them.
 * The numbering is part of the file format (ggml.h enum ggml_type) and never changes. */
#ifndef G4_GGML_TYPES_H
#define G4_GGML_TYPES_H

#include <stddef.h>
#include <stdint.h>

typedef enum g4_type {
    G4_TYPE_F32 = 0,
    G4_TYPE_F16 = 1,
    G4_TYPE_Q4_0 = 2,
    G4_TYPE_Q4_1 = 3,
    /* 4, 5: removed Q4_2/Q4_3, never valid */
    G4_TYPE_Q5_0 = 6,
    G4_TYPE_Q5_1 = 7,
    G4_TYPE_Q8_0 = 8,
    G4_TYPE_Q8_1 = 9,
    G4_TYPE_Q2_K = 10,
    G4_TYPE_Q3_K = 11,
    G4_TYPE_Q4_K = 12,
    G4_TYPE_Q5_K = 13,
    G4_TYPE_Q6_K = 14,
    G4_TYPE_Q8_K = 15,
    G4_TYPE_IQ2_XXS = 16,
    G4_TYPE_IQ2_XS = 17,
    G4_TYPE_IQ3_XXS = 18,
    G4_TYPE_IQ1_S = 19,
    G4_TYPE_IQ4_NL = 20,
    G4_TYPE_IQ3_S = 21,
    G4_TYPE_IQ2_S = 22,
    G4_TYPE_IQ4_XS = 23,
    G4_TYPE_I8 = 24,
    G4_TYPE_I16 = 25,
    G4_TYPE_I32 = 26,
    G4_TYPE_I64 = 27,
    G4_TYPE_F64 = 28,
    G4_TYPE_IQ1_M = 29,
    G4_TYPE_BF16 = 30,
    /* 31-33: removed Q4_0_4_4/Q4_0_4_8/Q4_0_8_8, never valid in files */
    G4_TYPE_TQ1_0 = 34,
    G4_TYPE_TQ2_0 = 35,
    /* 36-38: removed IQ4_NL_4_4/4_8/8_8 */
    G4_TYPE_MXFP4 = 39,
    G4_TYPE_COUNT = 40
} g4_type;

typedef struct g4_type_info {
    const char *name;     /* "Q4_K"; NULL for ids that are not valid types */
    uint32_t block_elems; /* elements per block (1 for plain types) */
    uint32_t block_bytes; /* bytes per block */
} g4_type_info;

/* NULL when `type` is not a valid ggml type id. */
const g4_type_info *g4_type_get(uint32_t type);

/* Bytes of a row of n elements; 0 if the type is invalid or n is not a multiple of the block size. */
size_t g4_type_row_bytes(uint32_t type, int64_t n);

#endif
