/* pooling.c: MAX / AVERAGE / AVERAGE_COUNT_EXCLUDE_PADDING pooling, one plane per task. */
#include <math.h>

#include "kernels.h"
#include "pooling_params.h"

static void plane_task(void *vctx, int64_t t, int thread) {
    const lr_pool_params *c = vctx;
    const float *x = c->x + t * c->h * c->w;
    float *y = c->y + t * c->oh * c->ow;
    for (int64_t oh = 0; oh < c->oh; ++oh) {
        int64_t h0 = oh * c->sh - c->ph, h1 = h0 + c->wh;
        int64_t hs = h0 < 0 ? 0 : h0, he = h1 > c->h ? c->h : h1;
        for (int64_t ow = 0; ow < c->ow; ++ow) {
            int64_t w0 = ow * c->sw - c->pw, w1 = w0 + c->ww;
            int64_t ws = w0 < 0 ? 0 : w0, we = w1 > c->w ? c->w : w1;
            float r;
            if (c->mode == 0) {
                r = -INFINITY;
                for (int64_t i = hs; i < he; ++i)
                    for (int64_t j = ws; j < we; ++j) r = x[i * c->w + j] > r ? x[i * c->w + j] : r;
            } else {
                double s = 0;
                for (int64_t i = hs; i < he; ++i)
                    for (int64_t j = ws; j < we; ++j) s += x[i * c->w + j];
                int64_t cnt = c->mode == 1 ? c->wh * c->ww : (he - hs) * (we - ws);
                r = cnt > 0 ? (float)(s / (double)cnt) : 0.f;
            }
            y[oh * c->ow + ow] = r;
        }
    }
    (void)thread;
}

static lr_status run(const lr_run_ctx *ctx, const lr_node *n) {
    lr_pool_params c = lr_pool_params_of(ctx, n);
    const lr_tensor *x = lr_in(ctx, n, 0);
    lr_parallel_for(ctx->pool, x->dims[0] * x->dims[1], plane_task, &c);
    return LR_OK;
}

static bool any(const lr_model *m, const lr_node *n) { (void)m; (void)n; return true; }

const lr_algo lr_algo_pooling_direct_f32 = {"pooling_direct_f32", LR_OP_POOLING, any, NULL, NULL, run, 0};
