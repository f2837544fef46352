/* Persistent thread pool: g4k_pool_* of kernels.h plus g4k_pool_barrier (topology.h).
 *
 * A decode step issues hundreds of runs per token, so the handoff must cost about a
 * microsecond, not a syscall:
 *   - a run publishes fn/ctx and bumps the generation counter `gen`; workers spin on it (with
 *     pause) for a bounded time (G4_SPIN_US, default 50 us) and only then sleep on a futex
 *     (condvar where futexes are unavailable);
 *   - each worker bumps `done` when it finishes; the caller (thread 0) spins on it, then sleeps;
 *   - the in-task barrier is a counter plus a generation, with the same spin-then-sleep wait.
 * A sleeper announces itself in a `*_sleepers` counter before its final check, and a waker
 * reads that counter after its change, both seq_cst (Dekker): so the waker only pays for the
 * wake syscall when somebody actually sleeps, and no wake-up is lost.
 *
 * Each hot word lives on its own cache line. The pool has no global state; the only
 * thread-local is `tls_inline_pool` (see g4k_pool_run). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* syscall, CPU_ALLOC, pthread_setaffinity_np (the Makefile also sets it) */
#endif
#include "kernels.h"
#include "topology.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__linux__) && !defined(G4_POOL_NO_FUTEX)
#define G4_POOL_FUTEX 1
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#else
#define G4_POOL_FUTEX 0
#endif
#ifdef _WIN32
#include "os.h" /* aligned_alloc -> _aligned_malloc, freed with g4_os_aligned_free */
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define cpu_relax() ((void)0)
#endif

#define CACHE_LINE 64
#define DEFAULT_SPIN_US 50

/* A word other threads wait on, with the count of those asleep on it. */
typedef struct waitword {
    _Alignas(CACHE_LINE) atomic_uint v;
    atomic_int sleepers;
} waitword;

typedef struct worker {
    g4k_pool *pool;
    int ith;
    pthread_t tid;
} worker;

struct g4k_pool {
    int n;                  /* threads including the caller */
    int n_bound;            /* workers pinned to a core (written before the first run) */
    int64_t spin_ns;        /* spin budget before sleeping */
    worker *workers;        /* [n], entry 0 unused (the caller) */

    /* Run publication: fn/ctx are plain fields written before gen is bumped (release) and
     * read after it is observed (acquire); the caller rewrites them only after every worker
     * has reported `done`, so they never race. */
    waitword gen;
    g4k_task_fn fn;
    void *ctx;
    atomic_int stop;

    /* Which workers still may join the current run: generation << 32 | STRICT | bit i for
     * worker i not yet started. A worker claims its share by clearing its bit (CAS) before it
     * reads fn/ctx; an elastic run's caller, done with its own share, clears the rest and runs
     * those shares itself, so a descheduled worker (a busy neighbour on its core) does not hold
     * every run of a decode step up. Strict runs (g4k_pool_run: barriers allowed) wait for all. */
    _Alignas(CACHE_LINE) _Atomic uint64_t claim;
    unsigned run_gen;       /* caller-owned generation of the claim word */

    waitword done;          /* workers finished in the current run */
    waitword bar_gen;       /* barrier generation */
    _Alignas(CACHE_LINE) atomic_int bar_count;
    _Alignas(CACHE_LINE) atomic_int busy; /* a run is in progress (misuse detection) */
    atomic_int alloc_failed; /* a worker's kernel could not allocate scratch (see scratch.c) */
    void *sleepq;           /* condvar fallback only: the pool's mutex/condvar pair */
    worker workers_inline[]; /* storage for `workers` */
};

/* Which pool (if any) the current thread is running inline because that pool was busy: its
 * barriers must then be no-ops. Thread-local, so it is not shared state. */
static _Thread_local const g4k_pool *tls_inline_pool;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- sleeping ------------------------------------------------------------------------- */
#if G4_POOL_FUTEX
static void os_wait(g4k_pool *p, waitword *w, unsigned old)
{
    (void)p;
    /* Returns at once if w->v != old (checked atomically by the kernel), on a wake, or on a
     * signal; the callers loop. */
    syscall(SYS_futex, (unsigned *)&w->v, FUTEX_WAIT_PRIVATE, old, NULL, NULL, 0);
}
static void os_wake(g4k_pool *p, waitword *w)
{
    (void)p;
    syscall(SYS_futex, (unsigned *)&w->v, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}
#else
/* Portable fallback: one mutex/condvar per pool, allocated right after the struct. The waker
 * takes the mutex between its change and the broadcast, so a waiter that checked the old
 * value under the mutex is already in pthread_cond_wait when the broadcast comes. */
typedef struct sleepq {
    pthread_mutex_t mu;
    pthread_cond_t cv;
} sleepq;
static sleepq *pool_q(g4k_pool *p) { return p->sleepq; }
static void os_wait(g4k_pool *p, waitword *w, unsigned old)
{
    sleepq *q = pool_q(p);
    pthread_mutex_lock(&q->mu);
    if (atomic_load(&w->v) == old)
        pthread_cond_wait(&q->cv, &q->mu);
    pthread_mutex_unlock(&q->mu);
}
static void os_wake(g4k_pool *p, waitword *w)
{
    (void)w;
    sleepq *q = pool_q(p);
    pthread_mutex_lock(&q->mu);
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}
#endif

/* Waits until w->v != old; returns the new value. */
static unsigned wait_change(g4k_pool *p, waitword *w, unsigned old)
{
    unsigned v = atomic_load_explicit(&w->v, memory_order_acquire);
    if (v != old)
        return v;
    if (p->spin_ns > 0) {
        int64_t t0 = now_ns();
        for (unsigned i = 1;; i++) {
            cpu_relax();
            v = atomic_load_explicit(&w->v, memory_order_acquire);
            if (v != old)
                return v;
            if ((i & 31) == 0 && now_ns() - t0 > p->spin_ns)
                break;
        }
    }
    atomic_fetch_add(&w->sleepers, 1);
    while ((v = atomic_load(&w->v)) == old)
        os_wait(p, w, old);
    atomic_fetch_sub(&w->sleepers, 1);
    return v;
}

/* Waits until w->v == target. */
static void wait_value(g4k_pool *p, waitword *w, unsigned target)
{
    unsigned v = atomic_load_explicit(&w->v, memory_order_acquire);
    if (v == target)
        return;
    if (p->spin_ns > 0) {
        int64_t t0 = now_ns();
        for (unsigned i = 1;; i++) {
            cpu_relax();
            if (atomic_load_explicit(&w->v, memory_order_acquire) == target)
                return;
            if ((i & 31) == 0 && now_ns() - t0 > p->spin_ns)
                break;
        }
    }
    atomic_fetch_add(&w->sleepers, 1);
    while ((v = atomic_load(&w->v)) != target)
        os_wait(p, w, v);
    atomic_fetch_sub(&w->sleepers, 1);
}

/* Adds 1 to w->v and wakes the sleepers, if any. Returns the new value. */
static unsigned bump_and_wake(g4k_pool *p, waitword *w)
{
    unsigned v = atomic_fetch_add(&w->v, 1) + 1;
    if (atomic_load(&w->sleepers) > 0)
        os_wake(p, w);
    return v;
}

/* ---- workers -------------------------------------------------------------------------- */
#define CLAIM_STRICT ((uint64_t)1 << 31)
#define CLAIM_GEN(c) ((unsigned)((c) >> 32))
#define ELASTIC_MAX 32 /* workers 1..31 have a bit in the claim word */

static void *worker_main(void *arg)
{
    worker *w = arg;
    g4k_pool *p = w->pool;
    const uint64_t bit = (uint64_t)1 << w->ith;
    unsigned seen = 0;     /* last value of the wake word */
    unsigned handled = 0;  /* last claim generation this worker has dealt with */
    for (;;) {
        seen = wait_change(p, &p->gen, seen);
        if (atomic_load_explicit(&p->stop, memory_order_relaxed))
            break;
        /* The claim word is published before the wake word, and an elastic run may be over
         * (its share taken by the caller) before this worker gets here: only a generation not
         * yet handled, and only a share this worker claims, is run. */
        uint64_t c = atomic_load_explicit(&p->claim, memory_order_acquire);
        if (CLAIM_GEN(c) == handled)
            continue;
        handled = CLAIM_GEN(c);
        if (!(c & CLAIM_STRICT)) {
            int mine = 0;
            while ((c & bit) && CLAIM_GEN(c) == handled)
                if (atomic_compare_exchange_weak_explicit(&p->claim, &c, c & ~bit, memory_order_acq_rel,
                                                          memory_order_acquire)) {
                    mine = 1;
                    break;
                }
            if (!mine)
                continue;
        }
        p->fn(p->ctx, w->ith, p->n);
        if (g4k_scratch_take_failure())
            atomic_store_explicit(&p->alloc_failed, 1, memory_order_relaxed);
        bump_and_wake(p, &p->done); /* (seq_cst: publishes alloc_failed to the caller) */
    }
    return NULL;
}

/* Worker start-up: pin first, so that the thread's stack and first touches land on its core. */
typedef struct start_arg {
    worker *w;
    int core; /* -1: do not bind */
    atomic_int *bound;
} start_arg;

static void *worker_start(void *arg)
{
    start_arg sa = *(start_arg *)arg;
    free(arg);
    if (sa.core >= 0 && g4k_topology_bind_core(sa.core) == 0)
        atomic_fetch_add(sa.bound, 1);
    return worker_main(sa.w);
}

static int env_flag(const char *name)
{
    const char *e = getenv(name);
    return e && *e && strcmp(e, "0") != 0;
}

g4k_pool *g4k_pool_new(int n_threads)
{
    if (n_threads <= 0)
        n_threads = g4k_topology_default_threads();
    if (n_threads > 1024)
        n_threads = 1024;
    const g4k_topology *topo = g4k_topology_get();

    size_t size = sizeof(g4k_pool) + (size_t)n_threads * sizeof(worker);
#if !G4_POOL_FUTEX
    size += sizeof(sleepq);
#endif
    size = (size + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
    g4k_pool *p = aligned_alloc(CACHE_LINE, size);
    if (!p)
        return NULL;
    memset(p, 0, size);
    p->n = n_threads;
    p->workers = p->workers_inline;
#if !G4_POOL_FUTEX
    p->sleepq = (char *)p + sizeof(g4k_pool) + (size_t)n_threads * sizeof(worker);
    pthread_mutex_init(&pool_q(p)->mu, NULL);
    pthread_cond_init(&pool_q(p)->cv, NULL);
#endif

    /* Spinning only pays when every thread has a CPU of its own; oversubscribed, a spinner
     * steals the time slice of the thread it waits for. */
    int64_t spin_us = DEFAULT_SPIN_US;
    const char *e = getenv("G4_SPIN_US");
    if (e && *e) {
        char *end;
        long v = strtol(e, &end, 10);
        if (*end == 0 && v >= 0 && v <= 1000000)
            spin_us = v;
    }
    p->spin_ns = n_threads > topo->n_logical ? 0 : spin_us * 1000;

    /* Pin one worker per physical core (performance cores first); the caller's own core
     * (index 0) is left unpinned: we do not change the affinity of the application's thread.
     * Not when oversubscribed (two spinners on one core would be worse than letting the
     * scheduler move them) or when G4_NO_BIND is set. */
    int bind = !env_flag("G4_NO_BIND") && n_threads <= topo->n_physical;
    atomic_int bound = 0;
    int started = 1;
    for (int i = 1; i < n_threads; i++) {
        worker *w = &p->workers[i];
        w->pool = p;
        w->ith = i;
        start_arg *sa = malloc(sizeof *sa);
        if (!sa)
            break;
        sa->w = w;
        sa->core = bind ? i : -1;
        sa->bound = &bound;
        if (pthread_create(&w->tid, NULL, worker_start, sa) != 0) {
            free(sa);
            break;
        }
        started++;
    }
    if (started < n_threads) {
        /* Out of threads: shrink to what we got (workers read p->n only during a run, and no
         * run has happened yet; the first run's gen bump publishes the new value). */
        p->n = started;
    }
    /* Run once so every worker has passed its bind step before we read `bound`; also makes
     * n_bound a plain field afterwards. */
    p->n_bound = 0;
    if (p->n > 1) {
        g4k_pool_run(p, NULL, NULL);
        p->n_bound = atomic_load(&bound);
    }
    return p;
}

void g4k_pool_free(g4k_pool *p)
{
    if (!p)
        return;
    atomic_store_explicit(&p->stop, 1, memory_order_relaxed);
    bump_and_wake(p, &p->gen);
    for (int i = 1; i < p->n; i++)
        pthread_join(p->workers[i].tid, NULL);
#if !G4_POOL_FUTEX
    pthread_mutex_destroy(&pool_q(p)->mu);
    pthread_cond_destroy(&pool_q(p)->cv);
#endif
#ifdef _WIN32
    g4_os_aligned_free(p);
#else
    free(p);
#endif
}

int g4k_pool_size(const g4k_pool *p) { return p ? p->n : 1; }

int g4k_pool_n_bound(const g4k_pool *p) { return p ? p->n_bound : 0; }

static void noop_task(void *ctx, int ith, int nth)
{
    (void)ctx;
    (void)ith;
    (void)nth;
}

static void pool_run(g4k_pool *p, g4k_task_fn fn, void *ctx, int elastic)
{
    if (!fn)
        fn = noop_task;
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    /* A nested run (from inside a task) or a concurrent one from another thread would
     * deadlock or corrupt the run in progress: run it inline on this thread instead. A run
     * nested in an inline run stays inline too, even if the pool has meanwhile become free:
     * this thread's barriers are no-ops for this pool until the inline run ends. */
    if (tls_inline_pool == p || atomic_exchange_explicit(&p->busy, 1, memory_order_acquire)) {
        const g4k_pool *saved = tls_inline_pool;
        tls_inline_pool = p;
        fn(ctx, 0, 1);
        tls_inline_pool = saved;
        return;
    }
    if (p->n > ELASTIC_MAX)
        elastic = 0;
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->done.v, 0, memory_order_relaxed);
    const uint64_t all = elastic ? ((((uint64_t)1 << p->n) - 1) & ~(uint64_t)1) : CLAIM_STRICT;
    if (++p->run_gen == 0)
        p->run_gen = 1; /* 0 is every worker's initial "handled" */
    const uint64_t gen_bits = (uint64_t)p->run_gen << 32;
    atomic_store_explicit(&p->claim, gen_bits | all, memory_order_release);
    bump_and_wake(p, &p->gen); /* seq_cst: also the release that publishes fn/ctx/done */
    fn(ctx, 0, p->n);
    unsigned joined = (unsigned)(p->n - 1);
    if (elastic) {
        /* Close the run: shares nobody has claimed yet are run here, on this thread. */
        uint64_t left = atomic_exchange_explicit(&p->claim, gen_bits, memory_order_acq_rel) & all;
        for (int i = 1; i < p->n; i++)
            if (left & ((uint64_t)1 << i)) {
                joined--;
                fn(ctx, i, p->n);
            }
    }
    wait_value(p, &p->done, joined);
    atomic_store_explicit(&p->busy, 0, memory_order_release);
}

void g4k_pool_run(g4k_pool *p, g4k_task_fn fn, void *ctx) { pool_run(p, fn, ctx, 0); }

void g4k_pool_run_elastic(g4k_pool *p, g4k_task_fn fn, void *ctx) { pool_run(p, fn, ctx, 1); }

int g4k_take_alloc_failure(g4k_pool *p)
{
    int f = g4k_scratch_take_failure();
    if (p && atomic_exchange_explicit(&p->alloc_failed, 0, memory_order_relaxed))
        f = 1;
    return f;
}

void g4k_pool_barrier(g4k_pool *p, int ith)
{
    (void)ith;
    if (!p || p->n == 1 || tls_inline_pool == p)
        return;
    /* Read the generation before arriving: once the last thread arrives it may bump it. */
    unsigned g = atomic_load_explicit(&p->bar_gen.v, memory_order_acquire);
    if (atomic_fetch_add_explicit(&p->bar_count, 1, memory_order_acq_rel) == p->n - 1) {
        /* Last to arrive: reset for the next barrier, then release everybody. Nobody touches
         * bar_count again before seeing the new generation, so the relaxed reset is ordered
         * by the (seq_cst) bump. */
        atomic_store_explicit(&p->bar_count, 0, memory_order_relaxed);
        bump_and_wake(p, &p->bar_gen);
    } else {
        wait_change(p, &p->bar_gen, g);
    }
}
