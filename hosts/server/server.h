/* g4-server internals shared by server.c (HTTP, main) and srv_gen.c (slots, generation). */
#ifndef G4_SERVER_H
#define G4_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cache_type.h"
#include "mm_precision.h"
#include "g4_dl.h"
#include "srv_budget.h"
#include "srv_conn.h"
#include "srv_agentic.h"
#include "srv_request.h"
#ifdef _WIN32
#include "srv_os_win32.h"
#endif

typedef struct srv_config {
    const char *model, *mmproj, *draft, *host, *api_key, *alias, *lib;
    int port, n_ctx, n_threads, n_parallel, queue_max, timeout_s, max_conn, verbose;
    int n_draft; /* drafted tokens per round (-1: adaptive; --spec-draft-n-max / --draft-max) */
    int cache_k, cache_v; /* G4_KV_TYPE_* (--cache-type-k / -v); default f16 like llama-server */
    int mm_precision;     /* G4_MM_PRECISION_* (--mm-precision); default f32 */
    size_t max_body;
    uint32_t load_flags;
    /* robustness (srv_conn.c, srv_budget.c) */
    int recv_timeout_s;       /* whole request (headers + body) must arrive within this */
    uint64_t mem_budget;      /* bytes; 0: unlimited */
    const char *cors_origin;  /* NULL: no CORS headers, no preflight; "*" or one origin */
    int any_content_type;     /* accept POST bodies that are not application/json */
    int special_in_content;   /* parse control tokens inside chat message contents (unsafe) */
} srv_config;

/* One concurrent conversation: a session plus the token keys its KV cache holds (for prefix
 * reuse; soft-token positions are -1 so they never match). */
typedef struct srv_slot {
    int id, busy;
    g4_session *sess;
    int32_t *cache;
    size_t n_cache, cap_cache;
} srv_slot;

enum { SRV_LOADING = 0, SRV_READY = 1, SRV_FAILED = 2 };

typedef struct srv {
    srv_config cfg;
    srv_limits lim;
    g4dl dl;
    const g4_api_v1 *A;
    g4_model *model;      /* written by the loader before state becomes SRV_READY */
    atomic_int state;     /* SRV_* */
    atomic_int stopping;  /* shutdown requested: refuse new work, end running generations */
    atomic_uint_fast64_t seq;   /* request ids */
    g4_model_info info;
    char model_id[256];
    int n_ctx_slot;
    srv_slot *slots;
    pthread_mutex_t mu; /* guards slots[].busy and n_waiting */
    pthread_cond_t cv;
    int n_waiting;
    char load_error[512];
    srv_conns conns;      /* receive deadlines, headroom */
    srv_budget budget;    /* server-wide memory budget */
    int max_piece_bytes;  /* longest token text: bytes / this bounds a text's tokens from below */
    double load_seconds; /* how long g4_load took (Ollama's load_duration) */
} srv;

#define SRV_STOP_NONE 0
#define SRV_STOP_EOS 1
#define SRV_STOP_WORD 2
#define SRV_STOP_LIMIT 3

/* One generation request from prompt to finish. */
typedef struct srv_job {
    srv *S;
    srv_request *req;
    srv_slot *slot;
    /* prompt */
    int32_t *ids, *keys;
    size_t n_ids;
    int n_reused;
    /* output (text/ready/done guarded by mu while a streaming thread runs) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    srv_buf text;
    size_t ready;       /* bytes of text safe to send (complete UTF-8, no partial stop string) */
    size_t sent;        /* bytes the streamer has sent */
    int32_t *out;       /* emitted tokens (no end-of-generation token) */
    size_t n_out, cap_out;
    int n_sampled;      /* tokens sampled, end-of-generation included */
    int max_new;        /* tokens allowed */
    int stop_type;      /* SRV_STOP_* */
    char *stop_word;
    int done, abandoned, timed_out;
    size_t max_stop_len;
    double t0, t_prefill, t_end, deadline;
    /* error */
    int http_status; /* 0: fine */
    const char *err_type;
    char errmsg[512];
    /* streaming worker */
    pthread_t th;
    int has_thread;
    /* agentic (srv_tools.c, srv_logprobs.c, srv_chat_out.c) */
    g4_grammar *grammar;   /* request's constraint, or NULL */
    srv_lp *lp;            /* one entry per emitted token when logprobs were asked for */
    size_t n_lp, cap_lp;
    int lp_row;            /* batch index of the logits the next token is sampled from */
    srv_split split;       /* streaming state of a chat answer */
    int n_drafted, n_accepted; /* speculative decoding statistics (timings) */
} srv_job;

double srv_now(void);

/* A member of the library's table that a 1.0 library lacks. */

/* Tokenize for /tokenize etc. Returns malloc'd ids or NULL (errmsg set). */
int32_t *srv_tokenize(srv *S, const char *text, uint32_t flags, size_t *n, char *err, size_t errn);

/* Build the prompt, take a slot and run the prompt through it. On failure job->http_status is
 * set (and no slot is held). */
int srv_job_start(srv *S, srv_job *job, srv_request *req);
/* Generate until a stop condition (blocking). Sets done. */
void srv_job_run(srv_job *job);
/* Cancels a running job's generation (a srv_watch callback: the client went away). */
void srv_job_cancel(void *job);
/* Release the slot and everything the job owns (not the request). */
void srv_job_finish(srv_job *job);
/* MHD's content reader over a streamed response: hands out the formatted bytes of `out` not yet
 * sent (from *off), calling next(cls) to format more while none are left, until *finished. */
ssize_t srv_stream_read(srv_buf *out, size_t *off, const int *finished, void (*next)(void *), void *cls, char *buf,
                        size_t max);
/* A streamed job MHD is done with (finished, or the client went away): stops its watcher, cancels
 * a generation still running, joins the worker and finishes the job. */
void srv_job_abandon(srv_job *job, srv_watch *watch);
const char *srv_finish_reason(const srv_job *job);

/* server.c: a string member, made valid UTF-8 (invalid bytes become U+FFFD) */
struct cJSON;
struct cJSON *srv_add_text(struct cJSON *o, const char *name, const char *s, size_t n);

/* srv_logprobs.c */
void srv_logprobs_record(srv_job *j, int32_t tok);
struct cJSON;
/* OpenAI chat: {"content": [...]} for entries [from, to) */
struct cJSON *srv_logprobs_chat(srv_job *j, size_t from, size_t to);
/* OpenAI legacy completions: {"tokens", "token_logprobs", "top_logprobs", "text_offset"} */
struct cJSON *srv_logprobs_legacy(srv_job *j, size_t from, size_t to);
/* llama-server /completion: [{"id","token","logprob","bytes","top_logprobs":[...]}] */
struct cJSON *srv_logprobs_native(srv_job *j, size_t from, size_t to);
/* Ollama: [{"token","logprob","bytes","top_logprobs":[...]}] */
struct cJSON *srv_logprobs_ollama(srv_job *j, size_t from, size_t to);

/* srv_chat_out.c: the library's view of the whole answer (g4_chat_parse) as an OpenAI message's
 * fields (content, reasoning_content, tool_calls with ids and string arguments) or Ollama's
 * (content, thinking, tool_calls with object arguments). Returns the number of tool calls. */
int srv_chat_message(srv_job *j, struct cJSON *msg, int ollama);
/* Streaming: the next deltas from the text ready so far (final: the job is done). Adds an
 * OpenAI delta's / Ollama message's fields to `delta`; returns 1 when it added something. */
int srv_chat_delta(srv_job *j, const char *text, size_t ready, int final, struct cJSON *delta, int ollama);
const char *srv_stop_type_name(int t);

#endif
