/* The model's tokenizer, loaded from its GGUF (model_vocab.h). */
#include "vocab/model_vocab.h"
#include "vocab/tokenizer.h"

struct g4_tokenizer *g4_model_vocab_load(const g4_gguf *g, char *err, size_t errlen)
{
    return g4_tokenizer_load(g, err, errlen);
}

void g4_model_vocab_free(struct g4_tokenizer *t) { g4_tokenizer_free(t); }

int32_t g4_model_vocab_n(const struct g4_tokenizer *t) { return t ? g4_tokenizer_n_vocab(t) : 0; }

int g4_model_vocab_is_eog(const struct g4_tokenizer *t, int32_t token) { return t && g4_tokenizer_is_eog(t, token) != 0; }
