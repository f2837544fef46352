/* The drafting state's writers (draft_state.h). */
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

void g4_draft_costs_round(g4_draft_state *d, int32_t nd, int32_t kept, double decay)
{
    d->costs.acc = decay * d->costs.acc + kept;
    d->costs.tested = decay * d->costs.tested + (kept < nd ? kept + 1 : nd);
}

static double acceptance(const g4_draft_costs *c) { return (c->acc + 0.5) / (c->tested + 1.0); }

int32_t g4_draft_costs_give_up(const g4_draft_state *d)
{
    const double miss = 1.0 - acceptance(&d->costs);
    int32_t m = 2;
    if (miss > 0.5) /* a poor record: misses are no news, and each wasted round costs */
        return m;
    for (double p = miss * miss; p >= 0.02 && m < 4; p *= miss)
        m++;
    return m;
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
