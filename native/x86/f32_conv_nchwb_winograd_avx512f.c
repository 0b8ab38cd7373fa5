/* f32_conv_nchwb_winograd_avx512f.c: Winograd F(4,3) BlockedConv on nchw16, zmm vectors, 8 x 32 GEMM micro-tiles. */
#define VL 16
#define RMAX 8
#define ISA_FEATURES LR_X86_AVX512
#define SUFFIX avx512f
#define SUFFIX_STR "avx512f"
#include "f32_conv_nchwb_winograd_x86.h"
