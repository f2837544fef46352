/* libFuzzer target: g4_chat_format with fuzzed roles, contents and flags, through the two-call
 * pattern. Input layout: byte 0 = flags (all 32 bits derived from it, unknown bits included),
 * then records "<role byte><content bytes>" separated by 0x00. The role byte picks a valid role,
 * an invalid one, or NULL; contents are arbitrary bytes up to the separator.
 *   sh scripts/fuzz.sh chat
 * Seeds: fuzz/corpus/chat.
 * fuzz-args: -max_len=4096
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "g4plug.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const roles[] = {"system", "user", "model", "assistant", "developer",
                                    "tool", "", "User", NULL};
#define N_ROLES (sizeof roles / sizeof roles[0])
#define MAX_MSGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint32_t flags = data[0] & 0x3u;
    if (data[0] & 0x80u)
        flags |= (uint32_t)data[0] << 24; /* sometimes unknown bits too */
    /* one writable copy; records become NUL-terminated strings in place */
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    g4_chat_message msgs[MAX_MSGS];
    size_t n = 0;
    for (size_t i = 0; i + 1 < size && n < MAX_MSGS;) {
        uint8_t r = (uint8_t)text[i];
        size_t end = i + 1;
        while (end < size - 1 && text[end])
            end++;
        text[end < size - 1 ? end : size - 1] = 0;
        msgs[n].role = roles[r % N_ROLES];
        msgs[n].content = (r & 0x40u) && r % N_ROLES == 0 ? NULL : text + i + 1;
        n++;
        i = end + 1;
    }
    size_t len = 0;
    g4_status st = g4_chat_format(NULL, n ? msgs : NULL, n, flags, NULL, 0, &len);
    if (st != G4_OK && st != G4_ERR_BUFFER_TOO_SMALL) {
        if (st != G4_ERR_INVALID_ARGUMENT || !g4_last_error()[0])
            abort();
        free(text);
        return 0;
    }
    if (st != G4_ERR_BUFFER_TOO_SMALL || !g4_last_error()[0])
        abort(); /* output is never empty ("<bos>"), so a NULL buffer is always too small */
    char *out = malloc(len + 1);
    size_t len2 = 0;
    if (!out || g4_chat_format(NULL, msgs, n, flags, out, len + 1, &len2) != G4_OK || len2 != len ||
        out[len] != 0 || strlen(out) > len)
        abort();
    /* a short buffer: same length reported, prefix written, still terminated */
    size_t cap = len / 2 + 1, len3 = 0;
    char *half = malloc(cap);
    if (!half || g4_chat_format(NULL, msgs, n, flags, half, cap, &len3) != G4_ERR_BUFFER_TOO_SMALL ||
        len3 != len || half[cap - 1] != 0 || memcmp(half, out, cap - 1) != 0)
        abort();
    if (memcmp(out, "<bos>", 5) != 0)
        abort();
    free(half);
    free(out);
    free(text);
    return 0;
}
