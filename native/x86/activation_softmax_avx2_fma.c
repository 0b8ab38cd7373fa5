/* activation_softmax_avx2_fma.c: GELU and Softmax on 8-float ymm vectors. */
#define VL 8
#define ISA_FEATURES LR_X86_AVX2_FMA
#define SUFFIX avx2_fma
#define SUFFIX_STR "avx2_fma"
#include "activation_softmax_x86.h"
