/* pooling_max_avx512f.c: MAX pooling on 16-float zmm vectors. */
#define VL 16
#define ISA_FEATURES LR_X86_AVX512
#define SUFFIX avx512f
#define SUFFIX_STR "avx512f"
#include "pooling_max_x86.h"
