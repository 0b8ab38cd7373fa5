/* conv_depthwise_3x3_neon.c: direct depthwise 3x3 convolution, stride 1 or 2, any padding: four
 * output columns per q register in the interior (vld2q de-interleaves the stride-2 taps), scalar
 * code on the borders, the fused epilogue per plane. */
#include "kernels.h"

#if LR_ARM_NEON64
#include <arm_neon.h>

#include "conv_common.h"

static bool usable(const lr_model *m, const lr_node *n) {
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    return g.g == g.c && g.icg == 1 && g.ocg == 1 && g.kh == 3 && g.kw == 3 && g.dh == 1 && g.dw == 1 &&
           g.sh == g.sw && (g.sh == 1 || g.sh == 2);
}

typedef struct dw_ctx {
    const lr_conv_geom *g;
    const lr_conv_epilogue *e;
    const float *x, *w;
    float *y;
} dw_ctx;

static inline float tap_sum(const float *xr, int64_t iw0, int64_t w, const float *k) {
    float s = 0.f;
    for (int kw = 0; kw < 3; ++kw) {
        int64_t iw = iw0 + kw;
        if (iw >= 0 && iw < w) s += k[kw] * xr[iw];
    }
    return s;
}

static void plane_task(void *vctx, int64_t t, int thread) {
    const dw_ctx *c = vctx;
    const lr_conv_geom *g = c->g;
    int64_t n = t / g->c, ch = t % g->c, s = g->sh, W = g->w;
    const float *x = c->x + t * g->h * W, *w9 = c->w + ch * 9;
    float k[9];
    for (int i = 0; i < 9; ++i) k[i] = w9[g->flip ? 8 - i : i];
    float *y = c->y + t * g->oh * g->ow;
    /* a 4-column group starting at ow is vectorised when every float it reads (vld2q over-reads
     * one) lies inside the row: ow*s - pw >= 0 and ow*s - pw + last_read <= W - 1 */
    int64_t lo = (g->pw + s - 1) / s, last_read = s == 1 ? 5 : 9;
    int64_t max_start = W - 1 - last_read + g->pw < 0 ? -1 : (W - 1 - last_read + g->pw) / s;
    for (int64_t oh = 0; oh < g->oh; ++oh) {
        float *yr = y + oh * g->ow;
        const float *rows[3];
        for (int kh = 0; kh < 3; ++kh) {
            int64_t ih = oh * s - g->ph + kh;
            rows[kh] = ih >= 0 && ih < g->h ? x + ih * W : NULL;
        }
        int64_t ow = 0;
        for (; ow < lo && ow < g->ow; ++ow) {
            float v = 0.f;
            for (int kh = 0; kh < 3; ++kh)
                if (rows[kh]) v += tap_sum(rows[kh], ow * s - g->pw, W, k + 3 * kh);
            yr[ow] = v;
        }
        for (; ow <= max_start && ow + 4 <= g->ow; ow += 4) {
            float32x4_t acc = vdupq_n_f32(0.f);
            for (int kh = 0; kh < 3; ++kh) {
                if (!rows[kh]) continue;
                const float *p = rows[kh] + ow * s - g->pw;
                if (s == 1) {
                    acc = vfmaq_n_f32(acc, vld1q_f32(p), k[3 * kh]);
                    acc = vfmaq_n_f32(acc, vld1q_f32(p + 1), k[3 * kh + 1]);
                    acc = vfmaq_n_f32(acc, vld1q_f32(p + 2), k[3 * kh + 2]);
                } else {
                    float32x4x2_t e01 = vld2q_f32(p), e2 = vld2q_f32(p + 2);
                    acc = vfmaq_n_f32(acc, e01.val[0], k[3 * kh]);
                    acc = vfmaq_n_f32(acc, e01.val[1], k[3 * kh + 1]);
                    acc = vfmaq_n_f32(acc, e2.val[0], k[3 * kh + 2]);
                }
            }
            vst1q_f32(yr + ow, acc);
        }
        for (; ow < g->ow; ++ow) {
            float v = 0.f;
            for (int kh = 0; kh < 3; ++kh)
                if (rows[kh]) v += tap_sum(rows[kh], ow * s - g->pw, W, k + 3 * kh);
            yr[ow] = v;
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
    return (double)g.n * g.c * 9 * g.oh * g.ow / (6.0 * threads);
}

const lr_algo lr_algo_conv_depthwise_3x3_f32_neon = {"conv_depthwise_3x3_f32_neon", LR_OP_CONV, usable, NULL, NULL, run, 0, 0, cost};
#else
static bool never(const lr_model *m, const lr_node *n) { (void)m; (void)n; return false; }
const lr_algo lr_algo_conv_depthwise_3x3_f32_neon = {"conv_depthwise_3x3_f32_neon", LR_OP_CONV, never, NULL, NULL, NULL, 0, 0, NULL};
#endif
