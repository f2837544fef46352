#include "ggml_types.h"

/* Block sizes from ggml-common.h (sizeof of each block struct). */
static const g4_type_info k_types[G4_TYPE_COUNT] = {
    [G4_TYPE_F32] = {"F32", 1, 4},
    [G4_TYPE_F16] = {"F16", 1, 2},
    [G4_TYPE_Q4_0] = {"Q4_0", 32, 18},
    [G4_TYPE_Q4_1] = {"Q4_1", 32, 20},
    [G4_TYPE_Q5_0] = {"Q5_0", 32, 22},
    [G4_TYPE_Q5_1] = {"Q5_1", 32, 24},
    [G4_TYPE_Q8_0] = {"Q8_0", 32, 34},
    [G4_TYPE_Q8_1] = {"Q8_1", 32, 36},
    [G4_TYPE_Q2_K] = {"Q2_K", 256, 84},
    [G4_TYPE_Q3_K] = {"Q3_K", 256, 110},
    [G4_TYPE_Q4_K] = {"Q4_K", 256, 144},
    [G4_TYPE_Q5_K] = {"Q5_K", 256, 176},
    [G4_TYPE_Q6_K] = {"Q6_K", 256, 210},
    [G4_TYPE_Q8_K] = {"Q8_K", 256, 292},
    [G4_TYPE_IQ2_XXS] = {"IQ2_XXS", 256, 66},
    [G4_TYPE_IQ2_XS] = {"IQ2_XS", 256, 74},
    [G4_TYPE_IQ3_XXS] = {"IQ3_XXS", 256, 98},
    [G4_TYPE_IQ1_S] = {"IQ1_S", 256, 50},
    [G4_TYPE_IQ4_NL] = {"IQ4_NL", 32, 18},
    [G4_TYPE_IQ3_S] = {"IQ3_S", 256, 110},
    [G4_TYPE_IQ2_S] = {"IQ2_S", 256, 82},
    [G4_TYPE_IQ4_XS] = {"IQ4_XS", 256, 136},
    [G4_TYPE_I8] = {"I8", 1, 1},
    [G4_TYPE_I16] = {"I16", 1, 2},
    [G4_TYPE_I32] = {"I32", 1, 4},
    [G4_TYPE_I64] = {"I64", 1, 8},
    [G4_TYPE_F64] = {"F64", 1, 8},
    [G4_TYPE_IQ1_M] = {"IQ1_M", 256, 56},
    [G4_TYPE_BF16] = {"BF16", 1, 2},
    [G4_TYPE_TQ1_0] = {"TQ1_0", 256, 54},
    [G4_TYPE_TQ2_0] = {"TQ2_0", 256, 66},
    [G4_TYPE_MXFP4] = {"MXFP4", 32, 17},
};

const g4_type_info *g4_type_get(uint32_t type)
{
    if (type >= G4_TYPE_COUNT || k_types[type].name == NULL)
        return NULL;
    return &k_types[type];
}

size_t g4_type_row_bytes(uint32_t type, int64_t n)
{
    const g4_type_info *ti = g4_type_get(type);
    if (!ti || n < 0 || n % ti->block_elems != 0)
        return 0;
    return (size_t)(n / ti->block_elems) * ti->block_bytes;
}
