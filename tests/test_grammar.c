/* Grammar-constrained sampling (g4_grammar_*) on the real 262144-token Gemma 4 vocabulary:
 * random logits, constrained, must always produce text that parses and satisfies its schema;
 * bad schemas get clear errors; the tool-call grammar produces calls g4_chat_parse reads back. */
#include <math.h>
#include <time.h>

#include "g4plug.h"
#include "base/json_value.h"
#include "t.h"

static g4_model *load_vocab(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer/ggml-vocab-gemma-4.gguf", t_fixtures());
    g4_load_params lp;
    g4_load_params_init(&lp);
    lp.model = path;
    lp.flags = G4_LOAD_VOCAB_ONLY;
    g4_model *m = NULL;
    if (g4_load(&lp, &m) != G4_OK)
        fprintf(stderr, "load %s: %s\n", path, g4_last_error());
    return m;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double t_mask, n_mask;

/* Sample under the grammar from random logits until an end-of-generation token; returns the
 * text (rendered with control tokens), or NULL on an error. */
static char *run_grammar(g4_model *m, g4_grammar *g, int max_tokens, float *logits, int *n_tok)
{
    const int32_t V = g4_vocab_size(m);
    size_t cap = 1 << 16, n = 0;
    char *text = malloc(cap);
    *n_tok = 0;
    for (int step = 0; step < max_tokens; step++) {
        for (int32_t i = 0; i < V; i++)
            logits[i] = (float)urand();
        double t0 = now_s();
        g4_status st = g4_grammar_apply(g, logits, V);
        t_mask += now_s() - t0;
        n_mask++;
        if (st) {
            fprintf(stderr, "apply: %s\n", g4_last_error());
            free(text);
            return NULL;
        }
        int32_t best = -1;
        for (int32_t i = 0; i < V; i++)
            if (logits[i] != -INFINITY && (best < 0 || logits[i] > logits[best]))
                best = i;
        if (best < 0 || g4_grammar_accept(g, best) != G4_OK) {
            fprintf(stderr, "accept %d: %s\n", best, g4_last_error());
            free(text);
            return NULL;
        }
        (*n_tok)++;
        if (g4_token_is_eog(m, best)) {
            text[n] = '\0';
            return text;
        }
        size_t len = 0;
        g4_token_to_piece(m, best, G4_DETOK_RENDER_SPECIAL, text + n, cap - n - 1, &len);
        n += len;
        if (n + 256 > cap)
            break;
    }
    text[n] = '\0';
    fprintf(stderr, "no end after %d tokens: %s\n", max_tokens, text);
    free(text);
    return NULL;
}

static int is_int(const jv *v) { return v && v->type == JV_NUM && v->num == floor(v->num); }

/* The person schema below, checked by hand. */
static int valid_person(const jv *v, char *why, size_t n)
{
#define NO(...) return snprintf(why, n, __VA_ARGS__), 0
    if (!v || v->type != JV_OBJ)
        NO("not an object");
    const jv *name = jv_get(v, "name"), *age = jv_get(v, "age"), *ok = jv_get(v, "ok"), *tags = jv_get(v, "tags"),
             *kind = jv_get(v, "kind"), *score = jv_get(v, "score"), *pet = jv_get(v, "pet");
    if (!name || name->type != JV_STR || name->len > 4 * 12)
        NO("name");
    if (!is_int(age))
        NO("age");
    if (!ok || ok->type != JV_BOOL)
        NO("ok");
    if (tags) {
        if (tags->type != JV_ARR || tags->n < 1 || tags->n > 3)
            NO("tags count");
        for (const jv *t = tags->child; t; t = t->next)
            if (t->type != JV_STR || (strcmp(t->str, "a") && strcmp(t->str, "b") && strcmp(t->str, "c")))
                NO("tags item");
    }
    if (kind && (kind->type != JV_STR || strcmp(kind->str, "x")))
        NO("kind");
    if (score && score->type != JV_NUM && score->type != JV_NULL)
        NO("score");
    if (pet && (pet->type != JV_OBJ || !jv_get(pet, "legs") || !is_int(jv_get(pet, "legs"))))
        NO("pet");
    size_t known = 3 + !!tags + !!kind + !!score + !!pet;
    if (v->n != known)
        NO("extra members");
    return 1;
#undef NO
}

static int tree_ok(const jv *v, int depth)
{
    if (!v || v->type != JV_OBJ || depth > 20)
        return 0;
    const jv *val = jv_get(v, "v"), *kids = jv_get(v, "kids");
    if (!is_int(val))
        return 0;
    if (kids) {
        if (kids->type != JV_ARR || kids->n > 2)
            return 0;
        for (const jv *k = kids->child; k; k = k->next)
            if (!tree_ok(k, depth + 1))
                return 0;
    }
    return v->n == 1 + !!kids;
}

static const char *k_person =
    "{\"type\":\"object\",\"$defs\":{\"pet\":{\"type\":\"object\",\"properties\":{\"legs\":{\"type\":\"integer\"}},"
    "\"required\":[\"legs\"]}},"
    "\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":12},\"age\":{\"type\":\"integer\"},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"b\",\"c\"]},\"minItems\":1,\"maxItems\":3},"
    "\"ok\":{\"type\":\"boolean\"},\"kind\":{\"const\":\"x\"},"
    "\"score\":{\"anyOf\":[{\"type\":\"number\"},{\"type\":\"null\"}]},\"pet\":{\"$ref\":\"#/$defs/pet\"}},"
    "\"required\":[\"name\",\"age\",\"ok\"],\"additionalProperties\":false}";

int main(void)
{
    g4_model *m = load_vocab();
    CHECK(m != NULL, "vocabulary");
    if (!m)
        return T_DONE("test_grammar");
    const int32_t V = g4_vocab_size(m);
    float *logits = malloc(sizeof(float) * (size_t)V);
    char why[128];

    /* 1. a schema with every kind of member, 12 random runs */
    g4_grammar *g = NULL;
    double t0 = now_s();
    CHECK(g4_grammar_new(m, G4_GRAMMAR_JSON_SCHEMA, k_person, strlen(k_person), &g) == G4_OK, "%s", g4_last_error());
    printf("grammar_new (first, builds the vocabulary trie): %.1f ms\n", (now_s() - t0) * 1e3);
    int total_tokens = 0;
    for (int run = 0; g && run < 12; run++) {
        CHECK(g4_grammar_reset(g) == G4_OK, "reset");
        CHECK(!g4_grammar_is_complete(g), "complete before anything");
        int nt = 0;
        char *text = run_grammar(m, g, 400, logits, &nt);
        total_tokens += nt;
        CHECK(text != NULL, "run %d produced no complete text", run);
        if (!text)
            continue;
        char err[128];
        jv *v = jv_parse(text, strlen(text), err, sizeof err);
        CHECK(v != NULL, "run %d: not JSON (%s): %s", run, err, text);
        CHECK(v && valid_person(v, why, sizeof why), "run %d: violates the schema (%s): %s", run, why, text);
        if (run == 0)
            printf("sample: %s\n", text);
        jv_free(v);
        free(text);
    }
    printf("mask: %.3f ms per token on average over %d tokens (apply incl. cache misses); %d tokens in the "
           "12 schema runs\n",
           n_mask ? t_mask / n_mask * 1e3 : 0.0, (int)n_mask, total_tokens);

    /* 2. a disallowed token is refused and leaves the state alone */
    if (g) {
        g4_grammar_reset(g);
        int32_t brace[4];
        size_t nb = 0;
        g4_tokenize(m, "x", 1, 0, brace, 4, &nb);
        CHECK(g4_grammar_accept(g, brace[0]) == G4_ERR_INVALID_ARGUMENT, "'x' accepted as the first token");
        g4_tokenize(m, "{", 1, 0, brace, 4, &nb);
        CHECK(nb == 1 && g4_grammar_accept(g, brace[0]) == G4_OK, "'{' refused: %s", g4_last_error());
        CHECK(g4_grammar_accept(g, g4_token_id(m, G4_TOKEN_EOS)) == G4_ERR_INVALID_ARGUMENT, "early end accepted");
    }
    g4_grammar_free(g);

    /* 3. recursion through $ref "#" and json_object mode */
    const char *tree = "{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},\"kids\":{\"type\":\"array\","
                       "\"items\":{\"$ref\":\"#\"},\"maxItems\":2}},\"required\":[\"v\"]}";
    CHECK(g4_grammar_new(m, G4_GRAMMAR_JSON_SCHEMA, tree, strlen(tree), &g) == G4_OK, "%s", g4_last_error());
    for (int run = 0; g && run < 6; run++) {
        g4_grammar_reset(g);
        int nt;
        char *text = run_grammar(m, g, 600, logits, &nt);
        if (!text) /* a random tree may nest deep: bounded by max tokens, not a failure of the grammar */
            continue;
        jv *v = jv_parse(text, strlen(text), why, sizeof why);
        CHECK(v && tree_ok(v, 0), "tree run %d: %s", run, text);
        jv_free(v);
        free(text);
    }
    g4_grammar_free(g);
    CHECK(g4_grammar_new(m, G4_GRAMMAR_JSON_OBJECT, NULL, 0, &g) == G4_OK, "%s", g4_last_error());
    g4_grammar_free(g);

    /* 4. tool call grammar -> g4_chat_parse */
    const char *tools = "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":"
                        "\"object\",\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":10},\"unit\":{\"enum\":"
                        "[\"C\",\"F\"]}},\"required\":[\"city\",\"unit\"]}}},{\"type\":\"function\",\"function\":{"
                        "\"name\":\"now\"}}]";
    CHECK(g4_grammar_new(m, G4_GRAMMAR_TOOL_CALL, tools, strlen(tools), &g) == G4_OK, "%s", g4_last_error());
    for (int run = 0; g && run < 6; run++) {
        g4_grammar_reset(g);
        int nt;
        char *text = run_grammar(m, g, 200, logits, &nt);
        CHECK(text != NULL, "tool run %d", run);
        if (!text)
            continue;
        char out[2048];
        size_t n;
        CHECK(g4_chat_parse(m, text, strlen(text), 0, out, sizeof out, &n) == G4_OK, "%s", g4_last_error());
        jv *v = jv_parse(out, n, why, sizeof why);
        const jv *calls = jv_get(v, "tool_calls");
        const jv *c0 = calls ? calls->child : NULL;
        const jv *nm = jv_get(c0, "name"), *args = jv_get(c0, "arguments");
        int ok = calls && calls->n == 1 && nm && args && args->type == JV_OBJ &&
                 ((!strcmp(nm->str, "now") && args->n == 0) ||
                  (!strcmp(nm->str, "get_weather") && args->n == 2 && jv_get(args, "city") &&
                   jv_get(args, "city")->type == JV_STR && jv_get(args, "unit") &&
                   jv_get(args, "unit")->type == JV_STR));
        CHECK(ok, "tool run %d: %s -> %s", run, text, out);
        if (run == 0)
            printf("tool call sample: %s\n", out);
        jv_free(v);
        free(text);
    }
    g4_grammar_free(g);

    /* 5. bad input: clear errors */
    struct {
        const char *schema;
        g4_status want;
        const char *msg;
    } bad[] = {
        {"{\"type\":", G4_ERR_INVALID_ARGUMENT, "not valid JSON"},
        {"{\"type\":\"string\",\"pattern\":\"^a\"}", G4_ERR_UNSUPPORTED, "'pattern'"},
        {"{\"type\":\"integer\",\"minimum\":0}", G4_ERR_UNSUPPORTED, "'minimum'"},
        {"{\"type\":\"thing\"}", G4_ERR_INVALID_ARGUMENT, "unknown type"},
        {"{\"$ref\":\"#/$defs/missing\"}", G4_ERR_INVALID_ARGUMENT, "points to nothing"},
        {"{\"$ref\":\"http://x/y.json\"}", G4_ERR_UNSUPPORTED, "not supported"},
        {"false", G4_ERR_INVALID_ARGUMENT, "accepts nothing"},
        {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"array\",\"minItems\":3,\"maxItems\":1}}}",
         G4_ERR_INVALID_ARGUMENT, "/a"},
        {"{\"type\":\"object\",\"required\":[\"zz\"],\"properties\":{}}", G4_ERR_UNSUPPORTED, "zz"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        g = NULL;
        g4_status st = g4_grammar_new(m, G4_GRAMMAR_JSON_SCHEMA, bad[i].schema, strlen(bad[i].schema), &g);
        CHECK(st == bad[i].want && g == NULL && strstr(g4_last_error(), bad[i].msg),
              "schema %s: status %d, message '%s'", bad[i].schema, (int)st, g4_last_error());
    }
    CHECK(g4_grammar_new(m, G4_GRAMMAR_TOOL_CALL, "[{\"function\":{}}]", 17, &g) == G4_ERR_INVALID_ARGUMENT,
          "tool without a name");
    CHECK(g4_grammar_new(m, 99, "{}", 2, &g) == G4_ERR_INVALID_ARGUMENT, "unknown kind");
    CHECK(g4_grammar_apply(NULL, logits, V) == G4_ERR_INVALID_ARGUMENT, "NULL grammar");
    g4_grammar_free(NULL);

    free(logits);
    g4_model_free(m);
    return T_DONE("test_grammar");
}
