/* f32_pooling_nchwb_avx2_fma.c: BlockedPooling on nchw88 tensors, 8-float ymm vectors (the kernel:
 * native/generic/pooling_blocked_vec.h). */
#include <immintrin.h>

#include "cpu_x86.h"

#define VL 8
#define VMAX(a, b) ((pvf)_mm256_max_ps((__m256)(a), (__m256)(b)))
#define USABLE_CPU lr_x86_has(LR_X86_AVX2_FMA)
#define ALGO lr_algo_blocked_pooling_f32_avx2_fma
#define ALGO_NAME "blocked_pooling_f32_avx2_fma"
#include "../generic/pooling_blocked_vec.h"
