/* neon_nchw44.h: the NEON algorithms added after kernels.h: Winograd F(4,3) for NCHW Conv and the
 * nchw44 blocked-layout kernels (BlockedConv, BlockedPooling). usable() is false off aarch64
 * (LR_ARM_NEON64 from kernels.h), so the registry lists them on every target. */
#ifndef LR_ARM_NEON_NCHW44_H
#define LR_ARM_NEON_NCHW44_H

#include "kernels.h"

extern const lr_algo lr_algo_conv_winograd_f43_f32_neon;
extern const lr_algo lr_algo_blocked_conv_direct_f32_nchw44_neon;
extern const lr_algo lr_algo_blocked_pooling_f32_nchw44_neon;

#define LR_ARM_NCHW44_ALGOS &lr_algo_blocked_conv_direct_f32_nchw44_neon, &lr_algo_blocked_pooling_f32_nchw44_neon,

#endif
