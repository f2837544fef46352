/* GGUF reader and writer: real fixtures, a writer/reader round trip, a generated corpus of hostile
 * files (each must fail cleanly with a message), split files, and fuzzer regressions. */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "t.h"

#if defined(__SANITIZE_ADDRESS__)
#define T_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_SANITIZED 1
#endif
#endif
#ifndef T_SANITIZED
#define T_SANITIZED 0
#endif

/* This thread's CPU time: the bound below is about work (the open indexes the strings without
 * copying them), and wall time on a loaded machine (a parallel make test, CI neighbours) failed
 * it with the process merely descheduled. */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int str_is(g4_gguf_str s, const char *c) { return g4_gguf_str_eq(s, c); }

static int get_str_is(const g4_gguf *g, const char *key, const char *want)
{
    g4_gguf_str s;
    return g4_gguf_get_str(g, key, &s) == 0 && str_is(s, want);
}

static uint32_t get_u32_or(const g4_gguf *g, const char *key, uint32_t dflt)
{
    uint32_t v;
    return g4_gguf_get_u32(g, key, &v) == 0 ? v : dflt;
}

static int dims_are(const g4_gguf_tensor *t, uint32_t n, int64_t a, int64_t b, int64_t c)
{
    return t && t->n_dims == n && t->ne[0] == a && t->ne[1] == b && t->ne[2] == c && t->ne[3] == 1;
}

/* ------------------------------------------------------------------ fixtures */

/* Checks that hold for every well-formed file. */
static void check_invariants(const g4_gguf *g, const char *what)
{
    int64_t n = g4_gguf_n_tensors(g);
    for (int64_t i = 0; i < n; i++) {
        const g4_gguf_tensor *t = g4_gguf_tensor_at(g, i);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        if (g4_gguf_find_tensor(g, name) != t)
            CHECK(0, "%s: find_tensor(%s) does not return tensor %lld", what, name, (long long)i);
        if (t->offset % g4_gguf_alignment(g) != 0 || t->nbytes == 0 || !g4_type_get(t->type))
            CHECK(0, "%s: tensor %s has bad offset/size/type", what, name);
    }
    for (int64_t i = 0; i < g4_gguf_n_kv(g); i++) {
        const g4_gguf_kv *kv = g4_gguf_kv_at(g, i);
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
        if (g4_gguf_find_kv(g, key) != kv)
            CHECK(0, "%s: find_kv(%s) does not return entry %lld", what, key, (long long)i);
    }
    CHECK(g4_gguf_find_kv(g, "no.such.key") == NULL, "%s", what);
    CHECK(g4_gguf_find_tensor(g, "no.such.tensor") == NULL, "%s", what);
    CHECK(g4_gguf_kv_at(g, -1) == NULL && g4_gguf_kv_at(g, g4_gguf_n_kv(g)) == NULL, "%s", what);
    CHECK(g4_gguf_tensor_at(g, -1) == NULL && g4_gguf_tensor_at(g, n) == NULL, "%s", what);
}

static void test_fixture_files(void)
{
    char path[1024], err[512];
    const char *dirs[] = {"gemma4", "tokenizer"};
    int opened = 0;
    for (int d = 0; d < 2; d++) {
        snprintf(path, sizeof path, "%s/%s", t_fixtures(), dirs[d]);
        DIR *dir = opendir(path);
        CHECK(dir != NULL, "cannot list %s", path);
        if (!dir)
            continue;
        struct dirent *de;
        while ((de = readdir(dir))) {
            size_t l = strlen(de->d_name);
            if (l < 5 || strcmp(de->d_name + l - 5, ".gguf") != 0)
                continue;
            snprintf(path, sizeof path, "%s/%s/%s", t_fixtures(), dirs[d], de->d_name);
            g4_gguf *g = g4_gguf_open(path, 0, err, sizeof err);
            CHECK(g != NULL, "%s: %s", path, err);
            if (!g)
                continue;
            opened++;
            CHECK(g4_gguf_version(g) == 3, "%s", path);
            CHECK(g4_gguf_alignment(g) == 32, "%s", path);
            CHECK(g4_gguf_n_shards(g) == 1, "%s", path);
            g4_gguf_str arch;
            CHECK(g4_gguf_get_str(g, "general.architecture", &arch) == 0, "%s", path);
            if (strstr(de->d_name, ".ref.gguf"))
                CHECK(str_is(arch, "conformance"), "%s: architecture %.*s", path, (int)arch.len, arch.ptr);
            check_invariants(g, path);
            g4_gguf_close(g);
        }
        closedir(dir);
    }
    CHECK(opened >= 12, "opened only %d fixture files", opened);
}

static char *fixture(char *buf, size_t n, const char *rel)
{
    snprintf(buf, n, "%s/%s", t_fixtures(), rel);
    return buf;
}

static void test_unified_facts(void)
{
    char path[1024], err[512];
    fixture(path, sizeof path, "gemma4/tiny-gemma4-unified-bf16.gguf");
    g4_gguf *g = g4_gguf_open(path, 0, err, sizeof err);
    CHECK(g != NULL, "%s", err);
    if (!g)
        return;
    CHECK(get_str_is(g, "general.architecture", "gemma4"), "architecture");
    CHECK(get_str_is(g, "general.name", "Tiny Unified"), "name");
    CHECK(get_u32_or(g, "gemma4.block_count", 0) == 6, "block_count");
    CHECK(get_u32_or(g, "gemma4.embedding_length", 0) == 32, "embedding_length");
    CHECK(get_u32_or(g, "gemma4.feed_forward_length", 0) == 96, "ffn");
    CHECK(get_u32_or(g, "gemma4.attention.sliding_window", 0) == 512, "window");
    CHECK(get_u32_or(g, "tokenizer.ggml.bos_token_id", 99) == 2, "bos");
    int64_t i64;
    CHECK(g4_gguf_get_i64(g, "gemma4.context_length", &i64) == 0 && i64 == 8192, "context_length");
    float f;
    CHECK(g4_gguf_get_f32(g, "gemma4.final_logit_softcapping", &f) == 0 && f == 30.0f, "softcap");
    CHECK(g4_gguf_get_f32(g, "gemma4.rope.freq_base", &f) == 0 && f == 1000000.0f, "rope base");
    CHECK(g4_gguf_get_f32(g, "gemma4.block_count", &f) == -1, "f32 getter rejects u32");
    CHECK(g4_gguf_get_u32(g, "gemma4.rope.freq_base", NULL) == -1, "u32 getter rejects f32");
    CHECK(g4_gguf_get_str(g, "gemma4.block_count", NULL) == -1, "str getter rejects u32");
    int b;
    CHECK(g4_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b) == 0 && b == 1, "add_bos");
    CHECK(g4_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b) == 0 && b == 0, "add_space_prefix");

    /* head_count_kv is an i32 array [2,2,2,2,2,1]; sliding_window_pattern a bool array */
    const g4_gguf_kv *kv = g4_gguf_find_kv(g, "gemma4.attention.head_count_kv");
    CHECK(kv && kv->type == G4_GGUF_ARRAY && kv->arr_type == G4_GGUF_INT32 && kv->arr_len == 6, "head_count_kv");
    int64_t want_kv[6] = {2, 2, 2, 2, 2, 1};
    for (int i = 0; kv && i < 6; i++)
        CHECK(g4_gguf_arr_i64(kv, (uint64_t)i, &i64) == 0 && i64 == want_kv[i], "head_count_kv[%d]", i);
    CHECK(g4_gguf_arr_i64(kv, 6, &i64) == -1, "out of bounds");
    double dv;
    CHECK(g4_gguf_arr_f64(kv, 5, &dv) == 0 && dv == 1.0, "arr_f64 on int array");
    kv = g4_gguf_find_kv(g, "gemma4.attention.sliding_window_pattern");
    CHECK(kv && kv->arr_type == G4_GGUF_BOOL && kv->arr_len == 6, "swa pattern");
    CHECK(g4_gguf_arr_i64(kv, 0, &i64) == 0 && i64 == 1 && g4_gguf_arr_i64(kv, 5, &i64) == 0 && i64 == 0, "swa");

    uint32_t et;
    uint64_t n;
    const void *data;
    CHECK(g4_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &data) == 0 && et == G4_GGUF_STRING &&
              n == 262144, "tokens array");
    CHECK(g4_gguf_get_arr(g, "gemma4.block_count", &et, &n, &data) == -1, "not an array");
    kv = g4_gguf_find_kv(g, "tokenizer.ggml.tokens");
    g4_gguf_str s;
    CHECK(g4_gguf_arr_str(kv, 0, &s) == 0 && str_is(s, "<pad>"), "token 0");
    CHECK(g4_gguf_arr_str(kv, 2, &s) == 0 && str_is(s, "<bos>"), "token 2");
    CHECK(g4_gguf_arr_str(kv, 262144, &s) == -1, "token out of range");
    CHECK(g4_gguf_arr_i64(kv, 0, &i64) == -1, "string array is not numeric");
    kv = g4_gguf_find_kv(g, "tokenizer.ggml.scores");
    CHECK(kv && g4_gguf_arr_f64(kv, 0, &dv) == 0 && dv == -1000.0, "score 0");
    CHECK(g4_gguf_arr_str(kv, 0, &s) == -1, "numeric array is not a string array");

    CHECK(g4_gguf_n_tensors(g) == 86 && g4_gguf_n_kv(g) == 39, "counts %lld %lld",
          (long long)g4_gguf_n_tensors(g), (long long)g4_gguf_n_kv(g));
    const g4_gguf_tensor *t = g4_gguf_find_tensor(g, "token_embd.weight");
    CHECK(dims_are(t, 2, 32, 262144, 1) && t->type == G4_TYPE_BF16 && t->nbytes == 16777216ull &&
              t->offset == 64, "token_embd");
    t = g4_gguf_find_tensor(g, "rope_freqs.weight");
    CHECK(dims_are(t, 1, 16, 1, 1) && t->type == G4_TYPE_F32 && t->offset == 0, "rope_freqs");
    t = g4_gguf_find_tensor(g, "blk.0.attn_q.weight");
    CHECK(dims_are(t, 2, 32, 64, 1) && t->type == G4_TYPE_BF16, "attn_q");
    CHECK(g4_gguf_find_tensor(g, "blk.5.attn_v.weight") == NULL, "K=V layer has no V");
    CHECK(g4_gguf_mapped_bytes(g) == 32753248ull, "mapped bytes");

    /* The same bytes through NO_MMAP and through open_memory. */
    g4_gguf *g2 = g4_gguf_open(path, G4_GGUF_NO_MMAP | G4_GGUF_MLOCK, err, sizeof err);
    CHECK(g2 != NULL, "NO_MMAP: %s", err);
    if (g2) {
        const g4_gguf_tensor *a = g4_gguf_find_tensor(g, "blk.3.ffn_up.weight");
        const g4_gguf_tensor *c = g4_gguf_find_tensor(g2, "blk.3.ffn_up.weight");
        CHECK(a && c && a->nbytes == c->nbytes && memcmp(a->data, c->data, a->nbytes) == 0, "no-mmap data");
        CHECK(c && ((uintptr_t)c->data % 32) == 0, "no-mmap data is aligned");
        g4_gguf_close(g2);
    }
    g4_gguf_close(g);
}

static void test_other_fixtures(void)
{
    char path[1024], err[512];
    g4_gguf *g = g4_gguf_open(fixture(path, sizeof path, "gemma4/tiny-gemma4-moe-bf16.gguf"), 0, err, sizeof err);
    CHECK(g != NULL, "%s", err);
    if (g) {
        CHECK(get_u32_or(g, "gemma4.expert_count", 0) == 8 && get_u32_or(g, "gemma4.expert_used_count", 0) == 2,
              "moe experts");
        CHECK(dims_are(g4_gguf_find_tensor(g, "blk.0.ffn_gate_up_exps.weight"), 3, 32, 32, 8), "gate_up_exps");
        CHECK(dims_are(g4_gguf_find_tensor(g, "blk.0.ffn_down_exps.weight"), 3, 16, 32, 8), "down_exps");
        CHECK(g4_gguf_n_tensors(g) == 134, "moe tensors");
        g4_gguf_close(g);
    }
    g = g4_gguf_open(fixture(path, sizeof path, "gemma4/mmproj-tiny-gemma4-unified-f32.gguf"), 0, err, sizeof err);
    CHECK(g != NULL, "%s", err);
    if (g) {
        CHECK(get_str_is(g, "general.architecture", "clip"), "mmproj arch");
        CHECK(get_str_is(g, "clip.vision.projector_type", "gemma4uv"), "projector");
        CHECK(get_str_is(g, "clip.audio.projector_type", "gemma4ua"), "audio projector");
        const g4_gguf_tensor *t = g4_gguf_find_tensor(g, "v.patch_embd.weight");
        CHECK(dims_are(t, 2, 6912, 32, 1) && t->type == G4_TYPE_F32, "patch_embd");
        CHECK(dims_are(g4_gguf_find_tensor(g, "v.position_embd.weight"), 3, 32, 1120, 2), "position_embd");
        g4_gguf_close(g);
    }
    g = g4_gguf_open(fixture(path, sizeof path, "gemma4/tiny-gemma4-unified.ref.gguf"), 0, err, sizeof err);
    CHECK(g != NULL, "%s", err);
    if (g) {
        CHECK(get_str_is(g, "general.architecture", "conformance"), "ref arch");
        const g4_gguf_kv *kv = g4_gguf_find_kv(g, "text.input_ids");
        int64_t v;
        CHECK(kv && kv->arr_len == 48 && g4_gguf_arr_i64(kv, 0, &v) == 0 && v == 2 &&
                  g4_gguf_arr_i64(kv, 1, &v) == 0 && v == 192843, "text.input_ids");
        CHECK(g4_gguf_get_i64(g, "text.greedy_next", &v) == 0 && v == 26663, "greedy_next");
        CHECK(g4_gguf_get_i64(g, "image_fit.n_soft_tokens", &v) == 0 && v == 280, "n_soft_tokens");
        const g4_gguf_tensor *t = g4_gguf_find_tensor(g, "text.logits_rows");
        CHECK(dims_are(t, 2, 262144, 1, 1) && t->type == G4_TYPE_F32, "logits_rows");
        t = g4_gguf_find_tensor(g, "text.top16_ids");
        CHECK(dims_are(t, 2, 16, 48, 1) && t->type == G4_TYPE_I32, "top16_ids");
        CHECK(dims_are(g4_gguf_find_tensor(g, "text.hidden_states"), 3, 32, 48, 7), "hidden_states");
        g4_gguf_close(g);
    }
    g = g4_gguf_open(fixture(path, sizeof path, "gemma4/tiny-gemma4-unified-assistant.ref.gguf"), 0, err,
                     sizeof err);
    CHECK(g != NULL, "%s", err);
    if (g) {
        int b = 0;
        CHECK(g4_gguf_get_bool(g, "mtp.spec_equals_plain", &b) == 0 && b == 1, "spec_equals_plain");
        CHECK(g4_gguf_n_tensors(g) == 0, "no tensors");
        const g4_gguf_kv *kv = g4_gguf_find_kv(g, "mtp.greedy16");
        int64_t v;
        CHECK(kv && kv->arr_len == 16 && g4_gguf_arr_i64(kv, 0, &v) == 0 && v == 54826, "greedy16");
        g4_gguf_close(g);
    }
    g = g4_gguf_open(fixture(path, sizeof path, "gemma4/tiny-gemma4-unified-assistant-bf16.gguf"), 0, err,
                     sizeof err);
    CHECK(g != NULL && get_str_is(g, "general.architecture", "gemma4-assistant"), "assistant: %s", err);
    g4_gguf_close(g);
}

static void test_vocab_speed(void)
{
    char path[1024], err[512];
    fixture(path, sizeof path, "tokenizer/ggml-vocab-gemma-4.gguf");
    double t0 = now_ms();
    g4_gguf *g = g4_gguf_open(path, 0, err, sizeof err);
    double t1 = now_ms();
    CHECK(g != NULL, "%s", err);
    if (!g)
        return;
    const g4_gguf_kv *tok = g4_gguf_find_kv(g, "tokenizer.ggml.tokens");
    const g4_gguf_kv *mer = g4_gguf_find_kv(g, "tokenizer.ggml.merges");
    CHECK(tok && tok->arr_len == 262144, "tokens");
    CHECK(mer && mer->arr_len == 514906, "merges");
    uint64_t total = 0, bad = 0;
    g4_gguf_str s;
    for (uint64_t i = 0; tok && i < tok->arr_len; i++)
        total += g4_gguf_arr_str(tok, i, &s) == 0 ? s.len : (bad++, 0);
    for (uint64_t i = 0; mer && i < mer->arr_len; i++)
        total += g4_gguf_arr_str(mer, i, &s) == 0 ? s.len : (bad++, 0);
    double t2 = now_ms();
    CHECK(bad == 0 && total > 1000000, "read all strings (%llu bad)", (unsigned long long)bad);
    CHECK(g4_gguf_arr_str(tok, 1, &s) == 0 && str_is(s, "<eos>"), "eos token");
    CHECK(get_u32_or(g, "gemma4.block_count", 0) == 30, "vocab block_count");
    printf("vocab: open %.1f ms, read 777050 strings %.1f ms\n", t1 - t0, t2 - t1);
    if (!T_SANITIZED)
        CHECK(t1 - t0 < 100.0 && t2 - t1 < 100.0, "vocab open %.1f ms, strings %.1f ms", t1 - t0, t2 - t1);
    g4_gguf_close(g);
}

/* ------------------------------------------------------------------ round trip */

typedef struct fill_state {
    uint64_t next_offset; /* callbacks must arrive in order */
    uint64_t row_bytes;
    int calls, bad;
} fill_state;

/* Byte pattern of a fill tensor: each byte is a function of its offset. */
static uint8_t pattern(uint64_t off) { return (uint8_t)(off * 2654435761u >> 13); }

static int fill_pattern(void *ctx, void *dst, uint64_t offset, size_t nbytes)
{
    fill_state *st = ctx;
    st->calls++;
    if (offset != st->next_offset || nbytes % st->row_bytes != 0 || offset % st->row_bytes != 0)
        st->bad++;
    for (size_t i = 0; i < nbytes; i++)
        ((uint8_t *)dst)[i] = pattern(offset + i);
    st->next_offset = offset + nbytes;
    return 0;
}

static int fill_fail(void *ctx, void *dst, uint64_t offset, size_t nbytes)
{
    (void)ctx;
    memset(dst, 0, nbytes);
    return offset > 0 ? 1 : 0;
}

#define RT_KEYS 30

static void build_roundtrip(g4_gguf_writer *w, float *f32data, uint16_t *bf16data, uint8_t *q8data,
                            uint8_t *q4kdata, int32_t *i32data, fill_state *fs)
{
    CHECK(g4_gguf_set_str(w, "general.architecture", "roundtrip") == 0, "%s", g4_gguf_writer_error(w));
    CHECK(g4_gguf_set_u8(w, "t.u8", 250) == 0, "u8");
    CHECK(g4_gguf_set_i8(w, "t.i8", -120) == 0, "i8");
    CHECK(g4_gguf_set_u16(w, "t.u16", 65000) == 0, "u16");
    CHECK(g4_gguf_set_i16(w, "t.i16", -32000) == 0, "i16");
    CHECK(g4_gguf_set_u32(w, "t.u32", 4000000000u) == 0, "u32");
    CHECK(g4_gguf_set_i32(w, "t.i32", -2000000000) == 0, "i32");
    CHECK(g4_gguf_set_f32(w, "t.f32", 1.5f) == 0, "f32");
    CHECK(g4_gguf_set_bool(w, "t.bool", 1) == 0, "bool");
    CHECK(g4_gguf_set_str(w, "t.str", "hello, gguf") == 0, "str");
    CHECK(g4_gguf_set_strn(w, "t.str_nul", "a\0b", 3) == 0, "strn");
    CHECK(g4_gguf_set_str(w, "t.str_empty", "") == 0, "empty str");
    CHECK(g4_gguf_set_u64(w, "t.u64", 18000000000000000000ull) == 0, "u64");
    CHECK(g4_gguf_set_i64(w, "t.i64", -9000000000000000000ll) == 0, "i64");
    CHECK(g4_gguf_set_f64(w, "t.f64", 3.141592653589793) == 0, "f64");
    const uint8_t au8[3] = {1, 2, 255};
    const int8_t ai8[2] = {-1, 7};
    const uint16_t au16[2] = {1, 65535};
    const int16_t ai16[2] = {-300, 300};
    const uint32_t au32[2] = {0, 4294967295u};
    const int32_t ai32[3] = {-5, 0, 5};
    const float af32[2] = {0.25f, -2.0f};
    const uint8_t abool[3] = {1, 0, 1};
    const uint64_t au64[1] = {1ull << 63};
    const int64_t ai64[2] = {INT64_MIN, INT64_MAX};
    const double af64[2] = {1e-300, -2.5};
    CHECK(g4_gguf_set_arr(w, "a.u8", G4_GGUF_UINT8, au8, 3) == 0, "arr u8");
    CHECK(g4_gguf_set_arr(w, "a.i8", G4_GGUF_INT8, ai8, 2) == 0, "arr i8");
    CHECK(g4_gguf_set_arr(w, "a.u16", G4_GGUF_UINT16, au16, 2) == 0, "arr u16");
    CHECK(g4_gguf_set_arr(w, "a.i16", G4_GGUF_INT16, ai16, 2) == 0, "arr i16");
    CHECK(g4_gguf_set_arr(w, "a.u32", G4_GGUF_UINT32, au32, 2) == 0, "arr u32");
    CHECK(g4_gguf_set_arr(w, "a.i32", G4_GGUF_INT32, ai32, 3) == 0, "arr i32");
    CHECK(g4_gguf_set_arr(w, "a.f32", G4_GGUF_FLOAT32, af32, 2) == 0, "arr f32");
    CHECK(g4_gguf_set_arr(w, "a.bool", G4_GGUF_BOOL, abool, 3) == 0, "arr bool");
    CHECK(g4_gguf_set_arr(w, "a.u64", G4_GGUF_UINT64, au64, 1) == 0, "arr u64");
    CHECK(g4_gguf_set_arr(w, "a.i64", G4_GGUF_INT64, ai64, 2) == 0, "arr i64");
    CHECK(g4_gguf_set_arr(w, "a.f64", G4_GGUF_FLOAT64, af64, 2) == 0, "arr f64");
    CHECK(g4_gguf_set_arr(w, "a.empty", G4_GGUF_INT32, NULL, 0) == 0, "empty arr");
    const char *strs[4] = {"alpha", "", "gamma\ndelta", "x"};
    const uint64_t lens[4] = {5, 0, 11, 1};
    CHECK(g4_gguf_set_arr_str(w, "a.str", strs, NULL, 4) == 0, "arr str");
    CHECK(g4_gguf_set_arr_str(w, "a.strn", strs, lens, 4) == 0, "arr strn");
    /* [[1,2],[ "s" ]]: an array of two arrays, encoded by hand */
    uint8_t nested[12 + 12 + 8 + 12 + 9];
    uint8_t *p = nested;
    uint32_t u;
    uint64_t q;
    u = G4_GGUF_ARRAY; memcpy(p, &u, 4); q = 2; memcpy(p + 4, &q, 8); p += 12;
    u = G4_GGUF_INT32; memcpy(p, &u, 4); q = 2; memcpy(p + 4, &q, 8); p += 12;
    int32_t two[2] = {1, 2}; memcpy(p, two, 8); p += 8;
    u = G4_GGUF_STRING; memcpy(p, &u, 4); q = 1; memcpy(p + 4, &q, 8); p += 12;
    q = 1; memcpy(p, &q, 8); p[8] = 's'; p += 9;
    CHECK((size_t)(p - nested) == sizeof nested, "nested size");
    CHECK(g4_gguf_set_raw(w, "a.nested", G4_GGUF_ARRAY, nested, sizeof nested) == 0, "nested");
    /* replacing a key keeps its position and count */
    CHECK(g4_gguf_set_u32(w, "t.u32", 4000000000u) == 0, "replace");
    CHECK(g4_gguf_writer_n_kv(w) == RT_KEYS, "kv count %lld", (long long)g4_gguf_writer_n_kv(w));
    CHECK(g4_gguf_set_u32(w, "", 1) == -1 && g4_gguf_writer_error(w)[0], "empty key rejected");

    for (int i = 0; i < 64 * 3; i++)
        f32data[i] = (float)i * 0.5f - 7.0f;
    for (int i = 0; i < 40; i++)
        bf16data[i] = (uint16_t)(0x3f80 + i);
    for (int i = 0; i < 34 * 4; i++)
        q8data[i] = (uint8_t)(i * 7);
    for (int i = 0; i < 144 * 2; i++)
        q4kdata[i] = (uint8_t)(i * 13 + 1);
    for (int i = 0; i < 5; i++)
        i32data[i] = -i * 1000;
    const int64_t ne_f32[2] = {64, 3}, ne_bf16[1] = {40}, ne_q8[2] = {64, 2}, ne_q4k[2] = {256, 2}, ne_i32[1] = {5};
    const int64_t ne_fill[3] = {48, 5, 2}; /* F16: 96-byte rows */
    CHECK(g4_gguf_writer_add_tensor(w, "w.f32", G4_TYPE_F32, 2, ne_f32, f32data) == 0, "%s", g4_gguf_writer_error(w));
    CHECK(g4_gguf_writer_add_tensor_copy(w, "w.bf16", G4_TYPE_BF16, 1, ne_bf16, bf16data) == 0, "bf16");
    CHECK(g4_gguf_writer_add_tensor(w, "w.q8_0", G4_TYPE_Q8_0, 2, ne_q8, q8data) == 0, "q8");
    CHECK(g4_gguf_writer_add_tensor(w, "w.q4_k", G4_TYPE_Q4_K, 2, ne_q4k, q4kdata) == 0, "q4k");
    CHECK(g4_gguf_writer_add_tensor(w, "w.i32", G4_TYPE_I32, 1, ne_i32, i32data) == 0, "i32");
    CHECK(g4_gguf_writer_add_tensor_fill(w, "w.fill", G4_TYPE_F16, 3, ne_fill, fill_pattern, fs) == 0, "fill");
    fs->row_bytes = 96;
    /* the writer validates what it is given */
    const int64_t ne_bad[2] = {16, 2}, ne_zero[2] = {0, 2};
    CHECK(g4_gguf_writer_add_tensor(w, "w.f32", G4_TYPE_F32, 2, ne_f32, f32data) == -1, "dup tensor");
    CHECK(g4_gguf_writer_add_tensor(w, "bad", G4_TYPE_Q8_0, 2, ne_bad, q8data) == -1, "partial block");
    CHECK(g4_gguf_writer_add_tensor(w, "bad", G4_TYPE_F32, 2, ne_zero, f32data) == -1, "zero dim");
    CHECK(g4_gguf_writer_add_tensor(w, "bad", 31, 2, ne_f32, f32data) == -1 &&
              strstr(g4_gguf_writer_error(w), "unknown type 31"), "bad type: %s", g4_gguf_writer_error(w));
    CHECK(g4_gguf_writer_add_tensor(w, "bad", G4_TYPE_F32, 5, ne_f32, f32data) == -1, "5 dims");
    CHECK(g4_gguf_writer_add_tensor(w, "a_name_that_is_far_too_long_for_llama_cpp_to_load_0123456789abcdefghij", G4_TYPE_F32,
                                    2, ne_f32, f32data) == -1, "64-byte tensor name");
    CHECK(g4_gguf_writer_set_alignment(w, 3) == -1, "alignment 3");
    CHECK(g4_gguf_writer_n_tensors(w) == 6, "tensor count");
}

static void check_roundtrip(const g4_gguf *g, uint32_t alignment, const float *f32data, const uint16_t *bf16data,
                            const uint8_t *q8data, const uint8_t *q4kdata, const int32_t *i32data)
{
    CHECK(g4_gguf_version(g) == 3 && g4_gguf_alignment(g) == alignment, "version/alignment %u",
          g4_gguf_alignment(g));
    CHECK(g4_gguf_n_kv(g) == RT_KEYS + (alignment != 32), "n_kv %lld", (long long)g4_gguf_n_kv(g));
    CHECK(get_str_is(g, "general.architecture", "roundtrip"), "arch");
    int64_t v;
    uint32_t u32;
    float f;
    int b;
    g4_gguf_str s;
    CHECK(g4_gguf_get_i64(g, "t.u8", &v) == 0 && v == 250, "u8");
    CHECK(g4_gguf_get_i64(g, "t.i8", &v) == 0 && v == -120, "i8");
    CHECK(g4_gguf_get_i64(g, "t.u16", &v) == 0 && v == 65000, "u16");
    CHECK(g4_gguf_get_i64(g, "t.i16", &v) == 0 && v == -32000, "i16");
    CHECK(g4_gguf_get_u32(g, "t.u32", &u32) == 0 && u32 == 4000000000u, "u32");
    CHECK(g4_gguf_get_i64(g, "t.i32", &v) == 0 && v == -2000000000, "i32");
    CHECK(g4_gguf_get_u32(g, "t.i32", &u32) == -1, "negative does not fit u32");
    CHECK(g4_gguf_get_f32(g, "t.f32", &f) == 0 && f == 1.5f, "f32");
    CHECK(g4_gguf_get_bool(g, "t.bool", &b) == 0 && b == 1, "bool");
    CHECK(g4_gguf_get_u32(g, "t.bool", &u32) == -1, "bool is not an integer");
    CHECK(g4_gguf_get_str(g, "t.str", &s) == 0 && str_is(s, "hello, gguf"), "str");
    CHECK(g4_gguf_get_str(g, "t.str_nul", &s) == 0 && s.len == 3 && memcmp(s.ptr, "a\0b", 3) == 0, "str nul");
    CHECK(g4_gguf_get_str(g, "t.str_empty", &s) == 0 && s.len == 0, "empty str");
    CHECK(g4_gguf_get_i64(g, "t.u64", &v) == -1, "u64 above INT64_MAX does not fit i64");
    const g4_gguf_kv *kv = g4_gguf_find_kv(g, "t.u64");
    uint64_t u64v = 0;
    CHECK(kv && kv->type == G4_GGUF_UINT64 && (memcpy(&u64v, kv->data, 8), u64v == 18000000000000000000ull), "u64");
    CHECK(g4_gguf_get_i64(g, "t.i64", &v) == 0 && v == -9000000000000000000ll, "i64");
    CHECK(g4_gguf_get_f32(g, "t.f64", &f) == 0 && f == 3.14159265f, "f64 as f32");
    CHECK(g4_gguf_get_i64(g, "t.u32", &v) == 0 && v == 4000000000ll, "u32 as i64");

    struct { const char *key; uint32_t et; uint64_t n; double vals[3]; } arrs[] = {
        {"a.u8", G4_GGUF_UINT8, 3, {1, 2, 255}},       {"a.i8", G4_GGUF_INT8, 2, {-1, 7}},
        {"a.u16", G4_GGUF_UINT16, 2, {1, 65535}},      {"a.i16", G4_GGUF_INT16, 2, {-300, 300}},
        {"a.u32", G4_GGUF_UINT32, 2, {0, 4294967295.0}}, {"a.i32", G4_GGUF_INT32, 3, {-5, 0, 5}},
        {"a.f32", G4_GGUF_FLOAT32, 2, {0.25, -2.0}},   {"a.bool", G4_GGUF_BOOL, 3, {1, 0, 1}},
        {"a.u64", G4_GGUF_UINT64, 1, {9223372036854775808.0}}, {"a.i64", G4_GGUF_INT64, 2, {-9223372036854775808.0, 9223372036854775807.0}},
        {"a.f64", G4_GGUF_FLOAT64, 2, {1e-300, -2.5}}, {"a.empty", G4_GGUF_INT32, 0, {0}},
    };
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++) {
        kv = g4_gguf_find_kv(g, arrs[i].key);
        CHECK(kv && kv->type == G4_GGUF_ARRAY && kv->arr_type == arrs[i].et && kv->arr_len == arrs[i].n, "%s",
              arrs[i].key);
        for (uint64_t j = 0; kv && j < arrs[i].n; j++) {
            double d;
            CHECK(g4_gguf_arr_f64(kv, j, &d) == 0 && d == arrs[i].vals[j], "%s[%llu]", arrs[i].key,
                  (unsigned long long)j);
        }
        CHECK(g4_gguf_arr_f64(kv, arrs[i].n, NULL) == -1, "%s out of range", arrs[i].key);
    }
    kv = g4_gguf_find_kv(g, "a.i64");
    CHECK(g4_gguf_arr_i64(kv, 0, &v) == 0 && v == INT64_MIN && g4_gguf_arr_i64(kv, 1, &v) == 0 && v == INT64_MAX,
          "i64 array");
    CHECK(g4_gguf_arr_i64(g4_gguf_find_kv(g, "a.u64"), 0, &v) == -1, "u64 2^63 does not fit i64");
    CHECK(g4_gguf_arr_i64(g4_gguf_find_kv(g, "a.f32"), 0, &v) == -1, "float is not an integer");
    const char *want[4] = {"alpha", "", "gamma\ndelta", "x"};
    for (int k = 0; k < 2; k++) {
        kv = g4_gguf_find_kv(g, k ? "a.strn" : "a.str");
        CHECK(kv && kv->arr_type == G4_GGUF_STRING && kv->arr_len == 4, "string array");
        for (uint64_t j = 0; kv && j < 4; j++)
            CHECK(g4_gguf_arr_str(kv, j, &s) == 0 && str_is(s, want[j]), "a.str[%llu]", (unsigned long long)j);
    }
    kv = g4_gguf_find_kv(g, "a.nested");
    CHECK(kv && kv->type == G4_GGUF_ARRAY && kv->arr_type == G4_GGUF_ARRAY && kv->arr_len == 2, "nested");
    CHECK(g4_gguf_arr_i64(kv, 0, &v) == -1 && g4_gguf_arr_str(kv, 0, &s) == -1, "typed getters reject nested");
    /* the key after the nested array parsed, so the nested array was skipped correctly */
    CHECK(g4_gguf_n_tensors(g) == 6, "n_tensors");

    const g4_gguf_tensor *t = g4_gguf_find_tensor(g, "w.f32");
    CHECK(dims_are(t, 2, 64, 3, 1) && t->type == G4_TYPE_F32 && t->nbytes == 768 &&
              memcmp(t->data, f32data, 768) == 0, "w.f32");
    t = g4_gguf_find_tensor(g, "w.bf16");
    CHECK(dims_are(t, 1, 40, 1, 1) && t->type == G4_TYPE_BF16 && memcmp(t->data, bf16data, 80) == 0, "w.bf16");
    t = g4_gguf_find_tensor(g, "w.q8_0");
    CHECK(dims_are(t, 2, 64, 2, 1) && t->type == G4_TYPE_Q8_0 && t->nbytes == 136 &&
              memcmp(t->data, q8data, 136) == 0, "w.q8_0");
    t = g4_gguf_find_tensor(g, "w.q4_k");
    CHECK(dims_are(t, 2, 256, 2, 1) && t->type == G4_TYPE_Q4_K && t->nbytes == 288 &&
              memcmp(t->data, q4kdata, 288) == 0, "w.q4_k");
    t = g4_gguf_find_tensor(g, "w.i32");
    CHECK(dims_are(t, 1, 5, 1, 1) && t->type == G4_TYPE_I32 && memcmp(t->data, i32data, 20) == 0, "w.i32");
    t = g4_gguf_find_tensor(g, "w.fill");
    CHECK(dims_are(t, 3, 48, 5, 2) && t->type == G4_TYPE_F16 && t->nbytes == 960, "w.fill");
    int bad = 0;
    for (uint64_t i = 0; t && i < t->nbytes; i++)
        bad += ((const uint8_t *)t->data)[i] != pattern(i);
    CHECK(bad == 0, "fill data: %d bad bytes", bad);
    for (int64_t i = 0; i < g4_gguf_n_tensors(g); i++) {
        t = g4_gguf_tensor_at(g, i);
        CHECK(t->offset % alignment == 0, "tensor %lld aligned", (long long)i);
    }
    check_invariants(g, "roundtrip");
}

static void test_roundtrip(const char *tmpdir)
{
    float f32data[64 * 3];
    uint16_t bf16data[40];
    uint8_t q8data[34 * 4], q4kdata[144 * 2];
    int32_t i32data[5];
    char err[512], path[1024];
    for (int pass = 0; pass < 2; pass++) {
        uint32_t alignment = pass ? 64 : 32;
        g4_gguf_writer *w = g4_gguf_writer_new();
        fill_state fs = {0};
        build_roundtrip(w, f32data, bf16data, q8data, q4kdata, i32data, &fs);
        if (pass)
            CHECK(g4_gguf_writer_set_alignment(w, 64) == 0, "alignment 64");
        void *buf = NULL;
        size_t size = 0;
        CHECK(g4_gguf_writer_write_mem(w, &buf, &size) == 0, "%s", g4_gguf_writer_error(w));
        CHECK(size == g4_gguf_writer_file_size(w), "size %zu", size);
        CHECK(fs.bad == 0 && fs.calls == 1, "fill calls %d bad %d", fs.calls, fs.bad);
        g4_gguf *g = g4_gguf_open_memory(buf, size, err, sizeof err);
        CHECK(g != NULL, "roundtrip: %s", err);
        if (g)
            check_roundtrip(g, alignment, f32data, bf16data, q8data, q4kdata, i32data);

        /* The same through a file, and a copy of every kv and tensor reproduces the file exactly. */
        snprintf(path, sizeof path, "%s/roundtrip%d.gguf", tmpdir, pass);
        fs = (fill_state){0, 96, 0, 0};
        CHECK(g4_gguf_writer_write_file(w, path) == 0, "%s", g4_gguf_writer_error(w));
        g4_gguf *gf = g4_gguf_open(path, 0, err, sizeof err);
        CHECK(gf != NULL, "roundtrip file: %s", err);
        if (gf) {
            check_roundtrip(gf, alignment, f32data, bf16data, q8data, q4kdata, i32data);
            CHECK(g4_gguf_mapped_bytes(gf) == size, "file size");
            g4_gguf_close(gf);
        }
        if (g) {
            g4_gguf_writer *w2 = g4_gguf_writer_new();
            for (int64_t i = 0; i < g4_gguf_n_kv(g); i++)
                CHECK(g4_gguf_set_kv_from(w2, g4_gguf_kv_at(g, i)) == 0, "%s", g4_gguf_writer_error(w2));
            /* (general.alignment copied from the file sets the layout's alignment) */
            for (int64_t i = 0; i < g4_gguf_n_tensors(g); i++) {
                const g4_gguf_tensor *t = g4_gguf_tensor_at(g, i);
                char name[64];
                snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
                CHECK(g4_gguf_writer_add_tensor(w2, name, t->type, t->n_dims, t->ne, t->data) == 0, "%s",
                      g4_gguf_writer_error(w2));
            }
            void *buf2 = NULL;
            size_t size2 = 0;
            CHECK(g4_gguf_writer_write_mem(w2, &buf2, &size2) == 0, "%s", g4_gguf_writer_error(w2));
            CHECK(size2 == size && buf2 && memcmp(buf, buf2, size) == 0, "copy is byte-identical");
            free(buf2);
            g4_gguf_writer_free(w2);
            g4_gguf_close(g);
        }
        free(buf);
        g4_gguf_writer_free(w);
    }
    /* A fill callback that fails aborts the write and leaves no file behind. */
    g4_gguf_writer *w = g4_gguf_writer_new();
    const int64_t ne[2] = {1024, 8192}; /* 32 MB of F32: more than one 16 MB chunk */
    CHECK(g4_gguf_writer_add_tensor_fill(w, "big", G4_TYPE_F32, 2, ne, fill_fail, NULL) == 0, "fill");
    snprintf(path, sizeof path, "%s/failed.gguf", tmpdir);
    CHECK(g4_gguf_writer_write_file(w, path) == -1 && strstr(g4_gguf_writer_error(w), "big"), "fill failure: %s",
          g4_gguf_writer_error(w));
    CHECK(access(path, F_OK) != 0, "no file after a failed write");
    DIR *dir = opendir(tmpdir);
    int leftovers = 0;
    struct dirent *de;
    while (dir && (de = readdir(dir)))
        leftovers += strstr(de->d_name, ".tmp.") != NULL;
    if (dir)
        closedir(dir);
    CHECK(leftovers == 0, "temporary files left behind");
    g4_gguf_writer_free(w);

    /* Large streamed tensor: chunks arrive in order, as whole rows, and land where they should. */
    w = g4_gguf_writer_new();
    const int64_t ne2[2] = {1000, 4300}; /* 17.2 MB F32, rows of 4000 bytes */
    fill_state fs = {0, 4000, 0, 0};
    CHECK(g4_gguf_writer_add_tensor_fill(w, "big", G4_TYPE_F32, 2, ne2, fill_pattern, &fs) == 0, "fill");
    snprintf(path, sizeof path, "%s/big.gguf", tmpdir);
    CHECK(g4_gguf_writer_write_file(w, path) == 0, "%s", g4_gguf_writer_error(w));
    CHECK(fs.calls == 2 && fs.bad == 0 && fs.next_offset == 17200000, "chunks %d bad %d", fs.calls, fs.bad);
    g4_gguf *g = g4_gguf_open(path, 0, err, sizeof err);
    CHECK(g != NULL, "%s", err);
    if (g) {
        const g4_gguf_tensor *t = g4_gguf_find_tensor(g, "big");
        int bad = 0;
        for (uint64_t i = 0; t && i < t->nbytes; i += 997)
            bad += ((const uint8_t *)t->data)[i] != pattern(i);
        CHECK(t && t->nbytes == 17200000 && bad == 0, "big tensor data");
        g4_gguf_close(g);
    }
    unlink(path);
    g4_gguf_writer_free(w);
}

/* ------------------------------------------------------------------ hostile files */

typedef struct bb {
    uint8_t *p;
    size_t n, cap;
} bb;

static void bb_put(bb *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void bb_u32(bb *b, uint32_t v) { bb_put(b, &v, 4); }
static void bb_u64(bb *b, uint64_t v) { bb_put(b, &v, 8); }
static void bb_str(bb *b, const char *s) { bb_u64(b, strlen(s)); bb_put(b, s, strlen(s)); }
static void bb_header(bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    bb_put(b, "GGUF", 4);
    bb_u32(b, version);
    bb_u64(b, n_tensors);
    bb_u64(b, n_kv);
}
static void bb_kv_u32(bb *b, const char *key, uint32_t v) { bb_str(b, key); bb_u32(b, G4_GGUF_UINT32); bb_u32(b, v); }
static void bb_tensor(bb *b, const char *name, uint32_t n_dims, const int64_t *ne, uint32_t type, uint64_t offset)
{
    bb_str(b, name);
    bb_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        bb_u64(b, (uint64_t)ne[d]);
    bb_u32(b, type);
    bb_u64(b, offset);
}
static void bb_pad(bb *b, size_t align)
{
    while (b->n % align)
        bb_put(b, "", 1);
}
static void bb_zeros(bb *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        bb_put(b, "", 1);
}

/* Opens a copy of exactly n bytes (so ASan sees any overread) and expects failure. */
static int expect_fail(const void *data, size_t n, const char *what, const char *want_substr)
{
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, data, n);
    char err[512];
    memset(err, 0, sizeof err);
    g4_gguf *g = g4_gguf_open_memory(copy, n, err, sizeof err);
    int ok = g == NULL && err[0] != 0 && (!want_substr || strstr(err, want_substr));
    if (!ok)
        CHECK(0, "%s: expected failure%s%s, got %s '%s'", what, want_substr ? " mentioning " : "",
              want_substr ? want_substr : "", g ? "success" : "error", err);
    else
        t_pass_++;
    g4_gguf_close(g);
    free(copy);
    return ok;
}

static int expect_ok(const void *data, size_t n, const char *what)
{
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, data, n);
    char err[512] = "";
    g4_gguf *g = g4_gguf_open_memory(copy, n, err, sizeof err);
    CHECK(g != NULL, "%s: %s", what, err);
    g4_gguf_close(g);
    free(copy);
    return g != NULL;
}

/* A minimal valid file with one kv and tensors described by the caller. */
typedef struct tdesc {
    const char *name;
    uint32_t n_dims;
    int64_t ne[5];
    uint32_t type;
    uint64_t offset;
} tdesc;

static void build_tensors(bb *b, const tdesc *ts, int n, size_t data_bytes)
{
    bb_header(b, 3, (uint64_t)n, 1);
    bb_kv_u32(b, "k", 1);
    for (int i = 0; i < n; i++)
        bb_tensor(b, ts[i].name, ts[i].n_dims, ts[i].ne, ts[i].type, ts[i].offset);
    bb_pad(b, 32);
    bb_zeros(b, data_bytes);
}

static void expect_tensors_fail(const tdesc *ts, int n, size_t data_bytes, const char *what, const char *want)
{
    bb b = {0};
    build_tensors(&b, ts, n, data_bytes);
    expect_fail(b.p, b.n, what, want);
    free(b.p);
}

static void test_truncation(void)
{
    g4_gguf_writer *w = g4_gguf_writer_new();
    const char *toks[3] = {"a", "bb", "ccc"};
    float f[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t q8[34] = {0};
    const int64_t ne1[2] = {4, 2}, ne2[1] = {32};
    g4_gguf_set_str(w, "general.architecture", "tiny");
    g4_gguf_set_u32(w, "n", 7);
    g4_gguf_set_arr_str(w, "toks", toks, NULL, 3);
    g4_gguf_set_arr(w, "f", G4_GGUF_FLOAT32, f, 3);
    g4_gguf_writer_add_tensor(w, "t0", G4_TYPE_F32, 2, ne1, f);
    g4_gguf_writer_add_tensor(w, "t1", G4_TYPE_Q8_0, 1, ne2, q8);
    void *buf;
    size_t size;
    CHECK(g4_gguf_writer_write_mem(w, &buf, &size) == 0, "%s", g4_gguf_writer_error(w));
    g4_gguf_writer_free(w);
    char err[256];
    g4_gguf *g = g4_gguf_open_memory(buf, size, err, sizeof err);
    CHECK(g != NULL, "%s", err);
    if (!g) {
        free(buf);
        return;
    }
    const g4_gguf_tensor *t1 = g4_gguf_find_tensor(g, "t1");
    size_t data_off = (size_t)((const uint8_t *)t1->data - (const uint8_t *)buf - t1->offset);
    size_t data_end = data_off + (size_t)(t1->offset + t1->nbytes); /* t1 is last */
    g4_gguf_close(g);
    int fails = 0, oks = 0;
    for (size_t n = 0; n <= size; n++) {
        if (n < data_end) {
            char what[64];
            snprintf(what, sizeof what, "truncated at %zu of %zu", n, size);
            fails += expect_fail(buf, n, what, NULL);
        } else {
            oks += expect_ok(buf, n, "truncated in trailing padding");
        }
    }
    CHECK(fails == (int)data_end && oks == (int)(size - data_end + 1), "truncation: %d fails %d oks", fails, oks);
    free(buf);
}

static void test_hostile_headers(void)
{
    bb b = {0};
    /* magic and version */
    bb_header(&b, 3, 0, 0);
    expect_ok(b.p, b.n, "empty valid file");
    b.p[3] = 'X';
    expect_fail(b.p, b.n, "bad magic", "magic");
    b.n = 0;
    bb_header(&b, 1, 0, 0);
    expect_fail(b.p, b.n, "version 1", "version 1");
    b.n = 0;
    bb_header(&b, 99, 0, 0);
    expect_fail(b.p, b.n, "version 99", "version 99");
    b.n = 0;
    bb_header(&b, 2, 0, 0);
    expect_ok(b.p, b.n, "version 2");
    b.n = 0;
    bb_header(&b, 0x03000000u, 0, 0);
    expect_fail(b.p, b.n, "big-endian", "big-endian");
    expect_fail("GGU", 3, "3 bytes", NULL);
    expect_fail("", 0, "0 bytes", NULL);

    /* counts that cannot fit */
    b.n = 0;
    bb_header(&b, 3, 0, 1ull << 60);
    bb_zeros(&b, 64);
    expect_fail(b.p, b.n, "huge kv count", "metadata count");
    b.n = 0;
    bb_header(&b, 3, 1ull << 60, 0);
    bb_zeros(&b, 64);
    expect_fail(b.p, b.n, "huge tensor count", "tensor count");
    b.n = 0;
    bb_header(&b, 3, UINT64_MAX, UINT64_MAX);
    expect_fail(b.p, b.n, "max counts", NULL);
    b.n = 0;
    bb_header(&b, 3, 0, 3); /* says 3 kvs, has 1 */
    bb_kv_u32(&b, "a", 1);
    bb_zeros(&b, 30);
    expect_fail(b.p, b.n, "kv count too high", NULL);

    /* strings and arrays */
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_u64(&b, 1ull << 62);
    bb_put(&b, "key", 3);
    bb_zeros(&b, 16);
    expect_fail(b.p, b.n, "huge key length", "name length");
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_u64(&b, UINT64_MAX);
    expect_fail(b.p, b.n, "key length 2^64-1", NULL);
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_u64(&b, 0);
    bb_u32(&b, G4_GGUF_UINT8);
    bb_put(&b, "x", 1);
    expect_fail(b.p, b.n, "empty key", "empty");
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_u64(&b, 3);
    bb_put(&b, "a\0b", 3);
    bb_u32(&b, G4_GGUF_UINT8);
    bb_put(&b, "x", 1);
    expect_fail(b.p, b.n, "NUL in key", "NUL");
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_str(&b, "s");
    bb_u32(&b, G4_GGUF_STRING);
    bb_u64(&b, 1ull << 40);
    bb_put(&b, "abc", 3);
    expect_fail(b.p, b.n, "huge string value", "'s'");
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_str(&b, "arr");
    bb_u32(&b, G4_GGUF_ARRAY);
    bb_u32(&b, G4_GGUF_UINT32);
    bb_u64(&b, 1ull << 62); /* × 4 bytes overflows 64 bits */
    bb_zeros(&b, 16);
    expect_fail(b.p, b.n, "array length overflow", "'arr'");
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_str(&b, "arr");
    bb_u32(&b, G4_GGUF_ARRAY);
    bb_u32(&b, G4_GGUF_FLOAT64);
    bb_u64(&b, UINT64_MAX);
    expect_fail(b.p, b.n, "array length 2^64-1", "'arr'");
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_str(&b, "strs");
    bb_u32(&b, G4_GGUF_ARRAY);
    bb_u32(&b, G4_GGUF_STRING);
    bb_u64(&b, 1ull << 61);
    bb_zeros(&b, 16);
    expect_fail(b.p, b.n, "huge string array", "'strs'");
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_str(&b, "strs");
    bb_u32(&b, G4_GGUF_ARRAY);
    bb_u32(&b, G4_GGUF_STRING);
    bb_u64(&b, 2);
    bb_str(&b, "ok");
    bb_u64(&b, 1000);
    bb_put(&b, "short", 5);
    expect_fail(b.p, b.n, "string element past end", "string 1 of 2");
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_str(&b, "bad");
    bb_u32(&b, 13);
    bb_zeros(&b, 8);
    expect_fail(b.p, b.n, "unknown value type", "unknown value type 13");
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_str(&b, "bad");
    bb_u32(&b, G4_GGUF_ARRAY);
    bb_u32(&b, 77);
    bb_u64(&b, 1);
    bb_zeros(&b, 8);
    expect_fail(b.p, b.n, "unknown element type", "element type 77");
    b.n = 0;
    bb_header(&b, 3, 0, 2);
    bb_kv_u32(&b, "dup", 1);
    bb_kv_u32(&b, "dup", 2);
    expect_fail(b.p, b.n, "duplicate key", "duplicate key 'dup'");

    /* nested arrays: valid ones are skipped correctly; broken ones fail */
    b.n = 0;
    bb_header(&b, 3, 0, 2);
    bb_str(&b, "nest");
    bb_u32(&b, G4_GGUF_ARRAY);
    bb_u32(&b, G4_GGUF_ARRAY);
    bb_u64(&b, 2);
    bb_u32(&b, G4_GGUF_STRING);
    bb_u64(&b, 2);
    bb_str(&b, "x");
    bb_str(&b, "yz");
    bb_u32(&b, G4_GGUF_ARRAY); /* [[...]] inside: array of one array of u16 */
    bb_u64(&b, 1);
    bb_u32(&b, G4_GGUF_UINT16);
    bb_u64(&b, 3);
    bb_zeros(&b, 6);
    bb_kv_u32(&b, "after", 42);
    {
        char err[256];
        uint8_t *copy = malloc(b.n);
        memcpy(copy, b.p, b.n);
        g4_gguf *g = g4_gguf_open_memory(copy, b.n, err, sizeof err);
        CHECK(g != NULL, "valid nested array: %s", err);
        CHECK(get_u32_or(g, "after", 0) == 42, "key after a nested array");
        const g4_gguf_kv *kv = g4_gguf_find_kv(g, "nest");
        CHECK(kv && kv->arr_type == G4_GGUF_ARRAY && kv->arr_len == 2, "nested kv");
        g4_gguf_close(g);
        /* every shorter prefix fails */
        for (size_t n = 0; n < b.n; n++)
            if (!expect_fail(b.p, n, "truncated nested array", NULL))
                break;
        free(copy);
    }
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_str(&b, "nest");
    bb_u32(&b, G4_GGUF_ARRAY);
    bb_u32(&b, G4_GGUF_ARRAY);
    bb_u64(&b, 1);
    bb_u32(&b, G4_GGUF_UINT32);
    bb_u64(&b, 1ull << 62);
    bb_zeros(&b, 8);
    expect_fail(b.p, b.n, "nested array too long", "'nest'");
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_str(&b, "nest");
    bb_u32(&b, G4_GGUF_ARRAY);
    bb_u32(&b, G4_GGUF_ARRAY);
    bb_u64(&b, 1);
    bb_u32(&b, 99);
    bb_u64(&b, 0);
    expect_fail(b.p, b.n, "nested unknown type", "'nest'");
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_str(&b, "deep");
    bb_u32(&b, G4_GGUF_ARRAY);
    for (int i = 0; i < 40; i++) {
        bb_u32(&b, G4_GGUF_ARRAY);
        bb_u64(&b, 1);
    }
    bb_u32(&b, G4_GGUF_UINT8);
    bb_u64(&b, 0);
    expect_fail(b.p, b.n, "deeply nested arrays", "nested");
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_str(&b, "many");
    bb_u32(&b, G4_GGUF_ARRAY);
    bb_u32(&b, G4_GGUF_ARRAY);
    bb_u64(&b, 1ull << 58);
    bb_zeros(&b, 24);
    expect_fail(b.p, b.n, "huge count of nested arrays", "'many'");

    /* alignment */
    uint32_t aligns[3] = {0, 3, 48};
    for (int i = 0; i < 3; i++) {
        b.n = 0;
        bb_header(&b, 3, 0, 1);
        bb_kv_u32(&b, "general.alignment", aligns[i]);
        char what[64];
        snprintf(what, sizeof what, "alignment %u", aligns[i]);
        expect_fail(b.p, b.n, what, "general.alignment");
    }
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_str(&b, "general.alignment");
    bb_u32(&b, G4_GGUF_STRING);
    bb_str(&b, "32");
    expect_fail(b.p, b.n, "alignment of type string", "general.alignment");
    b.n = 0;
    bb_header(&b, 3, 1, 1);
    bb_kv_u32(&b, "general.alignment", 64);
    {
        const int64_t ne[1] = {16};
        bb_tensor(&b, "a", 1, ne, G4_TYPE_F32, 32); /* 32 is not a multiple of 64 */
    }
    bb_pad(&b, 64);
    bb_zeros(&b, 128);
    expect_fail(b.p, b.n, "offset misaligned for alignment 64", "offset 32");
    free(b.p);
}

static void test_hostile_tensors(void)
{
    /* baseline: two valid tensors */
    tdesc ok2[2] = {{"a", 2, {8, 2}, G4_TYPE_F32, 0}, {"b", 1, {32}, G4_TYPE_Q8_0, 64}};
    {
        bb b = {0};
        build_tensors(&b, ok2, 2, 128);
        expect_ok(b.p, b.n, "valid tensors");
        free(b.p);
    }
    tdesc t;
    t = (tdesc){"blk.0.attn_q.weight", 5, {2, 2, 2, 2, 2}, G4_TYPE_F32, 0};
    expect_tensors_fail(&t, 1, 256, "n_dims 5", "5 dimensions");
    t = (tdesc){"z", 2, {8, 0}, G4_TYPE_F32, 0};
    expect_tensors_fail(&t, 1, 256, "zero dim", "'z': dimension 1");
    t = (tdesc){"neg", 2, {-8, 2}, G4_TYPE_F32, 0};
    expect_tensors_fail(&t, 1, 256, "negative dim", "'neg': dimension 0 is -8");
    t = (tdesc){"ovf", 4, {1ll << 32, 1ll << 32, 1, 1}, G4_TYPE_F32, 0};
    expect_tensors_fail(&t, 1, 256, "dim product overflow", "'ovf'");
    t = (tdesc){"ovf2", 2, {INT64_MAX, 2}, G4_TYPE_I8, 0};
    expect_tensors_fail(&t, 1, 256, "dim product overflow 2", "'ovf2'");
    t = (tdesc){"bytes", 1, {INT64_MAX / 2}, G4_TYPE_F64, 0}; /* elements fit, bytes do not */
    expect_tensors_fail(&t, 1, 256, "byte size overflow", "'bytes'");
    t = (tdesc){"big", 1, {1ll << 40}, G4_TYPE_F32, 0};
    expect_tensors_fail(&t, 1, 256, "tensor past end of file", "'big'");
    t = (tdesc){"q", 1, {16}, G4_TYPE_Q8_0, 0};
    expect_tensors_fail(&t, 1, 256, "partial block", "block size");
    t = (tdesc){"mis", 1, {4}, G4_TYPE_F32, 4};
    expect_tensors_fail(&t, 1, 256, "misaligned offset", "'mis': offset 4");
    t = (tdesc){"end", 1, {16}, G4_TYPE_F32, 224}; /* data section is 256 bytes: 224+64 > 256 */
    expect_tensors_fail(&t, 1, 256, "tensor runs past end", "'end'");
    t = (tdesc){"wrap", 1, {16}, G4_TYPE_F32, UINT64_MAX - 31};
    expect_tensors_fail(&t, 1, 256, "offset + size wraps", "'wrap'");
    t = (tdesc){"", 1, {16}, G4_TYPE_F32, 0};
    expect_tensors_fail(&t, 1, 256, "empty tensor name", "empty");
    const uint32_t bad_types[] = {4, 5, 31, 33, 36, 38, 40, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++) {
        char want[96], what[64];
        t = (tdesc){"blk.0.attn_q.weight", 1, {32}, bad_types[i], 0};
        snprintf(want, sizeof want, "tensor 'blk.0.attn_q.weight' has unknown type %u", bad_types[i]);
        snprintf(what, sizeof what, "type %u", bad_types[i]);
        expect_tensors_fail(&t, 1, 256, what, want);
    }
    tdesc ov[3] = {{"a", 1, {16}, G4_TYPE_F32, 64}, {"b", 1, {16}, G4_TYPE_F32, 0}, {"c", 1, {16}, G4_TYPE_F32, 96}};
    expect_tensors_fail(ov, 3, 256, "overlapping tensors", "overlap");
    tdesc same[2] = {{"a", 1, {8}, G4_TYPE_F32, 0}, {"b", 1, {8}, G4_TYPE_F32, 0}};
    expect_tensors_fail(same, 2, 256, "tensors at the same offset", "overlap");
    tdesc dup[2] = {{"w", 1, {8}, G4_TYPE_F32, 0}, {"w", 1, {8}, G4_TYPE_F32, 32}};
    expect_tensors_fail(dup, 2, 256, "duplicate tensor names", "duplicate tensor name 'w'");
    /* a file whose data section is missing entirely */
    bb b = {0};
    bb_header(&b, 3, 1, 0);
    const int64_t ne[1] = {8};
    bb_tensor(&b, "x", 1, ne, G4_TYPE_F32, 0);
    expect_fail(b.p, b.n, "no data section", NULL);
    free(b.p);
}

static void test_open_errors(const char *tmpdir)
{
    char err[512], path[1024];
    g4_gguf *g = g4_gguf_open("/nonexistent/dir/model.gguf", 0, err, sizeof err);
    CHECK(g == NULL && strstr(err, "/nonexistent/dir/model.gguf"), "missing file: %s", err);
    g = g4_gguf_open(tmpdir, 0, err, sizeof err);
    CHECK(g == NULL && strstr(err, "not a regular file"), "directory: %s", err);
    snprintf(path, sizeof path, "%s/empty.gguf", tmpdir);
    FILE *f = fopen(path, "wb");
    if (f)
        fclose(f);
    g = g4_gguf_open(path, 0, err, sizeof err);
    CHECK(g == NULL && err[0], "empty file: %s", err);
    g = g4_gguf_open(path, G4_GGUF_NO_MMAP, err, sizeof err);
    CHECK(g == NULL && err[0], "empty file no-mmap: %s", err);
    unlink(path);
    /* tiny error buffers are respected */
    char tiny[4] = "xxx";
    g = g4_gguf_open_memory("GGUF", 4, tiny, sizeof tiny);
    CHECK(g == NULL && strlen(tiny) < 4, "tiny err buffer");
    g = g4_gguf_open_memory("GGUF", 4, NULL, 0);
    CHECK(g == NULL, "no err buffer");
    CHECK(g4_gguf_open_memory(NULL, 0, err, sizeof err) == NULL && err[0], "NULL buffer");
    /* NULL handles are harmless */
    g4_gguf_close(NULL);
    CHECK(g4_gguf_n_kv(NULL) == 0 && g4_gguf_find_kv(NULL, "x") == NULL && g4_gguf_find_tensor(NULL, "x") == NULL,
          "NULL handle");
    CHECK(g4_gguf_arr_str(NULL, 0, NULL) == -1 && g4_gguf_get_u32(NULL, "x", NULL) == -1, "NULL kv");
}

/* ------------------------------------------------------------------ split files */

static void shard_tensor_data(float *dst, int shard, int k, int n)
{
    for (int i = 0; i < n; i++)
        dst[i] = (float)(shard * 1000 + k * 100 + i);
}

/* Writes NAME-0000i-of-00003.gguf, two tensors per shard. */
static void write_split(const char *tmpdir, const char *stem, int bad_count_in_shard, int dup_tensor)
{
    float data[3][2][16];
    char path[1024], name[64];
    for (int s = 0; s < 3; s++) {
        g4_gguf_writer *w = g4_gguf_writer_new();
        if (s == 0) {
            g4_gguf_set_str(w, "general.architecture", "gemma4");
            g4_gguf_set_u32(w, "gemma4.block_count", 3);
        }
        g4_gguf_set_u16(w, "split.no", (uint16_t)s);
        g4_gguf_set_u16(w, "split.count", (uint16_t)(s == bad_count_in_shard ? 4 : 3));
        g4_gguf_set_i32(w, "split.tensors.count", 6);
        for (int k = 0; k < 2; k++) {
            shard_tensor_data(data[s][k], s, k, 16);
            const int64_t ne[1] = {16};
            snprintf(name, sizeof name, "blk.%d.w%d", dup_tensor && s == 2 ? 0 : s, k);
            g4_gguf_writer_add_tensor(w, name, G4_TYPE_F32, 1, ne, data[s][k]);
        }
        snprintf(path, sizeof path, "%s/%s-%05d-of-%05d.gguf", tmpdir, stem, s + 1, 3);
        CHECK(g4_gguf_writer_write_file(w, path) == 0, "%s", g4_gguf_writer_error(w));
        g4_gguf_writer_free(w);
    }
}

static void test_split(const char *tmpdir)
{
    char path[1024], err[512];
    write_split(tmpdir, "model", -1, 0);
    for (int via = 1; via <= 3; via++) {
        snprintf(path, sizeof path, "%s/model-%05d-of-00003.gguf", tmpdir, via);
        g4_gguf *g = g4_gguf_open(path, via == 2 ? G4_GGUF_NO_MMAP : 0, err, sizeof err);
        CHECK(g != NULL, "split via shard %d: %s", via, err);
        if (!g)
            continue;
        CHECK(g4_gguf_n_shards(g) == 3 && g4_gguf_n_tensors(g) == 6, "split counts");
        CHECK(get_str_is(g, "general.architecture", "gemma4") && get_u32_or(g, "gemma4.block_count", 0) == 3,
              "metadata from shard 0");
        for (int s = 0; s < 3; s++)
            for (int k = 0; k < 2; k++) {
                char name[64];
                float want[16];
                snprintf(name, sizeof name, "blk.%d.w%d", s, k);
                shard_tensor_data(want, s, k, 16);
                const g4_gguf_tensor *t = g4_gguf_find_tensor(g, name);
                CHECK(t && t->shard == (uint32_t)s && t->nbytes == 64 && memcmp(t->data, want, 64) == 0,
                      "split tensor %s", name);
            }
        check_invariants(g, "split");
        g4_gguf_close(g);
    }
    /* from memory, a shard is refused rather than silently half-loaded */
    snprintf(path, sizeof path, "%s/model-00001-of-00003.gguf", tmpdir);
    FILE *f = fopen(path, "rb");
    uint8_t buf[4096];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    CHECK(g4_gguf_open_memory(buf, n, err, sizeof err) == NULL && strstr(err, "split"), "memory shard: %s", err);

    /* renamed shard: the name no longer says which shard it is */
    char other[1024];
    snprintf(other, sizeof other, "%s/renamed.gguf", tmpdir);
    CHECK(rename(path, other) == 0, "rename");
    CHECK(g4_gguf_open(other, 0, err, sizeof err) == NULL && strstr(err, "file name"), "renamed shard: %s", err);
    CHECK(rename(other, path) == 0, "rename back");

    /* missing shard */
    snprintf(path, sizeof path, "%s/model-00003-of-00003.gguf", tmpdir);
    unlink(path);
    snprintf(path, sizeof path, "%s/model-00001-of-00003.gguf", tmpdir);
    g4_gguf *g = g4_gguf_open(path, 0, err, sizeof err);
    CHECK(g == NULL && strstr(err, "model-00003-of-00003.gguf"), "missing shard: %s", err);
    for (int s = 1; s <= 2; s++) {
        snprintf(path, sizeof path, "%s/model-%05d-of-00003.gguf", tmpdir, s);
        unlink(path);
    }

    /* inconsistent split.count, duplicate tensor across shards */
    write_split(tmpdir, "badcount", 1, 0);
    snprintf(path, sizeof path, "%s/badcount-00001-of-00003.gguf", tmpdir);
    g = g4_gguf_open(path, 0, err, sizeof err);
    CHECK(g == NULL && strstr(err, "badcount-00002-of-00003.gguf"), "bad split.count: %s", err);
    write_split(tmpdir, "dup", -1, 1);
    snprintf(path, sizeof path, "%s/dup-00001-of-00003.gguf", tmpdir);
    g = g4_gguf_open(path, 0, err, sizeof err);
    CHECK(g == NULL && strstr(err, "duplicate tensor name"), "dup across shards: %s", err);
    for (int s = 1; s <= 3; s++) {
        snprintf(path, sizeof path, "%s/badcount-%05d-of-00003.gguf", tmpdir, s);
        unlink(path);
        snprintf(path, sizeof path, "%s/dup-%05d-of-00003.gguf", tmpdir, s);
        unlink(path);
    }
}

/* ------------------------------------------------------------------ fuzzer regressions */

/* The fuzzer seeds are valid files and must keep opening; then every prefix of each must fail
 * cleanly or open. (No crashing input has been found so far: add any here, as bytes.) */
static void test_fuzz_regressions(void)
{
    DIR *dir = opendir("fuzz/corpus/gguf");
    CHECK(dir != NULL, "fuzz/corpus/gguf not found (run from the repo root)");
    if (!dir)
        return;
    int seeds = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "fuzz/corpus/gguf/%s", de->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        uint8_t buf[8192];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        seeds++;
        expect_ok(buf, n, path);
        for (size_t k = 0; k < n; k++) {
            uint8_t *copy = malloc(k ? k : 1);
            memcpy(copy, buf, k);
            char err[256] = "";
            g4_gguf *g = g4_gguf_open_memory(copy, k, err, sizeof err);
            if (!g && !err[0])
                CHECK(0, "%s truncated to %zu: no error message", path, k);
            g4_gguf_close(g);
            free(copy);
        }
    }
    closedir(dir);
    CHECK(seeds >= 2, "found %d fuzz seeds", seeds);
}

int main(void)
{
    double t0 = now_ms();
    char tmpdir[] = "/tmp/g4-test-gguf-XXXXXX";
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_fixture_files();
    test_unified_facts();
    test_other_fixtures();
    test_vocab_speed();
    test_roundtrip(tmpdir);
    test_truncation();
    test_hostile_headers();
    test_hostile_tensors();
    test_open_errors(tmpdir);
    test_split(tmpdir);
    test_fuzz_regressions();
    char path[1100];
    for (int pass = 0; pass < 2; pass++) {
        snprintf(path, sizeof path, "%s/roundtrip%d.gguf", tmpdir, pass);
        unlink(path);
    }
    if (rmdir(tmpdir) != 0)
        CHECK(0, "temporary directory %s not empty", tmpdir);
    printf("test_gguf: %.0f ms\n", now_ms() - t0);
    return T_DONE("test_gguf");
}
