/* pooling.c: MAX / AVERAGE / AVERAGE_COUNT_EXCLUDE_PADDING pooling, one plane per task. */
#include <math.h>

#include "kernels.h"

typedef struct pool_ctx {
    const float *x;
    float *y;
    int64_t h, w, oh, ow, wh, ww, sh, sw, ph, pw;
    int mode;
} pool_ctx;

static void plane_task(void *vctx, int64_t t, int thread) {
    const pool_ctx *c = vctx;
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
    const lr_tensor *x = lr_in(ctx, n, 0), *y = lr_out(ctx, n, 0);
    const int64_t *a = n->ints;
    pool_ctx c = {x->data, y->data, x->dims[2], x->dims[3], y->dims[2], y->dims[3], a[1], a[2], a[3], a[4], a[5], a[6], (int)a[0]};
    lr_parallel_for(ctx->pool, x->dims[0] * x->dims[1], plane_task, &c);
    return LR_OK;
}

static bool any(const lr_model *m, const lr_node *n) { (void)m; (void)n; return true; }

const lr_algo lr_algo_pooling_direct_f32 = {"pooling_direct_f32", LR_OP_POOLING, any, NULL, NULL, run, 0};
