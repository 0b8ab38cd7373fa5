/* normalization.c: Softmax, LayerNorm and BatchNorm (inference), float32 with float64 statistics. */
#include <math.h>

#include "kernels.h"

static bool any(const lr_model *m, const lr_node *n) { (void)m; (void)n; return true; }

typedef struct line_ctx {
    const float *x, *w, *b;
    float *y, *mean, *rstd;
    int64_t len, inner, lines;
    double eps;
} line_ctx;

static void softmax_line(void *vctx, int64_t t, int thread) {
    const line_ctx *c = vctx;
    int64_t o = t / c->inner, i = t % c->inner, st = c->inner;
    const float *x = c->x + o * c->len * st + i;
    float *y = c->y + o * c->len * st + i;
    float mx = x[0];
    for (int64_t k = 1; k < c->len; ++k) mx = x[k * st] > mx ? x[k * st] : mx;
    double sum = 0;
    for (int64_t k = 0; k < c->len; ++k) {
        float e = expf(x[k * st] - mx);
        y[k * st] = e;
        sum += e;
    }
    float inv = (float)(1.0 / sum);
    for (int64_t k = 0; k < c->len; ++k) y[k * st] *= inv;
    (void)thread;
}

static lr_status run_softmax(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0);
    int ax = (int)n->ints[0];
    line_ctx c = {x->data, NULL, NULL, lr_out(ctx, n, 0)->data, NULL, NULL, x->dims[ax], 1, 1, 0};
    for (int d = ax + 1; d < x->ndim; ++d) c.inner *= x->dims[d];
    c.lines = x->numel / c.len;
    lr_parallel_for(ctx->pool, c.lines, softmax_line, &c);
    return LR_OK;
}

static void layernorm_row(void *vctx, int64_t r, int thread) {
    const line_ctx *c = vctx;
    const float *x = c->x + r * c->len;
    float *y = c->y + r * c->len;
    double s = 0, sq = 0;
    for (int64_t k = 0; k < c->len; ++k) s += x[k];
    double mean = s / (double)c->len;
    for (int64_t k = 0; k < c->len; ++k) {
        double d = x[k] - mean;
        sq += d * d;
    }
    double rstd = 1.0 / sqrt(sq / (double)c->len + c->eps);
    float m = (float)mean, rs = (float)rstd;
    if (c->w) {
        for (int64_t k = 0; k < c->len; ++k) y[k] = (x[k] - m) * rs * c->w[k] + c->b[k];
    } else {
        for (int64_t k = 0; k < c->len; ++k) y[k] = (x[k] - m) * rs;
    }
    c->mean[r] = m;
    c->rstd[r] = rs;
    (void)thread;
}

static lr_status run_layernorm(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0);
    int k = (int)n->ints[0];
    bool affine = n->ints[1] != 0;
    line_ctx c = {x->data, affine ? lr_in(ctx, n, 1)->data : NULL, affine ? lr_in(ctx, n, 2)->data : NULL,
                  lr_out(ctx, n, 0)->data, lr_out(ctx, n, 1)->data, lr_out(ctx, n, 2)->data, 1, 1, 0, n->floats[0]};
    for (int d = x->ndim - k; d < x->ndim; ++d) c.len *= x->dims[d];
    c.lines = x->numel / c.len;
    lr_parallel_for(ctx->pool, c.lines, layernorm_row, &c);
    return LR_OK;
}

typedef struct bn_ctx {
    const float *x, *scale, *bias, *mean, *var;
    float *y;
    int64_t c, plane;
    double eps;
} bn_ctx;

static void bn_plane(void *vctx, int64_t t, int thread) {
    const bn_ctx *c = vctx;
    int64_t ch = t % c->c;
    double a = c->scale[ch] / sqrt((double)c->var[ch] + c->eps), b = c->bias[ch] - c->mean[ch] * a;
    float fa = (float)a, fb = (float)b;
    const float *x = c->x + t * c->plane;
    float *y = c->y + t * c->plane;
    for (int64_t j = 0; j < c->plane; ++j) y[j] = x[j] * fa + fb;
    (void)thread;
}

static lr_status run_batchnorm(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0);
    bn_ctx c = {x->data, lr_in(ctx, n, 1)->data, lr_in(ctx, n, 2)->data, lr_in(ctx, n, 3)->data, lr_in(ctx, n, 4)->data,
                lr_out(ctx, n, 0)->data, x->dims[1], 1, n->floats[0]};
    for (int d = 2; d < x->ndim; ++d) c.plane *= x->dims[d];
    lr_parallel_for(ctx->pool, x->numel / c.plane, bn_plane, &c);
    return LR_OK;
}

const lr_algo lr_algo_softmax_f32 = {"softmax_f32", LR_OP_SOFTMAX, any, NULL, NULL, run_softmax, 0};
const lr_algo lr_algo_layernorm_f32 = {"layernorm_f32", LR_OP_LAYERNORM, any, NULL, NULL, run_layernorm, 0};
const lr_algo lr_algo_batchnorm_f32 = {"batchnorm_f32", LR_OP_BATCHNORM, any, NULL, NULL, run_batchnorm, 1};
