/* g4_chat_parse on recorded Gemma 4 output: thinking channel, tool calls in Gemma's argument
 * notation, content; malformed and unterminated text; markers never reach content. */
#include "g4plug.h"
#include "t.h"

int main(void)
{
    char out[4096];
    size_t n = 0;
    /* recorded shape of a Gemma 4 answer with thinking and a tool call */
    const char *t1 = "<|channel>thought\nThe user wants the weather. I will call the tool.<channel|>"
                     "<|tool_call>call:get_weather{city:<|\"|>Paris, FR<|\"|>,days:3,opts:{metric:true,"
                     "list:[1,2.5,<|\"|>x<|\"|>]},none:null}<tool_call|><|tool_response>";
    CHECK(g4_chat_parse(NULL, t1, strlen(t1), 0, out, sizeof out, &n) == G4_OK, "%s", g4_last_error());
    CHECK(!strcmp(out, "{\"content\":\"\",\"reasoning_content\":\"The user wants the weather. I will call the tool.\","
                       "\"tool_calls\":[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris, FR\",\"days\":3,"
                       "\"opts\":{\"metric\":true,\"list\":[1,2.5,\"x\"]},\"none\":null}}]}"),
          "got %s", out);
    /* content, two calls, a string with quotes and newlines */
    const char *t2 = "Let me check.<|tool_call>call:a{}<tool_call|><|tool_call>call:b{q:<|\"|>say \"hi\"\n<|\"|>}"
                     "<tool_call|>";
    CHECK(g4_chat_parse(NULL, t2, strlen(t2), 0, out, sizeof out, &n) == G4_OK, "%s", g4_last_error());
    CHECK(!strcmp(out, "{\"content\":\"Let me check.\",\"tool_calls\":[{\"name\":\"a\",\"arguments\":{}},"
                       "{\"name\":\"b\",\"arguments\":{\"q\":\"say \\\"hi\\\"\\n\"}}]}"),
          "got %s", out);
    /* plain answer after an empty thought (thinking off): no markers leak */
    const char *t3 = "<|channel>thought\n<channel|>Hello <turn|>";
    CHECK(g4_chat_parse(NULL, t3, strlen(t3), 0, out, sizeof out, &n) == G4_OK, "%s", g4_last_error());
    CHECK(!strcmp(out, "{\"content\":\"Hello\",\"reasoning_content\":\"\",\"tool_calls\":[]}"), "got %s", out);
    /* unterminated thought (max_tokens hit): all reasoning */
    const char *t4 = "<|channel>thought\nstill thinking";
    CHECK(g4_chat_parse(NULL, t4, strlen(t4), 0, out, sizeof out, &n) == G4_OK &&
              !strcmp(out, "{\"content\":\"\",\"reasoning_content\":\"still thinking\",\"tool_calls\":[]}"),
          "got %s", out);
    /* a malformed call stays as text, without markers */
    const char *t5 = "x<|tool_call>call:f{a:<tool_call|>";
    CHECK(g4_chat_parse(NULL, t5, strlen(t5), 0, out, sizeof out, &n) == G4_OK &&
              !strcmp(out, "{\"content\":\"xcall:f{a:\",\"tool_calls\":[]}"),
          "got %s", out);
    /* no markers: content as is (not trimmed) */
    CHECK(g4_chat_parse(NULL, " hi ", 4, 0, out, sizeof out, &n) == G4_OK &&
              !strcmp(out, "{\"content\":\" hi \",\"tool_calls\":[]}"),
          "got %s", out);
    /* two-call pattern and bad arguments */
    CHECK(g4_chat_parse(NULL, t1, strlen(t1), 0, NULL, 0, &n) == G4_ERR_BUFFER_TOO_SMALL && n > 100, "size");
    CHECK(g4_chat_parse(NULL, t1, strlen(t1), 0, out, sizeof out, NULL) == G4_ERR_INVALID_ARGUMENT, "NULL len");
    CHECK(g4_chat_parse(NULL, t1, strlen(t1), 1, out, sizeof out, &n) == G4_ERR_INVALID_ARGUMENT, "flags");
    return T_DONE("test_tool_calls");
}
