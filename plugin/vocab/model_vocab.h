/* The model's tokenizer as the model code sees it (model_vocab.c): a header of its own because
 * tokenizer.h and g4plug.h both define G4_TOKENIZE_* / G4_DETOK_* (with different spellings),
 * which cannot meet in one file under -Werror. */
#ifndef G4_MODEL_VOCAB_H
#define G4_MODEL_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"

struct g4_tokenizer;
struct g4_tokenizer *g4_model_vocab_load(const g4_gguf *g, char *err, size_t errlen);
void g4_model_vocab_free(struct g4_tokenizer *t);
int32_t g4_model_vocab_n(const struct g4_tokenizer *t);
/* 1 when token ends generation (EOS, end of turn, ...); 0 for a NULL tokenizer. */
int g4_model_vocab_is_eog(const struct g4_tokenizer *t, int32_t token);

#endif
