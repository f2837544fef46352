/* Grammar matching (grammar.h) and the g4_grammar ABI.
 *
 * State: a set of parse stacks. A stack is a chain of continuation positions in the rule
 * elements (persistent linked nodes in an arena, so stacks share tails); every stack in a set is
 * expanded, i.e. its top is a byte class, or it is the empty stack ACCEPT (the grammar may end).
 *
 * Token masks: a depth-first walk of the vocabulary trie that carries the parser state along the
 * bytes, entering only children whose byte the state admits; every token that ends at a reached
 * node is allowed. The states met on the way are interned into a lazily built DFA (stack set ->
 * id, 256 transitions each), so after the first few bytes the walk is one table lookup per trie
 * node (a string body maps ordinary bytes back to itself). Masks are cached per state, so a
 * repeated state costs no walk at all. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "model/model.h"
#include "vocab/tokenizer.h"

#define NONE 0xFFFFFFFFu
#define ACCEPT 0xFFFFFFFEu
#define MAX_STACKS 512
#define MAX_EXPAND_DEPTH 256
#define CACHE_SLOTS 32
#define GRAMMAR_MAGIC 0x47524d31u

typedef struct snode {
    uint32_t pos, parent;
} snode;

typedef struct sset {
    uint32_t *s;
    uint32_t n, cap;
} sset;

typedef struct mcache {
    uint32_t *key; /* canonical chains: pos..., NONE-terminated per stack */
    uint32_t key_n;
    uint64_t hash;
    uint64_t *bits; /* n_vocab bits */
    uint64_t stamp;
} mcache;

#define DS_MAX 4096       /* DFA states kept before a flush (each holds 256 transitions) */
#define DS_UNKNOWN (-2)
#define DS_DEAD (-1)

typedef struct dstate {
    uint32_t first, n; /* its stacks: ds_stacks[first .. first + n) */
    uint64_t hash;
    int32_t next[256]; /* DS_UNKNOWN, DS_DEAD or a state id */
} dstate;

struct g4_grammar {
    uint32_t magic;
    const g4_model *m;
    const g4_token_trie *trie;
    gr_rules R;
    snode *nodes;
    uint32_t n_nodes, cap_nodes;
    sset cur;
    sset *lv; /* per trie depth, for the mask walk */
    uint32_t n_lv;
    uint64_t *walk_bits;
    mcache cache[CACHE_SLOTS];
    uint64_t clock;
    int failed; /* out of memory or an over-ambiguous grammar: no token allowed */
    int ended;  /* an end-of-generation token was accepted */
    uint32_t *key_tmp;
    uint32_t key_cap;
    /* Lazily built DFA over the walk's stack sets: state id -> stacks and byte transitions, so a
     * walk costs one table lookup per trie node once a state's transitions are known (a string
     * body maps every ordinary byte back to the same state). Flushed when full and whenever the
     * node arena is compacted. */
    dstate *ds;
    uint32_t n_ds, cap_ds;
    uint32_t *ds_stacks;
    uint32_t n_ds_stacks, cap_ds_stacks;
    int32_t *ds_index; /* open addressing by hash; -1 empty */
    uint32_t ds_index_cap;
    sset tmp;
};

static uint32_t new_node(g4_grammar *g, uint32_t pos, uint32_t parent)
{
    if (g->n_nodes == g->cap_nodes) {
        uint32_t cap = g->cap_nodes ? g->cap_nodes * 2 : 1024;
        snode *n = realloc(g->nodes, sizeof *n * cap);
        if (!n) {
            g->failed = 1;
            return NONE;
        }
        g->nodes = n;
        g->cap_nodes = cap;
    }
    g->nodes[g->n_nodes].pos = pos;
    g->nodes[g->n_nodes].parent = parent;
    return g->n_nodes++;
}

static int chain_eq(const g4_grammar *g, uint32_t a, uint32_t b)
{
    while (a != b) {
        if (a == NONE || b == NONE || a == ACCEPT || b == ACCEPT || g->nodes[a].pos != g->nodes[b].pos)
            return 0;
        a = g->nodes[a].parent;
        b = g->nodes[b].parent;
    }
    return 1;
}

static void set_add(g4_grammar *g, sset *s, uint32_t node)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (chain_eq(g, s->s[i], node))
            return;
    if (s->n >= MAX_STACKS) {
        g->failed = 1;
        return;
    }
    if (s->n == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 16;
        uint32_t *n = realloc(s->s, sizeof *n * cap);
        if (!n) {
            g->failed = 1;
            return;
        }
        s->s = n;
        s->cap = cap;
    }
    s->s[s->n++] = node;
}

static int ends_alt(const g4_grammar *g, uint32_t pos)
{
    return g->R.elems[pos].type == GE_END || g->R.elems[pos].type == GE_ALT;
}

/* Continue at element `pos` with `parent` below it, adding every expanded stack to out. */
static void expand(g4_grammar *g, uint32_t pos, uint32_t parent, sset *out, int depth)
{
    if (g->failed)
        return;
    if (depth > MAX_EXPAND_DEPTH) {
        g->failed = 1;
        return;
    }
    const gr_elem *e = &g->R.elems[pos];
    switch (e->type) {
    case GE_END:
    case GE_ALT:
        if (parent == NONE)
            set_add(g, out, ACCEPT);
        else
            expand(g, g->nodes[parent].pos, g->nodes[parent].parent, out, depth + 1);
        return;
    case GE_CHARS: {
        uint32_t n = new_node(g, pos, parent);
        if (n != NONE)
            set_add(g, out, n);
        return;
    }
    default: { /* GE_RULE: push the continuation (unless it is the end: a tail call) */
        uint32_t np = ends_alt(g, pos + 1) ? parent : new_node(g, pos + 1, parent);
        if (g->failed)
            return;
        for (uint32_t a = g->R.rule_alt0[e->arg]; a < g->R.rule_alt0[e->arg + 1]; a++)
            expand(g, g->R.alt_start[a], np, out, depth + 1);
    }
    }
}

static int class_has(const g4_grammar *g, uint32_t pos, uint8_t c)
{
    const gr_class *k = &g->R.classes[g->R.elems[pos].arg];
    return (k->bits[c >> 6] >> (c & 63)) & 1;
}

static void advance(g4_grammar *g, const sset *in, uint8_t c, sset *out)
{
    out->n = 0;
    for (uint32_t i = 0; i < in->n; i++) {
        uint32_t n = in->s[i];
        if (n == ACCEPT || !class_has(g, g->nodes[n].pos, c))
            continue;
        expand(g, g->nodes[n].pos + 1, g->nodes[n].parent, out, 0);
    }
}

static void ds_flush(g4_grammar *g)
{
    g->n_ds = 0;
    g->n_ds_stacks = 0;
    if (g->ds_index)
        for (uint32_t i = 0; i < g->ds_index_cap; i++)
            g->ds_index[i] = -1;
}

static uint64_t set_hash(const g4_grammar *g, const uint32_t *st, uint32_t n)
{
    uint64_t h = 1469598103934665603ull ^ n;
    for (uint32_t i = 0; i < n; i++) {
        for (uint32_t x = st[i];; x = g->nodes[x].parent) {
            uint32_t v = x == ACCEPT ? ACCEPT : x == NONE ? NONE : g->nodes[x].pos;
            h = (h ^ v) * 1099511628211ull;
            if (x == ACCEPT || x == NONE)
                break;
        }
    }
    return h;
}

/* The id of the state with these stacks (a new one when unseen); -1 when out of memory or the
 * table was flushed to make room (callers then recompute). *fresh: the stacks were stored. */
static int32_t ds_intern(g4_grammar *g, const uint32_t *st, uint32_t n, int *fresh)
{
    *fresh = 0;
    if (!g->ds_index) {
        g->ds_index_cap = DS_MAX * 2;
        if (!(g->ds_index = malloc(sizeof *g->ds_index * g->ds_index_cap)) ||
            !(g->ds = malloc(sizeof *g->ds * DS_MAX))) {
            g->failed = 1;
            return -1;
        }
        g->cap_ds = DS_MAX;
        ds_flush(g);
    }
    uint64_t h = set_hash(g, st, n);
    uint32_t mask = g->ds_index_cap - 1, slot = (uint32_t)h & mask;
    for (; g->ds_index[slot] >= 0; slot = (slot + 1) & mask) {
        const dstate *d = &g->ds[g->ds_index[slot]];
        if (d->hash != h || d->n != n)
            continue;
        uint32_t k = 0;
        while (k < n && chain_eq(g, g->ds_stacks[d->first + k], st[k]))
            k++;
        if (k == n)
            return g->ds_index[slot];
    }
    if (g->n_ds >= g->cap_ds)
        return -1; /* full: the caller flushes */
    if (g->n_ds_stacks + n > g->cap_ds_stacks) {
        uint32_t cap = g->cap_ds_stacks ? g->cap_ds_stacks * 2 : 4096;
        while (cap < g->n_ds_stacks + n)
            cap *= 2;
        uint32_t *ns = realloc(g->ds_stacks, sizeof *ns * cap);
        if (!ns) {
            g->failed = 1;
            return -1;
        }
        g->ds_stacks = ns;
        g->cap_ds_stacks = cap;
    }
    dstate *d = &g->ds[g->n_ds];
    d->first = g->n_ds_stacks;
    d->n = n;
    d->hash = h;
    for (int b = 0; b < 256; b++)
        d->next[b] = DS_UNKNOWN;
    memcpy(g->ds_stacks + g->n_ds_stacks, st, sizeof *st * n);
    g->n_ds_stacks += n;
    g->ds_index[slot] = (int32_t)g->n_ds;
    *fresh = 1;
    return (int32_t)g->n_ds++;
}

/* Transition of state `sid` on byte b: DS_DEAD, a state id, or DS_UNKNOWN when the table had to
 * be flushed (the walk then starts over). */
static int32_t ds_next(g4_grammar *g, int32_t sid, uint8_t b)
{
    int32_t nx = g->ds[sid].next[b];
    if (nx != DS_UNKNOWN)
        return nx;
    sset in = {g->ds_stacks + g->ds[sid].first, g->ds[sid].n, g->ds[sid].n};
    uint32_t mark = g->n_nodes;
    advance(g, &in, b, &g->tmp);
    if (g->failed)
        return DS_DEAD;
    if (!g->tmp.n) {
        g->ds[sid].next[b] = DS_DEAD;
        return DS_DEAD;
    }
    int fresh;
    int32_t id = ds_intern(g, g->tmp.s, g->tmp.n, &fresh);
    if (!fresh)
        g->n_nodes = mark; /* a known state: the nodes just made are not needed */
    if (id < 0)
        return DS_UNKNOWN;
    g->ds[sid].next[b] = id;
    return id;
}

/* Copy the current stacks into a fresh arena (drops everything the walks and old states left). */
static void compact(g4_grammar *g)
{
    snode *old = g->nodes;
    uint32_t old_n = g->n_nodes;
    if (old_n < (1u << 20)) /* 8 MiB of nodes: the DFA's states live in the same arena */
        return;
    ds_flush(g);
    g->nodes = NULL;
    g->n_nodes = g->cap_nodes = 0;
    for (uint32_t i = 0; i < g->cur.n; i++) {
        uint32_t src = g->cur.s[i];
        if (src == ACCEPT)
            continue;
        uint32_t chain[MAX_EXPAND_DEPTH * 2 + 8], k = 0;
        while (src != NONE && k < sizeof chain / sizeof *chain) {
            chain[k++] = old[src].pos;
            src = old[src].parent;
        }
        uint32_t parent = NONE;
        while (k-- > 0)
            parent = new_node(g, chain[k], parent);
        g->cur.s[i] = parent;
    }
    free(old);
}

/* ---- mask -------------------------------------------------------------------------------- */

static uint64_t state_key(g4_grammar *g, uint32_t *n_out)
{
    uint32_t n = 0;
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < g->cur.n; i++) {
        for (uint32_t x = g->cur.s[i];; x = g->nodes[x].parent) {
            uint32_t v = x == ACCEPT ? ACCEPT : x == NONE ? NONE : g->nodes[x].pos;
            if (n == g->key_cap) {
                uint32_t cap = g->key_cap ? g->key_cap * 2 : 256;
                uint32_t *k = realloc(g->key_tmp, sizeof *k * cap);
                if (!k) {
                    g->failed = 1;
                    *n_out = 0;
                    return 0;
                }
                g->key_tmp = k;
                g->key_cap = cap;
            }
            g->key_tmp[n++] = v;
            h = (h ^ v) * 1099511628211ull;
            if (x == ACCEPT || x == NONE)
                break;
        }
    }
    *n_out = n;
    return h;
}

static int walk_slow(g4_grammar *g, uint32_t tnode, uint32_t depth)
{
    const g4_token_trie *t = g->trie;
    const tt_node *nd = &t->nodes[tnode];
    if (depth + 1 >= g->n_lv) {
        uint32_t nl = g->n_lv ? g->n_lv * 2 : 64;
        sset *l = realloc(g->lv, sizeof *l * nl);
        if (!l)
            return -1;
        memset(l + g->n_lv, 0, sizeof *l * (nl - g->n_lv));
        g->lv = l;
        g->n_lv = nl;
    }
    sset *in = &g->lv[depth], *out = &g->lv[depth + 1];
    uint64_t any[4] = {0};
    for (uint32_t i = 0; i < in->n; i++)
        if (in->s[i] != ACCEPT) {
            const gr_class *k = &g->R.classes[g->R.elems[g->nodes[in->s[i]].pos].arg];
            for (int w = 0; w < 4; w++)
                any[w] |= k->bits[w];
        }
    for (uint32_t c = 0; c < nd->n_children; c++) {
        uint32_t ci = nd->first_child + c;
        uint8_t b = t->nodes[ci].byte;
        if (!((any[b >> 6] >> (b & 63)) & 1))
            continue;
        uint32_t mark = g->n_nodes;
        advance(g, in, b, out);
        if (g->failed)
            return -1;
        if (out->n) {
            const tt_node *ch = &t->nodes[ci];
            for (uint32_t k = 0; k < ch->n_tok; k++) {
                int32_t id = t->tok_ids[ch->tok_first + k];
                g->walk_bits[id >> 6] |= 1ull << (id & 63);
            }
            if (ch->n_children && walk_slow(g, ci, depth + 1))
                return -1;
        }
        g->n_nodes = mark;
        out = &g->lv[depth + 1]; /* lv may have moved */
        in = &g->lv[depth];
    }
    return 0;
}

/* The walk over the DFA: 0 done, -1 failed, 1 the state table filled up (start over). */
static int walk(g4_grammar *g, uint32_t tnode, int32_t sid)
{
    const g4_token_trie *t = g->trie;
    const tt_node *nd = &t->nodes[tnode];
    for (uint32_t c = 0; c < nd->n_children; c++) {
        uint32_t ci = nd->first_child + c;
        int32_t nx = ds_next(g, sid, t->nodes[ci].byte);
        if (g->failed)
            return -1;
        if (nx == DS_UNKNOWN)
            return 1;
        if (nx == DS_DEAD)
            continue;
        const tt_node *ch = &t->nodes[ci];
        for (uint32_t k = 0; k < ch->n_tok; k++) {
            int32_t id = t->tok_ids[ch->tok_first + k];
            g->walk_bits[id >> 6] |= 1ull << (id & 63);
        }
        if (ch->n_children) {
            int rc = walk(g, ci, nx);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* The mask of the current state (cached). NULL on failure. */
static const uint64_t *current_mask(g4_grammar *g)
{
    const int32_t V = g->trie->n_vocab;
    const size_t words = ((size_t)V + 63) / 64;
    uint32_t kn;
    uint64_t h = state_key(g, &kn);
    if (g->failed)
        return NULL;
    g->clock++;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        mcache *c = &g->cache[i];
        if (c->bits && c->hash == h && c->key_n == kn && !memcmp(c->key, g->key_tmp, sizeof *c->key * kn)) {
            c->stamp = g->clock;
            return c->bits;
        }
    }
    mcache *slot = &g->cache[0];
    for (int i = 1; i < CACHE_SLOTS; i++)
        if (g->cache[i].stamp < slot->stamp)
            slot = &g->cache[i];
    if (!slot->bits && !(slot->bits = malloc(sizeof *slot->bits * words))) {
        g->failed = 1;
        return NULL;
    }
    uint32_t *key = realloc(slot->key, sizeof *key * (kn ? kn : 1));
    if (!key) {
        g->failed = 1;
        return NULL;
    }
    slot->key = key;
    memcpy(key, g->key_tmp, sizeof *key * kn);
    slot->key_n = kn;
    slot->hash = h;
    slot->stamp = g->clock;
    g->walk_bits = slot->bits;
    memset(slot->bits, 0, sizeof *slot->bits * words);
    if (!g->n_lv) {
        g->lv = calloc(64, sizeof *g->lv);
        if (!g->lv) {
            g->failed = 1;
            slot->hash = 0;
            slot->key_n = 0;
            return NULL;
        }
        g->n_lv = 64;
    }
    int accept = 0;
    for (uint32_t i = 0; i < g->cur.n; i++)
        accept |= g->cur.s[i] == ACCEPT;
    /* the DFA walk; when the state table fills up, once more from an empty table, then the
     * direct walk (advancing stack sets node by node) */
    int rc = 1;
    for (int attempt = 0; attempt < 2 && rc == 1; attempt++) {
        if (attempt)
            ds_flush(g);
        int fresh;
        int32_t root = ds_intern(g, g->cur.s, g->cur.n, &fresh);
        if (root < 0 && !g->failed) {
            ds_flush(g);
            root = ds_intern(g, g->cur.s, g->cur.n, &fresh);
        }
        if (root < 0)
            break;
        memset(slot->bits, 0, sizeof *slot->bits * words);
        rc = walk(g, 0, root);
    }
    if (rc == 1 && !g->failed) {
        memset(slot->bits, 0, sizeof *slot->bits * words);
        sset *l0 = &g->lv[0];
        l0->n = 0;
        for (uint32_t i = 0; i < g->cur.n; i++)
            set_add(g, l0, g->cur.s[i]);
        uint32_t mark = g->n_nodes;
        rc = walk_slow(g, 0, 0);
        g->n_nodes = mark;
    }
    if (rc || g->failed) {
        g->failed = 1;
        free(slot->bits);
        slot->bits = NULL;
        return NULL;
    }
    if (accept)
        for (uint32_t i = 0; i < g->trie->n_eog; i++)
            slot->bits[g->trie->eog[i] >> 6] |= 1ull << (g->trie->eog[i] & 63);
    return slot->bits;
}

/* ---- ABI --------------------------------------------------------------------------------- */

static int live(const g4_grammar *g) { return g && g->magic == GRAMMAR_MAGIC; }

static void start_state(g4_grammar *g)
{
    ds_flush(g);
    g->n_nodes = 0;
    g->cur.n = 0;
    g->failed = 0;
    g->ended = 0;
    for (uint32_t a = g->R.rule_alt0[g->R.root]; a < g->R.rule_alt0[g->R.root + 1]; a++)
        expand(g, g->R.alt_start[a], NONE, &g->cur, 0);
}

G4_API g4_status G4_CALL g4_grammar_new(const g4_model *m, int32_t kind, const char *text, size_t len,
                                        g4_grammar **out)
{
    g4_clear_error();
    if (!out)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_grammar_new: out is NULL");
    *out = NULL;
    if (!g4_model_live(m))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_grammar_new: model is NULL or not a live handle");
    if (kind != G4_GRAMMAR_JSON_SCHEMA && kind != G4_GRAMMAR_JSON_OBJECT && kind != G4_GRAMMAR_TOOL_CALL)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_grammar_new: unknown kind %d", (int)kind);
    if (!text && len)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_grammar_new: text is NULL");
    jv *doc = NULL;
    if (kind != G4_GRAMMAR_JSON_OBJECT) {
        char err[160];
        if (!(doc = jv_parse(text, len, err, sizeof err)))
            return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_grammar_new: %s is not valid JSON: %s",
                           kind == G4_GRAMMAR_TOOL_CALL ? "the tools array" : "the schema", err);
    }
    gr_rules R;
    g4_status st = kind == G4_GRAMMAR_TOOL_CALL ? gr_compile_tool_call(doc, &R)
                                                : gr_compile_schema(doc, kind == G4_GRAMMAR_JSON_OBJECT, &R);
    jv_free(doc);
    if (st)
        return st;
    const g4_token_trie *trie = g4_token_trie_get(m);
    g4_grammar *g = calloc(1, sizeof *g);
    if (!trie || !g) {
        free(g);
        gr_rules_free(&R);
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "g4_grammar_new: out of memory");
    }
    g->magic = GRAMMAR_MAGIC;
    g->m = m;
    g->trie = trie;
    g->R = R;
    start_state(g);
    if (g->failed) {
        g4_grammar_free(g);
        return g4_fail(G4_ERR_UNSUPPORTED, "g4_grammar_new: the grammar is too ambiguous or left-recursive");
    }
    *out = g;
    return G4_OK;
}

G4_API void G4_CALL g4_grammar_free(g4_grammar *g)
{
    if (!live(g))
        return;
    g->magic = 0;
    gr_rules_free(&g->R);
    free(g->nodes);
    free(g->cur.s);
    for (uint32_t i = 0; i < g->n_lv; i++)
        free(g->lv[i].s);
    free(g->lv);
    for (int i = 0; i < CACHE_SLOTS; i++) {
        free(g->cache[i].bits);
        free(g->cache[i].key);
    }
    free(g->key_tmp);
    free(g->ds);
    free(g->ds_stacks);
    free(g->ds_index);
    free(g->tmp.s);
    free(g);
}

G4_API g4_status G4_CALL g4_grammar_reset(g4_grammar *g)
{
    g4_clear_error();
    if (!live(g))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_grammar_reset: not a live grammar");
    start_state(g);
    return g->failed ? g4_fail(G4_ERR_OUT_OF_MEMORY, "g4_grammar_reset: out of memory") : G4_OK;
}

G4_API g4_status G4_CALL g4_grammar_apply(g4_grammar *g, float *logits, int32_t n_vocab)
{
    g4_clear_error();
    if (!live(g) || !logits)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_grammar_apply: NULL %s", !live(g) ? "grammar" : "logits");
    if (n_vocab != g->trie->n_vocab)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_grammar_apply: n_vocab %d, the model has %d", (int)n_vocab,
                       (int)g->trie->n_vocab);
    if (g->ended)
        return g4_fail(G4_ERR_STATE, "g4_grammar_apply: generation already ended (reset the grammar)");
    const uint64_t *bits = g->failed ? NULL : current_mask(g);
    if (!bits)
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "g4_grammar_apply: out of memory or an over-ambiguous grammar");
    int any = 0;
    for (int32_t w = 0; w < (n_vocab + 63) / 64; w++) {
        uint64_t b = bits[w];
        any |= b != 0;
        if (b == ~0ull)
            continue;
        for (int32_t i = w * 64; i < w * 64 + 64 && i < n_vocab; i++)
            if (!((b >> (i & 63)) & 1))
                logits[i] = -INFINITY;
    }
    if (!any)
        return g4_fail(G4_ERR_STATE, "g4_grammar_apply: no token of the vocabulary can continue the grammar");
    return G4_OK;
}

G4_API g4_status G4_CALL g4_grammar_accept(g4_grammar *g, int32_t token)
{
    g4_clear_error();
    if (!live(g))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_grammar_accept: not a live grammar");
    if (token < 0 || token >= g->trie->n_vocab)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_grammar_accept: token %d outside the vocabulary", (int)token);
    if (g->ended || g->failed)
        return g4_fail(G4_ERR_STATE, "g4_grammar_accept: the grammar %s", g->ended ? "has ended" : "failed");
    if (g4_tokenizer_is_eog(g->m->tok, token)) {
        for (uint32_t i = 0; i < g->cur.n; i++)
            if (g->cur.s[i] == ACCEPT) {
                g->ended = 1;
                return G4_OK;
            }
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_grammar_accept: end of generation before the grammar is complete");
    }
    const uint8_t *s;
    size_t n;
    if (!g4_token_grammar_bytes(g->m->tok, token, &s, &n))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_grammar_accept: token %d is never allowed by a grammar", (int)token);
    sset bufs[2] = {{0}, {0}};
    const sset *in = &g->cur;
    for (size_t i = 0; i < n && in->n; i++) {
        sset *out = &bufs[i & 1];
        advance(g, in, s[i], out);
        in = out;
    }
    g4_status st = G4_OK;
    if (g->failed)
        st = g4_fail(G4_ERR_OUT_OF_MEMORY, "g4_grammar_accept: out of memory or an over-ambiguous grammar");
    else if (!in->n)
        st = g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_grammar_accept: token %d is not allowed here", (int)token);
    else if (in != &g->cur) {
        sset *won = (sset *)in;
        free(g->cur.s);
        g->cur = *won;
        memset(won, 0, sizeof *won);
        compact(g);
        if (g->failed)
            st = g4_fail(G4_ERR_OUT_OF_MEMORY, "g4_grammar_accept: out of memory");
    }
    free(bufs[0].s);
    free(bufs[1].s);
    return st;
}

G4_API int32_t G4_CALL g4_grammar_is_complete(const g4_grammar *g)
{
    if (!live(g))
        return 0;
    if (g->ended)
        return 1;
    for (uint32_t i = 0; i < g->cur.n; i++)
        if (g->cur.s[i] == ACCEPT)
            return 1;
    return 0;
}
