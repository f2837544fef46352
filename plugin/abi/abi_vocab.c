/* ABI entry points for the vocabulary: tokenize, detokenize, well-known ids. Thin wrappers that
 * validate arguments and translate the tokenizer's two-call results into g4_status codes. */
#include <string.h>

#include "base/internal.h"
#include "model/model.h"
/* tokenizer.h spells these flags differently (same values): let its definitions win here. */
#undef G4_TOKENIZE_ADD_BOS
#undef G4_TOKENIZE_PARSE_SPECIAL
#undef G4_DETOK_RENDER_SPECIAL
#include "vocab/tokenizer.h"

static const g4_tokenizer *vocab_of(const g4_model *m, const char *fn)
{
    const g4_tokenizer *t;
    if (!g4_model_live(m)) {
        g4_fail(G4_ERR_INVALID_ARGUMENT, "%s: model is NULL or not a live handle", fn);
        return NULL;
    }
    t = g4_model_tokenizer(m);
    if (!t)
        g4_fail(G4_ERR_STATE, "%s: the model has no tokenizer", fn);
    return t;
}

/* Shared tail of the two-call pattern. */
static g4_status sized_result(int64_t needed, size_t cap, size_t *n_out)
{
    *n_out = (size_t)needed;
    if ((size_t)needed > cap)
        return g4_fail(G4_ERR_BUFFER_TOO_SMALL, "buffer holds %zu, %lld needed", cap,
                       (long long)needed);
    return G4_OK;
}

G4_API g4_status G4_CALL g4_tokenize(const g4_model *m, const char *text, size_t len, uint32_t flags,
                                     int32_t *tokens, size_t cap, size_t *n_tokens)
{
    char err[256] = "";
    const g4_tokenizer *t;
    int64_t n;
    g4_clear_error();
    if (!(t = vocab_of(m, "g4_tokenize")))
        return G4_ERR_INVALID_ARGUMENT;
    if (!n_tokens)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_tokenize: n_tokens is NULL");
    if (!text && len)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_tokenize: text is NULL");
    if (!tokens)
        cap = 0;
    if (flags & ~(uint32_t)(G4_TOKENIZE_ADD_BOS | G4_TOKENIZE_PARSE_SPECIAL))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_tokenize: unknown flags 0x%x", (unsigned)flags);
    n = g4_tokenizer_encode(t, text ? text : "", len, flags, tokens, cap, err, sizeof err);
    if (n < 0)
        return g4_fail(strstr(err, "out of memory") ? G4_ERR_OUT_OF_MEMORY : G4_ERR_INVALID_ARGUMENT,
                       "g4_tokenize: %s", err);
    return sized_result(n, cap, n_tokens);
}

G4_API g4_status G4_CALL g4_detokenize(const g4_model *m, const int32_t *tokens, size_t n,
                                       uint32_t flags, char *buf, size_t cap, size_t *len)
{
    const g4_tokenizer *t;
    int64_t r;
    g4_clear_error();
    if (!(t = vocab_of(m, "g4_detokenize")))
        return G4_ERR_INVALID_ARGUMENT;
    if (!len)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_detokenize: len is NULL");
    if (!tokens && n)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_detokenize: tokens is NULL");
    if (!buf)
        cap = 0;
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= g4_tokenizer_n_vocab(t))
            return g4_fail(G4_ERR_INVALID_ARGUMENT,
                           "g4_detokenize: token %d at index %zu is outside the vocabulary [0, %d)",
                           (int)tokens[i], i, (int)g4_tokenizer_n_vocab(t));
    r = g4_tokenizer_decode(t, tokens, n, flags, buf, cap);
    if (r < 0)
        return g4_fail(G4_ERR_INTERNAL, "g4_detokenize: decoding failed");
    return sized_result(r, cap, len);
}

G4_API g4_status G4_CALL g4_token_to_piece(const g4_model *m, int32_t token, uint32_t flags,
                                           char *buf, size_t cap, size_t *len)
{
    const g4_tokenizer *t;
    int64_t r;
    g4_clear_error();
    if (!(t = vocab_of(m, "g4_token_to_piece")))
        return G4_ERR_INVALID_ARGUMENT;
    if (!len)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_token_to_piece: len is NULL");
    if (!buf)
        cap = 0;
    r = g4_tokenizer_piece(t, token, flags, buf, cap);
    if (r < 0)
        return g4_fail(G4_ERR_INVALID_ARGUMENT,
                       "g4_token_to_piece: token %d is outside the vocabulary [0, %d)", (int)token,
                       (int)g4_tokenizer_n_vocab(t));
    return sized_result(r, cap, len);
}

static int32_t find_text(const g4_tokenizer *t, const char *s)
{
    return g4_tokenizer_find(t, s, strlen(s));
}

G4_API int32_t G4_CALL g4_token_id(const g4_model *m, int32_t which)
{
    const g4_tokenizer *t = g4_model_live(m) ? g4_model_tokenizer(m) : NULL;
    if (!t)
        return -1;
    switch (which) {
    case G4_TOKEN_BOS: return g4_tokenizer_bos(t);
    case G4_TOKEN_EOS: return g4_tokenizer_eos(t);
    case G4_TOKEN_PAD: return g4_tokenizer_pad(t);
    case G4_TOKEN_TURN_START: return find_text(t, "<|turn>");
    case G4_TOKEN_TURN_END: return find_text(t, "<turn|>");
    case G4_TOKEN_IMAGE_START: return find_text(t, "<|image>");
    case G4_TOKEN_IMAGE_SOFT: return find_text(t, "<|image|>");
    case G4_TOKEN_IMAGE_END: return find_text(t, "<image|>");
    case G4_TOKEN_AUDIO_START: return find_text(t, "<|audio>");
    case G4_TOKEN_AUDIO_SOFT: return find_text(t, "<|audio|>");
    case G4_TOKEN_AUDIO_END: return find_text(t, "<audio|>");
    case G4_TOKEN_VIDEO_SOFT: return find_text(t, "<|video|>");
    default: return -1;
    }
}

G4_API int32_t G4_CALL g4_token_is_eog(const g4_model *m, int32_t token)
{
    const g4_tokenizer *t = g4_model_live(m) ? g4_model_tokenizer(m) : NULL;
    return t ? g4_tokenizer_is_eog(t, token) != 0 : 0;
}

G4_API int32_t G4_CALL g4_vocab_size(const g4_model *m)
{
    const g4_tokenizer *t = g4_model_live(m) ? g4_model_tokenizer(m) : NULL;
    return t ? g4_tokenizer_n_vocab(t) : 0;
}

G4_API const char *G4_CALL g4_chat_template(const g4_model *m)
{
    const g4_tokenizer *t = g4_model_live(m) ? g4_model_tokenizer(m) : NULL;
    return t ? g4_tokenizer_chat_template(t) : NULL;
}
