/* libFuzzer target for the Gemma 4 tokenizer: encode arbitrary bytes, decode, demand the round trip.
 *
 * Build (from the repo root):
 *   clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -Iplugin -Ikernels \
 *     fuzz/fuzz_tokenizer.c plugin/vocab/tokenizer*.c plugin/gguf/gguf_read.c kernels/ggml_types.c -lm \
 *     -o build/fuzz_tokenizer
 *   build/fuzz_tokenizer -max_total_time=60 -max_len=4096
 * The vocabulary comes from $G4_VOCAB, else ../shared/fixtures/tokenizer/ggml-vocab-gemma-4.gguf
 * (relative to the working directory, i.e. run it from the repo root).
 * fuzz-args: -max_len=4096
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "vocab/tokenizer.h"

static g4_tokenizer *tok; /* loaded once; read-only afterwards */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *path = getenv("G4_VOCAB");
    if (!path || !*path)
        path = "../shared/fixtures/tokenizer/ggml-vocab-gemma-4.gguf";
    char err[512];
    g4_gguf *g = g4_gguf_open(path, 0, err, sizeof err);
    tok = g ? g4_tokenizer_load(g, err, sizeof err) : NULL;
    if (g)
        g4_gguf_close(g);
    if (!tok) {
        fprintf(stderr, "fuzz_tokenizer: %s: %s\n", path, err);
        abort();
    }
    return 0;
}

/* encode with flags, decode with dflags, compare with data where U+2581 reads as ' ' */
static void round_trip(const uint8_t *data, size_t size, unsigned flags, unsigned dflags)
{
    char err[256];
    int64_t n = g4_tokenizer_encode(tok, (const char *)data, size, flags, NULL, 0, err, sizeof err);
    if (n < 0) {
        fprintf(stderr, "encode failed: %s\n", err);
        abort();
    }
    int32_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    if (g4_tokenizer_encode(tok, (const char *)data, size, flags, ids, (size_t)n, err, sizeof err) != n)
        abort();
    int64_t dl = g4_tokenizer_decode(tok, ids, (size_t)n, dflags, NULL, 0);
    if (dl < 0)
        abort();
    char *back = malloc((size_t)dl + 1);
    if (g4_tokenizer_decode(tok, ids, (size_t)n, dflags, back, (size_t)dl) != dl)
        abort();
    /* the expected text: every '▁' in the input decodes as ' ' */
    char *want = malloc(size + 1);
    size_t wl = 0;
    for (size_t i = 0; i < size;) {
        if (i + 3 <= size && memcmp(data + i, "\xe2\x96\x81", 3) == 0) {
            want[wl++] = ' ';
            i += 3;
        } else {
            want[wl++] = (char)data[i++];
        }
    }
    if ((size_t)dl != wl || memcmp(back, want, wl) != 0) {
        fprintf(stderr, "round trip mismatch (flags %u): %zu bytes in, %lld out\n", flags, size, (long long)dl);
        abort();
    }
    /* pieces agree with decode one token at a time */
    int64_t sum = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t pl = g4_tokenizer_piece(tok, ids[i], dflags, NULL, 0);
        if (pl < 0)
            abort();
        sum += pl;
    }
    if (sum != dl)
        abort();
    free(want);
    free(back);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    round_trip(data, size, 0, 0);
    /* special texts become control/user-defined tokens, which render back with RENDER_SPECIAL */
    round_trip(data, size, G4_TOKENIZE_PARSE_SPECIAL, G4_DETOK_RENDER_SPECIAL);
    if (size >= 4) { /* arbitrary ids: in range they decode, out of range they are refused */
        int32_t id;
        memcpy(&id, data, 4);
        char buf[64];
        int64_t r = g4_tokenizer_piece(tok, id, 0, buf, sizeof buf);
        if ((r < 0) != (id < 0 || id >= g4_tokenizer_n_vocab(tok)))
            abort();
    }
    return 0;
}
