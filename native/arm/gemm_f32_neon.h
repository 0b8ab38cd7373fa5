/* gemm_f32_neon.h: the packed GEMM of gemm_f32.h with the f32-gemm-8x12-neonfma micro-kernel.
 *
 * Same job description (lr_gemm_job) and blocking as native/generic/gemm_f32.c, but A is packed in
 * 8-row panels and B in 12-column panels: 24 q-register accumulators, fma by lane, so each k step
 * loads 2 A vectors and 3 B vectors for 24 fmas. aarch64 only.
 */
#ifndef LR_GEMM_F32_NEON_H
#define LR_GEMM_F32_NEON_H

#include "gemm_f32.h"

#define LR_NEON_MR 8
#define LR_NEON_NR 12

size_t lr_neon_gemm_packed_a_floats(int64_t M, int64_t K);
int64_t lr_neon_gemm_tile_cols(int64_t K, int64_t N);
size_t lr_neon_gemm_scratch_floats(int64_t K, int64_t N);
/* A(i, k) = a[i*rs + kk(k)*cs] into 8-row panels; flip_khw > 0 reverses k within blocks of flip_khw. */
void lr_neon_gemm_pack_a(int64_t M, int64_t K, const float *a, int64_t rs, int64_t cs, int64_t flip_khw, float *dst);
/* B(k, j) = b[k*rs + j], columns [j0, j0+nt) into 12-column panels (contiguous rows). */
void lr_neon_gemm_pack_b_rows(int64_t K, int64_t j0, int64_t nt, int64_t N, const float *b, int64_t rs, float *dst);
/* Jobs as in lr_gemm_run, with packed_a from lr_neon_gemm_pack_a and get_b returning 12-column panels. */
void lr_neon_gemm_run(lr_thread_pool *pool, const lr_gemm_job *jobs, int64_t n_jobs, float *scratch);

#endif
