/* libFuzzer target: the JSON Schema -> grammar compiler and the grammar matcher
 * (g4_grammar_new / apply / accept) on the real vocabulary. Input: byte 0 picks the kind
 * (schema, json_object, tool-call tools array) and how many tokens to drive; the rest is the
 * schema / tools text. Valid grammars are then driven a few steps with tokens the mask allows,
 * picked from the input's bytes.
 *   sh scripts/fuzz.sh json_schema          (seeds: fuzz/corpus/json_schema)
 * The vocabulary: $G4_VOCAB, else $G4_FIXTURES/tokenizer/ggml-vocab-gemma-4.gguf.
 * fuzz-args: -max_len=4096
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "g4plug.h"

static g4_model *model;
static float *logits;
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
        snprintf(path, sizeof path, "%s/tokenizer/ggml-vocab-gemma-4.gguf", fx && *fx ? fx : "../shared/fixtures");
    g4_load_params p;
    g4_load_params_init(&p);
    p.model = path;
    p.flags = G4_LOAD_VOCAB_ONLY;
    if (g4_load(&p, &model) != G4_OK) {
        fprintf(stderr, "fuzz_json_schema: %s: %s\n", path, g4_last_error());
        abort();
    }
    n_vocab = g4_vocab_size(model);
    logits = malloc(sizeof(float) * (size_t)n_vocab);
    if (!logits)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const int32_t kinds[3] = {G4_GRAMMAR_JSON_SCHEMA, G4_GRAMMAR_JSON_OBJECT, G4_GRAMMAR_TOOL_CALL};
    int32_t kind = kinds[data[0] % 3];
    int steps = (data[0] >> 2) % 8;
    g4_grammar *g = NULL;
    g4_status st = g4_grammar_new(model, kind, (const char *)data + 1, size - 1, &g);
    if (st != G4_OK) {
        if (g || !g4_last_error()[0])
            abort(); /* a failure must leave no handle and a message */
        return 0;
    }
    for (int s = 0; s < steps; s++) {
        for (int32_t i = 0; i < n_vocab; i++)
            logits[i] = 0.0f;
        if (g4_grammar_apply(g, logits, n_vocab) != G4_OK)
            break;
        /* the k-th allowed token, k from the input */
        int32_t k = (int32_t)(data[(size_t)(s + 1) % size] * 131u), tok = -1, seen = 0;
        for (int32_t i = 0; i < n_vocab; i++)
            if (logits[i] == 0.0f) {
                tok = i;
                if (seen++ == k)
                    break;
            }
        if (tok < 0)
            abort(); /* apply succeeded, so some token is allowed */
        if (g4_grammar_accept(g, tok) != G4_OK)
            abort(); /* an allowed token must be accepted */
        if (g4_token_is_eog(model, tok))
            break;
    }
    g4_grammar_free(g);
    return 0;
}
