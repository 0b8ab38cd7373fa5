/* gemm_rowblock_f32.h: C = A·B without packing, for shapes where packing does not pay (small K or
 * M, 1x1 convolutions, one-row products). Rows of C in blocks of 4; each block accumulates
 * a[i,k]·B[k,:] over k, so the inner loop runs over contiguous columns of B and C. */
#ifndef LR_GEMM_ROWBLOCK_F32_H
#define LR_GEMM_ROWBLOCK_F32_H

#include <stdint.h>

#include "thread_pool.h"

typedef struct lr_rowblock_gemm {
    int64_t batch, M, N, K;
    const float *a; /* A(b, i, k) = a[b*a_bs + i*ars + k*acs] */
    int64_t a_bs, ars, acs;
    const float *b; /* B(b, k, j) = b[b*b_bs + k*brs + j*bcs] */
    int64_t b_bs, brs, bcs;
    float *c; /* C(b, i, j) = c[b*c_bs + i*ldc + j] */
    int64_t c_bs, ldc;
} lr_rowblock_gemm;

/* Overwrites C; the summation order over k is fixed (results do not depend on the thread count). */
void lr_rowblock_gemm_run(lr_thread_pool *pool, const lr_rowblock_gemm *g);
/* Multiply-adds per nanosecond the cost models assume for this kernel. */
#define LR_ROWBLOCK_MACS_PER_NS 2.0

#endif
