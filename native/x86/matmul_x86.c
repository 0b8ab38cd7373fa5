/* matmul_x86.c: MatMul and BatchedMatMul through the shared GEMM MatMul (generic/matmul.c) with
 * the x86 micro-kernels; only usable() (ISA, dtypes, no broadcast batching) is x86's. */
#include "cpu_x86.h"
#include "gemm_f32_x86.h"
#include "kernels_x86.h"
#include "matmul_gemm.h"

static bool usable_common(const lr_gemm_ukernel *uk, const lr_model *m, const lr_node *n) {
    if (!lr_x86_has(uk->features)) return false;
    const lr_tensor *a = lr_min(m, n, 0), *b = lr_min(m, n, 1), *y = lr_mout(m, n, 0);
    if (a->dtype != LR_FLOAT32 || b->dtype != LR_FLOAT32 || y->dtype != LR_FLOAT32) return false;
    if (a->numel != y->numel / (y->dims[y->ndim - 1]) * (n->ints[0] ? a->dims[a->ndim - 2] : a->dims[a->ndim - 1]))
        return false; /* the operands are not batched like the output (broadcast): generic path */
    return a->ndim == b->ndim && a->ndim == y->ndim;
}

#define MATMUL_ALGOS(UK, SUFFIX)                                                                                      \
    static bool usable_##SUFFIX(const lr_model *m, const lr_node *n) { return usable_common(&UK, m, n); }             \
    static lr_status prepare_##SUFFIX(lr_model *m, lr_node *n) { return lr_matmul_gemm_prepare(&UK, m, n); }                  \
    static size_t workspace_##SUFFIX(const lr_model *m, const lr_node *n, int t) { return lr_matmul_gemm_workspace(&UK, m, n, t); } \
    static lr_status run_##SUFFIX(const lr_run_ctx *c, const lr_node *n) { return lr_matmul_gemm_run(&UK, c, n); }           \
    const lr_algo lr_algo_matmul_gemm_f32_##SUFFIX = {"matmul_gemm_f32_" #SUFFIX, LR_OP_MATMUL, usable_##SUFFIX,       \
                                                      workspace_##SUFFIX, prepare_##SUFFIX, run_##SUFFIX, 0, 0, NULL};         \
    const lr_algo lr_algo_batched_matmul_gemm_f32_##SUFFIX = {"batched_matmul_gemm_f32_" #SUFFIX,                      \
                                                              LR_OP_BATCHED_MATMUL, usable_##SUFFIX, workspace_##SUFFIX, \
                                                              prepare_##SUFFIX, run_##SUFFIX, 0, 0, NULL};

MATMUL_ALGOS(lr_f32_gemm_8x32_avx512f_broadcast, 8x32_avx512f)
MATMUL_ALGOS(lr_f32_gemm_6x16_avx2_fma_broadcast, 6x16_avx2_fma)
