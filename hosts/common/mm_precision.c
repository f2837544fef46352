/* --mm-precision for the hosts (mm_precision.h). */
#include "mm_precision.h"

#include <string.h>

int g4_mm_precision_parse(const char *name)
{
    static const char *const names[] = {"f32", "bf16", "q8"}; /* index = G4_MM_PRECISION_* */
    for (int i = 0; name && i < 3; i++)
        if (!strcmp(name, names[i]))
            return i;
    return -1;
}

int g4_mm_precision_apply(g4_load_params *p, int precision)
{
    if (p->struct_size >= offsetof(g4_load_params, mm_precision) + sizeof p->mm_precision) {
        p->mm_precision = precision;
        return 0;
    }
    return precision == G4_MM_PRECISION_F32 ? 0 : -1;
}
