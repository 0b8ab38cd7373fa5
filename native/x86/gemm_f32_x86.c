/* gemm_f32_x86.c: which x86 GEMM micro-kernel this CPU runs (cpu_x86.c detects, once). */
#include "gemm_f32_x86.h"

#include "cpu_x86.h"

const lr_gemm_ukernel *lr_x86_gemm_best(void) {
    if (lr_x86_has(lr_f32_gemm_8x32_avx512f_broadcast.features)) return &lr_f32_gemm_8x32_avx512f_broadcast;
    if (lr_x86_has(lr_f32_gemm_6x16_avx2_fma_broadcast.features)) return &lr_f32_gemm_6x16_avx2_fma_broadcast;
    return NULL;
}
