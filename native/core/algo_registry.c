/* algo_registry.c: every operator's algorithms in preference order. Heuristic mode takes the first
 * usable one; fast-run profiles every usable one (fast_run.c). To register an algorithm, add one
 * line to the list: target-specific ones (native/x86/, native/arm/) before the generic ones of
 * their operator. The list's order is the only thing that matters; ids are positions in it. */
#include "../arm/kernels.h"
#include "../arm/neon_nchw44.h" /* NEON winograd F(4,3), nchw44 kernels */
#include <string.h>

#include "../generic/kernels.h"
#if defined(__x86_64__)
#include "../x86/kernels_x86.h" /* AVX2 / AVX-512: usable() checks the CPU at run time */
#include "../x86/f32_nchwb_x86.h" /* blocked layouts nchw16 / nchw88 */
#else
#define LR_X86_ALGOS
#define LR_X86_BLOCKED_ALGOS
#endif
#include "../generic/layout_blocked.h"
#include <stdlib.h>
#include "model.h"

static const lr_algo *const registry[] = {
    LR_X86_ALGOS /* native/x86: before the generic ones of their operators */
    &lr_algo_conv_depthwise_3x3_f32_neon, /* native/arm: usable on aarch64 builds only */
    &lr_algo_conv_winograd_f43_f32_neon, /* 3x3 s1, C/OC >= 16, planes >= 14x14 */
    &lr_algo_conv_im2col_gemm_f32_neon,
    &lr_algo_conv_depthwise_direct_f32,
    &lr_algo_conv_im2col_gemm_f32,
    &lr_algo_conv_1x1_rowblock_f32,
    &lr_algo_conv_direct_f32,
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
    &lr_algo_matmul_rowblock_f32,
    &lr_algo_matmul_splitk_f32,
    &lr_algo_batched_matmul_gemm_f32,
    &lr_algo_batched_matmul_rowblock_f32,
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
    &lr_algo_fused_elemwise_f32, /* the JIT's fused operators (native/generic/fused_elemwise.c) */
    &lr_algo_fused_softmax_f32,
    &lr_algo_fused_layernorm_f32,
    &lr_algo_fused_mean_f32,
    LR_X86_BLOCKED_ALGOS /* blocked layouts (codes 80..95): x86 first, then the portable ones */
    LR_ARM_NCHW44_ALGOS /* nchw44 NEON (aarch64 only) */
    LR_BLOCKED_GENERIC_ALGOS
};

#define N_ALGOS ((int)(sizeof registry / sizeof *registry))

/* LOADRUN_ALGO_FORCE=name[,name...]: a usable named algorithm wins over the list's order (tests). */
static bool forced(const char *name) {
    const char *f = getenv("LOADRUN_ALGO_FORCE");
    size_t len = strlen(name);
    for (const char *p = f; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (!strncmp(p, name, len) && (p[len] == ',' || p[len] == 0)) return true;
    return false;
}

const lr_algo *lr_algo_choose(const lr_model *m, const lr_node *n) {
    for (int i = 0; i < N_ALGOS; ++i)
        if (registry[i]->op == n->op && forced(registry[i]->name) && registry[i]->usable(m, n)) return registry[i];
    const lr_algo *fallback = NULL;
    for (int i = 0; i < N_ALGOS; ++i)
        if (registry[i]->op == n->op && registry[i]->usable(m, n)) {
            if (!(registry[i]->flags & LR_ALGO_HEURISTIC_NEEDS_PREPROCESS) || m->weight_preprocess) return registry[i];
            if (!fallback) fallback = registry[i];
        }
    return fallback;
}

int lr_algo_count(void) { return N_ALGOS; }

const lr_algo *lr_algo_at(int id) { return id >= 0 && id < N_ALGOS ? registry[id] : NULL; }

int lr_algo_find(const char *name) {
    for (int i = 0; i < N_ALGOS; ++i)
        if (!strcmp(registry[i]->name, name)) return i;
    return -1;
}

/* The op table's "fused" flag: the JIT's fused operators own codes LR_OP_FUSED_FIRST..LAST. */
bool lr_op_is_fused(int op) { return op >= LR_OP_FUSED_FIRST && op <= LR_OP_FUSED_LAST; }
