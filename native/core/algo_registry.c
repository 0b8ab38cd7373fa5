/* algo_registry.c: every operator's algorithms in preference order. Heuristic mode takes the first
 * usable one; target-specific algorithms (native/x86/, native/arm/) go before the generic ones. */
#include "../generic/kernels.h"
#include "model.h"

static const lr_algo *const registry[] = {
    &lr_algo_conv_depthwise_direct_f32,
    &lr_algo_conv_im2col_gemm_f32,
    &lr_algo_deconv_gather_f32,
    &lr_algo_elemwise_generic,
    &lr_algo_powc_f32,
    &lr_algo_typecvt_generic,
    &lr_algo_reduce_generic,
    &lr_algo_reshape_copy,
    &lr_algo_broadcast_copy,
    &lr_algo_transpose_copy,
    &lr_algo_concat_copy,
    &lr_algo_slice_copy,
    &lr_algo_padding_generic,
    &lr_algo_matmul_gemm_f32,
    &lr_algo_batched_matmul_gemm_f32,
    &lr_algo_pooling_direct_f32,
    &lr_algo_resize_f32,
    &lr_algo_layernorm_f32,
    &lr_algo_softmax_f32,
    &lr_algo_argmax_generic,
    &lr_algo_argmin_generic,
    &lr_algo_argsort_merge,
    &lr_algo_topk_merge,
    &lr_algo_indexing_one_hot,
    &lr_algo_indexing_set_one_hot,
    &lr_algo_cumsum_generic,
    &lr_algo_warp_perspective_f32,
    &lr_algo_batchnorm_f32,
    &lr_algo_linspace,
};

const lr_algo *lr_algo_choose(const lr_model *m, const lr_node *n) {
    for (size_t i = 0; i < sizeof registry / sizeof *registry; ++i)
        if (registry[i]->op == n->op && registry[i]->usable(m, n)) return registry[i];
    return NULL;
}
