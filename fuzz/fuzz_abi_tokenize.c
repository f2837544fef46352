/* libFuzzer target: g4_tokenize / g4_detokenize / g4_token_to_piece through the ABI, on the real
 * Gemma 4 vocabulary loaded once with G4_LOAD_VOCAB_ONLY (what a host does). Byte 0 picks the
 * tokenize flags (unknown bits included) and the detokenize flags; the rest is the text.
 * fuzz_tokenizer.c covers the internal encoder's round trip; this one covers the ABI layer:
 * two-call pattern, flags, arbitrary (invalid UTF-8) input, ids handed back.
 *   sh scripts/fuzz.sh abi_tokenize
 * The vocabulary: $G4_VOCAB, else $G4_FIXTURES/tokenizer/ggml-vocab-gemma-4.gguf, else
 * ../shared/fixtures/tokenizer/ggml-vocab-gemma-4.gguf (run from the repo root).
 * fuzz-args: -max_len=2048
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "g4plug.h"

static g4_model *model;
static int32_t n_vocab;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char path[1024];
    const char *v = getenv("G4_VOCAB"), *fx = getenv("G4_FIXTURES");
    if (v && *v)
        snprintf(path, sizeof path, "%s", v);
    else
        snprintf(path, sizeof path, "%s/tokenizer/ggml-vocab-gemma-4.gguf",
                 fx && *fx ? fx : "../shared/fixtures");
    g4_load_params p;
    g4_load_params_init(&p);
    p.model = path;
    p.flags = G4_LOAD_VOCAB_ONLY;
    if (g4_load(&p, &model) != G4_OK) {
        fprintf(stderr, "fuzz_abi_tokenize: %s: %s\n", path, g4_last_error());
        abort();
    }
    n_vocab = g4_vocab_size(model);
    if (n_vocab <= 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint32_t flags = data[0] & 0x3u, dflags = (data[0] >> 2) & 0x1u;
    if (data[0] & 0x80u)
        flags |= 0x100u; /* unknown bit: must be refused, not ignored */
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    size_t n = 0;
    g4_status st = g4_tokenize(model, text, len, flags, NULL, 0, &n);
    if (flags & 0x100u) {
        if (st != G4_ERR_INVALID_ARGUMENT || !g4_last_error()[0])
            abort();
        return 0;
    }
    if (st != G4_OK && st != G4_ERR_BUFFER_TOO_SMALL)
        abort(); /* invalid UTF-8 is tokenized byte by byte, never an error */
    if (st == G4_OK && n != 0)
        abort();
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    size_t n2 = 0;
    if (!ids || g4_tokenize(model, text, len, flags, ids, n, &n2) != G4_OK || n2 != n)
        abort();
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= n_vocab)
            abort();
    /* a too-small buffer reports the same count and says so */
    if (n > 1) {
        size_t n3 = 0;
        if (g4_tokenize(model, text, len, flags, ids, n - 1, &n3) != G4_ERR_BUFFER_TOO_SMALL ||
            n3 != n)
            abort();
        if (g4_tokenize(model, text, len, flags, ids, n, &n2) != G4_OK)
            abort();
    }
    size_t dl = 0;
    st = g4_detokenize(model, ids, n, dflags, NULL, 0, &dl);
    if (st != G4_OK && st != G4_ERR_BUFFER_TOO_SMALL)
        abort();
    char *back = malloc(dl + 1);
    size_t dl2 = 0;
    if (!back || g4_detokenize(model, ids, n, dflags, back, dl + 1, &dl2) != G4_OK || dl2 != dl)
        abort();
    /* without BOS or special parsing, ordinary text round-trips exactly (U+2581 reads as ' ',
     * which only makes the output shorter: compare lengths loosely, bytes only when plain) */
    if (!flags && dflags && !memchr(text, 0xE2, len) && (dl != len || memcmp(back, text, len)))
        abort();
    for (size_t i = 0; i < n && i < 64; i++) {
        char piece[256];
        size_t pl = 0;
        st = g4_token_to_piece(model, ids[i], dflags, piece, sizeof piece, &pl);
        if (st != G4_OK && st != G4_ERR_BUFFER_TOO_SMALL)
            abort();
    }
    free(back);
    free(ids);
    return 0;
}
