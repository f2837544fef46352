/* libFuzzer target: g4_manifest_check on arbitrary bytes (the manifest comes from disk and is
 * untrusted). Seed it with the shipped manifest; libFuzzer writes new inputs into the FIRST folder:
 *   clang -fsanitize=fuzzer,address,undefined -DG4_BUILDING_LIBRARY -DG4_HAVE_CJSON=1 \
 *         -Iabi -Iplugin fuzz/fuzz_manifest.c plugin/store/manifest_check.c plugin/base/errors.c -lcjson \
 *         -o fuzz_manifest
 *   mkdir -p /tmp/mcorpus && ./fuzz_manifest -max_len=8192 /tmp/mcorpus manifest/
 * fuzz-args: -max_len=8192
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* exact-size copy without a terminator: the checker must honour len, not look for a NUL */
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    if (size)
        memcpy(buf, data, size);
    g4_status st = g4_manifest_check(buf, size);
    /* the message is always a terminated string; a failure always has one */
    const char *msg = g4_last_error();
    if (st != G4_OK && (!msg || !msg[0]))
        abort();
    if (st != G4_OK && st != G4_ERR_FORMAT)
        abort();
    free(buf);
    return 0;
}
