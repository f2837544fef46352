/* KV cache type names of the hosts' --cache-type-k / --cache-type-v (llama.cpp's spelling) and
 * the G4_KV_TYPE_* values of g4_session_params.kv_type_k / kv_type_v (ABI 1.1). */
#ifndef G4_HOST_CACHE_TYPE_H
#define G4_HOST_CACHE_TYPE_H

#include "g4plug.h"

/* Hosts default to f16, like llama.cpp (the library's own default is f32). */
#define G4_HOST_DEFAULT_CACHE_TYPE G4_KV_TYPE_F16

/* "f32", "f16", "bf16", "q8_0" -> G4_KV_TYPE_*; -1 for anything else. */
int g4_cache_type_parse(const char *name);
/* The name of a G4_KV_TYPE_* value ("?" if unknown). */
const char *g4_cache_type_name(int type);
/* Bytes of KV cache per f32 byte: 1, 1/2, 1/2, 34/128 (every Gemma 4 head dim is a multiple of 32). */
double g4_cache_type_ratio(int type);

#endif
