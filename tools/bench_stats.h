/* The benchmark tools' statistics: a run of repetitions is reported by its median (a shared
 * machine's slow spells fall on either side of it). Header-only: each tool is one .c file. */
#ifndef G4_TOOLS_BENCH_STATS_H
#define G4_TOOLS_BENCH_STATS_H
#include <stdlib.h>

static int bench_cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (n >= 1), sorting v in place; the mean of the middle two for even n. */
static double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#endif
