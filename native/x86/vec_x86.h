/* vec_x86.h: GNU vectors of VL floats for the x86 kernels compiled once per ISA (VL 16: AVX-512 zmm,
 * VL 8: AVX2 ymm): unaligned load/store, a real broadcast, max/min as single instructions.
 * Define VL before including. */
#ifndef LR_VEC_X86_H
#define LR_VEC_X86_H

#include <immintrin.h>
#include <string.h>

typedef float vf __attribute__((vector_size(VL * 4)));

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define AI static inline __attribute__((always_inline))

AI vf ld(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
AI void st(float *p, vf v) { memcpy(p, &v, sizeof v); }

/* A real broadcast: (vf){0} + f costs a dependent add before it (0 + f is not f for -0.f). max/min
 * as one instruction each (a compare-and-blend on GNU vectors costs ~5), the second operand when
 * unordered, as a > b ? a : b. */
#if VL == 16
AI vf splat(float f) { return (vf)_mm512_set1_ps(f); }
AI vf vmax(vf a, vf b) { return (vf)_mm512_max_ps((__m512)a, (__m512)b); }
AI vf vmin(vf a, vf b) { return (vf)_mm512_min_ps((__m512)a, (__m512)b); }
#elif VL == 8
AI vf splat(float f) { return (vf)_mm256_set1_ps(f); }
AI vf vmax(vf a, vf b) { return (vf)_mm256_max_ps((__m256)a, (__m256)b); }
AI vf vmin(vf a, vf b) { return (vf)_mm256_min_ps((__m256)a, (__m256)b); }
#else
#error "vec_x86.h: VL must be 16 or 8"
#endif

#endif
