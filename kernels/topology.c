/* CPU topology: hwloc when built with G4_HAVE_HWLOC, else (or when hwloc fails to load)
 * Linux sysfs, else sysconf. See topology.h.
 *
 * Process-wide state: `g_topo`, filled once under pthread_once and never modified afterwards.
 * It keeps the hwloc topology alive for the life of the process (hwloc_set_cpubind needs it;
 * loading costs ~10-25 ms, so once is the point) — still reachable, so not a leak. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* syscall, CPU_ALLOC, pthread_setaffinity_np (the Makefile also sets it) */
#endif
#include "topology.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _WIN32
#include "os.h" /* sysconf(_SC_NPROCESSORS_ONLN) */
#endif

#if G4_HAVE_HWLOC
#include <hwloc.h>
#ifdef __linux__ /* cpu_set_t <-> hwloc bitmap, used only on Linux (Windows build: no sched.h) */
#include <hwloc/glibc-sched.h>
#endif
#endif

#define MAX_CPUS 8192 /* logical CPU numbers we look at (cpu_set_t alone stops at 1024) */
#define MAX_CORES 1024

typedef struct topo_state {
    g4k_topology t;
    int n_cores;             /* entries in core_pu */
    int core_pu[MAX_CORES];  /* OS index of one allowed PU per core, performance cores first */
#if G4_HAVE_HWLOC
    hwloc_topology_t h;      /* NULL when the sysfs path was used */
#endif
} topo_state;

/* ---- helpers ---------------------------------------------------------------------------- */

/* The allowed CPUs of this process, as a bool array [MAX_CPUS]. Returns the count. */
static int allowed_cpus(unsigned char *allowed)
{
    memset(allowed, 0, MAX_CPUS);
    int n = 0;
#ifdef __linux__
    cpu_set_t *cs = CPU_ALLOC(MAX_CPUS);
    size_t sz = CPU_ALLOC_SIZE(MAX_CPUS);
    if (cs && sched_getaffinity(0, sz, cs) == 0) {
        for (int i = 0; i < MAX_CPUS; i++)
            if (CPU_ISSET_S(i, sz, cs)) {
                allowed[i] = 1;
                n++;
            }
    }
    if (cs)
        CPU_FREE(cs);
#endif
    if (n == 0) {
        long on = sysconf(_SC_NPROCESSORS_ONLN);
        if (on < 1)
            on = 1;
        if (on > MAX_CPUS)
            on = MAX_CPUS;
        for (int i = 0; i < on; i++)
            allowed[i] = 1;
        n = (int)on;
    }
    return n;
}

static int read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    buf[strcspn(buf, "\n")] = 0;
    return 0;
}

static long read_long(const char *path, long dflt)
{
    char buf[64];
    if (read_line(path, buf, sizeof buf) != 0)
        return dflt;
    char *end;
    long v = strtol(buf, &end, 10);
    return end == buf ? dflt : v;
}

/* Parses a sysfs cpu list ("0-3,8,10-11") into set[MAX_CPUS]. Returns 0, -1 if unreadable. */
static int read_cpulist(const char *path, unsigned char *set)
{
    char buf[4096];
    memset(set, 0, MAX_CPUS);
    if (read_line(path, buf, sizeof buf) != 0)
        return -1;
    for (char *s = buf; *s;) {
        char *end;
        long a = strtol(s, &end, 10), b = a;
        if (end == s)
            break;
        s = end;
        if (*s == '-') {
            b = strtol(s + 1, &end, 10);
            s = end;
        }
        for (long i = a; i <= b && i < MAX_CPUS; i++)
            if (i >= 0)
                set[i] = 1;
        if (*s == ',')
            s++;
        else
            break;
    }
    return 0;
}

/* "32K", "1024K", "8M", "12345" -> bytes; 0 if unparsable. */
static int64_t parse_size(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v <= 0)
        return 0;
    switch (toupper((unsigned char)*end)) {
    case 'K': return (int64_t)v << 10;
    case 'M': return (int64_t)v << 20;
    case 'G': return (int64_t)v << 30;
    default: return (int64_t)v;
    }
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Raw sizes (0 = unknown) -> the sane values stored in l*_bytes. */
static void finish_caches(g4k_topology *t)
{
    t->l1d_bytes = t->l1d_raw > 0 ? clamp64(t->l1d_raw, 16 << 10, 192 << 10) : 32 << 10;
    t->l2_bytes = t->l2_raw > 0 ? clamp64(t->l2_raw, 256 << 10, 8 << 20) : 1 << 20;
    t->l3_bytes = t->l3_raw > 0 ? clamp64(t->l3_raw, 1 << 20, (int64_t)512 << 20) : 32 << 20;
    /* Also at most 32 MiB per allowed core (the biggest real ratio is ~12 MiB/core, 3D V-Cache):
     * the one VM above reports 508 MB on 2 cores, inside the absolute range. */
    int64_t per_core_cap = (int64_t)32 << 20;
    if (t->n_physical > 0 && t->l3_bytes > per_core_cap * t->n_physical)
        t->l3_bytes = clamp64(per_core_cap * t->n_physical, 1 << 20, (int64_t)512 << 20);
    /* No L3, or an L3 smaller than L2 (old Core 2 style, or clamping): callers size their
     * blocks as L1 < L2 <= L3, so keep the levels monotonic. */
    if (t->l3_bytes < t->l2_bytes)
        t->l3_bytes = t->l2_bytes;
}

static void finish(topo_state *st)
{
    g4k_topology *t = &st->t;
    if (t->n_logical < 1)
        t->n_logical = 1;
    if (t->n_physical < 1 || t->n_physical > t->n_logical)
        t->n_physical = t->n_logical;
    if (t->n_perf_cores < 1 || t->n_perf_cores > t->n_physical)
        t->n_perf_cores = t->n_physical;
    t->hybrid = t->n_perf_cores < t->n_physical;
    if (t->n_numa < 1)
        t->n_numa = 1;
    finish_caches(t);
    snprintf(t->desc, sizeof t->desc,
             "%d logical, %d physical (%d perf%s), %d NUMA; L1d %lldK L2 %lldK L3 %lldM (%s)",
             t->n_logical, t->n_physical, t->n_perf_cores, t->hybrid ? ", hybrid" : "", t->n_numa,
             (long long)(t->l1d_bytes >> 10), (long long)(t->l2_bytes >> 10),
             (long long)(t->l3_bytes >> 20), t->from_hwloc ? "hwloc" : "sysfs");
}

/* ---- sysfs fallback ----------------------------------------------------------------------- */
static void detect_sysfs(topo_state *st)
{
    g4k_topology *t = &st->t;
    unsigned char *allowed = malloc(MAX_CPUS), *tmp = malloc(MAX_CPUS), *pcores = malloc(MAX_CPUS);
    /* one entry per allowed core: package/die/core key, first PU, capacity */
    typedef struct { long pkg, die, core, cap; int pu, perf; } core_t;
    core_t *cores = malloc(MAX_CORES * sizeof *cores);
    if (!allowed || !tmp || !pcores || !cores) {
        t->n_logical = (int)sysconf(_SC_NPROCESSORS_ONLN);
        goto out;
    }
    t->n_logical = allowed_cpus(allowed);

    /* Intel hybrid exposes one perf PMU per core kind, each with its cpu list. */
    int intel_hybrid = read_cpulist("/sys/devices/cpu_core/cpus", pcores) == 0 &&
                       access("/sys/devices/cpu_atom/cpus", F_OK) == 0;

    int nc = 0, first = -1;
    char path[256];
    for (int cpu = 0; cpu < MAX_CPUS; cpu++) {
        if (!allowed[cpu])
            continue;
        if (first < 0)
            first = cpu;
#define CPUF(name) (snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/" name, cpu), path)
        long pkg = read_long(CPUF("topology/physical_package_id"), 0);
        long die = read_long(CPUF("topology/die_id"), 0);
        long core = read_long(CPUF("topology/core_id"), -1 - cpu); /* unknown: own core */
        long cap = read_long(CPUF("cpu_capacity"), -1);             /* Arm big.LITTLE */
#undef CPUF
        int perf_hint = intel_hybrid ? pcores[cpu] : 1;
        int j;
        for (j = 0; j < nc; j++)
            if (cores[j].pkg == pkg && cores[j].die == die && cores[j].core == core)
                break;
        if (j == nc) {
            if (nc == MAX_CORES)
                continue;
            cores[nc++] = (core_t){pkg, die, core, cap, cpu, perf_hint};
        } else {
            if (cap > cores[j].cap)
                cores[j].cap = cap;
            cores[j].perf |= perf_hint;
        }
    }
    t->n_physical = nc;

    long maxcap = -1;
    for (int j = 0; j < nc; j++)
        if (cores[j].cap > maxcap)
            maxcap = cores[j].cap;
    int np = 0;
    for (int j = 0; j < nc; j++) {
        if (maxcap > 0 && cores[j].cap >= 0 && cores[j].cap < maxcap)
            cores[j].perf = 0;
        np += cores[j].perf;
    }
    t->n_perf_cores = np;
    /* binding order: performance cores first */
    st->n_cores = 0;
    for (int pass = 1; pass >= 0; pass--)
        for (int j = 0; j < nc; j++)
            if (cores[j].perf == pass)
                st->core_pu[st->n_cores++] = cores[j].pu;

    /* NUMA nodes that hold an allowed CPU */
    t->n_numa = 0;
    DIR *d = opendir("/sys/devices/system/node");
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            int node;
            if (sscanf(de->d_name, "node%d", &node) != 1)
                continue;
            snprintf(path, sizeof path, "/sys/devices/system/node/node%d/cpulist", node);
            if (read_cpulist(path, tmp) != 0)
                continue;
            for (int cpu = 0; cpu < MAX_CPUS; cpu++)
                if (tmp[cpu] && allowed[cpu]) {
                    t->n_numa++;
                    break;
                }
        }
        closedir(d);
    }

    /* caches of the first allowed CPU */
    for (int idx = 0; first >= 0 && idx < 16; idx++) {
        char type[32], size[32];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/cache/index%d/level", first, idx);
        long level = read_long(path, -1);
        if (level < 0)
            break;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/cache/index%d/type", first, idx);
        if (read_line(path, type, sizeof type) != 0 || strcmp(type, "Instruction") == 0)
            continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/cache/index%d/size", first, idx);
        if (read_line(path, size, sizeof size) != 0)
            continue;
        int64_t b = parse_size(size);
        if (level == 1)
            t->l1d_raw = b;
        else if (level == 2)
            t->l2_raw = b;
        else if (level == 3)
            t->l3_raw = b;
    }
out:
    free(allowed);
    free(tmp);
    free(pcores);
    free(cores);
    t->from_hwloc = 0;
}

/* ---- hwloc -------------------------------------------------------------------------------- */
#if G4_HAVE_HWLOC
static int64_t hw_cache(hwloc_topology_t h, hwloc_obj_type_t type)
{
    hwloc_obj_t o = hwloc_get_obj_by_type(h, type, 0);
    return o && o->attr ? (int64_t)o->attr->cache.size : 0;
}

static int detect_hwloc(topo_state *st)
{
    g4k_topology *t = &st->t;
    hwloc_topology_t h;
    if (hwloc_topology_init(&h) != 0)
        return -1;
    if (hwloc_topology_load(h) != 0) {
        hwloc_topology_destroy(h);
        return -1;
    }
    /* hwloc already hides cgroup-disallowed CPUs; also drop those outside our affinity mask
     * (taskset, numactl, a parent's pinning). */
#ifdef __linux__
    cpu_set_t *cs = CPU_ALLOC(MAX_CPUS);
    size_t sz = CPU_ALLOC_SIZE(MAX_CPUS);
    if (cs && sched_getaffinity(0, sz, cs) == 0) {
        hwloc_bitmap_t set = hwloc_bitmap_alloc();
        if (set && hwloc_cpuset_from_glibc_sched_affinity(h, set, cs, sz) == 0) {
            hwloc_const_bitmap_t all = hwloc_topology_get_topology_cpuset(h);
            hwloc_bitmap_and(set, set, all);
            if (!hwloc_bitmap_iszero(set) && !hwloc_bitmap_isequal(set, all))
                hwloc_topology_restrict(h, set, 0);
        }
        hwloc_bitmap_free(set);
    }
    if (cs)
        CPU_FREE(cs);
#endif
    t->n_logical = hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_PU);
    int ncore = hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_CORE);
    hwloc_obj_type_t core_type = HWLOC_OBJ_CORE;
    if (ncore <= 0) { /* some platforms expose no core objects: one PU per core */
        core_type = HWLOC_OBJ_PU;
        ncore = t->n_logical;
    }
    t->n_physical = ncore;

    t->n_numa = 0;
    for (int i = 0, nn = hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_NUMANODE); i < nn; i++) {
        hwloc_obj_t node = hwloc_get_obj_by_type(h, HWLOC_OBJ_NUMANODE, i);
        if (node && node->cpuset && !hwloc_bitmap_iszero(node->cpuset))
            t->n_numa++;
    }

    t->l1d_raw = hw_cache(h, HWLOC_OBJ_L1CACHE); /* data or unified; icaches are L1ICACHE */
    t->l2_raw = hw_cache(h, HWLOC_OBJ_L2CACHE);
    t->l3_raw = hw_cache(h, HWLOC_OBJ_L3CACHE);

    /* Hybrid: kinds are ranked by efficiency, the last one being the big cores. */
    hwloc_bitmap_t perf = NULL;
    int nk = hwloc_cpukinds_get_nr(h, 0);
    if (nk >= 2) {
        perf = hwloc_bitmap_alloc();
        if (perf && hwloc_cpukinds_get_info(h, (unsigned)nk - 1, perf, NULL, NULL, NULL, 0) != 0) {
            hwloc_bitmap_free(perf);
            perf = NULL;
        }
    }
    int np = 0;
    st->n_cores = 0;
    for (int pass = 1; pass >= 0; pass--) {
        for (int i = 0; i < ncore; i++) {
            hwloc_obj_t c = hwloc_get_obj_by_type(h, core_type, i);
            if (!c || !c->cpuset || hwloc_bitmap_iszero(c->cpuset))
                continue;
            int is_perf = !perf || hwloc_bitmap_intersects(c->cpuset, perf);
            if (is_perf != pass)
                continue;
            np += is_perf;
            if (st->n_cores < MAX_CORES)
                st->core_pu[st->n_cores++] = hwloc_bitmap_first(c->cpuset);
        }
    }
    hwloc_bitmap_free(perf);
    t->n_perf_cores = np;
    t->from_hwloc = 1;
    st->h = h;
    return 0;
}
#endif

static void detect(topo_state *st, int allow_hwloc)
{
    memset(st, 0, sizeof *st);
#if G4_HAVE_HWLOC
    if (allow_hwloc && detect_hwloc(st) == 0) {
        finish(st);
        return;
    }
    memset(st, 0, sizeof *st);
#else
    (void)allow_hwloc;
#endif
    detect_sysfs(st);
    finish(st);
}

/* ---- public ------------------------------------------------------------------------------- */
static topo_state g_topo; /* written once, under g_once */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init_once(void) { detect(&g_topo, 1); }

#if G4_HAVE_HWLOC && defined(__GNUC__)
/* The cached hwloc topology (kept for binding workers) is released when the library is unloaded
 * (dlclose) or the process exits, so hosts that load and unload the plugin leak nothing. */
__attribute__((destructor)) static void release_topology(void)
{
    if (g_topo.h) {
        hwloc_topology_destroy(g_topo.h);
        g_topo.h = NULL;
    }
}
#endif

const g4k_topology *g4k_topology_get(void)
{
    pthread_once(&g_once, init_once);
    return &g_topo.t;
}

int g4k_topology_detect(g4k_topology *out, int allow_hwloc)
{
    topo_state *st = malloc(sizeof *st);
    if (!st)
        return -1;
    detect(st, allow_hwloc);
    *out = st->t;
#if G4_HAVE_HWLOC
    if (st->h)
        hwloc_topology_destroy(st->h);
#endif
    free(st);
    return 0;
}

int g4k_topology_default_threads(void)
{
    const char *e = getenv("G4_THREADS");
    if (e && *e) {
        char *end;
        long v = strtol(e, &end, 10);
        if (*end == 0 && v >= 1 && v <= 1024)
            return (int)v;
    }
    int n = g4k_topology_get()->n_perf_cores;
    return n >= 1 ? n : 1;
}

int64_t g4k_topology_cache_bytes(int level)
{
    const g4k_topology *t = g4k_topology_get();
    switch (level) {
    case 1: return t->l1d_bytes;
    case 2: return t->l2_bytes;
    case 3: return t->l3_bytes;
    default: return 0;
    }
}

int g4k_topology_bind_core(int idx)
{
    g4k_topology_get();
    const topo_state *st = &g_topo;
    if (st->n_cores <= 0 || idx < 0)
        return -1;
    int pu = st->core_pu[idx % st->n_cores];
    if (pu < 0)
        return -1;
#if G4_HAVE_HWLOC
    if (st->h) {
        hwloc_bitmap_t set = hwloc_bitmap_alloc();
        if (!set)
            return -1;
        hwloc_bitmap_only(set, (unsigned)pu);
        int rc = hwloc_set_cpubind(st->h, set, HWLOC_CPUBIND_THREAD);
        hwloc_bitmap_free(set);
        return rc == 0 ? 0 : -1;
    }
#endif
#ifdef __linux__
    if (pu >= MAX_CPUS)
        return -1;
    cpu_set_t *cs = CPU_ALLOC(MAX_CPUS);
    size_t sz = CPU_ALLOC_SIZE(MAX_CPUS);
    if (!cs)
        return -1;
    CPU_ZERO_S(sz, cs);
    CPU_SET_S(pu, sz, cs);
    int rc = pthread_setaffinity_np(pthread_self(), sz, cs);
    CPU_FREE(cs);
    return rc == 0 ? 0 : -1;
#else
    return -1;
#endif
}
