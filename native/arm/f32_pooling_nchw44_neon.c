/* f32_pooling_nchw44_neon.c: BlockedPooling on nchw44 tensors (N, C/4, H, W, 4), NEON: MAX, AVERAGE
 * (mode 1: divide by the whole window, padding included) and AVERAGE_COUNT_EXCLUDE_PADDING (mode 2),
 * any window/stride/padding, global pooling included (window = the plane, output 1x1: the plane is
 * reduced with 4 independent accumulators). One q register holds a pixel's 4 channels. Tasks:
 * (image x channel block, output row). */
#include "neon_nchw44.h"

#if LR_ARM_NEON64
#include <arm_neon.h>
#include <math.h>

#define VL 4

typedef float32x4_t vf;

typedef struct pool_ctx {
    const float *x;
    float *y;
    int64_t h, w, oh, ow, wh, ww, sh, sw, ph, pw;
    int mode;
} pool_ctx;

static inline vf reduce_run(const float *p, int64_t len, int max, vf acc) {
    vf a1 = acc, a2 = acc, a3 = acc; /* len consecutive pixels */
    int64_t j = 0;
    if (max) {
        for (; j + 4 <= len; j += 4) {
            acc = vmaxq_f32(acc, vld1q_f32(p + j * VL));
            a1 = vmaxq_f32(a1, vld1q_f32(p + (j + 1) * VL));
            a2 = vmaxq_f32(a2, vld1q_f32(p + (j + 2) * VL));
            a3 = vmaxq_f32(a3, vld1q_f32(p + (j + 3) * VL));
        }
        for (; j < len; ++j) acc = vmaxq_f32(acc, vld1q_f32(p + j * VL));
        return vmaxq_f32(vmaxq_f32(acc, a1), vmaxq_f32(a2, a3));
    }
    vf z = vdupq_n_f32(0.f);
    a1 = a2 = a3 = z;
    for (; j + 4 <= len; j += 4) {
        acc = vaddq_f32(acc, vld1q_f32(p + j * VL));
        a1 = vaddq_f32(a1, vld1q_f32(p + (j + 1) * VL));
        a2 = vaddq_f32(a2, vld1q_f32(p + (j + 2) * VL));
        a3 = vaddq_f32(a3, vld1q_f32(p + (j + 3) * VL));
    }
    for (; j < len; ++j) acc = vaddq_f32(acc, vld1q_f32(p + j * VL));
    return vaddq_f32(vaddq_f32(acc, a1), vaddq_f32(a2, a3));
}

static void pool_task(void *vctx, int64_t t, int thread) {
    const pool_ctx *c = vctx;
    int64_t oh = t % c->oh, plane = t / c->oh;
    const float *x = c->x + plane * c->h * c->w * VL;
    float *y = c->y + (plane * c->oh + oh) * c->ow * VL;
    int64_t h0 = oh * c->sh - c->ph, hs = h0 < 0 ? 0 : h0, he = h0 + c->wh > c->h ? c->h : h0 + c->wh;
    int max = c->mode == 0;
    for (int64_t ow = 0; ow < c->ow; ++ow) {
        int64_t w0 = ow * c->sw - c->pw, ws = w0 < 0 ? 0 : w0, we = w0 + c->ww > c->w ? c->w : w0 + c->ww;
        vf acc = vdupq_n_f32(max ? -INFINITY : 0.f);
        if (we > ws && ws == 0 && we == c->w) /* whole rows (global pooling): one contiguous run */
            acc = reduce_run(x + hs * c->w * VL, (he - hs) * c->w, max, acc);
        else
            for (int64_t i = hs; i < he; ++i)
                if (we > ws) acc = reduce_run(x + (i * c->w + ws) * VL, we - ws, max, acc);
        if (!max) {
            int64_t cnt = c->mode == 1 ? c->wh * c->ww : (he - hs) * (we - ws);
            acc = vmulq_n_f32(acc, cnt > 0 ? 1.f / (float)cnt : 0.f);
        }
        vst1q_f32(y + ow * VL, acc);
    }
    (void)thread;
}

static lr_status run(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0), *y = lr_out(ctx, n, 0);
    const int64_t *a = n->ints;
    pool_ctx c = {x->data, y->data, x->dims[2], x->dims[3], y->dims[2], y->dims[3], a[1], a[2], a[3], a[4], a[5], a[6],
                  (int)a[0]};
    lr_parallel_for(ctx->pool, x->dims[0] * x->dims[1] * c.oh, pool_task, &c);
    return LR_OK;
}

static bool usable(const lr_model *m, const lr_node *n) {
    return n->op == LR_OP_BLOCKED_POOLING && n->ints[7] == VL && lr_min(m, n, 0)->dtype == LR_FLOAT32;
}

const lr_algo lr_algo_blocked_pooling_f32_nchw44_neon = {"blocked_pooling_f32_nchw44_neon", LR_OP_BLOCKED_POOLING, usable,
                                                         NULL, NULL, run, 0, 0, NULL};
#else
static bool never(const lr_model *m, const lr_node *n) { (void)m; (void)n; return false; }
const lr_algo lr_algo_blocked_pooling_f32_nchw44_neon = {"blocked_pooling_f32_nchw44_neon", LR_OP_BLOCKED_POOLING, never,
                                                         NULL, NULL, NULL, 0, 0, NULL};
#endif
