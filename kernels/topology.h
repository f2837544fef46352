/* CPU topology (what the thread pool and the blocking heuristics need) and the pool extras
 * that kernels.h does not declare.
 *
 * The topology is detected once per process (hwloc when the build has G4_HAVE_HWLOC, else
 * sysfs) and cached in a static initialised under pthread_once: the only process-wide state
 * of this module, immutable after initialisation. Everything is restricted to the CPUs the
 * process may run on (sched_getaffinity at first use), so containers and `taskset` report
 * what we can actually use. */
#ifndef G4_TOPOLOGY_H
#define G4_TOPOLOGY_H

#include <stdint.h>

#include "kernels.h"

typedef struct g4k_topology {
    int n_logical;    /* allowed logical CPUs (PUs), >= 1 */
    int n_physical;   /* allowed physical cores (>= 1 allowed PU each), <= n_logical */
    int n_perf_cores; /* cores of the highest-performance kind; == n_physical unless hybrid */
    int n_numa;       /* NUMA nodes with allowed CPUs, >= 1 */
    /* Cache sizes per instance (L3: one L3 domain, e.g. one CCX on AMD), clamped to sane
     * ranges (see g4k_topology_cache_bytes); the *_raw fields are what the OS / hwloc said,
     * 0 when unknown. */
    int64_t l1d_bytes, l2_bytes, l3_bytes;
    int64_t l1d_raw, l2_raw, l3_raw;
    int hybrid;       /* 1 when cores of more than one kind (P/E, big/LITTLE) are allowed */
    int from_hwloc;   /* 1 when hwloc did the detection, 0 for the sysfs fallback */
    char desc[128];   /* one human-readable line */
} g4k_topology;

/* Never NULL; detected on first call (thread-safe). */
const g4k_topology *g4k_topology_get(void);

/* Detects afresh into *out, bypassing the cache (tests, tools): allow_hwloc = 0 forces the
 * sysfs fallback. Returns 0, -1 on allocation failure. */
int g4k_topology_detect(g4k_topology *out, int allow_hwloc);

/* Threads to use by default: the allowed performance (physical) cores, >= 1. The env var
 * G4_THREADS (a positive integer) overrides. */
int g4k_topology_default_threads(void);

/* Cache size in bytes for level 1 (L1d), 2 or 3, clamped because VMs report nonsense (one
 * reported a 508 MB L3 per core): L1d to [16K, 192K], L2 to [256K, 8M], L3 to [1M, 512M], to
 * at most 32M per allowed physical core, and to at least L2. Unknown levels default to 32K / 1M / 32M. Other levels: 0. */
int64_t g4k_topology_cache_bytes(int level);

/* Half of L2, at least 256 KiB and at most 2 MiB: what the float GEMM's weight panel, and the f32
 * attention's score tile, may fill (the rest holds the data streaming past them). */
static inline int64_t g4k_topology_l2_half(void)
{
    const int64_t l2 = g4k_topology_cache_bytes(2);
    return (l2 < (512 << 10) ? (512 << 10) : l2 > (4 << 20) ? (4 << 20) : l2) / 2;
}

/* Binds the calling thread to one logical CPU of the idx-th allowed core (performance cores
 * first, idx taken modulo the core count). Returns 0, or -1 when binding is unsupported or
 * refused (the caller just carries on unbound). */
int g4k_topology_bind_core(int idx);

/* ---- Pool extras (declared here because kernels.h only carries the core pool API) ------ *
 * Environment read by g4k_pool_new: G4_NO_BIND=1 leaves workers unpinned; G4_SPIN_US (default
 * 50) is how long an idle thread spins before sleeping (0: sleep at once; spinning is also
 * off when the pool has more threads than allowed CPUs). */

/* Barrier for use inside a task given to g4k_pool_run: every one of the nth threads of that
 * run must call it the same number of times. Spins briefly, then sleeps. No-op when the run
 * has one thread (NULL pool, 1-thread pool, nested/inline run). */
void g4k_pool_barrier(g4k_pool *p, int ith);

/* Number of worker threads that were pinned to a core (0 when binding was disabled with
 * G4_NO_BIND=1, refused, or the pool is oversubscribed). Diagnostics and tests. */
int g4k_pool_n_bound(const g4k_pool *p);

#endif
