/* g4-membw: sustained read bandwidth (the decode roofline) and pool handoff latency.
 *
 *   g4-membw [--size MiB] [--threads N] [--reps R]
 *       Sums a buffer (default 1 GiB) of uint64 with 1 thread and with N threads (default: the
 *       topology's default thread count) on the g4k pool; best of R passes (default 5) after
 *       a warm-up pass. Prints one human line and one JSON line per thread count:
 *         {"threads":N,"read_gbps":X}
 *       The last JSON line is the N-thread figure (what bench/ compares decode against).
 *   g4-membw --latency [--threads N] [--runs R]
 *       Microseconds per empty g4k_pool_run and per in-task barrier, back to back:
 *         {"threads":N,"run_us":X,"barrier_us":Y}
 *
 * The sum is a uint64 loop over four 2-lane vectors (GCC/Clang vector extension: SSE2 / NEON
 * with baseline flags, so the tool runs anywhere). */
#include "kernels.h"
#include "topology.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define MAXT 256

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
    uint64_t *buf;
    size_t n; /* words */
    struct {
        _Alignas(64) uint64_t v;
    } part[MAXT];
} bw_ctx;

static void slice(size_t n, int ith, int nth, size_t *b, size_t *e)
{
    /* 8-word (one cache line) granularity keeps every slice aligned */
    size_t lines = n / 8;
    *b = lines * (size_t)ith / (size_t)nth * 8;
    *e = ith == nth - 1 ? n : lines * (size_t)(ith + 1) / (size_t)nth * 8;
}

static void fill_task(void *vctx, int ith, int nth)
{
    bw_ctx *c = vctx;
    size_t b, e;
    slice(c->n, ith, nth, &b, &e);
    for (size_t i = b; i < e; i++)
        c->buf[i] = i * 0x9E3779B97F4A7C15ull;
}

static void sum_task(void *vctx, int ith, int nth)
{
    bw_ctx *c = vctx;
    size_t b, e;
    slice(c->n, ith, nth, &b, &e);
    const uint64_t *p = c->buf;
    /* Four independent 2 x uint64 lanes, one cache line per iteration: SSE2 / NEON adds with
     * the baseline flags (GCC/Clang vector extension; the buffer and slices are 64-byte
     * aligned). A plain scalar loop was left unvectorised at -O2 and read ~25% slower. */
    typedef uint64_t u64x2 __attribute__((vector_size(16)));
    u64x2 a0 = {0, 0}, a1 = a0, a2 = a0, a3 = a0;
    size_t i = b;
    for (; i + 8 <= e; i += 8) {
        const u64x2 *q = (const u64x2 *)(const void *)(p + i);
        a0 += q[0];
        a1 += q[1];
        a2 += q[2];
        a3 += q[3];
    }
    a0 += a1 + a2 + a3;
    uint64_t s = a0[0] + a0[1];
    for (; i < e; i++)
        s += p[i];
    c->part[ith].v = s;
}

static double measure(bw_ctx *c, int nth, int reps, uint64_t *check)
{
    g4k_pool *p = g4k_pool_new(nth);
    if (!p)
        return -1;
    nth = g4k_pool_size(p);
    double best = 1e30;
    for (int r = 0; r <= reps; r++) { /* r == 0: warm-up */
        double t0 = now_s();
        g4k_pool_run(p, sum_task, c);
        double dt = now_s() - t0;
        uint64_t s = 0;
        for (int i = 0; i < nth; i++)
            s += c->part[i].v;
        *check = s;
        if (r > 0 && dt < best)
            best = dt;
    }
    g4k_pool_free(p);
    return (double)(c->n * sizeof(uint64_t)) / best * 1e-9;
}

/* ---- latency ---- */
static void empty_task(void *ctx, int ith, int nth) {}

typedef struct {
    g4k_pool *p;
    int n;
} barrier_ctx;

static void barrier_task(void *vctx, int ith, int nth)
{
    barrier_ctx *c = vctx;
    for (int i = 0; i < c->n; i++)
        g4k_pool_barrier(c->p, ith);
}

static int latency(int nth, int runs)
{
    g4k_pool *p = g4k_pool_new(nth);
    if (!p)
        return 1;
    nth = g4k_pool_size(p);
    for (int i = 0; i < runs / 10; i++) /* warm-up */
        g4k_pool_run(p, empty_task, NULL);
    double t0 = now_s();
    for (int i = 0; i < runs; i++)
        g4k_pool_run(p, empty_task, NULL);
    double run_us = (now_s() - t0) / runs * 1e6;
    barrier_ctx bc = {p, runs};
    t0 = now_s();
    g4k_pool_run(p, barrier_task, &bc);
    double bar_us = (now_s() - t0) / runs * 1e6;
    printf("pool of %d threads (%d pinned): %.3f us per empty run, %.3f us per barrier\n", nth,
           g4k_pool_n_bound(p), run_us, bar_us);
    printf("{\"threads\":%d,\"run_us\":%.3f,\"barrier_us\":%.3f}\n", nth, run_us, bar_us);
    g4k_pool_free(p);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: g4-membw [--size MiB] [--threads N] [--reps R]\n"
                    "       g4-membw --latency [--threads N] [--runs R]\n");
}

int main(int argc, char **argv)
{
    long size_mib = 1024, reps = 5, runs = 200000;
    int nth = g4k_topology_default_threads(), lat = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--latency")) {
            lat = 1;
        } else if (!strcmp(a, "--size") && v) {
            size_mib = atol(v), i++;
        } else if (!strcmp(a, "--threads") && v) {
            nth = atoi(v), i++;
        } else if (!strcmp(a, "--reps") && v) {
            reps = atol(v), i++;
        } else if (!strcmp(a, "--runs") && v) {
            runs = atol(v), i++;
        } else {
            usage();
            return 2;
        }
    }
    if (nth < 1 || nth > MAXT || size_mib < 1 || reps < 1 || runs < 1) {
        usage();
        return 2;
    }
    printf("topology: %s\n", g4k_topology_get()->desc);
    if (lat)
        return latency(nth, (int)runs);

    bw_ctx *c = aligned_alloc(64, sizeof *c);
    size_t bytes = (size_t)size_mib << 20;
    if (!c)
        return 1;
    memset(c, 0, sizeof *c);
    c->n = bytes / sizeof(uint64_t);
    void *buf = NULL;
    /* 2 MiB alignment so transparent huge pages can back it */
    if (posix_memalign(&buf, 2 << 20, bytes) != 0)
        buf = NULL;
    c->buf = buf;
    if (!c->buf) {
        fprintf(stderr, "g4-membw: cannot allocate %ld MiB\n", size_mib);
        free(c);
        return 1;
    }
#ifdef MADV_HUGEPAGE
    madvise(c->buf, bytes, MADV_HUGEPAGE); /* fewer TLB misses; harmless if refused */
#endif
    /* First touch by the N-thread pool, so pages land next to the threads that read them. */
    g4k_pool *fp = g4k_pool_new(nth);
    g4k_pool_run(fp, fill_task, c);
    g4k_pool_free(fp);

    uint64_t want = 0;
    for (size_t i = 0; i < c->n; i++)
        want += i * 0x9E3779B97F4A7C15ull;

    int counts[2] = {1, nth};
    int ncounts = nth > 1 ? 2 : 1, rc = 0;
    for (int k = 0; k < ncounts; k++) {
        uint64_t got = 0;
        double gbps = measure(c, counts[k], (int)reps, &got);
        if (gbps < 0 || got != want) {
            fprintf(stderr, "g4-membw: %d threads: bad sum\n", counts[k]);
            rc = 1;
            continue;
        }
        printf("%d thread%s: %.2f GB/s read (%ld MiB, best of %ld)\n", counts[k],
               counts[k] == 1 ? "" : "s", gbps, size_mib, reps);
        printf("{\"threads\":%d,\"read_gbps\":%.2f}\n", counts[k], gbps);
    }
    free(c->buf);
    free(c);
    return rc;
}
