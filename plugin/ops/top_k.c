/* Top-k selection by value: the drafter's centroid head picks its clusters with it. */
#include "ops/ops.h"

void g4_top_k(const float *x, int32_t n, int32_t k, int32_t *idx)
{
    /* one pass of insertion into idx[] kept sorted by value (desc), equal values by index (asc),
     * so ties at the boundary keep the lowest indices */
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        if (m == k && !(x[i] > x[idx[k - 1]]))
            continue;
        int32_t j = m < k ? m++ : k - 1;
        for (; j > 0 && x[i] > x[idx[j - 1]]; j--)
            idx[j] = idx[j - 1];
        idx[j] = i;
    }
}
