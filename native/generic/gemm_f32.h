/* gemm_f32.h: the generic micro-kernel of the packed GEMM (gemm_driver.h): f32-gemm-6x8-generic,
 * GNU C vector types (SSE on x86-64, NEON on ARM). Blocking, packing and threading are the driver's. */
#ifndef LR_GEMM_F32_H
#define LR_GEMM_F32_H

#include "gemm_driver.h"

extern const lr_gemm_ukernel lr_f32_gemm_6x8_generic;

#endif
