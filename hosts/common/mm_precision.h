/* The hosts' --mm-precision f32|bf16|q8: G4_MM_PRECISION_* of g4_load_params.mm_precision (ABI 1.1),
 * the arithmetic of the image/audio encoders (f32, the default, is the conformance path). */
#ifndef G4_HOST_MM_PRECISION_H
#define G4_HOST_MM_PRECISION_H

#include <stddef.h>

#include "g4plug.h"

/* "f32", "bf16", "q8" -> G4_MM_PRECISION_*; -1 for anything else. */
int g4_mm_precision_parse(const char *name);

/* Sets p->mm_precision when the loaded library knows the field (its g4_load_params_init filled
 * struct_size past it); returns 0, or -1 when a non-default precision was asked of a 1.0 library. */
int g4_mm_precision_apply(g4_load_params *p, int precision);

#endif
