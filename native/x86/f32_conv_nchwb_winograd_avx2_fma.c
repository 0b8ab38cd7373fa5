/* f32_conv_nchwb_winograd_avx2_fma.c: Winograd F(4,3) BlockedConv on nchw88, ymm vectors, 6 x 16 GEMM micro-tiles. */
#define VL 8
#define RMAX 6
#define ISA_FEATURES LR_X86_AVX2_FMA
#define SUFFIX avx2_fma
#define SUFFIX_STR "avx2_fma"
#define VMAX(a, b) ((vf)_mm256_max_ps((__m256)(a), (__m256)(b)))
#define VMIN(a, b) ((vf)_mm256_min_ps((__m256)(a), (__m256)(b)))
#include "f32_conv_nchwb_winograd_x86.h"
