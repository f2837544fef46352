/* Versioned structs at the ABI boundary (abi/ABI.md "Struct versioning"): hosts built against any
 * 1.x header pass their own sizeof in struct_size; the library reads and writes only the bytes
 * both sides know, so appending members in a minor version never breaks an older host. */
#include <string.h>

#include "base/internal.h"

#define STRUCT_SIZE_MAX 65536u /* no g4 struct comes near; a bigger size is a bug or garbage */

g4_status g4_check_struct(const void *p, uint32_t struct_size, size_t min_size, size_t known_size,
                          const char *what)
{
    if (!p)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "%s is NULL", what);
    if (struct_size > STRUCT_SIZE_MAX)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "%s.struct_size is %u: not an initialised struct",
                       what, (unsigned)struct_size);
    if (struct_size < min_size)
        return g4_fail(G4_ERR_INVALID_ARGUMENT,
                       "%s.struct_size is %u, smaller than the smallest known layout (%zu): "
                       "initialise it with the matching *_init function",
                       what, (unsigned)struct_size, min_size);
    /* A newer host may pass a larger struct: fine as long as it uses nothing we don't know. */
    if (struct_size > known_size) {
        const unsigned char *b = (const unsigned char *)p;
        for (size_t i = known_size; i < struct_size; i++)
            if (b[i])
                return g4_fail(G4_ERR_UNSUPPORTED,
                               "%s uses fields this library version does not know "
                               "(struct_size %u > %zu)",
                               what, (unsigned)struct_size, known_size);
    }
    return G4_OK;
}

g4_status g4_struct_init(void *p, size_t caller_size, size_t v1_size, const void *defaults,
                         size_t known_size, const char *what)
{
    if (!p)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "%s_init: NULL struct", what);
    if (caller_size < v1_size || caller_size > STRUCT_SIZE_MAX)
        return g4_fail(G4_ERR_INVALID_ARGUMENT,
                       "%s_init_sized: size %zu is not a %s layout (1.0 needs at least %zu bytes)",
                       what, caller_size, what, v1_size);
    memset(p, 0, caller_size);
    memcpy(p, defaults, caller_size < known_size ? caller_size : known_size);
    *(uint32_t *)p = (uint32_t)caller_size;
    return G4_OK;
}

g4_status g4_struct_in(void *dst, size_t known_size, const void *src, size_t v1_size,
                       const char *what)
{
    if (!src)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "%s is NULL", what);
    uint32_t size;
    memcpy(&size, src, sizeof size);
    g4_status st = g4_check_struct(src, size, v1_size, known_size, what);
    if (st)
        return st;
    memcpy(dst, src, size < known_size ? size : known_size);
    *(uint32_t *)dst = (uint32_t)known_size;
    return G4_OK;
}

g4_status g4_check_out_struct(const void *p, size_t v1_size, const char *what)
{
    if (!p)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "%s is NULL", what);
    uint32_t size;
    memcpy(&size, p, sizeof size);
    if (size < v1_size || size > STRUCT_SIZE_MAX)
        return g4_fail(G4_ERR_INVALID_ARGUMENT,
                       "%s.struct_size is %u, not a %s layout (1.0 needs at least %zu bytes): "
                       "set it to sizeof(%s)",
                       what, (unsigned)size, what, v1_size, what);
    return G4_OK;
}

void g4_struct_out(void *host, const void *src, size_t known_size)
{
    uint32_t size;
    memcpy(&size, host, sizeof size);
    if (size > known_size)
        size = (uint32_t)known_size;
    memcpy(host, src, size);
    memcpy(host, &size, sizeof size);
}
