/* f32_conv_nchwb_relayout_avx512f.c: Relayout NCHW <-> nchw16 by 16x16 register transposes (16 loads,
 * 64 shuffles, 16 stores per 16 pixels x 16 channels) instead of the portable element copies of
 * layout_blocked.c; padding lanes of a partial last block are written as zeros. Pixels left over after
 * the last whole 16 (and every plane narrower than 16) go element by element. */
#include <immintrin.h>
#include <string.h>

#include "../generic/layout_blocked.h"
#include "cpu_x86.h"
#include "f32_nchwb_x86.h"

/* r[i][j] -> r[j][i] for a 16x16 float matrix held in 16 zmm rows. */
static inline __attribute__((always_inline)) void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int k = 0; k < 8; ++k) {
        t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    for (int k = 0; k < 4; ++k) {
        u[4 * k] = _mm512_shuffle_ps(t[4 * k], t[4 * k + 2], 0x44);
        u[4 * k + 1] = _mm512_shuffle_ps(t[4 * k], t[4 * k + 2], 0xEE);
        u[4 * k + 2] = _mm512_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0x44);
        u[4 * k + 3] = _mm512_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0xEE);
    }
    /* u[4k + m] holds, in each 128-bit lane q, column 4q + m of rows 4k..4k+3 */
    for (int h = 0; h < 2; ++h)
        for (int m = 0; m < 4; ++m) {
            t[8 * h + m] = _mm512_shuffle_f32x4(u[8 * h + m], u[8 * h + 4 + m], 0x88);
            t[8 * h + 4 + m] = _mm512_shuffle_f32x4(u[8 * h + m], u[8 * h + 4 + m], 0xDD);
        }
    for (int m = 0; m < 8; ++m) {
        r[m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0x88);
        r[8 + m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0xDD);
    }
}

typedef struct rl_ctx {
    const float *x;
    float *y;
    int64_t c, cb, hw;
    bool to_blocked;
} rl_ctx;

static void rl_task(void *vctx, int64_t t, int thread) {
    const rl_ctx *r = vctx;
    int64_t n = t / r->cb, cb = t % r->cb, hw = r->hw, i0 = 0;
    int64_t lanes = r->c - cb * 16 < 16 ? r->c - cb * 16 : 16;
    __m512 v[16];
    if (r->to_blocked) {
        const float *x = r->x + (n * r->c + cb * 16) * hw;
        float *y = r->y + t * hw * 16;
        for (; i0 + 16 <= hw; i0 += 16) {
            for (int l = 0; l < 16; ++l) v[l] = l < lanes ? _mm512_loadu_ps(x + l * hw + i0) : _mm512_setzero_ps();
            transpose16(v);
            for (int i = 0; i < 16; ++i) _mm512_storeu_ps(y + (i0 + i) * 16, v[i]);
        }
        for (; i0 < hw; ++i0)
            for (int64_t l = 0; l < 16; ++l) y[i0 * 16 + l] = l < lanes ? x[l * hw + i0] : 0.f;
    } else {
        const float *x = r->x + t * hw * 16;
        float *y = r->y + (n * r->c + cb * 16) * hw;
        for (; i0 + 16 <= hw; i0 += 16) {
            for (int i = 0; i < 16; ++i) v[i] = _mm512_loadu_ps(x + (i0 + i) * 16);
            transpose16(v);
            for (int l = 0; l < lanes; ++l) _mm512_storeu_ps(y + l * hw + i0, v[l]);
        }
        for (; i0 < hw; ++i0)
            for (int64_t l = 0; l < lanes; ++l) y[l * hw + i0] = x[i0 * 16 + l];
    }
    (void)thread;
}

static lr_status rl_run(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0), *y = lr_out(ctx, n, 0);
    bool to_blocked = n->ints[1] == 0;
    const lr_tensor *blk = to_blocked ? y : x;
    rl_ctx r = {x->data, y->data, n->ints[2], blk->dims[1], blk->dims[2] * blk->dims[3], to_blocked};
    lr_parallel_for(ctx->pool, blk->dims[0] * blk->dims[1], rl_task, &r);
    return LR_OK;
}

static bool rl_usable(const lr_model *m, const lr_node *n) {
    return lr_x86_has(LR_X86_AVX512) && n->op == LR_OP_RELAYOUT && n->ints[0] == 16 &&
           lr_min(m, n, 0)->dtype == LR_FLOAT32;
}

const lr_algo lr_algo_relayout_nchw16_f32_avx512f = {"relayout_nchw16_f32_avx512f", LR_OP_RELAYOUT, rl_usable, NULL, NULL,
                                                     rl_run, 0};
