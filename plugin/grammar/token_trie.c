/* The vocabulary as a byte trie for grammar masks (grammar.h). Tokens enter with the bytes they
 * render as; the three control tokens of Gemma's tool-call notation enter as one reserved byte
 * each (G4_GB_*); other control tokens, marker-like user-defined tokens (<|channel>, ...) and byte
 * tokens that cannot occur in UTF-8 (F8..FF) are left out, so no grammar can produce them. */
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "model/model.h"
#include "vocab/tokenizer.h"

typedef struct tok_key {
    const uint8_t *s;
    uint32_t n;
    int32_t id;
} tok_key;

static int cmp_key(const void *a, const void *b)
{
    const tok_key *x = a, *y = b;
    uint32_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->s, y->s, n);
    if (c)
        return c;
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

void g4_token_trie_free(g4_token_trie *t)
{
    if (!t)
        return;
    free(t->nodes);
    free(t->tok_ids);
    free(t->eog);
    free(t);
}

static const uint8_t k_map_bytes[3] = {G4_GB_QUOTE, G4_GB_CALL_OPEN, G4_GB_CALL_CLOSE};
static const char *const k_map_text[3] = {"<|\"|>", "<|tool_call>", "<tool_call|>"};

int g4_token_grammar_bytes(const g4_tokenizer *tk, int32_t id, const uint8_t **s, size_t *n)
{
    size_t len = 0;
    const char *buf = g4_tokenizer_piece_view(tk, id, &len);
    int type = g4_tokenizer_token_type(tk, id);
    *s = NULL;
    *n = 0;
    if (len == 0)
        return 0;
    for (int k = 0; k < 3; k++)
        if (len == strlen(k_map_text[k]) && !memcmp(buf, k_map_text[k], len)) {
            *s = k_map_bytes + k;
            *n = 1;
            return 1;
        }
    if (type != G4_TOKEN_TYPE_NORMAL && type != G4_TOKEN_TYPE_BYTE && type != G4_TOKEN_TYPE_USER_DEFINED)
        return 0;
    if (type == G4_TOKEN_TYPE_USER_DEFINED && len >= 3 && buf[0] == '<' && buf[len - 1] == '>')
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((uint8_t)buf[i] >= 0xF8)
            return 0;
    *s = (const uint8_t *)buf;
    *n = len;
    return 1;
}

/* Sorted keys -> trie. Children of a node are contiguous: built breadth-first over ranges of the
 * sorted key array (a node = a range of keys sharing a prefix of length depth). */
typedef struct range {
    uint32_t lo, hi, depth, node;
} range;

static g4_token_trie *build(const g4_tokenizer *tk)
{
    const int32_t V = g4_tokenizer_n_vocab(tk);
    g4_token_trie *t = calloc(1, sizeof *t);
    tok_key *keys = malloc(sizeof *keys * (size_t)V);
    if (!t || !keys)
        goto fail;
    t->n_vocab = V;
    t->eog = malloc(sizeof *t->eog * 64);
    if (!t->eog)
        goto fail;
    uint32_t nk = 0;
    size_t total = 0;
    for (int32_t id = 0; id < V; id++) {
        if (g4_tokenizer_is_eog(tk, id) && t->n_eog < 64)
            t->eog[t->n_eog++] = id;
        const uint8_t *s;
        size_t n;
        if (!g4_token_grammar_bytes(tk, id, &s, &n))
            continue;
        keys[nk].s = s;
        keys[nk].n = (uint32_t)n;
        keys[nk].id = id;
        nk++;
        total += n;
    }
    qsort(keys, nk, sizeof *keys, cmp_key);
    /* at most one node per key byte, plus the root */
    t->nodes = calloc(total + 1, sizeof *t->nodes);
    t->tok_ids = malloc(sizeof *t->tok_ids * (nk ? nk : 1));
    range *q = malloc(sizeof *q * (total + 1));
    if (!t->nodes || !t->tok_ids || !q) {
        free(q);
        goto fail;
    }
    uint32_t qh = 0, qt = 0, n_nodes = 1, n_tok = 0;
    q[qt++] = (range){0, nk, 0, 0};
    while (qh < qt) {
        range r = q[qh++];
        tt_node *nd = &t->nodes[r.node];
        uint32_t i = r.lo;
        nd->tok_first = n_tok;
        while (i < r.hi && keys[i].n == r.depth)
            t->tok_ids[n_tok++] = keys[i++].id;
        nd->n_tok = n_tok - nd->tok_first;
        nd->first_child = n_nodes;
        while (i < r.hi) {
            uint8_t c = keys[i].s[r.depth];
            uint32_t j = i;
            while (j < r.hi && keys[j].s[r.depth] == c)
                j++;
            uint32_t child = n_nodes++;
            t->nodes[child].byte = c;
            t->nodes[r.node].n_children++;
            q[qt++] = (range){i, j, r.depth + 1, child};
            i = j;
        }
    }
    t->n_nodes = n_nodes;
    free(q);
    free(keys);
    return t;
fail:
    free(keys);
    g4_token_trie_free(t);
    return NULL;
}

const g4_token_trie *g4_token_trie_get(const g4_model *m)
{
    g4_model *mm = (g4_model *)m; /* the trie is a cache: building it does not change the model */
    g4_token_trie *t = atomic_load(&mm->token_trie);
    if (t)
        return t;
    g4_token_trie *fresh = build(m->tok);
    if (!fresh)
        return NULL;
    g4_token_trie *expected = NULL;
    if (!atomic_compare_exchange_strong(&mm->token_trie, &expected, fresh)) {
        g4_token_trie_free(fresh); /* another thread won */
        return expected;
    }
    return fresh;
}
