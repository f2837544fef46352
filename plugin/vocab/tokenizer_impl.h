/* Private to plugin/tokenizer*.c: the tokenizer object and its hash helpers. */
#ifndef G4_TOKENIZER_IMPL_H
#define G4_TOKENIZER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "base/big_alloc.h"
#include "vocab/tokenizer.h"

#define G4_TOK_SPACE "\xe2\x96\x81" /* U+2581 '▁', what ' ' becomes */

/* Open addressing, linear probing. id < 0 marks an empty slot; hash saves most memcmps. */
struct g4_tok_slot {
    uint32_t hash;
    int32_t id;
};

struct g4_tok_pair {
    uint64_t key; /* (uint32)left << 32 | (uint32)right */
    int32_t rank; /* merge index; < 0: empty slot */
    int32_t res;  /* id of the merged token */
};

struct g4_tokenizer {
    int32_t n_vocab;
    g4_big arena; /* text .. pairs below live in this one allocation */
    char *text;          /* all token texts, back to back */
    uint32_t *text_off;  /* [n_vocab + 1] */
    char *piece;         /* rendered pieces: '▁' -> ' ' for normal tokens, raw byte for <0xXX> */
    uint32_t *piece_off; /* [n_vocab + 1] */
    uint8_t *type;       /* G4_TOKEN_TYPE_* */

    struct g4_tok_slot *tok_slots;
    size_t tok_cap; /* power of two */
    struct g4_tok_pair *pairs;
    size_t pair_cap; /* power of two */
    size_t n_merges_skipped;

    int32_t bos, eos, pad, unk;
    int32_t eog[4];
    int n_eog;
    int32_t byte_id[256]; /* <0xXX>, or unk, or -1 */
    int32_t space_id;     /* token "▁", or -1 */
    int32_t ascii_id[128]; /* single ASCII character -> id (' ' -> '▁'), or -1: skips the hash */

    /* PARSE_SPECIAL candidates: ids grouped by first byte (special_start[b] .. special_start[b+1]),
     * longest text first within a group. */
    int32_t *special;
    uint32_t special_start[257];

    char *chat_template;
};

/* FNV-1a, 32-bit: streamable, so "left" + "right" can be hashed without concatenating. */
#define G4_TOK_HASH_INIT 2166136261u
static inline uint32_t g4_tok_hash(uint32_t h, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}
/* FNV's low bits are weak for short keys, so the table index goes through a final mix. */
static inline uint32_t g4_tok_slot_index(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x7feb352dU;
    h ^= h >> 15;
    return h;
}

static inline uint64_t g4_tok_pair_key(int32_t l, int32_t r)
{
    return (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
}
static inline uint64_t g4_tok_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

#if defined(__GNUC__)
#define G4_TOK_PREFETCH(p) __builtin_prefetch(p)
#else
#define G4_TOK_PREFETCH(p) ((void)(p))
#endif

int32_t g4_tok_lookup_h(const g4_tokenizer *t, const char *s, size_t len, uint32_t h);
static inline int32_t g4_tok_lookup(const g4_tokenizer *t, const char *s, size_t len)
{
    return g4_tok_lookup_h(t, s, len, g4_tok_hash(G4_TOK_HASH_INIT, s, len));
}

/* (rank, merged id) of a pair, or rank -1. */
static inline struct g4_tok_pair g4_tok_pair_find(const g4_tokenizer *t, int32_t l, int32_t r)
{
    uint64_t key = g4_tok_pair_key(l, r);
    size_t mask = t->pair_cap - 1;
    for (size_t i = g4_tok_mix64(key) & mask;; i = (i + 1) & mask) {
        const struct g4_tok_pair *p = &t->pairs[i];
        if (p->rank < 0 || p->key == key)
            return *p;
    }
}

void g4_tok_seterr(char *err, size_t errlen, const char *fmt, ...)
#if defined(__MINGW32__) /* plain "printf" means the MSVCRT dialect (no %zu) to mingw gcc */
    __attribute__((format(gnu_printf, 3, 4)))
#elif defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
