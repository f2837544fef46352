/* ABI misuse: every entry point with NULLs, wrong struct_size, out-of-range tokens, bad spans,
 * context overflow, bad truncation, missing drafter/projector, bad sample rates, huge images,
 * invalid UTF-8 and calls after reset. Each must return its documented status with a non-empty
 * g4_last_error() and leave the object as it was; nothing may crash.
 *
 * Freed handles are not tested: using a handle after its *_free is undefined behaviour, like
 * free() (docs/RELIABILITY.md, "Handle validation"). */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "g4plug.h"
#include "gguf/gguf.h"
#include "media/mmproj.h"
#include "t.h"

/* status and a non-empty message */
#define EXPECT(call, want)                                                                         \
    do {                                                                                           \
        g4_status st_ = (call);                                                                    \
        const char *e_ = g4_last_error();                                                          \
        CHECK(st_ == (want) && e_ && e_[0], "%s -> %s (want %s), last error '%s'", #call,          \
              g4_status_name(st_), g4_status_name(want), e_ ? e_ : "(null)");                      \
    } while (0)
#define EXPECT_OK(call)                                                                            \
    do {                                                                                           \
        g4_status st_ = (call);                                                                    \
        CHECK(st_ == G4_OK, "%s -> %s: %s", #call, g4_status_name(st_), g4_last_error());          \
    } while (0)

static char model_path[1024], mmproj_path[1024], draft_path[1024], tmpl_path[1024];

static g4_model *load(const char *path, const char *mmproj, const char *draft, uint32_t flags)
{
    g4_load_params p;
    g4_load_params_init(&p);
    p.model = path;
    p.mmproj = mmproj;
    p.draft = draft;
    p.flags = flags;
    p.n_threads = 1;
    g4_model *m = NULL;
    g4_status st = g4_load(&p, &m);
    if (st != G4_OK)
        fprintf(stderr, "load %s: %s\n", path, g4_last_error());
    return m;
}

/* ---- versioning, errors, the table ------------------------------------------------------- */
static void test_static(void)
{
    CHECK(g4_abi_version() >> 16 == G4_ABI_VERSION_MAJOR, "abi version %x", g4_abi_version());
    CHECK(g4_version_string() && g4_version_string()[0], "version string");
    CHECK(g4_last_error() != NULL, "last error never NULL");
    const int32_t codes[] = {0, -1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12, -13, 1, 12345,
                             INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *n = g4_status_name(codes[i]);
        CHECK(n && n[0], "g4_status_name(%d)", codes[i]);
    }
    const void *tbl = NULL;
    EXPECT(g4_get_api(1, NULL), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_get_api(0, &tbl), G4_ERR_UNSUPPORTED);
    EXPECT(g4_get_api(2, &tbl), G4_ERR_UNSUPPORTED);
    EXPECT(g4_get_api(UINT32_MAX, &tbl), G4_ERR_UNSUPPORTED);
    EXPECT_OK(g4_get_api(1, &tbl));
    const g4_api_v1 *api = tbl;
    CHECK(api && api->struct_size >= sizeof *api, "table struct_size");
    if (api) {
        /* every member after the two header words is a function pointer */
        const char *b = (const char *)api + offsetof(g4_api_v1, abi_version_fn);
        size_t n = (sizeof *api - offsetof(g4_api_v1, abi_version_fn)) / sizeof(void (*)(void));
        for (size_t i = 0; i < n; i++) {
            void (*f)(void);
            memcpy(&f, b + i * sizeof f, sizeof f);
            CHECK(f != NULL, "table member %zu is NULL", i);
        }
    }
    /* *_init with NULL and *_free with NULL are no-ops */
    g4_load_params_init(NULL);
    g4_session_params_init(NULL);
    g4_image_options_init(NULL);
    g4_batch_init(NULL);
    g4_sampler_params_init(NULL);
    g4_generate_params_init(NULL);
    g4_model_free(NULL);
    g4_session_free(NULL);
    g4_sampler_free(NULL);
    g4_session_cancel(NULL);
    EXPECT(g4_manifest_check(NULL, 0), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_manifest_check(NULL, 10), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_manifest_check("{", 1), G4_ERR_FORMAT);
    EXPECT(g4_manifest_check("{}", 0), G4_ERR_FORMAT);
}

/* ---- g4_load -------------------------------------------------------------------------------- */
static void test_load(void)
{
    g4_model *m = (g4_model *)(uintptr_t)1; /* must be reset to NULL on failure */
    g4_load_params p;
    g4_load_params_init(&p);
    p.model = model_path;
    EXPECT(g4_load(&p, NULL), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_load(NULL, &m), G4_ERR_INVALID_ARGUMENT);
    CHECK(m == NULL, "g4_load failure leaves *out NULL");
    /* struct_size: 0, too small, larger with a non-zero tail, larger with a zero tail */
    struct {
        g4_load_params p;
        uint64_t tail[4];
    } big;
    memset(&big, 0, sizeof big);
    big.p = p;
    big.p.struct_size = 0;
    EXPECT(g4_load(&big.p, &m), G4_ERR_INVALID_ARGUMENT);
    big.p.struct_size = 8;
    EXPECT(g4_load(&big.p, &m), G4_ERR_INVALID_ARGUMENT);
    /* one byte short of the 1.0 layout (ends with max_memory; 1.1 appended mm_precision, so
     * sizeof - 1 is now a valid 1.0 + part-of-1.1 size) */
    big.p.struct_size = (uint32_t)(offsetof(g4_load_params, max_memory) + sizeof big.p.max_memory - 1);
    EXPECT(g4_load(&big.p, &m), G4_ERR_INVALID_ARGUMENT);
    big.p.struct_size = (uint32_t)sizeof big;
    big.tail[2] = 7;
    EXPECT(g4_load(&big.p, &m), G4_ERR_UNSUPPORTED);
    CHECK(m == NULL, "no model on failure");
    big.tail[2] = 0;
    big.p.n_threads = 1;
    EXPECT_OK(g4_load(&big.p, &m));
    g4_model_free(m);
    m = NULL;

    g4_load_params q = p;
    q.model = NULL;
    EXPECT(g4_load(&q, &m), G4_ERR_INVALID_ARGUMENT);
    q.model = "";
    EXPECT(g4_load(&q, &m), G4_ERR_INVALID_ARGUMENT);
    q = p;
    q.n_threads = -1;
    EXPECT(g4_load(&q, &m), G4_ERR_INVALID_ARGUMENT);
    q = p;
    q.n_ctx = -1;
    EXPECT(g4_load(&q, &m), G4_ERR_INVALID_ARGUMENT);
    q = p;
    q.flags = 0x80000000u;
    EXPECT(g4_load(&q, &m), G4_ERR_INVALID_ARGUMENT);
    q = p;
    q.model = "/nonexistent/dir/model.gguf";
    g4_status st = g4_load(&q, &m);
    CHECK((st == G4_ERR_IO || st == G4_ERR_NOT_FOUND) && g4_last_error()[0] && !m,
          "missing file -> %s", g4_status_name(st));
    q.model = tmpl_path; /* a text file, not a GGUF */
    st = g4_load(&q, &m);
    CHECK((st == G4_ERR_FORMAT || st == G4_ERR_NOT_FOUND) && g4_last_error()[0] && !m,
          "non-GGUF file -> %s", g4_status_name(st));
    q = p;
    q.mmproj = "/nonexistent/mmproj.gguf";
    st = g4_load(&q, &m);
    CHECK(st != G4_OK ? g4_last_error()[0] != 0 : 1, "missing mmproj -> %s", g4_status_name(st));
    if (st != G4_OK)
        CHECK(m == NULL, "no model on failure");
    if (st == G4_OK)
        fprintf(stderr, "note: a missing mmproj path is ignored by g4_load (not an error)\n");
    g4_model_free(m);
    m = NULL;
    q = p;
    q.draft = "/nonexistent/draft.gguf";
    st = g4_load(&q, &m);
    CHECK(st != G4_OK ? g4_last_error()[0] != 0 : 1, "missing drafter -> %s", g4_status_name(st));
    if (st == G4_OK)
        fprintf(stderr, "note: a missing draft path is ignored by g4_load (not an error)\n");
    g4_model_free(m);
    m = NULL;
    /* the drafter given as the main model: refused (wrong architecture), never loaded */
    q = p;
    q.model = draft_path;
    st = g4_load(&q, &m);
    CHECK(st != G4_OK && g4_last_error()[0] && !m, "drafter as model -> %s", g4_status_name(st));
    g4_model_free(m);
}

/* ---- model queries and vocabulary ----------------------------------------------------------- */
static void test_model(g4_model *m)
{
    g4_model_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    EXPECT(g4_model_get_info(NULL, &info), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_model_get_info(m, NULL), G4_ERR_INVALID_ARGUMENT);
    info.struct_size = 0;
    EXPECT(g4_model_get_info(m, &info), G4_ERR_INVALID_ARGUMENT);
    info.struct_size = 12;
    EXPECT(g4_model_get_info(m, &info), G4_ERR_INVALID_ARGUMENT);
    struct {
        g4_model_info i;
        uint8_t tail[16];
    } big;
    memset(&big, 0, sizeof big);
    big.i.struct_size = sizeof big;
    EXPECT_OK(g4_model_get_info(m, &big.i));
    int untouched = 1;
    for (size_t i = 0; i < sizeof big.tail; i++)
        untouched &= big.tail[i] == 0;
    CHECK(untouched, "g4_model_get_info wrote past the struct it knows");
    CHECK(big.i.n_vocab > 0 && big.i.n_embd > 0, "info n_vocab %d", big.i.n_vocab);

    size_t len = 0;
    char buf[8];
    EXPECT(g4_model_meta(NULL, "general.architecture", buf, sizeof buf, &len), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_model_meta(m, NULL, buf, sizeof buf, &len), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_model_meta(m, "general.architecture", buf, sizeof buf, NULL), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_model_meta(m, "general.architecture", NULL, 5, &len), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_model_meta(m, "no.such.key", buf, sizeof buf, &len), G4_ERR_NOT_FOUND);
    EXPECT(g4_model_meta(m, "general.architecture", buf, 3, &len), G4_ERR_BUFFER_TOO_SMALL);
    CHECK(len == 6 && buf[2] == 0, "meta truncation: len %zu", len);
    EXPECT(g4_model_meta(m, "tokenizer.ggml.tokens", buf, sizeof buf, &len), G4_ERR_BUFFER_TOO_SMALL);

    const int32_t nv = g4_vocab_size(m);
    CHECK(nv == big.i.n_vocab, "vocab size %d", nv);
    CHECK(g4_vocab_size(NULL) <= 0, "vocab size of NULL");
    CHECK(g4_chat_template(NULL) == NULL, "template of NULL");
    CHECK(g4_token_id(NULL, G4_TOKEN_BOS) == -1, "token id of NULL model");
    /* 11 is G4_TOKEN_VIDEO_SOFT since ABI 1.1: 12 is the first unknown */
    const int32_t bad_which[] = {-1, 12, 1000, INT32_MAX, INT32_MIN};
    for (size_t i = 0; i < 5; i++)
        CHECK(g4_token_id(m, bad_which[i]) == -1, "token id %d", bad_which[i]);
    const int32_t bad_tok[] = {-1, nv, INT32_MAX, INT32_MIN};
    for (size_t i = 0; i < 4; i++) {
        CHECK(g4_token_is_eog(m, bad_tok[i]) == 0, "eog of %d", bad_tok[i]);
        EXPECT(g4_token_to_piece(m, bad_tok[i], 0, buf, sizeof buf, &len), G4_ERR_INVALID_ARGUMENT);
        EXPECT(g4_detokenize(m, &bad_tok[i], 1, 0, buf, sizeof buf, &len), G4_ERR_INVALID_ARGUMENT);
    }
    CHECK(g4_token_is_eog(NULL, 1) == 0, "eog of NULL model");

    /* tokenize */
    int32_t ids[64];
    size_t n = 0;
    EXPECT(g4_tokenize(NULL, "hi", 2, 0, ids, 64, &n), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_tokenize(m, NULL, 2, 0, ids, 64, &n), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_tokenize(m, "hi", 2, 0, ids, 64, NULL), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_tokenize(m, "hi", 2, 0x40, ids, 64, &n), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_tokenize(m, "hello world", 11, 0, ids, 0, &n), G4_ERR_BUFFER_TOO_SMALL);
    CHECK(n >= 2, "sizing call reports %zu", n);
    n = 99;
    EXPECT_OK(g4_tokenize(m, NULL, 0, 0, NULL, 0, &n)); /* empty text with NULL is fine */
    CHECK(n == 0, "empty text gives %zu tokens", n);
    /* invalid UTF-8 is tokenized byte by byte, never an error, and round-trips */
    static const char bad_utf8[][8] = {"\xff", "\xc3", "a\xe2\x82", "\xf0\x9f\x98", "\xed\xa0\x80",
                                       "\xc0\xaf", "\xf8\x88\x80\x80\x80", "\x80\x80x"};
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
        size_t bl = strlen(bad_utf8[i]);
        g4_status st = g4_tokenize(m, bad_utf8[i], bl, 0, ids, 64, &n);
        CHECK(st == G4_OK && n > 0, "bad UTF-8 #%zu -> %s", i, g4_status_name(st));
        int in_range = 1;
        for (size_t k = 0; st == G4_OK && k < n; k++)
            in_range &= ids[k] >= 0 && ids[k] < nv;
        CHECK(in_range, "bad UTF-8 #%zu ids in range", i);
        char back[32];
        size_t blen = 0;
        st = g4_detokenize(m, ids, n, 0, back, sizeof back, &blen);
        CHECK(st == G4_OK && blen == bl && memcmp(back, bad_utf8[i], bl) == 0, "bad UTF-8 #%zu round trip", i);
    }
    /* an embedded NUL is text like any other byte */
    EXPECT_OK(g4_tokenize(m, "a\0b", 3, 0, ids, 64, &n));
    /* detokenize */
    ids[0] = 100;
    EXPECT(g4_detokenize(NULL, ids, 1, 0, buf, sizeof buf, &len), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_detokenize(m, NULL, 1, 0, buf, sizeof buf, &len), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_detokenize(m, ids, 1, 0, buf, sizeof buf, NULL), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_token_to_piece(NULL, 100, 0, buf, sizeof buf, &len), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_token_to_piece(m, 100, 0, buf, sizeof buf, NULL), G4_ERR_INVALID_ARGUMENT);

    /* chat format */
    g4_chat_message msg[2] = {{"user", "hi"}, {"model", "yo"}};
    EXPECT(g4_chat_format(m, msg, 2, 0, buf, sizeof buf, NULL), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_chat_format(m, NULL, 2, 0, buf, sizeof buf, &len), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_chat_format(m, msg, 2, 0x100, buf, sizeof buf, &len), G4_ERR_INVALID_ARGUMENT);
    g4_chat_message bad[3] = {{NULL, "x"}, {"user", NULL}, {"tool", "x"}};
    for (int i = 0; i < 3; i++)
        EXPECT(g4_chat_format(m, &bad[i], 1, 0, buf, sizeof buf, &len), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_chat_format(m, msg, 2, 0, buf, 4, &len), G4_ERR_BUFFER_TOO_SMALL);
    CHECK(buf[3] == 0 && len > 4, "chat truncation terminated, len %zu", len);
    EXPECT(g4_chat_format(m, msg, 2, 0, NULL, 100, &len), G4_ERR_BUFFER_TOO_SMALL);
    EXPECT_OK(g4_chat_format(NULL, NULL, 0, 0, buf, sizeof buf, &len)); /* "<bos>" */
}

/* ---- multimodal: through the ABI when the model exposes its projector, else through the
 * g4_embed_*_mm entry points the ABI calls (same checks, same statuses) ----------------------- */
typedef struct mm {
    const g4_model *m;  /* ABI path */
    const g4_mmproj *p; /* internal path */
} mm;

static g4_status emb_img(const mm *x, const uint8_t *rgb, int32_t w, int32_t h, size_t stride,
                         const g4_image_options *o, float *out, size_t cap, size_t *n)
{
    return x->m ? g4_embed_image(x->m, rgb, w, h, stride, o, out, cap, n)
                : g4_embed_image_mm(x->p, NULL, rgb, w, h, stride, o, out, cap, n);
}
static g4_status emb_aud(const mm *x, const float *s, size_t ns, int32_t rate, float *out, size_t cap,
                         size_t *n)
{
    return x->m ? g4_embed_audio(x->m, s, ns, rate, out, cap, n)
                : g4_embed_audio_mm(x->p, NULL, s, ns, rate, out, cap, n);
}
static g4_status emb_img_file(const mm *x, const void *b, size_t size, float *out, size_t cap, size_t *n)
{
    return x->m ? g4_embed_image_file(x->m, b, size, NULL, out, cap, n)
                : g4_embed_image_file_mm(x->p, NULL, b, size, NULL, out, cap, n);
}
static g4_status emb_aud_file(const mm *x, const void *b, size_t size, float *out, size_t cap, size_t *n)
{
    return x->m ? g4_embed_audio_file(x->m, b, size, out, cap, n)
                : g4_embed_audio_file_mm(x->p, NULL, b, size, out, cap, n);
}

static void test_mm_misuse(const mm *x, int n_embd)
{
    static uint8_t rgb[64 * 48 * 3];
    static float pcm[16000];
    size_t n = 0;
    float out[4];
    for (size_t i = 0; i < sizeof rgb; i++)
        rgb[i] = (uint8_t)(i * 7);
    for (int i = 0; i < 16000; i++)
        pcm[i] = 0.5f * sinf((float)i * 0.05f);
    EXPECT(emb_img(x, rgb, 64, 48, 192, NULL, NULL, 0, NULL), G4_ERR_INVALID_ARGUMENT);
    EXPECT(emb_img(x, NULL, 64, 48, 192, NULL, NULL, 0, &n), G4_ERR_INVALID_ARGUMENT);
    const int32_t dims[][2] = {{0, 48}, {64, 0}, {-1, 48}, {64, -5}, {INT32_MAX, 1}, {1, INT32_MAX},
                               {40000, 1}, {32768, 32768}, {INT32_MIN, INT32_MIN}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        EXPECT(emb_img(x, rgb, dims[i][0], dims[i][1], (size_t)3 * 40000, NULL, NULL, 0, &n),
               G4_ERR_INVALID_ARGUMENT);
    EXPECT(emb_img(x, rgb, 64, 48, 191, NULL, NULL, 0, &n), G4_ERR_INVALID_ARGUMENT);
    g4_image_options o;
    g4_image_options_init(&o);
    o.max_soft_tokens = 71;
    EXPECT(emb_img(x, rgb, 64, 48, 192, &o, NULL, 0, &n), G4_ERR_INVALID_ARGUMENT);
    o.max_soft_tokens = -280;
    EXPECT(emb_img(x, rgb, 64, 48, 192, &o, NULL, 0, &n), G4_ERR_INVALID_ARGUMENT);
    g4_image_options_init(&o);
    o.struct_size = 0;
    EXPECT(emb_img(x, rgb, 64, 48, 192, &o, NULL, 0, &n), G4_ERR_INVALID_ARGUMENT);
    o.struct_size = 4;
    EXPECT(emb_img(x, rgb, 64, 48, 192, &o, NULL, 0, &n), G4_ERR_INVALID_ARGUMENT);
    struct {
        g4_image_options o;
        uint32_t tail[2];
    } big = {{sizeof big, 70}, {0, 1}};
    EXPECT(emb_img(x, rgb, 64, 48, 192, &big.o, NULL, 0, &n), G4_ERR_UNSUPPORTED);
    big.tail[1] = 0;
    EXPECT_OK(emb_img(x, rgb, 64, 48, 192, &big.o, NULL, 0, &n));
    CHECK(n > 0, "image sizing call: %zu tokens", n);
    EXPECT(emb_img(x, rgb, 64, 48, 192, &big.o, out, sizeof out / sizeof *out, &n), G4_ERR_BUFFER_TOO_SMALL);
    /* a buffer one float short of n_tokens * n_embd */
    size_t need = n * (size_t)n_embd;
    float *big_out = malloc(need * sizeof *big_out);
    EXPECT(emb_img(x, rgb, 64, 48, 192, &big.o, big_out, need - 1, &n), G4_ERR_BUFFER_TOO_SMALL);
    EXPECT_OK(emb_img(x, rgb, 64, 48, 192, &big.o, big_out, need, &n));
    free(big_out);

    /* audio: rates outside 4 kHz..384 kHz */
    const int32_t rates[] = {0, 1000, 1000000, -16000, INT32_MAX, INT32_MIN, 3999, 384001};
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++)
        EXPECT(emb_aud(x, pcm, 16000, rates[i], NULL, 0, &n), G4_ERR_INVALID_ARGUMENT);
    EXPECT(emb_aud(x, NULL, 16000, 16000, NULL, 0, &n), G4_ERR_INVALID_ARGUMENT);
    EXPECT(emb_aud(x, pcm, 0, 16000, NULL, 0, &n), G4_ERR_INVALID_ARGUMENT);
    EXPECT(emb_aud(x, pcm, 16000, 16000, NULL, 0, NULL), G4_ERR_INVALID_ARGUMENT);
    EXPECT(emb_aud(x, pcm, SIZE_MAX, 16000, NULL, 0, &n), G4_ERR_INVALID_ARGUMENT);
    EXPECT_OK(emb_aud(x, pcm, 16000, 16000, NULL, 0, &n));
    CHECK(n > 0, "audio sizing: %zu", n);
    EXPECT(emb_aud(x, pcm, 16000, 16000, out, 1, &n), G4_ERR_BUFFER_TOO_SMALL);
    /* 4 kHz and 384 kHz are the inclusive edges */
    EXPECT_OK(emb_aud(x, pcm, 16000, 4000, NULL, 0, &n));
    EXPECT_OK(emb_aud(x, pcm, 16000, 384000, NULL, 0, &n));

    /* files */
    static const uint8_t junk[] = "this is not an image or a sound";
    static const uint8_t png_head[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                       0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 8, 2, 0, 0, 0};
    static const uint8_t jpg_head[] = {0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0};
    EXPECT(emb_img_file(x, NULL, 10, NULL, 0, &n), G4_ERR_INVALID_ARGUMENT);
    EXPECT(emb_img_file(x, junk, 0, NULL, 0, &n), G4_ERR_INVALID_ARGUMENT);
    EXPECT(emb_img_file(x, junk, sizeof junk, NULL, 0, &n), G4_ERR_FORMAT);
    EXPECT(emb_img_file(x, junk, sizeof junk, NULL, 0, NULL), G4_ERR_INVALID_ARGUMENT);
    g4_status st = emb_img_file(x, png_head, sizeof png_head, NULL, 0, &n);
    CHECK((st == G4_ERR_FORMAT || st == G4_ERR_INVALID_ARGUMENT || st == G4_ERR_UNSUPPORTED) && g4_last_error()[0],
          "PNG header claiming 2^31 x 2^31 -> %s", g4_status_name(st));
    st = emb_img_file(x, jpg_head, sizeof jpg_head, NULL, 0, &n);
    CHECK((st == G4_ERR_FORMAT || st == G4_ERR_UNSUPPORTED) && g4_last_error()[0], "truncated JPEG -> %s",
          g4_status_name(st));
    EXPECT(emb_aud_file(x, NULL, 10, NULL, 0, &n), G4_ERR_INVALID_ARGUMENT);
    EXPECT(emb_aud_file(x, junk, sizeof junk, NULL, 0, &n), G4_ERR_FORMAT);
    EXPECT(emb_aud_file(x, "fLaC\0\0\0\0", 8, NULL, 0, &n), G4_ERR_UNSUPPORTED);
    /* a WAV at 1 kHz: decodes, but the rate is refused */
    uint8_t wav[44 + 200] = "RIFF";
    uint32_t v32;
    uint16_t v16;
#define P32(off, v) (v32 = (uint32_t)(v), memcpy(wav + (off), &v32, 4))
#define P16(off, v) (v16 = (uint16_t)(v), memcpy(wav + (off), &v16, 2))
    P32(4, sizeof wav - 8);
    memcpy(wav + 8, "WAVEfmt ", 8);
    P32(16, 16), P16(20, 1), P16(22, 1), P32(24, 1000), P32(28, 2000), P16(32, 2), P16(34, 16);
    memcpy(wav + 36, "data", 4);
    P32(40, 200);
    /* the rate comes from the file, not the caller: refused as unsupported content */
    st = emb_aud_file(x, wav, sizeof wav, NULL, 0, &n);
    CHECK((st == G4_ERR_UNSUPPORTED || st == G4_ERR_INVALID_ARGUMENT || st == G4_ERR_FORMAT) &&
              g4_last_error()[0], "1 kHz WAV -> %s", g4_status_name(st));
}

/* ---- sessions and steps --------------------------------------------------------------------- */
static int same_logits(const float *a, const float *b, int n)
{
    return a && b && memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

static g4_session *new_session(const g4_model *m, int32_t n_ctx)
{
    g4_session_params sp;
    g4_session_params_init(&sp);
    sp.n_ctx = n_ctx;
    sp.n_threads = 1;
    g4_session *s = NULL;
    if (g4_session_new(m, &sp, &s) != G4_OK)
        fprintf(stderr, "session: %s\n", g4_last_error());
    return s;
}

static g4_status step(g4_session *s, const int32_t *tok, int32_t n)
{
    g4_batch b;
    g4_batch_init(&b);
    b.tokens = tok;
    b.n_tokens = n;
    return g4_step(s, &b);
}

static void test_sessions(g4_model *m)
{
    const int32_t nv = g4_vocab_size(m);
    g4_model_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    g4_model_get_info(m, &info);
    const int d = info.n_embd;
    g4_session *s = (g4_session *)(uintptr_t)1;
    g4_session_params sp;
    g4_session_params_init(&sp);
    EXPECT(g4_session_new(m, &sp, NULL), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_session_new(NULL, &sp, &s), G4_ERR_INVALID_ARGUMENT);
    CHECK(s == NULL, "failed session_new leaves *out NULL");
    struct {
        g4_session_params p;
        uint32_t tail[3];
    } big = {{0}, {0}};
    big.p = sp;
    big.p.struct_size = 0;
    EXPECT(g4_session_new(m, &big.p, &s), G4_ERR_INVALID_ARGUMENT);
    big.p.struct_size = 4;
    EXPECT(g4_session_new(m, &big.p, &s), G4_ERR_INVALID_ARGUMENT);
    big.p.struct_size = sizeof big;
    big.tail[1] = 1;
    EXPECT(g4_session_new(m, &big.p, &s), G4_ERR_UNSUPPORTED);
    big.tail[1] = 0;
    big.p.n_threads = 1;
    EXPECT_OK(g4_session_new(m, &big.p, &s));
    g4_session_free(s);
    s = NULL;
    g4_session_params q = sp;
    q.n_ctx = -1;
    EXPECT(g4_session_new(m, &q, &s), G4_ERR_INVALID_ARGUMENT);
    q = sp;
    q.n_threads = -3;
    EXPECT(g4_session_new(m, &q, &s), G4_ERR_INVALID_ARGUMENT);
    q = sp;
    q.flags = 1;
    EXPECT(g4_session_new(m, &q, &s), G4_ERR_INVALID_ARGUMENT);
    q = sp;
    q.n_ctx = INT32_MAX; /* far beyond what memory allows: an error, not a crash */
    g4_status st = g4_session_new(m, &q, &s);
    CHECK(st == G4_OK || ((st == G4_ERR_OUT_OF_MEMORY || st == G4_ERR_INVALID_ARGUMENT) && g4_last_error()[0]),
          "n_ctx INT32_MAX -> %s", g4_status_name(st));
    g4_session_free(s);
    s = NULL;

    /* NULL session everywhere */
    EXPECT(g4_session_reset(NULL), G4_ERR_INVALID_ARGUMENT);
    CHECK(g4_session_n_past(NULL) == -1 && g4_last_error()[0], "n_past(NULL)");
    CHECK(g4_session_n_ctx(NULL) == -1 && g4_last_error()[0], "n_ctx(NULL)");
    CHECK(g4_session_min_rollback(NULL) == -1 && g4_last_error()[0], "min_rollback(NULL)");
    EXPECT(g4_session_truncate(NULL, 0), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_session_capture_layers(NULL, 1), G4_ERR_INVALID_ARGUMENT);
    CHECK(g4_logits(NULL, 0) == NULL && g4_hidden(NULL, 0) == NULL && g4_captured_layer(NULL, 0, 0) == NULL,
          "outputs of NULL");
    g4_batch b;
    g4_batch_init(&b);
    int32_t toks[8] = {2, 100, 200, 300, 400, 500, 600, 700};
    b.tokens = toks;
    b.n_tokens = 4;
    EXPECT(g4_step(NULL, &b), G4_ERR_INVALID_ARGUMENT);
    int32_t dtok[4];
    int32_t nd = 0;
    EXPECT(g4_draft(NULL, 1, 4, dtok, &nd), G4_ERR_INVALID_ARGUMENT);
    g4_generate_params gp;
    g4_generate_params_init(&gp);
    EXPECT(g4_generate(NULL, &gp, NULL), G4_ERR_INVALID_ARGUMENT);

    const int32_t n_ctx = 16;
    s = new_session(m, n_ctx);
    g4_session *ref = new_session(m, n_ctx);
    CHECK(s && ref, "sessions");
    if (!s || !ref) {
        g4_session_free(s);
        g4_session_free(ref);
        return;
    }
    CHECK(g4_session_n_ctx(s) == n_ctx, "n_ctx %d", g4_session_n_ctx(s));
    EXPECT(g4_step(s, NULL), G4_ERR_INVALID_ARGUMENT);
    /* batch struct_size */
    struct {
        g4_batch b;
        uint32_t tail[2];
    } bb = {{0}, {0}};
    bb.b = b;
    bb.b.struct_size = 0;
    EXPECT(g4_step(s, &bb.b), G4_ERR_INVALID_ARGUMENT);
    bb.b.struct_size = sizeof(g4_batch) - 4;
    EXPECT(g4_step(s, &bb.b), G4_ERR_INVALID_ARGUMENT);
    bb.b.struct_size = sizeof bb;
    bb.tail[0] = 9;
    EXPECT(g4_step(s, &bb.b), G4_ERR_UNSUPPORTED);
    CHECK(g4_session_n_past(s) == 0, "n_past after refused steps");
    /* batch shape */
    g4_batch c = b;
    c.n_tokens = 0;
    EXPECT(g4_step(s, &c), G4_ERR_INVALID_ARGUMENT);
    c.n_tokens = -1;
    EXPECT(g4_step(s, &c), G4_ERR_INVALID_ARGUMENT);
    c.n_tokens = INT32_MIN;
    EXPECT(g4_step(s, &c), G4_ERR_INVALID_ARGUMENT);
    c = b;
    c.tokens = NULL;
    EXPECT(g4_step(s, &c), G4_ERR_INVALID_ARGUMENT);
    /* out-of-range tokens, at the first and the last position */
    const int32_t bad_tok[] = {-1, nv, INT32_MAX, INT32_MIN};
    for (size_t i = 0; i < 4; i++)
        for (int at = 0; at < 4; at += 3) {
            int32_t t2[4] = {2, 100, 200, 300};
            t2[at] = bad_tok[i];
            c = b;
            c.tokens = t2;
            EXPECT(g4_step(s, &c), G4_ERR_INVALID_ARGUMENT);
        }
    CHECK(g4_session_n_past(s) == 0, "n_past after bad tokens");
    /* spans */
    float *emb = calloc((size_t)8 * d, sizeof *emb);
    g4_embd_span sp2[2] = {{1, 2, G4_SPAN_IMAGE, 0, emb}, {3, 1, G4_SPAN_AUDIO, 0, emb}};
    c = b;
    c.spans = sp2;
    c.n_spans = -1;
    EXPECT(g4_step(s, &c), G4_ERR_INVALID_ARGUMENT);
    c.n_spans = 1;
    c.spans = NULL;
    EXPECT(g4_step(s, &c), G4_ERR_INVALID_ARGUMENT);
    const g4_embd_span bad_spans[][2] = {
        {{4, 1, G4_SPAN_IMAGE, 0, emb}},          /* starts at n_tokens */
        {{3, 2, G4_SPAN_IMAGE, 0, emb}},          /* runs past the batch */
        {{-1, 2, G4_SPAN_IMAGE, 0, emb}},         /* negative first */
        {{1, 0, G4_SPAN_IMAGE, 0, emb}},          /* empty */
        {{1, -2, G4_SPAN_AUDIO, 0, emb}},         /* negative n */
        {{1, INT32_MAX, G4_SPAN_AUDIO, 0, emb}},  /* overflowing end */
        {{INT32_MAX, 1, G4_SPAN_AUDIO, 0, emb}},  /* overflowing first */
        {{1, 1, 0, 0, emb}},                      /* unknown kind */
        {{1, 1, 4, 0, emb}},                      /* (3 is G4_SPAN_VIDEO since ABI 1.1) */
        {{1, 1, G4_SPAN_IMAGE, 0, NULL}},         /* no embeddings */
    };
    for (size_t i = 0; i < sizeof bad_spans / sizeof bad_spans[0]; i++) {
        c = b;
        c.spans = bad_spans[i];
        c.n_spans = 1;
        EXPECT(g4_step(s, &c), G4_ERR_INVALID_ARGUMENT);
    }
    const g4_embd_span pairs[][2] = {
        {{1, 2, G4_SPAN_IMAGE, 0, emb}, {2, 1, G4_SPAN_AUDIO, 0, emb}}, /* overlapping */
        {{2, 1, G4_SPAN_IMAGE, 0, emb}, {0, 1, G4_SPAN_AUDIO, 0, emb}}, /* unsorted */
        {{1, 1, G4_SPAN_IMAGE, 0, emb}, {1, 1, G4_SPAN_IMAGE, 0, emb}}, /* duplicate */
        {{0, 1, G4_SPAN_IMAGE, 0, emb}, {3, 2, G4_SPAN_AUDIO, 0, emb}}, /* second past the end */
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        c = b;
        c.spans = pairs[i];
        c.n_spans = 2;
        EXPECT(g4_step(s, &c), G4_ERR_INVALID_ARGUMENT);
    }
    CHECK(g4_session_n_past(s) == 0, "n_past after bad spans");
    /* a good span batch still works after all that */
    c = b;
    c.spans = sp2;
    c.n_spans = 2;
    EXPECT_OK(g4_step(s, &c));
    CHECK(g4_session_n_past(s) == 4, "n_past %d", g4_session_n_past(s));
    EXPECT_OK(g4_session_reset(s));
    free(emb);

    /* outputs by bad index */
    EXPECT_OK(step(s, toks, 4));
    CHECK(g4_logits(s, 3) != NULL, "logits of the last row");
    CHECK(g4_logits(s, -1) == NULL && g4_logits(s, 4) == NULL && g4_logits(s, INT32_MAX) == NULL &&
              g4_logits(s, INT32_MIN) == NULL && g4_logits(s, 0) == NULL,
          "logits by bad index");
    CHECK(g4_hidden(s, 3) == NULL && g4_hidden(s, -1) == NULL, "hidden not requested");
    CHECK(g4_captured_layer(s, 0, 0) == NULL && g4_captured_layer(s, -1, 0) == NULL &&
              g4_captured_layer(s, INT32_MAX, 0) == NULL,
          "capture not requested");

    /* context overflow: refused, cache and outputs unchanged, next logits identical */
    EXPECT_OK(step(ref, toks, 4));
    EXPECT_OK(step(s, toks, 8));  /* 12 of 16 */
    EXPECT_OK(step(ref, toks, 8));
    int32_t many[64];
    for (int i = 0; i < 64; i++)
        many[i] = 1000 + i;
    const float *before = g4_logits(s, 7);
    float *saved = malloc((size_t)nv * sizeof *saved);
    if (before)
        memcpy(saved, before, (size_t)nv * sizeof *saved);
    EXPECT(step(s, many, 5), G4_ERR_CONTEXT_FULL);
    EXPECT(step(s, many, 64), G4_ERR_CONTEXT_FULL);
    EXPECT(step(s, many, n_ctx + 1), G4_ERR_CONTEXT_FULL);
    CHECK(g4_session_n_past(s) == 12, "n_past after CONTEXT_FULL: %d", g4_session_n_past(s));
    CHECK(before && same_logits(g4_logits(s, 7), saved, nv), "outputs survive a refused step");
    free(saved);
    EXPECT_OK(step(s, many, 4)); /* exactly fills the context */
    EXPECT_OK(step(ref, many, 4));
    CHECK(g4_session_n_past(s) == n_ctx, "full: %d", g4_session_n_past(s));
    CHECK(same_logits(g4_logits(s, 3), g4_logits(ref, 3), nv), "logits after CONTEXT_FULL equal a clean session's");
    EXPECT(step(s, many, 1), G4_ERR_CONTEXT_FULL);
    CHECK(g4_session_n_past(s) == n_ctx, "still full");

    /* truncate */
    EXPECT(g4_session_truncate(s, -1), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_session_truncate(s, INT32_MIN), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_session_truncate(s, n_ctx + 1), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_session_truncate(s, INT32_MAX), G4_ERR_INVALID_ARGUMENT);
    CHECK(g4_session_n_past(s) == n_ctx, "n_past after bad truncates");
    EXPECT_OK(g4_session_truncate(s, 12));
    EXPECT(g4_session_truncate(s, 13), G4_ERR_INVALID_ARGUMENT); /* beyond n_past now */
    CHECK(g4_logits(s, 0) == NULL, "truncate drops outputs");
    EXPECT_OK(g4_session_truncate(ref, 12));
    EXPECT_OK(step(s, many + 10, 2));
    EXPECT_OK(step(ref, many + 10, 2));
    CHECK(same_logits(g4_logits(s, 1), g4_logits(ref, 1), nv), "same logits after truncate");

    /* g4_draft without a drafter; bad arguments first */
    EXPECT(g4_draft(s, 1, 4, NULL, &nd), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_draft(s, 1, 4, dtok, NULL), G4_ERR_INVALID_ARGUMENT);
    nd = 7;
    EXPECT(g4_draft(s, 1, 4, dtok, &nd), G4_ERR_UNSUPPORTED);
    CHECK(nd == 0, "no drafts on failure: %d", nd);
    CHECK(g4_session_n_past(s) == 14, "draft failure keeps n_past");
    /* g4_generate argument checks */
    EXPECT(g4_generate(s, NULL, NULL), G4_ERR_INVALID_ARGUMENT);
    g4_generate_params gb = gp;
    gb.struct_size = 0;
    st = g4_generate(s, &gb, NULL);
    CHECK((st == G4_ERR_INVALID_ARGUMENT || st == G4_ERR_UNSUPPORTED) && g4_last_error()[0],
          "generate struct_size 0 -> %s", g4_status_name(st));
    CHECK(g4_session_n_past(s) == 14, "generate failure keeps n_past");

    /* calls after reset */
    EXPECT_OK(g4_session_reset(s));
    CHECK(g4_session_n_past(s) == 0, "reset n_past");
    CHECK(g4_logits(s, 0) == NULL && g4_logits(s, 1) == NULL && g4_hidden(s, 0) == NULL &&
              g4_captured_layer(s, 0, 0) == NULL,
          "no outputs after reset");
    EXPECT(g4_session_truncate(s, 1), G4_ERR_INVALID_ARGUMENT);
    EXPECT_OK(g4_session_truncate(s, 0));
    CHECK(g4_session_min_rollback(s) == 0, "min_rollback after reset");
    st = g4_draft(s, 1, 4, dtok, &nd);
    CHECK((st == G4_ERR_UNSUPPORTED || st == G4_ERR_STATE) && g4_last_error()[0], "draft after reset -> %s",
          g4_status_name(st));
    EXPECT_OK(g4_session_reset(s)); /* twice is fine */
    g4_session_cancel(s);           /* a cancel with nothing running does not poison the next step */
    EXPECT_OK(step(s, toks, 4));
    g4_session *fresh = new_session(m, n_ctx);
    EXPECT_OK(step(fresh, toks, 4));
    CHECK(same_logits(g4_logits(s, 3), g4_logits(fresh, 3), nv), "after reset == fresh session");
    g4_session_free(fresh);

    /* sampler */
    g4_sampler *smp = (g4_sampler *)(uintptr_t)1;
    g4_sampler_params spp;
    g4_sampler_params_init(&spp);
    EXPECT(g4_sampler_new(&spp, NULL), G4_ERR_INVALID_ARGUMENT);
    spp.struct_size = 0;
    EXPECT(g4_sampler_new(&spp, &smp), G4_ERR_INVALID_ARGUMENT);
    CHECK(smp == NULL, "failed sampler_new leaves *out NULL");
    g4_sampler_params_init(&spp);
    spp.temperature = NAN;
    EXPECT(g4_sampler_new(&spp, &smp), G4_ERR_INVALID_ARGUMENT);
    g4_sampler_params_init(&spp);
    EXPECT_OK(g4_sampler_new(&spp, &smp));
    int32_t tok = -5;
    const float *lg = g4_logits(s, 3);
    EXPECT(g4_sampler_sample(NULL, lg, nv, &tok), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_sampler_sample(smp, NULL, nv, &tok), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_sampler_sample(smp, lg, nv, NULL), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_sampler_sample(smp, lg, 0, &tok), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_sampler_sample(smp, lg, -1, &tok), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_sampler_accept(NULL, 1), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_sampler_accept(smp, -1), G4_ERR_INVALID_ARGUMENT);
    EXPECT(g4_sampler_reset(NULL), G4_ERR_INVALID_ARGUMENT);
    EXPECT_OK(g4_sampler_sample(smp, lg, nv, &tok));
    CHECK(tok >= 0 && tok < nv, "sampled %d", tok);
    g4_sampler_free(smp);

    g4_session_free(s);
    g4_session_free(ref);
}

/* Regressions from fuzzing (fuzz/regress/): the internal calls behind the ABI. Their UB only
 * shows under `make test SAN=1` (UBSan). */
static void test_fuzz_regressions(void)
{
    /* fuzz_image: a 158x20 -> 7x19 resize converted uninitialised weight slots to int */
    uint8_t *src = calloc(3 * 158 * 20, 1), dst[3 * 7 * 19];
    char err[128];
    CHECK(src && g4_image_resize_bicubic(src, 158, 20, 3 * 158, dst, 7, 19, err, sizeof err) == G4_OK,
          "resize 158x20 -> 7x19");
    free(src);
}

int main(void)
{
    const char *fx = t_fixtures();
    snprintf(model_path, sizeof model_path, "%s/gemma4/tiny-gemma4-unified-bf16.gguf", fx);
    snprintf(mmproj_path, sizeof mmproj_path, "%s/gemma4/mmproj-tiny-gemma4-unified-f32.gguf", fx);
    snprintf(draft_path, sizeof draft_path, "%s/gemma4/tiny-gemma4-unified-assistant-bf16.gguf", fx);
    snprintf(tmpl_path, sizeof tmpl_path, "%s/tokenizer/gemma-4-chat-template.jinja", fx);

    test_static();
    test_fuzz_regressions();
    test_load();
    g4_model *m = load(model_path, NULL, NULL, 0);
    CHECK(m != NULL, "load %s", model_path);
    if (m) {
        test_model(m);
        test_sessions(m);
        /* a model without a projector: every embed call is G4_ERR_UNSUPPORTED */
        uint8_t rgb[3 * 4] = {0};
        float pcm[16] = {0};
        size_t n;
        EXPECT(g4_embed_image(m, rgb, 2, 2, 6, NULL, NULL, 0, &n), G4_ERR_UNSUPPORTED);
        EXPECT(g4_embed_audio(m, pcm, 16, 16000, NULL, 0, &n), G4_ERR_UNSUPPORTED);
        EXPECT(g4_embed_image_file(m, rgb, sizeof rgb, NULL, NULL, 0, &n), G4_ERR_UNSUPPORTED);
        EXPECT(g4_embed_audio_file(m, rgb, sizeof rgb, NULL, 0, &n), G4_ERR_UNSUPPORTED);
        EXPECT(g4_embed_image(NULL, rgb, 2, 2, 6, NULL, NULL, 0, &n), G4_ERR_INVALID_ARGUMENT);
        EXPECT(g4_embed_audio(NULL, pcm, 16, 16000, NULL, 0, &n), G4_ERR_INVALID_ARGUMENT);
        EXPECT(g4_embed_image_file(NULL, rgb, sizeof rgb, NULL, NULL, 0, &n), G4_ERR_INVALID_ARGUMENT);
        EXPECT(g4_embed_audio_file(NULL, rgb, sizeof rgb, NULL, 0, &n), G4_ERR_INVALID_ARGUMENT);
        EXPECT(g4_embed_image_mm(NULL, NULL, rgb, 2, 2, 6, NULL, NULL, 0, &n), G4_ERR_UNSUPPORTED);
    }
    g4_model_free(m);

    /* with the projector: through the ABI if g4_load wires it, else the _mm entry points */
    g4_model *mp = load(model_path, mmproj_path, NULL, 0);
    CHECK(mp != NULL, "load with mmproj");
    if (mp) {
        g4_model_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
        g4_model_get_info(mp, &info);
        uint8_t rgb[3 * 64 * 48] = {0};
        size_t n = 0;
        mm x = {mp, NULL};
        g4_gguf *g = NULL;
        g4_mmproj *p = NULL;
        if (g4_embed_image(mp, rgb, 64, 48, 192, NULL, NULL, 0, &n) == G4_ERR_UNSUPPORTED) {
            fprintf(stderr, "note: g4_load does not attach the projector yet: checking g4_embed_*_mm\n");
            char err[256];
            g = g4_gguf_open(mmproj_path, 0, err, sizeof err);
            p = g ? g4_mmproj_load(g, info.n_embd, err, sizeof err) : NULL;
            CHECK(p != NULL, "mmproj load: %s", err);
            x.m = NULL;
            x.p = p;
        }
        if (x.m || x.p)
            test_mm_misuse(&x, info.n_embd);
        g4_mmproj_free(p);
        g4_gguf_close(g);
    }
    g4_model_free(mp);

    /* a vocab-only model: tokenizer works, inference is refused */
    g4_model *mv = load(model_path, NULL, NULL, G4_LOAD_VOCAB_ONLY);
    CHECK(mv != NULL, "vocab-only load");
    if (mv) {
        int32_t ids[8];
        size_t n;
        EXPECT_OK(g4_tokenize(mv, "hello", 5, 0, ids, 8, &n));
        g4_session *s = NULL;
        g4_status st = g4_session_new(mv, NULL, &s);
        CHECK((st == G4_ERR_STATE || st == G4_ERR_UNSUPPORTED) && !s && g4_last_error()[0],
              "session on a vocab-only model -> %s", g4_status_name(st));
        g4_session_free(s);
    }
    g4_model_free(mv);
    return T_DONE("test_misuse");
}
