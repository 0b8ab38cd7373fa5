/* matmul_gemm.h: MatMul / BatchedMatMul over the packed GEMM with any micro-kernel (matmul.c):
 * constant operands packed at prepare, the rest per run (counted by lr_note_weight_pack). */
#ifndef LR_MATMUL_GEMM_H
#define LR_MATMUL_GEMM_H

#include "gemm_driver.h"
#include "model.h"

lr_status lr_matmul_gemm_prepare(const lr_gemm_ukernel *uk, lr_model *md, lr_node *nd);
size_t lr_matmul_gemm_workspace(const lr_gemm_ukernel *uk, const lr_model *md, const lr_node *nd, int threads);
lr_status lr_matmul_gemm_run(const lr_gemm_ukernel *uk, const lr_run_ctx *ctx, const lr_node *nd);
/* Packs A(i, k) = a[i*rs + k*cs] into MR-row panels exactly as lr_gemm_pack_a does. */
typedef void (*lr_matmul_pack_a_fn)(const lr_gemm_ukernel *uk, int64_t M, int64_t K, const float *a, int64_t rs,
                                    int64_t cs, float *dst);
/* lr_matmul_gemm_run with a faster (vector) packer of the per-run A; NULL: lr_gemm_pack_a. */
lr_status lr_matmul_gemm_run_pack(const lr_gemm_ukernel *uk, const lr_run_ctx *ctx, const lr_node *nd,
                                  lr_matmul_pack_a_fn pack_a);

#endif
