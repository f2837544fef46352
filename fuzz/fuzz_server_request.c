/* libFuzzer target for g4-server's request parser (hosts/server/srv_request.c): JSON bodies of
 * every endpoint → srv_request, plus the base64 decoder. No network, no model.
 *
 * Build (from the repo root):
 *   clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -Ihosts/server \
 *     $(pkg-config --cflags libcjson) fuzz/fuzz_server_request.c hosts/server/srv_request.c hosts/server/srv_tools.c \
 *     $(pkg-config --libs libcjson) -lm -o build/fuzz_server_request
 *   build/fuzz_server_request -max_total_time=60 -max_len=65536
 * The first input byte picks the endpoint; the rest is the body.
 * For scripts/fuzz.sh (make fuzz):
 *   fuzz-sources: -Ihosts/server hosts/server/srv_request.c hosts/server/srv_tools.c
 *   fuzz-args: -max_len=65536
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "srv_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    srv_endpoint ep = (srv_endpoint)(SRV_EP_CHAT + data[0] % 5);
    const char *body = (const char *)data + 1;
    size_t len = size - 1;

    srv_limits lim;
    srv_limits_default(&lim);
    lim.max_media = 4; /* small limits reach the limit paths */
    lim.max_stop = 4;
    lim.max_messages = 64;
    srv_request r;
    char err[256];
    if (srv_request_parse(ep, body, len, &lim, &r, err, sizeof err) == 0) {
        /* invariants the server relies on */
        for (size_t i = 0; i < r.n_msgs; i++)
            if (!r.msgs[i].content || !r.msgs[i].role[0])
                abort();
        for (size_t i = 0; i < r.n_media; i++)
            if (!r.media[i].data || (r.media[i].kind != SRV_MEDIA_IMAGE && r.media[i].kind != SRV_MEDIA_AUDIO))
                abort();
        for (size_t i = 0; i < r.n_stop; i++)
            if (!r.stop[i] || !r.stop[i][0])
                abort();
        for (size_t i = 0; i < r.n_tokens; i++)
            if (r.tokens[i] < 0)
                abort();
        if (r.n_media > lim.max_media || r.n_stop > lim.max_stop || r.n_msgs > lim.max_messages)
            abort();
        if ((ep == SRV_EP_TOKENIZE) != (r.prompt != NULL && ep == SRV_EP_TOKENIZE))
            abort();
    } else if (!memchr(err, '\0', sizeof err) || !err[0]) {
        abort(); /* every failure says why */
    }
    srv_request_free(&r);
    srv_request_free(&r); /* idempotent */

    /* base64 on raw bytes: never reads or writes out of bounds */
    size_t n = 0;
    unsigned char *d = srv_base64_decode(body, len, &n);
    if (d && n > len)
        abort();
    free(d);
    return 0;
}
