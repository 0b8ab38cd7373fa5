/* gemm_rowblock_f32.c: the unpacked row-block GEMM (see gemm_rowblock_f32.h). */
#include "gemm_rowblock_f32.h"

#include <string.h>

#define RB 4      /* rows of C per task */
#define CB 512    /* columns of C per task */

static void task(void *vctx, int64_t t, int thread) {
    const lr_rowblock_gemm *g = vctx;
    int64_t row_blocks = (g->M + RB - 1) / RB, col_blocks = (g->N + CB - 1) / CB;
    int64_t b = t / (row_blocks * col_blocks), r = t / col_blocks % row_blocks, cb = t % col_blocks;
    int64_t i0 = r * RB, i1 = i0 + RB < g->M ? i0 + RB : g->M, j0 = cb * CB, j1 = j0 + CB < g->N ? j0 + CB : g->N;
    const float *a = g->a + b * g->a_bs, *bm = g->b + b * g->b_bs;
    float *c = g->c + b * g->c_bs;
    for (int64_t i = i0; i < i1; ++i) memset(c + i * g->ldc + j0, 0, sizeof(float) * (size_t)(j1 - j0));
    for (int64_t k = 0; k < g->K; ++k) {
        const float *brow = bm + k * g->brs;
        for (int64_t i = i0; i < i1; ++i) {
            float av = a[i * g->ars + k * g->acs];
            float *crow = c + i * g->ldc;
            if (g->bcs == 1)
                for (int64_t j = j0; j < j1; ++j) crow[j] += av * brow[j];
            else
                for (int64_t j = j0; j < j1; ++j) crow[j] += av * brow[j * g->bcs];
        }
    }
    (void)thread;
}

void lr_rowblock_gemm_run(lr_thread_pool *pool, const lr_rowblock_gemm *g) {
    int64_t tasks = g->batch * ((g->M + RB - 1) / RB) * ((g->N + CB - 1) / CB);
    lr_parallel_for(pool, tasks, task, (void *)g);
}
