/* ThreadSanitizer workload (built and run only by scripts/tsan.sh, hence not named test_*):
 * 8 threads share one g4_model (tiny unified model, its projector and, when g4_draft works,
 * its drafter); each has its own session (half with a 2-thread pool) and mixes g4_step,
 * g4_draft, image/audio embedding, g4_tokenize and truncation for a bounded number of
 * iterations, while one more thread calls g4_session_cancel on random sessions. A step may
 * then fail with G4_ERR_CANCELLED; anything else is an error. TSan reports fail the run.
 * Prints "tsan_sessions: N passed, N failed". */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "g4plug.h"
#include "gguf/gguf.h"
#include "media/mmproj.h"
#include "t.h"

#define N_THREADS 8

static g4_model *g_model;
static const g4_mmproj *g_mm; /* set when g4_load does not attach the projector (internal path) */
static int g_nv, g_nd, g_iters = 40;
static g4_session *g_sessions[N_THREADS];
static atomic_int g_running;
static atomic_int g_fail, g_pass, g_cancelled, g_drafts;
static pthread_mutex_t g_log = PTHREAD_MUTEX_INITIALIZER;

static void failf(int th, const char *what, g4_status st)
{
    pthread_mutex_lock(&g_log);
    fprintf(stderr, "FAIL thread %d: %s -> %s: %s\n", th, what, g4_status_name(st), g4_last_error());
    pthread_mutex_unlock(&g_log);
    atomic_fetch_add(&g_fail, 1);
}
#define OK_OR(th, what, st) ((st) == G4_OK ? (void)atomic_fetch_add(&g_pass, 1) : failf(th, what, st))

static g4_status embed_image(const uint8_t *rgb, int w, int h, float *out, size_t cap, size_t *n)
{
    return g_mm ? g4_embed_image_mm(g_mm, NULL, rgb, w, h, 3 * (size_t)w, NULL, out, cap, n)
                : g4_embed_image(g_model, rgb, w, h, 3 * (size_t)w, NULL, out, cap, n);
}
static g4_status embed_audio(const float *pcm, size_t ns, float *out, size_t cap, size_t *n)
{
    return g_mm ? g4_embed_audio_mm(g_mm, NULL, pcm, ns, 16000, out, cap, n)
                : g4_embed_audio(g_model, pcm, ns, 16000, out, cap, n);
}

static void *worker(void *arg)
{
    const int th = (int)(intptr_t)arg;
    g4_session *s = g_sessions[th];
    unsigned seed = 1234u + (unsigned)th;
    int draft_ok = 1;
    const int32_t img_soft = g4_token_id(g_model, G4_TOKEN_IMAGE_SOFT);
    const int32_t aud_soft = g4_token_id(g_model, G4_TOKEN_AUDIO_SOFT);
    uint8_t rgb[3 * 64 * 48];
    float pcm[1600];
    for (size_t i = 0; i < sizeof rgb; i++)
        rgb[i] = (uint8_t)(i * (unsigned)(th + 3));
    for (int i = 0; i < 1600; i++)
        pcm[i] = (float)((i * (th + 1)) % 200) / 100.0f - 1.0f;
    float *img = NULL, *aud = NULL;
    size_t n_img = 0, n_aud = 0;
    for (int it = 0; it < g_iters; it++) {
        const int op = (int)(rand_r(&seed) % 6);
        g4_status st;
        if (op == 0) { /* tokenize, shared vocabulary */
            char text[96];
            snprintf(text, sizeof text, "<|turn>user\nthread %d iteration %d: héllo wörld<turn|>", th, it);
            int32_t ids[96];
            size_t n = 0;
            st = g4_tokenize(g_model, text, strlen(text), G4_TOKENIZE_PARSE_SPECIAL, ids, 96, &n);
            OK_OR(th, "g4_tokenize", st);
        } else if (op == 1) { /* image embedding, shared projector */
            size_t n = 0;
            st = embed_image(rgb, 64, 48, NULL, 0, &n);
            if (st == G4_OK) {
                free(img);
                img = malloc(n * (size_t)g_nd * sizeof *img);
                st = embed_image(rgb, 64, 48, img, n * (size_t)g_nd, &n_img);
            }
            OK_OR(th, "embed image", st);
        } else if (op == 2) { /* audio embedding */
            size_t n = 0;
            st = embed_audio(pcm, 1600, NULL, 0, &n);
            if (st == G4_OK) {
                free(aud);
                aud = malloc(n * (size_t)g_nd * sizeof *aud);
                st = embed_audio(pcm, 1600, aud, n * (size_t)g_nd, &n_aud);
            }
            OK_OR(th, "embed audio", st);
        } else { /* steps, with a media span when we have one */
            int32_t toks[160];
            int32_t n = 4 + (int32_t)(rand_r(&seed) % 24);
            g4_embd_span span = {1, 0, G4_SPAN_IMAGE, 0, NULL};
            if (op == 3 && img && n_img + 2 <= 160) {
                span = (g4_embd_span){1, (int32_t)n_img, G4_SPAN_IMAGE, 0, img};
                n = (int32_t)n_img + 2;
            } else if (op == 4 && aud && n_aud + 2 <= 160) {
                span = (g4_embd_span){1, (int32_t)n_aud, G4_SPAN_AUDIO, 0, aud};
                n = (int32_t)n_aud + 2;
            }
            for (int32_t i = 0; i < n; i++)
                toks[i] = 1000 + (int32_t)(rand_r(&seed) % 100000);
            for (int32_t i = 0; span.embd && i < span.n; i++)
                toks[span.first + i] = span.kind == G4_SPAN_IMAGE ? img_soft : aud_soft;
            if (g4_session_n_past(s) + n > g4_session_n_ctx(s))
                OK_OR(th, "g4_session_reset", g4_session_reset(s));
            g4_batch b;
            g4_batch_init(&b);
            b.tokens = toks;
            b.n_tokens = n;
            b.spans = span.embd ? &span : NULL;
            b.n_spans = span.embd ? 1 : 0;
            uint8_t want[160] = {0};
            want[n - 1] = G4_OUT_LOGITS | G4_OUT_HIDDEN; /* the drafter reads the hidden state */
            b.want = want;
            const int32_t past = g4_session_n_past(s);
            st = g4_step(s, &b);
            if (st == G4_ERR_CANCELLED) {
                atomic_fetch_add(&g_cancelled, 1);
                if (g4_session_n_past(s) != past)
                    failf(th, "cancelled step did not roll back", st);
                continue;
            }
            OK_OR(th, "g4_step", st);
            if (st != G4_OK)
                continue;
            const float *lg = g4_logits(s, n - 1);
            int32_t best = 0;
            for (int32_t v = 1; lg && v < g_nv; v++)
                best = lg[v] > lg[best] ? v : best;
            if (draft_ok) {
                int32_t out[4], nd = 0;
                st = g4_draft(s, best, 4, out, &nd);
                if (st == G4_ERR_UNSUPPORTED)
                    draft_ok = 0; /* no drafter in this build/branch: skip drafting */
                else if (st == G4_ERR_CANCELLED)
                    atomic_fetch_add(&g_cancelled, 1);
                else {
                    OK_OR(th, "g4_draft", st);
                    atomic_fetch_add(&g_drafts, 1);
                }
            }
            if (rand_r(&seed) % 3 == 0 && g4_session_n_past(s) > 2) {
                int32_t lo = g4_session_min_rollback(s), hi = g4_session_n_past(s);
                OK_OR(th, "g4_session_truncate", g4_session_truncate(s, lo + (hi - lo) / 2));
            }
        }
    }
    free(img);
    free(aud);
    return NULL;
}

/* Grammars made at once from one model: the first use builds the model's vocabulary trie
 * (lock-free one-time init), every thread then masks and advances its own grammar. */
static void *grammar_worker(void *arg)
{
    const int th = (int)(intptr_t)arg;
    static const char schema[] = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},"
                                 "\"required\":[\"a\"]}";
    g4_grammar *g = NULL;
    g4_status st = g4_grammar_new(g_model, G4_GRAMMAR_JSON_SCHEMA, schema, sizeof schema - 1, &g);
    if (st) {
        failf(th, "g4_grammar_new", st);
        return NULL;
    }
    float *lg = malloc(sizeof(float) * (size_t)g_nv);
    for (int k = 0; lg && k < 6; k++) {
        for (int32_t i = 0; i < g_nv; i++)
            lg[i] = (float)((i * (th + 7)) % 1000);
        if ((st = g4_grammar_apply(g, lg, g_nv))) {
            failf(th, "g4_grammar_apply", st);
            break;
        }
        int32_t best = 0;
        for (int32_t i = 1; i < g_nv; i++)
            if (lg[i] > lg[best])
                best = i;
        if ((st = g4_grammar_accept(g, best))) {
            failf(th, "g4_grammar_accept", st);
            break;
        }
        atomic_fetch_add(&g_pass, 1);
        if (g4_token_is_eog(g_model, best))
            break;
    }
    free(lg);
    g4_grammar_free(g);
    return NULL;
}

static void *canceller(void *arg)
{
    unsigned seed = 99;
    (void)arg;
    struct timespec ts = {0, 20000000}; /* 20 ms: most steps complete, some are cut */
    while (atomic_load(&g_running)) {
        nanosleep(&ts, NULL);
        g4_session_cancel(g_sessions[rand_r(&seed) % N_THREADS]);
    }
    return NULL;
}

int main(void)
{
    const char *fx = t_fixtures();
    const char *e = getenv("TSAN_ITERS");
    if (e && atoi(e) > 0)
        g_iters = atoi(e);
    char model[1024], mmproj[1024], draft[1024], err[256] = "";
    snprintf(model, sizeof model, "%s/gemma4/tiny-gemma4-unified-bf16.gguf", fx);
    snprintf(mmproj, sizeof mmproj, "%s/gemma4/mmproj-tiny-gemma4-unified-f32.gguf", fx);
    snprintf(draft, sizeof draft, "%s/gemma4/tiny-gemma4-unified-assistant-bf16.gguf", fx);
    g4_load_params p;
    g4_load_params_init(&p);
    p.model = model;
    p.mmproj = mmproj;
    p.draft = draft;
    p.n_threads = 2;
    g4_status st = g4_load(&p, &g_model);
    if (st != G4_OK) { /* a branch without drafter loading may refuse the draft path */
        p.draft = NULL;
        st = g4_load(&p, &g_model);
    }
    CHECK(st == G4_OK, "load: %s", g4_last_error());
    if (st != G4_OK)
        return T_DONE("tsan_sessions");
    g_nv = g4_vocab_size(g_model);
    g4_model_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    g4_model_get_info(g_model, &info);
    g_nd = info.n_embd;
    g4_gguf *mg = NULL;
    g4_mmproj *mp = NULL;
    uint8_t px[3 * 4] = {0};
    size_t n = 0;
    if (g4_embed_image(g_model, px, 2, 2, 6, NULL, NULL, 0, &n) == G4_ERR_UNSUPPORTED) {
        mg = g4_gguf_open(mmproj, 0, err, sizeof err);
        mp = mg ? g4_mmproj_load(mg, g_nd, err, sizeof err) : NULL;
        CHECK(mp != NULL, "mmproj: %s", err);
        g_mm = mp;
        printf("tsan_sessions: projector loaded beside the model (g4_load does not attach it)\n");
    }
    for (int i = 0; i < N_THREADS; i++) {
        g4_session_params sp;
        g4_session_params_init(&sp);
        sp.n_ctx = 512;
        sp.n_threads = i % 2 ? 2 : 1;
        st = g4_session_new(g_model, &sp, &g_sessions[i]);
        CHECK(st == G4_OK, "session %d: %s", i, g4_last_error());
        if (st != G4_OK)
            return T_DONE("tsan_sessions");
    }
    pthread_t th[N_THREADS], c;
    for (int i = 0; i < N_THREADS; i++)
        pthread_create(&th[i], NULL, grammar_worker, (void *)(intptr_t)i);
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&g_running, 1);
    pthread_create(&c, NULL, canceller, NULL);
    for (int i = 0; i < N_THREADS; i++)
        pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&g_running, 0);
    pthread_join(c, NULL);
    for (int i = 0; i < N_THREADS; i++)
        g4_session_free(g_sessions[i]);
    g4_mmproj_free(mp);
    g4_gguf_close(mg);
    g4_model_free(g_model);
    t_pass_ += atomic_load(&g_pass);
    t_fail_ += atomic_load(&g_fail);
    printf("tsan_sessions: %d threads x %d iterations, %d cancelled steps, %d drafts\n", N_THREADS, g_iters,
           atomic_load(&g_cancelled), atomic_load(&g_drafts));
    return T_DONE("tsan_sessions");
}
