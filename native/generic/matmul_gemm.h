/* matmul_gemm.h: MatMul / BatchedMatMul over the packed GEMM with any micro-kernel (matmul.c):
 * constant operands packed at prepare, the rest per run (counted by lr_note_weight_pack). */
#ifndef LR_MATMUL_GEMM_H
#define LR_MATMUL_GEMM_H

#include "gemm_driver.h"
#include "model.h"

lr_status lr_matmul_gemm_prepare(const lr_gemm_ukernel *uk, lr_model *md, lr_node *nd);
size_t lr_matmul_gemm_workspace(const lr_gemm_ukernel *uk, const lr_model *md, const lr_node *nd, int threads);
lr_status lr_matmul_gemm_run(const lr_gemm_ukernel *uk, const lr_run_ctx *ctx, const lr_node *nd);

#endif
