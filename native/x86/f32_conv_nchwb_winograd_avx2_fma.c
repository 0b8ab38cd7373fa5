/* f32_conv_nchwb_winograd_avx2_fma.c: Winograd F(4,3) BlockedConv on nchw88, ymm vectors, 6 x 16 GEMM micro-tiles. */
#define VL 8
#define RMAX 6
#define ISA_FEATURES LR_X86_AVX2_FMA
#define SUFFIX avx2_fma
#define SUFFIX_STR "avx2_fma"
#include "f32_conv_nchwb_winograd_x86.h"
