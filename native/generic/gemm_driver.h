/* gemm_driver.h: the one packed single-precision GEMM driver, C[M,N] (+)= A[M,K] B[K,N], for every
 * target. A is packed into MR-row panels (K x MR each), B into NR-column panels (K x NR each); a
 * micro-kernel (lr_gemm_ukernel: f32-gemm-MRxNR-isa) multiplies one A panel slice by one B panel
 * slice into an MR x NR tile of C. All blocking (KC K blocks, B tiles, the thread partition) lives
 * in gemm_driver.c; a micro-kernel brings only its MR x NR, its preferred tile width and its
 * threading policy. On the last K block the micro-kernel may fuse C = clamp(C + bias[row] + Z).
 */
#ifndef LR_GEMM_DRIVER_H
#define LR_GEMM_DRIVER_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "thread_pool.h"

typedef struct lr_gemm_params {
    const float *bias; /* per row of the tile (mr values) or NULL */
    const float *z;    /* residual tile (row stride ldz) or NULL */
    int64_t ldz;
    float min, max;
} lr_gemm_params;

/* C[mr x nr] (+)= A[kc x MR] B[kc x NR]; `p` non-NULL on the last K block: add bias, Z, clamp. */
typedef void (*lr_gemm_ukernel_fn)(int64_t mr, int64_t nr, int64_t kc, const float *a, const float *b, float *c,
                                   int64_t ldc, int accumulate, const lr_gemm_params *p);

/* How jobs x tiles are spread over threads when they do not fill them. */
typedef enum lr_gemm_split {
    LR_GEMM_SPLIT_OVERSUBSCRIBE, /* cut M into chunks until there are >= 4 tasks per thread */
    LR_GEMM_SPLIT_BALANCE,       /* make tasks a multiple of threads: M chunks (A heavier) or more N tiles */
} lr_gemm_split;

typedef struct lr_gemm_ukernel {
    const char *name; /* f32-gemm-8x32-avx512f-broadcast */
    int mr, nr;
    unsigned features; /* target feature bits it needs (cpu_x86.h on x86; 0 elsewhere) */
    lr_gemm_ukernel_fn fn;
    int max_tile_cols;    /* widest B tile (a multiple of nr) */
    lr_gemm_split split;  /* threading policy */
    int fuses_epilogue;   /* bias/Z/clamp in registers: callers should prefer it to a row pass */
} lr_gemm_ukernel;

/* Supplies B columns [j0, j0+nt) as packed NR panels (K x NR each): fills `scratch` and returns
 * it, or returns panels packed at load. j0 is a multiple of NR. */
typedef const float *(*lr_gemm_b_fn)(const void *ctx, int64_t j0, int64_t nt, int nr, float *scratch);
/* Extra work on final C rows [m0, m1) x columns [j0, j0+nt) (activations the clamp cannot do). */
typedef void (*lr_gemm_post_fn)(const void *ctx, int64_t m0, int64_t m1, int64_t j0, int64_t nt);

typedef struct lr_gemm_job {
    int64_t M, N, K;
    const float *packed_a; /* lr_gemm_packed_a_floats(uk, M, K) */
    lr_gemm_b_fn get_b;
    const void *b_ctx;
    float *c;
    int64_t ldc;
    const float *bias; /* per row of C, or NULL */
    const float *z;    /* same layout as C (row stride ldz), or NULL */
    int64_t ldz;
    float min, max;    /* -INFINITY, INFINITY: no clamp */
    lr_gemm_post_fn post; /* may be NULL */
    const void *post_ctx;
} lr_gemm_job;

/* A plain product job: no bias, residual or clamp. */
static inline lr_gemm_job lr_gemm_job_plain(int64_t M, int64_t N, int64_t K, const float *packed_a, lr_gemm_b_fn get_b,
                                            const void *b_ctx, float *c, int64_t ldc) {
    return (lr_gemm_job){M, N, K, packed_a, get_b, b_ctx, c, ldc, NULL, NULL, ldc, -INFINITY, INFINITY, NULL, NULL};
}

size_t lr_gemm_packed_a_floats(const lr_gemm_ukernel *uk, int64_t M, int64_t K);
size_t lr_gemm_packed_b_floats(const lr_gemm_ukernel *uk, int64_t K, int64_t N);
/* Columns per B tile for this K and N (a multiple of NR). */
int64_t lr_gemm_tile_cols(const lr_gemm_ukernel *uk, int64_t K, int64_t N);
/* Scratch floats per thread for jobs of this K and N. */
size_t lr_gemm_scratch_floats(const lr_gemm_ukernel *uk, int64_t K, int64_t N);

/* A(i, k) = a[i*rs + k*cs] into MR-row panels. */
void lr_gemm_pack_a(const lr_gemm_ukernel *uk, int64_t M, int64_t K, const float *a, int64_t rs, int64_t cs, float *dst);
/* As lr_gemm_pack_a with k reversed within blocks of flip_block (Conv CONVOLUTION mode taps). */
void lr_gemm_pack_a_flipped(const lr_gemm_ukernel *uk, int64_t M, int64_t K, const float *a, int64_t rs, int64_t cs,
                            int64_t flip_block, float *dst);
/* B(k, j) = b[k*rs + j*cs], columns [j0, j0+nt) into NR panels. */
void lr_gemm_pack_b(int nr, int64_t K, int64_t j0, int64_t nt, int64_t N, const float *b, int64_t rs, int64_t cs,
                    float *dst);

/* Runs n_jobs jobs of equal M, K and N over the pool; scratch: threads x lr_gemm_scratch_floats. */
void lr_gemm_run(const lr_gemm_ukernel *uk, lr_thread_pool *pool, const lr_gemm_job *jobs, int64_t n_jobs,
                 float *scratch);

/* Applies p (bias per row, residual, clamp) to an mr x nr tile held at tile[i*ld + j] and stores it
 * into c (accumulating when asked): the tail path of micro-kernels without a vector epilogue. */
void lr_gemm_store_tile(int64_t mr, int64_t nr, const float *tile, int64_t ld, float *c, int64_t ldc, int accumulate,
                        const lr_gemm_params *p);
/* Whether p asks for anything (NULL, or no bias, no residual and an infinite clamp: nothing). */
static inline int lr_gemm_params_active(const lr_gemm_params *p) {
    return p && (p->bias || p->z || p->min > -INFINITY || p->max < INFINITY);
}

#endif
