/* CPU feature probe. x86: cpuid plus xgetbv, so a feature counts only when the OS saves the
 * register state it needs (XCR0: SSE|YMM for AVX2, plus opmask|ZMM_Hi256|Hi16_ZMM for AVX-512).
 * Arm: getauxval on Linux, sysctlbyname on macOS, IsProcessorFeaturePresent on Windows. */
#include "quant.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define G4_X86 1
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
static void cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
    int v[4];
    __cpuidex(v, (int)leaf, (int)sub);
    for (int i = 0; i < 4; i++)
        r[i] = (unsigned)v[i];
}
static uint64_t xgetbv0(void) { return _xgetbv(0); }
#else
#include <cpuid.h>
static void cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
    r[0] = r[1] = r[2] = r[3] = 0;
    __get_cpuid_count(leaf, sub, &r[0], &r[1], &r[2], &r[3]);
}
static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif
#elif defined(__aarch64__) || defined(_M_ARM64)
#define G4_ARM64 1
#if defined(__linux__)
#include <sys/auxv.h>
#elif defined(__APPLE__)
#include <sys/sysctl.h>
static int sysctl_flag(const char *name)
{
    int v = 0;
    size_t len = sizeof v;
    return sysctlbyname(name, &v, &len, NULL, 0) == 0 && v;
}
#elif defined(_WIN32)
#include <windows.h>
#endif
#endif

void g4k_cpu_detect(g4k_cpu *c)
{
    memset(c, 0, sizeof *c);
#if defined(G4_X86)
    unsigned r1[4], r7[4], r71[4], r0[4];
    cpuid(0, 0, r0);
    const unsigned max_leaf = r0[0];
    cpuid(1, 0, r1);
    if (max_leaf >= 7) {
        cpuid(7, 0, r7);
        cpuid(7, 1, r71);
    } else {
        memset(r7, 0, sizeof r7);
        memset(r71, 0, sizeof r71);
    }
    const int osxsave = (r1[2] >> 27) & 1, avx = (r1[2] >> 28) & 1;
    const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    const int os_ymm = (xcr0 & 0x6) == 0x6;
    const int os_zmm = os_ymm && (xcr0 & 0xE0) == 0xE0;
    if (avx && os_ymm) {
        c->fma = (r1[2] >> 12) & 1;
        c->f16c = (r1[2] >> 29) & 1;
        c->avx2 = (r7[1] >> 5) & 1;
    }
    if (os_zmm) {
        c->avx512f = (r7[1] >> 16) & 1;
        c->avx512dq = (r7[1] >> 17) & 1;
        c->avx512bw = (r7[1] >> 30) & 1;
        c->avx512vl = (r7[1] >> 31) & 1;
        c->avx512vnni = (r7[2] >> 11) & 1;
        c->avx512bf16 = (r71[0] >> 5) & 1;
    }
#elif defined(G4_ARM64)
    c->neon = 1; /* mandatory in AArch64 */
#if defined(__linux__)
    const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    c->dotprod = (hw >> 20) & 1; /* HWCAP_ASIMDDP */
    c->i8mm = (hw2 >> 13) & 1;   /* HWCAP2_I8MM */
#elif defined(__APPLE__)
    c->dotprod = sysctl_flag("hw.optional.arm.FEAT_DotProd");
    c->i8mm = sysctl_flag("hw.optional.arm.FEAT_I8MM");
#elif defined(_WIN32)
    c->dotprod = IsProcessorFeaturePresent(43); /* PF_ARM_V82_DP_INSTRUCTIONS_AVAILABLE */
    c->i8mm = IsProcessorFeaturePresent(66);    /* PF_ARM_V82_I8MM_INSTRUCTIONS_AVAILABLE */
#endif
#endif
}

/* Whether this CPU (and this build: the ISA's translation unit must be compiled in) runs isa. */
int g4k_cpu_supports(const g4k_cpu *c, g4k_isa isa)
{
    switch (isa) {
    case G4K_ISA_SCALAR:
        return 1;
#if defined(G4_X86) && (defined(__x86_64__) || defined(_M_X64))
    case G4K_ISA_AVX2:
        return c->avx2 && c->fma && c->f16c;
    case G4K_ISA_AVX512:
        return c->avx2 && c->fma && c->f16c && c->avx512f && c->avx512bw && c->avx512vl &&
               c->avx512dq && c->avx512vnni;
#endif
#if defined(G4_ARM64) && defined(__aarch64__)
    case G4K_ISA_NEON:
        return c->neon && c->dotprod; /* our NEON TU is built with +dotprod */
#endif
    default:
        return 0;
    }
}
