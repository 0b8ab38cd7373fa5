/* cpu_x86.c: runtime CPU-feature detection for the x86 kernels (one detection point). */
#include "cpu_x86.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned detect(void) {
    unsigned a, b, c, d, f = 0;
    if (!__get_cpuid_count(1, 0, &a, &b, &c, &d)) return 0;
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx) return 0;
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    int ymm_os = (xlo & 0x6) == 0x6, zmm_os = (xlo & 0xe6) == 0xe6;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    int avx2 = (b >> 5) & 1, f512 = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
    if (ymm_os && avx2 && fma) f |= LR_X86_AVX2_FMA;
    if ((f & LR_X86_AVX2_FMA) && zmm_os && f512 && dq && bw && vl) f |= LR_X86_AVX512;
    return f;
}
#else
static unsigned detect(void) { return 0; }
#endif

unsigned lr_x86_features(void) {
    static volatile int done;
    static volatile unsigned cached;
    if (!done) { /* idempotent: racing threads compute the same value */
        cached = detect();
        done = 1;
    }
    unsigned f = cached;
    const char *cap = getenv("LOADRUN_X86_ISA");
    if (cap) {
        if (!strcmp(cap, "generic")) f = 0;
        else if (!strcmp(cap, "avx2")) f &= LR_X86_AVX2_FMA;
    }
    return f;
}
