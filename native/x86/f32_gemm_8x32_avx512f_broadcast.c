/* f32-gemm-8x32-avx512f-broadcast: C[8x32] (+)= A[kc x 8] B[kc x 32], both packed; 16 zmm
 * accumulators, A broadcast from memory; masked stores for column tails; the fused epilogue
 * (bias per row, residual, clamp) runs on the registers. Built with -mavx512f -mavx512bw -mavx512vl -mavx512dq. */
#include <immintrin.h>

#include "cpu_x86.h"
#include "gemm_f32_x86.h"

#define MR 8
#define NR 32

static void ukernel(int64_t mr, int64_t nr, int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                    int accumulate, const lr_gemm_params *p) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    for (int64_t k = 0; k < kc; ++k) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        __m512 a0 = _mm512_set1_ps(a[0]), a1 = _mm512_set1_ps(a[1]);
        c00 = _mm512_fmadd_ps(a0, b0, c00); c01 = _mm512_fmadd_ps(a0, b1, c01);
        c10 = _mm512_fmadd_ps(a1, b0, c10); c11 = _mm512_fmadd_ps(a1, b1, c11);
        __m512 a2 = _mm512_set1_ps(a[2]), a3 = _mm512_set1_ps(a[3]);
        c20 = _mm512_fmadd_ps(a2, b0, c20); c21 = _mm512_fmadd_ps(a2, b1, c21);
        c30 = _mm512_fmadd_ps(a3, b0, c30); c31 = _mm512_fmadd_ps(a3, b1, c31);
        __m512 a4 = _mm512_set1_ps(a[4]), a5 = _mm512_set1_ps(a[5]);
        c40 = _mm512_fmadd_ps(a4, b0, c40); c41 = _mm512_fmadd_ps(a4, b1, c41);
        c50 = _mm512_fmadd_ps(a5, b0, c50); c51 = _mm512_fmadd_ps(a5, b1, c51);
        __m512 a6 = _mm512_set1_ps(a[6]), a7 = _mm512_set1_ps(a[7]);
        c60 = _mm512_fmadd_ps(a6, b0, c60); c61 = _mm512_fmadd_ps(a6, b1, c61);
        c70 = _mm512_fmadd_ps(a7, b0, c70); c71 = _mm512_fmadd_ps(a7, b1, c71);
        a += MR;
        b += NR;
    }
    __m512 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
    __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
    __m512 vmin = _mm512_set1_ps(p ? p->min : 0.f), vmax = _mm512_set1_ps(p ? p->max : 0.f);
    for (int64_t i = 0; i < mr; ++i) {
        float *ci = c + i * ldc;
        __m512 v0 = acc[i][0], v1 = acc[i][1];
        if (accumulate) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, ci));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, ci + 16));
        }
        if (p) {
            if (p->bias) {
                __m512 bv = _mm512_set1_ps(p->bias[i]);
                v0 = _mm512_add_ps(v0, bv);
                v1 = _mm512_add_ps(v1, bv);
            }
            if (p->z) {
                const float *zi = p->z + i * p->ldz;
                v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, zi));
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, zi + 16));
            }
            v0 = _mm512_min_ps(_mm512_max_ps(v0, vmin), vmax);
            v1 = _mm512_min_ps(_mm512_max_ps(v1, vmin), vmax);
        }
        _mm512_mask_storeu_ps(ci, m0, v0);
        _mm512_mask_storeu_ps(ci + 16, m1, v1);
    }
}

const lr_gemm_ukernel lr_f32_gemm_8x32_avx512f_broadcast = {"f32-gemm-8x32-avx512f-broadcast", MR, NR, LR_X86_AVX512, ukernel,
                                                           LR_X86_GEMM_MAX_TILE_COLS, LR_GEMM_SPLIT_BALANCE, 1};
