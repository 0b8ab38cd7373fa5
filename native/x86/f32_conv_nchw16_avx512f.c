/* f32_conv_nchw16_avx512f.c: BlockedConv on nchw16 tensors, 16-float zmm vectors, tiles of 2 x 12 (1x1: 2 x 14; depthwise 3x3: 8 pixels at s1, 4 at s2). */
#define VL 16
#define TMAX 12
#define PW_TMAX 14
#define DW_T2 4
#define ISA_FEATURES LR_X86_AVX512
#define SUFFIX avx512f
#define SUFFIX_STR "avx512f"
#include "f32_conv_nchwb_x86.h"
