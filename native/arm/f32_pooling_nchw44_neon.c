/* f32_pooling_nchw44_neon.c: BlockedPooling on nchw44 tensors (N, C/4, H, W, 4), one q register a
 * pixel's 4 channels (the kernel: native/generic/pooling_blocked_vec.h). */
#include "neon_nchw44.h"

#if LR_ARM_NEON64
#include <arm_neon.h>

#define VL 4
#define VMAX(a, b) ((pvf)vmaxq_f32((float32x4_t)(a), (float32x4_t)(b)))
#define USABLE_CPU 1
#define ALGO lr_algo_blocked_pooling_f32_nchw44_neon
#define ALGO_NAME "blocked_pooling_f32_nchw44_neon"
#include "../generic/pooling_blocked_vec.h"
#else
static bool never(const lr_model *m, const lr_node *n) { (void)m; (void)n; return false; }
const lr_algo lr_algo_blocked_pooling_f32_nchw44_neon = {"blocked_pooling_f32_nchw44_neon", LR_OP_BLOCKED_POOLING, never,
                                                         NULL, NULL, NULL, 0, 0, NULL};
#endif
