/* Gemma 4 tokenizer ("SPM-style BPE", llama.cpp LLAMA_VOCAB_TYPE_BPE with pre-type GEMMA4).
 *
 * Loaded from the tokenizer.ggml.* keys of a GGUF. The object copies everything it needs, so it
 * outlives the g4_gguf it came from; it is immutable after load and safe to share across threads
 * (every call allocates its own scratch).
 *
 * Encoding (spec §8.1):
 *   - ' ' becomes U+2581 '▁'; no dummy-prefix space; merges run on raw UTF-8 characters;
 *   - the text is pre-split into runs of newlines and runs of everything else;
 *     a run of newlines that is itself a token is emitted as that token, else it goes through BPE;
 *   - BPE with ranks from tokenizer.ggml.merges (rank = index), lowest rank first, leftmost on ties;
 *   - a final symbol that is not a token is emitted byte by byte as <0xXX>;
 *   - invalid UTF-8 bytes are characters of their own, so they fall back to <0xXX> and round-trip.
 * decode(encode(s)) == s for every byte string s that does not itself contain U+2581 (the encoder
 * cannot tell an input '▁' from a space), without ADD_BOS and without PARSE_SPECIAL. */
#ifndef G4_TOKENIZER_H
#define G4_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"

/* Same values as the public flags in abi/g4plug.h (which wins when both are included). */
#ifndef G4_TOKENIZE_ADD_BOS
#define G4_TOKENIZE_ADD_BOS 0x1u       /* prepend tokenizer.ggml.bos_token_id */
#define G4_TOKENIZE_PARSE_SPECIAL 0x2u /* control token texts in the input become those tokens
                                          (user-defined ones always do, as in llama.cpp/HF) */
#define G4_DETOK_RENDER_SPECIAL 0x1u   /* render control (and unknown) tokens' text instead of "" */
#endif

/* ggml token types (tokenizer.ggml.token_type) */
#define G4_TOKEN_TYPE_NORMAL 1
#define G4_TOKEN_TYPE_UNKNOWN 2
#define G4_TOKEN_TYPE_CONTROL 3
#define G4_TOKEN_TYPE_USER_DEFINED 4
#define G4_TOKEN_TYPE_UNUSED 5
#define G4_TOKEN_TYPE_BYTE 6

typedef struct g4_tokenizer g4_tokenizer;

/* NULL on failure with a message in err: tokenizer.ggml.model is not "gemma4", tokens are missing,
 * or a key is malformed. A missing merges key means "no merges" (llama.cpp would refuse the file;
 * the tiny-gemma4-k256 fixture has none). token_type defaults to normal; bos/eos/pad/unk ids
 * default to the tokens "<bos>", "<eos>", "<pad>", "<unk>" (or -1). */
g4_tokenizer *g4_tokenizer_load(const g4_gguf *g, char *err, size_t errlen);
void g4_tokenizer_free(g4_tokenizer *t);

int32_t g4_tokenizer_n_vocab(const g4_tokenizer *t);

/* Encode len bytes of text (need not be valid UTF-8 or NUL-free). Writes up to cap ids to out and
 * returns the total count (which may exceed cap: call again with a bigger buffer), or -1 on error
 * with a message in err. */
int64_t g4_tokenizer_encode(const g4_tokenizer *t, const char *text, size_t len, unsigned flags,
                            int32_t *out, size_t cap, char *err, size_t errlen);

/* Bytes of one token: control/unknown tokens give "" unless G4_DETOK_RENDER_SPECIAL; user-defined
 * tokens always render their text; <0xXX> gives the raw byte; normal tokens have '▁' -> ' ';
 * unused tokens give "". Writes up to cap bytes (no NUL), returns the full length, -1 for a bad id. */
/* The rendered bytes of one token (control tokens as their text), owned by the tokenizer; *len
 * is 0 for suppressed or out-of-range tokens. */
const char *g4_tokenizer_piece_view(const g4_tokenizer *t, int32_t id, size_t *len);
int64_t g4_tokenizer_piece(const g4_tokenizer *t, int32_t id, unsigned flags, char *buf, size_t cap);

/* Concatenated pieces of ids[0..n) (same flags). Writes up to cap bytes (no NUL), returns the full
 * length, or -1 if any id is out of range. */
int64_t g4_tokenizer_decode(const g4_tokenizer *t, const int32_t *ids, size_t n, unsigned flags,
                            char *buf, size_t cap);

int32_t g4_tokenizer_bos(const g4_tokenizer *t); /* -1 if none */
int32_t g4_tokenizer_eos(const g4_tokenizer *t);
int32_t g4_tokenizer_pad(const g4_tokenizer *t);
/* End-of-generation: <eos>, <turn|>, <|tool_response>, and tokenizer.ggml.eos_token_id. */
int g4_tokenizer_is_eog(const g4_tokenizer *t, int32_t id);
/* G4_TOKEN_TYPE_*, or -1 for an out-of-range id. */
int g4_tokenizer_token_type(const g4_tokenizer *t, int32_t id);
/* Exact token text -> id, -1 if absent. */
int32_t g4_tokenizer_find(const g4_tokenizer *t, const char *text, size_t len);
/* NUL-terminated copy of tokenizer.chat_template (owned by t), or NULL. */
const char *g4_tokenizer_chat_template(const g4_tokenizer *t);

#endif
