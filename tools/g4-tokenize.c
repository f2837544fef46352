/* g4-tokenize: run the Gemma 4 tokenizer from a GGUF (any file with tokenizer.ggml.* keys).
 *
 *   g4-tokenize VOCAB.gguf [--bos] [--special] < text     print the ids of stdin, space-separated
 *   g4-tokenize VOCAB.gguf --lines [--bos] [--special]    one line of ids per input line; in each
 *                                                          line the two characters \n stand for a
 *                                                          newline and \\ for a backslash
 *   g4-tokenize VOCAB.gguf --bench [MB]                   load time, encode and decode throughput on
 *                                                          generated mixed text (default 1 MB) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gguf/gguf.h"
#include "vocab/tokenizer.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint64_t rng(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Mixed text: English prose, C code, CJK, Cyrillic, emoji, runs of spaces/newlines/tabs, and a
 * sprinkle of random bytes (mostly invalid UTF-8). */
static char *gen_text(size_t size)
{
    static const char *const words[] = {"the", "of", "and", "tokenizer", "model", "Gemma", "running", "quickly",
                                        "with", "a", "C", "library", "that", "is", "fast", "I've", "don't", "42",
                                        "2026", "3.14159", "hello", "world", "HTTP/1.1", "e-mail", "naïve", "café"};
    static const char *const code[] = {
        "int main(int argc, char **argv) {\n", "    for (size_t i = 0; i < n; i++)\n",
        "        sum += a[i] * b[i];\n", "    return 0;\n}\n", "#include <stdio.h>\n",
        "def f(x):\n\treturn x ** 2  # square\n", "    if (!p) { errno = ENOMEM; return NULL; }\n",
        "{\"key\": [1, 2, 3], \"value\": null}\n"};
    static const char *const intl[] = {"我想在apple工作", "日本語のテキスト", "한국어 문장", "нещо на Български",
                                       "Cửa Việt", "ሰላም", "مرحبا بالعالم", "कृत्रिम बुद्धि", "🚀", "😶‍🌫️", "🦙🦙",
                                       "✅", "👍🏽", "🇫🇷"};
    char *s = malloc(size);
    uint64_t seed = 0x123456789abcdefULL;
    size_t n = 0;
    while (n < size) {
        char tmp[256];
        const char *p;
        size_t l;
        uint64_t r = rng(&seed) % 100;
        if (r < 55) {
            p = words[rng(&seed) % (sizeof words / sizeof *words)];
            l = (size_t)snprintf(tmp, sizeof tmp, "%s%s", p, rng(&seed) % 12 == 0 ? ". " : " ");
            p = tmp;
        } else if (r < 72) {
            p = code[rng(&seed) % (sizeof code / sizeof *code)];
            l = strlen(p);
        } else if (r < 87) {
            p = intl[rng(&seed) % (sizeof intl / sizeof *intl)];
            l = strlen(p);
        } else if (r < 95) {
            static const char *const ws[] = {"\n", "\n\n", "\n\n\n", "  ", "    ", "\t", "\t\t", " \n", "\r\n"};
            p = ws[rng(&seed) % (sizeof ws / sizeof *ws)];
            l = strlen(p);
        } else {
            l = 1 + rng(&seed) % 8;
            for (size_t i = 0; i < l; i++)
                tmp[i] = (char)(rng(&seed) & 0xff);
            p = tmp;
        }
        if (n + l > size)
            l = size - n;
        memcpy(s + n, p, l);
        n += l;
    }
    return s;
}

static int bench(const char *path, double mb)
{
    char err[512];
    double t0 = now_ms();
    g4_gguf *g = g4_gguf_open(path, 0, err, sizeof err);
    if (!g) {
        fprintf(stderr, "g4-tokenize: %s\n", err);
        return 1;
    }
    double t1 = now_ms();
    g4_tokenizer *t = g4_tokenizer_load(g, err, sizeof err);
    double t2 = now_ms();
    if (!t) {
        fprintf(stderr, "g4-tokenize: %s\n", err);
        g4_gguf_close(g);
        return 1;
    }
    g4_gguf_close(g);
    printf("gguf open: %.1f ms\ntokenizer load: %.1f ms (%d tokens)\n", t1 - t0, t2 - t1, g4_tokenizer_n_vocab(t));

    size_t size = (size_t)(mb * 1048576.0);
    char *text = gen_text(size);
    size_t idcap = 3 * size + 1; /* at most 3 ids per byte (a space without a '▁' token) */
    int32_t *ids = malloc(idcap * sizeof *ids);
    char *back = malloc(size + 1);
    double best_e = 1e30, best_d = 1e30;
    int64_t n = 0, dl = 0;
    for (int rep = 0; rep < 5; rep++) {
        double a = now_ms();
        n = g4_tokenizer_encode(t, text, size, 0, ids, idcap, err, sizeof err);
        double b = now_ms();
        dl = g4_tokenizer_decode(t, ids, (size_t)(n > 0 ? n : 0), 0, back, size + 1);
        double c = now_ms();
        if (n < 0) {
            fprintf(stderr, "g4-tokenize: %s\n", err);
            return 1;
        }
        if (b - a < best_e)
            best_e = b - a;
        if (c - b < best_d)
            best_d = c - b;
    }
    int rt = dl == (int64_t)size && memcmp(back, text, size) == 0;
    printf("text: %.2f MB mixed -> %lld tokens (%.2f bytes/token)\n", size / 1048576.0, (long long)n,
           (double)size / (double)n);
    printf("encode: %.1f ms  %.2f MB/s (best of 5)\n", best_e, size / 1048576.0 / (best_e / 1e3));
    printf("decode: %.2f ms  %.1f MB/s (best of 5)\n", best_d, size / 1048576.0 / (best_d / 1e3));
    printf("round trip: %s\n", rt ? "ok" : "MISMATCH");

    /* a single 1 MB line (no newline): the BPE must stay O(n log n) */
    for (size_t i = 0; i < size; i++)
        if (text[i] == '\n')
            text[i] = ' ';
    double a = now_ms();
    n = g4_tokenizer_encode(t, text, size, 0, ids, idcap, err, sizeof err);
    printf("one line, no newlines: %.1f ms (%lld tokens)\n", now_ms() - a, (long long)n);

    free(text);
    free(ids);
    free(back);
    g4_tokenizer_free(t);
    return rt ? 0 : 1;
}

/* --lines: every input line is encoded on its own (escapes \n and \\ undone first), one output
 * line of ids each, so a corpus of many samples costs one tokenizer load. */
static int encode_lines(const g4_tokenizer *t, char *buf, size_t len, unsigned flags)
{
    char err[512];
    size_t idcap = 1024;
    int32_t *ids = malloc(idcap * sizeof *ids);
    for (size_t start = 0; ids && start < len;) {
        size_t end = start;
        while (end < len && buf[end] != '\n')
            end++;
        size_t o = start; /* unescape in place: the text only shrinks */
        for (size_t i = start; i < end; i++) {
            if (buf[i] == '\\' && i + 1 < end && (buf[i + 1] == 'n' || buf[i + 1] == '\\')) {
                buf[o++] = buf[i + 1] == 'n' ? '\n' : '\\';
                i++;
            } else {
                buf[o++] = buf[i];
            }
        }
        int64_t n = g4_tokenizer_encode(t, buf + start, o - start, flags, ids, idcap, err, sizeof err);
        if (n > (int64_t)idcap) {
            int32_t *nb = realloc(ids, (size_t)n * sizeof *ids);
            if (!nb)
                break;
            ids = nb;
            idcap = (size_t)n;
            n = g4_tokenizer_encode(t, buf + start, o - start, flags, ids, idcap, err, sizeof err);
        }
        if (n < 0) {
            fprintf(stderr, "g4-tokenize: %s\n", err);
            free(ids);
            return 1;
        }
        for (int64_t i = 0; i < n; i++)
            printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
        start = end + 1;
    }
    if (!ids) {
        fprintf(stderr, "g4-tokenize: out of memory\n");
        return 1;
    }
    free(ids);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fprintf(stderr, "usage: %s VOCAB.gguf [--lines] [--bos] [--special] < text\n"
                        "       %s VOCAB.gguf --bench [MB]\n",
                argv[0], argv[0]);
        return 2;
    }
    unsigned flags = 0;
    int lines = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--bench"))
            return bench(argv[1], i + 1 < argc ? atof(argv[i + 1]) : 1.0);
        else if (!strcmp(argv[i], "--bos"))
            flags |= G4_TOKENIZE_ADD_BOS;
        else if (!strcmp(argv[i], "--special"))
            flags |= G4_TOKENIZE_PARSE_SPECIAL;
        else if (!strcmp(argv[i], "--lines"))
            lines = 1;
        else {
            fprintf(stderr, "g4-tokenize: unknown option %s\n", argv[i]);
            return 2;
        }
    }

    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + len, 1, cap - len, stdin)) > 0) {
        len += r;
        if (len == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
    }
    if (!buf) {
        fprintf(stderr, "g4-tokenize: out of memory\n");
        return 1;
    }

    char err[512];
    g4_gguf *g = g4_gguf_open(argv[1], 0, err, sizeof err);
    g4_tokenizer *t = g ? g4_tokenizer_load(g, err, sizeof err) : NULL;
    if (g)
        g4_gguf_close(g);
    if (!t) {
        fprintf(stderr, "g4-tokenize: %s\n", err);
        free(buf);
        return 1;
    }
    if (lines) {
        int rc = encode_lines(t, buf, len, flags);
        free(buf);
        g4_tokenizer_free(t);
        return rc;
    }
    int64_t n = g4_tokenizer_encode(t, buf, len, flags, NULL, 0, err, sizeof err);
    int32_t *ids = n >= 0 ? malloc((size_t)(n ? n : 1) * sizeof *ids) : NULL;
    if (!ids || g4_tokenizer_encode(t, buf, len, flags, ids, (size_t)n, err, sizeof err) != n) {
        fprintf(stderr, "g4-tokenize: %s\n", n < 0 ? err : "out of memory");
        free(ids);
        free(buf);
        g4_tokenizer_free(t);
        return 1;
    }
    for (int64_t i = 0; i < n; i++)
        printf(i ? " %d" : "%d", ids[i]);
    putchar('\n');
    free(ids);
    free(buf);
    g4_tokenizer_free(t);
    return 0;
}
