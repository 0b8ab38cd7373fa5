/* gemm_f32_neon.c: f32-gemm-8x12-neonfma, the aarch64 micro-kernel of the packed GEMM (gemm_driver.h). */
#include "gemm_f32_neon.h"
#include "kernels.h"

#if LR_ARM_NEON64
#include <arm_neon.h>

#define MR 8
#define NR 12

/* C[8x12] (+)= A[kc x 8] * B[kc x 12], both packed; 24 accumulators; an active epilogue goes
 * through the tile path. */
static void f32_gemm_8x12_neonfma(int64_t mr, int64_t nr, int64_t kc, const float *a, const float *b, float *c,
                                  int64_t ldc, int accumulate, const lr_gemm_params *p) {
    float32x4_t c00 = vdupq_n_f32(0), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00, c20 = c00, c21 = c00,
                c22 = c00, c30 = c00, c31 = c00, c32 = c00, c40 = c00, c41 = c00, c42 = c00, c50 = c00, c51 = c00,
                c52 = c00, c60 = c00, c61 = c00, c62 = c00, c70 = c00, c71 = c00, c72 = c00;
    for (int64_t k = 0; k < kc; ++k) {
        float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
        float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
        c00 = vfmaq_laneq_f32(c00, b0, a0, 0); c01 = vfmaq_laneq_f32(c01, b1, a0, 0); c02 = vfmaq_laneq_f32(c02, b2, a0, 0);
        c10 = vfmaq_laneq_f32(c10, b0, a0, 1); c11 = vfmaq_laneq_f32(c11, b1, a0, 1); c12 = vfmaq_laneq_f32(c12, b2, a0, 1);
        c20 = vfmaq_laneq_f32(c20, b0, a0, 2); c21 = vfmaq_laneq_f32(c21, b1, a0, 2); c22 = vfmaq_laneq_f32(c22, b2, a0, 2);
        c30 = vfmaq_laneq_f32(c30, b0, a0, 3); c31 = vfmaq_laneq_f32(c31, b1, a0, 3); c32 = vfmaq_laneq_f32(c32, b2, a0, 3);
        c40 = vfmaq_laneq_f32(c40, b0, a1, 0); c41 = vfmaq_laneq_f32(c41, b1, a1, 0); c42 = vfmaq_laneq_f32(c42, b2, a1, 0);
        c50 = vfmaq_laneq_f32(c50, b0, a1, 1); c51 = vfmaq_laneq_f32(c51, b1, a1, 1); c52 = vfmaq_laneq_f32(c52, b2, a1, 1);
        c60 = vfmaq_laneq_f32(c60, b0, a1, 2); c61 = vfmaq_laneq_f32(c61, b1, a1, 2); c62 = vfmaq_laneq_f32(c62, b2, a1, 2);
        c70 = vfmaq_laneq_f32(c70, b0, a1, 3); c71 = vfmaq_laneq_f32(c71, b1, a1, 3); c72 = vfmaq_laneq_f32(c72, b2, a1, 3);
        a += MR;
        b += NR;
    }
    float tmp[MR][NR];
    float *rows[MR];
    int full = mr == MR && nr == NR && !accumulate && !lr_gemm_params_active(p);
    for (int i = 0; i < MR; ++i) rows[i] = full ? c + i * ldc : tmp[i];
#define LR_STORE_ROW(i, x0, x1, x2) vst1q_f32(rows[i], x0), vst1q_f32(rows[i] + 4, x1), vst1q_f32(rows[i] + 8, x2)
    LR_STORE_ROW(0, c00, c01, c02); LR_STORE_ROW(1, c10, c11, c12); LR_STORE_ROW(2, c20, c21, c22);
    LR_STORE_ROW(3, c30, c31, c32); LR_STORE_ROW(4, c40, c41, c42); LR_STORE_ROW(5, c50, c51, c52);
    LR_STORE_ROW(6, c60, c61, c62); LR_STORE_ROW(7, c70, c71, c72);
#undef LR_STORE_ROW
    if (full) return;
    lr_gemm_store_tile(mr, nr, &tmp[0][0], NR, c, ldc, accumulate, p);
}

const lr_gemm_ukernel lr_f32_gemm_8x12_neonfma = {"f32-gemm-8x12-neonfma", MR, NR, 0, f32_gemm_8x12_neonfma,
                                                  252, LR_GEMM_SPLIT_OVERSUBSCRIBE, 0};
#else
typedef int lr_gemm_f32_neon_unused; /* not an aarch64 build: nothing to compile */
#endif
