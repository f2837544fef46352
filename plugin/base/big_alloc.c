/* g4_big_alloc / g4_big_free (big_alloc.h). */
#include "base/big_alloc.h"

#include <stdint.h>
#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

void *g4_big_alloc(g4_big *b, size_t size)
{
    b->base = NULL;
    b->mapped = 0;
    size = size ? size : 1;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const size_t huge = (size_t)2 << 20;
    if (size > SIZE_MAX - huge)
        return NULL;
    const size_t len = size + huge;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    char *a = (char *)(((uintptr_t)p + huge - 1) & ~(uintptr_t)(huge - 1));
    madvise(a, size, MADV_HUGEPAGE); /* advice only: failure is harmless */
    b->base = p;
    b->mapped = len;
    return a;
#else
    if (size > SIZE_MAX - 63)
        return NULL;
    char *p = malloc(size + 63);
    if (!p)
        return NULL;
    b->base = p;
    b->mapped = size + 63;
    return (char *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
#endif
}

void g4_big_free(g4_big *b)
{
    if (!b->base)
        return;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    munmap(b->base, b->mapped);
#else
    free(b->base);
#endif
    b->base = NULL;
    b->mapped = 0;
}
