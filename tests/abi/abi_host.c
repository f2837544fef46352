/*
 * abi_host: a third-party host in miniature. Built twice by the Makefile, as C89
 * (-std=c89 -pedantic) and as C++11, against abi/g4plug.h alone, and reaching the library only
 * through dlopen/dlsym: it proves the header compiles in both languages and that the exported
 * ABI behaves as documented for a host that knows nothing else.
 *
 * usage: abi_host_c89 path/to/libg4plug.so [model.gguf]
 * The model defaults to $G4_FIXTURES/gemma4/tiny-gemma4-unified-bf16.gguf, then
 * ../shared/fixtures/gemma4/...; when absent, the model part is skipped.
 * Prints "abi_host: N passed, N failed"; exits nonzero when something failed.
 *
 * C89 rules apply here: declarations at block start, no line comments, no designated
 * initialisers, no stdbool, no snprintf/%zu/isfinite.
 */
#include <dlfcn.h>
#include <float.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "g4plug.h"

static int n_pass, n_fail;

static void check(int ok, int line, const char *what)
{
    if (ok) {
        n_pass++;
    } else {
        n_fail++;
        fprintf(stderr, "FAIL abi_host.c:%d: %s\n", line, what);
    }
}
#define CHECK(cond) check((cond) ? 1 : 0, __LINE__, #cond)

static void *lib;

/* dlsym into a function pointer without the ISO C object-to-function cast (POSIX guarantees
 * the representations match). */
static void sym(const char *name, void *fnptr_addr)
{
    void *p = dlsym(lib, name);
    memcpy(fnptr_addr, &p, sizeof p);
}

static int is_finite(float x)
{
    return x == x && x <= FLT_MAX && x >= -FLT_MAX;
}

static int nonempty(const char *s) { return s != NULL && s[0] != '\0'; }

/* Table members by name: every one must be present and the same as the exported symbol. */
struct member {
    size_t off;
    const char *sym;
};
#define MB(m, s) { offsetof(g4_api_v1, m), s }
static const struct member members[] = {
    MB(abi_version_fn, "g4_abi_version"), MB(version_string, "g4_version_string"),
    MB(last_error, "g4_last_error"), MB(status_name, "g4_status_name"),
    MB(load_params_init, "g4_load_params_init"), MB(load, "g4_load"),
    MB(model_free, "g4_model_free"), MB(model_get_info, "g4_model_get_info"),
    MB(model_meta, "g4_model_meta"), MB(tokenize, "g4_tokenize"),
    MB(detokenize, "g4_detokenize"), MB(token_to_piece, "g4_token_to_piece"),
    MB(token_id, "g4_token_id"), MB(token_is_eog, "g4_token_is_eog"),
    MB(vocab_size, "g4_vocab_size"), MB(chat_template, "g4_chat_template"),
    MB(chat_format, "g4_chat_format"), MB(image_options_init, "g4_image_options_init"),
    MB(embed_image, "g4_embed_image"), MB(embed_audio, "g4_embed_audio"),
    MB(embed_image_file, "g4_embed_image_file"), MB(embed_audio_file, "g4_embed_audio_file"),
    MB(session_params_init, "g4_session_params_init"), MB(session_new, "g4_session_new"),
    MB(session_free, "g4_session_free"), MB(session_reset, "g4_session_reset"),
    MB(session_n_past, "g4_session_n_past"), MB(session_n_ctx, "g4_session_n_ctx"),
    MB(session_truncate, "g4_session_truncate"),
    MB(session_min_rollback, "g4_session_min_rollback"),
    MB(session_cancel, "g4_session_cancel"), MB(batch_init, "g4_batch_init"),
    MB(step, "g4_step"), MB(logits, "g4_logits"), MB(hidden, "g4_hidden"),
    MB(sampler_params_init, "g4_sampler_params_init"), MB(sampler_new, "g4_sampler_new"),
    MB(sampler_free, "g4_sampler_free"), MB(sampler_sample, "g4_sampler_sample"),
    MB(sampler_accept, "g4_sampler_accept"), MB(sampler_reset, "g4_sampler_reset"),
    MB(draft, "g4_draft"), MB(generate_params_init, "g4_generate_params_init"),
    MB(generate, "g4_generate"), MB(session_capture_layers, "g4_session_capture_layers"),
    MB(captured_layer, "g4_captured_layer"), MB(manifest_check, "g4_manifest_check"),
    /* 1.1 */
    MB(chat_format_json, "g4_chat_format_json"), MB(chat_parse, "g4_chat_parse"),
    MB(grammar_new, "g4_grammar_new"), MB(grammar_free, "g4_grammar_free"),
    MB(grammar_reset, "g4_grammar_reset"), MB(grammar_apply, "g4_grammar_apply"),
    MB(grammar_accept, "g4_grammar_accept"), MB(grammar_is_complete, "g4_grammar_is_complete"),
    /* 1.1: video */
    MB(video_options_init_sized, "g4_video_options_init_sized"),
    MB(video_sample, "g4_video_sample"), MB(embed_video_frame, "g4_embed_video_frame"),
    MB(video_format, "g4_video_format")
};
#undef MB

/* A failing call must leave a message behind. */
static void check_err(const g4_api_v1 *a, g4_status got, g4_status want, int line,
                      const char *what)
{
    int ok = got == want;
    if (!ok)
        fprintf(stderr, "  %s returned %s (%d), expected %s\n", what, a->status_name(got),
                (int)got, a->status_name(want));
    check(ok, line, what);
    if (got != G4_OK)
        check(nonempty(a->last_error()), line, "last_error is set after a failure");
}
#define CHECK_ERR(call, want) check_err(a, (call), (want), __LINE__, #call)

static const char *find_model(int argc, char **argv, char *buf, size_t n)
{
    const char *dir = getenv("G4_FIXTURES");
    const char *tail = "/gemma4/tiny-gemma4-unified-bf16.gguf";
    FILE *f;
    if (argc > 2)
        return argv[2];
    if (!dir || !dir[0])
        dir = "../shared/fixtures";
    if (strlen(dir) + strlen(tail) + 1 > n)
        return NULL;
    strcpy(buf, dir);
    strcat(buf, tail);
    f = fopen(buf, "rb");
    if (!f)
        return NULL;
    fclose(f);
    return buf;
}

/* Load the fixture model and step a few tokens. */
static void model_checks(const g4_api_v1 *a, const char *path)
{
    g4_load_params lp;
    g4_model *m = NULL;
    g4_model_info info;
    g4_session_params sp;
    g4_session *s = NULL;
    g4_batch b;
    g4_status st;
    int32_t toks[64];
    size_t n_tok = 0, i;
    int32_t next, n_vocab, v, bad;
    const float *lg;
    float *first = NULL;

    a->load_params_init(&lp);
    lp.model = path;
    lp.n_ctx = 128;
    st = a->load(&lp, &m);
    if (st == G4_ERR_UNSUPPORTED) {
        printf("abi_host: model checks skipped: %s\n", a->last_error());
        return;
    }
    CHECK_ERR(st, G4_OK);
    if (st != G4_OK || !m) {
        fprintf(stderr, "  load %s: %s\n", path, a->last_error());
        return;
    }
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    CHECK_ERR(a->model_get_info(m, &info), G4_OK);
    CHECK(info.n_vocab > 0 && info.n_embd > 0 && info.n_layer > 0);
    CHECK(strcmp(info.arch, "gemma4") == 0);
    n_vocab = a->vocab_size(m);
    CHECK(n_vocab == info.n_vocab);

    st = a->tokenize(m, "Hello world", 11, G4_TOKENIZE_ADD_BOS, toks, 64, &n_tok);
    CHECK_ERR(st, G4_OK);
    if (st != G4_OK || n_tok < 2 || n_tok > 60) {
        a->model_free(m);
        return;
    }
    CHECK(toks[0] == a->token_id(m, G4_TOKEN_BOS));

    a->session_params_init(&sp);
    sp.n_ctx = 64;
    st = a->session_new(m, &sp, &s);
    CHECK_ERR(st, G4_OK);
    if (st != G4_OK) {
        a->model_free(m);
        return;
    }

    a->batch_init(&b);
    b.n_tokens = (int32_t)n_tok;
    b.tokens = toks;
    b.want = NULL; /* logits for the last position only */
    st = a->step(s, &b);
    if (st == G4_ERR_UNSUPPORTED) {
        printf("abi_host: stepping skipped: %s\n", a->last_error());
    } else {
        CHECK_ERR(st, G4_OK);
        CHECK(a->session_n_past(s) == (int32_t)n_tok);
        lg = a->logits(s, (int32_t)n_tok - 1);
        CHECK(lg != NULL);
        CHECK(a->logits(s, 0) == NULL); /* not requested */
        if (lg) {
            bad = 0;
            next = 0;
            for (v = 0; v < n_vocab; v++) {
                if (!is_finite(lg[v]))
                    bad++;
                else if (lg[v] > lg[next])
                    next = v;
            }
            CHECK(bad == 0);

            /* one more token, twice (via truncate): same logits both times */
            b.n_tokens = 1;
            b.tokens = &next;
            CHECK_ERR(a->step(s, &b), G4_OK);
            lg = a->logits(s, 0);
            CHECK(lg != NULL);
            if (lg) {
                first = (float *)malloc(sizeof(float) * (size_t)n_vocab);
                if (first)
                    memcpy(first, lg, sizeof(float) * (size_t)n_vocab);
                bad = 0;
                for (v = 0; v < n_vocab; v++)
                    bad += !is_finite(lg[v]);
                CHECK(bad == 0);
            }
            CHECK_ERR(a->session_truncate(s, (int32_t)n_tok), G4_OK);
            CHECK(a->session_n_past(s) == (int32_t)n_tok);
            CHECK_ERR(a->step(s, &b), G4_OK);
            lg = a->logits(s, 0);
            if (lg && first) {
                bad = 0;
                for (v = 0; v < n_vocab; v++)
                    bad += lg[v] != first[v];
                CHECK(bad == 0);
            }
            free(first);
        }
        /* out-of-range token: refused, cache unchanged */
        toks[0] = n_vocab + 5;
        b.tokens = toks;
        i = (size_t)a->session_n_past(s);
        CHECK_ERR(a->step(s, &b), G4_ERR_INVALID_ARGUMENT);
        CHECK((size_t)a->session_n_past(s) == i);
    }
    a->session_free(s);
    a->model_free(m);
}

int main(int argc, char **argv)
{
    uint32_t (*abi_version)(void);
    g4_status (*get_api)(uint32_t, const void **);
    const void *tp = NULL;
    const g4_api_v1 *a;
    uint32_t ver, need_minor;
    size_t i;
    g4_load_params lp;
    g4_model *m;
    g4_session *s;
    g4_sampler *smp;
    g4_sampler_params spp;
    g4_model_info info;
    g4_batch batch;
    int32_t tok, n_out;
    size_t n;
    float lg3[3];
    char buf[1024];
    const char *model;
    struct {
        g4_load_params p;
        unsigned char tail[32];
    } big;

    if (argc < 2) {
        fprintf(stderr, "usage: %s path/to/libg4plug.so [model.gguf]\n", argv[0]);
        return 2;
    }
    lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "abi_host: dlopen %s: %s\n", argv[1], dlerror());
        printf("abi_host: 0 passed, 1 failed\n");
        return 1;
    }

    /* Versioning and the table. */
    sym("g4_abi_version", &abi_version);
    sym("g4_get_api", &get_api);
    CHECK(abi_version != NULL);
    CHECK(get_api != NULL);
    if (!abi_version || !get_api) {
        printf("abi_host: %d passed, %d failed\n", n_pass, n_fail);
        return 1;
    }
    ver = abi_version();
    CHECK((ver >> 16) == G4_ABI_VERSION_MAJOR);
    need_minor = G4_ABI_VERSION_MINOR; /* a variable: minor 0 would make the test "always true" */
    CHECK((ver & 0xffffu) >= need_minor);
    CHECK(get_api(1, &tp) == G4_OK && tp != NULL);
    if (!tp) {
        printf("abi_host: %d passed, %d failed\n", n_pass, n_fail);
        return 1;
    }
    a = (const g4_api_v1 *)tp;
    CHECK(a->struct_size >= sizeof(g4_api_v1));
    CHECK(a->abi_version == ver);
    for (i = 0; i < sizeof members / sizeof members[0]; i++) {
        void *slot, *exported;
        memcpy(&slot, (const char *)a + members[i].off, sizeof slot);
        exported = dlsym(lib, members[i].sym);
        if (!slot || slot != exported)
            fprintf(stderr, "  table member for %s: %p, dlsym: %p\n", members[i].sym, slot,
                    exported);
        CHECK(slot != NULL && slot == exported);
    }
    /* Every member non-NULL from here on. */
    if (n_fail) {
        printf("abi_host: %d passed, %d failed\n", n_pass, n_fail);
        return 1;
    }
    CHECK(a->abi_version_fn() == ver);
    CHECK(nonempty(a->version_string()));

    /* Errors: a fresh thread has none; a failure sets one; a success clears it. */
    CHECK(a->last_error() != NULL && a->last_error()[0] == '\0');
    tp = &tp;
    CHECK(get_api(2, &tp) == G4_ERR_UNSUPPORTED);
    CHECK(tp == NULL);
    CHECK(nonempty(a->last_error()));
    CHECK(get_api(1, NULL) == G4_ERR_INVALID_ARGUMENT);
    CHECK(get_api(1, &tp) == G4_OK && tp == (const void *)a);
    CHECK(a->last_error()[0] == '\0');

    CHECK(strcmp(a->status_name(G4_OK), "G4_OK") == 0);
    CHECK(strcmp(a->status_name(G4_ERR_FORMAT), "G4_ERR_FORMAT") == 0);
    CHECK(strcmp(a->status_name(G4_ERR_INTERNAL), "G4_ERR_INTERNAL") == 0);
    CHECK(nonempty(a->status_name(-12345)));

    /* Bad arguments: the documented code, a message, no crash. */
    m = NULL;
    CHECK_ERR(a->load(NULL, &m), G4_ERR_INVALID_ARGUMENT);
    CHECK(m == NULL);
    a->load_params_init(&lp);
    /* the table's unsized init is the 1.0 entry point: it writes the 1.0 layout (which ends with
     * max_memory; 1.1 appended mm_precision) */
    CHECK(lp.struct_size == offsetof(g4_load_params, max_memory) + sizeof lp.max_memory);
    CHECK_ERR(a->load(&lp, NULL), G4_ERR_INVALID_ARGUMENT);
    lp.model = NULL;
    CHECK_ERR(a->load(&lp, &m), G4_ERR_INVALID_ARGUMENT);
    lp.model = "/nonexistent-g4plug-dir/none.gguf";
    lp.struct_size = 0;
    CHECK_ERR(a->load(&lp, &m), G4_ERR_INVALID_ARGUMENT);
    lp.struct_size = 4;
    CHECK_ERR(a->load(&lp, &m), G4_ERR_INVALID_ARGUMENT);
    /* A newer host's larger struct: accepted when the unknown tail is zero. */
    memset(&big, 0, sizeof big);
    a->load_params_init(&big.p);
    big.p.struct_size = (uint32_t)sizeof big;
    big.p.model = "/nonexistent-g4plug-dir/none.gguf";
    big.tail[3] = 1;
    CHECK_ERR(a->load(&big.p, &m), G4_ERR_UNSUPPORTED);
    big.tail[3] = 0;
    {
        g4_status st = a->load(&big.p, &m);
        CHECK(st == G4_ERR_IO || st == G4_ERR_NOT_FOUND);
        CHECK(m == NULL);
    }
    a->model_free(NULL);
    a->session_free(NULL);
    a->sampler_free(NULL);

    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    CHECK_ERR(a->model_get_info(NULL, &info), G4_ERR_INVALID_ARGUMENT);
    s = NULL;
    CHECK_ERR(a->session_new(NULL, NULL, &s), G4_ERR_INVALID_ARGUMENT);
    CHECK(s == NULL);
    a->batch_init(&batch);
    CHECK(batch.struct_size == sizeof batch);
    CHECK_ERR(a->step(NULL, &batch), G4_ERR_INVALID_ARGUMENT);
    CHECK_ERR(a->tokenize(NULL, "x", 1, 0, &tok, 1, &n), G4_ERR_INVALID_ARGUMENT);
    CHECK_ERR(a->chat_format(NULL, NULL, 1, 0, buf, sizeof buf, &n), G4_ERR_INVALID_ARGUMENT);
    CHECK_ERR(a->chat_format(NULL, NULL, 0, 0, buf, sizeof buf, NULL), G4_ERR_INVALID_ARGUMENT);
    CHECK_ERR(a->draft(NULL, 0, 4, &tok, &n_out), G4_ERR_INVALID_ARGUMENT);
    CHECK_ERR(a->generate(NULL, NULL, NULL), G4_ERR_INVALID_ARGUMENT);
    CHECK_ERR(a->manifest_check(NULL, 0), G4_ERR_INVALID_ARGUMENT);
    CHECK_ERR(a->session_capture_layers(NULL, 1), G4_ERR_INVALID_ARGUMENT);
    CHECK(a->logits(NULL, 0) == NULL);
    CHECK(a->captured_layer(NULL, 0, 0) == NULL);

    /* Sampler: needs no model. */
    smp = NULL;
    a->sampler_params_init(&spp);
    CHECK(spp.struct_size == sizeof spp);
    spp.struct_size = 0;
    CHECK_ERR(a->sampler_new(&spp, &smp), G4_ERR_INVALID_ARGUMENT);
    CHECK(smp == NULL);
    a->sampler_params_init(&spp);
    CHECK_ERR(a->sampler_new(&spp, NULL), G4_ERR_INVALID_ARGUMENT);
    spp.temperature = 0.0f; /* greedy */
    CHECK_ERR(a->sampler_new(&spp, &smp), G4_OK);
    if (smp) {
        lg3[0] = 0.5f;
        lg3[1] = 2.0f;
        lg3[2] = -1.0f;
        tok = -1;
        CHECK_ERR(a->sampler_sample(smp, lg3, 3, &tok), G4_OK);
        CHECK(tok == 1);
        CHECK_ERR(a->sampler_sample(smp, NULL, 3, &tok), G4_ERR_INVALID_ARGUMENT);
        CHECK_ERR(a->sampler_accept(smp, tok), G4_OK);
        CHECK_ERR(a->sampler_reset(smp), G4_OK);
        a->sampler_free(smp);
    }

    model = find_model(argc, argv, buf, sizeof buf);
    if (model)
        model_checks(a, model);
    else
        printf("abi_host: model checks skipped (no fixture model; set G4_FIXTURES)\n");

    printf("abi_host: %d passed, %d failed\n", n_pass, n_fail);
    /* No dlclose: a library with worker threads may still be winding down; the OS unloads. */
    return n_fail ? 1 : 0;
}
