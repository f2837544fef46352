/* g4-spec-bench: what speculative decoding can buy on this machine for a given model.
 *
 * Measures, after a prompt of --prompt tokens:
 *   t1        one decode step (1 token, logits)                         (the plain cost per token)
 *   v(k)      one verify step of k + 1 tokens, logits for every row, then the rollback
 * both as g4_generate's greedy steps run them: logits left before the softcap and the greedy
 * token picked per row (g4_greedy_token), so c(k) is what a greedy speculative round pays.
 *   d         one drafter step (when --draft is given; else --draft-cost as a fraction of t1)
 * and prints c(k) = v(k) / t1 and the expected speedup for a per-token acceptance rate a:
 *   tokens per round  E(k, a) = 1 + a + ... + a^k = (1 - a^(k+1)) / (1 - a)
 *   cost per round    C(k)    = v(k) + k d          (in decode steps: c(k) + k d / t1)
 *   speedup           S(k, a) = E(k, a) t1 / C(k)
 * (i.i.d. acceptance is the usual model; real acceptance falls along a round.)
 *
 * With --gen N it also measures end to end: tokens/s of g4_generate (greedy, N tokens) plain,
 * and speculative with an ORACLE proposer for each acceptance rate alpha (--alphas), at a fixed
 * k (--k) and with adaptive k. The oracle is a benchmark device: the drafter's real step runs
 * (g4_draft, so its cost is paid), then its proposals are replaced by the target's known greedy
 * continuation, each token corrupted with probability 1 - alpha, so acceptance is i.i.d. alpha
 * per token whatever the random weights. Whether the proposal for a position is corrupted is a
 * function of the rep's seed and the position only (common random numbers): within a rep, the
 * fixed-k and adaptive rows of an alpha meet the same corrupted positions, so their ratio
 * compares the policies on the same text instead of adding two draws' luck (64 tokens at
 * alpha 0.7 realise 0.7 +- 0.06). It goes through g4_generate_with (plugin/generate/generate.h),
 * which the library does not export: no host can reach it. Every speculative run must emit
 * exactly the plain greedy tokens (checked; exit 1 otherwise).
 *
 * --clock cpu times with the process CPU clock instead of the wall clock: with --threads 1 it
 * is far steadier than wall time on a shared machine (a preempted step does not count). --json
 * FILE writes the figures as JSON lines for bench/run_bench.sh: one "run" row, one "verify_cost"
 * row per batch size, one "speculative" row per (alpha, k), labelled with --label (the format)
 * and compared with --llama-tps (llama.cpp's plain decode tokens/s in the same run). That is a
 * wall-clock figure: with --clock cpu, --plain-wall-tps (g4plug's plain decode in that run, wall
 * clock) makes speedup_vs_llama = speedup_vs_plain x plain-wall-tps / llama-tps, each ratio in
 * one clock.
 *
 * usage: g4-spec-bench --model M.gguf [--draft D.gguf] [--threads N] [--prompt N] [--reps N]
 *                      [--kmax K] [--draft-cost F] [--gen N] [--gen-reps R] [--k K]
 *                      [--alphas A,B,..] [--clock wall|cpu] [--json FILE] [--label S] [--llama-tps X]
 *                      [--plain-wall-tps X] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "generate/generate.h" /* g4_generate_with, g4_proposer: internal, not exported */
#include "model/blocks.h"       /* g4_greedy_token */
#include "bench_stats.h"
#include "g4plug.h"

static clockid_t g_clock = CLOCK_MONOTONIC;

static double now(void)
{
    struct timespec t;
    clock_gettime(g_clock, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "g4-spec-bench: %s: %s\n", what, g4_last_error());
    exit(1);
}

/* Seconds of one step of n tokens at the session's current end (rolled back after). */
static double step_once(g4_session *s, int32_t n, uint8_t *want, int32_t *toks)
{
    const int32_t n0 = g4_session_n_past(s);
    g4_batch b;
    g4_batch_init(&b);
    b.n_tokens = n;
    b.tokens = toks;
    b.want = want;
    for (int i = 0; i < n; i++)
        want[i] = G4_OUT_LOGITS | G4_OUT_HIDDEN;
    const int32_t V = s->m->hp.n_vocab;
    const double t0 = now();
    if (g4_session_step(s, &b, G4_STEP_RAW_LOGITS) != G4_OK)
        die("g4_step");
    for (int32_t i = 0; i < n; i++)
        (void)g4_greedy_token(s->logits + (size_t)s->out_logit_row[i] * V, V, s->m->hp.softcap);
    const double t = now() - t0;
    if (g4_session_truncate(s, n0) != G4_OK)
        die("g4_session_truncate");
    return t;
}

/* t1 (median seconds of a 1-token step) and c[k] = v(k) / t1 for k = 1..kmax, where each
 * repetition times 1, 2, ..., kmax + 1 tokens back to back and c[k] is the median over the
 * repetitions of that repetition's ratio: on a host whose memory bandwidth drifts (a shared VM
 * here moved 40% within minutes), timing all the 1-token steps first and then all the larger
 * ones measured the drift, not the batch. */
static double time_steps(g4_session *s, int kmax, int reps, uint8_t *want, int32_t *toks, double *c)
{
    double *t1 = malloc(sizeof(double) * (size_t)reps), *ratio = malloc(sizeof(double) * (size_t)reps * 17);
    for (int r = 0; r < reps; r++) {
        t1[r] = step_once(s, 1, want, toks);
        for (int k = 1; k <= kmax; k++)
            ratio[k * reps + r] = step_once(s, k + 1, want, toks) / t1[r];
    }
    for (int k = 1; k <= kmax; k++)
        c[k] = bench_median(ratio + k * reps, reps);
    const double m = bench_median(t1, reps);
    free(t1), free(ratio);
    return m;
}

/* ---- end to end: g4_generate, plain and with the oracle proposer ----------------------------- */

typedef struct oracle {
    const int32_t *plain; /* plain[i]: the i-th token plain greedy decoding emits */
    int32_t n_plain, start; /* start: n_past when generation began */
    double alpha;
    int real_drafter;     /* run the drafter's step (its cost) before overriding its proposals */
    uint64_t seed;
} oracle;

/* splitmix64's finaliser: a well-mixed 64-bit function of (seed, position) */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static g4_status oracle_propose(void *ctx, g4_session *s, int32_t last, int32_t k, int32_t *out, int32_t *n_out)
{
    oracle *o = ctx;
    *n_out = 0;
    if (o->real_drafter) {
        g4_status st = g4_draft(s, last, k, out, n_out);
        if (st)
            return st;
    }
    const int32_t idx = g4_session_n_past(s) - o->start; /* `last` is plain[idx] */
    if (idx < 0 || idx >= o->n_plain || o->plain[idx] != last) {
        fprintf(stderr, "g4-spec-bench: oracle out of step at %d\n", idx);
        return G4_ERR_INTERNAL;
    }
    for (int32_t i = 0; i < k; i++) {
        const int32_t j = idx + 1 + i;
        int32_t t = j < o->n_plain ? o->plain[j] : 0;
        const uint64_t h = mix64(o->seed + 0x9E3779B97F4A7C15ull * (uint64_t)(j + 1));
        if ((double)(h >> 11) * (1.0 / 9007199254740992.0) >= o->alpha) /* 53 bits: u in [0, 1) */
            t = (t + 1 + (int32_t)(h & 1023u) % 1000) % 262144;          /* never t itself */
        out[i] = t;
    }
    *n_out = k;
    return G4_OK;
}

typedef struct sink {
    int32_t *tok;
    int32_t n, cap;
} sink;

static int32_t on_token(void *ud, int32_t tok)
{
    sink *k = ud;
    if (k->n < k->cap)
        k->tok[k->n++] = tok;
    return 1;
}

/* Tokens/s of one g4_generate of n_gen tokens after the prompt (re-stepping its last token). */
static double gen_once(g4_session *s, const int32_t *prompt, int32_t P, int32_t n_gen, int32_t n_draft,
                       const g4_proposer *prop, sink *out, g4_generate_stats *st)
{
    if (g4_session_truncate(s, P - 1) != G4_OK)
        die("g4_session_truncate");
    g4_batch b;
    g4_batch_init(&b);
    b.n_tokens = 1;
    b.tokens = prompt + P - 1;
    if (g4_step(s, &b) != G4_OK)
        die("g4_step");
    g4_generate_params p;
    g4_generate_params_init(&p);
    p.max_tokens = n_gen;
    p.n_draft = n_draft;
    p.stop_at_eog = 0;
    p.on_token = on_token;
    p.user_data = out;
    out->n = 0;
    memset(st, 0, sizeof *st);
    st->struct_size = sizeof *st;
    const double t0 = now();
    if (g4_generate_with(s, &p, st, prop) != G4_OK)
        die("g4_generate");
    return st->n_generated / (now() - t0);
}

typedef struct spec_row {
    double alpha, tps, speedup, acc, per_step, drafts; /* drafts: drafted tokens per emitted token */
    int32_t k; /* -1: adaptive */
} spec_row;

int main(int argc, char **argv)
{
    const char *model = NULL, *draft = NULL;
    int threads = 0, prompt = 64, reps = 9, kmax = 4;
    double draft_cost = -1.0;
    int n_gen = 0, gen_reps = 3, k_fixed = 3;
    const char *alphas_s = "0,0.5,0.7,0.9", *json = NULL, *label = "";
    double llama_tps = 0.0, plain_wall_tps = 0.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--model") && v) model = argv[++i];
        else if (!strcmp(a, "--draft") && v) draft = argv[++i];
        else if (!strcmp(a, "--threads") && v) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--prompt") && v) prompt = atoi(argv[++i]);
        else if (!strcmp(a, "--reps") && v) reps = atoi(argv[++i]);
        else if (!strcmp(a, "--kmax") && v) kmax = atoi(argv[++i]);
        else if (!strcmp(a, "--draft-cost") && v) draft_cost = atof(argv[++i]);
        else if (!strcmp(a, "--gen") && v) n_gen = atoi(argv[++i]);
        else if (!strcmp(a, "--gen-reps") && v) gen_reps = atoi(argv[++i]);
        else if (!strcmp(a, "--k") && v) k_fixed = atoi(argv[++i]);
        else if (!strcmp(a, "--alphas") && v) alphas_s = argv[++i];
        else if (!strcmp(a, "--json") && v) json = argv[++i];
        else if (!strcmp(a, "--label") && v) label = argv[++i];
        else if (!strcmp(a, "--llama-tps") && v) llama_tps = atof(argv[++i]);
        else if (!strcmp(a, "--plain-wall-tps") && v) plain_wall_tps = atof(argv[++i]);
        else if (!strcmp(a, "--clock") && v) g_clock = !strcmp(argv[++i], "cpu") ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC;
        else {
            fprintf(stderr, "usage: %s --model M.gguf [--draft D.gguf] [--threads N] [--prompt N] [--reps N] "
                            "[--kmax K] [--draft-cost F] [--gen N] [--gen-reps R] [--k K] [--alphas A,B,..] "
                            "[--clock wall|cpu] [--json FILE] [--label S] [--llama-tps X] [--plain-wall-tps X]\n", argv[0]);
            return 2;
        }
    }
    if (!model || prompt < 1 || reps < 1 || kmax < 1 || kmax > 16 || n_gen < 0 || gen_reps < 1 || k_fixed < 1 ||
        k_fixed > 16) {
        fprintf(stderr, "g4-spec-bench: --model is required (prompt >= 1, reps >= 1, 1 <= kmax, k <= 16, gen >= 0)\n");
        return 2;
    }
    g4_load_params lp;
    g4_load_params_init(&lp);
    lp.model = model;
    lp.draft = draft;
    lp.n_threads = threads;
    lp.n_ctx = prompt + 64 + n_gen;
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

    double c[17];
    time_steps(s, kmax, 1, want, toks + prompt, c); /* warm-up */
    const double t1 = time_steps(s, kmax, reps, want, toks + prompt, c);

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
        d = bench_median(t, reps) / t1;
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

    /* ---- end to end ----
     * Each rep times plain decoding once and then every (alpha, k) row, and a row's speedup is
     * the median over reps of its tokens/s over the same rep's plain tokens/s: a slow spell of
     * the shared machine falls on both sides of a ratio. An adaptive row is timed in steady
     * state, after one untimed generation at the same alpha (another oracle seed): adaptive k
     * keeps what it has learnt across g4_generate calls, which would otherwise be the previous
     * row's alpha -- a chat's next turn starts from its last one the same way. */
    enum { MAX_ROWS = 64 };
    double plain_tps = 0.0;
    spec_row rows[MAX_ROWS];
    int n_rows = 0;
    if (n_gen > 0) {
        sink plain = {malloc(sizeof(int32_t) * (size_t)n_gen), 0, n_gen};
        sink got = {malloc(sizeof(int32_t) * (size_t)n_gen), 0, n_gen};
        double *tp = malloc(sizeof(double) * (size_t)gen_reps);
        double *row_tps = malloc(sizeof(double) * (size_t)gen_reps * MAX_ROWS);   /* [row][rep] */
        double *row_ratio = malloc(sizeof(double) * (size_t)gen_reps * MAX_ROWS); /* [row][rep]: / tp[rep] */
        g4_generate_stats st;
        gen_once(s, toks, prompt, n_gen, 0, NULL, &plain, &st); /* warm-up; the oracle's text */
        const int ks[2] = {k_fixed, -1};
        for (const char *a = alphas_s; *a && n_rows + 2 <= MAX_ROWS;) {
            char *end;
            const double alpha = strtod(a, &end);
            if (end == a)
                break;
            for (int ki = 0; ki < 2; ki++) {
                spec_row *row = &rows[n_rows++];
                memset(row, 0, sizeof *row);
                row->alpha = alpha;
                row->k = ks[ki];
            }
            a = *end == ',' ? end + 1 : end;
        }
        for (int r = 0; r < gen_reps; r++) {
            tp[r] = gen_once(s, toks, prompt, n_gen, 0, NULL, &got, &st);
            for (int i = 0; i < n_rows; i++) {
                spec_row *row = &rows[i];
                for (int warm = row->k < 0; warm >= 0; warm--) {
                    oracle o = {plain.tok, plain.n, prompt, row->alpha, draft != NULL,
                                0x9E3779B97F4A7C15ull + (uint64_t)r + (warm ? 1000u : 0u)};
                    g4_proposer pr = {oracle_propose, &o};
                    const double tps = gen_once(s, toks, prompt, n_gen, row->k, &pr, &got, &st);
                    if (got.n != plain.n || memcmp(got.tok, plain.tok, sizeof(int32_t) * (size_t)plain.n)) {
                        fprintf(stderr, "g4-spec-bench: speculative output (alpha %.2f, k %d) differs from plain greedy\n",
                                row->alpha, row->k);
                        return 1;
                    }
                    if (warm)
                        continue;
                    row_tps[(size_t)i * gen_reps + r] = tps;
                    row_ratio[(size_t)i * gen_reps + r] = tps / tp[r];
                    row->acc += (st.n_drafted ? (double)st.n_accepted / st.n_drafted : 0.0) / gen_reps;
                    row->per_step += (double)st.n_generated / (st.n_target_steps ? st.n_target_steps : 1) / gen_reps;
                    row->drafts += (double)st.n_drafted / (st.n_generated ? st.n_generated : 1) / gen_reps;
                }
            }
        }
        plain_tps = bench_median(tp, gen_reps);
        printf("\ng4_generate, %d tokens, greedy, %d reps (plain, then every row, per rep): plain %.2f tokens/s%s\n",
               n_gen, gen_reps, plain_tps, draft ? "" : " (no --draft: the oracle's proposals cost nothing)");
        printf("  alpha      k   tokens/s   speedup   accepted   tokens/target step   drafts/token   (medians; speedup: of per-rep ratios)\n");
        for (int i = 0; i < n_rows; i++) {
            spec_row *row = &rows[i];
            row->tps = bench_median(row_tps + (size_t)i * gen_reps, gen_reps);
            row->speedup = bench_median(row_ratio + (size_t)i * gen_reps, gen_reps);
            char kb[16];
            snprintf(kb, sizeof kb, row->k < 0 ? "adaptive" : "%d", row->k);
            printf("  %5.2f  %8s   %8.2f   %6.3f     %6.3f      %6.3f                %6.3f\n", row->alpha, kb, row->tps,
                   row->speedup, row->acc, row->per_step, row->drafts);
        }
        free(plain.tok);
        free(got.tok);
        free(tp);
        free(row_tps);
        free(row_ratio);
    }

    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) {
            fprintf(stderr, "g4-spec-bench: cannot write %s\n", json);
            return 1;
        }
        char llama[32] = "null", wall[32] = "null";
        if (llama_tps > 0.0)
            snprintf(llama, sizeof llama, "%.4f", llama_tps);
        if (plain_wall_tps > 0.0)
            snprintf(wall, sizeof wall, "%.4f", plain_wall_tps);
        fprintf(f, "{\"row\":\"run\",\"type\":\"%s\",\"threads\":%d,\"isa\":\"%s\",\"clock\":\"%s\","
                   "\"decode_step_ms\":%.4f,\"drafter_step_vs_decode\":%.5f,\"drafter\":\"%s\",\"gen_tokens\":%d,"
                   "\"plain_tokens_per_s\":%.4f,\"llama_tokens_per_s\":%s,\"plain_wall_tokens_per_s\":%s}\n",
                label, info.n_threads, info.isa, g_clock == CLOCK_MONOTONIC ? "wall" : "cpu", t1 * 1e3, d, dsrc, n_gen,
                plain_tps, llama, wall);
        for (int k = 1; k <= kmax; k++)
            fprintf(f, "{\"row\":\"verify_cost\",\"type\":\"%s\",\"threads\":%d,\"n_tokens\":%d,"
                       "\"cost_vs_decode_step\":%.4f}\n", label, info.n_threads, k + 1, c[k]);
        for (int i = 0; i < n_rows; i++) {
            char kb[16], vs[32] = "null";
            snprintf(kb, sizeof kb, rows[i].k < 0 ? "\"adaptive\"" : "%d", rows[i].k);
            if (llama_tps > 0.0 && g_clock != CLOCK_MONOTONIC && plain_wall_tps > 0.0)
                snprintf(vs, sizeof vs, "%.4f", rows[i].speedup * plain_wall_tps / llama_tps);
            else if (llama_tps > 0.0 && g_clock == CLOCK_MONOTONIC)
                snprintf(vs, sizeof vs, "%.4f", rows[i].tps / llama_tps);
            fprintf(f, "{\"row\":\"speculative\",\"type\":\"%s\",\"threads\":%d,\"alpha\":%.2f,\"k\":%s,"
                       "\"tokens_per_s\":%.4f,\"speedup_vs_plain\":%.4f,\"speedup_vs_llama\":%s,\"acceptance\":%.4f,"
                       "\"tokens_per_target_step\":%.4f,\"drafts_per_token\":%.4f}\n",
                    label, info.n_threads, rows[i].alpha, kb, rows[i].tps, rows[i].speedup, vs, rows[i].acc,
                    rows[i].per_step, rows[i].drafts);
        }
        fclose(f);
    }
    g4_session_free(s);
    g4_model_free(m);
    free(toks);
    free(want);
    return 0;
}
