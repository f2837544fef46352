/* Splits a loop over [0, n) into one contiguous range per pool thread. */
#include "ops/ops.h"

typedef struct par_ctx {
    int64_t n;
    g4_range_fn fn;
    void *ctx;
} par_ctx;

static void par_task(void *p, int ith, int nth)
{
    const par_ctx *c = p;
    int64_t i0 = c->n * ith / nth, i1 = c->n * (ith + 1) / nth;
    if (i1 > i0)
        c->fn(c->ctx, i0, i1);
}

void g4_parallel_for(g4k_pool *pool, int64_t n, g4_range_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    if (!pool || n == 1) {
        fn(ctx, 0, n);
        return;
    }
    par_ctx c = {n, fn, ctx};
    g4k_pool_run_elastic(pool, par_task, &c);
}
