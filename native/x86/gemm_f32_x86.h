/* gemm_f32_x86.h: the x86 packed GEMM, C[M,N] = A[M,K] B[K,N] with a fused epilogue
 * C = clamp(C + bias[row] + Z, min, max) applied in registers by the micro-kernel on the last
 * K block. All blocking (KC, tile columns, thread partition) lives in gemm_f32_x86.c; a
 * micro-kernel (f32-gemm-MRxNR-isa) only multiplies one A panel slice by one B panel slice.
 */
#ifndef LR_GEMM_F32_X86_H
#define LR_GEMM_F32_X86_H

#include <stddef.h>
#include <stdint.h>

#include "thread_pool.h"

typedef struct lr_x86_gemm_params {
    const float *bias; /* per row of the tile (mr values) or NULL */
    const float *z;    /* residual tile (row stride ldz) or NULL */
    int64_t ldz;
    float min, max;
} lr_x86_gemm_params;

/* C[mr x nr] (+)= A[kc x MR] B[kc x NR]; `p` non-NULL on the last K block: add bias, Z, clamp. */
typedef void (*lr_x86_gemm_ukernel_fn)(int64_t mr, int64_t nr, int64_t kc, const float *a, const float *b, float *c,
                                      int64_t ldc, int accumulate, const lr_x86_gemm_params *p);

typedef struct lr_x86_gemm_ukernel {
    const char *name; /* f32-gemm-8x32-avx512f-broadcast */
    int mr, nr;
    unsigned features; /* cpu_x86.h bits it needs */
    lr_x86_gemm_ukernel_fn fn;
} lr_x86_gemm_ukernel;

extern const lr_x86_gemm_ukernel lr_f32_gemm_8x32_avx512f_broadcast;
extern const lr_x86_gemm_ukernel lr_f32_gemm_6x16_avx2_fma_broadcast;

/* Supplies B columns [j0, j0+nt) as packed NR panels (K x NR each): fills `scratch` and returns
 * it, or returns panels packed at load. j0 is a multiple of NR. */
typedef const float *(*lr_x86_gemm_b_fn)(const void *ctx, int64_t j0, int64_t nt, int nr, float *scratch);
/* Extra work on final C rows [m0, m1) x columns [j0, j0+nt) (activations the clamp cannot do). */
typedef void (*lr_x86_gemm_post_fn)(const void *ctx, int64_t m0, int64_t m1, int64_t j0, int64_t nt);

typedef struct lr_x86_gemm_job {
    int64_t M, N, K;
    const float *packed_a; /* lr_x86_gemm_packed_a_floats(uk, M, K) */
    lr_x86_gemm_b_fn get_b;
    const void *b_ctx;
    float *c;
    int64_t ldc;
    const float *bias; /* per row of C, or NULL */
    const float *z;    /* same layout as C (row stride ldz), or NULL */
    int64_t ldz;
    float min, max;
    lr_x86_gemm_post_fn post; /* may be NULL */
    const void *post_ctx;
} lr_x86_gemm_job;

size_t lr_x86_gemm_packed_a_floats(const lr_x86_gemm_ukernel *uk, int64_t M, int64_t K);
size_t lr_x86_gemm_packed_b_floats(const lr_x86_gemm_ukernel *uk, int64_t K, int64_t N);
int64_t lr_x86_gemm_tile_cols(const lr_x86_gemm_ukernel *uk, int64_t K, int64_t N);
size_t lr_x86_gemm_scratch_floats(const lr_x86_gemm_ukernel *uk, int64_t K, int64_t N);

/* A(i, k) = a[i*rs + k*cs]. */
void lr_x86_gemm_pack_a(const lr_x86_gemm_ukernel *uk, int64_t M, int64_t K, const float *a, int64_t rs, int64_t cs,
                        float *dst);
/* B(k, j) = b[k*rs + j*cs], columns [j0, j0+nt) into NR panels. */
void lr_x86_gemm_pack_b(int nr, int64_t K, int64_t j0, int64_t nt, int64_t N, const float *b, int64_t rs, int64_t cs,
                        float *dst);

/* Runs n_jobs jobs of equal M, K and N over the pool; scratch: threads x lr_x86_gemm_scratch_floats. */
void lr_x86_gemm_run(const lr_x86_gemm_ukernel *uk, lr_thread_pool *pool, const lr_x86_gemm_job *jobs, int64_t n_jobs,
                     float *scratch);

/* The best micro-kernel this CPU runs (NULL: none; the generic GEMM applies). */
const lr_x86_gemm_ukernel *lr_x86_gemm_best(void);

#endif
