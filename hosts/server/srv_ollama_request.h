/* srv_ollama_request — Ollama request bodies translated to OpenAI ones (see the .c file). */
#ifndef SRV_OLLAMA_REQUEST_H
#define SRV_OLLAMA_REQUEST_H

#include <cJSON.h>

#include "srv_request.h"

/* `in` is the parsed Ollama body of /api/chat (generate = 0) or /api/generate (1). Returns a new
 * OpenAI-style body for *ep (SRV_EP_CHAT, or SRV_EP_COMPLETION for a raw generate) and sets
 * *stream (Ollama streams by default); NULL with a client-facing message in err. */
cJSON *srv_ollama_translate(const cJSON *in, int generate, srv_endpoint *ep, int *stream, char *err, size_t errn);

#endif
