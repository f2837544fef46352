/* Sampler behaviour: greedy = argmax, seeds reproduce, top-k/top-p/min-p restrict the support,
 * the repetition penalty moves probability away from recent tokens, bad arguments are errors. */
#include <math.h>

#include "g4plug.h"
#include "t.h"

#define V 1000

static g4_sampler *mk(float temp, int top_k, float top_p, float min_p, float rep, uint64_t seed)
{
    g4_sampler_params p;
    g4_sampler *s = NULL;
    g4_sampler_params_init(&p);
    p.temperature = temp;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.repeat_penalty = rep;
    p.seed = seed;
    if (g4_sampler_new(&p, &s) != G4_OK)
        return NULL;
    return s;
}

int main(void)
{
    static float logits[V];
    unsigned x = 12345;
    for (int i = 0; i < V; i++) {
        x = x * 1103515245u + 12345u;
        logits[i] = (float)((x >> 8) % 10000) / 1000.0f; /* 0..10 */
    }
    logits[417] = 20.0f;
    int32_t tok = -1;

    /* Greedy. */
    g4_sampler *g = mk(0.0f, 0, 1.0f, 0.0f, 1.0f, 0);
    CHECK(g && g4_sampler_sample(g, logits, V, &tok) == G4_OK && tok == 417, "greedy gave %d", tok);

    /* Same seed => same sequence; different seed => (almost surely) different. */
    g4_sampler *a = mk(5.0f, 0, 1.0f, 0.0f, 1.0f, 7), *b = mk(5.0f, 0, 1.0f, 0.0f, 1.0f, 7),
               *c = mk(5.0f, 0, 1.0f, 0.0f, 1.0f, 8);
    int same = 1, diff = 0;
    for (int i = 0; i < 50; i++) {
        int32_t ta, tb, tc;
        g4_sampler_sample(a, logits, V, &ta);
        g4_sampler_sample(b, logits, V, &tb);
        g4_sampler_sample(c, logits, V, &tc);
        same &= ta == tb;
        diff |= ta != tc;
    }
    CHECK(same, "same seed differs");
    CHECK(diff, "different seeds gave identical 50-token sequences");
    g4_sampler_reset(a);
    g4_sampler_reset(b);

    /* top_k = 1 is greedy even at high temperature. */
    g4_sampler *k1 = mk(100.0f, 1, 1.0f, 0.0f, 1.0f, 3);
    int all417 = 1;
    for (int i = 0; i < 20; i++) {
        g4_sampler_sample(k1, logits, V, &tok);
        all417 &= tok == 417;
    }
    CHECK(all417, "top_k=1 picked %d", tok);

    /* top_k = 5: only the five largest ever appear. */
    float th = 0;
    {
        float top[5] = {-1, -1, -1, -1, -1};
        for (int i = 0; i < V; i++) {
            float v = logits[i];
            for (int j = 0; j < 5; j++)
                if (v > top[j]) {
                    float t2 = top[j];
                    top[j] = v;
                    v = t2;
                }
        }
        th = top[4];
    }
    g4_sampler *k5 = mk(50.0f, 5, 1.0f, 0.0f, 1.0f, 9);
    int ok = 1;
    for (int i = 0; i < 200; i++) {
        g4_sampler_sample(k5, logits, V, &tok);
        ok &= logits[tok] >= th;
    }
    CHECK(ok, "top_k=5 sampled outside the top 5");

    /* top_p small with a dominant token: always the dominant one. */
    g4_sampler *tp = mk(1.0f, 0, 0.5f, 0.0f, 1.0f, 4);
    ok = 1;
    for (int i = 0; i < 50; i++) {
        g4_sampler_sample(tp, logits, V, &tok);
        ok &= tok == 417;
    }
    CHECK(ok, "top_p=0.5 left the dominant token");

    /* min_p: with min_p 0.5 only tokens with p >= 0.5 p_max survive. */
    static float two[V];
    for (int i = 0; i < V; i++)
        two[i] = -10.0f;
    two[3] = 5.0f;
    two[9] = 5.0f - logf(1.5f); /* p ratio 2/3: survives 0.5 */
    two[11] = 5.0f - logf(4.0f); /* ratio 1/4: cut */
    g4_sampler *mp = mk(1.0f, 0, 1.0f, 0.5f, 1.0f, 5);
    int seen3 = 0, seen9 = 0, other = 0;
    for (int i = 0; i < 400; i++) {
        g4_sampler_sample(mp, two, V, &tok);
        seen3 += tok == 3;
        seen9 += tok == 9;
        other += tok != 3 && tok != 9;
    }
    CHECK(seen3 > 0 && seen9 > 0 && other == 0, "min_p: %d %d %d", seen3, seen9, other);

    /* Repetition penalty flips a greedy choice away from a recently used token. */
    static float near[V];
    for (int i = 0; i < V; i++)
        near[i] = 0.0f;
    near[10] = 2.0f;
    near[20] = 1.9f;
    g4_sampler *rp = mk(0.0f, 0, 1.0f, 0.0f, 1.5f, 0);
    g4_sampler_sample(rp, near, V, &tok);
    CHECK(tok == 10, "before penalty %d", tok);
    g4_sampler_accept(rp, 10);
    g4_sampler_sample(rp, near, V, &tok);
    CHECK(tok == 20, "after penalty %d", tok);
    CHECK(near[10] == 2.0f, "sampler modified the caller's logits");

    /* Bad arguments. */
    CHECK(g4_sampler_sample(NULL, logits, V, &tok) == G4_ERR_INVALID_ARGUMENT, "NULL sampler");
    CHECK(g4_sampler_sample(g, NULL, V, &tok) == G4_ERR_INVALID_ARGUMENT, "NULL logits");
    CHECK(g4_sampler_sample(g, logits, 0, &tok) == G4_ERR_INVALID_ARGUMENT, "n_vocab 0");
    CHECK(g4_last_error()[0] != '\0', "no error message");
    {
        g4_sampler_params p;
        g4_sampler *s = NULL;
        g4_sampler_params_init(&p);
        p.struct_size = 4;
        CHECK(g4_sampler_new(&p, &s) == G4_ERR_INVALID_ARGUMENT && s == NULL, "small struct_size");
        g4_sampler_params_init(&p);
        p.repeat_penalty = 0.0f;
        CHECK(g4_sampler_new(&p, &s) == G4_ERR_INVALID_ARGUMENT, "repeat_penalty 0");
    }
    g4_sampler_free(NULL);
    g4_sampler_free(g), g4_sampler_free(a), g4_sampler_free(b), g4_sampler_free(c);
    g4_sampler_free(k1), g4_sampler_free(k5), g4_sampler_free(tp), g4_sampler_free(mp), g4_sampler_free(rp);
    return T_DONE("test_sampler");
}
