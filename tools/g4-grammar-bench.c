/* g4-grammar-bench: the cost of grammar-constrained sampling per generated token, next to a
 * decode step of the same model.
 *
 *   g4-grammar-bench MODEL.gguf [--threads N] [--tokens N] [--reps N]
 *
 * Grammar: a JSON Schema of the kind structured-output requests use (strings with maxLength,
 * integers, enums, an array, a nested $ref object). Per token it times what constrained decoding
 * adds: a copy of the logits, g4_grammar_apply (the mask, cached per grammar state) and
 * g4_grammar_accept, over generations sampled from random logits (all cache misses included;
 * the vocabulary trie is built before timing, as a server builds it on its first request).
 * Decode: one-token g4_step calls after a short prompt (wall time). Prints one JSON line with
 * medians over --reps repetitions; grammar_ms_per_token is thread CPU time (load-independent),
 * grammar_wall_ms_per_token wall time; overhead_pct = CPU grammar time / decode wall time. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "g4plug.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of this thread: the grammar work is single-threaded, so this stays meaningful on a
 * loaded machine (wall time does not). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static const char *k_schema =
    "{\"type\":\"object\",\"$defs\":{\"addr\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\","
    "\"maxLength\":24},\"zip\":{\"type\":\"integer\"}},\"required\":[\"city\",\"zip\"]}},\"properties\":{\"name\":"
    "{\"type\":\"string\",\"maxLength\":32},\"age\":{\"type\":\"integer\"},\"role\":{\"enum\":[\"admin\",\"user\","
    "\"guest\"]},\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":12},\"maxItems\":4},"
    "\"home\":{\"$ref\":\"#/$defs/addr\"},\"score\":{\"type\":\"number\"}},\"required\":[\"name\",\"age\",\"role\","
    "\"home\"]}";

int main(int argc, char **argv)
{
    const char *path = NULL;
    int threads = 0, n_tokens = 256, reps = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc)
            n_tokens = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else
            path = argv[i];
    }
    if (!path || reps < 1 || reps > 100 || n_tokens < 1) {
        fprintf(stderr, "usage: g4-grammar-bench MODEL.gguf [--threads N] [--tokens N] [--reps N]\n");
        return 2;
    }
    g4_load_params lp;
    g4_load_params_init(&lp);
    lp.model = path;
    lp.n_threads = threads;
    lp.n_ctx = 512;
    g4_model *m;
    if (g4_load(&lp, &m) != G4_OK) {
        fprintf(stderr, "g4-grammar-bench: %s\n", g4_last_error());
        return 1;
    }
    const int32_t V = g4_vocab_size(m);
    float *raw = malloc(sizeof(float) * (size_t)V), *lg = malloc(sizeof(float) * (size_t)V);
    double *g_ms = calloc((size_t)reps, sizeof *g_ms), *d_ms = calloc((size_t)reps, sizeof *d_ms),
           *gw_ms = calloc((size_t)reps, sizeof *gw_ms);
    g4_grammar *g = NULL;
    double t0 = now();
    if (!raw || !lg || !g_ms || !d_ms || g4_grammar_new(m, G4_GRAMMAR_JSON_SCHEMA, k_schema, strlen(k_schema), &g)) {
        fprintf(stderr, "g4-grammar-bench: %s\n", g4_last_error());
        return 1;
    }
    const double first_ms = (now() - t0) * 1e3;
    uint64_t rng = 0x2545F4914F6CDD1Dull;
    for (int r = 0; r < reps; r++) {
        /* grammar: generations from random logits until n_tokens tokens were chosen */
        double spent = 0, wall = 0;
        int done = 0;
        g4_grammar_free(g); /* a fresh grammar (empty mask cache) per repetition */
        g4_grammar_new(m, G4_GRAMMAR_JSON_SCHEMA, k_schema, strlen(k_schema), &g);
        while (done < n_tokens) {
            for (int32_t i = 0; i < V; i++) {
                rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
                raw[i] = (float)(rng >> 40) * (1.0f / 16777216.0f);
            }
            double a = cpu_now(), w = now();
            memcpy(lg, raw, sizeof(float) * (size_t)V);
            if (g4_grammar_apply(g, lg, V) != G4_OK)
                break;
            int32_t best = 0;
            for (int32_t i = 1; i < V; i++)
                if (lg[i] > lg[best])
                    best = i;
            g4_grammar_accept(g, best);
            spent += cpu_now() - a;
            wall += now() - w;
            done++;
            if (g4_token_is_eog(m, best))
                g4_grammar_reset(g);
        }
        g_ms[r] = spent / done * 1e3;
        gw_ms[r] = wall / done * 1e3;
        /* decode: one-token steps */
        g4_session *s;
        g4_session_new(m, NULL, &s);
        int32_t prompt[8] = {2, 105, 2364, 107, 9259, 106, 107, 105};
        g4_batch b;
        g4_batch_init(&b);
        b.n_tokens = 8;
        b.tokens = prompt;
        g4_step(s, &b);
        int n_dec = 16;
        double a = now();
        for (int k = 0; k < n_dec; k++) {
            int32_t t = 1000 + k;
            b.n_tokens = 1;
            b.tokens = &t;
            if (g4_step(s, &b) != G4_OK) {
                fprintf(stderr, "g4-grammar-bench: step: %s\n", g4_last_error());
                return 1;
            }
        }
        d_ms[r] = (now() - a) / n_dec * 1e3;
        g4_session_free(s);
    }
    qsort(g_ms, (size_t)reps, sizeof *g_ms, cmp_d);
    qsort(d_ms, (size_t)reps, sizeof *d_ms, cmp_d);
    qsort(gw_ms, (size_t)reps, sizeof *gw_ms, cmp_d);
    g4_model_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    g4_model_get_info(m, &info);
    double gm = g_ms[reps / 2], dm = d_ms[reps / 2];
    printf("{\"test\":\"grammar\",\"model\":\"%s\",\"n_layer\":%d,\"threads\":%d,\"tokens\":%d,\"reps\":%d,"
           "\"grammar_ms_per_token\":%.3f,\"grammar_wall_ms_per_token\":%.3f,\"decode_ms_per_token\":%.3f,\"overhead_pct\":%.2f,"
           "\"first_grammar_ms\":%.1f}\n",
           info.variant, info.n_layer, info.n_threads, n_tokens, reps, gm, gw_ms[reps / 2], dm, dm > 0 ? gm / dm * 100 : 0.0, first_ms);
    g4_grammar_free(g);
    g4_model_free(m);
    free(raw);
    free(lg);
    free(g_ms);
    free(d_ms);
    free(gw_ms);
    return 0;
}
