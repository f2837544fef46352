/* Server-wide memory budget (issue #19 item 2): every request reserves an estimate of the memory
 * it will need (its body as it arrives, then the parse and tokenization work, from the body's
 * length) before that memory is allocated, and gives it back when it completes. A request that
 * does not fit is answered 503, so a burst of large requests cannot drive the process out of
 * memory: the sum of the reservations stays under the budget. */
#ifndef G4_SRV_BUDGET_H
#define G4_SRV_BUDGET_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct srv_budget {
    uint64_t total;          /* bytes; 0: unlimited */
    atomic_uint_fast64_t used;
} srv_budget;

/* Work per byte of body, measured with /usr/bin/time on a 31 MB text (docs/RELIABILITY.md):
 * cJSON's tree of many tiny objects ~10 B/B, the tokenizer's symbols, heap and ids ~90 B/B. */
#define SRV_BUDGET_PER_BODY_BYTE 96u
#define SRV_BUDGET_FIXED ((uint64_t)256 << 10) /* per request: buffers, cJSON root, answer */

void srv_budget_init(srv_budget *b, uint64_t total);
/* The default budget: half of physical memory, at most 8 GiB, at least 512 MiB. */
uint64_t srv_budget_default(void);
/* Reserves n bytes; 0 on success, -1 (nothing reserved) when the budget cannot hold them. */
int srv_budget_take(srv_budget *b, uint64_t n);
void srv_budget_give(srv_budget *b, uint64_t n);
/* What a request with a body of len bytes is estimated to need while it is processed. */
uint64_t srv_budget_estimate(size_t body_len);
#endif
