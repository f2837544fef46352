/* The model's tokenizer, loaded from its GGUF. A separate translation unit because tokenizer.h
 * and g4plug.h both define G4_TOKENIZE_* / G4_DETOK_* (with different spellings), which cannot
 * meet in one file under -Werror. */
#include "tokenizer.h"

struct g4_tokenizer *g4_model_vocab_load(const g4_gguf *g, char *err, size_t errlen);
void g4_model_vocab_free(struct g4_tokenizer *t);
int32_t g4_model_vocab_n(const struct g4_tokenizer *t);

struct g4_tokenizer *g4_model_vocab_load(const g4_gguf *g, char *err, size_t errlen)
{
    return g4_tokenizer_load(g, err, errlen);
}

void g4_model_vocab_free(struct g4_tokenizer *t) { g4_tokenizer_free(t); }

int32_t g4_model_vocab_n(const struct g4_tokenizer *t) { return t ? g4_tokenizer_n_vocab(t) : 0; }
