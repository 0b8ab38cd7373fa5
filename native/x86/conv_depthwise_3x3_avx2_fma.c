/* conv_depthwise_3x3_avx2_fma.c: the depthwise 3x3 kernel on 8-float ymm vectors. */
#define VL 8
#define ISA_FEATURES LR_X86_AVX2_FMA
#define SUFFIX avx2_fma
#define SUFFIX_STR "avx2_fma"
#include "conv_depthwise_3x3_x86.h"
