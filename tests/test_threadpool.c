/* Thread pool: every thread runs exactly once per run, ith coverage, many tiny runs, barriers
 * inside tasks, pools of 1..8 threads, create/free churn, independent pools in parallel,
 * nested runs, binding, the sleep (no-spin) and oversubscribed paths.
 *
 * Tasks write plain (non-atomic) memory handed over by runs and barriers, so a ThreadSanitizer
 * build checks the pool's happens-before edges. Built by hand (the Makefile has no TSan mode):
 *   clang -std=c11 -O1 -g -fsanitize=thread -D_GNU_SOURCE -DG4_HAVE_HWLOC=1 -Ikernels -Itests \
 *     -pthread -o build-tsan/test_threadpool tests/test_threadpool.c kernels/threadpool.c \
 *     kernels/topology.c -lhwloc
 * (add -DG4_POOL_NO_FUTEX for the condvar fallback; -DT_SCALE=10 divides the run counts). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kernels.h"
#include "t.h"
#include "topology.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#ifndef T_SCALE
#define T_SCALE 1
#endif

#define MAXT 64

/* ---- exactly-once and coverage ---- */
typedef struct {
    atomic_int hits[MAXT];
    atomic_int bad_nth;
    int want_nth;
} cover_ctx;

static void cover_task(void *vctx, int ith, int nth)
{
    cover_ctx *c = vctx;
    if (nth != c->want_nth || ith < 0 || ith >= nth || ith >= MAXT)
        atomic_fetch_add(&c->bad_nth, 1);
    else
        atomic_fetch_add(&c->hits[ith], 1);
}

static void test_coverage(void)
{
    for (int n = 1; n <= 8; n++) {
        g4k_pool *p = g4k_pool_new(n);
        CHECK(p != NULL, "pool_new(%d)", n);
        if (!p)
            continue;
        CHECK(g4k_pool_size(p) == n, "size %d want %d", g4k_pool_size(p), n);
        int runs = 2000 / T_SCALE;
        cover_ctx c;
        memset(&c, 0, sizeof c);
        c.want_nth = n;
        int bad_run = 0;
        for (int r = 0; r < runs; r++) {
            g4k_pool_run(p, cover_task, &c);
            /* after each run every ith has exactly r+1 hits: the run does not return early */
            for (int i = 0; i < n; i++)
                if (atomic_load(&c.hits[i]) != r + 1)
                    bad_run++;
        }
        CHECK(bad_run == 0, "n=%d: %d ith counts off after a run", n, bad_run);
        CHECK(atomic_load(&c.bad_nth) == 0, "n=%d: bad ith/nth", n);
        for (int i = n; i < MAXT; i++)
            CHECK(atomic_load(&c.hits[i]) == 0, "ith %d out of range ran", i);
        g4k_pool_free(p);
    }
}

/* ---- plain (non-atomic) writes handed over by the run: TSan checks the happens-before ---- */
typedef struct {
    long slot[MAXT];
    int round;
} plain_ctx;

static void plain_task(void *vctx, int ith, int nth)
{
    plain_ctx *c = vctx;
    c->slot[ith] += c->round + ith;
}

static void test_many_tiny_runs(void)
{
    int n = g4k_topology_default_threads();
    if (n < 2)
        n = 2;
    g4k_pool *p = g4k_pool_new(n);
    int runs = 100000 / T_SCALE;
    plain_ctx c;
    memset(&c, 0, sizeof c);
    long want[MAXT] = {0};
    for (int r = 0; r < runs; r++) {
        c.round = r; /* written by the caller between runs: must not race with workers */
        g4k_pool_run(p, plain_task, &c);
        for (int i = 0; i < n; i++)
            want[i] += r + i;
    }
    int ok = 1;
    for (int i = 0; i < n; i++)
        ok &= c.slot[i] == want[i];
    CHECK(ok, "%d tiny runs on %d threads: per-thread sums differ", runs, n);
    g4k_pool_free(p);
}

/* ---- barriers: each phase reads what every thread wrote in the previous one ---- */
typedef struct {
    g4k_pool *p;
    int phases;
    long val[MAXT];
    long sum[MAXT];
    atomic_int errors;
} bar_ctx;

static void bar_task(void *vctx, int ith, int nth)
{
    bar_ctx *c = vctx;
    for (int ph = 0; ph < c->phases; ph++) {
        c->val[ith] = (long)ph * 1000 + ith;
        g4k_pool_barrier(c->p, ith);
        long s = 0;
        for (int i = 0; i < nth; i++)
            s += c->val[i];
        c->sum[ith] = s;
        long want = (long)ph * 1000 * nth + (long)nth * (nth - 1) / 2;
        if (s != want)
            atomic_fetch_add(&c->errors, 1);
        g4k_pool_barrier(c->p, ith); /* nobody overwrites val before all have summed */
    }
}

static void test_barrier(void)
{
    for (int n = 1; n <= 8; n++) {
        g4k_pool *p = g4k_pool_new(n);
        bar_ctx c;
        memset(&c, 0, sizeof c);
        c.p = p;
        c.phases = 500 / T_SCALE;
        for (int r = 0; r < 4; r++)
            g4k_pool_run(p, bar_task, &c);
        CHECK(atomic_load(&c.errors) == 0, "n=%d: %d barrier phase errors", n,
              atomic_load(&c.errors));
        g4k_pool_free(p);
    }
    /* barrier with a NULL pool is a no-op */
    bar_ctx c;
    memset(&c, 0, sizeof c);
    c.phases = 3;
    g4k_pool_run(NULL, bar_task, &c);
    CHECK(atomic_load(&c.errors) == 0, "NULL pool barrier");
}

/* ---- NULL pool, default size ---- */
static void test_null_and_default(void)
{
    cover_ctx c;
    memset(&c, 0, sizeof c);
    c.want_nth = 1;
    g4k_pool_run(NULL, cover_task, &c);
    CHECK(atomic_load(&c.hits[0]) == 1 && atomic_load(&c.bad_nth) == 0, "NULL pool inline");
    CHECK(g4k_pool_size(NULL) == 1, "size(NULL)");
    g4k_pool_free(NULL);

    g4k_pool *p = g4k_pool_new(0);
    CHECK(p && g4k_pool_size(p) == g4k_topology_default_threads(), "default size %d vs %d",
          g4k_pool_size(p), g4k_topology_default_threads());
    g4k_pool_free(p);
    p = g4k_pool_new(-3);
    CHECK(p && g4k_pool_size(p) == g4k_topology_default_threads(), "negative -> default");
    g4k_pool_free(p);
    g4k_pool_run(p = g4k_pool_new(3), NULL, NULL); /* NULL fn: a no-op run */
    CHECK(1, "NULL fn");
    g4k_pool_free(p);
}

/* ---- create/free churn, with and without runs ---- */
static void test_churn(void)
{
    int iters = 300 / T_SCALE, ok = 1;
    for (int i = 0; i < iters; i++) {
        int n = 1 + i % 8;
        g4k_pool *p = g4k_pool_new(n);
        if (!p) {
            ok = 0;
            break;
        }
        if (i % 3) {
            cover_ctx c;
            memset(&c, 0, sizeof c);
            c.want_nth = n;
            g4k_pool_run(p, cover_task, &c);
            for (int t = 0; t < n; t++)
                ok &= atomic_load(&c.hits[t]) == 1;
        }
        g4k_pool_free(p);
    }
    CHECK(ok, "create/free churn");
}

/* ---- two independent pools driven from two threads at once ---- */
typedef struct {
    int n, runs, ok;
} par_arg;

static void *par_main(void *varg)
{
    par_arg *a = varg;
    g4k_pool *p = g4k_pool_new(a->n);
    plain_ctx c;
    memset(&c, 0, sizeof c);
    long want = 0;
    for (int r = 0; r < a->runs; r++) {
        c.round = r;
        g4k_pool_run(p, plain_task, &c);
        want += r;
    }
    a->ok = 1;
    for (int i = 0; i < a->n; i++)
        a->ok &= c.slot[i] == want + (long)a->runs * i;
    g4k_pool_free(p);
    return NULL;
}

static void test_parallel_pools(void)
{
    par_arg a[2] = {{2, 20000 / T_SCALE, 0}, {3, 20000 / T_SCALE, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, par_main, &a[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK(a[0].ok && a[1].ok, "parallel pools: %d %d", a[0].ok, a[1].ok);
}

/* ---- a run from inside a task runs inline with nth = 1 (and its barrier is a no-op) ---- */
typedef struct {
    g4k_pool *p;
    atomic_int inner;
    atomic_int bad;
} nest_ctx;

static void nest_inner(void *vctx, int ith, int nth)
{
    nest_ctx *c = vctx;
    if (ith != 0 || nth != 1)
        atomic_fetch_add(&c->bad, 1);
    g4k_pool_barrier(c->p, ith);
    atomic_fetch_add(&c->inner, 1);
}

static void nest_outer(void *vctx, int ith, int nth)
{
    nest_ctx *c = vctx;
    g4k_pool_run(c->p, nest_inner, c);
}

static void test_nested(void)
{
    g4k_pool *p = g4k_pool_new(3);
    nest_ctx c = {p, 0, 0};
    g4k_pool_run(p, nest_outer, &c);
    CHECK(atomic_load(&c.inner) == 3 && atomic_load(&c.bad) == 0, "nested: inner %d bad %d",
          atomic_load(&c.inner), atomic_load(&c.bad));
    g4k_pool_free(p);
}

/* ---- binding: pinned workers sit on one CPU each, all distinct; G4_NO_BIND=1 disables ---- */
typedef struct {
    int cpu[MAXT];
    int ncpu[MAXT];
} aff_ctx;

static void aff_task(void *vctx, int ith, int nth)
{
    aff_ctx *c = vctx;
    cpu_set_t cs;
    CPU_ZERO(&cs);
    c->ncpu[ith] = -1;
    if (sched_getaffinity(0, sizeof cs, &cs) == 0) {
        c->ncpu[ith] = CPU_COUNT(&cs);
        for (int i = 0; i < CPU_SETSIZE; i++)
            if (CPU_ISSET(i, &cs)) {
                c->cpu[ith] = i;
                break;
            }
    }
}

static void test_binding(void)
{
    const g4k_topology *t = g4k_topology_get();
    int n = t->n_physical < MAXT ? t->n_physical : MAXT;
    if (n < 2) {
        CHECK(1, "binding: single core, skipped");
        return;
    }
    g4k_pool *p = g4k_pool_new(n);
    aff_ctx c;
    memset(&c, 0, sizeof c);
    g4k_pool_run(p, aff_task, &c);
    int nb = g4k_pool_n_bound(p);
    CHECK(nb == 0 || nb == n - 1, "bound %d of %d workers", nb, n - 1);
    if (nb == n - 1) {
        int ok = 1;
        for (int i = 1; i < n; i++) {
            ok &= c.ncpu[i] == 1;
            for (int j = 1; j < i; j++)
                ok &= c.cpu[i] != c.cpu[j];
        }
        CHECK(ok, "bound workers: one distinct CPU each");
    }
    printf("binding: %d of %d workers pinned\n", nb, n - 1);
    g4k_pool_free(p);

    setenv("G4_NO_BIND", "1", 1);
    p = g4k_pool_new(n);
    CHECK(g4k_pool_n_bound(p) == 0, "G4_NO_BIND=1 still bound %d", g4k_pool_n_bound(p));
    g4k_pool_free(p);
    unsetenv("G4_NO_BIND");
}

/* ---- sleeping path: no spinning at all, long gaps between runs ---- */
static void test_sleep_path(void)
{
    setenv("G4_SPIN_US", "0", 1);
    for (int n = 2; n <= 4; n++) {
        g4k_pool *p = g4k_pool_new(n);
        bar_ctx c;
        memset(&c, 0, sizeof c);
        c.p = p;
        c.phases = 50;
        for (int r = 0; r < 200 / T_SCALE; r++)
            g4k_pool_run(p, bar_task, &c);
        CHECK(atomic_load(&c.errors) == 0, "no-spin n=%d errors %d", n, atomic_load(&c.errors));
        g4k_pool_free(p);
    }
    unsetenv("G4_SPIN_US");
    /* oversubscribed (more threads than CPUs): must still work */
    int n = g4k_topology_get()->n_logical * 2 + 1;
    if (n > MAXT)
        n = MAXT;
    g4k_pool *p = g4k_pool_new(n);
    cover_ctx c;
    memset(&c, 0, sizeof c);
    c.want_nth = n;
    for (int r = 0; r < 500 / T_SCALE; r++)
        g4k_pool_run(p, cover_task, &c);
    int ok = atomic_load(&c.bad_nth) == 0;
    for (int i = 0; i < n; i++)
        ok &= atomic_load(&c.hits[i]) == 500 / T_SCALE;
    CHECK(ok, "oversubscribed pool of %d", n);
    g4k_pool_free(p);
}

/* ---- elastic runs: every ith exactly once per run, whoever runs it ---- */
typedef struct {
    long slot[MAXT];     /* plain writes: TSan checks the hand-over from whichever thread ran ith */
    pthread_t caller;
    atomic_int taken;    /* ith > 0 run on the caller's thread (a share the caller took over) */
    atomic_int bad_nth;
    long round;
    int want_nth;
} elastic_ctx;

static void elastic_task(void *vctx, int ith, int nth)
{
    elastic_ctx *c = vctx;
    if (nth != c->want_nth || ith < 0 || ith >= nth || ith >= MAXT) {
        atomic_fetch_add(&c->bad_nth, 1);
        return;
    }
    c->slot[ith] = c->round;
    if (ith > 0 && pthread_equal(pthread_self(), c->caller))
        atomic_fetch_add(&c->taken, 1);
}

static void test_elastic(void)
{
    /* spin 0: workers sleep between runs, so the caller (whose own share is empty) usually
     * closes a run before they wake and runs their shares itself: the take-over path */
    for (int spin = 0; spin < 2; spin++) {
        if (!spin)
            setenv("G4_SPIN_US", "0", 1);
        for (int n = 2; n <= 6; n++) {
            g4k_pool *p = g4k_pool_new(n);
            CHECK(p != NULL, "pool_new(%d)", n);
            if (!p)
                continue;
            elastic_ctx c;
            memset(&c, 0, sizeof c);
            c.caller = pthread_self();
            c.want_nth = n;
            cover_ctx cc;
            memset(&cc, 0, sizeof cc);
            cc.want_nth = n;
            int bad = 0, runs = 3000 / T_SCALE;
            for (int r = 0; r < runs; r++) {
                c.round = r + 1;
                g4k_pool_run_elastic(p, elastic_task, &c);
                for (int i = 0; i < n; i++)
                    bad += c.slot[i] != r + 1;
                if (r % 3 == 0) { /* strict runs interleaved: workers that missed a run rejoin */
                    g4k_pool_run(p, cover_task, &cc);
                    for (int i = 0; i < n; i++)
                        bad += atomic_load(&cc.hits[i]) != r / 3 + 1;
                }
            }
            CHECK(bad == 0, "elastic n=%d spin=%d: %d shares missing or run twice", n, spin, bad);
            CHECK(atomic_load(&c.bad_nth) == 0 && atomic_load(&cc.bad_nth) == 0, "elastic n=%d: bad ith/nth", n);
            if (!spin)
                CHECK(atomic_load(&c.taken) > 0, "elastic n=%d: the caller never took a late worker's share "
                      "in %d runs with sleeping workers", n, runs);
            g4k_pool_free(p);
        }
        if (!spin)
            unsetenv("G4_SPIN_US");
    }
}

int main(void)
{
    test_null_and_default();
    test_coverage();
    test_many_tiny_runs();
    test_barrier();
    test_churn();
    test_parallel_pools();
    test_nested();
    test_binding();
    test_sleep_path();
    test_elastic();
    return T_DONE("test_threadpool");
}
