/* conv_winograd_f43_avx2_fma.c: Winograd F(4,3) with 8-tile ymm transforms and the 6x16 micro-kernel. */
#define VL 8
#define UK lr_f32_gemm_6x16_avx2_fma_broadcast
#define ISA_FEATURES LR_X86_AVX2_FMA
#define SUFFIX avx2_fma
#define SUFFIX_STR "avx2_fma"
#include "conv_winograd_f43_x86.h"
