/* activation_softmax_avx512f.c: GELU and Softmax on 16-float zmm vectors. */
#define VL 16
#define ISA_FEATURES LR_X86_AVX512
#define SUFFIX avx512f
#define SUFFIX_STR "avx512f"
#include "activation_softmax_x86.h"
