/* gemm_f32_neon.h: the f32-gemm-8x12-neonfma micro-kernel of the packed GEMM (gemm_driver.h).
 *
 * A in 8-row panels, B in 12-column panels: 24 q-register accumulators, fma by lane, so each k step
 * loads 2 A vectors and 3 B vectors for 24 fmas. aarch64 only (defined when LR_ARM_NEON64).
 */
#ifndef LR_GEMM_F32_NEON_H
#define LR_GEMM_F32_NEON_H

#include "gemm_driver.h"

extern const lr_gemm_ukernel lr_f32_gemm_8x12_neonfma;

#endif
