/* conv_im2col_gemm_neon.c: Conv as GEMM per (image, group) through f32-gemm-8x12-neonfma: the
 * shared driver (generic/conv_gemm.c) with weights in 8-row panels, im2col (or 1x1 row) columns in
 * 12-column panels, the epilogue applied on hot tiles. */
#include "kernels.h"

#if LR_ARM_NEON64
#include "conv_gemm.h"
#include "gemm_f32_neon.h"

static bool usable(const lr_model *m, const lr_node *n) {
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    return !(g.g == g.c && g.icg == 1 && g.ocg == 1); /* depthwise has its own kernels */
}

static lr_status prepare(lr_model *m, lr_node *n) { return lr_conv_gemm_prepare(&lr_f32_gemm_8x12_neonfma, m, n); }

static size_t workspace(const lr_model *m, const lr_node *n, int threads) {
    return lr_conv_gemm_workspace(&lr_f32_gemm_8x12_neonfma, m, n, threads);
}

static lr_status run(const lr_run_ctx *ctx, const lr_node *n) {
    return lr_conv_gemm_run(&lr_f32_gemm_8x12_neonfma, lr_conv_gemm_b_auto, ctx, n);
}

static double cost(const lr_model *m, const lr_node *n, int threads) {
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    double K = (double)g.icg * g.kh * g.kw, macs = (double)g.n * g.oc * K * g.oh * g.ow;
    return macs / (16.0 * threads) + (double)g.n * g.g * K * g.oh * g.ow / 2.0; /* 8 fma lanes/cycle + im2col packing */
}

const lr_algo lr_algo_conv_im2col_gemm_f32_neon = {"conv_im2col_gemm_f32_8x12_neonfma", LR_OP_CONV, usable, workspace, prepare, run, 0, 0, cost};
#else
static bool never(const lr_model *m, const lr_node *n) { (void)m; (void)n; return false; }
const lr_algo lr_algo_conv_im2col_gemm_f32_neon = {"conv_im2col_gemm_f32_8x12_neonfma", LR_OP_CONV, never, NULL, NULL, NULL, 0, 0, NULL};
#endif
