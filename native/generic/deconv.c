/* deconv.c: transposed convolution (MegEngine ConvolutionBackwardData) as a gather per output
 * element, so planes are independent and split over the pool. */
#include "conv_common.h"
#include "kernels.h"

typedef struct dc_ctx {
    const lr_conv_geom *g;
    const float *x, *w;
    float *y;
} dc_ctx;

static void plane_task(void *vctx, int64_t t, int thread) {
    const dc_ctx *c = vctx;
    const lr_conv_geom *g = c->g;
    int64_t n = t / g->oc, oc = t % g->oc, gi = oc / g->ocg, o = oc % g->ocg, khw = g->kh * g->kw;
    float *y = c->y + t * g->oh * g->ow;
    for (int64_t oh = 0; oh < g->oh; ++oh)
        for (int64_t ow = 0; ow < g->ow; ++ow) {
            float acc = 0.f;
            for (int64_t kh = 0; kh < g->kh; ++kh) {
                int64_t th = oh + g->ph - kh * g->dh;
                if (th < 0 || th % g->sh) continue;
                int64_t ih = th / g->sh;
                if (ih >= g->h) continue;
                for (int64_t kw = 0; kw < g->kw; ++kw) {
                    int64_t tw = ow + g->pw - kw * g->dw;
                    if (tw < 0 || tw % g->sw) continue;
                    int64_t iw = tw / g->sw;
                    if (iw >= g->w) continue;
                    int64_t tap = kh * g->kw + kw;
                    if (g->flip) tap = khw - 1 - tap;
                    for (int64_t ic = gi * g->icg; ic < (gi + 1) * g->icg; ++ic)
                        acc += c->x[((n * g->c + ic) * g->h + ih) * g->w + iw] * c->w[(ic * g->ocg + o) * khw + tap];
                }
            }
            y[oh * g->ow + ow] = acc;
        }
    (void)thread;
}

static bool usable(const lr_model *m, const lr_node *n) { (void)m; (void)n; return true; }

static lr_status run(const lr_run_ctx *ctx, const lr_node *n) {
    lr_conv_geom g;
    lr_conv_geom_of(ctx->model, n, &g);
    /* Deconv weights are (C, OC/group, KH, KW): channels per group come from the input side. */
    g.icg = g.c / g.g;
    g.ocg = g.oc / g.g;
    dc_ctx c = {&g, lr_in(ctx, n, 0)->data, lr_in(ctx, n, 1)->data, lr_out(ctx, n, 0)->data};
    lr_parallel_for(ctx->pool, g.n * g.oc, plane_task, &c);
    return LR_OK;
}

const lr_algo lr_algo_deconv_gather_f32 = {"deconv_gather_f32", LR_OP_DECONV, usable, NULL, NULL, run, false};
