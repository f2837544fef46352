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
#include <string.h>

#include "internal.h"

typedef struct sbuf {
    char *buf;
    size_t cap, len; /* len counts everything, also what did not fit */
} sbuf;

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

G4_API g4_status G4_CALL g4_chat_format(const g4_model *m, const g4_chat_message *msgs, size_t n,
                                        uint32_t flags, char *buf, size_t cap, size_t *len)
{
    sbuf s;
    size_t i = 0;
    int thinking = (flags & G4_CHAT_ENABLE_THINKING) != 0;
    const char *prev_role = NULL;
    (void)m; /* the format is the Gemma 4 one for every family member */
    g4_clear_error();
    if (!len)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_format: len is NULL");
    if (!msgs && n)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_format: msgs is NULL");
    if (flags & ~(uint32_t)(G4_CHAT_ADD_GENERATION_PROMPT | G4_CHAT_ENABLE_THINKING))
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_format: unknown flags 0x%x", (unsigned)flags);
    for (size_t k = 0; k < n; k++) {
        const char *r = msgs[k].role;
        if (!r || !msgs[k].content)
            return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_chat_format: message %zu has a NULL %s", k,
                           r ? "content" : "role");
        if (strcmp(r, "system") && strcmp(r, "developer") && strcmp(r, "user") &&
            strcmp(r, "model") && strcmp(r, "assistant"))
            return g4_fail(G4_ERR_INVALID_ARGUMENT,
                           "g4_chat_format: message %zu has role \"%s\" (expected system, "
                           "developer, user, model or assistant)",
                           k, r);
    }
    s.buf = cap ? buf : NULL;
    s.cap = buf ? cap : 0;
    s.len = 0;
    puts_(&s, "<bos>");
    if (thinking || (n && (!strcmp(msgs[0].role, "system") || !strcmp(msgs[0].role, "developer")))) {
        puts_(&s, "<|turn>system\n");
        if (thinking)
            puts_(&s, "<|think|>\n");
        if (n && (!strcmp(msgs[0].role, "system") || !strcmp(msgs[0].role, "developer"))) {
            put_trimmed(&s, msgs[0].content, strlen(msgs[0].content));
            i = 1;
        }
        puts_(&s, "<turn|>\n");
    }
    for (; i < n; i++) {
        const char *role = msgs[i].role;
        int is_model = !strcmp(role, "model") || !strcmp(role, "assistant");
        /* The template continues one model turn when an "assistant" follows an "assistant". */
        int continue_turn = is_model && prev_role && !strcmp(prev_role, "assistant");
        if (!continue_turn) {
            puts_(&s, "<|turn>");
            puts_(&s, is_model ? "model" : role);
            puts_(&s, "\n");
        }
        if (is_model)
            put_without_thoughts(&s, msgs[i].content);
        else
            put_trimmed(&s, msgs[i].content, strlen(msgs[i].content));
        puts_(&s, "<turn|>\n");
        prev_role = role;
    }
    if (flags & G4_CHAT_ADD_GENERATION_PROMPT) {
        puts_(&s, "<|turn>model\n");
        if (!thinking)
            puts_(&s, "<|channel>thought\n<channel|>");
    }
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
