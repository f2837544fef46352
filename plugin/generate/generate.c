/* Drafting (g4_draft) and the generation loop (g4_generate), plain and speculative
 * (spec gemma4-architecture.md §7.3).
 *
 * Session convention: g4_generate starts after a step whose last row has logits (the prompt, or
 * anything else) and returns with every emitted token in the cache except the last one, which
 * the host steps itself if it continues (the same state plain and speculative decoding leave).
 * The outputs of the internal steps are not the host's: they are invalidated on return.
 *
 * Speculative round (drafter loaded, n_draft != 0), x = the last emitted token, not yet stepped:
 *   1. d_1..d_k = g4_draft(x)                       (drafter, constant position n_past)
 *   2. one target step over [x, d_1..d_k]           (logits for every row)
 *   3. for i = 0..k: y_i = choose(row i);  emit y_i;  stop at the first i with y_i != d_{i+1}
 *      (i = k: the bonus token after all drafts)
 *   4. truncate the cache to the rows that were kept: x, d_1..d_{n_acc}
 *   5. x = y_{n_acc}; the drafter's next h is the target hidden of row n_acc (by position).
 *
 * Why "choose and compare" is the exact speculative-sampling rule here: our proposals are
 * deterministic (q = a point mass on d). The standard rule accepts d with min(1, p(d)/q(d)) =
 * p(d) and on rejection samples from norm(max(0, p - q)) = p with d removed, renormalised.
 * Drawing y ~ p and accepting iff y == d does exactly that: P(accept) = p(d), and given y != d,
 * y ~ p(. | y != d). Each considered row draws exactly one token from the sampler, in the same
 * order and with the same sampler history as plain decoding, so with the same seed speculative
 * sampling emits the very same tokens as plain sampling (greedy is the temperature-0 case).
 *
 * Adaptive k (n_draft = -1) maximises expected tokens per second from what the session has
 * measured (what a round costs depends on the machine, the model and its formats: on a CPU a
 * verify step of k + 1 rows costs anywhere from ~1.1 to ~4 plain steps). The measurements are
 * g4_draft_state's costs: they persist across g4_generate calls and session resets, so a chat's
 * next turn or a server's next request starts from what the last one learned:
 *   v(n)  seconds of a target step of n rows (running mean per n; unmeasured n: the line
 *         through v(1) and the nearest measured n, or v(1)(1 + (n-1)/4) before any);
 *   d     seconds of one draft step (before one is measured: v(1)/10);
 *   a     per-draft acceptance rate, (accepted + 1/2) / (tested + 1) over decayed counts
 *         (a round of k drafts that keeps i tests min(i + 1, k) of them).
 * A round of k drafts yields E(k) = (1 - a^(k+1)) / (1 - a) tokens for k d + v(k+1) seconds; a
 * plain step yields 1 for v(1). The next round takes the best k in 1..7 (the first rounds at
 * most ADAPT_START, before anything is measured; every ADAPT_EXPLORE-th round one more, so the
 * cost of the next size up keeps being measured), or a plain step when none beats it.
 * Pauses: plain steps chosen that way start one of ADAPT_PAUSE_MIN plain steps, then a k = 1
 * probe, each further one doubled (up to ADAPT_PAUSE_MAX). A run of rounds that accept nothing
 * starts one when the run is unlikely for a drafter as good as its record: each missed round
 * adds -ln(1 - a) nats of evidence (capped at ln(50)/2; ln(50)/2 below a = 0.2, where drafting
 * gains little), a pause starts at ln 50 (less than a 2% chance) and doubles per further
 * ln(50)/2. So 2 misses pause a good record (0.9) and a poor one, 4 a record of 0.7, 6 one of
 * 0.5, and the probes after it double the pause once per miss or per two or three. Counting
 * misses did worse both ways: two below a = 1/2 made a fair drafter (alpha 0.5) pause every few
 * rounds, 1.14x plain against a fixed k = 3's 1.43x; 2..6 by the record's level, counted again
 * after each pause, let a drafter that has just stopped being right (its record, decayed over
 * ~20 rounds, still says 0.5-0.8) waste rounds. Any accepted draft ends the run and resets the
 * pauses. The run's evidence persists with the record: a call that starts after a paused run
 * probes first, and a miss pauses again from the shortest pause (a new request may suit the
 * drafter better). So a drafter that is never right, or a machine where verifying costs more
 * than drafting saves, costs a probe every 32 tokens. The choice of k changes only speed: every
 * k emits the same tokens (see above). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "draft/draft.h"
#include "generate/generate.h"

#define GEN_PARAMS_V1_SIZE G4_V1_0_SIZE(g4_generate_params, user_data)
#define GEN_STATS_V1_SIZE G4_V1_0_SIZE(g4_generate_stats, seconds)
#define ADAPT_START 3      /* largest k before a verify step of more than one row is measured */
#define ADAPT_MAX G4_DRAFT_KMAX /* = DRAFT_MAX */
#define ADAPT_EXPLORE 8    /* rounds between tries of one draft more than the model's best */
#define ADAPT_DECAY 0.95   /* per round: the acceptance estimate follows the text's recent rounds
                            * (0.85 capped a measured 0.9 at ~0.8 with its prior: k too small) */
#define ADAPT_PAUSE_MIN 2  /* plain steps of the first pause */
#define ADAPT_PAUSE_MAX 32
/* Fixed n_draft larger than this is clamped. A verify batch of up to 8 rows (G4K_MVN_MAX_TOK)
 * runs kernels that score each row bit for bit as a single-token step would; larger batches
 * take the prefill GEMM, whose different rounding could flip a near-tie and make drafted greedy
 * output differ from plain greedy output. (Gains beyond 7 drafts are small anyway.) */
#define DRAFT_MAX 7

static void generate_params_defaults(g4_generate_params *p)
{
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    p->max_tokens = 256;
    p->n_draft = -1;
    p->stop_at_eog = 1;
}

G4_DEFINE_STRUCT_INIT(g4_generate_params, GEN_PARAMS_V1_SIZE, generate_params_defaults)

/* ---- generation ---------------------------------------------------------------------------- */

typedef struct gen {
    g4_session *s;
    const g4_generate_params *p;
    g4_sampler *smp;        /* NULL: greedy */
    const g4_proposer *prop;/* NULL: the drafter */
    g4_generate_stats st;
    int stop;               /* a stop condition was met */
    int32_t *batch;         /* [DRAFT_MAX + 1] */
    uint8_t *want;
    g4_grammar *grammar;    /* 1.1: NULL, or the constraint on every chosen token */
    float *masked;          /* [n_vocab] logits with the grammar's mask (grammar only) */
} gen;

/* Greedy without a grammar needs only each row's argmax: its steps leave the logits before the
 * softcap (G4_STEP_RAW_LOGITS) and g4_greedy_token picks exactly what the capped row would. */
static int raw_greedy(const gen *g) { return !g->smp && !g->grammar; }

/* logits: a row of the last step; raw: it is before the final softcap (one of our own steps). */
static g4_status choose(gen *g, const float *logits, int raw, int32_t *tok)
{
    const int32_t V = g->s->m->hp.n_vocab;
    if (raw_greedy(g)) {
        *tok = g4_greedy_token(logits, V, raw ? g->s->m->hp.softcap : 0.0f);
        return G4_OK;
    }
    if (g->grammar) {
        memcpy(g->masked, logits, sizeof(float) * (size_t)V);
        g4_status st = g4_grammar_apply(g->grammar, g->masked, V);
        if (st)
            return st;
        logits = g->masked;
        st = !g->smp ? (*tok = g4_greedy_token(logits, V, 0.0f), G4_OK) : g4_sampler_sample(g->smp, logits, V, tok);
        if (!st && g->smp)
            st = g4_sampler_accept(g->smp, *tok);
        return st ? st : g4_grammar_accept(g->grammar, *tok);
    }
    g4_status st = g4_sampler_sample(g->smp, logits, V, tok);
    return st ? st : g4_sampler_accept(g->smp, *tok);
}

/* Hand one token to the host; sets g->stop when generation must end after it. */
static void emit(gen *g, int32_t tok)
{
    g->st.n_generated++;
    if (g->p->on_token && g->p->on_token(g->p->user_data, tok) == 0)
        g->stop = 1;
    if (g->p->stop_at_eog && g4_model_is_eog(g->s->m, tok))
        g->stop = 1;
    if (g->st.n_generated >= g->p->max_tokens)
        g->stop = 1;
}

static int cancelled(const g4_session *s) { return atomic_load(&s->cancel) != 0; }

static g4_status step_rows(gen *g, const int32_t *tokens, int32_t n)
{
    g4_batch b = {.struct_size = sizeof b}; /* internal: the library's own layout */
    b.n_tokens = n;
    b.tokens = tokens;
    for (int32_t i = 0; i < n; i++)
        g->want[i] = G4_OUT_LOGITS | G4_OUT_HIDDEN;
    b.want = g->want;
    g->st.n_target_steps++;
    return g4_session_step(g->s, &b, raw_greedy(g) ? G4_STEP_RAW_LOGITS : 0u);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Round size for the next speculative round, or 0 for a plain step. */
static int32_t next_k(const gen *g, int32_t k_adapt)
{
    int32_t k = g->p->n_draft < 0 ? k_adapt : (g->p->n_draft > DRAFT_MAX ? DRAFT_MAX : g->p->n_draft);
    int32_t budget = g->p->max_tokens - g->st.n_generated - 1; /* a round emits up to k + 1 */
    int32_t room = g->s->n_ctx - g->s->n_past - 1;               /* x and k drafts must fit */
    k = k < budget ? k : budget;
    k = k < room ? k : room;
    return k > 0 ? k : 0;
}

static g4_status run(gen *g)
{
    g4_session *s = g->s;
    const int32_t V = s->m->hp.n_vocab;
    const float *lg = s->out_n > 0 ? g4_session_logits(s, s->out_n - 1) : NULL;
    if (!lg)
        return g4_fail(G4_ERR_STATE, "g4_generate: the last g4_step must request logits for its last position");
    const int drafting = (g->prop || s->m->draft) && g->p->n_draft != 0 && !g->grammar;
    const int adaptive = g->p->n_draft < 0;
    g4_draft_state *ds = &s->draft; /* its costs persist across calls (draft_state.h) */
    int32_t x, probe = 0, explore = 0;
    /* adaptive k: plain steps left, the next pause's length (each call starts from the shortest:
     * a new request may suit the drafter better than the last one did) */
    int32_t pause = 0, pause_len = ADAPT_PAUSE_MIN;
    if (drafting && adaptive)
        probe = g4_draft_costs_resume(ds);
    g4_status st = choose(g, lg, 0, &x);
    if (st)
        return st;
    emit(g, x);
    while (!g->stop) {
        if (cancelled(s))
            return g4_fail(G4_ERR_CANCELLED, "g4_generate cancelled after %d tokens", g->st.n_generated);
        int32_t k = 0;
        if (drafting && pause > 0) {
            pause--;
            probe = pause == 0; /* the round after a pause probes with one draft */
        } else if (drafting && !adaptive) {
            k = next_k(g, 0);
        } else if (drafting) {
            k = probe ? 1 : g4_draft_costs_choose(ds, ADAPT_MAX, ADAPT_START);
            /* every ADAPT_EXPLORE-th drafting round one draft more than the best: v(k + 2) is
             * only measured when that size runs, so one slow early step would otherwise keep
             * the choice below it for good (seen: k = 1 at a = 0.7 on 2 threads, 1.50x plain
             * against k = 3's 1.77x) */
            if (!probe && k > 0 && k < ADAPT_MAX && ++explore % ADAPT_EXPLORE == 0)
                k++;
            if (k == 0 && g4_draft_costs_known(ds)) { /* drafting does not pay now: pause, then probe */
                pause = pause_len - 1;
                probe = pause == 0;
                pause_len = pause_len < ADAPT_PAUSE_MAX ? 2 * pause_len : ADAPT_PAUSE_MAX;
            }
            k = k > 0 ? next_k(g, k) : 0;
            if (k > 0)
                probe = 0;
        }
        const int32_t n_past0 = s->n_past;
        int32_t nd = 0;
        g->batch[0] = x;
        double t0 = adaptive && k > 0 ? now_s() : 0.0;
        if (k > 0) {
            st = g->prop ? g->prop->propose(g->prop->ctx, s, x, k, g->batch + 1, &nd)
                         : g4_draft_round(s, x, k, g->batch + 1, &nd);
            if (st)
                return st;
            nd = nd < k ? (nd > 0 ? nd : 0) : k;
            if (adaptive && nd > 0)
                g4_draft_costs_draft(ds, (now_s() - t0) / nd);
        }
        g->st.n_drafted += nd;
        if (adaptive && drafting)
            t0 = now_s();
        if ((st = step_rows(g, g->batch, nd + 1)))
            return st; /* (cancelled: the step rolled itself back) */
        if (adaptive && drafting)
            g4_draft_costs_step(ds, nd + 1, now_s() - t0);
        /* rows 0..nd: y_i = target's choice after batch[i]; keep while it equals d_{i+1} */
        int32_t i = 0;
        for (;; i++) {
            int32_t y;
            if ((st = choose(g, s->logits + (size_t)s->out_logit_row[i] * V, 1, &y)))
                return st;
            emit(g, y);
            x = y;
            const int accepted = i < nd && y == g->batch[i + 1];
            g->st.n_accepted += accepted;
            if (!accepted || g->stop)
                break;
        }
        /* rows 0..i stay (x and the accepted drafts); the hidden of row i is the next h */
        if (i < nd && (st = g4_session_do_truncate(s, n_past0 + i + 1)))
            return st;
        g4_draft_state_anchor(&s->draft, s->n_past - 1); /* row i: the last accepted (also when all were) */
        if (adaptive && nd > 0) {
            g4_draft_costs_round(ds, nd, i, ADAPT_DECAY);
            if (i > 0)
                pause_len = ADAPT_PAUSE_MIN;
            int32_t level = g4_draft_costs_pause_level(ds);
            if (level >= 0)
                for (pause = ADAPT_PAUSE_MIN; pause < ADAPT_PAUSE_MAX && level > 0; level--)
                    pause *= 2;
        }
    }
    return G4_OK;
}

G4_API g4_status G4_CALL g4_generate(g4_session *s, const g4_generate_params *p, g4_generate_stats *stats)
{
    return g4_generate_with(s, p, stats, NULL);
}

g4_status g4_generate_with(g4_session *s, const g4_generate_params *p, g4_generate_stats *stats,
                           const g4_proposer *prop)
{
    g4_clear_error();
    if (!g4_session_live(s))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_generate: session is NULL or not a live handle");
    g4_generate_params in;
    generate_params_defaults(&in);
    g4_status st = g4_struct_in(&in, sizeof in, p, GEN_PARAMS_V1_SIZE, "g4_generate_params");
    if (st)
        return st;
    p = &in;
    if (stats && (st = g4_check_out_struct(stats, GEN_STATS_V1_SIZE, "g4_generate_stats")))
        return st;
    if (p->max_tokens < 0 || p->n_draft < -1)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_generate: max_tokens (%d) must be >= 0, n_draft (%d) >= -1",
                       p->max_tokens, p->n_draft);
    const double t0 = now_s();
    gen g = {.s = s, .p = p, .prop = prop};
    if (p->struct_size >= offsetof(g4_generate_params, grammar) + sizeof p->grammar)
        g.grammar = p->grammar;
    g.st.struct_size = sizeof g.st;
    atomic_store(&s->cancel, 0);
    if (p->max_tokens > 0) {
        g.batch = malloc(sizeof(int32_t) * (DRAFT_MAX + 1));
        g.want = malloc(DRAFT_MAX + 1);
        if (g.grammar && !(g.masked = malloc(sizeof(float) * (size_t)s->m->hp.n_vocab)))
            st = g4_fail(G4_ERR_OUT_OF_MEMORY, "g4_generate: out of memory");
        if (!g.batch || !g.want)
            st = g4_fail(G4_ERR_OUT_OF_MEMORY, "g4_generate: out of memory");
        if (!st && p->sampling)
            st = g4_sampler_new(p->sampling, &g.smp);
        if (!st)
            st = run(&g);
        g4_sampler_free(g.smp);
        free(g.masked);
        free(g.batch);
        free(g.want);
        if (g.st.n_target_steps > 0) {
            /* the outputs belong to internal steps: invalidate them (keeps the hidden rows) */
            g4_session_invalidate_outputs(s);
        }
    }
    g.st.seconds = now_s() - t0;
    if (stats)
        g4_struct_out(stats, &g.st, sizeof g.st);
    return st;
}
