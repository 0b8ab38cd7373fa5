/* kernels.h: the portable algorithms of every operator (native/generic/). Target folders
 * (native/x86/, native/arm/) declare theirs the same way and are listed first in the registry. */
#ifndef LR_GENERIC_KERNELS_H
#define LR_GENERIC_KERNELS_H

#include "model.h"

extern const lr_algo lr_algo_conv_depthwise_direct_f32;
extern const lr_algo lr_algo_conv_im2col_gemm_f32;
extern const lr_algo lr_algo_conv_1x1_rowblock_f32;
extern const lr_algo lr_algo_conv_direct_f32;
extern const lr_algo lr_algo_deconv_gather_f32;
extern const lr_algo lr_algo_elemwise_generic;
extern const lr_algo lr_algo_powc_f32;
extern const lr_algo lr_algo_typecvt_generic;
extern const lr_algo lr_algo_reduce_generic;
extern const lr_algo lr_algo_reshape_copy;
extern const lr_algo lr_algo_broadcast_copy;
extern const lr_algo lr_algo_transpose_copy;
extern const lr_algo lr_algo_concat_copy;
extern const lr_algo lr_algo_slice_copy;
extern const lr_algo lr_algo_padding_generic;
extern const lr_algo lr_algo_matmul_gemm_f32;
extern const lr_algo lr_algo_matmul_rowblock_f32;
extern const lr_algo lr_algo_matmul_splitk_f32;
extern const lr_algo lr_algo_batched_matmul_gemm_f32;
extern const lr_algo lr_algo_batched_matmul_rowblock_f32;
extern const lr_algo lr_algo_pooling_direct_f32;
extern const lr_algo lr_algo_resize_f32;
extern const lr_algo lr_algo_layernorm_f32;
extern const lr_algo lr_algo_softmax_f32;
extern const lr_algo lr_algo_argmax_generic;
extern const lr_algo lr_algo_argmin_generic;
extern const lr_algo lr_algo_argsort_merge;
extern const lr_algo lr_algo_topk_merge;
extern const lr_algo lr_algo_indexing_one_hot;
extern const lr_algo lr_algo_indexing_set_one_hot;
extern const lr_algo lr_algo_cumsum_generic;
extern const lr_algo lr_algo_warp_perspective_f32;
extern const lr_algo lr_algo_batchnorm_f32;
extern const lr_algo lr_algo_linspace;
/* fused_elemwise.c: the JIT's fused operators */
extern const lr_algo lr_algo_fused_elemwise_f32;
extern const lr_algo lr_algo_fused_softmax_f32;
extern const lr_algo lr_algo_fused_layernorm_f32;
extern const lr_algo lr_algo_fused_mean_f32;

#endif
