/* Gemma 4 tokenizer: vocabulary load, lookups, pieces and decoding. Encoding (BPE) lives in
 * tokenizer_encode.c; the shared struct and helpers are in tokenizer_impl.h. */
#include "vocab/tokenizer_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/big_alloc.h"

void g4_tok_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n)
        c <<= 1;
    return c;
}

/* ---- token text -> id ---------------------------------------------------------------------- */

int32_t g4_tok_lookup_h(const g4_tokenizer *t, const char *s, size_t len, uint32_t h)
{
    size_t mask = t->tok_cap - 1;
    for (size_t i = g4_tok_slot_index(h) & mask;; i = (i + 1) & mask) {
        const struct g4_tok_slot *sl = &t->tok_slots[i];
        if (sl->id < 0)
            return -1;
        if (sl->hash == h) {
            uint32_t o = t->text_off[sl->id];
            if (t->text_off[sl->id + 1] - o == len && memcmp(t->text + o, s, len) == 0)
                return sl->id;
        }
    }
}

/* Returns the id already there if the text is a duplicate (the first one wins, as in llama.cpp). */
static int32_t tok_insert(g4_tokenizer *t, int32_t id)
{
    uint32_t o = t->text_off[id], len = t->text_off[id + 1] - o;
    uint32_t h = g4_tok_hash(G4_TOK_HASH_INIT, t->text + o, len);
    size_t mask = t->tok_cap - 1;
    for (size_t i = g4_tok_slot_index(h) & mask;; i = (i + 1) & mask) {
        struct g4_tok_slot *sl = &t->tok_slots[i];
        if (sl->id < 0) {
            sl->id = id;
            sl->hash = h;
            return id;
        }
        if (sl->hash == h) {
            uint32_t o2 = t->text_off[sl->id];
            if (t->text_off[sl->id + 1] - o2 == len && memcmp(t->text + o2, t->text + o, len) == 0)
                return sl->id;
        }
    }
}

/* ---- (left id, right id) -> rank, merged id -------------------------------------------------- */

/* Returns 1 if inserted, 0 if the pair was already there (a later duplicate merge has a worse rank). */
static int pair_insert(g4_tokenizer *t, uint64_t key, int32_t rank, int32_t res)
{
    size_t mask = t->pair_cap - 1;
    for (size_t i = g4_tok_mix64(key) & mask;; i = (i + 1) & mask) {
        struct g4_tok_pair *p = &t->pairs[i];
        if (p->rank < 0) {
            p->key = key;
            p->rank = rank;
            p->res = res;
            return 1;
        }
        if (p->key == key)
            return 0;
    }
}

/* ---- load ------------------------------------------------------------------------------------ */

static int parse_byte_token(const char *s, size_t len)
{
    /* "<0xXX>" with uppercase or lowercase hex */
    if (len != 6 || s[0] != '<' || s[1] != '0' || s[2] != 'x' || s[5] != '>')
        return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Optional id key: absent -> fallback; present but out of range -> error. */
static int get_id(const g4_gguf *g, const char *key, int32_t n_vocab, int32_t fallback, int32_t *out,
                  char *err, size_t errlen)
{
    if (!g4_gguf_find_kv(g, key)) {
        *out = fallback;
        return 0;
    }
    int64_t v;
    if (g4_gguf_get_i64(g, key, &v) != 0 || v < 0 || v >= n_vocab) {
        g4_tok_seterr(err, errlen, "tokenizer: %s is not a token id in [0, %d)", key, (int)n_vocab);
        return -1;
    }
    *out = (int32_t)v;
    return 0;
}

/* qsort has no context argument in C11: sort (first byte, -length, id) keys instead. */
struct special_key {
    uint8_t first;
    uint32_t len;
    int32_t id;
};
static int cmp_special_key(const void *a, const void *b)
{
    const struct special_key *x = a, *y = b;
    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1; /* longer first: longest match wins */
    return x->id < y->id ? -1 : x->id > y->id;
}

g4_tokenizer *g4_tokenizer_load(const g4_gguf *g, char *err, size_t errlen)
{
    g4_gguf_str model;
    if (g4_gguf_get_str(g, "tokenizer.ggml.model", &model) != 0) {
        g4_tok_seterr(err, errlen, "tokenizer: tokenizer.ggml.model is missing");
        return NULL;
    }
    /* Ollama's monolithic Gemma 4 blobs label the (BPE) vocabulary "llama"; the tokens, merges
     * and pre-tokenizer are the Gemma 4 ones, so read them as such (Ollama patches the same at
     * load time: hosts-and-packaging.md §2d). */
    g4_gguf_str arch;
    int ollama_gemma4 = g4_gguf_str_eq(model, "llama") && g4_gguf_get_str(g, "general.architecture", &arch) == 0 &&
                        g4_gguf_str_eq(arch, "gemma4");
    if (!g4_gguf_str_eq(model, "gemma4") && !ollama_gemma4) {
        g4_tok_seterr(err, errlen, "tokenizer: tokenizer.ggml.model is \"%.*s\"; only \"gemma4\" is supported",
                      (int)(model.len > 64 ? 64 : model.len), model.ptr);
        return NULL;
    }
    const g4_gguf_kv *ktok = g4_gguf_find_kv(g, "tokenizer.ggml.tokens");
    if (!ktok || ktok->type != G4_GGUF_ARRAY || ktok->arr_type != G4_GGUF_STRING || ktok->arr_len == 0 ||
        ktok->arr_len > (uint64_t)INT32_MAX / 4) {
        g4_tok_seterr(err, errlen, "tokenizer: tokenizer.ggml.tokens is missing or not a non-empty string array");
        return NULL;
    }
    /* llama.cpp refuses a BPE vocab without merges. The tiny conformance model
     * tiny-gemma4-k256 ships a 512-token vocab with no merges key, and its model must still load:
     * absent merges mean "no merges" (every character is its own token or falls back to bytes).
     * A merges key that is present but malformed is still an error. */
    const g4_gguf_kv *kmerge = g4_gguf_find_kv(g, "tokenizer.ggml.merges");
    if (kmerge && (kmerge->type != G4_GGUF_ARRAY || kmerge->arr_type != G4_GGUF_STRING ||
                   kmerge->arr_len > (uint64_t)INT32_MAX / 4)) {
        g4_tok_seterr(err, errlen, "tokenizer: tokenizer.ggml.merges is not a string array");
        return NULL;
    }
    const g4_gguf_kv *ktype = g4_gguf_find_kv(g, "tokenizer.ggml.token_type");
    if (ktype && (ktype->type != G4_GGUF_ARRAY || ktype->arr_len != ktok->arr_len ||
                  ktype->arr_type == G4_GGUF_STRING || ktype->arr_type == G4_GGUF_ARRAY)) {
        g4_tok_seterr(err, errlen, "tokenizer: tokenizer.ggml.token_type is not an integer array of %llu entries",
                      (unsigned long long)ktok->arr_len);
        return NULL;
    }

    int32_t n = (int32_t)ktok->arr_len;
    g4_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        goto oom;
    t->n_vocab = n;

    /* Sizes first: all big arrays share one allocation (~28 MB for Gemma 4; huge pages: page
     * faults, not hashing, dominated load time with 4 KiB pages on virtual machines). */
    uint64_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        g4_gguf_str s;
        if (g4_gguf_arr_str(ktok, (uint64_t)i, &s) != 0) {
            g4_tok_seterr(err, errlen, "tokenizer: cannot read token %d", (int)i);
            goto fail;
        }
        total += s.len;
    }
    if (total > UINT32_MAX / 2) {
        g4_tok_seterr(err, errlen, "tokenizer: token texts too large (%llu bytes)", (unsigned long long)total);
        goto fail;
    }
    size_t nm = kmerge ? (size_t)kmerge->arr_len : 0;
    t->tok_cap = pow2_at_least((size_t)n * 2);
    /* Load factor <= 2/3 keeps the pair table at 16 MB for Gemma 4's 515k merges. */
    t->pair_cap = pow2_at_least(nm + nm / 2 + 1);
    {
        /* Pieces: '▁' (3 bytes) -> ' ' (1 byte) only shrinks, so total bytes bound that blob. */
        size_t sz[7] = {t->pair_cap * sizeof *t->pairs, t->tok_cap * sizeof *t->tok_slots,
                        ((size_t)n + 1) * sizeof *t->text_off, ((size_t)n + 1) * sizeof *t->piece_off,
                        (size_t)total, (size_t)total, (size_t)n};
        size_t at[7], used = 0;
        for (int i = 0; i < 7; i++) {
            at[i] = used;
            used += (sz[i] + 63) & ~(size_t)63;
        }
        char *a = g4_big_alloc(&t->arena, used);
        if (!a)
            goto oom;
        t->pairs = (struct g4_tok_pair *)(void *)(a + at[0]);
        t->tok_slots = (struct g4_tok_slot *)(void *)(a + at[1]);
        t->text_off = (uint32_t *)(void *)(a + at[2]);
        t->piece_off = (uint32_t *)(void *)(a + at[3]);
        t->text = a + at[4];
        t->piece = a + at[5];
        t->type = (uint8_t *)(a + at[6]);
    }
    uint32_t off = 0, poff = 0;
    for (int32_t i = 0; i < n; i++) {
        g4_gguf_str s;
        g4_gguf_arr_str(ktok, (uint64_t)i, &s);
        t->text_off[i] = off;
        memcpy(t->text + off, s.ptr, s.len);
        off += (uint32_t)s.len;

        int64_t ty = G4_TOKEN_TYPE_NORMAL;
        if (ktype && g4_gguf_arr_i64(ktype, (uint64_t)i, &ty) != 0) {
            g4_tok_seterr(err, errlen, "tokenizer: cannot read token_type %d", (int)i);
            goto fail;
        }
        if (ty < 0 || ty > 255)
            ty = 0; /* undefined types render as "" and are never matched */
        t->type[i] = (uint8_t)ty;

        t->piece_off[i] = poff;
        int b = ty == G4_TOKEN_TYPE_BYTE ? parse_byte_token(s.ptr, s.len) : -1;
        if (b >= 0) {
            t->piece[poff++] = (char)b;
        } else if (ty == G4_TOKEN_TYPE_NORMAL) {
            for (uint64_t k = 0; k < s.len;) {
                if (k + 3 <= s.len && memcmp(s.ptr + k, G4_TOK_SPACE, 3) == 0) {
                    t->piece[poff++] = ' ';
                    k += 3;
                } else {
                    t->piece[poff++] = s.ptr[k++];
                }
            }
        } else {
            /* control / unknown / user-defined render their raw text (control only on request) */
            memcpy(t->piece + poff, s.ptr, s.len);
            poff += (uint32_t)s.len;
        }
    }
    t->text_off[n] = off;
    t->piece_off[n] = poff;

    /* text -> id */
    memset(t->tok_slots, 0xff, t->tok_cap * sizeof *t->tok_slots); /* id = -1: empty */
    for (int32_t i = 0; i < n; i++)
        tok_insert(t, i);

    /* Merges -> (left id, right id) -> (rank, merged id). All three texts of every Gemma 4 merge are
     * tokens, so BPE can run on ids alone. A merge whose parts or result are not tokens could only
     * matter for a vocabulary built differently; it is skipped and counted. */
    /* The inserts' cache misses dominate load time, so merges are resolved to ids in batches and
     * each batch's slots are prefetched before inserting. */
    memset(t->pairs, 0xff, t->pair_cap * sizeof *t->pairs); /* rank = -1: empty */
    struct g4_tok_pair pend[64];
    size_t np = 0;
    for (size_t m = 0; m < nm; m++) {
        g4_gguf_str s;
        if (g4_gguf_arr_str(kmerge, m, &s) != 0) {
            g4_tok_seterr(err, errlen, "tokenizer: cannot read merge %zu", m);
            goto fail;
        }
        /* "left right": split at the first space after the first byte (as llama.cpp does) */
        const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', s.len - 1) : NULL;
        if (!sp) {
            g4_tok_seterr(err, errlen, "tokenizer: merge %zu is not \"left right\"", m);
            goto fail;
        }
        size_t ll = (size_t)(sp - s.ptr), rl = s.len - ll - 1;
        uint32_t hl = g4_tok_hash(G4_TOK_HASH_INIT, s.ptr, ll);
        int32_t l = g4_tok_lookup_h(t, s.ptr, ll, hl);
        int32_t r = g4_tok_lookup(t, sp + 1, rl);
        int32_t res = -1;
        if (l >= 0 && r >= 0) {
            /* merged text = left + right: hash it as one stream, compare in two parts */
            uint32_t h = g4_tok_hash(hl, sp + 1, rl);
            size_t mask = t->tok_cap - 1;
            for (size_t i = g4_tok_slot_index(h) & mask; t->tok_slots[i].id >= 0; i = (i + 1) & mask) {
                const struct g4_tok_slot *sl = &t->tok_slots[i];
                uint32_t o = t->text_off[sl->id];
                if (sl->hash == h && t->text_off[sl->id + 1] - o == ll + rl &&
                    memcmp(t->text + o, s.ptr, ll) == 0 && memcmp(t->text + o + ll, sp + 1, rl) == 0) {
                    res = sl->id;
                    break;
                }
            }
        }
        if (res < 0)
            t->n_merges_skipped++;
        else
            pend[np++] = (struct g4_tok_pair){g4_tok_pair_key(l, r), (int32_t)m, res};
        if (np == 64 || m + 1 == nm) {
            for (size_t k = 0; k < np; k++)
                G4_TOK_PREFETCH(&t->pairs[g4_tok_mix64(pend[k].key) & (t->pair_cap - 1)]);
            for (size_t k = 0; k < np; k++)
                pair_insert(t, pend[k].key, pend[k].rank, pend[k].res);
            np = 0;
        }
    }

    /* Special ids. Absent keys fall back to the Gemma token texts. */
    if (get_id(g, "tokenizer.ggml.bos_token_id", n, g4_tok_lookup(t, "<bos>", 5), &t->bos, err, errlen) ||
        get_id(g, "tokenizer.ggml.eos_token_id", n, g4_tok_lookup(t, "<eos>", 5), &t->eos, err, errlen) ||
        get_id(g, "tokenizer.ggml.padding_token_id", n, g4_tok_lookup(t, "<pad>", 5), &t->pad, err, errlen) ||
        get_id(g, "tokenizer.ggml.unknown_token_id", n, g4_tok_lookup(t, "<unk>", 5), &t->unk, err, errlen))
        goto fail;
    {
        static const char *const eog_texts[] = {"<eos>", "<turn|>", "<|tool_response>"};
        int32_t cand[4] = {t->eos, -1, -1, -1};
        for (int i = 0; i < 3; i++)
            cand[i + 1] = g4_tok_lookup(t, eog_texts[i], strlen(eog_texts[i]));
        for (int i = 0; i < 4; i++) {
            int dup = cand[i] < 0;
            for (int j = 0; j < t->n_eog && !dup; j++)
                dup = t->eog[j] == cand[i];
            if (!dup)
                t->eog[t->n_eog++] = cand[i];
        }
    }

    /* Byte fallback ids; <unk> stands in for a missing byte token. */
    for (int b = 0; b < 256; b++) {
        char hex[8];
        snprintf(hex, sizeof hex, "<0x%02X>", b);
        int32_t id = g4_tok_lookup(t, hex, 6);
        t->byte_id[b] = id >= 0 ? id : t->unk;
    }
    t->space_id = g4_tok_lookup(t, G4_TOK_SPACE, 3);
    for (int c = 0; c < 128; c++) {
        char ch = (char)c;
        t->ascii_id[c] = c == ' ' ? t->space_id : g4_tok_lookup(t, &ch, 1);
    }

    /* Specials matched with PARSE_SPECIAL: control and user-defined tokens with non-empty text,
     * grouped by first byte, longest first. */
    {
        size_t ns = 0;
        for (int32_t i = 0; i < n; i++)
            if ((t->type[i] == G4_TOKEN_TYPE_CONTROL || t->type[i] == G4_TOKEN_TYPE_USER_DEFINED) &&
                t->text_off[i + 1] > t->text_off[i])
                ns++;
        struct special_key *keys = malloc((ns ? ns : 1) * sizeof *keys);
        t->special = malloc((ns ? ns : 1) * sizeof *t->special);
        if (!keys || !t->special) {
            free(keys);
            goto oom;
        }
        size_t k = 0;
        for (int32_t i = 0; i < n; i++)
            if ((t->type[i] == G4_TOKEN_TYPE_CONTROL || t->type[i] == G4_TOKEN_TYPE_USER_DEFINED) &&
                t->text_off[i + 1] > t->text_off[i])
                keys[k++] = (struct special_key){(uint8_t)t->text[t->text_off[i]], t->text_off[i + 1] - t->text_off[i], i};
        qsort(keys, ns, sizeof *keys, cmp_special_key);
        memset(t->special_start, 0, sizeof t->special_start);
        for (size_t i = 0; i < ns; i++) {
            t->special[i] = keys[i].id;
            t->special_start[keys[i].first + 1]++;
        }
        for (int b = 0; b < 256; b++)
            t->special_start[b + 1] += t->special_start[b];
        free(keys);
    }

    /* Chat template (optional). */
    {
        g4_gguf_str ct;
        if (g4_gguf_get_str(g, "tokenizer.chat_template", &ct) == 0) {
            t->chat_template = malloc(ct.len + 1);
            if (!t->chat_template)
                goto oom;
            memcpy(t->chat_template, ct.ptr, ct.len);
            t->chat_template[ct.len] = '\0';
        }
    }
    return t;

oom:
    g4_tok_seterr(err, errlen, "tokenizer: out of memory");
fail:
    g4_tokenizer_free(t);
    return NULL;
}

void g4_tokenizer_free(g4_tokenizer *t)
{
    if (!t)
        return;
    g4_big_free(&t->arena);
    free(t->special);
    free(t->chat_template);
    free(t);
}

/* ---- small getters --------------------------------------------------------------------------- */

int32_t g4_tokenizer_n_vocab(const g4_tokenizer *t) { return t->n_vocab; }
int32_t g4_tokenizer_bos(const g4_tokenizer *t) { return t->bos; }
int32_t g4_tokenizer_eos(const g4_tokenizer *t) { return t->eos; }
int32_t g4_tokenizer_pad(const g4_tokenizer *t) { return t->pad; }
const char *g4_tokenizer_chat_template(const g4_tokenizer *t) { return t->chat_template; }

int g4_tokenizer_is_eog(const g4_tokenizer *t, int32_t id)
{
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id)
            return 1;
    return 0;
}

int g4_tokenizer_token_type(const g4_tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab ? t->type[id] : -1;
}

int32_t g4_tokenizer_find(const g4_tokenizer *t, const char *text, size_t len)
{
    if (!text && len)
        return -1;
    return g4_tok_lookup(t, text ? text : "", len);
}

/* ---- pieces and decoding --------------------------------------------------------------------- */

/* Rendered bytes of one token (see g4_tokenizer_piece); *len = 0 for suppressed tokens. */
static const char *piece_of(const g4_tokenizer *t, int32_t id, unsigned flags, size_t *len)
{
    switch (t->type[id]) {
    case G4_TOKEN_TYPE_NORMAL:
    case G4_TOKEN_TYPE_BYTE:
    case G4_TOKEN_TYPE_USER_DEFINED:
        break;
    case G4_TOKEN_TYPE_CONTROL:
    case G4_TOKEN_TYPE_UNKNOWN:
        if (flags & G4_DETOK_RENDER_SPECIAL)
            break;
        *len = 0;
        return "";
    default: /* unused and undefined types are suppressed, like llama.cpp's BPE path */
        *len = 0;
        return "";
    }
    *len = t->piece_off[id + 1] - t->piece_off[id];
    return t->piece + t->piece_off[id];
}

const char *g4_tokenizer_piece_view(const g4_tokenizer *t, int32_t id, size_t *len)
{
    *len = 0;
    if (id < 0 || id >= t->n_vocab)
        return "";
    return piece_of(t, id, G4_DETOK_RENDER_SPECIAL, len);
}

int64_t g4_tokenizer_piece(const g4_tokenizer *t, int32_t id, unsigned flags, char *buf, size_t cap)
{
    if (id < 0 || id >= t->n_vocab)
        return -1;
    size_t len;
    const char *p = piece_of(t, id, flags, &len);
    if (buf)
        memcpy(buf, p, len < cap ? len : cap);
    return (int64_t)len;
}

/* No clean-up of spaces: Gemma/HF keeps them. llama.cpp's llama_detokenize runs with
 * clean_spaces = true for this vocab and drops the space before ? ! . , (and around ' n't / 's
 * etc.); this decoder deliberately does not, so that decode(encode(s)) == s (spec §11 #8). */
int64_t g4_tokenizer_decode(const g4_tokenizer *t, const int32_t *ids, size_t n, unsigned flags, char *buf,
                            size_t cap)
{
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_vocab)
            return -1;
        size_t len;
        const char *p = piece_of(t, id, flags, &len);
        if (buf && pos < cap)
            memcpy(buf + pos, p, len < cap - pos ? len : cap - pos);
        pos += len;
    }
    return (int64_t)pos;
}
