/* f32-gemm-6x16-avx2-fma-broadcast: C[6x16] (+)= A[kc x 6] B[kc x 16], both packed; 12 ymm
 * accumulators; column tails through a stack tile; fused epilogue (bias per row, residual, clamp)
 * on the registers. Built with -mavx2 -mfma. */
#include <immintrin.h>

#include "cpu_x86.h"
#include "gemm_f32_x86.h"

#define MR 6
#define NR 16

static void ukernel(int64_t mr, int64_t nr, int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                    int accumulate, const lr_gemm_params *p) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int64_t k = 0; k < kc; ++k) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        __m256 a0 = _mm256_broadcast_ss(a), a1 = _mm256_broadcast_ss(a + 1);
        c00 = _mm256_fmadd_ps(a0, b0, c00); c01 = _mm256_fmadd_ps(a0, b1, c01);
        c10 = _mm256_fmadd_ps(a1, b0, c10); c11 = _mm256_fmadd_ps(a1, b1, c11);
        __m256 a2 = _mm256_broadcast_ss(a + 2), a3 = _mm256_broadcast_ss(a + 3);
        c20 = _mm256_fmadd_ps(a2, b0, c20); c21 = _mm256_fmadd_ps(a2, b1, c21);
        c30 = _mm256_fmadd_ps(a3, b0, c30); c31 = _mm256_fmadd_ps(a3, b1, c31);
        __m256 a4 = _mm256_broadcast_ss(a + 4), a5 = _mm256_broadcast_ss(a + 5);
        c40 = _mm256_fmadd_ps(a4, b0, c40); c41 = _mm256_fmadd_ps(a4, b1, c41);
        c50 = _mm256_fmadd_ps(a5, b0, c50); c51 = _mm256_fmadd_ps(a5, b1, c51);
        a += MR;
        b += NR;
    }
    __m256 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    __m256 vmin = _mm256_set1_ps(p ? p->min : 0.f), vmax = _mm256_set1_ps(p ? p->max : 0.f);
    int full = nr == NR;
    for (int64_t i = 0; i < mr; ++i) {
        float *ci = c + i * ldc;
        float tmp[NR];
        __m256 v0 = acc[i][0], v1 = acc[i][1];
        if (accumulate) {
            if (full) {
                v0 = _mm256_add_ps(v0, _mm256_loadu_ps(ci));
                v1 = _mm256_add_ps(v1, _mm256_loadu_ps(ci + 8));
            } else {
                for (int64_t j = 0; j < NR; ++j) tmp[j] = j < nr ? ci[j] : 0.f;
                v0 = _mm256_add_ps(v0, _mm256_loadu_ps(tmp));
                v1 = _mm256_add_ps(v1, _mm256_loadu_ps(tmp + 8));
            }
        }
        if (p) {
            if (p->bias) {
                __m256 bv = _mm256_broadcast_ss(p->bias + i);
                v0 = _mm256_add_ps(v0, bv);
                v1 = _mm256_add_ps(v1, bv);
            }
            if (p->z) {
                const float *zi = p->z + i * p->ldz;
                if (full) {
                    v0 = _mm256_add_ps(v0, _mm256_loadu_ps(zi));
                    v1 = _mm256_add_ps(v1, _mm256_loadu_ps(zi + 8));
                } else {
                    for (int64_t j = 0; j < NR; ++j) tmp[j] = j < nr ? zi[j] : 0.f;
                    v0 = _mm256_add_ps(v0, _mm256_loadu_ps(tmp));
                    v1 = _mm256_add_ps(v1, _mm256_loadu_ps(tmp + 8));
                }
            }
            v0 = _mm256_min_ps(_mm256_max_ps(v0, vmin), vmax);
            v1 = _mm256_min_ps(_mm256_max_ps(v1, vmin), vmax);
        }
        if (full) {
            _mm256_storeu_ps(ci, v0);
            _mm256_storeu_ps(ci + 8, v1);
        } else {
            _mm256_storeu_ps(tmp, v0);
            _mm256_storeu_ps(tmp + 8, v1);
            for (int64_t j = 0; j < nr; ++j) ci[j] = tmp[j];
        }
    }
}

const lr_gemm_ukernel lr_f32_gemm_6x16_avx2_fma_broadcast = {"f32-gemm-6x16-avx2-fma-broadcast", MR, NR, LR_X86_AVX2_FMA, ukernel,
                                                              LR_X86_GEMM_MAX_TILE_COLS, LR_GEMM_SPLIT_BALANCE, 1};
