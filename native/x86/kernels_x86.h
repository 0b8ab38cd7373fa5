/* kernels_x86.h: the x86 algorithms (native/x86/), listed before the generic ones in the
 * registry; each one's usable() checks the CPU features (cpu_x86.c) and the shapes. */
#ifndef LR_X86_KERNELS_H
#define LR_X86_KERNELS_H

#include "model.h"

extern const lr_algo lr_algo_conv_gemm_pixrows_f32_8x32_avx512f;
extern const lr_algo lr_algo_conv_gemm_pixrows_f32_6x16_avx2_fma;
extern const lr_algo lr_algo_conv1x1_gemm_f32_8x32_avx512f;
extern const lr_algo lr_algo_conv_im2col_gemm_f32_8x32_avx512f;
extern const lr_algo lr_algo_conv1x1_gemm_f32_6x16_avx2_fma;
extern const lr_algo lr_algo_conv_im2col_gemm_f32_6x16_avx2_fma;
extern const lr_algo lr_algo_conv_winograd_f43_f32_avx512f;
extern const lr_algo lr_algo_conv_winograd_f43_f32_avx2_fma;
extern const lr_algo lr_algo_conv_depthwise_3x3_f32_avx512f;
extern const lr_algo lr_algo_conv_depthwise_3x3_f32_avx2_fma;
extern const lr_algo lr_algo_matmul_gemm_f32_8x32_avx512f;
extern const lr_algo lr_algo_batched_matmul_gemm_f32_8x32_avx512f;
extern const lr_algo lr_algo_matmul_gemm_f32_6x16_avx2_fma;
extern const lr_algo lr_algo_batched_matmul_gemm_f32_6x16_avx2_fma;
extern const lr_algo lr_algo_pooling_max_f32_avx512f;
extern const lr_algo lr_algo_pooling_max_f32_avx2_fma;
extern const lr_algo lr_algo_gelu_f32_avx512f;
extern const lr_algo lr_algo_gelu_f32_avx2_fma;
extern const lr_algo lr_algo_softmax_lastaxis_f32_avx512f;
extern const lr_algo lr_algo_softmax_lastaxis_f32_avx2_fma;
extern const lr_algo lr_algo_layernorm_f32_avx512f;
extern const lr_algo lr_algo_layernorm_f32_avx2_fma;
extern const lr_algo lr_algo_elemwise_binary_f32_avx512f;
extern const lr_algo lr_algo_elemwise_binary_f32_avx2_fma;
extern const lr_algo lr_algo_fused_elemwise_f32_avx512f;
extern const lr_algo lr_algo_fused_elemwise_f32_avx2_fma;
extern const lr_algo lr_algo_fused_layernorm_f32_avx512f;
extern const lr_algo lr_algo_fused_layernorm_f32_avx2_fma;
extern const lr_algo lr_algo_fused_softmax_f32_avx512f;
extern const lr_algo lr_algo_fused_softmax_f32_avx2_fma;
/* gemv_x86.h: M == 1 MatMul / BatchedMatMul (weights streamed once), before the GEMM ones */
extern const lr_algo lr_algo_matmul_gemv_f32_avx512f;
extern const lr_algo lr_algo_matmul_gemv_f32_avx2_fma;
extern const lr_algo lr_algo_batched_matmul_gemv_f32_avx512f;
extern const lr_algo lr_algo_batched_matmul_gemv_f32_avx2_fma;

/* In registry order, for the core's list (NULL-terminated). */
#define LR_X86_ALGOS                                                                                 \
    &lr_algo_conv_depthwise_3x3_f32_avx512f, &lr_algo_conv_depthwise_3x3_f32_avx2_fma,               \
        &lr_algo_conv_gemm_pixrows_f32_8x32_avx512f, &lr_algo_conv_gemm_pixrows_f32_6x16_avx2_fma,   \
        &lr_algo_conv1x1_gemm_f32_8x32_avx512f, &lr_algo_conv1x1_gemm_f32_6x16_avx2_fma,             \
        &lr_algo_conv_winograd_f43_f32_avx512f, &lr_algo_conv_winograd_f43_f32_avx2_fma,             \
        &lr_algo_conv_im2col_gemm_f32_8x32_avx512f, &lr_algo_conv_im2col_gemm_f32_6x16_avx2_fma,     \
        &lr_algo_matmul_gemv_f32_avx2_fma, &lr_algo_matmul_gemv_f32_avx512f, /* ymm streams measure faster */   \
        &lr_algo_batched_matmul_gemv_f32_avx2_fma, &lr_algo_batched_matmul_gemv_f32_avx512f,         \
        &lr_algo_matmul_gemm_f32_8x32_avx512f, &lr_algo_matmul_gemm_f32_6x16_avx2_fma,               \
        &lr_algo_batched_matmul_gemm_f32_8x32_avx512f, &lr_algo_batched_matmul_gemm_f32_6x16_avx2_fma,         \
        &lr_algo_gelu_f32_avx512f, &lr_algo_gelu_f32_avx2_fma, &lr_algo_softmax_lastaxis_f32_avx512f,         \
        &lr_algo_softmax_lastaxis_f32_avx2_fma, &lr_algo_pooling_max_f32_avx512f, &lr_algo_pooling_max_f32_avx2_fma, \
        &lr_algo_layernorm_f32_avx512f, &lr_algo_layernorm_f32_avx2_fma, &lr_algo_elemwise_binary_f32_avx512f,        \
        &lr_algo_elemwise_binary_f32_avx2_fma, &lr_algo_fused_elemwise_f32_avx512f, &lr_algo_fused_elemwise_f32_avx2_fma, \
        &lr_algo_fused_layernorm_f32_avx512f, &lr_algo_fused_layernorm_f32_avx2_fma, &lr_algo_fused_softmax_f32_avx512f, \
        &lr_algo_fused_softmax_f32_avx2_fma,

#endif
