/* g4-conformance: checks libg4plug against the transformers reference outputs stored in
 * *.ref.gguf files (see ../shared/fixtures/README.md and conformance/README.md).
 *
 * The model is reached only through the dlopen'd ABI (hosts/common/g4_dl); the reference file
 * is read with the project's own GGUF reader compiled in. Every check prints one line
 *   PASS|FAIL|SKIP <case>.<check> worst=<err> (tol <tol>) [detail]
 * and the run ends with "N passed, N failed, N skipped". Exit 0 only when nothing failed;
 * 2 for usage errors and unreadable model/reference files. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "g4_dl.h"
#include "gguf/gguf.h"

/* ---- Tolerances ---------------------------------------------------------------------------
 * Fixed up front from what an f32 implementation must reach (llama.cpp matches these references
 * to <= 1.7e-4 abs on logits). Never widen one to make a case pass: fix the library instead. */
#define TOL_HIDDEN_REL 1e-3 /* per layer: max|ours - ref| / max|ref| over all positions */
#define TOL_EMBD_REL 1e-3   /* projected soft tokens, same measure */
/* Resized images get the same tolerance: the reference resized the uint8 image with torch's
 * antialiased bicubic integer kernel (fixed-point weights, uint8 rounding after each pass), and
 * plugin/media/image_resize.c reproduces that kernel, so no resampler allowance is needed. (A float or
 * PIL resampler would be off by one 8-bit step on some pixels: ~1e-2 relative here.) */
#define TOL_EMBD_RESIZE_REL TOL_EMBD_REL
#define TOL_LOGITS_ABS 1e-2 /* full logit rows */
/* MTP rounds after the first: proposals compared per round. Each proposal feeds the drafter's
 * own h back in, so fp32 summation-order differences compound along the chain; on the
 * random-weight fixture a 1e-4 relative perturbation of h flips round 3's 11th proposal (1e-5
 * does not: tests/test_draft.c). The first 8 of every round are well conditioned and must be
 * identical; the first round (what g4_draft must return after the prompt) is compared whole. */
#define TOL_DRAFT_CHAIN 8
#define TOL_TOP16_ABS 1e-2  /* our logits at the reference's top-16 ids */
#define TOL_LSE_ABS 1e-2    /* logsumexp per position */
#define TOP1_MARGIN 1e-3    /* top-1 must match where the reference's top-2 gap exceeds this */

/* Gemma 4 placeholder ids (README); used when the library cannot tell us (g4_token_id). */
#define ID_IMAGE_SOFT 258880
#define ID_AUDIO_SOFT 258881

#define MAX_CASES 64
#define DRAFT_K 14

/* ---- Reporting ----------------------------------------------------------------------------- */

static int g_pass, g_fail, g_skip, g_json;

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* status: "PASS", "FAIL" or "SKIP". worst/tol < 0 print as "-" (not measured). */
static void report(const char *status, const char *cas, const char *check, double worst,
                   double tol, const char *fmt, ...)
{
    char detail[1024] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof detail, fmt, ap);
        va_end(ap);
    }
    if (status[0] == 'P')
        g_pass++;
    else if (status[0] == 'F')
        g_fail++;
    else
        g_skip++;
    if (g_json) {
        printf("{\"status\":\"%s\",\"case\":", status);
        json_str(stdout, cas);
        printf(",\"check\":");
        json_str(stdout, check);
        if (worst >= 0 || isinf(worst) || isnan(worst))
            printf(isfinite(worst) ? ",\"worst\":%.6g" : ",\"worst\":\"%g\"", worst);
        else
            printf(",\"worst\":null");
        if (tol >= 0)
            printf(",\"tol\":%g", tol);
        else
            printf(",\"tol\":null");
        printf(",\"detail\":");
        json_str(stdout, detail);
        printf("}\n");
    } else {
        char w[32], t[32];
        if (worst >= 0 || isnan(worst))
            snprintf(w, sizeof w, "%.3g", worst);
        else
            snprintf(w, sizeof w, "-");
        if (tol >= 0)
            snprintf(t, sizeof t, "%g", tol);
        else
            snprintf(t, sizeof t, "-");
        printf("%s %s.%s worst=%s (tol %s)%s%s\n", status, cas, check, w, t, detail[0] ? " " : "",
               detail);
    }
    fflush(stdout);
}

static void verdict(int ok, const char *cas, const char *check, double worst, double tol,
                    const char *fmt, ...)
{
    char detail[1024] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof detail, fmt, ap);
        va_end(ap);
    }
    report(ok ? "PASS" : "FAIL", cas, check, worst, tol, "%s", detail);
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "g4-conformance: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* ---- Small helpers --------------------------------------------------------------------------- */

/* |a - b| that treats any NaN/inf disagreement as infinitely wrong. */
static double absdiff(double a, double b)
{
    double d = fabs(a - b);
    return isnan(d) ? INFINITY : d;
}

static int32_t argmax(const float *x, int32_t n)
{
    int32_t best = -1;
    for (int32_t i = 0; i < n; i++)
        if (!isnan(x[i]) && (best < 0 || x[i] > x[best]))
            best = i;
    return best;
}

static double logsumexp(const float *x, int32_t n)
{
    double m = -INFINITY, s = 0;
    for (int32_t i = 0; i < n; i++)
        if (x[i] > m)
            m = x[i];
    if (!isfinite(m))
        return m;
    for (int32_t i = 0; i < n; i++)
        s += exp((double)x[i] - m);
    return m + log(s);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *size = len;
    return buf;
}

/* ---- Reference file access ------------------------------------------------------------------ */

typedef struct ref {
    g4_gguf *g;
    const char *path;
} ref;

/* An integer array KV (or a scalar integer, as a 1-element array). NULL if absent. */
static int32_t *ref_ids(const ref *r, const char *key, int64_t *n)
{
    const g4_gguf_kv *kv = g4_gguf_find_kv(r->g, key);
    if (!kv)
        return NULL;
    if (kv->type != G4_GGUF_ARRAY) {
        int64_t v;
        if (g4_gguf_get_i64(r->g, key, &v) != 0)
            return NULL;
        int32_t *out = xmalloc(sizeof *out);
        out[0] = (int32_t)v;
        *n = 1;
        return out;
    }
    int32_t *out = xmalloc(sizeof *out * (size_t)(kv->arr_len ? kv->arr_len : 1));
    for (uint64_t i = 0; i < kv->arr_len; i++) {
        int64_t v;
        if (g4_gguf_arr_i64(kv, i, &v) != 0) {
            free(out);
            return NULL;
        }
        out[i] = (int32_t)v;
    }
    *n = (int64_t)kv->arr_len;
    return out;
}

/* A tensor of the given type with exactly the given dims (GGUF order: innermost first);
 * ne entries < 0 are wildcards and receive the actual size. NULL with *why set otherwise. */
static const void *ref_tensor(const ref *r, const char *name, uint32_t type, int nd, int64_t *ne,
                              char *why, size_t n)
{
    const g4_gguf_tensor *t = g4_gguf_find_tensor(r->g, name);
    if (!t) {
        snprintf(why, n, "reference has no tensor %s", name);
        return NULL;
    }
    if (t->type != type) {
        snprintf(why, n, "tensor %s has type %u, expected %u", name, (unsigned)t->type,
                 (unsigned)type);
        return NULL;
    }
    for (int i = 0; i < G4_GGUF_MAX_DIMS; i++) {
        int64_t want = i < nd ? ne[i] : 1;
        if (want >= 0 && t->ne[i] != want) {
            snprintf(why, n, "tensor %s has shape (%lld,%lld,%lld), expected dim %d = %lld", name,
                     (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], i,
                     (long long)want);
            return NULL;
        }
        if (i < nd)
            ne[i] = t->ne[i];
    }
    return t->data;
}

/* ---- Run state --------------------------------------------------------------------------- */

typedef struct opts {
    const char *model, *mmproj, *draft, *ref, *media, *only_case, *lib;
    int threads;
} opts;

typedef struct run {
    const g4_api_v1 *api;
    g4_model *m;
    g4_model_info info;
    ref r;
    opts o;
    char media_dir[4096];
    const char *no_media_reason; /* why image/audio cases cannot run (NULL: they can) */
    const char *no_draft_reason; /* why drafting checks cannot run (NULL: they can) */
} run;

static const char *lasterr(const run *R) { return R->api->last_error(); }

/* Load the model; with mmproj/draft, fall back to loading without them when the library does
 * not support them yet, so the text cases still run. Exits 2 on unusable files. */
static g4_status load_model(run *R)
{
    const g4_api_v1 *a = R->api;
    g4_load_params p;
    G4DL_INIT(a, load_params, &p);
    p.model = R->o.model;
    p.mmproj = R->o.mmproj;
    p.draft = R->o.draft;
    p.n_threads = R->o.threads;
    g4_status st = a->load(&p, &R->m);
    if (st == G4_ERR_UNSUPPORTED && (p.mmproj || p.draft)) {
        char why[512];
        snprintf(why, sizeof why, "%s", lasterr(R));
        fprintf(stderr, "g4-conformance: loading with %s%s%s failed (%s): retrying without\n",
                p.mmproj ? "--mmproj" : "", p.mmproj && p.draft ? " and " : "",
                p.draft ? "--draft" : "", why);
        if (p.mmproj)
            R->no_media_reason = "library could not load the projector (G4_ERR_UNSUPPORTED)";
        if (p.draft)
            R->no_draft_reason = "library could not load the drafter (G4_ERR_UNSUPPORTED)";
        p.mmproj = NULL;
        p.draft = NULL;
        st = a->load(&p, &R->m);
    }
    return st;
}

static int run_session(run *R, int32_t n_ctx, g4_session **s)
{
    g4_session_params sp;
    G4DL_INIT(R->api, session_params, &sp);
    sp.n_ctx = n_ctx;
    sp.n_threads = R->o.threads;
    return R->api->session_new(R->m, &sp, s);
}

/* Step `n` tokens asking for logits (and the final hidden state) at the last one only. */
static g4_status step_last(run *R, g4_session *s, const int32_t *tok, int32_t n)
{
    uint8_t *want = xmalloc((size_t)n);
    memset(want, 0, (size_t)n);
    want[n - 1] = G4_OUT_LOGITS | G4_OUT_HIDDEN;
    g4_batch b;
    G4DL_INIT(R->api, batch, &b);
    b.n_tokens = n;
    b.tokens = tok;
    b.want = want;
    g4_status st = R->api->step(s, &b);
    free(want);
    return st;
}

/* Greedy continuation of n tokens after a session whose last step produced logits at its last
 * batch index `last`. Returns the number generated (< n on error; *err receives the status). */
static int greedy_continue(run *R, g4_session *s, int32_t last, int32_t n, int32_t *out,
                           g4_status *err)
{
    const g4_api_v1 *a = R->api;
    *err = G4_OK;
    for (int32_t i = 0; i < n; i++) {
        const float *lg = a->logits(s, i == 0 ? last : 0);
        if (!lg) {
            *err = G4_ERR_STATE;
            return i;
        }
        out[i] = argmax(lg, R->info.n_vocab);
        if (i + 1 < n) {
            g4_status st = step_last(R, s, &out[i], 1);
            if (st != G4_OK) {
                *err = st;
                return i + 1;
            }
        }
    }
    return n;
}

static int first_mismatch(const int32_t *a, const int32_t *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return (int)i;
    return -1;
}

/* ---- Media ------------------------------------------------------------------------------- */

/* Does a PNG of this size need resampling for the given soft-token budget? Gemma 4 images are
 * cut into 48x48-pixel soft tokens; an image passes through untouched only when both sides are
 * multiples of 48 and the token count fits the budget. -1 if it cannot tell. */
static int png_needs_resize(const unsigned char *b, size_t n, int64_t max_soft)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n < 24 || memcmp(b, sig, 8) != 0 || memcmp(b + 12, "IHDR", 4) != 0)
        return -1;
    uint32_t w = (uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19];
    uint32_t h = (uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23];
    if (w % 48 || h % 48)
        return 1;
    return (int64_t)(w / 48) * (h / 48) > max_soft;
}

typedef struct media {
    int kind;            /* G4_SPAN_IMAGE / G4_SPAN_AUDIO, 0 = text only */
    int32_t soft_id;
    int64_t n_soft;      /* placeholder positions in the prompt */
    float *embd;         /* what the decoder is fed: n_soft * n_embd */
    g4_embd_span *spans;
    int32_t n_spans;
} media;

/* Prepare the soft tokens of a case. Returns 1 if the case can go on, 0 if it was reported as
 * skipped or failed. */
static int prepare_media(run *R, const char *P, const int32_t *ids, int64_t T, media *md)
{
    const g4_api_v1 *a = R->api;
    int32_t img = a->token_id ? a->token_id(R->m, G4_TOKEN_IMAGE_SOFT) : -1;
    int32_t aud = a->token_id ? a->token_id(R->m, G4_TOKEN_AUDIO_SOFT) : -1;
    if (img < 0)
        img = ID_IMAGE_SOFT;
    if (aud < 0)
        aud = ID_AUDIO_SOFT;
    memset(md, 0, sizeof *md);
    int64_t n_img = 0, n_aud = 0;
    for (int64_t t = 0; t < T; t++) {
        n_img += ids[t] == img;
        n_aud += ids[t] == aud;
    }
    if (!n_img && !n_aud)
        return 1;
    if (n_img && n_aud) {
        report("SKIP", P, "case", -1, -1, "mixes image and audio soft tokens (not supported by this runner)");
        return 0;
    }
    md->kind = n_img ? G4_SPAN_IMAGE : G4_SPAN_AUDIO;
    md->soft_id = n_img ? img : aud;
    md->n_soft = n_img ? n_img : n_aud;
    const int is_img = md->kind == G4_SPAN_IMAGE;
    const int64_t H = R->info.n_embd;

    if (R->no_media_reason) {
        report("SKIP", P, "case", -1, -1, "%s", R->no_media_reason);
        return 0;
    }
    if (!(R->info.capabilities & (is_img ? G4_MODEL_HAS_VISION : G4_MODEL_HAS_AUDIO))) {
        report("SKIP", P, "case", -1, -1, "model has no %s support loaded",
               is_img ? "vision" : "audio");
        return 0;
    }
    char path[4096 + 256];
    snprintf(path, sizeof path, "%s/%.200s.%s", R->media_dir, P, is_img ? "png" : "wav");
    size_t fsize = 0;
    unsigned char *bytes = read_file(path, &fsize);
    if (!bytes) {
        report("SKIP", P, "case", -1, -1, "media file %s: %s", path, strerror(errno));
        return 0;
    }

    int64_t max_soft = 280;
    g4_image_options io;
    int resize = 0;
    if (is_img) {
        int64_t v;
        char key[256];
        snprintf(key, sizeof key, "%.200s.max_soft_tokens", P);
        if (g4_gguf_get_i64(R->r.g, key, &v) == 0)
            max_soft = v;
        G4DL_INIT(a, image_options, &io);
        io.max_soft_tokens = (int32_t)max_soft;
        resize = png_needs_resize(bytes, fsize, max_soft) == 1;
    }

    size_t n_tok = 0;
    g4_status st = is_img ? a->embed_image_file(R->m, bytes, fsize, &io, NULL, 0, &n_tok)
                          : a->embed_audio_file(R->m, bytes, fsize, NULL, 0, &n_tok);
    if (st == G4_ERR_UNSUPPORTED) {
        report("SKIP", P, "case", -1, -1, "embedding %s: G4_ERR_UNSUPPORTED: %s", path, lasterr(R));
        free(bytes);
        return 0;
    }
    if (st != G4_OK && st != G4_ERR_BUFFER_TOO_SMALL) {
        report("FAIL", P, "embeddings", -1, -1, "embedding %s: %s: %s", path,
               a->status_name(st), lasterr(R));
        free(bytes);
        return 0;
    }
    if ((int64_t)n_tok != md->n_soft) {
        report("FAIL", P, "n_soft_tokens", fabs((double)n_tok - (double)md->n_soft), 0,
               "library made %zu soft tokens, the prompt has %lld placeholders", n_tok,
               (long long)md->n_soft);
        free(bytes);
        return 0;
    }
    float *ours = xmalloc(sizeof(float) * n_tok * (size_t)H);
    st = is_img ? a->embed_image_file(R->m, bytes, fsize, &io, ours, n_tok * (size_t)H, &n_tok)
                : a->embed_audio_file(R->m, bytes, fsize, ours, n_tok * (size_t)H, &n_tok);
    free(bytes);
    if (st != G4_OK) {
        report("FAIL", P, "embeddings", -1, -1, "second embedding call: %s: %s",
               a->status_name(st), lasterr(R));
        free(ours);
        return 0;
    }

    /* Compare with the reference projection when the file has one. */
    char name[256], why[512];
    snprintf(name, sizeof name, "%.200s.embeddings", P);
    int64_t ne[2] = {H, md->n_soft};
    const float *refe = g4_gguf_find_tensor(R->r.g, name)
                            ? ref_tensor(&R->r, name, G4_TYPE_F32, 2, ne, why, sizeof why)
                            : NULL;
    double tol = resize ? TOL_EMBD_RESIZE_REL : TOL_EMBD_REL;
    if (refe) {
        double maxref = 0, worst = 0;
        int64_t worst_t = 0;
        for (int64_t i = 0; i < md->n_soft * H; i++)
            if (fabs(refe[i]) > maxref)
                maxref = fabs(refe[i]);
        for (int64_t i = 0; i < md->n_soft * H; i++) {
            double d = absdiff(ours[i], refe[i]);
            if (d > worst) {
                worst = d;
                worst_t = i / H;
            }
        }
        double rel = maxref > 0 ? worst / maxref : worst;
        verdict(rel <= tol, P, "embeddings", rel, tol,
                "worst token %lld, max|ref| %.3g%s", (long long)worst_t, maxref,
                resize ? "; resized image (torch uint8 antialiased bicubic)" : "");
    } else if (g4_gguf_find_tensor(R->r.g, name)) {
        report("FAIL", P, "embeddings", -1, tol, "%s", why);
    } else {
        report("SKIP", P, "embeddings", -1, tol, "reference has no %s", name);
    }

    md->embd = ours;

    /* One span per contiguous placeholder run, consuming the embeddings in order. */
    md->spans = xmalloc(sizeof *md->spans * (size_t)md->n_soft);
    int64_t used = 0;
    for (int64_t t = 0; t < T;) {
        if (ids[t] != md->soft_id) {
            t++;
            continue;
        }
        int64_t e = t;
        while (e < T && ids[e] == md->soft_id)
            e++;
        g4_embd_span *sp = &md->spans[md->n_spans++];
        memset(sp, 0, sizeof *sp);
        sp->first = (int32_t)t;
        sp->n = (int32_t)(e - t);
        sp->kind = md->kind;
        sp->embd = md->embd + used * H;
        used += e - t;
        t = e;
    }
    return 1;
}

/* ---- A prompt case ------------------------------------------------------------------------- */

/* KV "P.greedyN" (any N): the greedy continuation. Returns the key or NULL. */
static const char *find_greedy_key(const ref *r, const char *P, char *buf, size_t n)
{
    size_t pl = strlen(P);
    for (int64_t i = 0; i < g4_gguf_n_kv(r->g); i++) {
        const g4_gguf_kv *kv = g4_gguf_kv_at(r->g, i);
        const char *k = kv->key.ptr;
        size_t kl = (size_t)kv->key.len;
        if (kl > pl + 7 && memcmp(k, P, pl) == 0 && memcmp(k + pl, ".greedy", 7) == 0 &&
            isdigit((unsigned char)k[pl + 7])) {
            size_t j = pl + 7;
            while (j < kl && isdigit((unsigned char)k[j]))
                j++;
            if (j == kl && kl < n) {
                memcpy(buf, k, kl);
                buf[kl] = '\0';
                return buf;
            }
        }
    }
    return NULL;
}

static void run_prompt_case(run *R, const char *P)
{
    const g4_api_v1 *a = R->api;
    char key[256], why[512];
    int64_t T = 0;
    snprintf(key, sizeof key, "%.200s.input_ids", P);
    int32_t *ids = ref_ids(&R->r, key, &T);
    if (!ids || T <= 0) {
        report("FAIL", P, "case", -1, -1, "%s is not an integer array", key);
        free(ids);
        return;
    }
    const int64_t H = R->info.n_embd, V = R->info.n_vocab, L = R->info.n_layer;

    /* Shapes first: a reference made for another model fails here, not with garbage numbers. */
    snprintf(key, sizeof key, "%.200s.hidden_states", P);
    int64_t ne_h[3] = {H, T, L + 1};
    const float *ref_h = ref_tensor(&R->r, key, G4_TYPE_F32, 3, ne_h, why, sizeof why);
    if (!ref_h && g4_gguf_find_tensor(R->r.g, key)) {
        report("FAIL", P, "shape", -1, -1, "%s (model: n_embd %lld, n_layer %lld)", why,
               (long long)H, (long long)L);
        free(ids);
        return;
    }

    media md;
    if (!prepare_media(R, P, ids, T, &md)) {
        free(ids);
        return;
    }

    /* Greedy continuation length, to size the context. */
    char gkey[256];
    int64_t n_greedy = 0;
    int32_t *greedy = NULL;
    if (find_greedy_key(&R->r, P, gkey, sizeof gkey))
        greedy = ref_ids(&R->r, gkey, &n_greedy);

    g4_session *s = NULL;
    g4_status st = run_session(R, (int32_t)(T + n_greedy + 16), &s);
    if (st != G4_OK) {
        report(st == G4_ERR_UNSUPPORTED ? "SKIP" : "FAIL", P, "session", -1, -1, "%s: %s",
               a->status_name(st), lasterr(R));
        goto out;
    }
    g4_status cap_st = a->session_capture_layers(s, 1);

    uint8_t *want = xmalloc((size_t)T);
    memset(want, G4_OUT_LOGITS | G4_OUT_HIDDEN, (size_t)T);
    g4_batch b;
    G4DL_INIT(a, batch, &b);
    b.n_tokens = (int32_t)T;
    b.tokens = ids;
    b.want = want;
    b.spans = md.n_spans ? md.spans : NULL;
    b.n_spans = md.n_spans;
    st = a->step(s, &b);
    free(want);
    if (st != G4_OK) {
        report(st == G4_ERR_UNSUPPORTED ? "SKIP" : "FAIL", P, "step", -1, -1,
               "g4_step over %lld tokens: %s: %s", (long long)T, a->status_name(st), lasterr(R));
        goto out;
    }

    /* Hidden states: one check per entry (0 = input to layer 0, k = output of layer k). */
    if (!ref_h) {
        report("SKIP", P, "hidden", -1, TOL_HIDDEN_REL, "reference has no %s.hidden_states", P);
    } else if (cap_st != G4_OK) {
        report("SKIP", P, "hidden", -1, TOL_HIDDEN_REL, "g4_session_capture_layers: %s: %s",
               a->status_name(cap_st), a->last_error());
    } else {
        for (int64_t k = 0; k <= L; k++) {
            const float *rk = ref_h + k * T * H;
            double maxref = 0;
            for (int64_t i = 0; i < T * H; i++)
                if (fabs(rk[i]) > maxref)
                    maxref = fabs(rk[i]);
            /* The last entry may be before or after the final norm (transformers reports it
             * after); compare with both and keep the closer one. */
            int n_src = k == L ? 2 : 1;
            double best = INFINITY;
            int64_t best_t = 0;
            int best_src = 0, missing = 0;
            for (int src = 0; src < n_src; src++) {
                double worst = 0;
                int64_t worst_t = 0;
                for (int64_t t = 0; t < T; t++) {
                    const float *x = src == 0 ? a->captured_layer(s, (int32_t)k, (int32_t)t)
                                              : a->hidden(s, (int32_t)t);
                    if (!x) {
                        worst = INFINITY;
                        worst_t = t;
                        if (src == 0)
                            missing = 1;
                        break;
                    }
                    for (int64_t i = 0; i < H; i++) {
                        double d = absdiff(x[i], rk[t * H + i]);
                        if (d > worst) {
                            worst = d;
                            worst_t = t;
                        }
                    }
                }
                if (src == 0 || worst < best) {
                    best = worst;
                    best_t = worst_t;
                    best_src = src;
                }
            }
            double rel = maxref > 0 ? best / maxref : best;
            char check[64];
            snprintf(check, sizeof check, "hidden.%lld", (long long)k);
            if (missing && best_src == 0)
                verdict(0, P, check, rel, TOL_HIDDEN_REL, "g4_captured_layer(%lld, %lld) is NULL",
                        (long long)k, (long long)best_t);
            else
                verdict(rel <= TOL_HIDDEN_REL, P, check, rel, TOL_HIDDEN_REL,
                        "worst pos %lld, max|ref| %.3g%s", (long long)best_t, maxref,
                        k == L ? (best_src ? ", vs final-normed g4_hidden" : ", vs captured entry n_layer (post-final-norm)")
                               : "");
        }
    }

    /* Full logit rows. */
    {
        snprintf(key, sizeof key, "%.200s.full_rows", P);
        int64_t n_rows = 0;
        int32_t *rows = ref_ids(&R->r, key, &n_rows);
        snprintf(key, sizeof key, "%.200s.logits_rows", P);
        int64_t ne[2] = {-1, n_rows};
        const float *rl = rows ? ref_tensor(&R->r, key, G4_TYPE_F32, 2, ne, why, sizeof why) : NULL;
        if (!rows) {
            report("SKIP", P, "logits_rows", -1, TOL_LOGITS_ABS, "reference has no %s.full_rows", P);
        } else if (!rl) {
            report("FAIL", P, "logits_rows", -1, TOL_LOGITS_ABS, "%s", why);
        } else if (ne[0] != V) {
            report("FAIL", P, "logits_rows", -1, TOL_LOGITS_ABS,
                   "reference rows have %lld logits, model n_vocab is %lld", (long long)ne[0],
                   (long long)V);
        } else {
            double worst = 0;
            int64_t worst_r = -1, worst_v = -1;
            for (int64_t j = 0; j < n_rows; j++) {
                const float *lg = rows[j] >= 0 && rows[j] < T ? a->logits(s, rows[j]) : NULL;
                if (!lg) {
                    worst = INFINITY;
                    worst_r = rows[j];
                    break;
                }
                for (int64_t v = 0; v < V; v++) {
                    double d = absdiff(lg[v], rl[j * V + v]);
                    if (d > worst) {
                        worst = d;
                        worst_r = rows[j];
                        worst_v = v;
                    }
                }
            }
            if (isinf(worst) && worst_v < 0)
                verdict(0, P, "logits_rows", worst, TOL_LOGITS_ABS, "no logits at pos %lld",
                        (long long)worst_r);
            else if (worst_r < 0)
                verdict(1, P, "logits_rows", worst, TOL_LOGITS_ABS, "%lld rows, exact",
                        (long long)n_rows);
            else
                verdict(worst <= TOL_LOGITS_ABS, P, "logits_rows", worst, TOL_LOGITS_ABS,
                        "%lld rows; worst at pos %lld token %lld", (long long)n_rows,
                        (long long)worst_r, (long long)worst_v);
        }
        free(rows);
    }

    /* Top-16, top-1 and logsumexp at every position. */
    {
        int64_t ne16[2] = {16, T}, ne1[1] = {T};
        char why2[512], why3[512];
        snprintf(key, sizeof key, "%.200s.top16_ids", P);
        const int32_t *tid = ref_tensor(&R->r, key, G4_TYPE_I32, 2, ne16, why, sizeof why);
        snprintf(key, sizeof key, "%.200s.top16_logits", P);
        const float *tlg = ref_tensor(&R->r, key, G4_TYPE_F32, 2, ne16, why2, sizeof why2);
        snprintf(key, sizeof key, "%.200s.logsumexp", P);
        const float *lse = ref_tensor(&R->r, key, G4_TYPE_F32, 1, ne1, why3, sizeof why3);
        if (!tid || !tlg) {
            report("FAIL", P, "top16", -1, TOL_TOP16_ABS, "%s", !tid ? why : why2);
        } else {
            int64_t mism = 0, checked = 0, first = -1, missing = -1;
            int32_t got_first = -1, want_first = -1;
            double worst16 = 0, worst_lse = 0;
            int64_t w16_t = 0, wl_t = 0;
            for (int64_t t = 0; t < T; t++) {
                const float *lg = a->logits(s, (int32_t)t);
                if (!lg) {
                    missing = t;
                    worst16 = worst_lse = INFINITY;
                    break;
                }
                const int32_t *ri = tid + t * 16;
                const float *rv = tlg + t * 16;
                /* margin between the best and the second-best reference logit */
                int b0 = 0;
                for (int j = 1; j < 16; j++)
                    if (rv[j] > rv[b0])
                        b0 = j;
                double second = -INFINITY;
                for (int j = 0; j < 16; j++)
                    if (j != b0 && rv[j] > second)
                        second = rv[j];
                int32_t am = argmax(lg, (int32_t)V);
                if (rv[b0] - second > TOP1_MARGIN) {
                    checked++;
                    if (am != ri[b0]) {
                        if (first < 0) {
                            first = t;
                            got_first = am;
                            want_first = ri[b0];
                        }
                        mism++;
                    }
                }
                for (int j = 0; j < 16; j++) {
                    double d = ri[j] >= 0 && ri[j] < V ? absdiff(lg[ri[j]], rv[j]) : INFINITY;
                    if (d > worst16) {
                        worst16 = d;
                        w16_t = t;
                    }
                }
                if (lse) {
                    double d = absdiff(logsumexp(lg, (int32_t)V), lse[t]);
                    if (d > worst_lse) {
                        worst_lse = d;
                        wl_t = t;
                    }
                }
            }
            if (missing >= 0) {
                report("FAIL", P, "top1", -1, 0, "no logits at pos %lld", (long long)missing);
            } else if (mism) {
                report("FAIL", P, "top1", (double)mism, 0,
                       "%lld of %lld decisive positions differ; first at pos %lld: got %d want %d",
                       (long long)mism, (long long)checked, (long long)first, got_first,
                       want_first);
            } else {
                report("PASS", P, "top1", 0, 0,
                       "%lld decisive positions (ref top-2 margin > %g), %lld too close to call",
                       (long long)checked, TOP1_MARGIN, (long long)(T - checked));
            }
            verdict(worst16 <= TOL_TOP16_ABS, P, "top16_logits", worst16, TOL_TOP16_ABS,
                    "worst pos %lld", (long long)w16_t);
            if (lse)
                verdict(worst_lse <= TOL_LSE_ABS, P, "logsumexp", worst_lse, TOL_LSE_ABS,
                        "worst pos %lld", (long long)wl_t);
            else
                report("FAIL", P, "logsumexp", -1, TOL_LSE_ABS, "%s", why3);
        }
    }

    /* Greedy: the next token, then the continuation token by token. */
    {
        snprintf(key, sizeof key, "%.200s.greedy_next", P);
        int64_t gn;
        const float *lg = a->logits(s, (int32_t)(T - 1));
        int32_t am = lg ? argmax(lg, (int32_t)V) : -1;
        if (g4_gguf_get_i64(R->r.g, key, &gn) == 0)
            verdict(am == gn, P, "greedy_next", am == gn ? 0 : 1, 0, "got %d want %lld", am,
                    (long long)gn);
        if (greedy && n_greedy > 0) {
            const char *check = gkey + strlen(P) + 1;
            a->session_capture_layers(s, 0); /* not needed any more: saves memory and time */
            int32_t *got = xmalloc(sizeof *got * (size_t)n_greedy);
            g4_status gst;
            int n = greedy_continue(R, s, (int32_t)(T - 1), (int32_t)n_greedy, got, &gst);
            if (n < n_greedy) {
                report(gst == G4_ERR_UNSUPPORTED ? "SKIP" : "FAIL", P, check, -1, 0,
                       "stopped after %d tokens: %s: %s", n, a->status_name(gst), lasterr(R));
            } else {
                int fm = first_mismatch(got, greedy, n_greedy);
                verdict(fm < 0, P, check, fm < 0 ? 0 : (double)(n_greedy - fm), 0,
                        fm < 0 ? "%lld tokens identical"
                               : "first difference at %lld: got %d want %d",
                        fm < 0 ? (long long)n_greedy : (long long)fm,
                        fm < 0 ? 0 : got[fm], fm < 0 ? 0 : greedy[fm]);
            }
            free(got);
        }
    }

out:
    if (s)
        a->session_free(s);
    free(greedy);
    free(md.embd);
    free(md.spans);
    free(ids);
}

/* ---- MTP ---------------------------------------------------------------------------------- */

/* Parse mtp.draft_calls_json: [{"pos": [[P]], "argmax": [A]}, ...] -> parallel arrays. Only the
 * first number of each field matters; the format is produced by our own fixture script. */
static int parse_draft_calls(const char *js, size_t len, int64_t **pos, int32_t **am, int *n)
{
    char *s = xmalloc(len + 1);
    memcpy(s, js, len);
    s[len] = '\0';
    int cap = 64, cnt = 0;
    *pos = xmalloc(sizeof **pos * (size_t)cap);
    *am = xmalloc(sizeof **am * (size_t)cap);
    const char *p = s;
    while ((p = strstr(p, "\"pos\"")) != NULL) {
        const char *q = p + 5;
        while (*q && !isdigit((unsigned char)*q) && *q != '-')
            q++;
        char *end;
        long long pv = strtoll(q, &end, 10);
        const char *r = strstr(end, "\"argmax\"");
        if (!r || end == q)
            break;
        r += 8;
        while (*r && !isdigit((unsigned char)*r) && *r != '-')
            r++;
        long long av = strtoll(r, &end, 10);
        if (end == r)
            break;
        if (cnt == cap) {
            cap *= 2;
            *pos = realloc(*pos, sizeof **pos * (size_t)cap);
            *am = realloc(*am, sizeof **am * (size_t)cap);
            if (!*pos || !*am)
                die("out of memory");
        }
        (*pos)[cnt] = pv;
        (*am)[cnt] = (int32_t)av;
        cnt++;
        p = end;
    }
    free(s);
    *n = cnt;
    return cnt > 0 ? 0 : -1;
}

typedef struct token_sink {
    int32_t *tok;
    int n, cap;
} token_sink;

static int32_t G4_CALL collect_token(void *ud, int32_t token)
{
    token_sink *sk = ud;
    if (sk->n < sk->cap)
        sk->tok[sk->n] = token;
    sk->n++; /* count past cap too: emitting more than max_tokens is a failure */
    return 1;
}

static void run_mtp_case(run *R)
{
    const char *P = "mtp";
    const g4_api_v1 *a = R->api;
    int64_t T = 0, N = 0;
    int32_t *prompt = ref_ids(&R->r, "mtp.prompt", &T);
    int32_t *ref_greedy = ref_ids(&R->r, "mtp.greedy16", &N);
    int32_t *plain = NULL, *gen = NULL;
    int64_t *cpos = NULL;
    int32_t *cam = NULL;
    g4_session *s = NULL;
    if (!prompt || !ref_greedy || T <= 0 || N <= 0) {
        report("FAIL", P, "case", -1, -1, "mtp.prompt / mtp.greedy16 missing or not integer arrays");
        goto out;
    }
    g4_status st = run_session(R, (int32_t)(T + N + DRAFT_K + 16), &s);
    if (st != G4_OK) {
        report(st == G4_ERR_UNSUPPORTED ? "SKIP" : "FAIL", P, "session", -1, -1, "%s: %s",
               a->status_name(st), lasterr(R));
        goto out;
    }

    /* 1. Plain greedy (the target alone) against the reference. */
    plain = xmalloc(sizeof *plain * (size_t)N);
    st = step_last(R, s, prompt, (int32_t)T);
    int n_plain = 0;
    if (st == G4_OK)
        n_plain = greedy_continue(R, s, (int32_t)(T - 1), (int32_t)N, plain, &st);
    if (n_plain < N) {
        report(st == G4_ERR_UNSUPPORTED ? "SKIP" : "FAIL", P, "greedy16", -1, 0,
               "plain greedy stopped after %d tokens: %s: %s", n_plain, a->status_name(st),
               lasterr(R));
        goto out;
    }
    int fm = first_mismatch(plain, ref_greedy, N);
    verdict(fm < 0, P, "greedy16", fm < 0 ? 0 : (double)(N - fm), 0,
            fm < 0 ? "%lld tokens identical" : "first difference at %lld: got %d want %d",
            fm < 0 ? (long long)N : (long long)fm, fm < 0 ? 0 : plain[fm],
            fm < 0 ? 0 : ref_greedy[fm]);

    const char *skip = NULL;
    if (!R->o.draft)
        skip = "no --draft given";
    else if (R->no_draft_reason)
        skip = R->no_draft_reason;
    else if (!(R->info.capabilities & G4_MODEL_HAS_DRAFT))
        skip = "model reports no drafter (G4_MODEL_HAS_DRAFT not set)";
    if (skip) {
        report("SKIP", P, "draft_first_round", -1, 0, "%s", skip);
        report("SKIP", P, "draft_rounds", -1, 0, "%s", skip);
        report("SKIP", P, "generate_spec", -1, 0, "%s", skip);
        goto out;
    }

    /* 2. Drafter proposals, round by round. With random weights nothing is accepted, so round r
     * starts after r generated tokens: n_past = T + r, last token = greedy[r]. */
    g4_gguf_str js;
    int n_calls = 0;
    if (g4_gguf_get_str(R->r.g, "mtp.draft_calls_json", &js) != 0 ||
        parse_draft_calls(js.ptr, (size_t)js.len, &cpos, &cam, &n_calls) != 0) {
        report("FAIL", P, "draft_first_round", -1, 0, "mtp.draft_calls_json missing or unparsable");
        goto out;
    }
    int rounds_ok = 1, rounds_done = 0, draft_unsupported = 0;
    char rdetail[512] = "";
    for (int c0 = 0, r = 0; c0 < n_calls; r++) {
        int c1 = c0;
        while (c1 < n_calls && cpos[c1] == cpos[c0])
            c1++;
        int k = c1 - c0;
        const char *check = r == 0 ? "draft_first_round" : "draft_rounds";
        if (cpos[c0] != T + r || r >= N) {
            /* Some draft was accepted in the reference run: our replay model does not apply. */
            if (r == 0)
                report("FAIL", P, check, -1, 0, "round 0 at position %lld, expected %lld",
                       (long long)cpos[c0], (long long)T);
            else
                snprintf(rdetail, sizeof rdetail, "stopped at round %d (position %lld != %lld)",
                         r, (long long)cpos[c0], (long long)(T + r));
            break;
        }
        /* Replay the reference's speculative loop up to round r through the public API: prompt,
         * then per earlier round j: draft k_j after greedy[j], verify [greedy[j], drafts] in one
         * step, roll back to the accepted prefix (nothing is accepted with random weights). This
         * leaves exactly the state the reference drafted round r from (including the rejected
         * draft's K/V in the slot at n_past, which transformers' drafter sees). */
        st = a->session_reset(s);
        if (st == G4_OK)
            st = step_last(R, s, prompt, (int32_t)T);
        for (int j = 0, cj = 0; st == G4_OK && j < r; j++) {
            int kj = 0;
            while (cj + kj < n_calls && cpos[cj + kj] == cpos[cj])
                kj++;
            int32_t vb[65], nd = -1;
            vb[0] = plain[j];
            st = a->draft(s, plain[j], kj, vb + 1, &nd);
            if (st == G4_OK)
                st = step_last(R, s, vb, nd + 1);
            if (st == G4_OK)
                st = a->session_truncate(s, (int32_t)T + j + 1);
            cj += kj;
        }
        int32_t out_tok[64] = {0}, n_out = -1;
        int32_t n_past0 = a->session_n_past(s);
        if (st == G4_OK)
            st = a->draft(s, plain[r], k, out_tok, &n_out);
        if (st == G4_ERR_UNSUPPORTED) {
            draft_unsupported = 1;
            report("SKIP", P, "draft_first_round", -1, 0, "g4_draft: G4_ERR_UNSUPPORTED: %s",
                   lasterr(R));
            break;
        }
        int bad = -1;
        /* Later rounds compare their first TOL_DRAFT_CHAIN proposals (see there); round 0 all. */
        int kcmp = r == 0 || k < TOL_DRAFT_CHAIN ? k : TOL_DRAFT_CHAIN;
        if (st == G4_OK && n_out == k)
            for (int j = 0; j < kcmp; j++)
                if (out_tok[j] != cam[c0 + j]) {
                    bad = j;
                    break;
                }
        int ok = st == G4_OK && n_out == k && bad < 0 && a->session_n_past(s) == n_past0;
        if (r == 0) {
            if (st != G4_OK)
                report("FAIL", P, check, -1, 0, "g4_draft: %s: %s", a->status_name(st), lasterr(R));
            else
                verdict(ok, P, check, ok ? 0 : 1, 0,
                        n_out != k ? "returned %d proposals, want %d"
                        : bad >= 0 ? "proposal %d: got %d want %d"
                        : !ok      ? "g4_draft changed n_past (%d)"
                                   : "%d proposals identical",
                        n_out != k ? n_out : bad >= 0 ? bad : !ok ? a->session_n_past(s) : k,
                        n_out != k ? k : bad >= 0 ? out_tok[bad] : 0, bad >= 0 ? cam[c0 + bad] : 0);
        } else {
            rounds_done++;
            if (!ok && rounds_ok) {
                rounds_ok = 0;
                if (st != G4_OK)
                    snprintf(rdetail, sizeof rdetail, "round %d: g4_draft: %s: %s", r,
                             a->status_name(st), lasterr(R));
                else if (n_out != k)
                    snprintf(rdetail, sizeof rdetail, "round %d: %d proposals, want %d", r, n_out, k);
                else if (bad >= 0)
                    snprintf(rdetail, sizeof rdetail, "round %d proposal %d: got %d want %d", r,
                             bad, out_tok[bad], cam[c0 + bad]);
                else
                    snprintf(rdetail, sizeof rdetail, "round %d: g4_draft changed n_past", r);
            }
        }
        c0 = c1;
    }
    if (draft_unsupported) {
        report("SKIP", P, "draft_rounds", -1, 0, "g4_draft unsupported");
    } else if (rounds_done) {
        verdict(rounds_ok, P, "draft_rounds", rounds_ok ? 0 : 1, 0, "%d later rounds%s%s",
                rounds_done, rdetail[0] ? "; " : "", rdetail);
    }

    /* 3. Speculative generation must reproduce plain greedy exactly. */
    {
        token_sink sk = {NULL, 0, (int)N};
        gen = xmalloc(sizeof *gen * (size_t)N);
        sk.tok = gen;
        st = a->session_reset(s);
        if (st == G4_OK)
            st = step_last(R, s, prompt, (int32_t)T);
        g4_generate_params gp;
        G4DL_INIT(a, generate_params, &gp);
        gp.max_tokens = (int32_t)N;
        gp.n_draft = DRAFT_K;
        gp.stop_at_eog = 0; /* the plain greedy reference does not stop either */
        gp.sampling = NULL; /* greedy */
        gp.on_token = collect_token;
        gp.user_data = &sk;
        g4_generate_stats gs;
        memset(&gs, 0, sizeof gs);
        gs.struct_size = sizeof gs;
        if (st == G4_OK)
            st = a->generate(s, &gp, &gs);
        if (st == G4_ERR_UNSUPPORTED) {
            report("SKIP", P, "generate_spec", -1, 0, "g4_generate: G4_ERR_UNSUPPORTED: %s",
                   lasterr(R));
        } else if (st != G4_OK) {
            report("FAIL", P, "generate_spec", -1, 0, "g4_generate: %s: %s", a->status_name(st),
                   lasterr(R));
        } else {
            int m = sk.n < N ? -1 : first_mismatch(gen, plain, N);
            int ok = sk.n == N && m < 0;
            verdict(ok, P, "generate_spec", ok ? 0 : 1, 0,
                    "%d of %lld tokens emitted%s; drafted %d, accepted %d, target steps %d%s",
                    sk.n, (long long)N, m >= 0 ? ", differs from plain greedy" : "",
                    gs.n_drafted, gs.n_accepted, gs.n_target_steps,
                    gs.n_drafted == 0 ? " (no drafts: speculation not exercised)" : "");
        }
    }
out:
    if (s)
        a->session_free(s);
    free(prompt);
    free(ref_greedy);
    free(plain);
    free(gen);
    free(cpos);
    free(cam);
}


/* ---- main ------------------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: g4-conformance --model M.gguf --ref R.ref.gguf [options]\n"
            "\n"
            "Runs every case of a conformance reference file (see ../shared/fixtures/README.md)\n"
            "against libg4plug and prints one line per check:\n"
            "  PASS|FAIL|SKIP <case>.<check> worst=<err> (tol <tol>) [detail]\n"
            "then \"N passed, N failed, N skipped\". Exit status: 0 nothing failed, 1 a check\n"
            "failed, 2 bad usage or unreadable files.\n"
            "\n"
            "options:\n"
            "  --model PATH    the model under test (GGUF)\n"
            "  --ref PATH      the reference (*.ref.gguf, architecture \"conformance\")\n"
            "  --mmproj PATH   projector for image/audio cases (without it they are skipped)\n"
            "  --draft PATH    MTP drafter for the mtp case (without it drafting is skipped)\n"
            "  --media DIR     where <case>.png / <case>.wav live (default: the ref's folder)\n"
            "  --threads N     worker threads (default: the library's choice)\n"
            "  --case NAME     run only this case (e.g. text, image_fit, mtp)\n"
            "  --json          one JSON object per check instead of text lines\n"
            "  --lib PATH      libg4plug to test (default: $G4PLUG_LIB, then next to this binary)\n"
            "  -h, --help      this text\n");
}

static int add_case(char cases[][128], int n, const char *k, size_t len)
{
    if (len == 0 || len >= 128 || n >= MAX_CASES)
        return n;
    for (int i = 0; i < n; i++)
        if (strlen(cases[i]) == len && memcmp(cases[i], k, len) == 0)
            return n;
    memcpy(cases[n], k, len);
    cases[n][len] = '\0';
    return n + 1;
}

int main(int argc, char **argv)
{
    run R;
    memset(&R, 0, sizeof R);
    opts *o = &R.o;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define ARG(name, dst)                                                                       \
    if (strcmp(a, name) == 0) {                                                              \
        if (i + 1 >= argc)                                                                   \
            die("%s needs a value (see --help)", name);                                      \
        dst = argv[++i];                                                                     \
        continue;                                                                            \
    }
        ARG("--model", o->model)
        ARG("-m", o->model)
        ARG("--mmproj", o->mmproj)
        ARG("--draft", o->draft)
        ARG("--ref", o->ref)
        ARG("--media", o->media)
        ARG("--case", o->only_case)
        ARG("--lib", o->lib)
#undef ARG
        if (strcmp(a, "--threads") == 0 || strcmp(a, "-t") == 0) {
            char *end;
            if (i + 1 >= argc)
                die("%s needs a value", a);
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 0 || v > 4096)
                die("--threads: not a thread count: %s", argv[i]);
            o->threads = (int)v;
        } else if (strcmp(a, "--json") == 0) {
            g_json = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "g4-conformance: unknown argument '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!o->model || !o->ref) {
        usage(stderr);
        return 2;
    }

    /* Reference first: it is cheap and a bad one should not cost a model load. */
    char err[4096];
    R.r.path = o->ref;
    R.r.g = g4_gguf_open(o->ref, 0, err, sizeof err);
    if (!R.r.g)
        die("reference %s: %s", o->ref, err);
    g4_gguf_str arch;
    if (g4_gguf_get_str(R.r.g, "general.architecture", &arch) != 0 ||
        !g4_gguf_str_eq(arch, "conformance"))
        die("reference %s: general.architecture is not \"conformance\" (is this a model file?)",
            o->ref);

    if (o->media) {
        snprintf(R.media_dir, sizeof R.media_dir, "%s", o->media);
    } else {
        snprintf(R.media_dir, sizeof R.media_dir, "%s", o->ref);
        char *sl = strrchr(R.media_dir, '/');
        if (sl)
            *sl = '\0';
        else
            snprintf(R.media_dir, sizeof R.media_dir, ".");
    }

    /* Cases: every P with a P.input_ids key, plus the MTP set. */
    char cases[MAX_CASES][128];
    int n_cases = 0;
    int has_mtp = 0;
    for (int64_t i = 0; i < g4_gguf_n_kv(R.r.g); i++) {
        const g4_gguf_kv *kv = g4_gguf_kv_at(R.r.g, i);
        size_t kl = (size_t)kv->key.len;
        const char *k = kv->key.ptr;
        if (kl > 10 && memcmp(k + kl - 10, ".input_ids", 10) == 0)
            n_cases = add_case(cases, n_cases, k, kl - 10);
        else if (kl == 10 && memcmp(k, "mtp.prompt", 10) == 0)
            has_mtp = 1;
    }
    if (o->only_case) {
        int found = strcmp(o->only_case, "mtp") == 0 && has_mtp;
        for (int i = 0; i < n_cases; i++)
            found |= strcmp(cases[i], o->only_case) == 0;
        if (!found) {
            fprintf(stderr, "g4-conformance: no case '%s' in %s; cases:", o->only_case, o->ref);
            for (int i = 0; i < n_cases; i++)
                fprintf(stderr, " %s", cases[i]);
            fprintf(stderr, "%s\n", has_mtp ? " mtp" : "");
            return 2;
        }
    }
    if (!n_cases && !has_mtp)
        die("reference %s holds no cases (no *.input_ids or mtp.prompt keys)", o->ref);

    g4dl dl;
    if (g4dl_open(o->lib, &dl, err, sizeof err) != 0)
        die("%s", err);
    R.api = dl.api;
    const g4_api_v1 *a = R.api;
    /* Everything the runner calls; a half-built library is a setup problem, not a failure. */
    if (!a->load || !a->load_params_init || !a->model_get_info || !a->session_new ||
        !a->session_params_init || !a->step || !a->batch_init || !a->logits || !a->hidden ||
        !a->session_capture_layers || !a->captured_layer || !a->session_free || !a->model_free ||
        !a->session_reset || !a->session_n_past || !a->draft || !a->generate ||
        !a->generate_params_init || !a->image_options_init || !a->embed_image_file ||
        !a->embed_audio_file || !a->last_error || !a->status_name)
        die("%s lacks entry points the runner needs (model support not built?)", dl.path);
    fprintf(stderr, "g4-conformance: library %s (%s), reference %s\n", dl.path,
            a->version_string ? a->version_string() : "?", o->ref);

    if (!o->mmproj)
        R.no_media_reason = "no --mmproj given";
    g4_status st = load_model(&R);
    if (st == G4_ERR_UNSUPPORTED) {
        /* The library knows this file but cannot run it yet: skipped, never passed. */
        char why[1024];
        snprintf(why, sizeof why, "model %s: G4_ERR_UNSUPPORTED: %s", o->model, lasterr(&R));
        for (int i = 0; i < n_cases; i++)
            if (!o->only_case || strcmp(o->only_case, cases[i]) == 0)
                report("SKIP", cases[i], "case", -1, -1, "%s", why);
        if (has_mtp && (!o->only_case || strcmp(o->only_case, "mtp") == 0))
            report("SKIP", "mtp", "case", -1, -1, "%s", why);
        printf("%d passed, %d failed, %d skipped\n", g_pass, g_fail, g_skip);
        g4dl_close(&dl);
        g4_gguf_close(R.r.g);
        return 0;
    }
    if (st != G4_OK)
        die("model %s: %s: %s", o->model, a->status_name(st), lasterr(&R));
    memset(&R.info, 0, sizeof R.info);
    R.info.struct_size = sizeof R.info;
    st = a->model_get_info(R.m, &R.info);
    if (st != G4_OK)
        die("g4_model_get_info: %s: %s", a->status_name(st), lasterr(&R));
    if (R.info.n_vocab <= 0 || R.info.n_embd <= 0 || R.info.n_layer <= 0)
        die("model info is implausible (n_vocab %d, n_embd %d, n_layer %d)", R.info.n_vocab,
            R.info.n_embd, R.info.n_layer);
    if (o->mmproj && !R.no_media_reason &&
        !(R.info.capabilities & (G4_MODEL_HAS_VISION | G4_MODEL_HAS_AUDIO)))
        fprintf(stderr, "g4-conformance: note: --mmproj given but the model reports neither "
                        "vision nor audio\n");
    fprintf(stderr, "g4-conformance: model %s: %s, n_layer %d, n_embd %d, n_vocab %d, isa %s\n",
            o->model, R.info.variant, R.info.n_layer, R.info.n_embd, R.info.n_vocab, R.info.isa);

    for (int i = 0; i < n_cases; i++)
        if (!o->only_case || strcmp(o->only_case, cases[i]) == 0)
            run_prompt_case(&R, cases[i]);
    if (has_mtp && (!o->only_case || strcmp(o->only_case, "mtp") == 0))
        run_mtp_case(&R);

    a->model_free(R.m);
    g4dl_close(&dl);
    g4_gguf_close(R.r.g);
    printf("%d passed, %d failed, %d skipped\n", g_pass, g_fail, g_skip);
    return g_fail ? 1 : 0;
}
