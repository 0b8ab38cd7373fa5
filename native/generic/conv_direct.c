/* conv_direct.c: direct convolution for small filters-by-channels (K = icg·kh·kw <= 64, e.g. a
 * first layer over RGB): no im2col, no packing, weights read in place. One task per
 * (image, output channel) plane, accumulated row by row so the inner loop over output columns
 * vectorises; the fused epilogue runs on the plane while it is hot. */
#include "conv_common.h"
#include "kernels.h"

#define DIRECT_MAX_K 64

static bool usable(const lr_model *m, const lr_node *n) {
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    return g.icg * g.kh * g.kw <= DIRECT_MAX_K;
}

static double cost(const lr_model *m, const lr_node *n, int threads) {
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    double macs = (double)g.n * g.oc * g.icg * g.kh * g.kw * g.oh * g.ow;
    return macs / (1.0 * threads); /* ~1 multiply-add per ns per thread */
}

typedef struct direct_ctx {
    const lr_conv_geom *g;
    const lr_conv_epilogue *e;
    const float *x, *w;
    float *y;
} direct_ctx;

static void plane_task(void *vctx, int64_t t, int thread) {
    const direct_ctx *c = vctx;
    const lr_conv_geom *g = c->g;
    int64_t n = t / g->oc, oc = t % g->oc, gi = oc / g->ocg, khw = g->kh * g->kw;
    float *y = c->y + t * g->oh * g->ow;
    for (int64_t i = 0; i < g->oh * g->ow; ++i) y[i] = 0.f;
    for (int64_t ic = 0; ic < g->icg; ++ic) {
        const float *x = c->x + ((n * g->c) + gi * g->icg + ic) * g->h * g->w;
        const float *w = c->w + (oc * g->icg + ic) * khw;
        for (int64_t oh = 0; oh < g->oh; ++oh) {
            float *yr = y + oh * g->ow;
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
                    if (g->sw == 1)
                        for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += wv * xr[ow + off];
                    else
                        for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += wv * xr[ow * g->sw + off];
                }
            }
        }
    }
    if (c->e->fast) lr_conv_epilogue_row(c->e, g, n, oc, y, 0, g->oh * g->ow);
    (void)thread;
}

static lr_status run(const lr_run_ctx *ctx, const lr_node *n) {
    lr_conv_geom g;
    lr_conv_geom_of(ctx->model, n, &g);
    lr_conv_epilogue e;
    lr_conv_epilogue_of(ctx, n, &g, &e);
    direct_ctx c = {&g, &e, lr_in(ctx, n, 0)->data, lr_in(ctx, n, 1)->data, lr_out(ctx, n, 0)->data};
    lr_parallel_for(ctx->pool, g.n * g.oc, plane_task, &c);
    if (!e.fast) lr_conv_epilogue_all(ctx, &e, &g, c.y);
    return LR_OK;
}

const lr_algo lr_algo_conv_direct_f32 = {"conv_direct_f32", LR_OP_CONV, usable, NULL, NULL, run, 0, 0, cost};
