/* gemm_f32.h: packed single-precision GEMM, C[M,N] (+)= A[M,K] B[K,N].
 *
 * A is packed into MR-row panels (K x MR each), B into NR-column panels (K x NR each); a micro-kernel
 * multiplies one A panel slice by one B panel slice into an MR x NR tile of C. Blocking decisions
 * live in gemm_f32.c; the micro-kernel (f32-gemm-6x8-generic) only multiplies. A target-specific
 * micro-kernel plugs in with its own MR/NR and packers.
 */
#ifndef LR_GEMM_F32_H
#define LR_GEMM_F32_H

#include <stddef.h>
#include <stdint.h>

#include "thread_pool.h"

#define LR_GEMM_MR 6
#define LR_GEMM_NR 8

/* Supplies B columns [j0, j0+nt) as packed NR panels: either fills `scratch` and returns it or
 * returns a pointer to panels packed at load time. j0 is a multiple of NR. */
typedef const float *(*lr_gemm_b_fn)(const void *ctx, int64_t j0, int64_t nt, float *scratch);
/* Applied to C rows [m0, m1) x columns [j0, j0+nt) once they are final. */
typedef void (*lr_gemm_epilogue_fn)(const void *ctx, int64_t m0, int64_t m1, int64_t j0, int64_t nt);

typedef struct lr_gemm_job {
    int64_t M, N, K;
    const float *packed_a; /* lr_gemm_packed_a_floats(M, K) floats */
    lr_gemm_b_fn get_b;
    const void *b_ctx;
    float *c;
    int64_t ldc;
    lr_gemm_epilogue_fn epilogue; /* may be NULL */
    const void *ep_ctx;
} lr_gemm_job;

size_t lr_gemm_packed_a_floats(int64_t M, int64_t K);
size_t lr_gemm_packed_b_floats(int64_t K, int64_t N);
/* Columns per B tile for this K and N (a multiple of NR). */
int64_t lr_gemm_tile_cols(int64_t K, int64_t N);
/* Scratch floats per thread for jobs of this K and N. */
size_t lr_gemm_scratch_floats(int64_t K, int64_t N);

/* A(i, k) = a[i*rs + k*cs]; flip reverses k within blocks of `flip_block` (conv CONVOLUTION mode). */
void lr_gemm_pack_a(int64_t M, int64_t K, const float *a, int64_t rs, int64_t cs, float *dst);
/* B(k, j) = b[k*rs + j*cs], columns [j0, j0+nt) into panels. */
void lr_gemm_pack_b(int64_t K, int64_t j0, int64_t nt, int64_t N, const float *b, int64_t rs, int64_t cs, float *dst);

/* Runs n_jobs jobs of equal K and N over the pool; scratch: threads x lr_gemm_scratch_floats. */
void lr_gemm_run(lr_thread_pool *pool, const lr_gemm_job *jobs, int64_t n_jobs, float *scratch);

#endif
