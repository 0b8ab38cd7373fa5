/* conv_depthwise.c: direct depthwise convolution (one filter per channel), row-wise so the inner
 * loop over output columns vectorises, with the fused epilogue per plane. */
#include "conv_common.h"
#include "kernels.h"

static bool usable(const lr_model *m, const lr_node *n) {
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    return g.g == g.c && g.icg == 1 && g.ocg == 1;
}

typedef struct dw_ctx {
    const lr_conv_geom *g;
    const lr_conv_epilogue *e;
    const float *x, *w;
    float *y;
} dw_ctx;

static void plane_task(void *vctx, int64_t t, int thread) {
    const dw_ctx *c = vctx;
    const lr_conv_geom *g = c->g;
    int64_t n = t / g->c, ch = t % g->c, khw = g->kh * g->kw;
    const float *x = c->x + t * g->h * g->w, *w = c->w + ch * khw;
    float *y = c->y + t * g->oh * g->ow;
    for (int64_t oh = 0; oh < g->oh; ++oh) {
        float *yr = y + oh * g->ow;
        for (int64_t ow = 0; ow < g->ow; ++ow) yr[ow] = 0.f;
        for (int64_t kh = 0; kh < g->kh; ++kh) {
            int64_t ih = oh * g->sh - g->ph + kh * g->dh;
            if (ih < 0 || ih >= g->h) continue;
            const float *xr = x + ih * g->w;
            for (int64_t kw = 0; kw < g->kw; ++kw) {
                int64_t tap = kh * g->kw + kw;
                float wv = w[g->flip ? khw - 1 - tap : tap];
                int64_t off = kw * g->dw - g->pw; /* iw = ow*sw + off */
                int64_t lo = off >= 0 ? 0 : (-off + g->sw - 1) / g->sw;
                int64_t hi = g->w - 1 - off < 0 ? 0 : (g->w - 1 - off) / g->sw + 1;
                if (hi > g->ow) hi = g->ow;
                if (g->sw == 1) {
                    for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += wv * xr[ow + off];
                } else {
                    for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += wv * xr[ow * g->sw + off];
                }
            }
        }
    }
    if (c->e->fast) lr_conv_epilogue_row(c->e, g, n, ch, y, 0, g->oh * g->ow);
    (void)thread;
}

static lr_status run(const lr_run_ctx *ctx, const lr_node *n) {
    lr_conv_geom g;
    lr_conv_geom_of(ctx->model, n, &g);
    lr_conv_epilogue e;
    lr_conv_epilogue_of(ctx, n, &g, &e);
    dw_ctx c = {&g, &e, lr_in(ctx, n, 0)->data, lr_in(ctx, n, 1)->data, lr_out(ctx, n, 0)->data};
    lr_parallel_for(ctx->pool, g.n * g.c, plane_task, &c);
    if (!e.fast) lr_conv_epilogue_all(ctx, &e, &g, c.y);
    return LR_OK;
}

static double cost(const lr_model *m, const lr_node *n, int threads) {
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    return (double)g.n * g.c * g.kh * g.kw * g.oh * g.ow / (2.0 * threads);
}

const lr_algo lr_algo_conv_depthwise_direct_f32 = {"conv_depthwise_direct_f32", LR_OP_CONV, usable, NULL, NULL, run, false, 0, cost};
