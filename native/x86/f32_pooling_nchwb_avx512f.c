/* f32_pooling_nchwb_avx512f.c: BlockedPooling on nchw16 tensors, 16-float zmm vectors (the kernel:
 * native/generic/pooling_blocked_vec.h). */
#include <immintrin.h>

#include "cpu_x86.h"

#define VL 16
#define VMAX(a, b) ((pvf)_mm512_max_ps((__m512)(a), (__m512)(b)))
#define USABLE_CPU lr_x86_has(LR_X86_AVX512)
#define ALGO lr_algo_blocked_pooling_f32_avx512f
#define ALGO_NAME "blocked_pooling_f32_avx512f"
#include "../generic/pooling_blocked_vec.h"
