/* f32_conv_nchw44_neon.c: BlockedConv on nchw44 tensors (N, C/4, H, W, 4), NEON (aarch64 only).
 *
 * dense:     direct convolution, any KxK, any stride (1x1, 3x3 s1/s2, ...): a micro-kernel computes
 *            OCT (<= 2) output-channel blocks x T (<= 8) pixels of one row in OCT*T q accumulators.
 *            Blocked input: per tap one q load per pixel (its 4 input channels) and 4 fma-by-lane
 *            against the 4 weight vectors (input lane l -> 4 output channels); a last partial input
 *            block (C % 4) uses only its real lanes (padding lanes are unspecified). Plain NCHW input
 *            (the RGB stem, C <= 4) broadcasts one scalar per input channel. The input is zero-padded
 *            once per run (lr_bconv_pad_input) when the conv pads, so the micro-kernel has no bounds.
 *            Tasks: (image, OC-block pair, output row).
 * depthwise: per (image, channel block, row), 4 channels per q register; 3x3 s1/s2 specialised
 *            (taps unrolled, 4 pixels per step in the interior), other sizes by the generic loop.
 * Weights and bias use the blocked filter layout of layout_blocked.c (lr_bconv_pack): packed at
 * prepare with weight preprocess on, else into the workspace in every run (lr_note_weight_pack).
 * Bias, residual and the clamp (IDENTITY/RELU/CLAMP) are applied on registers; SIGMOID/H_SWISH on
 * the stored row (lr_bconv_post). */
#include "neon_nchw44.h"

#if LR_ARM_NEON64
#include <arm_neon.h>
#include <stdlib.h>
#include <string.h>

#include "../generic/layout_blocked.h"

#define VL 4
#define TMAX 8
#define AI static inline __attribute__((always_inline))

typedef float32x4_t vf;

typedef struct kctx {
    const lr_bconv *g;
    const float *x; /* padded input (or the input itself when the conv does not pad) */
    int64_t hp, wp; /* its plane */
    const float *w; /* packed weights, then the padded bias */
    const float *z;
    float *y;
    int64_t pairs;
} kctx;

#define FMA_LANE(l)                                                                                                   \
    do {                                                                                                              \
        vf w0 = vld1q_f32(wk + (l) * VL), w1 = OCT > 1 ? vld1q_f32(wk + wblk + (l) * VL) : w0;                        \
        for (int t = 0; t < T; ++t) {                                                                                 \
            acc[0][t] = vfmaq_laneq_f32(acc[0][t], w0, xv[t], l);                                                     \
            if (OCT > 1) acc[1][t] = vfmaq_laneq_f32(acc[1][t], w1, xv[t], l);                                        \
        }                                                                                                             \
    } while (0)

/* One micro-tile: OCT output-channel blocks from ocb, T pixels from ow0 of row oh. */
AI void ukernel(const kctx *k, int64_t n, int64_t ocb, int64_t oh, int64_t ow0, const int T, const int OCT, const int PLAIN) {
    const lr_bconv *g = k->g;
    const int64_t khw = g->kh * g->kw, pix = PLAIN ? 1 : VL, plane = k->hp * k->wp;
    const int64_t lane = PLAIN ? plane : 1, blk = PLAIN ? VL * plane : plane * VL, step = g->sw * pix;
    const int64_t wblk = g->cb * khw * VL * VL;
    vf acc[2][TMAX];
    for (int o = 0; o < OCT; ++o)
        for (int t = 0; t < T; ++t) acc[o][t] = vdupq_n_f32(0.f);
    const float *xb = k->x + n * (PLAIN ? g->c : g->cb * VL) * plane + (oh * g->sh * k->wp + ow0 * g->sw) * pix;
    for (int64_t icb = 0; icb < g->cb; ++icb) {
        int64_t ni = g->c - icb * VL < VL ? g->c - icb * VL : VL;
        const float *xc = xb + icb * blk, *wc = k->w + (ocb * g->cb + icb) * khw * VL * VL;
        for (int64_t i = 0; i < g->kh; ++i)
            for (int64_t j = 0; j < g->kw; ++j) {
                const float *xk = xc + (i * k->wp + j) * pix, *wk = wc + (i * g->kw + j) * VL * VL;
                if (!PLAIN && ni == VL) {
                    vf xv[TMAX];
                    for (int t = 0; t < T; ++t) xv[t] = vld1q_f32(xk + t * step);
                    FMA_LANE(0);
                    FMA_LANE(1);
                    FMA_LANE(2);
                    FMA_LANE(3);
                } else {
                    for (int64_t l = 0; l < ni; ++l) {
                        vf w0 = vld1q_f32(wk + l * VL), w1 = OCT > 1 ? vld1q_f32(wk + wblk + l * VL) : w0;
                        const float *xl = xk + l * lane;
                        for (int t = 0; t < T; ++t) {
                            float xs = xl[t * step];
                            acc[0][t] = vfmaq_n_f32(acc[0][t], w0, xs);
                            if (OCT > 1) acc[1][t] = vfmaq_n_f32(acc[1][t], w1, xs);
                        }
                    }
                }
            }
    }
    const vf lo = vdupq_n_f32(g->lo), hi = vdupq_n_f32(g->hi);
    const float *pb = k->w + g->ocb * wblk;
    for (int o = 0; o < OCT; ++o) {
        int64_t off = (((n * g->ocb + ocb + o) * g->oh + oh) * g->ow + ow0) * VL;
        float *y = k->y + off;
        const float *z = k->z ? k->z + off : NULL;
        vf bv = vld1q_f32(pb + (ocb + o) * VL);
        for (int t = 0; t < T; ++t) {
            vf v = vaddq_f32(acc[o][t], bv);
            if (z) v = vaddq_f32(v, vld1q_f32(z + t * VL));
            vst1q_f32(y + t * VL, vminq_f32(vmaxq_f32(v, lo), hi));
        }
        if (g->act == 2 || g->act == 3) lr_bconv_post(g->act, y, T * VL);
    }
}

#define TILE_CASE(T_) case T_: ukernel(k, n, ocb, oh, ow0, T_, OCT, PLAIN); break;

AI void tile(const kctx *k, int64_t n, int64_t ocb, int64_t oh, int64_t ow0, int T, const int OCT, const int PLAIN) {
    switch (T) {
        TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4) TILE_CASE(5) TILE_CASE(6) TILE_CASE(7) TILE_CASE(8)
    default: break;
    }
}

AI void row(const kctx *k, int64_t n, int64_t ocb, int64_t oh, const int OCT, const int PLAIN) {
    int64_t ow = k->g->ow, tiles = (ow + TMAX - 1) / TMAX, base = ow / tiles, extra = ow % tiles, ow0 = 0;
    for (int64_t t = 0; t < tiles; ++t) { /* balanced tiles: 14 -> 7 + 7, 28 -> 7 x 4 */
        int T = (int)(base + (t < extra));
        tile(k, n, ocb, oh, ow0, T, OCT, PLAIN);
        ow0 += T;
    }
}

static void dense_task(void *vctx, int64_t t, int thread) {
    const kctx *k = vctx;
    const lr_bconv *g = k->g;
    int64_t oh = t % g->oh, pair = t / g->oh % k->pairs, n = t / g->oh / k->pairs, ocb = pair * 2;
    bool two = ocb + 1 < g->ocb;
    if (g->plain_in) {
        if (two) row(k, n, ocb, oh, 2, 1); else row(k, n, ocb, oh, 1, 1);
    } else {
        if (two) row(k, n, ocb, oh, 2, 0); else row(k, n, ocb, oh, 1, 0);
    }
    (void)thread;
}

/* Depthwise row: K x K taps (K = 3 specialised by the caller's constant), stride S (0: runtime). */
AI void dw_row(const kctx *k, int64_t n, int64_t cb, int64_t oh, const int K3, const int S) {
    const lr_bconv *g = k->g;
    const int64_t kh = K3 ? 3 : g->kh, kw = K3 ? 3 : g->kw, sw = S ? S : g->sw, khw = kh * kw;
    const float *x = k->x + (n * g->cb + cb) * g->h * g->w * VL, *w = k->w + cb * khw * VL;
    int64_t off = ((n * g->cb + cb) * g->oh + oh) * g->ow * VL;
    float *y = k->y + off;
    const float *z = k->z ? k->z + off : NULL;
    const vf lo = vdupq_n_f32(g->lo), hi = vdupq_n_f32(g->hi), bv = vld1q_f32(k->w + g->cb * khw * VL + cb * VL);
    int64_t ih0 = oh * g->sh - g->ph, i0 = ih0 < 0 ? -ih0 : 0, i1 = ih0 + kh > g->h ? g->h - ih0 : kh;
    int64_t lo_ow = (g->pw + sw - 1) / sw, hi_ow = g->w + g->pw - kw < 0 ? -1 : (g->w + g->pw - kw) / sw;
    if (hi_ow >= g->ow) hi_ow = g->ow - 1;
    for (int64_t ow = 0; ow < g->ow;) {
        if (ow >= lo_ow && ow + 3 <= hi_ow) { /* 4 pixels, every tap inside the row */
            vf a0 = bv, a1 = bv, a2 = bv, a3 = bv;
            for (int64_t i = i0; i < i1; ++i) {
                const float *xr = x + ((ih0 + i) * g->w + ow * sw - g->pw) * VL, *wr = w + i * kw * VL;
                for (int64_t j = 0; j < kw; ++j) {
                    vf wv = vld1q_f32(wr + j * VL);
                    const float *xp = xr + j * VL;
                    a0 = vfmaq_f32(a0, vld1q_f32(xp), wv);
                    a1 = vfmaq_f32(a1, vld1q_f32(xp + sw * VL), wv);
                    a2 = vfmaq_f32(a2, vld1q_f32(xp + 2 * sw * VL), wv);
                    a3 = vfmaq_f32(a3, vld1q_f32(xp + 3 * sw * VL), wv);
                }
            }
            if (z) {
                a0 = vaddq_f32(a0, vld1q_f32(z + ow * VL));
                a1 = vaddq_f32(a1, vld1q_f32(z + (ow + 1) * VL));
                a2 = vaddq_f32(a2, vld1q_f32(z + (ow + 2) * VL));
                a3 = vaddq_f32(a3, vld1q_f32(z + (ow + 3) * VL));
            }
            vst1q_f32(y + ow * VL, vminq_f32(vmaxq_f32(a0, lo), hi));
            vst1q_f32(y + (ow + 1) * VL, vminq_f32(vmaxq_f32(a1, lo), hi));
            vst1q_f32(y + (ow + 2) * VL, vminq_f32(vmaxq_f32(a2, lo), hi));
            vst1q_f32(y + (ow + 3) * VL, vminq_f32(vmaxq_f32(a3, lo), hi));
            ow += 4;
            continue;
        }
        vf acc = bv;
        int64_t iw0 = ow * sw - g->pw;
        for (int64_t i = i0; i < i1; ++i)
            for (int64_t j = 0; j < kw; ++j) {
                int64_t iw = iw0 + j;
                if (iw < 0 || iw >= g->w) continue;
                acc = vfmaq_f32(acc, vld1q_f32(x + ((ih0 + i) * g->w + iw) * VL), vld1q_f32(w + (i * kw + j) * VL));
            }
        if (z) acc = vaddq_f32(acc, vld1q_f32(z + ow * VL));
        vst1q_f32(y + ow * VL, vminq_f32(vmaxq_f32(acc, lo), hi));
        ++ow;
    }
    if (g->act == 2 || g->act == 3) lr_bconv_post(g->act, y, g->ow * VL);
}

static void dw_task(void *vctx, int64_t t, int thread) {
    const kctx *k = vctx;
    const lr_bconv *g = k->g;
    int64_t oh = t % g->oh, cb = t / g->oh % g->cb, n = t / g->oh / g->cb;
    if (g->kh == 3 && g->kw == 3 && g->sw == 1) dw_row(k, n, cb, oh, 1, 1);
    else if (g->kh == 3 && g->kw == 3 && g->sw == 2) dw_row(k, n, cb, oh, 1, 2);
    else dw_row(k, n, cb, oh, 0, 0);
    (void)thread;
}

static bool usable(const lr_model *m, const lr_node *n) {
    if (n->op != LR_OP_BLOCKED_CONV || n->ints[9] != VL) return false;
    if (lr_min(m, n, 0)->dtype != LR_FLOAT32) return false;
    if (lr_min(m, n, 1)->kind != LR_KIND_CONST || (n->n_in > 2 && lr_min(m, n, 2)->kind != LR_KIND_CONST)) return false;
    return true;
}

static bool needs_pad(const lr_bconv *g) { return !g->depthwise && (g->ph || g->pw); }

static size_t workspace(const lr_model *m, const lr_node *n, int threads) {
    lr_bconv g;
    lr_bconv_of(m, n, &g);
    size_t f = (n->packed ? 0 : lr_bconv_packed_floats(&g) + 16) + (needs_pad(&g) ? lr_bconv_padded_floats(&g) : 0);
    (void)threads;
    return f * sizeof(float);
}

static lr_status run(const lr_run_ctx *ctx, const lr_node *n) {
    lr_bconv g;
    lr_bconv_of(ctx->model, n, &g);
    float *ws = ctx->workspace;
    const float *w = lr_bconv_weights(ctx, n, &g, &ws); /* weight preprocess off: packed in this run */
    kctx k = {&g, lr_in(ctx, n, 0)->data, g.h, g.w, w, n->n_in > 3 ? lr_in(ctx, n, 3)->data : NULL,
              lr_out(ctx, n, 0)->data, (g.ocb + 1) / 2};
    if (g.depthwise) {
        lr_parallel_for(ctx->pool, g.n * g.cb * g.oh, dw_task, &k);
        return LR_OK;
    }
    if (needs_pad(&g)) {
        lr_bconv_pad_input(ctx, &g, k.x, ws);
        k.x = ws;
        k.hp = g.h + 2 * g.ph, k.wp = g.w + 2 * g.pw;
    }
    lr_parallel_for(ctx->pool, g.n * k.pairs * g.oh, dense_task, &k);
    return LR_OK;
}

static double cost(const lr_model *m, const lr_node *n, int threads) {
    lr_bconv g;
    lr_bconv_of(m, n, &g);
    double macs = (double)g.n * g.ocb * VL * g.oh * g.ow * g.kh * g.kw * (g.depthwise ? 1 : g.c);
    return macs / (g.depthwise ? 2.0 : 8.0) / (threads > 0 ? threads : 1);
}

const lr_algo lr_algo_blocked_conv_direct_f32_nchw44_neon = {"blocked_conv_direct_f32_nchw44_neon", LR_OP_BLOCKED_CONV,
                                                             usable, workspace, lr_bconv_prepare_packed, run, 0, 0, cost};
#else
static bool never(const lr_model *m, const lr_node *n) { (void)m; (void)n; return false; }
const lr_algo lr_algo_blocked_conv_direct_f32_nchw44_neon = {"blocked_conv_direct_f32_nchw44_neon", LR_OP_BLOCKED_CONV,
                                                             never, NULL, NULL, NULL, 0, 0, NULL};
#endif
