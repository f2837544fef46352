/* libFuzzer target: the tool-call / thinking parser (g4_chat_parse) on arbitrary generated text,
 * and g4_chat_format_json on arbitrary messages / tools JSON. Input: byte 0 picks the mode and
 * flags; for the formatter the rest is "messages\0tools". Every successful parse must be JSON
 * that names content and tool_calls.
 *   sh scripts/fuzz.sh tool_calls           (seeds: fuzz/corpus/tool_calls)
 * fuzz-args: -max_len=8192
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "g4plug.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1, need = 0;
    if (data[0] & 1) {
        g4_status st = g4_chat_parse(NULL, s, n, 0, NULL, 0, &need);
        if (st != G4_ERR_BUFFER_TOO_SMALL)
            abort();
        char *buf = malloc(need + 1);
        size_t got = 0;
        if (!buf)
            return 0;
        if (g4_chat_parse(NULL, s, n, 0, buf, need + 1, &got) != G4_OK || got != need || buf[got] ||
            strncmp(buf, "{\"content\":", 11) || !strstr(buf, "\"tool_calls\":["))
            abort();
        free(buf);
        return 0;
    }
    const char *sep = memchr(s, 0, n);
    size_t ml = sep ? (size_t)(sep - s) : n;
    const char *tools = sep ? sep + 1 : NULL;
    size_t tl = sep ? n - ml - 1 : 0;
    uint32_t flags = (uint32_t)(data[0] >> 1) & 3u;
    g4_status st = g4_chat_format_json(NULL, s, ml, tools, tl, flags, NULL, 0, &need);
    if (st == G4_ERR_BUFFER_TOO_SMALL) {
        char *buf = malloc(need + 1);
        size_t got = 0;
        if (!buf)
            return 0;
        if (g4_chat_format_json(NULL, s, ml, tools, tl, flags, buf, need + 1, &got) != G4_OK || got != need ||
            strncmp(buf, "<bos>", 5))
            abort();
        free(buf);
    } else if (st == G4_OK || !g4_last_error()[0]) {
        abort(); /* NULL buffer: either too small or an error with a message */
    }
    return 0;
}
