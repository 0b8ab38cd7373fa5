/* gemv_avx2_fma.c: the M == 1 MatMul (gemv_x86.h) on 8-float ymm vectors. */
#define VL 8
#define ISA_FEATURES LR_X86_AVX2_FMA
#define SUFFIX avx2_fma
#define SUFFIX_STR "avx2_fma"
#include "gemv_x86.h"
