/* g4_dl — how a host finds and opens libg4plug at run time.
 *
 * Hosts never link the library: they dlopen it (LoadLibraryExW on Windows) and use the
 * version-1 function table from g4_get_api(1). This keeps a host working with any library of
 * the same ABI major and lets one binary run against a freshly built library.
 *
 * Search order when path_or_null is NULL:
 *   1. $G4PLUG_LIB (a full path)
 *   2. next to the executable (libg4plug.so.1 / g4plug.dll / libg4plug.1.dylib)
 *   3. ../lib/ relative to the executable (installed layout)
 *   4. build/ relative to the working directory (running from the repo root)
 *   5. the system search path (bare name)
 */
#ifndef G4_DL_H
#define G4_DL_H

#include <stddef.h>
#include <string.h>

#include "g4plug.h"

typedef struct g4dl {
    void *handle;           /* dlopen / HMODULE handle */
    const g4_api_v1 *api;   /* the library's table, or `fallback` when built by dlsym */
    g4_api_v1 fallback;     /* filled symbol by symbol when g4_get_api is absent */
    uint32_t abi_version;   /* what the library reports: (major << 16) | minor */
    int used_fallback;      /* 1 if the table came from individual symbol lookups */
    char path[4096];        /* the path that was opened */
} g4dl;

/* Open the library, check its ABI major and fetch the table. Returns 0 on success; otherwise
 * nonzero with a NUL-terminated message in err (at most n bytes) listing what was tried.
 * When g4_get_api is missing, members are looked up one by one; absent ones stay NULL. */
int g4dl_open(const char *path_or_null, g4dl *out, char *err, size_t n);

/* Initialise a parameter struct for this host's own sizeof: through the 1.1 sized initialiser
 * when the library has one, else (a 1.0 library) zeroed and filled in its 1.0 layout, which is
 * all such a library reads. kind: load_params, image_options, session_params, batch,
 * sampler_params, generate_params. */
#define G4DL_INIT(api, kind, p) \
    (G4_API_HAS(api, kind##_init_sized) ? (void)(api)->kind##_init_sized((p), sizeof *(p)) \
                                      : (memset((p), 0, sizeof *(p)), (api)->kind##_init(p)))

/* Look up any exported symbol by name (NULL if absent). */
void *g4dl_sym(const g4dl *d, const char *name);

void g4dl_close(g4dl *d);

/* The folder of the running executable (UTF-8, no trailing separator). 0 on success. */
int g4dl_exe_dir(char *buf, size_t n);

#endif
