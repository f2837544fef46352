/* Concurrent media embeds on one shared model (issue #19, item 1). The ABI lets any number of
 * threads share a g4_model; the embedders all run on the model's one thread pool, and a caller
 * that finds it busy runs its work inline on its own thread. N threads x M embeds (images and
 * audio, raw and encoded files, in a different order per thread) must be bit-identical to the
 * same embeds run one after another, for both projector kinds:
 *   - the 12B Unified encoder-free projector (fixture mmproj-tiny-gemma4-unified-f32.gguf),
 *   - the E-series gemma4v tower + gemma4a conformer (synthesized by tests/mm_synth.h at the
 *     width of the tiny-gemma4-e fixture).
 * The models load with n_threads = 2 so the pool is shared and work is actually split.
 * Also built and run under ThreadSanitizer by scripts/tsan.sh. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "g4plug.h"
#include "kernels.h"
#include "mm_synth.h"
#include "t.h"

#define N_THREADS 4
#define N_IMAGES 4
#define N_AUDIO 4
#define N_EMBEDS (N_IMAGES + N_AUDIO + 2) /* + the fixtures image_fit.png and audio.wav */
#define ROUNDS 1

typedef struct embed_case {
    int kind;              /* 0 raw image, 1 raw audio, 2 image file, 3 audio file */
    int w, h;
    uint8_t *rgb;
    float *pcm;
    size_t ns;
    unsigned char *file;
    size_t file_len;
    float *want;           /* sequential result */
    size_t want_n;         /* floats */
} embed_case;

typedef struct suite {
    const char *name;
    g4_model *m;
    int n_embd;
    embed_case c[N_EMBEDS];
    atomic_int mismatches, errors;
} suite;

static g4_status run_case(const suite *s, const embed_case *e, float *out, size_t cap, size_t *n)
{
    switch (e->kind) {
    case 0:
        return g4_embed_image(s->m, e->rgb, e->w, e->h, 3 * (size_t)e->w, NULL, out, cap, n);
    case 1:
        return g4_embed_audio(s->m, e->pcm, e->ns, 16000, out, cap, n);
    case 2:
        return g4_embed_image_file(s->m, e->file, e->file_len, NULL, out, cap, n);
    default:
        return g4_embed_audio_file(s->m, e->file, e->file_len, out, cap, n);
    }
}

/* Sizing call, then the embed; returns the floats in a new buffer (NULL on error). */
static float *embed_alloc(const suite *s, const embed_case *e, size_t *n_floats)
{
    size_t nt = 0;
    if (run_case(s, e, NULL, 0, &nt) != G4_OK || nt == 0)
        return NULL;
    size_t cap = nt * (size_t)s->n_embd;
    float *out = malloc(sizeof(float) * cap);
    if (out && run_case(s, e, out, cap, &nt) != G4_OK) {
        free(out);
        return NULL;
    }
    *n_floats = cap;
    return out;
}

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static void make_cases(suite *s)
{
    uint64_t seed = 77;
    static const int sizes[N_IMAGES][2] = {{64, 48}, {97, 61}, {128, 128}, {40, 160}};
    static const size_t lens[N_AUDIO] = {16000, 8123, 24000, 3200};
    int k = 0;
    for (int i = 0; i < N_IMAGES; i++, k++) {
        embed_case *e = &s->c[k];
        e->kind = 0;
        e->w = sizes[i][0], e->h = sizes[i][1];
        e->rgb = malloc(3 * (size_t)e->w * e->h);
        for (size_t j = 0; j < 3 * (size_t)e->w * e->h; j++)
            e->rgb[j] = (uint8_t)lcg(&seed);
    }
    for (int i = 0; i < N_AUDIO; i++, k++) {
        embed_case *e = &s->c[k];
        e->kind = 1;
        e->ns = lens[i];
        e->pcm = malloc(sizeof(float) * e->ns);
        for (size_t j = 0; j < e->ns; j++)
            e->pcm[j] = (float)((double)lcg(&seed) / 2147483648.0 - 1.0) * 0.5f;
    }
    char path[1024];
    embed_case *fi = &s->c[k++];
    fi->kind = 2;
    snprintf(path, sizeof path, "%s/gemma4/image_fit.png", t_fixtures());
    fi->file = (unsigned char *)t_read_file(path, &fi->file_len);
    embed_case *fa = &s->c[k++];
    fa->kind = 3;
    snprintf(path, sizeof path, "%s/gemma4/audio.wav", t_fixtures());
    fa->file = (unsigned char *)t_read_file(path, &fa->file_len);
}

static void free_cases(suite *s)
{
    for (int k = 0; k < N_EMBEDS; k++) {
        free(s->c[k].rgb);
        free(s->c[k].pcm);
        free(s->c[k].file);
        free(s->c[k].want);
    }
}

typedef struct th_arg {
    suite *s;
    int th;
} th_arg;

static void *worker(void *arg)
{
    const th_arg *a = arg;
    suite *s = a->s;
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < N_EMBEDS; i++) {
            /* each thread walks the cases from its own offset, so different work overlaps */
            const embed_case *e = &s->c[(i + a->th * 3 + r) % N_EMBEDS];
            if (!e->want)
                continue;
            size_t n = 0;
            float *got = embed_alloc(s, e, &n);
            if (!got)
                atomic_fetch_add(&s->errors, 1);
            else if (n != e->want_n || memcmp(got, e->want, sizeof(float) * n) != 0)
                atomic_fetch_add(&s->mismatches, 1);
            free(got);
        }
    return NULL;
}

static void run_suite(suite *s)
{
    make_cases(s);
    int have = 0;
    for (int k = 0; k < N_EMBEDS; k++) {
        embed_case *e = &s->c[k];
        if (e->kind >= 2) {
            CHECK(e->file != NULL, "%s: fixture for case %d missing", s->name, k);
            if (!e->file)
                continue;
        }
        e->want = embed_alloc(s, e, &e->want_n);
        if (!e->want && e->kind == 2 && strstr(g4_last_error(), "no PNG support"))
            continue; /* a build without libpng: the raw images still run */
        CHECK(e->want != NULL, "%s: sequential embed %d (kind %d): %s", s->name, k, e->kind, g4_last_error());
        have += e->want != NULL;
    }
    /* The same model, run again one by one, reproduces itself (so a mismatch below can only
     * come from the overlap). */
    size_t n = 0;
    float *again = embed_alloc(s, &s->c[0], &n);
    CHECK(again && n == s->c[0].want_n && !memcmp(again, s->c[0].want, sizeof(float) * n),
          "%s: sequential embed is deterministic", s->name);
    free(again);

    pthread_t t[N_THREADS];
    th_arg a[N_THREADS];
    int started = 0;
    for (int i = 0; i < N_THREADS; i++) {
        a[i] = (th_arg){s, i};
        if (pthread_create(&t[i], NULL, worker, &a[i]) == 0)
            started++;
        else
            break;
    }
    CHECK(started == N_THREADS, "%s: started %d threads", s->name, started);
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    CHECK(atomic_load(&s->errors) == 0, "%s: %d concurrent embeds failed", s->name, atomic_load(&s->errors));
    CHECK(atomic_load(&s->mismatches) == 0,
          "%s: %d of %d concurrent embeds differ from the sequential results", s->name,
          atomic_load(&s->mismatches), started * ROUNDS * have);
    printf("%s: %d threads x %d embeds, %d mismatches\n", s->name, started, ROUNDS * have,
           atomic_load(&s->mismatches));
    free_cases(s);
}

static g4_status load(const char *model, const char *mmproj, g4_model **m)
{
    g4_load_params p;
    g4_load_params_init(&p);
    p.model = model;
    p.mmproj = mmproj;
    p.n_threads = 2;
    return g4_load(&p, m);
}

int main(void)
{
    char model[1024], mmproj[1024], err[256] = "";
    const char *fx = t_fixtures();
    CHECK(g4k_init(err, sizeof err) == 0, "g4k_init: %s", err);

    /* 12B Unified: encoder-free projector */
    snprintf(model, sizeof model, "%s/gemma4/tiny-gemma4-unified-bf16.gguf", fx);
    snprintf(mmproj, sizeof mmproj, "%s/gemma4/mmproj-tiny-gemma4-unified-f32.gguf", fx);
    suite u = {.name = "unified"};
    g4_status st = load(model, mmproj, &u.m);
    CHECK(st == G4_OK, "load unified + mmproj: %s", g4_last_error());
    if (st == G4_OK) {
        g4_model_info info = {.struct_size = sizeof info};
        CHECK(g4_model_get_info(u.m, &info) == G4_OK, "info: %s", g4_last_error());
        u.n_embd = info.n_embd;
        run_suite(&u);
        g4_model_free(u.m);
    }

    /* E series: gemma4v tower + gemma4a conformer at the E fixture's width */
    snprintf(model, sizeof model, "%s/gemma4/tiny-gemma4-e-bf16.gguf", fx);
    g4_model *plain = NULL;
    st = load(model, NULL, &plain);
    CHECK(st == G4_OK, "load tiny-gemma4-e: %s", g4_last_error());
    if (st == G4_OK) {
        g4_model_info info = {.struct_size = sizeof info};
        CHECK(g4_model_get_info(plain, &info) == G4_OK, "info: %s", g4_last_error());
        g4_model_free(plain);
        mm_synth_cfg c = {.n_embd = info.n_embd,
                          .v_on = 1, .v_d = 32, .v_layers = 2, .v_heads = 2, .v_ff = 64, .v_npos = 10240,
                          .v_clamp = 1,
                          .a_on = 1, .a_d = 32, .a_layers = 2, .a_heads = 2, .a_ff = 64, .a_c0 = 8,
                          .a_c1 = 4, .a_nout = 48, .a_clamp = 1,
                          .clamp_in = 2.5f, .clamp_out = 4.0f, .wtype = G4_TYPE_F32, .seed = 7};
        char tmp[512];
        const char *td = getenv("TMPDIR");
        snprintf(tmp, sizeof tmp, "%s/g4_mm_concurrent_%ld.gguf", td && *td ? td : "/tmp", (long)getpid());
        CHECK(mm_synth_write(&c, tmp) == 0, "synthesize tower projector");
        suite e = {.name = "towers", .n_embd = info.n_embd};
        st = load(model, tmp, &e.m);
        CHECK(st == G4_OK, "load tiny-gemma4-e + towers: %s", g4_last_error());
        if (st == G4_OK) {
            run_suite(&e);
            g4_model_free(e.m);
        }
        remove(tmp);
    }
    return T_DONE("test_mm_concurrent");
}
