/* Gemma 4 tokenizer: llama.cpp/HF test vectors, round trips on arbitrary bytes, special tokens,
 * BOS, pieces, the two-call pattern, load errors, and concurrent use of one tokenizer. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gguf/gguf.h"
#include "t.h"
#include "vocab/tokenizer.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* encode into a fresh array (two-call pattern); *n = count */
static int32_t *enc(const g4_tokenizer *t, const char *s, size_t len, unsigned flags, int64_t *n)
{
    char err[256];
    *n = g4_tokenizer_encode(t, s, len, flags, NULL, 0, err, sizeof err);
    if (*n < 0)
        return NULL;
    int32_t *ids = malloc((size_t)(*n ? *n : 1) * sizeof *ids);
    int64_t n2 = g4_tokenizer_encode(t, s, len, flags, ids, (size_t)*n, err, sizeof err);
    if (n2 != *n) {
        free(ids);
        *n = -1;
        return NULL;
    }
    return ids;
}

static char *dec(const g4_tokenizer *t, const int32_t *ids, size_t n, unsigned flags, int64_t *len)
{
    *len = g4_tokenizer_decode(t, ids, n, flags, NULL, 0);
    if (*len < 0)
        return NULL;
    char *b = malloc((size_t)*len + 1);
    int64_t l2 = g4_tokenizer_decode(t, ids, n, flags, b, (size_t)*len);
    if (l2 != *len) {
        free(b);
        *len = -1;
        return NULL;
    }
    b[*len] = '\0';
    return b;
}

/* s with every U+2581 replaced by ' ': what decode(encode(s)) must give back */
static char *expect_rt(const char *s, size_t len, size_t *olen)
{
    char *o = malloc(len + 1);
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        if (i + 3 <= len && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
            o[k++] = ' ';
            i += 3;
        } else {
            o[k++] = s[i++];
        }
    }
    *olen = k;
    return o;
}

static int round_trips(const g4_tokenizer *t, const char *s, size_t len)
{
    int64_t n, dl;
    int32_t *ids = enc(t, s, len, 0, &n);
    if (!ids)
        return 0;
    char *d = dec(t, ids, (size_t)n, 0, &dl);
    size_t el;
    char *e = expect_rt(s, len, &el);
    int ok = d && (size_t)dl == el && memcmp(d, e, el) == 0;
    free(ids);
    free(d);
    free(e);
    return ok;
}

/* ---- test vectors ---- */

static void test_vectors(const g4_tokenizer *t, const char *dir)
{
    char pin[1024], pout[1024];
    snprintf(pin, sizeof pin, "%s/tokenizer/ggml-vocab-gemma-4.gguf.inp", dir);
    snprintf(pout, sizeof pout, "%s/tokenizer/ggml-vocab-gemma-4.gguf.out", dir);
    size_t ni, no;
    char *inp = t_read_file(pin, &ni), *outp = t_read_file(pout, &no);
    CHECK(inp && outp, "cannot read %s / %s", pin, pout);
    if (!inp || !outp) {
        free(inp);
        free(outp);
        return;
    }
    /* llama.cpp test-tokenizer-0 format: inputs separated by "\n__ggml_vocab_test__\n", one output
     * line of space-separated ids per input. The ids carry no BOS: tokenized without special
     * tokens and without special parsing. */
    const char *sep = "\n__ggml_vocab_test__\n";
    size_t seplen = strlen(sep);
    char *ip = inp, *op = outp;
    int cases = 0, passed = 0;
    while (ip < inp + ni) {
        char *next = strstr(ip, sep);
        size_t len = next ? (size_t)(next - ip) : (size_t)(inp + ni - ip);
        char *eol = strchr(op, '\n');
        if (!eol)
            eol = op + strlen(op);
        /* expected ids */
        int32_t want[512];
        int nw = 0;
        for (char *q = op; q < eol;) {
            char *end;
            long v = strtol(q, &end, 10);
            if (end == q)
                break;
            if (nw < 512)
                want[nw++] = (int32_t)v;
            q = end;
        }
        int64_t n;
        int32_t *got = enc(t, ip, len, 0, &n);
        int ok = got && n == nw && memcmp(got, want, (size_t)nw * sizeof *want) == 0;
        CHECK(ok, "vector %d (%.*s): got %lld ids, want %d", cases, (int)(len > 40 ? 40 : len), ip, (long long)n, nw);
        if (!ok && got) {
            fprintf(stderr, "  got :");
            for (int64_t k = 0; k < n; k++)
                fprintf(stderr, " %d", got[k]);
            fprintf(stderr, "\n  want:");
            for (int k = 0; k < nw; k++)
                fprintf(stderr, " %d", want[k]);
            fputc('\n', stderr);
        }
        passed += ok;
        cases++;
        CHECK(round_trips(t, ip, len), "vector %d does not round-trip", cases - 1);
        free(got);
        op = *eol ? eol + 1 : eol;
        if (!next)
            break;
        ip = next + seplen;
    }
    CHECK(cases == 46, "expected 46 vectors, found %d", cases);
    printf("vectors: %d/%d exact\n", passed, cases);
    free(inp);
    free(outp);
}

/* ---- random round trips ---- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void test_random_round_trips(const g4_tokenizer *t)
{
    static const char *const atoms[] = {
        "a", "e", "the", " ", "  ", "\n", "\n\n", "\t", "\r\n", "Hello", " world", ",", ".", "3", "123",
        "\xc3\xa4", "\xd0\xb1", "\xe4\xb8\xad", "\xe6\x96\x87", "\xf0\x9f\xa6\x99", "\xf0\x9f\x98\x81",
        "\xe2\x80\x8d", "\xef\xb8\x8f",
        "\x00", "\x80", "\xbf", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
        "\xf8\x88\x80\x80\x80", "\xff", "\xfe", "\xc3", "\xe4\xb8", "\xf0\x9f\xa6", "\xe2\x96\x81",
        "<|turn>", "<turn|>", "<bos>", "<0x41>", "<|\"|>", "<|tool_response>",
    };
    const size_t na = sizeof atoms / sizeof *atoms;
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    char buf[4096];
    int bad = 0;
    for (int it = 0; it < 3000; it++) {
        size_t len = 0, want = rng_next(&seed) % 600;
        int mode = it % 3;
        while (len < want) {
            if (mode == 0) { /* uniformly random bytes */
                buf[len++] = (char)(rng_next(&seed) & 0xff);
            } else { /* atoms, sometimes random bytes in between */
                const char *a = atoms[rng_next(&seed) % na];
                size_t al = a[0] ? strlen(a) : 1;
                if (len + al > sizeof buf)
                    break;
                memcpy(buf + len, a, al);
                len += al;
                if (mode == 2 && (rng_next(&seed) & 7) == 0)
                    buf[len++] = (char)(rng_next(&seed) & 0xff);
            }
        }
        if (!round_trips(t, buf, len)) {
            if (bad++ < 5)
                fprintf(stderr, "random round trip %d failed (len %zu)\n", it, len);
        }
    }
    CHECK(bad == 0, "%d random byte strings did not round-trip", bad);

    /* every single byte and every byte pair */
    int bad1 = 0;
    for (int a = 0; a < 256; a++) {
        char s[2] = {(char)a, 0};
        bad1 += !round_trips(t, s, 1);
        for (int b = 0; b < 256; b++) {
            s[1] = (char)b;
            bad1 += !round_trips(t, s, 2);
        }
    }
    CHECK(bad1 == 0, "%d one/two-byte strings did not round-trip", bad1);

    /* a long chunk without newlines must not go quadratic (and must round-trip) */
    size_t big = 300000;
    char *s = malloc(big);
    for (size_t i = 0; i < big; i++) {
        uint64_t r = rng_next(&seed);
        s[i] = (r & 3) == 0 ? ' ' : (char)('a' + r % 26);
    }
    double t0 = now_ms();
    CHECK(round_trips(t, s, big), "300 KB line does not round-trip");
    double dt = now_ms() - t0;
    CHECK(dt < 5000, "300 KB line took %.0f ms", dt);
    memset(s, '3', big); /* one symbol per digit, no merges at all */
    CHECK(round_trips(t, s, big), "300 KB of '3' does not round-trip");
    memset(s, ' ', big); /* long runs of '▁' merge to the longest space tokens */
    CHECK(round_trips(t, s, big), "300 KB of spaces does not round-trip");
    memset(s, '\n', big);
    CHECK(round_trips(t, s, big), "300 KB of newlines does not round-trip");
    free(s);
}

/* ---- API details ---- */

static int ids_eq(const int32_t *a, int64_t na, const int32_t *b, int64_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, (size_t)na * sizeof *a) == 0);
}

static int contains(const int32_t *a, int64_t n, int32_t id)
{
    for (int64_t i = 0; i < n; i++)
        if (a[i] == id)
            return 1;
    return 0;
}

static void test_api(const g4_tokenizer *t, const char *dir)
{
    CHECK(g4_tokenizer_n_vocab(t) == 262144, "n_vocab %d", g4_tokenizer_n_vocab(t));
    CHECK(g4_tokenizer_bos(t) == 2, "bos %d", g4_tokenizer_bos(t));
    CHECK(g4_tokenizer_eos(t) == 1, "eos %d", g4_tokenizer_eos(t));
    CHECK(g4_tokenizer_pad(t) == 0, "pad %d", g4_tokenizer_pad(t));
    CHECK(g4_tokenizer_is_eog(t, 1) && g4_tokenizer_is_eog(t, 106) && g4_tokenizer_is_eog(t, 50), "eog set");
    CHECK(!g4_tokenizer_is_eog(t, 2) && !g4_tokenizer_is_eog(t, 105) && !g4_tokenizer_is_eog(t, -1) &&
              !g4_tokenizer_is_eog(t, 51),
          "non-eog");
    CHECK(g4_tokenizer_token_type(t, 2) == 3 && g4_tokenizer_token_type(t, 48) == 4 &&
              g4_tokenizer_token_type(t, 238 + 0x41) == 6 && g4_tokenizer_token_type(t, 9259) == 1,
          "token types");
    CHECK(g4_tokenizer_token_type(t, -1) == -1 && g4_tokenizer_token_type(t, 262144) == -1, "token type range");
    CHECK(g4_tokenizer_find(t, "<|turn>", 7) == 105 && g4_tokenizer_find(t, "<turn|>", 7) == 106, "find turn");
    CHECK(g4_tokenizer_find(t, "\xe2\x96\x81Hello", 8) == 26352, "find ▁Hello");
    CHECK(g4_tokenizer_find(t, "no such token text", 18) == -1, "find missing");
    CHECK(g4_tokenizer_find(t, "<0x0A>", 6) == 248, "find byte token");

    /* chat template: a copy of the GGUF's, which is the fixture's .jinja */
    const char *ct = g4_tokenizer_chat_template(t);
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer/gemma-4-chat-template.jinja", dir);
    size_t jl;
    char *j = t_read_file(path, &jl);
    CHECK(ct && j && strncmp(ct, j, 200) == 0, "chat template differs from the fixture");
    free(j);

    /* special parsing on / off */
    const char *chat = "<|turn>user\nhi<turn|>";
    int64_t n1, n0, nb;
    int32_t *a = enc(t, chat, strlen(chat), G4_TOKENIZE_PARSE_SPECIAL, &n1);
    CHECK(a && n1 >= 4 && a[0] == 105 && a[n1 - 1] == 106, "special parsing: first/last ids");
    int32_t *u = enc(t, "user\nhi", 7, 0, &n0);
    CHECK(a && u && n1 == n0 + 2 && ids_eq(a + 1, n1 - 2, u, n0), "special parsing: inner text tokenized normally");
    free(u);
    int32_t *b = enc(t, chat, strlen(chat), 0, &n0);
    CHECK(b && !contains(b, n0, 105) && !contains(b, n0, 106), "no special parsing: 105/106 must not appear");
    CHECK(round_trips(t, chat, strlen(chat)), "no special parsing: round trip");
    int64_t dl;
    char *d = dec(t, a, (size_t)n1, G4_DETOK_RENDER_SPECIAL, &dl);
    CHECK(d && strcmp(d, chat) == 0, "special parsing + render special round-trips: %s", d ? d : "(null)");
    free(d);
    d = dec(t, a, (size_t)n1, 0, &dl);
    CHECK(d && strcmp(d, "user\nhi") == 0, "control tokens hidden without RENDER_SPECIAL: %s", d ? d : "(null)");
    free(d);
    free(b);
    /* user-defined tokens (<|channel> 100, <channel|> 101) are matched even without
     * PARSE_SPECIAL, as llama.cpp and transformers do; control ones (<|turn>) are not */
    const char *th = "<|channel>thought\n<channel|>ok <|turn>";
    b = enc(t, th, strlen(th), 0, &n0);
    CHECK(b && n0 > 3 && b[0] == 100 && contains(b, n0, 101) && !contains(b, n0, 105),
          "user-defined tokens without PARSE_SPECIAL");
    CHECK(round_trips(t, th, strlen(th)), "user-defined tokens round trip");
    free(b);

    /* longest match: <|image|> (258880) over <|image> (255999); user-defined tokens too */
    const char *mm = "<|image|><|image><|tool_call>x<tool_call|><|\"|><bos>";
    b = enc(t, mm, strlen(mm), G4_TOKENIZE_PARSE_SPECIAL, &n0);
    int32_t want_mm[] = {258880, 255999, 48, -1, 49, 52, 2};
    int okmm = b && n0 == 7;
    for (int i = 0; okmm && i < 7; i++)
        okmm = want_mm[i] < 0 || b[i] == want_mm[i];
    CHECK(okmm, "longest special match");
    d = b ? dec(t, b, (size_t)n0, 0, &dl) : NULL;
    CHECK(d && strcmp(d, "<|tool_call>x<tool_call|><|\"|>") == 0, "user-defined tokens always render: %s",
          d ? d : "(null)");
    free(d);
    free(b);
    /* a special text cut short at the end of the input is plain text */
    b = enc(t, "<|turn", 6, G4_TOKENIZE_PARSE_SPECIAL, &n0);
    CHECK(b && !contains(b, n0, 105) && round_trips(t, "<|turn", 6), "truncated special text");
    free(b);

    /* BOS */
    b = enc(t, chat, strlen(chat), G4_TOKENIZE_PARSE_SPECIAL | G4_TOKENIZE_ADD_BOS, &nb);
    CHECK(b && nb == n1 + 1 && b[0] == 2 && ids_eq(b + 1, nb - 1, a, n1), "ADD_BOS prepends 2");
    free(b);
    b = enc(t, "", 0, G4_TOKENIZE_ADD_BOS, &nb);
    CHECK(b && nb == 1 && b[0] == 2, "ADD_BOS on empty input");
    free(b);
    free(a);
    char err[256];
    CHECK(g4_tokenizer_encode(t, NULL, 0, 0, NULL, 0, err, sizeof err) == 0, "empty input");
    CHECK(g4_tokenizer_encode(t, NULL, 0, G4_TOKENIZE_PARSE_SPECIAL, NULL, 0, err, sizeof err) == 0, "empty input, special");

    /* two-call pattern, and a short buffer gets a prefix */
    const char *txt = "Hello, world! How are you?";
    int64_t need = g4_tokenizer_encode(t, txt, strlen(txt), 0, NULL, 0, err, sizeof err);
    CHECK(need > 3, "cap 0 returns the count (%lld)", (long long)need);
    int32_t full[64], part[64];
    memset(part, 0x7f, sizeof part);
    CHECK(g4_tokenizer_encode(t, txt, strlen(txt), 0, full, 64, err, sizeof err) == need, "full call");
    CHECK(g4_tokenizer_encode(t, txt, strlen(txt), 0, part, 2, err, sizeof err) == need, "short call count");
    CHECK(part[0] == full[0] && part[1] == full[1] && part[2] == 0x7f7f7f7f, "short call writes exactly cap ids");
    char pb[8];
    memset(pb, 'Z', sizeof pb);
    int64_t dn = g4_tokenizer_decode(t, full, (size_t)need, 0, pb, 3);
    CHECK(dn == (int64_t)strlen(txt) && memcmp(pb, "Hel", 3) == 0 && pb[3] == 'Z', "decode short buffer");

    /* pieces */
    char buf[64];
    CHECK(g4_tokenizer_piece(t, 2, 0, buf, sizeof buf) == 0, "control piece hidden");
    int64_t pl = g4_tokenizer_piece(t, 2, G4_DETOK_RENDER_SPECIAL, buf, sizeof buf);
    CHECK(pl == 5 && memcmp(buf, "<bos>", 5) == 0, "control piece rendered");
    pl = g4_tokenizer_piece(t, 48, 0, buf, sizeof buf);
    CHECK(pl == 12 && memcmp(buf, "<|tool_call>", 12) == 0, "user-defined piece always rendered");
    pl = g4_tokenizer_piece(t, 238 + 0xC3, 0, buf, sizeof buf);
    CHECK(pl == 1 && (uint8_t)buf[0] == 0xC3, "byte piece");
    pl = g4_tokenizer_piece(t, 26352, 0, buf, sizeof buf);
    CHECK(pl == 6 && memcmp(buf, " Hello", 6) == 0, "'▁' renders as ' '");
    pl = g4_tokenizer_piece(t, 26352, 0, NULL, 0);
    CHECK(pl == 6, "piece cap 0 returns the length");
    CHECK(g4_tokenizer_piece(t, -1, 0, buf, sizeof buf) == -1 && g4_tokenizer_piece(t, 262144, 0, buf, sizeof buf) == -1,
          "piece of an out-of-range id");
    int32_t badids[] = {9259, 262144};
    CHECK(g4_tokenizer_decode(t, badids, 2, 0, buf, sizeof buf) == -1, "decode of an out-of-range id");
    badids[1] = -5;
    CHECK(g4_tokenizer_decode(t, badids, 2, 0, buf, sizeof buf) == -1, "decode of a negative id");
    CHECK(g4_tokenizer_decode(t, NULL, 0, 0, NULL, 0) == 0, "decode of nothing");

    /* a run of newlines that is a token is that token; a tab run too via BPE */
    b = enc(t, "\n\n\n\n", 4, 0, &n0);
    CHECK(b && n0 == 1 && b[0] == g4_tokenizer_find(t, "\n\n\n\n", 4), "newline run as one token");
    free(b);
}

/* ---- load errors (hand-made GGUFs in memory) ---- */

struct gb {
    unsigned char b[4096];
    size_t n;
};
static void gb_put(struct gb *g, const void *p, size_t n)
{
    memcpy(g->b + g->n, p, n);
    g->n += n;
}
static void gb_u32(struct gb *g, uint32_t v) { gb_put(g, &v, 4); }
static void gb_u64(struct gb *g, uint64_t v) { gb_put(g, &v, 8); }
static void gb_str(struct gb *g, const char *s)
{
    gb_u64(g, strlen(s));
    gb_put(g, s, strlen(s));
}
static void gb_kv_str(struct gb *g, const char *k, const char *v)
{
    gb_str(g, k);
    gb_u32(g, G4_GGUF_STRING);
    gb_str(g, v);
}
static void gb_kv_strarr(struct gb *g, const char *k, const char *const *v, int n)
{
    gb_str(g, k);
    gb_u32(g, G4_GGUF_ARRAY);
    gb_u32(g, G4_GGUF_STRING);
    gb_u64(g, (uint64_t)n);
    for (int i = 0; i < n; i++)
        gb_str(g, v[i]);
}

static g4_tokenizer *load_mem(struct gb *g, char *err, size_t errlen, g4_gguf **out)
{
    *out = g4_gguf_open_memory(g->b, g->n, err, errlen);
    if (!*out)
        return NULL;
    return g4_tokenizer_load(*out, err, errlen);
}

static void test_load_errors(void)
{
    static const char *const toks[] = {"<pad>", "<eos>", "<bos>", "a", "b", "ab", "\xe2\x96\x81", "<0x61>"};
    static const char *const merges[] = {"a b"};
    char err[256];
    g4_gguf *g;
    g4_tokenizer *t;

    struct gb gb = {.n = 0};
    gb_put(&gb, "GGUF", 4);
    gb_u32(&gb, 3);
    gb_u64(&gb, 0);
    gb_u64(&gb, 3);
    gb_kv_str(&gb, "tokenizer.ggml.model", "llama");
    gb_kv_strarr(&gb, "tokenizer.ggml.tokens", toks, 8);
    gb_kv_strarr(&gb, "tokenizer.ggml.merges", merges, 1);
    err[0] = 0;
    t = load_mem(&gb, err, sizeof err, &g);
    CHECK(g && !t && strstr(err, "gemma4") && strstr(err, "llama"), "non-gemma4 model rejected: %s", err);
    g4_tokenizer_free(t);
    g4_gguf_close(g);

    /* merges present but not strings: rejected */
    gb.n = 0;
    gb_put(&gb, "GGUF", 4);
    gb_u32(&gb, 3);
    gb_u64(&gb, 0);
    gb_u64(&gb, 3);
    gb_kv_str(&gb, "tokenizer.ggml.model", "gemma4");
    gb_kv_strarr(&gb, "tokenizer.ggml.tokens", toks, 8);
    gb_kv_str(&gb, "tokenizer.ggml.merges", "a b");
    err[0] = 0;
    t = load_mem(&gb, err, sizeof err, &g);
    CHECK(g && !t && strstr(err, "merges"), "malformed merges rejected: %s", err);
    g4_tokenizer_free(t);
    g4_gguf_close(g);

    /* merges absent (as in the tiny-gemma4-k256 fixture): loads, no merges apply */
    gb.n = 0;
    gb_put(&gb, "GGUF", 4);
    gb_u32(&gb, 3);
    gb_u64(&gb, 0);
    gb_u64(&gb, 2);
    gb_kv_str(&gb, "tokenizer.ggml.model", "gemma4");
    gb_kv_strarr(&gb, "tokenizer.ggml.tokens", toks, 8);
    err[0] = 0;
    t = load_mem(&gb, err, sizeof err, &g);
    CHECK(t != NULL, "vocab without merges loads: %s", err);
    if (t) {
        int32_t ids[8];
        int64_t n = g4_tokenizer_encode(t, "ab", 2, 0, ids, 8, err, sizeof err);
        CHECK(n == 2 && ids[0] == 3 && ids[1] == 4, "no merges: characters stay apart");
    }
    g4_tokenizer_free(t);
    g4_gguf_close(g);

    gb.n = 0;
    gb_put(&gb, "GGUF", 4);
    gb_u32(&gb, 3);
    gb_u64(&gb, 0);
    gb_u64(&gb, 1);
    gb_kv_strarr(&gb, "tokenizer.ggml.tokens", toks, 8);
    err[0] = 0;
    t = load_mem(&gb, err, sizeof err, &g);
    CHECK(g && !t && strstr(err, "tokenizer.ggml.model"), "missing model rejected: %s", err);
    g4_tokenizer_free(t);
    g4_gguf_close(g);

    /* a minimal valid vocab: no token types (all normal), ids found by text */
    gb.n = 0;
    gb_put(&gb, "GGUF", 4);
    gb_u32(&gb, 3);
    gb_u64(&gb, 0);
    gb_u64(&gb, 3);
    gb_kv_str(&gb, "tokenizer.ggml.model", "gemma4");
    gb_kv_strarr(&gb, "tokenizer.ggml.tokens", toks, 8);
    gb_kv_strarr(&gb, "tokenizer.ggml.merges", merges, 1);
    err[0] = 0;
    t = load_mem(&gb, err, sizeof err, &g);
    CHECK(t != NULL, "minimal vocab loads: %s", err);
    if (t) {
        int32_t ids[8];
        int64_t n = g4_tokenizer_encode(t, "ab a", 4, G4_TOKENIZE_ADD_BOS, ids, 8, err, sizeof err);
        CHECK(n == 4 && ids[0] == 2 && ids[1] == 5 && ids[2] == 6 && ids[3] == 3, "minimal vocab encode");
        /* 'c' has no token and no <0x63>: the error says so */
        n = g4_tokenizer_encode(t, "c", 1, 0, ids, 8, err, sizeof err);
        CHECK(n == -1 && strstr(err, "0x"), "missing byte token is an error: %s", err);
        CHECK(g4_tokenizer_chat_template(t) == NULL, "no chat template");
    }
    g4_tokenizer_free(t);
    g4_gguf_close(g);
}

/* ---- one tokenizer, several threads ---- */

struct thr {
    const g4_tokenizer *t;
    const char *s;
    size_t len;
    const int32_t *want;
    int64_t nwant;
    int ok;
};
static void *thr_main(void *p)
{
    struct thr *a = p;
    a->ok = 1;
    for (int i = 0; i < 20 && a->ok; i++) {
        int64_t n;
        int32_t *ids = enc(a->t, a->s, a->len, 0, &n);
        a->ok = ids && ids_eq(ids, n, a->want, a->nwant);
        free(ids);
    }
    return NULL;
}

static void test_threads(const g4_tokenizer *t)
{
    size_t len = 20000;
    char *s = malloc(len);
    uint64_t seed = 42;
    for (size_t i = 0; i < len; i++)
        s[i] = (char)(rng_next(&seed) % 5 == 0 ? ' ' : "abcdefgh\n\xc3\xa4"[rng_next(&seed) % 11]);
    int64_t n;
    int32_t *want = enc(t, s, len, 0, &n);
    struct thr a[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct thr){t, s, len, want, n, 0};
        pthread_create(&th[i], NULL, thr_main, &a[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(a[i].ok, "thread %d got different ids", i);
    }
    free(want);
    free(s);
}

int main(void)
{
    const char *dir = t_fixtures();
    char path[1024], err[256] = "";
    snprintf(path, sizeof path, "%s/tokenizer/ggml-vocab-gemma-4.gguf", dir);
    g4_gguf *g = g4_gguf_open(path, 0, err, sizeof err);
    CHECK(g != NULL, "open %s: %s", path, err);
    if (!g)
        return T_DONE("test_tokenizer");
    double t0 = now_ms();
    g4_tokenizer *t = g4_tokenizer_load(g, err, sizeof err);
    double t1 = now_ms();
    CHECK(t != NULL, "load: %s", err);
    g4_gguf_close(g); /* the tokenizer keeps its own copies */
    if (t) {
        printf("load: %.1f ms\n", t1 - t0);
        test_vectors(t, dir);
        test_api(t, dir);
        test_random_round_trips(t);
        test_threads(t);
    }
    test_load_errors();
    g4_tokenizer_free(t);
    return T_DONE("test_tokenizer");
}
