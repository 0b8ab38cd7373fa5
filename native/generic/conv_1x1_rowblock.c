/* conv_1x1_rowblock.c: a 1x1, stride-1, unpadded convolution is a plain product
 * y[n, g] (ocg x HW) = W[g] (ocg x icg) · x[n, g] (icg x HW): no im2col, no packing, the weights
 * read in place (nothing to preprocess), then the fused epilogue per output plane. */
#include "conv_common.h"
#include "gemm_rowblock_f32.h"
#include "kernels.h"

static bool usable(const lr_model *m, const lr_node *n) {
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
}

static double cost(const lr_model *m, const lr_node *n, int threads) {
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    double macs = (double)g.n * g.oc * g.icg * g.oh * g.ow;
    return macs / (LR_ROWBLOCK_MACS_PER_NS * threads);
}

typedef struct ep_ctx {
    const lr_conv_epilogue *e;
    const lr_conv_geom *g;
    float *y;
} ep_ctx;

static void plane_epilogue(void *vctx, int64_t t, int thread) {
    const ep_ctx *c = vctx;
    int64_t plane = c->g->oh * c->g->ow;
    lr_conv_epilogue_row(c->e, c->g, t / c->g->oc, t % c->g->oc, c->y + t * plane, 0, plane);
    (void)thread;
}

static lr_status run(const lr_run_ctx *ctx, const lr_node *n) {
    lr_conv_geom g;
    lr_conv_geom_of(ctx->model, n, &g);
    lr_conv_epilogue e;
    lr_conv_epilogue_of(ctx, n, &g, &e);
    const float *x = lr_in(ctx, n, 0)->data, *w = lr_in(ctx, n, 1)->data;
    float *y = lr_out(ctx, n, 0)->data;
    int64_t hw = g.oh * g.ow;
    for (int64_t gi = 0; gi < g.g; ++gi) { /* batch = images; one call per group */
        lr_rowblock_gemm p = {g.n, g.ocg, hw, g.icg,
                              w + gi * g.ocg * g.icg, 0, g.icg, 1,
                              x + gi * g.icg * hw, g.c * hw, hw, 1,
                              y + gi * g.ocg * hw, g.oc * hw, hw};
        lr_rowblock_gemm_run(ctx->pool, &p);
    }
    if (e.fast) {
        if (e.bias || e.z || e.act != LR_ACT_IDENTITY) {
            ep_ctx c = {&e, &g, y};
            lr_parallel_for(ctx->pool, g.n * g.oc, plane_epilogue, &c);
        }
    } else {
        lr_conv_epilogue_all(ctx, &e, &g, y);
    }
    return LR_OK;
}

const lr_algo lr_algo_conv_1x1_rowblock_f32 = {"conv_1x1_rowblock_f32", LR_OP_CONV, usable, NULL, NULL, run, 0, 0, cost};
