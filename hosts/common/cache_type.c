/* KV cache type names for the hosts' --cache-type-k / --cache-type-v. */
#include "cache_type.h"

#include <string.h>

static const struct {
    const char *name;
    int type;
    double ratio;
} k_types[] = {
    {"f32", G4_KV_TYPE_F32, 1.0},
    {"f16", G4_KV_TYPE_F16, 0.5},
    {"bf16", G4_KV_TYPE_BF16, 0.5},
    {"q8_0", G4_KV_TYPE_Q8_0, 34.0 / 128.0},
};

int g4_cache_type_parse(const char *name)
{
    for (size_t i = 0; name && i < sizeof k_types / sizeof k_types[0]; i++)
        if (!strcmp(name, k_types[i].name))
            return k_types[i].type;
    return -1;
}

const char *g4_cache_type_name(int type)
{
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
        if (k_types[i].type == type)
            return k_types[i].name;
    return "?";
}

double g4_cache_type_ratio(int type)
{
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
        if (k_types[i].type == type)
            return k_types[i].ratio;
    return 1.0;
}
