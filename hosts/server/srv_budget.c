/* Server-wide memory budget: see srv_budget.h. */
#include "srv_budget.h"

#ifdef _WIN32
#include <windows.h>
#else
#include <unistd.h>
#endif

/* Bytes of physical memory; 0 when unknown. */
static uint64_t physical_ram(void)
{
#ifdef _WIN32
    MEMORYSTATUSEX ms;
    ms.dwLength = sizeof ms;
    return GlobalMemoryStatusEx(&ms) ? (uint64_t)ms.ullTotalPhys : 0;
#else
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    return pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
#endif
}

void srv_budget_init(srv_budget *b, uint64_t total)
{
    b->total = total;
    atomic_init(&b->used, 0);
}

uint64_t srv_budget_default(void)
{
    uint64_t ram = physical_ram();
    uint64_t half = ram ? ram / 2 : (uint64_t)1 << 30;
    const uint64_t lo = (uint64_t)512 << 20, hi = (uint64_t)8 << 30;
    return half < lo ? lo : half > hi ? hi : half;
}

int srv_budget_take(srv_budget *b, uint64_t n)
{
    if (!b->total || !n)
        return 0;
    uint_fast64_t cur = atomic_load(&b->used);
    do {
        if (n > b->total || cur > b->total - n)
            return -1;
    } while (!atomic_compare_exchange_weak(&b->used, &cur, cur + n));
    return 0;
}

void srv_budget_give(srv_budget *b, uint64_t n)
{
    if (b->total && n)
        atomic_fetch_sub(&b->used, n);
}

uint64_t srv_budget_estimate(size_t body_len)
{
    return SRV_BUDGET_FIXED + (uint64_t)body_len * SRV_BUDGET_PER_BODY_BYTE;
}
