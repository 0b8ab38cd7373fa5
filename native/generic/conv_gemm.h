/* conv_gemm.h: Conv as the packed GEMM (gemm_driver.h) per (image, group), for any micro-kernel:
 * weights packed into its MR panels (at prepare, or into the workspace each run), B supplied by
 * a 1x1 row copy or by im2col runs copied straight into NR panels, and the epilogue either fused
 * into the micro-kernel's stores (uk->fuses_epilogue) or applied per finished tile. The generic,
 * x86 and NEON im2col/1x1 algorithms are this file with their micro-kernel and usable(). */
#ifndef LR_CONV_GEMM_H
#define LR_CONV_GEMM_H

#include "conv_common.h"
#include "gemm_driver.h"

/* 1x1, stride 1, unpadded: the input rows are B. */
bool lr_conv_gemm_is_1x1(const lr_conv_geom *g);
/* B suppliers; ctx is the driver's per-(image, group) job context. */
const float *lr_conv_gemm_b_1x1(const void *ctx, int64_t j0, int64_t nt, int nr, float *dst);
const float *lr_conv_gemm_b_im2col(const void *ctx, int64_t j0, int64_t nt, int nr, float *dst);
/* lr_conv_gemm_b_1x1 when the geometry allows it, else lr_conv_gemm_b_im2col. */
const float *lr_conv_gemm_b_auto(const void *ctx, int64_t j0, int64_t nt, int nr, float *dst);

/* A(oc, (ic, kh, kw)) of every group into uk's MR panels; taps flipped in CONVOLUTION mode. */
void lr_conv_gemm_pack_weights(const lr_gemm_ukernel *uk, const lr_conv_geom *g, const float *w, float *dst);
lr_status lr_conv_gemm_prepare(const lr_gemm_ukernel *uk, lr_model *m, lr_node *n);
size_t lr_conv_gemm_workspace(const lr_gemm_ukernel *uk, const lr_model *m, const lr_node *n, int threads);
lr_status lr_conv_gemm_run(const lr_gemm_ukernel *uk, lr_gemm_b_fn get_b, const lr_run_ctx *ctx, const lr_node *n);

#endif
