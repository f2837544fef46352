/* Token sampling: greedy, or repetition penalty -> top-k -> temperature softmax -> top-p ->
 * min-p -> draw, with a seeded xoshiro256** generator so a seed reproduces a sequence. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "kernels.h"

typedef struct cand {
    float logit;
    int32_t id;
} cand;

struct g4_sampler {
    g4_sampler_params p;
    uint64_t rng[4];
    int32_t *hist;   /* ring of the last repeat_last_n accepted tokens */
    int32_t n_hist, hist_pos;
    cand *cands;     /* scratch, n_vocab */
    float *probs;
    int32_t cap;
};

#define SAMPLER_PARAMS_V1_SIZE G4_V1_0_SIZE(g4_sampler_params, seed)

static void sampler_params_defaults(g4_sampler_params *p)
{
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    /* Google's recommended Gemma sampling settings. */
    p->temperature = 1.0f;
    p->top_k = 64;
    p->top_p = 0.95f;
    p->min_p = 0.0f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->seed = 0;
}

G4_DEFINE_STRUCT_INIT(g4_sampler_params, SAMPLER_PARAMS_V1_SIZE, sampler_params_defaults)

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(uint64_t s[4])
{
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* Uniform in [0, 1) with 53 random bits. */
static double next_unit(uint64_t s[4]) { return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0); }

static void seed_rng(g4_sampler *smp)
{
    uint64_t x = smp->p.seed;
    for (int i = 0; i < 4; i++)
        smp->rng[i] = splitmix64(&x);
}

G4_API g4_status G4_CALL g4_sampler_new(const g4_sampler_params *p, g4_sampler **out)
{
    g4_sampler_params def;
    g4_sampler *smp;
    g4_status st;
    g4_clear_error();
    if (!out)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_sampler_new: out is NULL");
    *out = NULL;
    sampler_params_defaults(&def);
    if (p && (st = g4_struct_in(&def, sizeof def, p, SAMPLER_PARAMS_V1_SIZE, "g4_sampler_params")) != G4_OK)
        return st;
    if (!(def.temperature == def.temperature) || !(def.top_p == def.top_p) || !(def.min_p == def.min_p) ||
        !(def.repeat_penalty > 0.0f) || def.repeat_last_n < 0 || def.repeat_last_n > (1 << 20))
        return g4_fail(G4_ERR_INVALID_ARGUMENT,
                       "g4_sampler_new: invalid parameters (NaN, repeat_penalty <= 0, or "
                       "repeat_last_n outside [0, 2^20])");
    smp = calloc(1, sizeof *smp);
    if (!smp)
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "g4_sampler_new: out of memory");
    smp->p = def;
    if (def.repeat_last_n > 0 && !(smp->hist = malloc(sizeof(int32_t) * (size_t)def.repeat_last_n))) {
        free(smp);
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "g4_sampler_new: out of memory");
    }
    seed_rng(smp);
    *out = smp;
    return G4_OK;
}

G4_API void G4_CALL g4_sampler_free(g4_sampler *smp)
{
    if (!smp)
        return;
    free(smp->hist);
    free(smp->cands);
    free(smp->probs);
    free(smp);
}

G4_API g4_status G4_CALL g4_sampler_reset(g4_sampler *smp)
{
    g4_clear_error();
    if (!smp)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_sampler_reset: sampler is NULL");
    smp->n_hist = smp->hist_pos = 0;
    seed_rng(smp);
    return G4_OK;
}

G4_API g4_status G4_CALL g4_sampler_accept(g4_sampler *smp, int32_t token)
{
    g4_clear_error();
    if (!smp)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_sampler_accept: sampler is NULL");
    if (token < 0)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_sampler_accept: negative token %d", (int)token);
    if (smp->p.repeat_last_n <= 0)
        return G4_OK;
    smp->hist[smp->hist_pos] = token;
    smp->hist_pos = (smp->hist_pos + 1) % smp->p.repeat_last_n;
    if (smp->n_hist < smp->p.repeat_last_n)
        smp->n_hist++;
    return G4_OK;
}

/* Min-heap on logit for top-k selection in O(n log k). */
static void heap_down(cand *h, int32_t n, int32_t i)
{
    for (;;) {
        int32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l].logit < h[m].logit)
            m = l;
        if (r < n && h[r].logit < h[m].logit)
            m = r;
        if (m == i)
            return;
        cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static int cmp_desc(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->logit != y->logit)
        return x->logit < y->logit ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

G4_API g4_status G4_CALL g4_sampler_sample(g4_sampler *smp, const float *logits, int32_t n_vocab,
                                           int32_t *token)
{
    const g4_sampler_params *p;
    int32_t n, k;
    g4_clear_error();
    if (!smp || !logits || !token)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_sampler_sample: NULL %s",
                       !smp ? "sampler" : !logits ? "logits" : "token");
    if (n_vocab <= 0)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_sampler_sample: n_vocab %d", (int)n_vocab);
    p = &smp->p;
    if (smp->cap < n_vocab) {
        cand *c = realloc(smp->cands, sizeof(cand) * (size_t)n_vocab);
        if (c)
            smp->cands = c;
        float *pr = realloc(smp->probs, sizeof(float) * (size_t)n_vocab);
        if (pr)
            smp->probs = pr;
        if (!c || !pr)
            return g4_fail(G4_ERR_OUT_OF_MEMORY, "g4_sampler_sample: out of memory");
        smp->cap = n_vocab;
    }
    /* Penalised logits, only where the history touches them. */
    cand *c = smp->cands;
    n = n_vocab;
    int penalise = p->repeat_penalty != 1.0f && smp->n_hist > 0;
    if (p->temperature <= 0.0f && !penalise) {
        *token = (int32_t)g4k_argmax(logits, n_vocab); /* ties: the lowest id */
        return G4_OK;
    }
    for (int32_t i = 0; i < n; i++) {
        c[i].logit = logits[i];
        c[i].id = i;
    }
    if (penalise) {
        for (int32_t h = 0; h < smp->n_hist; h++) {
            int32_t t = smp->hist[h];
            if (t < 0 || t >= n_vocab)
                continue;
            /* Apply once per distinct token: mark by comparing with the original logit. */
            if (c[t].logit != logits[t])
                continue;
            c[t].logit = c[t].logit > 0 ? c[t].logit / p->repeat_penalty : c[t].logit * p->repeat_penalty;
        }
    }
    if (p->temperature <= 0.0f) {
        int32_t best = 0;
        for (int32_t i = 1; i < n; i++)
            if (c[i].logit > c[best].logit)
                best = i;
        *token = best;
        return G4_OK;
    }
    /* Top-k: keep the k largest (heap), then sort them descending. */
    k = p->top_k > 0 && p->top_k < n ? p->top_k : n;
    if (k < n) {
        for (int32_t i = k / 2 - 1; i >= 0; i--)
            heap_down(c, k, i);
        for (int32_t i = k; i < n; i++)
            if (c[i].logit > c[0].logit) {
                c[0] = c[i];
                heap_down(c, k, 0);
            }
    }
    qsort(c, (size_t)k, sizeof(cand), cmp_desc);
    /* Softmax with temperature over the survivors. */
    float *pr = smp->probs;
    double sum = 0.0;
    for (int32_t i = 0; i < k; i++) {
        pr[i] = expf((c[i].logit - c[0].logit) / p->temperature);
        sum += pr[i];
    }
    /* Top-p: smallest prefix whose mass reaches top_p. */
    int32_t keep = k;
    if (p->top_p < 1.0f) {
        double acc = 0.0;
        for (int32_t i = 0; i < k; i++) {
            acc += pr[i] / sum;
            if (acc >= p->top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    /* Min-p: drop tokens below min_p times the top probability. */
    if (p->min_p > 0.0f) {
        float floor_p = pr[0] * p->min_p;
        int32_t j = 1;
        while (j < keep && pr[j] >= floor_p)
            j++;
        keep = j;
    }
    double mass = 0.0;
    for (int32_t i = 0; i < keep; i++)
        mass += pr[i];
    double u = next_unit(smp->rng) * mass, acc = 0.0;
    *token = c[keep - 1].id;
    for (int32_t i = 0; i < keep; i++) {
        acc += pr[i];
        if (u < acc) {
            *token = c[i].id;
            break;
        }
    }
    return G4_OK;
}
