/* chat_render — the Gemma 4 chat template (shared/fixtures/tokenizer/gemma-4-chat-template.jinja)
 * written out in C over JSON trees: messages (OpenAI style, with tool_calls, tool messages,
 * content parts, reasoning_content) and tool declarations. g4_chat_format and
 * g4_chat_format_json both render through it. */
#ifndef G4_CHAT_RENDER_H
#define G4_CHAT_RENDER_H

#include "base/internal.h"
#include "base/json_value.h"

/* messages: a JSON array of objects; tools: NULL or a JSON array. flags: G4_CHAT_*.
 * Appends to out; when out->marks is set, the message and system texts are marked there (each
 * trimmed content, in order) so g4_chat_tokenize can keep them free of control tokens.
 * Returns G4_OK or a g4_fail status naming the offending message. */
g4_status g4_chat_render(const jv *messages, const jv *tools, uint32_t flags, jbuf *out);

/* Gemma's value notation (format_argument in the template): strings in <|"|> quotes, keys
 * quoted with <|"|> when escape_keys, Python-style scalars. */
void g4_chat_put_argument(jbuf *b, const jv *v, int escape_keys);

#endif
