/* srv_request — JSON request bodies of g4-server, parsed into plain C structs.
 *
 * A pure function of (endpoint, bytes, limits): no library calls, no I/O, no globals, so it can
 * be fuzzed without a network or a model (fuzz/fuzz_server_request.c). Everything it returns is
 * owned by the srv_request and released by srv_request_free.
 */
#ifndef SRV_REQUEST_H
#define SRV_REQUEST_H

#include <stddef.h>
#include <stdint.h>

typedef enum srv_endpoint {
    SRV_EP_CHAT = 1,       /* POST /v1/chat/completions (OpenAI) */
    SRV_EP_OAI_COMPLETION, /* POST /v1/completions (OpenAI legacy) */
    SRV_EP_COMPLETION,     /* POST /completion (llama-server native) */
    SRV_EP_TOKENIZE,       /* POST /tokenize */
    SRV_EP_DETOKENIZE,     /* POST /detokenize */
} srv_endpoint;

#define SRV_MEDIA_IMAGE 1
#define SRV_MEDIA_AUDIO 2
#define SRV_MEDIA_VIDEO 3 /* "video_url" part: a container (MP4/WebM/...) decoded by hosts/common */

typedef struct srv_media {
    int kind; /* SRV_MEDIA_* */
    unsigned char *data;
    size_t size;
    /* video only (0 = the library's defaults): optional fields of the video_url object */
    int32_t frames, max_frames, frame_tokens;
    double fps;
    int no_audio;
} srv_media;

/* A chat message; content carries "<|image|>" / "<|audio|>" / "<|video|>" markers where its media go
 * (in order; the media themselves are in srv_request.media, in prompt order). */
typedef struct srv_message {
    char role[16]; /* "system", "user", "model" */
    char *content;
} srv_message;

/* Bits of srv_request.set: which sampling fields the client gave. */
#define SRV_SET_TEMPERATURE 0x01u
#define SRV_SET_TOP_P 0x02u
#define SRV_SET_TOP_K 0x04u
#define SRV_SET_MIN_P 0x08u
#define SRV_SET_REPEAT_PENALTY 0x10u
#define SRV_SET_REPEAT_LAST_N 0x20u
#define SRV_SET_SEED 0x40u

typedef struct srv_request {
    srv_endpoint ep;
    int stream;
    int include_usage; /* stream_options.include_usage */

    /* prompt: chat messages, a text prompt, or token ids (also /detokenize input) */
    srv_message *msgs;
    size_t n_msgs;
    char *prompt;          /* completions / tokenize content */
    int32_t *tokens;       /* prompt as ids (completions) or /detokenize ids */
    size_t n_tokens;
    int has_tokens;
    srv_media *media;
    size_t n_media;

    /* sampling (valid where `set` says so; the host fills library defaults otherwise) */
    uint32_t set;
    float temperature, top_p, min_p, repeat_penalty;
    int32_t top_k, repeat_last_n;
    uint64_t seed;
    int32_t max_tokens; /* -1: until end of generation or context */

    char **stop;
    size_t n_stop;

    int add_special;   /* /tokenize: prepend <bos> (default 0, like llama-server) */
    int parse_special; /* /tokenize: recognise control tokens (default 1) */
    int with_pieces;   /* /tokenize: [{"id","piece"}] instead of ids */
    int return_tokens; /* /completion: include "tokens" */
    int cache_prompt;  /* reuse the slot's KV prefix (default 1) */
    int enable_thinking;

    /* agentic chat (srv_tools.c): tools, structured output, logprobs */
    char *tools_json;    /* the request's OpenAI tools array (compact JSON), or NULL */
    char *messages_json; /* chat: messages for g4_chat_format_json (roles, content with media
                            markers, tool_calls with object arguments, tool results, reasoning) */
    int tool_choice;     /* SRV_TOOL_CHOICE_* */
    int grammar_kind;    /* 0 or SRV_GRAMMAR_* (the library's G4_GRAMMAR_* values) */
    char *grammar_text;  /* JSON Schema, or the tools array the call must use */
    int logprobs;        /* report the chosen tokens' log-probabilities */
    int top_logprobs;    /* and this many alternatives per token (0..20) */
    int split_reasoning; /* chat: thinking goes to reasoning_content (default 1) */
} srv_request;

#define SRV_TOOL_CHOICE_AUTO 0
#define SRV_TOOL_CHOICE_NONE 1
#define SRV_TOOL_CHOICE_REQUIRED 2
#define SRV_TOOL_CHOICE_NAMED 3
#define SRV_GRAMMAR_JSON_SCHEMA 1
#define SRV_GRAMMAR_JSON_OBJECT 2
#define SRV_GRAMMAR_TOOL_CALL 3

/* srv_tools.c: the agentic fields of a chat / completion body (called by srv_request_parse
 * after the messages and sampling fields). 0, or -1 with a client-facing message in err. */
struct cJSON;
int srv_agentic_parse(srv_endpoint ep, const struct cJSON *root, srv_request *r, char *err, size_t errn);
void srv_agentic_free(srv_request *r);

typedef struct srv_limits {
    size_t max_messages;    /* default 1024 */
    size_t max_media;       /* default 16 */
    size_t max_stop;        /* default 16 */
    size_t max_stop_len;    /* bytes per stop string; default 256 */
    size_t max_tokens_in;   /* token-array inputs; default 1 << 20 */
    int32_t max_predict;    /* upper bound accepted for max_tokens; default 1 << 20 */
} srv_limits;

void srv_limits_default(srv_limits *l);

/* Parse `body` (len bytes, need not be NUL-terminated) for endpoint ep. Returns 0 on success;
 * otherwise -1 with a client-facing message in err (never NULL-terminated past errn) and
 * `out` left empty (srv_request_free is still safe). */
int srv_request_parse(srv_endpoint ep, const char *body, size_t len, const srv_limits *lim,
                      srv_request *out, char *err, size_t errn);
void srv_request_free(srv_request *r);

/* Strict base64 (standard or URL-safe alphabet, padding optional, ASCII whitespace ignored).
 * Returns a malloc'd buffer and its size in *n, or NULL on bad input. */
unsigned char *srv_base64_decode(const char *s, size_t len, size_t *n);

/* A growing NUL-terminated byte buffer (request content, generated text). */
typedef struct srv_buf {
    char *s;
    size_t n, cap;
} srv_buf;
int srv_buf_add(srv_buf *b, const char *s, size_t n); /* 0, or -1 when out of memory */

#endif
