/* Plugin manifest validation (manifest/manifest.schema.json). Placeholder until the manifest
 * lands: reports G4_ERR_UNSUPPORTED. */
#include "internal.h"

G4_API g4_status G4_CALL g4_manifest_check(const char *json, size_t len)
{
    g4_clear_error();
    if (!json)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_manifest_check: json is NULL");
    (void)len;
    return g4_fail(G4_ERR_UNSUPPORTED, "g4_manifest_check: not implemented in this build");
}
