/* cpu_x86.h: the one place x86 CPU features are detected (cpuid + xgetbv, cached), ggml-style.
 * LOADRUN_X86_ISA=generic|avx2|avx512 caps what the x86 algorithms may use (tests, benchmarks). */
#ifndef LR_CPU_X86_H
#define LR_CPU_X86_H

enum {
    LR_X86_AVX2_FMA = 1u << 0, /* AVX2 + FMA3, OS saves ymm */
    LR_X86_AVX512 = 1u << 1,   /* AVX-512 F/BW/VL/DQ, OS saves zmm + opmask */
};

/* Features usable now: detected once, then capped by LOADRUN_X86_ISA (read on every call). */
unsigned lr_x86_features(void);
static inline int lr_x86_has(unsigned f) { return (lr_x86_features() & f) == f; }

#endif
