/* Gemma 4 encoding: special-token split, newline pre-split, id-space BPE, byte fallback.
 *
 * BPE per chunk: the chunk's characters become a doubly linked list of symbols; every adjacent
 * pair that has a merge goes into a 4-ary min-heap keyed by (rank, left position). Popping the
 * best pair merges it in place and pushes the (at most two) new neighbour pairs; stale heap
 * entries are detected on pop and dropped. O(n log n) per chunk, so a megabyte without a newline
 * costs about as much per byte as short lines (a bit more: its heap does not fit in cache). */
#include "vocab/tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>

struct sym {
    int32_t id; /* token id; -1: character that is no token (byte fallback); -2: merged away */
    int32_t prev, next;
    uint32_t start, end; /* byte span in the chunk */
};

/* A heap entry names the pair by its left symbol and the end of its right one. Symbols only grow
 * rightwards and their starts never move, so the entry is still valid exactly when the left symbol
 * is alive and its current right neighbour still ends at rend: had either side merged with
 * something else, that end would have moved. 16 bytes: four children share a cache line. */
struct hent {
    uint64_t key;  /* rank << 32 | left symbol index: lowest rank first, then leftmost */
    uint32_t rend; /* end of the right symbol when pushed */
    int32_t res;   /* merged token id */
};

#define PCACHE 4096 /* entries (64 KiB): hot pairs of ordinary text fit */
#define PCACHE_MIN_INPUT 4096 /* below this the cache's setup costs more than it saves */

struct enc {
    const g4_tokenizer *t;
    int32_t *out;
    size_t cap;
    int64_t n;
    struct sym *sym;
    size_t sym_cap;
    struct hent *heap;
    size_t heap_len, heap_cap;
    struct g4_tok_pair *pcache; /* small direct-mapped cache in front of the 16 MB pair table */
    int oom, nobyte;
};

static inline void emit(struct enc *e, int32_t id)
{
    if ((uint64_t)e->n < e->cap)
        e->out[e->n] = id;
    e->n++;
}

static void emit_bytes(struct enc *e, const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int32_t id = e->t->byte_id[s[i]];
        if (id < 0)
            e->nobyte = 1;
        emit(e, id);
    }
}

/* Length of the UTF-8 character at s (n >= 1 bytes left). Anything that is not a well-formed,
 * shortest-form, non-surrogate sequence is a 1-byte character of its own, which then falls back
 * to its <0xXX> token: this is what makes arbitrary bytes round-trip. */
static inline size_t utf8_len(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 1; /* continuation byte or overlong 2-byte lead */
    if (c < 0xE0)
        return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 1;
    if (c < 0xF0) {
        uint8_t lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return n >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 1;
    }
    if (c < 0xF5) {
        uint8_t lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return n >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80 ? 4 : 1;
    }
    return 1;
}

static int heap_reserve(struct enc *e, size_t n)
{
    if (n <= e->heap_cap)
        return 1;
    size_t nc = e->heap_cap ? e->heap_cap : 256;
    while (nc < n)
        nc *= 2;
    struct hent *nh = realloc(e->heap, nc * sizeof *nh);
    if (!nh) {
        e->oom = 1;
        return 0;
    }
    e->heap = nh;
    e->heap_cap = nc;
    return 1;
}

static void sift_down(struct hent *h, size_t n, size_t i)
{
    struct hent x = h[i];
    for (;;) {
        size_t c = 4 * i + 1, best = c;
        if (c >= n)
            break;
        size_t end = c + 4 < n ? c + 4 : n;
        for (size_t k = c + 1; k < end; k++)
            if (h[k].key < h[best].key)
                best = k;
        if (h[best].key >= x.key)
            break;
        h[i] = h[best];
        i = best;
    }
    h[i] = x;
}

static void heap_push(struct enc *e, struct hent x)
{
    if (!heap_reserve(e, e->heap_len + 1))
        return;
    size_t i = e->heap_len++;
    while (i > 0) {
        size_t p = (i - 1) / 4;
        if (e->heap[p].key <= x.key)
            break;
        e->heap[i] = e->heap[p];
        i = p;
    }
    e->heap[i] = x;
}

static struct hent heap_pop(struct enc *e)
{
    struct hent top = e->heap[0];
    if (--e->heap_len) {
        e->heap[0] = e->heap[e->heap_len];
        sift_down(e->heap, e->heap_len, 0);
    }
    return top;
}

/* Heap entry for the pair (l, r), if it has a merge. */
static inline int pair_entry(const struct enc *e, int32_t l, int32_t r, struct hent *out)
{
    if (l < 0 || r < 0)
        return 0;
    int32_t lid = e->sym[l].id, rid = e->sym[r].id;
    if (lid < 0 || rid < 0)
        return 0; /* a character that is no token never takes part in a merge */
    struct g4_tok_pair p;
    uint64_t key = g4_tok_pair_key(lid, rid);
    if (e->pcache) {
        struct g4_tok_pair *c = &e->pcache[(g4_tok_mix64(key) >> 40) & (PCACHE - 1)];
        if (c->key != key) {
            *c = g4_tok_pair_find(e->t, lid, rid);
            c->key = key; /* misses are cached too (rank -1) */
        }
        p = *c;
    } else {
        p = g4_tok_pair_find(e->t, lid, rid);
    }
    if (p.rank < 0)
        return 0;
    *out = (struct hent){(uint64_t)(uint32_t)p.rank << 32 | (uint32_t)l, e->sym[r].end, p.res};
    return 1;
}

static inline void try_pair(struct enc *e, int32_t l, int32_t r)
{
    struct hent h;
    if (pair_entry(e, l, r, &h))
        heap_push(e, h);
}

/* BPE over one chunk (no newline boundaries inside). */
static void bpe(struct enc *e, const uint8_t *s, size_t len)
{
    const g4_tokenizer *t = e->t;
    if (len > e->sym_cap) {
        struct sym *ns = realloc(e->sym, len * sizeof *ns);
        if (!ns) {
            e->oom = 1;
            return;
        }
        e->sym = ns;
        e->sym_cap = len;
    }
    int32_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t cl;
        int32_t id;
        if (s[i] < 0x80) {
            cl = 1;
            id = t->ascii_id[s[i]];
        } else {
            cl = utf8_len(s + i, len - i);
            id = g4_tok_lookup(t, (const char *)s + i, cl);
        }
        e->sym[n] = (struct sym){id, n - 1, n + 1, (uint32_t)i, (uint32_t)(i + cl)};
        n++;
        i += cl;
    }
    if (n == 0)
        return;
    e->sym[n - 1].next = -1;

    /* initial pairs, heapified in O(n) */
    if (!heap_reserve(e, (size_t)n))
        return;
    e->heap_len = 0;
    for (int32_t i = 0; i + 1 < n; i++)
        e->heap_len += (size_t)pair_entry(e, i, i + 1, &e->heap[e->heap_len]);
    for (size_t i = e->heap_len / 4 + 1; i-- > 0;)
        if (i < e->heap_len)
            sift_down(e->heap, e->heap_len, i);
    while (e->heap_len && !e->oom) {
        struct hent h = heap_pop(e);
        int32_t left = (int32_t)(uint32_t)h.key;
        struct sym *L = &e->sym[left];
        if (L->id < 0 || L->next < 0 || e->sym[L->next].end != h.rend)
            continue; /* stale: one side already merged into something else */
        struct sym *R = &e->sym[L->next];
        L->id = h.res;
        L->end = R->end;
        L->next = R->next;
        if (R->next >= 0)
            e->sym[R->next].prev = left;
        R->id = -2;
        try_pair(e, L->prev, left);
        try_pair(e, left, L->next);
    }
    if (e->oom)
        return;

    for (int32_t i = 0; i >= 0; i = e->sym[i].next) {
        const struct sym *y = &e->sym[i];
        if (y->id >= 0)
            emit(e, y->id);
        else if (y->end - y->start == 1 && s[y->start] == ' ')
            emit_bytes(e, (const uint8_t *)G4_TOK_SPACE, 3); /* only if the vocab lacks '▁' */
        else
            emit_bytes(e, s + y->start, y->end - y->start);
    }
}

/* Pre-split on newlines: [^\n]+ | \n+ ; a newline run that is a token is that token. */
static void encode_text(struct enc *e, const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len && !e->oom) {
        size_t j = i;
        if (s[i] == '\n') {
            while (j < len && s[j] == '\n')
                j++;
            int32_t id = g4_tok_lookup(e->t, (const char *)s + i, j - i);
            if (id >= 0)
                emit(e, id);
            else
                bpe(e, s + i, j - i);
        } else {
            const uint8_t *nl = memchr(s + i, '\n', len - i);
            j = nl ? (size_t)(nl - s) : len;
            bpe(e, s + i, j - i);
        }
        i = j;
    }
}

/* Longest special token starting at s[0], or -1. With only_user, control tokens are skipped:
 * user-defined tokens (<|channel>, <|tool_call>, <|"|> ...) are matched even without
 * PARSE_SPECIAL, as llama.cpp and transformers' added-token handling do. */
static int32_t match_special(const g4_tokenizer *t, const uint8_t *s, size_t n, size_t *mlen, int only_user)
{
    uint32_t a = t->special_start[s[0]], b = t->special_start[s[0] + 1];
    for (uint32_t k = a; k < b; k++) {
        int32_t id = t->special[k];
        if (only_user && t->type[id] != G4_TOKEN_TYPE_USER_DEFINED)
            continue;
        uint32_t o = t->text_off[id], l = t->text_off[id + 1] - o;
        if (l <= n && memcmp(t->text + o, s, l) == 0) {
            *mlen = l;
            return id;
        }
    }
    return -1;
}

int64_t g4_tokenizer_encode(const g4_tokenizer *t, const char *text, size_t len, unsigned flags,
                            int32_t *out, size_t cap, char *err, size_t errlen)
{
    if (!text && len) {
        g4_tok_seterr(err, errlen, "tokenizer: NULL text");
        return -1;
    }
    if (len > (size_t)INT32_MAX) {
        g4_tok_seterr(err, errlen, "tokenizer: input of %zu bytes exceeds 2 GiB", len);
        return -1;
    }
    if (!out)
        cap = 0;
    struct enc e = {.t = t, .out = out, .cap = cap};
    if (len >= PCACHE_MIN_INPUT) {
        e.pcache = malloc(PCACHE * sizeof *e.pcache);
        if (e.pcache) /* key ~0 never occurs: ids are < 2^31 */
            memset(e.pcache, 0xff, PCACHE * sizeof *e.pcache);
    }
    if (flags & G4_TOKENIZE_ADD_BOS) {
        if (t->bos < 0) {
            g4_tok_seterr(err, errlen, "tokenizer: ADD_BOS requested but the vocabulary has no BOS token");
            return -1;
        }
        emit(&e, t->bos);
    }
    const uint8_t *s = (const uint8_t *)text;
    if (len == 0) {
        /* nothing to split (and text may be NULL) */
    } else {
        /* Leftmost-longest match of control / user-defined texts (control ones only with
         * PARSE_SPECIAL); the text between goes through the normal path. (llama.cpp instead
         * takes special tokens longest-first over the whole text; the two differ only when two
         * special texts overlap, which no Gemma 4 pair does.) */
        const int only_user = !(flags & G4_TOKENIZE_PARSE_SPECIAL);
        size_t seg = 0;
        for (size_t i = 0; i < len && !e.oom;) {
            size_t ml;
            int32_t id = t->special_start[s[i]] != t->special_start[s[i] + 1]
                             ? match_special(t, s + i, len - i, &ml, only_user)
                             : -1;
            if (id < 0) {
                i++;
                continue;
            }
            encode_text(&e, s + seg, i - seg);
            emit(&e, id);
            i += ml;
            seg = i;
        }
        encode_text(&e, s + seg, len - seg);
    }
    free(e.sym);
    free(e.heap);
    free(e.pcache);
    if (e.oom) {
        g4_tok_seterr(err, errlen, "tokenizer: out of memory");
        return -1;
    }
    if (e.nobyte) {
        g4_tok_seterr(err, errlen, "tokenizer: the vocabulary has no <0xXX> (or <unk>) token for a byte of the input");
        return -1;
    }
    return e.n;
}
