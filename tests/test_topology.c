/* Topology: sane ranges and consistency, with hwloc (when built in) and with the sysfs
 * fallback, and the two agreeing. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>

#include "kernels.h"
#include "t.h"
#include "topology.h"

static void check_sane(const g4k_topology *t, const char *what)
{
    printf("%s: %s\n", what, t->desc);
    CHECK(t->n_logical >= 1 && t->n_logical <= 8192, "%s logical %d", what, t->n_logical);
    CHECK(t->n_physical >= 1 && t->n_physical <= t->n_logical, "%s physical %d", what,
          t->n_physical);
    CHECK(t->n_perf_cores >= 1 && t->n_perf_cores <= t->n_physical, "%s perf %d", what,
          t->n_perf_cores);
    CHECK(t->hybrid == (t->n_perf_cores < t->n_physical), "%s hybrid flag", what);
    CHECK(t->n_numa >= 1 && t->n_numa <= t->n_logical, "%s numa %d", what, t->n_numa);
    CHECK(t->l1d_bytes >= 16 << 10 && t->l1d_bytes <= 192 << 10, "%s l1d %lld", what,
          (long long)t->l1d_bytes);
    CHECK(t->l2_bytes >= 256 << 10 && t->l2_bytes <= 8 << 20, "%s l2 %lld", what,
          (long long)t->l2_bytes);
    CHECK(t->l3_bytes >= 1 << 20 && t->l3_bytes <= (int64_t)512 << 20, "%s l3 %lld", what,
          (long long)t->l3_bytes);
    CHECK(t->l3_bytes <= ((int64_t)32 << 20) * t->n_physical || t->l3_bytes == t->l2_bytes,
          "%s l3 %lld over 32M per core", what, (long long)t->l3_bytes);
    CHECK(t->l1d_bytes < t->l2_bytes && t->l2_bytes <= t->l3_bytes, "%s caches increasing", what);
    CHECK(t->l1d_raw >= 0 && t->l2_raw >= 0 && t->l3_raw >= 0, "%s raw sizes", what);
    CHECK(strlen(t->desc) > 0 && strlen(t->desc) < sizeof t->desc, "%s desc", what);
}

int main(void)
{
    const g4k_topology *t = g4k_topology_get();
    CHECK(t != NULL, "get");
    check_sane(t, "cached");
    CHECK(g4k_topology_get() == t, "cached pointer stable");
    printf("raw caches: L1d %lld L2 %lld L3 %lld\n", (long long)t->l1d_raw,
           (long long)t->l2_raw, (long long)t->l3_raw);
#if G4_HAVE_HWLOC
    CHECK(t->from_hwloc == 1, "built with hwloc but detection fell back to sysfs");
#else
    CHECK(t->from_hwloc == 0, "no hwloc build reports hwloc");
#endif

    g4k_topology a, b;
    CHECK(g4k_topology_detect(&a, 1) == 0, "detect hwloc");
    CHECK(g4k_topology_detect(&b, 0) == 0, "detect sysfs");
    check_sane(&a, "detect(hwloc)");
    check_sane(&b, "detect(sysfs)");
    CHECK(b.from_hwloc == 0, "sysfs forced");
    CHECK(a.n_logical == b.n_logical, "logical hwloc %d sysfs %d", a.n_logical, b.n_logical);
    CHECK(a.n_physical == b.n_physical, "physical hwloc %d sysfs %d", a.n_physical, b.n_physical);
    CHECK(a.n_perf_cores == b.n_perf_cores, "perf hwloc %d sysfs %d", a.n_perf_cores,
          b.n_perf_cores);
    CHECK(a.n_numa == b.n_numa, "numa hwloc %d sysfs %d", a.n_numa, b.n_numa);
    CHECK(a.n_logical == t->n_logical && a.n_physical == t->n_physical, "detect == cached");

    /* cache_bytes mirrors the struct; bad levels give 0 */
    CHECK(g4k_topology_cache_bytes(1) == t->l1d_bytes, "cache 1");
    CHECK(g4k_topology_cache_bytes(2) == t->l2_bytes, "cache 2");
    CHECK(g4k_topology_cache_bytes(3) == t->l3_bytes, "cache 3");
    CHECK(g4k_topology_cache_bytes(0) == 0 && g4k_topology_cache_bytes(4) == 0, "bad level");

    /* default threads: perf cores, G4_THREADS overrides, garbage ignored */
    CHECK(g4k_topology_default_threads() == t->n_perf_cores, "default %d perf %d",
          g4k_topology_default_threads(), t->n_perf_cores);
    setenv("G4_THREADS", "7", 1);
    CHECK(g4k_topology_default_threads() == 7, "G4_THREADS=7");
    setenv("G4_THREADS", "0", 1);
    CHECK(g4k_topology_default_threads() == t->n_perf_cores, "G4_THREADS=0 ignored");
    setenv("G4_THREADS", "abc", 1);
    CHECK(g4k_topology_default_threads() == t->n_perf_cores, "G4_THREADS=abc ignored");
    unsetenv("G4_THREADS");

    /* binding a thread to core 0 works or fails cleanly; restore afterwards */
    cpu_set_t saved;
    int have = sched_getaffinity(0, sizeof saved, &saved) == 0;
    int rc = g4k_topology_bind_core(0);
    CHECK(rc == 0 || rc == -1, "bind rc %d", rc);
    if (rc == 0) {
        cpu_set_t cs;
        CHECK(sched_getaffinity(0, sizeof cs, &cs) == 0 && CPU_COUNT(&cs) == 1, "bound to 1 CPU");
    }
    CHECK(g4k_topology_bind_core(-1) == -1, "bad core index");
    if (have)
        sched_setaffinity(0, sizeof saved, &saved);
    return T_DONE("test_topology");
}
