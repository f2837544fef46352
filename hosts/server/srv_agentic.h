/* g4-server: per-job state and output of the agentic features — token log-probabilities
 * (srv_logprobs.c) and the split of generated chat text into content, reasoning and tool calls,
 * whole or as streaming deltas (srv_chat_out.c). */
#ifndef SRV_AGENTIC_H
#define SRV_AGENTIC_H

#include <stddef.h>
#include <stdint.h>

#define SRV_TOP_LOGPROBS_MAX 20

typedef struct srv_lp {
    int32_t id;
    float logprob;
    int n_top;
    int32_t top_id[SRV_TOP_LOGPROBS_MAX];
    float top_lp[SRV_TOP_LOGPROBS_MAX];
} srv_lp;

/* Streaming splitter over the generated text. */
#define SRV_SPLIT_CONTENT 0
#define SRV_SPLIT_REASONING 1
#define SRV_SPLIT_TOOL 2
typedef struct srv_split {
    size_t pos;       /* bytes of text consumed */
    int mode;         /* SRV_SPLIT_* */
    int at_start;     /* reasoning: "thought\n" not yet skipped */
    int n_calls;      /* tool calls emitted */
    size_t lp_sent;   /* logprob entries already streamed */
    int content_started;
} srv_split;

#endif
