/* kernels.h: the NEON algorithms (native/arm/). Each one's `usable` is false unless the build
 * targets aarch64, so the registry lists them on every target and the host build stays portable. */
#ifndef LR_ARM_KERNELS_H
#define LR_ARM_KERNELS_H

#include "model.h"

#if defined(__aarch64__) && defined(__ARM_NEON) && !defined(LR_ARM_NO_NEON) /* -DLR_ARM_NO_NEON: generic kernels only, for comparisons */
#define LR_ARM_NEON64 1
#else
#define LR_ARM_NEON64 0
#endif

extern const lr_algo lr_algo_conv_depthwise_3x3_f32_neon;
extern const lr_algo lr_algo_conv_im2col_gemm_f32_neon;

#endif
