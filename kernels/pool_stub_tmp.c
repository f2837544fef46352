/* TEMPORARY: a spawn-per-run stand-in for g4k_pool_* so the kernel layer links and its threading
 * can be tested before the real pool (kernels/threadpool.c, branch `pool`) is merged. Delete on
 * that merge. */
#include <pthread.h>
#include <stdlib.h>

#include "kernels.h"

struct g4k_pool {
    int n;
};

g4k_pool *g4k_pool_new(int n_threads)
{
    g4k_pool *p = malloc(sizeof *p);
    if (p)
        p->n = n_threads > 0 ? n_threads : 2;
    return p;
}
void g4k_pool_free(g4k_pool *p) { free(p); }
int g4k_pool_size(const g4k_pool *p) { return p ? p->n : 1; }

typedef struct {
    g4k_task_fn fn;
    void *ctx;
    int ith, nth;
} job;
static void *trampoline(void *a)
{
    job *j = a;
    j->fn(j->ctx, j->ith, j->nth);
    return NULL;
}
void g4k_pool_run(g4k_pool *p, g4k_task_fn fn, void *ctx)
{
    const int n = p ? p->n : 1;
    if (n <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_t th[64];
    job jobs[64];
    const int m = n < 64 ? n : 64;
    for (int i = 1; i < m; i++) {
        jobs[i] = (job){fn, ctx, i, m};
        pthread_create(&th[i], NULL, trampoline, &jobs[i]);
    }
    fn(ctx, 0, m);
    for (int i = 1; i < m; i++)
        pthread_join(th[i], NULL);
}
