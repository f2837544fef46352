/* g4-spec-bench: what speculative decoding can buy on this machine for a given model.
 *
 * Measures, after a prompt of --prompt tokens:
 *   t1        one decode step (1 token, logits)                         (the plain cost per token)
 *   v(k)      one verify step of k + 1 tokens, logits for every row, then the rollback
 *   d         one drafter step (when --draft is given; else --draft-cost as a fraction of t1)
 * and prints c(k) = v(k) / t1 and the expected speedup for a per-token acceptance rate a:
 *   tokens per round  E(k, a) = 1 + a + ... + a^k = (1 - a^(k+1)) / (1 - a)
 *   cost per round    C(k)    = v(k) + k d          (in decode steps: c(k) + k d / t1)
 *   speedup           S(k, a) = E(k, a) t1 / C(k)
 * (i.i.d. acceptance is the usual model; real acceptance falls along a round.)
 *
 * usage: g4-spec-bench --model M.gguf [--draft D.gguf] [--threads N] [--prompt N] [--reps N]
 *                      [--kmax K] [--draft-cost F] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "g4plug.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(const char *what)
{
    fprintf(stderr, "g4-spec-bench: %s: %s\n", what, g4_last_error());
    exit(1);
}

/* Median seconds of a step of n tokens at the session's current end (rolled back after). */
static double time_step(g4_session *s, int32_t n, int reps, uint8_t *want, int32_t *toks)
{
    double *t = malloc(sizeof(double) * (size_t)reps);
    int32_t n0 = g4_session_n_past(s);
    g4_batch b;
    g4_batch_init(&b);
    b.n_tokens = n;
    b.tokens = toks;
    b.want = want;
    for (int i = 0; i < n; i++)
        want[i] = G4_OUT_LOGITS | G4_OUT_HIDDEN;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        if (g4_step(s, &b) != G4_OK)
            die("g4_step");
        t[r] = now() - t0;
        if (g4_session_truncate(s, n0) != G4_OK)
            die("g4_session_truncate");
    }
    double m = median(t, reps);
    free(t);
    return m;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *draft = NULL;
    int threads = 0, prompt = 64, reps = 9, kmax = 4;
    double draft_cost = -1.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--model") && v) model = argv[++i];
        else if (!strcmp(a, "--draft") && v) draft = argv[++i];
        else if (!strcmp(a, "--threads") && v) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--prompt") && v) prompt = atoi(argv[++i]);
        else if (!strcmp(a, "--reps") && v) reps = atoi(argv[++i]);
        else if (!strcmp(a, "--kmax") && v) kmax = atoi(argv[++i]);
        else if (!strcmp(a, "--draft-cost") && v) draft_cost = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: %s --model M.gguf [--draft D.gguf] [--threads N] [--prompt N] [--reps N] "
                            "[--kmax K] [--draft-cost F]\n", argv[0]);
            return 2;
        }
    }
    if (!model || prompt < 1 || reps < 1 || kmax < 1 || kmax > 16) {
        fprintf(stderr, "g4-spec-bench: --model is required (prompt >= 1, reps >= 1, 1 <= kmax <= 16)\n");
        return 2;
    }
    g4_load_params lp;
    g4_load_params_init(&lp);
    lp.model = model;
    lp.draft = draft;
    lp.n_threads = threads;
    lp.n_ctx = prompt + 64;
    g4_model *m;
    if (g4_load(&lp, &m) != G4_OK)
        die("g4_load");
    g4_model_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    g4_model_get_info(m, &info);
    g4_session *s;
    if (g4_session_new(m, NULL, &s) != G4_OK)
        die("g4_session_new");

    int32_t *toks = malloc(sizeof(int32_t) * (size_t)(prompt + 32));
    uint8_t *want = calloc((size_t)prompt + 32, 1);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < prompt + 32; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        toks[i] = (int32_t)(x % (uint64_t)info.n_vocab);
    }
    g4_batch b;
    g4_batch_init(&b);
    b.n_tokens = prompt;
    b.tokens = toks;
    if (g4_step(s, &b) != G4_OK)
        die("prompt");

    time_step(s, 1, 2, want, toks + prompt); /* warm-up */
    const double t1 = time_step(s, 1, reps, want, toks + prompt);
    double c[17];
    for (int k = 1; k <= kmax; k++)
        c[k] = time_step(s, k + 1, reps, want, toks + prompt) / t1;

    double d = draft_cost >= 0.0 ? draft_cost : 0.0;
    const char *dsrc = draft_cost >= 0.0 ? "given" : "none";
    if (draft && draft_cost < 0.0) {
        /* one step to leave a hidden state, then time drafts of kmax tokens */
        b.n_tokens = 1;
        b.tokens = toks + prompt;
        if (g4_step(s, &b) != G4_OK)
            die("step");
        double *t = malloc(sizeof(double) * (size_t)reps);
        int32_t out[16], n;
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            if (g4_draft(s, toks[prompt + 1], kmax, out, &n) != G4_OK)
                die("g4_draft");
            t[r] = (now() - t0) / kmax;
        }
        d = median(t, reps) / t1;
        free(t);
        dsrc = "measured";
    }

    printf("model %s (%s, %d layers, d %d, vocab %d), isa %s, %d threads, prompt %d, median of %d\n", model,
           info.variant, info.n_layer, info.n_embd, info.n_vocab, info.isa, info.n_threads, prompt, reps);
    printf("decode step t1 = %.3f ms; drafter step = %.3f t1 (%s)\n\n", t1 * 1e3, d, dsrc);
    printf("  k   verify v(k)   c(k)=v/t1   round cost C/t1\n");
    for (int k = 1; k <= kmax; k++)
        printf("%3d   %8.3f ms   %8.3f    %8.3f\n", k, c[k] * t1 * 1e3, c[k], c[k] + k * d);
    static const double acc[] = {0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
    printf("\nspeedup S(k, a) = E(k, a) / (C(k)/t1), E = (1 - a^(k+1)) / (1 - a)\n    a ");
    for (int k = 1; k <= kmax; k++)
        printf("    k=%-2d", k);
    printf("\n");
    for (size_t i = 0; i < sizeof acc / sizeof acc[0]; i++) {
        printf("%5.2f ", acc[i]);
        for (int k = 1; k <= kmax; k++) {
            double E = 0.0, p = 1.0;
            for (int j = 0; j <= k; j++, p *= acc[i])
                E += p;
            printf("  %6.3f", E / (c[k] + k * d));
        }
        printf("\n");
    }
    g4_session_free(s);
    g4_model_free(m);
    free(toks);
    free(want);
    return 0;
}
