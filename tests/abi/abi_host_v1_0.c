/*
 * abi_host_v1_0: a host compiled against the FROZEN 1.0 header (tests/abi/g4plug_1_0.h), run
 * against the current library. Every struct it hands the library sits in a buffer with guard
 * bytes after it; the library must never write past the host's struct (init functions, output
 * structs), must accept the 1.0 layouts, and must give their missing newer members defaults.
 * It also plays a host from the future: a struct larger than the library knows, zero tail
 * (accepted) and non-zero tail (refused with G4_ERR_UNSUPPORTED).
 *
 * usage: abi_host_v1_0 path/to/libg4plug.so [model.gguf]
 * The model defaults to $G4_FIXTURES/gemma4/tiny-gemma4-unified-bf16.gguf (then
 * ../shared/fixtures/...); without it the model part is skipped with a message.
 * Prints "abi_host_v1_0: N passed, N failed"; exits nonzero when something failed.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "g4plug_1_0.h"

#define GUARD 64
#define FILL 0xA5

static int n_pass, n_fail;

static void check(int ok, int line, const char *what)
{
    if (ok) {
        n_pass++;
    } else {
        n_fail++;
        fprintf(stderr, "FAIL abi_host_v1_0.c:%d: %s\n", line, what);
    }
}
#define CHECK(cond) check((cond) ? 1 : 0, __LINE__, #cond)

/* A struct of `size` bytes followed by GUARD guard bytes, all pre-filled with FILL. */
typedef struct guarded {
    _Alignas(16) unsigned char b[1024 + GUARD];
    size_t size;
} guarded;

static void *guard_new(guarded *g, size_t size)
{
    memset(g->b, FILL, sizeof g->b);
    g->size = size;
    return g->b;
}

static int guard_intact(const guarded *g)
{
    for (size_t i = g->size; i < g->size + GUARD; i++)
        if (g->b[i] != FILL)
            return 0;
    return 1;
}

static void *lib;

static void *sym(const char *name)
{
    return dlsym(lib, name);
}

typedef void (*init_fn)(void *);
typedef g4_status (*init_sized_fn)(void *, size_t);

/* One 1.0 initialiser, called both by its exported name and through the g4_api_v1 table. */
static void check_init(const char *name, void (*table_fn)(void *), size_t size)
{
    guarded g;
    init_fn by_name;
    void *p = sym(name);
    memcpy(&by_name, &p, sizeof p);
    check(by_name != NULL, __LINE__, name);
    if (!by_name)
        return;
    by_name(guard_new(&g, size));
    check(guard_intact(&g), __LINE__, name);
    uint32_t ss;
    memcpy(&ss, g.b, sizeof ss);
    check(ss >= 8 && ss <= size, __LINE__, "struct_size after a 1.0 init is within the 1.0 struct");
    table_fn(guard_new(&g, size));
    check(guard_intact(&g), __LINE__, "table initialiser stays inside the struct");
}

static const char *find_model(int argc, char **argv, char *buf, size_t n)
{
    const char *dir = getenv("G4_FIXTURES");
    const char *tail = "/gemma4/tiny-gemma4-unified-bf16.gguf";
    if (argc > 2)
        return argv[2];
    if (!dir || !dir[0])
        dir = "../shared/fixtures";
    if (strlen(dir) + strlen(tail) + 1 > n)
        return NULL;
    snprintf(buf, n, "%s%s", dir, tail);
    FILE *f = fopen(buf, "rb");
    if (!f)
        return NULL;
    fclose(f);
    return buf;
}

static int32_t on_token(void *ud, int32_t tok)
{
    (void)tok;
    ++*(int *)ud;
    return 1;
}

static void model_checks(const g4_api_v1 *a, const char *path)
{
    guarded glp, ginfo, gsp, gb, gsmp, ggp, gst, gio;
    g4_model *m = NULL;
    g4_session *s = NULL;
    int32_t toks[32];
    size_t n_tok = 0;

    g4_load_params *lp = guard_new(&glp, sizeof *lp);
    a->load_params_init(lp);
    lp->model = path;
    lp->n_ctx = 128;
    g4_status st = a->load(lp, &m);
    CHECK(st == G4_OK && m);
    CHECK(guard_intact(&glp));
    if (st != G4_OK) {
        fprintf(stderr, "  load %s: %s\n", path, a->last_error());
        return;
    }

    g4_model_info *info = guard_new(&ginfo, sizeof *info);
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
    CHECK(a->model_get_info(m, info) == G4_OK);
    CHECK(guard_intact(&ginfo));
    CHECK(info->struct_size == sizeof *info);
    CHECK(info->n_vocab > 0 && info->n_embd > 0 && strcmp(info->arch, "gemma4") == 0);

    CHECK(a->tokenize(m, "The sky is", 10, G4_TOKENIZE_ADD_BOS, toks, 32, &n_tok) == G4_OK);

    g4_session_params *sp = guard_new(&gsp, sizeof *sp);
    a->session_params_init(sp);
    sp->n_ctx = 64;
    st = a->session_new(m, sp, &s);
    CHECK(st == G4_OK && s);
    CHECK(guard_intact(&gsp));
    if (st != G4_OK) {
        a->model_free(m);
        return;
    }

    g4_batch *b = guard_new(&gb, sizeof *b);
    a->batch_init(b);
    b->n_tokens = (int32_t)n_tok;
    b->tokens = toks;
    CHECK(a->step(s, b) == G4_OK);
    CHECK(guard_intact(&gb));
    CHECK(a->logits(s, (int32_t)n_tok - 1) != NULL);

    g4_sampler_params *smp = guard_new(&gsmp, sizeof *smp);
    a->sampler_params_init(smp);
    CHECK(guard_intact(&gsmp));
    CHECK(smp->top_k == 64 && smp->temperature > 0.0f && smp->repeat_penalty == 1.0f);
    smp->seed = 7;

    g4_generate_params *gp = guard_new(&ggp, sizeof *gp);
    a->generate_params_init(gp);
    CHECK(guard_intact(&ggp));
    CHECK(gp->max_tokens == 256 && gp->stop_at_eog == 1);
    int emitted = 0;
    gp->max_tokens = 4;
    gp->stop_at_eog = 0;
    gp->n_draft = 0;
    gp->sampling = smp;
    gp->on_token = on_token;
    gp->user_data = &emitted;
    g4_generate_stats *gs = guard_new(&gst, sizeof *gs);
    memset(gs, 0, sizeof *gs);
    gs->struct_size = sizeof *gs;
    st = a->generate(s, gp, gs);
    CHECK(st == G4_OK);
    CHECK(guard_intact(&gst) && guard_intact(&ggp) && guard_intact(&gsmp));
    CHECK(gs->struct_size == sizeof *gs && gs->n_generated == 4 && emitted == 4);

    g4_image_options *io = guard_new(&gio, sizeof *io);
    a->image_options_init(io);
    CHECK(guard_intact(&gio));
    CHECK(io->max_soft_tokens == 280);

    a->session_free(s);
    a->model_free(m);
}

/* A host built against a later 1.x header whose structs this library does not fully know. */
static void future_host_checks(const g4_api_v1 *a, const char *path)
{
    guarded g;
    init_sized_fn load_init_sized;
    void *p = sym("g4_load_params_init_sized");
    memcpy(&load_init_sized, &p, sizeof p);
    if (!load_init_sized) {
        printf("abi_host_v1_0: library is 1.0 (no *_init_sized): future-host checks skipped\n");
        return;
    }
    const size_t future = sizeof(g4_load_params) + 40;
    g4_load_params *lp = guard_new(&g, future);
    CHECK(load_init_sized(lp, future) == G4_OK);
    CHECK(guard_intact(&g));
    CHECK(lp->struct_size == future && lp->log_level == G4_LOG_INFO);
    for (size_t i = sizeof(g4_load_params); i < future; i++)
        CHECK(g.b[i] == 0); /* the unknown tail is zeroed: "use nothing new" */
    /* too small to be any 1.x layout: refused, nothing written */
    CHECK(load_init_sized(guard_new(&g, 4), 4) == G4_ERR_INVALID_ARGUMENT);
    CHECK(guard_intact(&g) && g.b[0] == FILL);
    if (!path)
        return;
    g4_model *m = NULL;
    lp = guard_new(&g, future);
    load_init_sized(lp, future);
    lp->model = path;
    lp->n_ctx = 64;
    CHECK(a->load(lp, &m) == G4_OK);
    a->model_free(m);
    m = NULL;
    g.b[future - 1] = 1; /* a member this library does not know, set */
    CHECK(a->load(lp, &m) == G4_ERR_UNSUPPORTED && m == NULL);
}

int main(int argc, char **argv)
{
    const g4_api_v1 *a = NULL;
    char buf[4096];
    if (argc < 2) {
        fprintf(stderr, "usage: %s libg4plug.so [model.gguf]\n", argv[0]);
        return 2;
    }
    lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    g4_status (*get_api)(uint32_t, const void **);
    void *p = sym("g4_get_api");
    memcpy(&get_api, &p, sizeof p);
    CHECK(get_api && get_api(1, (const void **)&a) == G4_OK && a);
    if (!a)
        return 1;
    CHECK(a->struct_size >= sizeof(g4_api_v1)); /* a newer table only appends */
    CHECK((a->abi_version >> 16) == G4_ABI_VERSION_MAJOR);

    check_init("g4_load_params_init", (void (*)(void *))a->load_params_init, sizeof(g4_load_params));
    check_init("g4_image_options_init", (void (*)(void *))a->image_options_init, sizeof(g4_image_options));
    check_init("g4_session_params_init", (void (*)(void *))a->session_params_init,
               sizeof(g4_session_params));
    check_init("g4_batch_init", (void (*)(void *))a->batch_init, sizeof(g4_batch));
    check_init("g4_sampler_params_init", (void (*)(void *))a->sampler_params_init,
               sizeof(g4_sampler_params));
    check_init("g4_generate_params_init", (void (*)(void *))a->generate_params_init,
               sizeof(g4_generate_params));

    const char *model = find_model(argc, argv, buf, sizeof buf);
    if (model)
        model_checks(a, model);
    else
        printf("abi_host_v1_0: model checks skipped (no fixture model; set G4_FIXTURES)\n");
    future_host_checks(a, model);

    printf("abi_host_v1_0: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
