/* Gemma 4 chat prompt builder: a faithful C rendering of the text-and-media subset of the
 * official chat template (shared/fixtures/tokenizer/gemma-4-chat-template.jinja):
 *
 *   <bos>[<|turn>system\n[<|think|>\n]{system}<turn|>\n]
 *   <|turn>user\n{text}<turn|>\n  <|turn>model\n{answer without thoughts}<turn|>\n ...
 *   [<|turn>model\n[<|channel>thought\n<channel|>]]      (generation prompt; empty thought
 *                                                         when thinking is disabled)
 *
 * Tool declarations and tool calls are not rendered here (hosts that use tools render the
 * Jinja template themselves). The output starts with the literal "<bos>": tokenize it with
 * G4_TOKENIZE_PARSE_SPECIAL and without G4_TOKENIZE_ADD_BOS. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct sbuf {
    char *buf;
    size_t cap, len; /* len counts everything, also what did not fit */
    /* g4_chat_tokenize: where message contents lie in the output, as [start, end) pairs */
    size_t *spans;
    size_t n_spans, cap_spans;
} sbuf;

/* Records [start, s->len) as message content (counts even when there is no room). */
static void content_span(sbuf *s, size_t start)
{
    if (s->spans && s->n_spans < s->cap_spans) {
        s->spans[2 * s->n_spans] = start;
        s->spans[2 * s->n_spans + 1] = s->len;
    }
    s->n_spans++;
}

static void put(sbuf *s, const char *p, size_t n)
{
    if (s->len < s->cap) {
        size_t room = s->cap - s->len;
        memcpy(s->buf + s->len, p, n < room ? n : room);
    }
    s->len += n;
}
static void puts_(sbuf *s, const char *p) { put(s, p, strlen(p)); }

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* Jinja's `trim`: strip leading and trailing whitespace. */
static void put_trimmed(sbuf *s, const char *p, size_t n)
{
    while (n && is_space(*p))
        p++, n--;
    while (n && is_space(p[n - 1]))
        n--;
    put(s, p, n);
}

/* strip_thinking: drop every "<|channel>...<channel|>" thought, then trim. */
static void put_without_thoughts(sbuf *s, const char *text)
{
    static const char open[] = "<|channel>", close[] = "<channel|>";
    /* Build into a temporary sbuf view: thoughts removed, then trimmed as a whole. */
    size_t n = strlen(text), start = (size_t)-1, end = 0;
    const char *p = text, *stop = text + n;
    /* First pass: find the trimmed bounds of the kept text, second pass: emit. Kept text is
     * the concatenation of, for each part split on "<channel|>", the part up to "<|channel>". */
    for (int pass = 0; pass < 2; pass++) {
        size_t pos = 0;
        p = text;
        while (p <= stop) {
            const char *part_end = strstr(p, close);
            size_t part_len = part_end ? (size_t)(part_end - p) : (size_t)(stop - p);
            const char *o = NULL;
            for (size_t i = 0; i + sizeof open - 1 <= part_len; i++)
                if (memcmp(p + i, open, sizeof open - 1) == 0) {
                    o = p + i;
                    break;
                }
            size_t keep = o ? (size_t)(o - p) : part_len;
            for (size_t i = 0; i < keep; i++, pos++) {
                if (pass == 0) {
                    if (!is_space(p[i])) {
                        if (start == (size_t)-1)
                            start = pos;
                        end = pos + 1;
                    }
                } else if (start != (size_t)-1 && pos >= start && pos < end) {
                    put(s, p + i, 1);
                }
            }
            if (!part_end)
                break;
            p = part_end + sizeof close - 1;
        }
    }
}

static g4_status check_messages(const char *fn, const g4_chat_message *msgs, size_t n)
{
    if (!msgs && n)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "%s: msgs is NULL", fn);
    for (size_t k = 0; k < n; k++) {
        const char *r = msgs[k].role;
        if (!r || !msgs[k].content)
            return g4_fail(G4_ERR_INVALID_ARGUMENT, "%s: message %zu has a NULL %s", fn, k,
                           r ? "content" : "role");
        if (strcmp(r, "system") && strcmp(r, "developer") && strcmp(r, "user") &&
            strcmp(r, "model") && strcmp(r, "assistant"))
            return g4_fail(G4_ERR_INVALID_ARGUMENT,
                           "%s: message %zu has role \"%s\" (expected system, "
                           "developer, user, model or assistant)",
                           fn, k, r);
    }
    return G4_OK;
}

/* The prompt text into s (content spans recorded when s->spans is set). */
static void render(sbuf *s, const g4_chat_message *msgs, size_t n, uint32_t flags)
{
    size_t i = 0;
    int thinking = (flags & G4_CHAT_ENABLE_THINKING) != 0;
    const char *prev_role = NULL;
    puts_(s, "<bos>");
    if (thinking || (n && (!strcmp(msgs[0].role, "system") || !strcmp(msgs[0].role, "developer")))) {
        puts_(s, "<|turn>system\n");
        if (thinking)
            puts_(s, "<|think|>\n");
        if (n && (!strcmp(msgs[0].role, "system") || !strcmp(msgs[0].role, "developer"))) {
            size_t c0 = s->len;
            put_trimmed(s, msgs[0].content, strlen(msgs[0].content));
            content_span(s, c0);
            i = 1;
        }
        puts_(s, "<turn|>\n");
    }
    for (; i < n; i++) {
        const char *role = msgs[i].role;
        int is_model = !strcmp(role, "model") || !strcmp(role, "assistant");
        /* The template continues one model turn when an "assistant" follows an "assistant". */
        int continue_turn = is_model && prev_role && !strcmp(prev_role, "assistant");
        if (!continue_turn) {
            puts_(s, "<|turn>");
            puts_(s, is_model ? "model" : role);
            puts_(s, "\n");
        }
        size_t c0 = s->len;
        if (is_model)
            put_without_thoughts(s, msgs[i].content);
        else
            put_trimmed(s, msgs[i].content, strlen(msgs[i].content));
        content_span(s, c0);
        puts_(s, "<turn|>\n");
        prev_role = role;
    }
    if (flags & G4_CHAT_ADD_GENERATION_PROMPT) {
        puts_(s, "<|turn>model\n");
        if (!thinking)
            puts_(s, "<|channel>thought\n<channel|>");
    }
}

G4_API g4_status G4_CALL g4_chat_format(const g4_model *m, const g4_chat_message *msgs, size_t n,
                                        uint32_t flags, char *buf, size_t cap, size_t *len)
{
    (void)m; /* the format is the Gemma 4 one for every family member */
    g4_clear_error();
    if (!len)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_format: len is NULL");
    if (flags & ~(uint32_t)(G4_CHAT_ADD_GENERATION_PROMPT | G4_CHAT_ENABLE_THINKING))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_format: unknown flags 0x%x", (unsigned)flags);
    g4_status st = check_messages("g4_chat_format", msgs, n);
    if (st != G4_OK)
        return st;
    sbuf s = {.buf = cap ? buf : NULL, .cap = buf ? cap : 0};
    render(&s, msgs, n, flags);
    *len = s.len;
    if (s.len + 1 > s.cap) {
        if (s.cap)
            buf[s.cap - 1] = '\0';
        return g4_fail(G4_ERR_BUFFER_TOO_SMALL, "g4_chat_format: %zu bytes needed (+1 for NUL)",
                       s.len);
    }
    buf[s.len] = '\0';
    return G4_OK;
}

/* ---- 1.1: chat tokenization without special tokens in message contents --------------------- */

typedef struct ids_buf {
    int32_t *v;
    size_t n, cap;
    int oom;
} ids_buf;

static void ids_add(ids_buf *b, const int32_t *ids, size_t n)
{
    if (b->oom || !n)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        int32_t *v = realloc(b->v, cap * sizeof *v);
        if (!v) {
            b->oom = 1;
            return;
        }
        b->v = v;
        b->cap = cap;
    }
    memcpy(b->v + b->n, ids, n * sizeof *ids);
    b->n += n;
}

/* Tokenizes text[0, len) with flags onto b (through the ABI's g4_tokenize). */
static g4_status tok_append(const g4_model *m, ids_buf *b, const char *text, size_t len, uint32_t flags)
{
    if (!len)
        return G4_OK;
    size_t need = 0;
    g4_status st = g4_tokenize(m, text, len, flags, NULL, 0, &need);
    if (st != G4_OK && st != G4_ERR_BUFFER_TOO_SMALL)
        return st;
    int32_t *ids = malloc((need + 1) * sizeof *ids);
    if (!ids)
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "g4_chat_tokenize: out of memory");
    st = g4_tokenize(m, text, len, flags, ids, need + 1, &need);
    if (st == G4_OK)
        ids_add(b, ids, need);
    free(ids);
    return st;
}

/* A message content: plain text (specials parsed only when asked), the media markers
 * "<|image|>" / "<|audio|>" / "<|video|>" as their placeholder ids when G4_CHAT_MEDIA_MARKERS is
 * set (a host expands <|video|> with g4_video_format). */
static g4_status content_append(const g4_model *m, ids_buf *b, const char *text, size_t len, uint32_t flags)
{
    const uint32_t tf = (flags & G4_CHAT_PARSE_SPECIAL_IN_CONTENT) ? G4_TOKENIZE_PARSE_SPECIAL : 0;
    static const char *const mk[3] = {"<|image|>", "<|audio|>", "<|video|>"};
    const int32_t which_id[3] = {G4_TOKEN_IMAGE_SOFT, G4_TOKEN_AUDIO_SOFT, G4_TOKEN_VIDEO_SOFT};
    size_t pos = 0;
    while (flags & G4_CHAT_MEDIA_MARKERS) {
        size_t hit = len;
        int which = -1;
        for (int k = 0; k < 3; k++) {
            size_t ml = strlen(mk[k]);
            for (size_t i = pos; i + ml <= hit; i++)
                if (!memcmp(text + i, mk[k], ml)) {
                    hit = i;
                    which = k;
                    break;
                }
        }
        if (which < 0)
            break;
        int32_t id = g4_token_id(m, which_id[which]);
        if (id < 0)
            return g4_fail(G4_ERR_UNSUPPORTED, "g4_chat_tokenize: the vocabulary has no %s token", mk[which]);
        g4_status st = tok_append(m, b, text + pos, hit - pos, tf);
        if (st != G4_OK)
            return st;
        ids_add(b, &id, 1);
        pos = hit + strlen(mk[which]);
    }
    return tok_append(m, b, text + pos, len - pos, tf);
}

G4_API g4_status G4_CALL g4_chat_tokenize(const g4_model *m, const g4_chat_message *msgs, size_t n,
                                          uint32_t flags, int32_t *tokens, size_t cap, size_t *n_tokens)
{
    g4_clear_error();
    if (!n_tokens)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_tokenize: n_tokens is NULL");
    *n_tokens = 0;
    if (flags & ~(uint32_t)(G4_CHAT_ADD_GENERATION_PROMPT | G4_CHAT_ENABLE_THINKING |
                            G4_CHAT_PARSE_SPECIAL_IN_CONTENT | G4_CHAT_MEDIA_MARKERS))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_tokenize: unknown flags 0x%x", (unsigned)flags);
    g4_status st = check_messages("g4_chat_tokenize", msgs, n);
    if (st != G4_OK)
        return st;
    if (!tokens)
        cap = 0;
    /* sizing pass, then the text and its content spans */
    sbuf s = {0};
    render(&s, msgs, n, flags);
    size_t len = s.len, n_spans = s.n_spans;
    s = (sbuf){.buf = malloc(len + 1), .cap = len + 1, .spans = malloc((2 * n_spans + 1) * sizeof(size_t)),
               .cap_spans = n_spans};
    if (!s.buf || !s.spans) {
        free(s.buf);
        free(s.spans);
        return g4_fail(G4_ERR_OUT_OF_MEMORY, "g4_chat_tokenize: out of memory");
    }
    render(&s, msgs, n, flags);
    /* The template's text (its markers special), then each content as plain text. Every content
     * is trimmed and sits between a newline and a marker, where the tokenizer splits anyway, so
     * benign conversations get exactly the ids of tokenizing g4_chat_format's text. */
    ids_buf b = {0};
    size_t pos = 0;
    for (size_t k = 0; k < n_spans && st == G4_OK; k++) {
        size_t a = s.spans[2 * k], e = s.spans[2 * k + 1];
        st = tok_append(m, &b, s.buf + pos, a - pos, G4_TOKENIZE_PARSE_SPECIAL);
        if (st == G4_OK)
            st = content_append(m, &b, s.buf + a, e - a, flags);
        pos = e;
    }
    if (st == G4_OK)
        st = tok_append(m, &b, s.buf + pos, len - pos, G4_TOKENIZE_PARSE_SPECIAL);
    free(s.buf);
    free(s.spans);
    if (st == G4_OK && b.oom)
        st = g4_fail(G4_ERR_OUT_OF_MEMORY, "g4_chat_tokenize: out of memory");
    if (st != G4_OK) {
        free(b.v);
        return st;
    }
    g4_clear_error();
    *n_tokens = b.n;
    if (b.n > cap) {
        free(b.v);
        return g4_fail(G4_ERR_BUFFER_TOO_SMALL, "g4_chat_tokenize: %zu tokens, room for %zu", b.n, cap);
    }
    if (b.n)
        memcpy(tokens, b.v, b.n * sizeof *tokens);
    free(b.v);
    return G4_OK;
}
