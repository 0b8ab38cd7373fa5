/* gemm_f32_x86.h: the x86 micro-kernels of the packed GEMM (native/generic/gemm_driver.h), each
 * fusing C = clamp(C + bias[row] + Z, min, max) into its stores on the last K block; blocking,
 * packing and threading are the driver's (LR_GEMM_SPLIT_BALANCE, B tiles up to 384 columns).
 */
#ifndef LR_GEMM_F32_X86_H
#define LR_GEMM_F32_X86_H

#include "gemm_driver.h"

#define LR_X86_GEMM_MAX_TILE_COLS 384

extern const lr_gemm_ukernel lr_f32_gemm_8x32_avx512f_broadcast;
extern const lr_gemm_ukernel lr_f32_gemm_6x16_avx2_fma_broadcast;

/* The best micro-kernel this CPU runs (NULL: none; the generic GEMM applies). */
const lr_gemm_ukernel *lr_x86_gemm_best(void);

#endif
