/* g4-bench: llama-bench-style pp/tg throughput for one engine on one GGUF.
 *
 *   g4-bench --engine g4plug --lib build/libg4plug.so      --model F.gguf --threads N
 *   g4-bench --engine llama  --lib build/peer/.../linux-x64 --model F.gguf --threads N
 *   g4-bench --membw [--threads N] [--mib 1024]
 *
 * Both engines are reached the way a host reaches them: dlopen + dlsym, nothing linked.
 * The measurement loop is shared, and mirrors llama.cpp's tools/llama-bench:
 *   pp<P>: a fresh context of P positions; one warm-up run; then --reps times: clear the cache,
 *          time one forward pass over P random tokens (the first is <bos>), logits for the last
 *          token only.
 *   tg<G>: a fresh context of G positions; warm-up: one single-token step; then --reps times:
 *          clear the cache, time G single-token steps (the first token <bos>, then random ones).
 *   t/s of a repetition = tokens / seconds; reported as mean and sample standard deviation of
 *   the per-repetition t/s, exactly like llama-bench's avg_ts / stddev_ts.
 * Output: one JSON object per test on stdout (one line each); diagnostics on stderr.
 *
 * llama.cpp side: only functions that take handles or pointers are used, plus the two
 * *_default_params() getters and the stable llama_batch. The parameter structs are handled as
 * opaque byte blobs larger than any known layout (returned through the hidden sret pointer and
 * passed back on the stack unchanged, so their layout never matters); only n_ctx / n_batch /
 * n_ubatch, the first three fields since llama.h has had them, are written, after checking that
 * the defaults read there are the documented ones (512 / 2048 / 512). Threads are set with
 * llama_set_n_threads, as llama-bench does. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "g4plug.h"

static int g_verbose = 0;
static int g_no_mmap = 0; /* g4plug: G4_LOAD_NO_MMAP */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* process CPU seconds (all threads): cpu / (wall * threads) < ~0.9 means the run was starved
 * (another load on the machine) or the engine idles threads */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

static void die(const char *fmt, const char *a)
{
    fprintf(stderr, "g4-bench: ");
    fprintf(stderr, fmt, a ? a : "");
    fprintf(stderr, "\n");
    exit(1);
}

/* Deterministic token stream (xorshift), the same for both engines. */
static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static int32_t rand_token(int32_t n_vocab)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (int32_t)(g_rng % (uint64_t)n_vocab);
}

/* ------------------------------------------------------------------------------------------ */
/* Engine interface                                                                            */

typedef struct engine {
    const char *name;
    int32_t n_vocab;
    int32_t bos;
    int add_bos;
    /* make a fresh context of n_ctx positions (freeing any previous one) */
    int (*ctx_new)(struct engine *e, int n_ctx, int n_threads);
    int (*clear)(struct engine *e);
    int (*decode)(struct engine *e, int32_t *tokens, int n); /* returns 0 on success */
    void (*ctx_free)(struct engine *e);
    void (*unload)(struct engine *e);
    char variant[256]; /* kernel / CPU-backend variant in use */
    char info[512];
    uint64_t model_bytes;
    uint64_t model_params;
} engine;

/* ---- llama.cpp through libllama ---------------------------------------------------------- */

typedef struct { unsigned char b[1024]; } param_blob; /* > sizeof any llama_*_params */

typedef struct llama_batch_s {
    int32_t n_tokens;
    int32_t *token;
    float *embd;
    int32_t *pos;
    int32_t *n_seq_id;
    int32_t **seq_id;
    int8_t *logits;
} llama_batch_s;

static struct {
    void *h_llama, *h_ggml;
    void (*backend_init)(void);
    void (*backend_free)(void);
    void (*log_set)(void (*)(int, const char *, void *), void *);
    void (*load_all_from_path)(const char *);
    size_t (*reg_count)(void);
    param_blob (*model_default_params)(void);
    param_blob (*context_default_params)(void);
    void *(*model_load)(const char *, param_blob);
    void (*model_free)(void *);
    void *(*init_from_model)(void *, param_blob);
    void (*free_ctx)(void *);
    void (*set_n_threads)(void *, int32_t, int32_t);
    const void *(*model_get_vocab)(const void *);
    int32_t (*vocab_n_tokens)(const void *);
    int32_t (*vocab_bos)(const void *);
    bool (*vocab_get_add_bos)(const void *);
    llama_batch_s (*batch_get_one)(int32_t *, int32_t);
    int32_t (*decode)(void *, llama_batch_s);
    void (*synchronize)(void *);
    void *(*get_memory)(const void *);
    void (*memory_clear)(void *, bool);
    const char *(*print_system_info)(void);
    uint64_t (*model_size)(const void *);
    uint64_t (*model_n_params)(const void *);
    int32_t (*model_desc)(const void *, char *, size_t);
    void *model, *ctx;
} L;

static void llama_log_cb(int level, const char *text, void *ud)
{
    (void)ud;
    /* ggml_log_level: 1 debug, 2 info, 3 warn, 4 error, 5 cont */
    if (g_verbose || level == 4)
        fputs(text, stderr);
}

static void *sym(void *h, const char *name)
{
    void *p = dlsym(h, name);
    if (!p)
        die("missing symbol %s", name);
    return p;
}

/* First file in dir whose name starts with prefix and ends with ".so" (libllama.so,
 * libllama.v0.5.0.so, ...). */
static int find_lib(const char *dir, const char *prefix, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *de;
    int found = -1;
    size_t pl = strlen(prefix);
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n > pl + 3 && strncmp(de->d_name, prefix, pl) == 0 &&
            (de->d_name[pl] == '.' ) && strcmp(de->d_name + n - 3, ".so") == 0) {
            snprintf(out, cap, "%s/%s", dir, de->d_name);
            found = 0;
            break;
        }
    }
    closedir(d);
    return found;
}

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    char *out = data;
    const char *p = info->dlpi_name ? strstr(info->dlpi_name, "libggml-cpu") : NULL;
    if (p && !out[0])
        snprintf(out, 256, "%s", p);
    return 0;
}

static int ll_ctx_free_(engine *e)
{
    (void)e;
    if (L.ctx)
        L.free_ctx(L.ctx);
    L.ctx = NULL;
    return 0;
}
static void ll_ctx_free(engine *e) { ll_ctx_free_(e); }

static int ll_ctx_new(engine *e, int n_ctx, int n_threads)
{
    ll_ctx_free(e);
    param_blob cp = L.context_default_params();
    uint32_t f[4];
    memcpy(f, cp.b, sizeof f);
    if (f[1] != 2048 || f[2] != 512 || f[3] != 1) {
        fprintf(stderr, "g4-bench: llama_context_params layout not recognised (n_batch %u, "
                "n_ubatch %u, n_seq_max %u)\n", f[1], f[2], f[3]);
        return -1;
    }
    f[0] = (uint32_t)n_ctx; /* n_ctx: llama-bench uses n_prompt + n_gen */
    /* n_batch 2048 and n_ubatch 512: llama-bench's defaults, left as they are */
    memcpy(cp.b, f, sizeof f);
    L.ctx = L.init_from_model(L.model, cp);
    if (!L.ctx)
        return -1;
    L.set_n_threads(L.ctx, n_threads, n_threads);
    return 0;
}

static int ll_clear(engine *e)
{
    (void)e;
    L.memory_clear(L.get_memory(L.ctx), false);
    return 0;
}

static int ll_decode(engine *e, int32_t *tokens, int n)
{
    (void)e;
    int32_t rc = L.decode(L.ctx, L.batch_get_one(tokens, n));
    if (rc != 0) {
        fprintf(stderr, "g4-bench: llama_decode failed (%d)\n", (int)rc);
        return -1;
    }
    L.synchronize(L.ctx);
    return 0;
}

static void ll_unload(engine *e)
{
    ll_ctx_free(e);
    if (L.model)
        L.model_free(L.model);
    L.model = NULL;
    L.backend_free();
}

static int ll_load(engine *e, const char *libdir, const char *model_path)
{
    char path[4096];
    if (find_lib(libdir, "libggml", path, sizeof path) != 0)
        die("no libggml*.so in %s", libdir);
    L.h_ggml = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (!L.h_ggml)
        die("%s", dlerror());
    if (find_lib(libdir, "libllama", path, sizeof path) != 0)
        die("no libllama*.so in %s", libdir);
    L.h_llama = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (!L.h_llama)
        die("%s", dlerror());
#define S(field, name) *(void **)(&L.field) = sym(L.h_llama, name)
#define G(field, name) *(void **)(&L.field) = sym(L.h_ggml, name)
    S(backend_init, "llama_backend_init");
    S(backend_free, "llama_backend_free");
    S(log_set, "llama_log_set");
    G(load_all_from_path, "ggml_backend_load_all_from_path");
    G(reg_count, "ggml_backend_reg_count");
    S(model_default_params, "llama_model_default_params");
    S(context_default_params, "llama_context_default_params");
    S(model_load, "llama_model_load_from_file");
    S(model_free, "llama_model_free");
    S(init_from_model, "llama_init_from_model");
    S(free_ctx, "llama_free");
    S(set_n_threads, "llama_set_n_threads");
    S(model_get_vocab, "llama_model_get_vocab");
    S(vocab_n_tokens, "llama_vocab_n_tokens");
    S(vocab_bos, "llama_vocab_bos");
    S(vocab_get_add_bos, "llama_vocab_get_add_bos");
    S(batch_get_one, "llama_batch_get_one");
    S(decode, "llama_decode");
    S(synchronize, "llama_synchronize");
    S(get_memory, "llama_get_memory");
    S(memory_clear, "llama_memory_clear");
    S(print_system_info, "llama_print_system_info");
    S(model_size, "llama_model_size");
    S(model_n_params, "llama_model_n_params");
    S(model_desc, "llama_model_desc");
#undef S
#undef G
    L.log_set(llama_log_cb, NULL);
    L.load_all_from_path(libdir); /* picks the best-scoring libggml-cpu-<variant>.so */
    L.backend_init();
    if (L.reg_count() == 0)
        die("llama.cpp loaded no backend from %s", libdir);
    param_blob mp = L.model_default_params(); /* CPU-only build: defaults are CPU, mmap */
    L.model = L.model_load(model_path, mp);
    if (!L.model)
        die("llama.cpp could not load %s (run with -v for its log)", model_path);
    const void *vocab = L.model_get_vocab(L.model);
    e->n_vocab = L.vocab_n_tokens(vocab);
    e->bos = L.vocab_bos(vocab);
    e->add_bos = L.vocab_get_add_bos(vocab);
    e->model_bytes = L.model_size(L.model);
    e->model_params = L.model_n_params(L.model);
    e->variant[0] = 0;
    dl_iterate_phdr(phdr_cb, e->variant);
    char desc[128] = "";
    L.model_desc(L.model, desc, sizeof desc);
    snprintf(e->info, sizeof e->info, "%s", desc);
    e->ctx_new = ll_ctx_new;
    e->clear = ll_clear;
    e->decode = ll_decode;
    e->ctx_free = ll_ctx_free;
    e->unload = ll_unload;
    if (g_verbose)
        fprintf(stderr, "llama.cpp system info: %s\n", L.print_system_info());
    return 0;
}

/* ---- g4plug through the public ABI ------------------------------------------------------- */

static struct {
    void *h;
    const g4_api_v1 *api;
    g4_model *model;
    g4_session *sess;
    int n_threads;
} G;

static const char *g4_err(g4_status st)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s: %s", G.api->status_name ? G.api->status_name(st) : "error",
             G.api->last_error ? G.api->last_error() : "");
    return buf;
}

static void G4_CALL g4_log_cb(void *ud, int32_t level, const char *msg)
{
    (void)ud;
    if (g_verbose || level == G4_LOG_ERROR)
        fprintf(stderr, "g4plug: %s\n", msg);
}

static void g4_ctx_free(engine *e)
{
    (void)e;
    if (G.sess)
        G.api->session_free(G.sess);
    G.sess = NULL;
}

static int g4_ctx_new(engine *e, int n_ctx, int n_threads)
{
    g4_ctx_free(e);
    g4_session_params sp;
    G.api->session_params_init(&sp);
    sp.n_ctx = n_ctx;
    sp.n_threads = n_threads;
    g4_status st = G.api->session_new(G.model, &sp, &G.sess);
    if (st != G4_OK) {
        fprintf(stderr, "g4-bench: g4_session_new: %s\n", g4_err(st));
        return -1;
    }
    return 0;
}

static int g4_clear(engine *e)
{
    (void)e;
    return G.api->session_reset(G.sess) == G4_OK ? 0 : -1;
}

static int g4_decode(engine *e, int32_t *tokens, int n)
{
    (void)e;
    g4_batch b;
    G.api->batch_init(&b);
    b.n_tokens = n;
    b.tokens = tokens;
    b.want = NULL; /* logits for the last position only */
    g4_status st = G.api->step(G.sess, &b);
    if (st != G4_OK) {
        fprintf(stderr, "g4-bench: g4_step: %s\n", g4_err(st));
        return -1;
    }
    return 0;
}

static void g4_unload(engine *e)
{
    g4_ctx_free(e);
    if (G.model)
        G.api->model_free(G.model);
    G.model = NULL;
}

static int g4_load_engine(engine *e, const char *lib, const char *model_path, int n_threads)
{
    G.h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!G.h)
        die("%s", dlerror());
    g4_status (*get_api)(uint32_t, const void **);
    *(void **)(&get_api) = dlsym(G.h, "g4_get_api");
    const void *tbl = NULL;
    if (get_api && get_api(1, &tbl) == G4_OK && tbl) {
        G.api = tbl;
    } else {
        /* no function table (yet): resolve the named exports this driver uses */
        static g4_api_v1 own;
        memset(&own, 0, sizeof own);
        own.struct_size = sizeof own;
#define R(field, name) *(void **)(&own.field) = sym(G.h, name)
#define O(field, name) *(void **)(&own.field) = dlsym(G.h, name)
        O(version_string, "g4_version_string");
        O(last_error, "g4_last_error");
        O(status_name, "g4_status_name");
        R(load_params_init, "g4_load_params_init");
        R(load, "g4_load");
        R(model_free, "g4_model_free");
        O(model_get_info, "g4_model_get_info");
        O(token_id, "g4_token_id");
        O(vocab_size, "g4_vocab_size");
        R(session_params_init, "g4_session_params_init");
        R(session_new, "g4_session_new");
        R(session_free, "g4_session_free");
        R(session_reset, "g4_session_reset");
        R(batch_init, "g4_batch_init");
        R(step, "g4_step");
#undef R
#undef O
        G.api = &own;
    }
    g4_load_params lp;
    G.api->load_params_init(&lp);
    lp.model = model_path;
    lp.n_threads = n_threads;
    if (g_no_mmap)
        lp.flags |= G4_LOAD_NO_MMAP;
    lp.log = g4_log_cb;
    lp.log_level = g_verbose ? G4_LOG_INFO : G4_LOG_ERROR;
    g4_status st = G.api->load(&lp, &G.model);
    if (st != G4_OK) {
        fprintf(stderr, "g4-bench: g4_load: %s\n", g4_err(st));
        return -1;
    }
    g4_model_info mi;
    memset(&mi, 0, sizeof mi);
    mi.struct_size = sizeof mi;
    if (G.api->model_get_info && G.api->model_get_info(G.model, &mi) == G4_OK) {
        snprintf(e->variant, sizeof e->variant, "%s", mi.isa);
        snprintf(e->info, sizeof e->info, "%s %s", mi.variant,
                 G.api->version_string ? G.api->version_string() : "");
        e->model_bytes = mi.weight_bytes;
        e->model_params = mi.n_params;
        e->n_vocab = mi.n_vocab;
    }
    if (e->n_vocab <= 0)
        e->n_vocab = G.api->vocab_size ? G.api->vocab_size(G.model) : 262144;
    e->bos = G.api->token_id ? G.api->token_id(G.model, G4_TOKEN_BOS) : 2;
    e->add_bos = 1;
    e->ctx_new = g4_ctx_new;
    e->clear = g4_clear;
    e->decode = g4_decode;
    e->ctx_free = g4_ctx_free;
    e->unload = g4_unload;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The shared measurement loop                                                                 */

static int run_prompt(engine *e, int n_prompt, int32_t *buf)
{
    /* llama-bench: batches of n_batch (2048) tokens; pp512 is a single batch */
    for (int i = 0; i < n_prompt; i++)
        buf[i] = (i == 0 && e->add_bos) ? e->bos : rand_token(e->n_vocab);
    return e->decode(e, buf, n_prompt);
}

static int run_gen(engine *e, int n_gen)
{
    int32_t tok = e->add_bos ? e->bos : rand_token(e->n_vocab);
    for (int i = 0; i < n_gen; i++) {
        if (e->decode(e, &tok, 1) != 0)
            return -1;
        tok = rand_token(e->n_vocab);
    }
    return 0;
}

static void report(const engine *e, const char *model, const char *test, int n_tok, int threads,
                   const double *secs, int reps, double cpu)
{
    double wall = 0;
    for (int i = 0; i < reps; i++)
        wall += secs[i];
    double ts[64], mean = 0, sd = 0;
    for (int i = 0; i < reps; i++) {
        ts[i] = n_tok / secs[i];
        mean += ts[i];
    }
    mean /= reps;
    for (int i = 0; i < reps; i++)
        sd += (ts[i] - mean) * (ts[i] - mean);
    sd = reps > 1 ? sqrt(sd / (reps - 1)) : 0.0;
    printf("{\"engine\":\"%s\",\"model\":\"%s\",\"test\":\"%s\",\"n_tokens\":%d,\"threads\":%d,"
           "\"reps\":%d,\"avg_ts\":%.4f,\"stddev_ts\":%.4f,\"samples_ts\":[",
           e->name, model, test, n_tok, threads, reps, mean, sd);
    for (int i = 0; i < reps; i++)
        printf("%s%.4f", i ? "," : "", ts[i]);
    printf("],\"cpu_util\":%.3f,\"variant\":\"%s\",\"desc\":\"%s\",\"model_bytes\":%llu,\"model_params\":%llu}\n",
           cpu / (wall * threads), e->variant, e->info, (unsigned long long)e->model_bytes,
           (unsigned long long)e->model_params);
    fflush(stdout);
    fprintf(stderr, "  %-7s %-6s t=%d  %9.3f ± %.3f t/s  (cpu util %.2f)\n", e->name, test, threads,
            mean, sd, cpu / (wall * threads));
}

/* ------------------------------------------------------------------------------------------ */
/* --membw: multi-threaded sequential read bandwidth (fallback when tools/g4-membw is absent) */

typedef struct {
    const uint64_t *p;
    size_t n;
    int iters;
    uint64_t sink;
    pthread_barrier_t *bar;
    double t0, t1;
} bw_arg;

static void *bw_thread(void *v)
{
    bw_arg *a = v;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i < a->n; i += 4) /* first touch already done; one warm pass */
        s0 += a->p[i];
    pthread_barrier_wait(a->bar);
    a->t0 = now_s();
    for (int it = 0; it < a->iters; it++) {
        const uint64_t *p = a->p;
        for (size_t i = 0; i + 8 <= a->n; i += 8) {
            s0 += p[i] ^ p[i + 4];
            s1 += p[i + 1] ^ p[i + 5];
            s2 += p[i + 2] ^ p[i + 6];
            s3 += p[i + 3] ^ p[i + 7];
        }
    }
    a->t1 = now_s();
    a->sink = s0 + s1 + s2 + s3;
    return NULL;
}

static int membw(int threads, size_t mib)
{
    size_t bytes = mib << 20;
    uint64_t *buf = NULL;
    if (posix_memalign((void **)&buf, 4096, bytes) != 0)
        die("out of memory%s", "");
    for (size_t i = 0; i < bytes / 8; i++)
        buf[i] = i * 0x9E3779B97F4A7C15ull;
    for (int t = 1; t <= threads; t++) {
        pthread_t th[256];
        bw_arg a[256];
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, (unsigned)t);
        size_t per = bytes / 8 / (size_t)t;
        per -= per % 8;
        double best = 0;
        for (int rep = 0; rep < 3; rep++) {
            for (int i = 0; i < t; i++) {
                a[i] = (bw_arg){buf + per * (size_t)i, per, 3, 0, &bar, 0, 0};
                pthread_create(&th[i], NULL, bw_thread, &a[i]);
            }
            double t0 = 1e30, t1 = 0;
            uint64_t sink = 0;
            for (int i = 0; i < t; i++) {
                pthread_join(th[i], NULL);
                t0 = a[i].t0 < t0 ? a[i].t0 : t0;
                t1 = a[i].t1 > t1 ? a[i].t1 : t1;
                sink += a[i].sink;
            }
            double gbs = (double)per * 8 * (double)t * 3 / (t1 - t0) / 1e9;
            if (gbs > best)
                best = gbs;
            if (sink == 42)
                fprintf(stderr, " ");
        }
        pthread_barrier_destroy(&bar);
        printf("{\"membw_threads\":%d,\"read_gbs\":%.3f,\"buffer_mib\":%zu}\n", t, best, mib);
        fflush(stdout);
    }
    free(buf);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(stderr,
            "usage: g4-bench --engine g4plug|llama --lib PATH --model F.gguf [--threads N]\n"
            "                [--pp 512] [--tg 128] [--reps 5] [--no-warmup] [--no-mmap] [-v]\n"
            "       g4-bench --membw [--threads N] [--mib 1024]\n"
            "  --lib: g4plug: path of libg4plug.so; llama: the folder holding libllama*.so\n"
            "  --pp 0 / --tg 0 skip that test\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *eng = NULL, *lib = NULL, *model = NULL;
    int threads = 1, pp = 512, tg = 128, reps = 5, warmup = 1, do_bw = 0;
    size_t mib = 1024;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(s) (strcmp(a, s) == 0 && v && (++i, 1))
        if (ARG("--engine"))
            eng = v;
        else if (ARG("--lib"))
            lib = v;
        else if (ARG("--model") || ARG("-m"))
            model = v;
        else if (ARG("--threads") || ARG("-t"))
            threads = atoi(v);
        else if (ARG("--pp"))
            pp = atoi(v);
        else if (ARG("--tg"))
            tg = atoi(v);
        else if (ARG("--reps") || ARG("-r"))
            reps = atoi(v);
        else if (ARG("--mib"))
            mib = (size_t)atol(v);
        else if (strcmp(a, "--no-warmup") == 0)
            warmup = 0;
        else if (strcmp(a, "--membw") == 0)
            do_bw = 1;
        else if (strcmp(a, "-v") == 0)
            g_verbose = 1;
        else if (strcmp(a, "--no-mmap") == 0)
            g_no_mmap = 1; /* g4plug: read the weights into (huge-page) memory */
        else
            usage();
#undef ARG
    }
    if (threads < 1 || threads > 256 || reps < 1 || reps > 64 || pp < 0 || tg < 0)
        usage();
    if (do_bw)
        return membw(threads, mib);
    if (!eng || !lib || !model)
        usage();

    engine e;
    memset(&e, 0, sizeof e);
    e.name = eng;
    if (strcmp(eng, "llama") == 0) {
        if (ll_load(&e, lib, model) != 0)
            return 1;
    } else if (strcmp(eng, "g4plug") == 0) {
        if (g4_load_engine(&e, lib, model, threads) != 0)
            return 1;
    } else {
        usage();
    }
    if (e.n_vocab <= 0)
        die("engine reports no vocabulary%s", "");
    const char *base = strrchr(model, '/') ? strrchr(model, '/') + 1 : model;

    double secs[64];
    int rc = 0;
    if (pp > 0) {
        int32_t *buf = malloc(sizeof(int32_t) * (size_t)pp);
        if (!buf || e.ctx_new(&e, pp, threads) != 0)
            die("could not create a context of %s positions", "pp");
        if (warmup && run_prompt(&e, pp, buf) != 0)
            rc = 1;
        double c0 = cpu_s();
        for (int r = 0; r < reps && !rc; r++) {
            e.clear(&e);
            double t0 = now_s();
            if (run_prompt(&e, pp, buf) != 0)
                rc = 1;
            secs[r] = now_s() - t0;
        }
        if (!rc) {
            char name[32];
            snprintf(name, sizeof name, "pp%d", pp);
            report(&e, base, name, pp, threads, secs, reps, cpu_s() - c0);
        }
        free(buf);
        e.ctx_free(&e);
    }
    if (tg > 0 && !rc) {
        if (e.ctx_new(&e, tg, threads) != 0)
            die("could not create a context of %s positions", "tg");
        if (warmup && run_gen(&e, 1) != 0)
            rc = 1;
        double c0 = cpu_s();
        for (int r = 0; r < reps && !rc; r++) {
            e.clear(&e);
            double t0 = now_s();
            if (run_gen(&e, tg) != 0)
                rc = 1;
            secs[r] = now_s() - t0;
        }
        if (!rc) {
            char name[32];
            snprintf(name, sizeof name, "tg%d", tg);
            report(&e, base, name, tg, threads, secs, reps, cpu_s() - c0);
        }
        e.ctx_free(&e);
    }
    e.unload(&e);
    return rc;
}
