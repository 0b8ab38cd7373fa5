/* conv_depthwise_3x3_avx512f.c: the depthwise 3x3 kernel on 16-float zmm vectors. */
#define VL 16
#define ISA_FEATURES LR_X86_AVX512
#define SUFFIX avx512f
#define SUFFIX_STR "avx512f"
#include "conv_depthwise_3x3_x86.h"
