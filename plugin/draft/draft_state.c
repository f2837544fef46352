/* The drafting state's writers (draft_state.h). */
#include <math.h>
#include <stdlib.h>

#include "draft/draft_state.h"

void g4_draft_state_reset(g4_draft_state *d)
{
    d->anchor = -1;
    d->kv_written_hi = 0;
}

void g4_draft_state_after_step(g4_draft_state *d, int32_t n_past0, int32_t n_past)
{
    d->anchor = n_past0;
    d->kv_written_hi = n_past;
}

void g4_draft_state_anchor(g4_draft_state *d, int32_t pos) { d->anchor = pos; }

void g4_draft_state_free(g4_draft_state *d)
{
    free(d->ws); /* one block (g4_draft_ws_get) */
    d->ws = NULL;
}

/* ---- adaptive k's cost model (the formulas are documented at the top of generate.c) ---------- */
static void running_mean(double *mean, double t) { *mean = *mean > 0.0 ? 0.75 * *mean + 0.25 * t : t; }

void g4_draft_costs_step(g4_draft_state *d, int32_t n_rows, double secs)
{
    if (n_rows >= 1 && n_rows <= G4_DRAFT_KMAX + 1 && secs > 0.0)
        running_mean(&d->costs.v[n_rows], secs);
}

void g4_draft_costs_draft(g4_draft_state *d, double secs)
{
    if (secs > 0.0)
        running_mean(&d->costs.d, secs);
}

static double acceptance(const g4_draft_costs *c) { return (c->acc + 0.5) / (c->tested + 1.0); }

/* A missed round's evidence that the drafter has stopped being right, against "it is as good as
 * its record a": the log-likelihood ratio -ln(1 - a). Capped at PAUSE_STEP, so a pause needs
 * two misses at least and each further one at most doubles it (the record lags a drafter that
 * has just stopped being right: it cannot be trusted to be that sure); a poor record (a < 0.2)
 * counts as the cap, since drafting then gains little and each wasted round costs. */
#define PAUSE_AT 3.912            /* ln 50: a run of misses the record gives less than a 2% chance */
#define PAUSE_STEP (0.5 * PAUSE_AT) /* evidence per further doubling of the pause */
#define POOR_RECORD 0.2
static double miss_evidence(const g4_draft_costs *c)
{
    const double a = acceptance(c);
    if (a < POOR_RECORD)
        return PAUSE_STEP;
    const double e = -log(1.0 - a);
    return e < PAUSE_STEP ? e : PAUSE_STEP;
}

void g4_draft_costs_round(g4_draft_state *d, int32_t nd, int32_t kept, double decay)
{
    g4_draft_costs *c = &d->costs;
    c->missed = kept > 0 ? 0.0 : c->missed + miss_evidence(c); /* weighed against the record before it */
    c->acc = decay * c->acc + kept;
    c->tested = decay * c->tested + (kept < nd ? kept + 1 : nd);
}

int32_t g4_draft_costs_pause_level(const g4_draft_state *d)
{
    const double e = d->costs.missed;
    if (e < PAUSE_AT - 1e-9)
        return -1;
    return (int32_t)((e - PAUSE_AT) / PAUSE_STEP + 1e-9);
}

int g4_draft_costs_resume(g4_draft_state *d)
{
    if (g4_draft_costs_pause_level(d) < 0)
        return 0;
    d->costs.missed = PAUSE_AT; /* a new request may suit the drafter better: its pauses start short */
    return 1;
}

int g4_draft_costs_known(const g4_draft_state *d) { return d->costs.v[1] > 0.0; }

/* v(n): measured, else the line through v(1) and the nearest measured n, else v(1)(1 + (n-1)/4);
 * never below v(1): where n rows cost about one row, the noise of the few plain steps a drafting
 * session times had v(2) measure below v(1) and drafting "pay" at an acceptance of 5%. */
static double step_cost(const g4_draft_costs *c, int32_t n)
{
    if (n == 1)
        return c->v[1];
    if (c->v[n] > 0.0)
        return c->v[n] > c->v[1] ? c->v[n] : c->v[1];
    int32_t m = 0;
    for (int32_t j = 2; j <= G4_DRAFT_KMAX + 1; j++)
        if (c->v[j] > 0.0 && (m == 0 || abs(j - n) < abs(m - n)))
            m = j;
    if (m == 0)
        return c->v[1] * (1.0 + 0.25 * (n - 1));
    const double slope = (c->v[m] - c->v[1]) / (m - 1);
    return c->v[1] + (slope > 0.0 ? slope : 0.0) * (n - 1);
}

int32_t g4_draft_costs_choose(const g4_draft_state *d, int32_t kmax, int32_t kstart)
{
    const g4_draft_costs *c = &d->costs;
    if (c->v[1] <= 0.0)
        return 0; /* nothing measured yet: a plain step first */
    kmax = kmax < G4_DRAFT_KMAX ? kmax : G4_DRAFT_KMAX;
    const double a = acceptance(c), dc = c->d > 0.0 ? c->d : 0.1 * c->v[1];
    int measured = 0;
    for (int32_t j = 2; j <= G4_DRAFT_KMAX + 1; j++)
        measured |= c->v[j] > 0.0;
    if (!measured && kmax > kstart)
        kmax = kstart;
    int32_t best = 0;
    double best_rate = 1.0 / c->v[1], e = 1.0, ak = 1.0;
    for (int32_t k = 1; k <= kmax; k++) {
        ak *= a;
        e += ak; /* 1 + a + ... + a^k */
        const double rate = e / (k * dc + step_cost(c, k + 1));
        if (rate > best_rate)
            best = k, best_rate = rate;
    }
    return best;
}
