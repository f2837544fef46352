/* grammar — constrained decoding. A grammar is a set of rules over bytes (alternatives of
 * sequences of byte classes and rule references, like GBNF without repetition operators),
 * compiled from a JSON Schema (grammar_compile.c) and matched as a pushdown automaton whose
 * token masks come from a byte trie over the vocabulary (token_trie.c, grammar_match.c).
 *
 * Three Gemma 4 control tokens are part of the alphabet, as bytes that never occur in UTF-8
 * text: G4_GB_QUOTE for <|"|> (string quotes in Gemma's tool-call notation), G4_GB_CALL_OPEN for
 * <|tool_call> and G4_GB_CALL_CLOSE for <tool_call|>. */
#ifndef G4_GRAMMAR_H
#define G4_GRAMMAR_H

#include <stddef.h>
#include <stdint.h>

#include "base/internal.h"
#include "base/json_value.h"

#define G4_GB_QUOTE 0xF8
#define G4_GB_CALL_OPEN 0xF9
#define G4_GB_CALL_CLOSE 0xFA

enum { GE_END = 0, GE_ALT, GE_RULE, GE_CHARS };

typedef struct gr_elem {
    uint32_t type; /* GE_* */
    uint32_t arg;  /* GE_RULE: rule id; GE_CHARS: byte-class id */
} gr_elem;

typedef struct gr_class {
    uint64_t bits[4];
} gr_class;

/* A compiled grammar: rules flattened into one element array. */
typedef struct gr_rules {
    gr_elem *elems;
    uint32_t n_elems;
    uint32_t *alt_start; /* all alternatives' first elements, rule by rule */
    uint32_t *rule_alt0; /* [n_rules + 1]: alternatives of rule r are alt_start[rule_alt0[r] ..] */
    uint32_t n_rules;
    gr_class *classes;
    uint32_t n_classes;
    uint32_t root;
} gr_rules;

void gr_rules_free(gr_rules *g);

/* Notation of the values a compiled schema accepts. */
#define GR_JSON 0  /* JSON text */
#define GR_GEMMA 1 /* Gemma 4 tool-call arguments: <|"|>strings<|"|>, bare keys */

/* JSON Schema (a parsed tree) -> rules. json_object: any JSON object (schema ignored).
 * G4_ERR_INVALID_ARGUMENT for an invalid schema, G4_ERR_UNSUPPORTED for a keyword the compiler
 * does not implement; the message names the schema path. */
g4_status gr_compile_schema(const jv *schema, int json_object, gr_rules *out);
/* An OpenAI `tools` array -> one Gemma 4 tool call <|tool_call>call:NAME{args}<tool_call|> of one
 * of the tools, its arguments following that tool's parameters schema. */
g4_status gr_compile_tool_call(const jv *tools, gr_rules *out);

/* ---- token trie (token_trie.c): every token's bytes, shared by all grammars of a model ---- */
typedef struct g4_token_trie g4_token_trie;
struct g4_model;
/* The model's trie, built on first use (lock-free one-time init; freed with the model). */
const g4_token_trie *g4_token_trie_get(const struct g4_model *m);
void g4_token_trie_free(g4_token_trie *t);
/* The bytes a token contributes to grammar matching; 0 when no grammar may produce it. */
struct g4_tokenizer;
int g4_token_grammar_bytes(const struct g4_tokenizer *tk, int32_t id, const uint8_t **s, size_t *n);

typedef struct tt_node {
    uint32_t first_child; /* index of the first child; children are contiguous */
    uint16_t n_children;
    uint8_t byte;         /* byte on the edge into this node */
    uint8_t pad;
    uint32_t tok_first;   /* tokens ending here: tok_ids[tok_first .. tok_first + n_tok) */
    uint32_t n_tok;
} tt_node;

struct g4_token_trie {
    tt_node *nodes; /* node 0: the root */
    uint32_t n_nodes;
    int32_t *tok_ids;
    int32_t *eog;   /* end-of-generation tokens */
    uint32_t n_eog;
    int32_t n_vocab;
};

#endif
