/* libFuzzer target: Ollama request bodies (/api/chat, /api/generate) through g4-server's
 * translation to OpenAI bodies (hosts/server/srv_ollama_request.c) and the request parser it
 * feeds (srv_request.c, srv_tools.c). No network, no model. Byte 0 picks chat or generate.
 *   sh scripts/fuzz.sh ollama_request       (seeds: fuzz/corpus/ollama_request)
 *   fuzz-sources: -Ihosts/server hosts/server/srv_ollama_request.c hosts/server/srv_request.c hosts/server/srv_tools.c
 *   fuzz-args: -max_len=65536
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "srv_ollama_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    cJSON *in = cJSON_ParseWithLength((const char *)data + 1, size - 1);
    if (!in)
        return 0;
    char err[512];
    srv_endpoint ep;
    int stream = 0;
    cJSON *o = srv_ollama_translate(in, data[0] & 1, &ep, &stream, err, sizeof err);
    cJSON_Delete(in);
    if (!o) {
        if (!err[0])
            abort();
        return 0;
    }
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!txt)
        return 0;
    srv_request r;
    if (srv_request_parse(ep, txt, strlen(txt), NULL, &r, err, sizeof err) != 0 && !err[0])
        abort();
    srv_request_free(&r);
    cJSON_free(txt);
    return 0;
}
