/* ISA dispatch. The only global mutable state in the kernel layer: the per-ISA kernel tables
 * and the active choice, written exactly once under pthread_once and read-only afterwards.
 * Every level the CPU supports gets a table (tests and benchmarks compare them in-process);
 * the active one is the best level, or the one G4_ISA names. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static g4k_kernels g_tables[4];
static int g_have[4];
static g4k_isa g_active;
static int g_status; /* 0 ok, -1 G4_ISA names a level we cannot run */
static char g_err[160];

static const char *const k_names[4] = {"scalar", "avx2", "avx512", "neon"};

const char *g4k_isa_name(g4k_isa isa)
{
    return (unsigned)isa < 4 ? k_names[isa] : "unknown";
}

static void init_once(void)
{
    g4k_cpu cpu;
    g4k_cpu_detect(&cpu);
    for (int i = 0; i < 4; i++) {
        if (!g4k_cpu_supports(&cpu, (g4k_isa)i))
            continue;
        g4k_kernels *k = &g_tables[i];
        g4k_fill_scalar(k);
        switch (i) {
        case G4K_ISA_SCALAR:
            /* packed LM heads (pack16.c): the reference kernels are the scalar level's; AVX2 and
             * NEON have none (g4k_pack declines there and their decode kernels read the GGUF) */
            g4k_fill_scalar_rows16(k);
            break;
#if defined(__x86_64__) || defined(_M_X64)
        case G4K_ISA_AVX2:
            g4k_fill_avx2(k);
            break;
        case G4K_ISA_AVX512:
            g4k_fill_avx2(k); /* AVX-512 overrides what it accelerates, AVX2 fills the rest */
            g4k_fill_avx512(k);
            if (cpu.avx512bf16) /* separate CPUID bit: the level itself needs only VNNI */
                g4k_fill_avx512_bf16(k);
            g4k_fill_avx512_rows16(k);
            break;
#endif
#if defined(__aarch64__)
        case G4K_ISA_NEON:
            g4k_fill_neon(k);
            break;
#endif
        default:
            break;
        }
        k->isa = (g4k_isa)i;
        g_have[i] = 1;
    }
    g_active = G4K_ISA_SCALAR;
    for (int i = 1; i < 4; i++)
        if (g_have[i])
            g_active = (g4k_isa)i;

    const char *env = getenv("G4_ISA");
    if (env && *env) {
        int found = -1;
        for (int i = 0; i < 4; i++)
            if (strcmp(env, k_names[i]) == 0)
                found = i;
        if (found < 0) {
            g_status = -1;
            snprintf(g_err, sizeof g_err, "G4_ISA=%s: unknown level (scalar|avx2|avx512|neon)", env);
        } else if (!g_have[found]) {
            g_status = -1;
            snprintf(g_err, sizeof g_err, "G4_ISA=%s: this CPU or build does not support it", env);
        } else {
            g_active = (g4k_isa)found;
        }
    }
}

int g4k_init(char *err, size_t errlen)
{
    pthread_once(&g_once, init_once);
    if (g_status != 0 && err && errlen) {
        strncpy(err, g_err, errlen - 1);
        err[errlen - 1] = 0;
    }
    return g_status;
}

g4k_isa g4k_active_isa(void)
{
    pthread_once(&g_once, init_once);
    return g_active;
}

const g4k_kernels *g4k_kernels_for(g4k_isa isa)
{
    pthread_once(&g_once, init_once);
    return (unsigned)isa < 4 && g_have[isa] ? &g_tables[isa] : NULL;
}

/* After a failed g4k_init this still answers (with the best level): matmul must not crash. */
const g4k_kernels *g4k_kernels_active(void)
{
    pthread_once(&g_once, init_once);
    return &g_tables[g_active];
}

float g4k_exp_sub_sum(float *x, int64_t n, float m) { return g4k_kernels_active()->exp_sub_sum(x, n, m); }
void g4k_softmax(float *x, int64_t n) { g4k_kernels_active()->softmax(x, n); }
void g4k_geglu_tanh(float *g, const float *u, int64_t n) { g4k_kernels_active()->geglu_tanh(g, u, n); }
void g4k_geglu_tanh_clamp(float *g, const float *u, int64_t n, const float b[6])
{
    g4k_kernels_active()->geglu_tanh_clamp(g, u, n, b);
}
void g4k_clamp_copy(const float *src, float *dst, int64_t n, float lo, float hi)
{
    g4k_kernels_active()->clamp(src, dst, n, lo, hi);
}
double g4k_sum_sq(const float *x, int64_t n) { return g4k_kernels_active()->sum_sq(x, n); }
void g4k_scale_row(const float *x, float s, const float *w, float *y, int64_t n, int add)
{
    g4k_kernels_active()->scale_row(x, s, w, y, n, add);
}
void g4k_mul_sigmoid(float *dst, const float *x, const float *s, int64_t n) { g4k_kernels_active()->mul_sigmoid(dst, x, s, n); }
int64_t g4k_argmax(const float *x, int64_t n) { return g4k_kernels_active()->argmax(x, n); }
int64_t g4k_first_ge(const float *x, int64_t n, float t) { return g4k_kernels_active()->first_ge(x, n, t); }
float g4k_row_dot(uint32_t type, const void *row, const float *q, int64_t n)
{
    return g4k_kernels_active()->row_dot[type](row, q, n);
}
void g4k_row_axpy(uint32_t type, const void *row, float w, float *o, int64_t n)
{
    g4k_kernels_active()->row_axpy[type](row, w, o, n);
}
void g4k_row_to_f32(uint32_t type, const void *row, float *dst, int64_t n)
{
    g4k_kernels_active()->row_f32[type](row, dst, n);
}
void g4k_attn_kt(const float *k, int64_t nk, int64_t hd, float *kt, int64_t ldk)
{
    g4k_kernels_active()->attn_kt(k, nk, hd, kt, ldk);
}
void g4k_attn_qk(const float *q, int64_t nr, int64_t hd, const float *kt, int64_t nk, float *s, int64_t ss)
{
    g4k_kernels_active()->attn_qk(q, nr, hd, kt, nk, s, ss);
}
void g4k_attn_pv(const float *p, int64_t ps, int64_t nr, const float *v, int64_t hd, int64_t nk, float *o)
{
    g4k_kernels_active()->attn_pv(p, ps, nr, v, hd, nk, o);
}
int g4k_row_type_supported(uint32_t type)
{
    return type == G4_TYPE_F32 || type == G4_TYPE_F16 || type == G4_TYPE_BF16 || type == G4_TYPE_Q8_0;
}
