/* gemv_avx512f.c: the M == 1 MatMul (gemv_x86.h) on 16-float zmm vectors. */
#define VL 16
#define NV 2
#define ISA_FEATURES LR_X86_AVX512
#define SUFFIX avx512f
#define SUFFIX_STR "avx512f"
#include "gemv_x86.h"
