/* f32_conv_nchw88_avx2_fma.c: BlockedConv on nchw88 tensors, 8-float ymm vectors, tiles of 2 x 6 (depthwise 3x3: 4 pixels). */
#define VL 8
#define TMAX 6
#define DW_T 4
#define ISA_FEATURES LR_X86_AVX2_FMA
#define SUFFIX avx2_fma
#define SUFFIX_STR "avx2_fma"
#include "f32_conv_nchwb_x86.h"
