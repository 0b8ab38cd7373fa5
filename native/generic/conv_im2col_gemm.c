/* conv_im2col_gemm.c: Conv as GEMM per (image, group) through the generic 6x8 micro-kernel: the
 * shared driver (conv_gemm.c) with packed weights, im2col (or 1x1 row) panels and the epilogue
 * applied while each tile is hot. */
#include "conv_gemm.h"
#include "gemm_f32.h"
#include "kernels.h"

static bool usable(const lr_model *m, const lr_node *n) {
    (void)m;
    (void)n;
    return true;
}

static lr_status prepare(lr_model *m, lr_node *n) { return lr_conv_gemm_prepare(&lr_f32_gemm_6x8_generic, m, n); }

static size_t workspace(const lr_model *m, const lr_node *n, int threads) {
    return lr_conv_gemm_workspace(&lr_f32_gemm_6x8_generic, m, n, threads);
}

static lr_status run(const lr_run_ctx *ctx, const lr_node *n) {
    return lr_conv_gemm_run(&lr_f32_gemm_6x8_generic, lr_conv_gemm_b_auto, ctx, n);
}

static double cost(const lr_model *m, const lr_node *n, int threads) {
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    double K = (double)g.icg * g.kh * g.kw, macs = (double)g.n * g.oc * K * g.oh * g.ow;
    return macs / (6.0 * threads) + (double)g.n * g.g * K * g.oh * g.ow / 2.0; /* + im2col packing */
}

const lr_algo lr_algo_conv_im2col_gemm_f32 = {"conv_im2col_gemm_f32_6x8", LR_OP_CONV, usable, workspace, prepare, run, false, 0, cost};
