/* The chat prompt builder renders exactly what the official Gemma 4 template renders for text
 * conversations (strings below were derived by hand from gemma-4-chat-template.jinja). */
#include "g4plug.h"
#include "t.h"

static int render(const g4_chat_message *m, size_t n, uint32_t flags, char *buf, size_t cap)
{
    size_t len = 0;
    g4_status st = g4_chat_format(NULL, m, n, flags, buf, cap, &len);
    return st == G4_OK ? (int)len : st;
}

int main(void)
{
    char buf[1024];
    g4_chat_message conv[] = {
        {"system", "  Be brief.\n"},
        {"user", " Hi there \n"},
        {"assistant", "<|channel>thought\nhmm<channel|>Hello!"},
        {"user", "Look: <|image|>"},
    };
    int n = render(conv, 4, G4_CHAT_ADD_GENERATION_PROMPT, buf, sizeof buf);
    CHECK(n > 0, "render failed: %s", g4_last_error());
    CHECK(strcmp(buf, "<bos><|turn>system\nBe brief.<turn|>\n"
                      "<|turn>user\nHi there<turn|>\n"
                      "<|turn>model\nHello!<turn|>\n"
                      "<|turn>user\nLook: <|image|><turn|>\n"
                      "<|turn>model\n<|channel>thought\n<channel|>") == 0,
          "got:\n%s", buf);

    /* No system turn unless there is a system message or thinking. */
    n = render(conv + 1, 1, 0, buf, sizeof buf);
    CHECK(n > 0 && strcmp(buf, "<bos><|turn>user\nHi there<turn|>\n") == 0, "got:\n%s", buf);

    /* Thinking puts <|think|> at the top of a system turn and drops the empty thought. */
    n = render(conv + 1, 1, G4_CHAT_ENABLE_THINKING | G4_CHAT_ADD_GENERATION_PROMPT, buf, sizeof buf);
    CHECK(n > 0 && strcmp(buf, "<bos><|turn>system\n<|think|>\n<turn|>\n<|turn>user\nHi there<turn|>\n"
                               "<|turn>model\n") == 0,
          "got:\n%s", buf);

    /* Two-call pattern. */
    size_t len = 0;
    CHECK(g4_chat_format(NULL, conv, 4, 0, NULL, 0, &len) == G4_ERR_BUFFER_TOO_SMALL && len > 20,
          "size query");
    char small[8];
    CHECK(g4_chat_format(NULL, conv, 4, 0, small, sizeof small, &len) == G4_ERR_BUFFER_TOO_SMALL &&
              small[7] == '\0',
          "truncated output must stay NUL-terminated");

    /* Bad input. */
    g4_chat_message bad[] = {{"robot", "x"}};
    CHECK(render(bad, 1, 0, buf, sizeof buf) == G4_ERR_INVALID_ARGUMENT, "unknown role accepted");
    g4_chat_message nul[] = {{"user", NULL}};
    CHECK(render(nul, 1, 0, buf, sizeof buf) == G4_ERR_INVALID_ARGUMENT, "NULL content accepted");
    CHECK(g4_chat_format(NULL, conv, 1, 0, buf, sizeof buf, NULL) == G4_ERR_INVALID_ARGUMENT, "NULL len");
    CHECK(render(conv, 1, 0x80, buf, sizeof buf) == G4_ERR_INVALID_ARGUMENT, "unknown flag");
    return T_DONE("test_chat_format");
}
