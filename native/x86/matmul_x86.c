/* matmul_x86.c: MatMul and BatchedMatMul through the shared GEMM MatMul (generic/matmul.c) with
 * the x86 micro-kernels; only usable() (ISA, dtypes, no broadcast batching) is x86's. */
#include "cpu_x86.h"
#include "gemm_f32_x86.h"
#include "kernels_x86.h"
#include "matmul_gemm.h"

#include <immintrin.h>

/* Per-run A packing (MR = 6 or 8, rows contiguous: cs == 1) by 8x8 ymm transposes: 8 k of up to 8
 * rows per step, rows past MR read as zero. The scalar lr_gemm_pack_a (gathering MR strided floats
 * per k) cost ~6% of tiny_bert. Any other shape, the K tail and a partial last panel go scalar;
 * the result is bit-identical to lr_gemm_pack_a. Only reached from algorithms whose usable() saw
 * AVX2 + FMA. */
__attribute__((target("avx2,fma"))) static void pack_a_avx2(const lr_gemm_ukernel *uk, int64_t M, int64_t K,
                                                             const float *a, int64_t rs, int64_t cs, float *dst) {
    const int64_t MR = uk->mr;
    if (cs != 1 || (MR != 8 && MR != 6) || K < 8) {
        lr_gemm_pack_a(uk, M, K, a, rs, cs, dst);
        return;
    }
    const int64_t K8 = K / 8 * 8;
    const __m256i keep6 = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
    int64_t p = 0;
    for (; p + MR <= M; p += MR) {
        const float *r[8];
        for (int i = 0; i < 8; ++i) r[i] = a + (p + (i < MR ? i : 0)) * rs;
        float *d = dst + p * K;
        for (int64_t k = 0; k < K8; k += 8) {
            __m256 x0 = _mm256_loadu_ps(r[0] + k), x1 = _mm256_loadu_ps(r[1] + k), x2 = _mm256_loadu_ps(r[2] + k),
                   x3 = _mm256_loadu_ps(r[3] + k), x4 = _mm256_loadu_ps(r[4] + k), x5 = _mm256_loadu_ps(r[5] + k);
            __m256 x6 = MR == 8 ? _mm256_loadu_ps(r[6] + k) : _mm256_setzero_ps();
            __m256 x7 = MR == 8 ? _mm256_loadu_ps(r[7] + k) : _mm256_setzero_ps();
            __m256 t0 = _mm256_unpacklo_ps(x0, x1), t1 = _mm256_unpackhi_ps(x0, x1);
            __m256 t2 = _mm256_unpacklo_ps(x2, x3), t3 = _mm256_unpackhi_ps(x2, x3);
            __m256 t4 = _mm256_unpacklo_ps(x4, x5), t5 = _mm256_unpackhi_ps(x4, x5);
            __m256 t6 = _mm256_unpacklo_ps(x6, x7), t7 = _mm256_unpackhi_ps(x6, x7);
            __m256 s[8];
            s[0] = _mm256_shuffle_ps(t0, t2, 0x44); /* rows 0-3, k = 4l + 0 in lane l */
            s[1] = _mm256_shuffle_ps(t0, t2, 0xEE);
            s[2] = _mm256_shuffle_ps(t1, t3, 0x44);
            s[3] = _mm256_shuffle_ps(t1, t3, 0xEE);
            s[4] = _mm256_shuffle_ps(t4, t6, 0x44); /* rows 4-7 */
            s[5] = _mm256_shuffle_ps(t4, t6, 0xEE);
            s[6] = _mm256_shuffle_ps(t5, t7, 0x44);
            s[7] = _mm256_shuffle_ps(t5, t7, 0xEE);
            float *o = d + k * MR;
            if (MR == 8) {
                for (int c = 0; c < 4; ++c) {
                    _mm256_storeu_ps(o + c * 8, _mm256_permute2f128_ps(s[c], s[c + 4], 0x20));
                    _mm256_storeu_ps(o + (c + 4) * 8, _mm256_permute2f128_ps(s[c], s[c + 4], 0x31));
                }
            } else { /* 6 rows per k: each store's 2 spare floats are overwritten by the next k's; the last is masked */
                __m256 y[8];
                for (int c = 0; c < 4; ++c) {
                    y[c] = _mm256_permute2f128_ps(s[c], s[c + 4], 0x20);
                    y[c + 4] = _mm256_permute2f128_ps(s[c], s[c + 4], 0x31);
                }
                for (int c = 0; c < 7; ++c) _mm256_storeu_ps(o + c * 6, y[c]);
                _mm256_maskstore_ps(o + 7 * 6, keep6, y[7]);
            }
        }
        for (int64_t k = K8; k < K; ++k)
            for (int64_t i = 0; i < MR; ++i) d[k * MR + i] = a[(p + i) * rs + k];
    }
    if (p < M) lr_gemm_pack_a(uk, M - p, K, a + p * rs, rs, cs, dst + p * K);
}

static bool usable_common(const lr_gemm_ukernel *uk, const lr_model *m, const lr_node *n) {
    if (!lr_x86_has(uk->features)) return false;
    const lr_tensor *a = lr_min(m, n, 0), *b = lr_min(m, n, 1), *y = lr_mout(m, n, 0);
    if (a->dtype != LR_FLOAT32 || b->dtype != LR_FLOAT32 || y->dtype != LR_FLOAT32) return false;
    if (a->numel != y->numel / (y->dims[y->ndim - 1]) * (n->ints[0] ? a->dims[a->ndim - 2] : a->dims[a->ndim - 1]))
        return false; /* the operands are not batched like the output (broadcast): generic path */
    return a->ndim == b->ndim && a->ndim == y->ndim;
}

#define MATMUL_ALGOS(UK, SUFFIX)                                                                                      \
    static bool usable_##SUFFIX(const lr_model *m, const lr_node *n) { return usable_common(&UK, m, n); }             \
    static lr_status prepare_##SUFFIX(lr_model *m, lr_node *n) { return lr_matmul_gemm_prepare(&UK, m, n); }                  \
    static size_t workspace_##SUFFIX(const lr_model *m, const lr_node *n, int t) { return lr_matmul_gemm_workspace(&UK, m, n, t); } \
    static lr_status run_##SUFFIX(const lr_run_ctx *c, const lr_node *n) { return lr_matmul_gemm_run_pack(&UK, c, n, pack_a_avx2); }           \
    const lr_algo lr_algo_matmul_gemm_f32_##SUFFIX = {"matmul_gemm_f32_" #SUFFIX, LR_OP_MATMUL, usable_##SUFFIX,       \
                                                      workspace_##SUFFIX, prepare_##SUFFIX, run_##SUFFIX, 0, 0, NULL};         \
    const lr_algo lr_algo_batched_matmul_gemm_f32_##SUFFIX = {"batched_matmul_gemm_f32_" #SUFFIX,                      \
                                                              LR_OP_BATCHED_MATMUL, usable_##SUFFIX, workspace_##SUFFIX, \
                                                              prepare_##SUFFIX, run_##SUFFIX, 0, 0, NULL};

MATMUL_ALGOS(lr_f32_gemm_8x32_avx512f_broadcast, 8x32_avx512f)
MATMUL_ALGOS(lr_f32_gemm_6x16_avx2_fma_broadcast, 6x16_avx2_fma)
