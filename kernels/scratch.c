/* Per-thread scratch buffers that only grow: g4k_matmul runs on every layer of every token, and
 * a malloc/free per call (activation rows, GEMM panels) costs more than a small matmul itself.
 * One pthread key; its destructor frees a thread's buffers when the thread exits (pool workers
 * on g4k_pool_free), so nothing leaks under LeakSanitizer. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "quant.h"

typedef struct {
    void *raw[G4K_SCRATCH_SLOTS]; /* what malloc returned (freed) */
    void *p[G4K_SCRATCH_SLOTS];   /* raw rounded up to 64 bytes (handed out) */
    size_t cap[G4K_SCRATCH_SLOTS];
} scratch_set;

/* Set when this thread could not get a buffer: the kernel then skipped its work, and the step
 * that ran it must fail (g4k_take_alloc_failure) instead of returning wrong numbers. */
static _Thread_local int t_alloc_failed;

int g4k_scratch_take_failure(void)
{
    int f = t_alloc_failed;
    t_alloc_failed = 0;
    return f;
}

static pthread_key_t g_key;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;
static int g_key_ok;

static void scratch_free(void *arg)
{
    scratch_set *s = arg;
    for (int i = 0; i < G4K_SCRATCH_SLOTS; i++)
        free(s->raw[i]);
    free(s);
}

static void key_init(void) { g_key_ok = pthread_key_create(&g_key, scratch_free) == 0; }

void *g4k_scratch(int slot, size_t bytes)
{
    pthread_once(&g_key_once, key_init);
    if (!g_key_ok || slot < 0 || slot >= G4K_SCRATCH_SLOTS) {
        t_alloc_failed = 1;
        return NULL;
    }
    scratch_set *s = pthread_getspecific(g_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || pthread_setspecific(g_key, s) != 0) {
            free(s);
            t_alloc_failed = 1;
            return NULL;
        }
    }
    if (s->cap[slot] < bytes) {
        /* grow by 1.5x so a slowly rising size does not reallocate every call */
        size_t cap = bytes + bytes / 2;
        cap = (cap + 63) & ~(size_t)63;
        /* malloc + manual 64-byte alignment: portable (no posix_memalign / _aligned_malloc split) */
        void *raw = malloc(cap + 63);
        if (!raw) {
            t_alloc_failed = 1;
            return NULL;
        }
        free(s->raw[slot]);
        s->raw[slot] = raw;
        s->p[slot] = (void *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
        s->cap[slot] = cap;
    }
    return s->p[slot];
}
