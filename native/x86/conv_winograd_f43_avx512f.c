/* conv_winograd_f43_avx512f.c: Winograd F(4,3) with 8-tile transforms and the 8x32 micro-kernel. */
#define VL 8 /* tile rows are 7-14 tiles wide: 16 lanes would idle */
#define UK lr_f32_gemm_8x32_avx512f_broadcast
#define ISA_FEATURES LR_X86_AVX512
#define SUFFIX avx512f
#define SUFFIX_STR "avx512f"
#include "conv_winograd_f43_x86.h"
