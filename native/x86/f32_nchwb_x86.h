/* f32_nchwb_x86.h: the x86 blocked-layout algorithms (nchw16: AVX-512, nchw88: AVX2 + FMA): convolutions, Relayout, pooling; each
 * usable() checks the CPU (cpu_x86.c) and the node's block size. Listed in the registry before the
 * portable ones of native/generic/layout_blocked.c. */
#ifndef LR_F32_NCHWB_X86_H
#define LR_F32_NCHWB_X86_H

#include "model.h"

extern const lr_algo lr_algo_blocked_conv_direct_f32_avx512f;
extern const lr_algo lr_algo_blocked_conv_direct_f32_avx2_fma;

/* f32_conv_nchwb_winograd_x86.h */
extern const lr_algo lr_algo_blocked_conv_winograd_f43_f32_avx512f, lr_algo_blocked_conv_winograd_f43_f32_avx2_fma;
extern const lr_algo lr_algo_blocked_conv_winograd_f23_f32_avx512f, lr_algo_blocked_conv_winograd_f23_f32_avx2_fma;
extern const lr_algo lr_algo_relayout_nchw16_f32_avx512f; /* f32_conv_nchwb_relayout_avx512f.c */
/* f32_pooling_nchwb_*.c (native/generic/pooling_blocked_vec.h) */
extern const lr_algo lr_algo_blocked_pooling_f32_avx512f, lr_algo_blocked_pooling_f32_avx2_fma;
/* Winograd F(4,3) first: the heuristic's pick for 3x3 s1 with weight preprocess (its flag), the direct
 * conv otherwise; F(2,3) is for fast-run profiling. */
#define LR_X86_BLOCKED_ALGOS                                                                                     \
    &lr_algo_relayout_nchw16_f32_avx512f, &lr_algo_blocked_conv_winograd_f43_f32_avx512f,                          \
        &lr_algo_blocked_conv_winograd_f43_f32_avx2_fma, &lr_algo_blocked_conv_direct_f32_avx512f,                 \
        &lr_algo_blocked_conv_direct_f32_avx2_fma, &lr_algo_blocked_conv_winograd_f23_f32_avx512f,                 \
        &lr_algo_blocked_conv_winograd_f23_f32_avx2_fma, &lr_algo_blocked_pooling_f32_avx512f,                     \
        &lr_algo_blocked_pooling_f32_avx2_fma,

#endif
