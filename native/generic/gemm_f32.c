/* gemm_f32.c: f32-gemm-6x8-generic, the portable micro-kernel of the packed GEMM. */
#include "gemm_f32.h"

#include <string.h>

#define MR 6
#define NR 8

typedef float v4f __attribute__((vector_size(16)));

static inline v4f load4(const float *p) {
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store4(float *p, v4f v) { memcpy(p, &v, sizeof v); }

/* C[6x8] (+)= A[kc x 6] * B[kc x 8], both packed; an active epilogue goes through the tile path. */
static void f32_gemm_6x8_generic(int64_t mr, int64_t nr, int64_t kc, const float *a, const float *b, float *c,
                                 int64_t ldc, int accumulate, const lr_gemm_params *p) {
    v4f acc[MR][2];
    for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = (v4f){0, 0, 0, 0};
    for (int64_t k = 0; k < kc; ++k) {
        v4f b0 = load4(b), b1 = load4(b + 4);
        for (int i = 0; i < MR; ++i) {
            v4f ai = {a[i], a[i], a[i], a[i]};
            acc[i][0] += ai * b0;
            acc[i][1] += ai * b1;
        }
        a += MR;
        b += NR;
    }
    if (mr == MR && nr == NR && !lr_gemm_params_active(p)) {
        for (int i = 0; i < MR; ++i) {
            float *ci = c + i * ldc;
            if (accumulate) {
                store4(ci, load4(ci) + acc[i][0]);
                store4(ci + 4, load4(ci + 4) + acc[i][1]);
            } else {
                store4(ci, acc[i][0]);
                store4(ci + 4, acc[i][1]);
            }
        }
        return;
    }
    float tmp[MR][NR];
    for (int i = 0; i < MR; ++i) {
        store4(tmp[i], acc[i][0]);
        store4(tmp[i] + 4, acc[i][1]);
    }
    lr_gemm_store_tile(mr, nr, &tmp[0][0], NR, c, ldc, accumulate, p);
}

const lr_gemm_ukernel lr_f32_gemm_6x8_generic = {"f32-gemm-6x8-generic", MR, NR, 0, f32_gemm_6x8_generic,
                                                 256, LR_GEMM_SPLIT_OVERSUBSCRIBE, 0};
