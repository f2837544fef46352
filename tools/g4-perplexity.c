/* g4-perplexity: how well a model predicts tokenized text, and (with a drafter) whether
 * speculative greedy decoding reproduces plain greedy decoding on it.
 *
 *   g4-perplexity MODEL.gguf IDS.txt [--draft DRAFT.gguf] [--lines N] [--gen N] [--threads N]
 *
 * IDS.txt: one sample per line, token ids separated by spaces (g4-tokenize --lines output).
 * Perplexity = exp(mean -log p(token | previous tokens of its line)) over every token after the
 * first of each line, with the full-vocabulary softmax of the model's (softcapped) logits.
 * With --draft: for each line, the prompt is the line up to and including its first
 * <channel|> token (the chat-template answer start; the whole line when there is none); --gen
 * tokens (default 24) are generated greedily without and with MTP drafting, and must match.
 * Prints one summary line each; exits 1 when an output differs or on any error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "g4plug.h"

#define MAX_IDS 4096

typedef struct sink {
    int32_t tok[MAX_IDS];
    int32_t n;
} sink;

static int32_t G4_CALL collect(void *ud, int32_t tok)
{
    sink *k = ud;
    if (k->n < MAX_IDS)
        k->tok[k->n++] = tok;
    return 1;
}

static int fail(const char *what)
{
    fprintf(stderr, "g4-perplexity: %s: %s\n", what, g4_last_error());
    return 1;
}

/* prompt -> greedy continuation of n tokens (n_draft 0: plain) */
static int generate(g4_session *s, const int32_t *p, int32_t np, int32_t n, int32_t n_draft, sink *out,
                    g4_generate_stats *st)
{
    g4_batch b;
    g4_batch_init(&b);
    b.n_tokens = np;
    b.tokens = p;
    if (g4_session_reset(s) != G4_OK || g4_step(s, &b) != G4_OK)
        return fail("prompt");
    g4_generate_params gp;
    g4_generate_params_init(&gp);
    gp.max_tokens = n;
    gp.n_draft = n_draft;
    gp.stop_at_eog = 1;
    gp.on_token = collect;
    gp.user_data = out;
    out->n = 0;
    memset(st, 0, sizeof *st);
    st->struct_size = sizeof *st;
    return g4_generate(s, &gp, st) == G4_OK ? 0 : fail("generate");
}

int main(int argc, char **argv)
{
    const char *model = NULL, *ids_path = NULL, *draft = NULL;
    int max_lines = 1 << 30, n_gen = 24, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--draft") && v) draft = argv[++i];
        else if (!strcmp(a, "--lines") && v) max_lines = atoi(argv[++i]);
        else if (!strcmp(a, "--gen") && v) n_gen = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && v) threads = atoi(argv[++i]);
        else if (a[0] != '-' && !model) model = a;
        else if (a[0] != '-' && !ids_path) ids_path = a;
        else {
            fprintf(stderr, "usage: g4-perplexity MODEL.gguf IDS.txt [--draft DRAFT.gguf] [--lines N] "
                            "[--gen N] [--threads N]\n");
            return 2;
        }
    }
    if (!model || !ids_path || n_gen < 1 || n_gen > MAX_IDS) {
        fprintf(stderr, "usage: g4-perplexity MODEL.gguf IDS.txt [--draft DRAFT.gguf] [--lines N] "
                        "[--gen N] [--threads N]\n");
        return 2;
    }
    FILE *f = fopen(ids_path, "r");
    if (!f) {
        perror(ids_path);
        return 1;
    }
    g4_load_params lp;
    g4_load_params_init(&lp);
    lp.model = model;
    lp.draft = draft;
    lp.n_threads = threads;
    g4_model *m = NULL;
    if (g4_load(&lp, &m) != G4_OK)
        return fail(model);
    const int32_t V = g4_vocab_size(m);
    int32_t channel_end = -1; /* "<channel|>": the chat template's answer start */
    size_t n_ce = 0;
    if (g4_tokenize(m, "<channel|>", 10, G4_TOKENIZE_PARSE_SPECIAL, &channel_end, 1, &n_ce) != G4_OK || n_ce != 1)
        channel_end = -1;
    g4_session_params sp;
    g4_session_params_init(&sp);
    sp.n_ctx = MAX_IDS + 64;
    sp.n_threads = threads;
    g4_session *s = NULL;
    if (g4_session_new(m, &sp, &s) != G4_OK)
        return fail("session");

    static int32_t ids[MAX_IDS];
    static uint8_t want[MAX_IDS];
    static char line[1 << 16];
    static sink plain, spec;
    double nll = 0.0;
    long n_tok = 0, n_lines = 0, n_drafted = 0, n_accepted = 0, n_same = 0;
    double t_plain = 0.0, t_spec = 0.0;
    int rc = 0;
    while (n_lines < max_lines && fgets(line, sizeof line, f)) {
        int32_t n = 0;
        for (char *p = line, *e; n < MAX_IDS; p = e) {
            long v = strtol(p, &e, 10);
            if (e == p)
                break;
            if (v < 0 || v >= V) {
                fprintf(stderr, "g4-perplexity: %s: token %ld out of range\n", ids_path, v);
                return 1;
            }
            ids[n++] = (int32_t)v;
        }
        if (n < 2)
            continue;
        n_lines++;
        memset(want, G4_OUT_LOGITS, (size_t)n);
        g4_batch b;
        g4_batch_init(&b);
        b.n_tokens = n - 1;
        b.tokens = ids;
        b.want = want;
        if (g4_session_reset(s) != G4_OK || g4_step(s, &b) != G4_OK)
            return fail("step");
        for (int32_t i = 0; i + 1 < n; i++) {
            const float *lg = g4_logits(s, i);
            float mx = lg[0];
            for (int32_t t = 1; t < V; t++)
                mx = lg[t] > mx ? lg[t] : mx;
            double sum = 0.0;
            for (int32_t t = 0; t < V; t++)
                sum += exp((double)(lg[t] - mx));
            nll += (double)mx + log(sum) - (double)lg[ids[i + 1]];
            n_tok++;
        }
        if (draft) {
            int32_t np = n;
            for (int32_t i = 0; i < n; i++)
                if (ids[i] == channel_end) {
                    np = i + 1;
                    break;
                }
            g4_generate_stats a, d;
            if (generate(s, ids, np, n_gen, 0, &plain, &a) || generate(s, ids, np, n_gen, -1, &spec, &d))
                return 1;
            t_plain += a.seconds;
            t_spec += d.seconds;
            n_drafted += d.n_drafted;
            n_accepted += d.n_accepted;
            int same = plain.n == spec.n && !memcmp(plain.tok, spec.tok, sizeof(int32_t) * (size_t)plain.n);
            n_same += same;
            if (!same) {
                fprintf(stderr, "g4-perplexity: line %ld: speculative output differs from plain greedy\n", n_lines);
                rc = 1;
            }
        }
    }
    fclose(f);
    if (!n_tok) {
        fprintf(stderr, "g4-perplexity: %s has no line of 2 or more ids\n", ids_path);
        return 1;
    }
    printf("perplexity %.3f over %ld tokens (%ld lines)\n", exp(nll / (double)n_tok), n_tok, n_lines);
    if (draft)
        printf("drafting: %ld of %ld lines identical to plain greedy; drafted %ld, accepted %ld (%.1f%%); "
               "generation %.3f s plain, %.3f s speculative\n",
               n_same, n_lines, n_drafted, n_accepted, n_drafted ? 100.0 * (double)n_accepted / (double)n_drafted : 0.0,
               t_plain, t_spec);
    g4_session_free(s);
    g4_model_free(m);
    return rc;
}
