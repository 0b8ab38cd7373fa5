/* pooling_max_avx2_fma.c: MAX pooling on 8-float ymm vectors. */
#define VL 8
#define ISA_FEATURES LR_X86_AVX2_FMA
#define SUFFIX avx2_fma
#define SUFFIX_STR "avx2_fma"
#include "pooling_max_x86.h"
