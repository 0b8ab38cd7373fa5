/* f32_conv_nchwb_x86.h: BlockedConv on (N, C/VL, H, W, VL) tensors, written once over GNU vectors of
 * VL floats and compiled per ISA (f32_conv_nchw16_avx512f.c: VL 16, f32_conv_nchw88_avx2_fma.c: VL 8).
 *
 * dense:     direct convolution, no im2col: a micro-kernel computes OCT (<= 2) output-channel blocks
 *            x T (<= TMAX) output pixels of one row in OCT*T vector accumulators; each step loads OCT
 *            weight vectors (one input channel, VL output channels) and broadcasts T input pixels.
 *            The input is zero-padded once per run when the conv pads; a plain NCHW input (the stem
 *            over RGB) is read the same way with other strides. Tasks: (image, OC-block pair, row).
 * depthwise: per (image, channel block, row), VL channels per vector, borders by bounds.
 * Weights (and bias) are packed into the blocked filter layout (layout_blocked.c) at prepare with
 * weight preprocess on, else into the workspace in every run. Bias, residual and the clamp
 * (IDENTITY/RELU/CLAMP) are applied on the registers; SIGMOID/H_SWISH on the stored row.
 * Define VL, TMAX, ISA_FEATURES, SUFFIX, SUFFIX_STR, VMAX, VMIN before including. */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "../generic/layout_blocked.h"
#include "cpu_x86.h"
#include "f32_nchwb_x86.h"

typedef float vf __attribute__((vector_size(VL * 4)));

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define AI static inline __attribute__((always_inline))

AI vf ld(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
AI void st(float *p, vf v) { memcpy(p, &v, sizeof v); }
AI vf splat(float f) { return (vf){0} + f; }

typedef struct kctx {
    const lr_bconv *g;
    const float *x; /* padded input (or the input itself when the conv does not pad) */
    int64_t hp, wp; /* its plane */
    const float *w; /* packed weights, then the padded bias */
    const float *bias, *z;
    float *y;
    int64_t pairs;
} kctx;

/* One micro-tile: OCT output-channel blocks from ocb, T pixels from ow0 of row oh. */
AI void ukernel(const kctx *k, int64_t n, int64_t ocb, int64_t oh, int64_t ow0, const int T, const int OCT, const int PLAIN) {
    const lr_bconv *g = k->g;
    const int64_t khw = g->kh * g->kw, pix = PLAIN ? 1 : VL, plane = k->hp * k->wp;
    const int64_t lane = PLAIN ? plane : 1, blk = PLAIN ? VL * plane : plane * VL, step = g->sw * pix;
    const int64_t wblk = g->cb * khw * VL * VL;
    vf acc[2][TMAX];
    for (int o = 0; o < OCT; ++o)
        for (int t = 0; t < T; ++t) acc[o][t] = (vf){0};
    const float *xb = k->x + n * (PLAIN ? g->c : g->cb * VL) * plane + (oh * g->sh * k->wp + ow0 * g->sw) * pix;
    for (int64_t icb = 0; icb < g->cb; ++icb) {
        int64_t ni = g->c - icb * VL < VL ? g->c - icb * VL : VL;
        const float *xc = xb + icb * blk, *wc = k->w + (ocb * g->cb + icb) * khw * VL * VL;
        for (int64_t i = 0; i < g->kh; ++i)
            for (int64_t j = 0; j < g->kw; ++j) {
                const float *xk = xc + (i * k->wp + j) * pix, *wk = wc + (i * g->kw + j) * VL * VL;
                for (int64_t l = 0; l < ni; ++l) {
                    vf w0 = ld(wk + l * VL), w1 = OCT > 1 ? ld(wk + wblk + l * VL) : (vf){0};
                    const float *xl = xk + l * lane;
                    for (int t = 0; t < T; ++t) {
                        vf xv = splat(xl[t * step]);
                        acc[0][t] += xv * w0;
                        if (OCT > 1) acc[1][t] += xv * w1;
                    }
                }
            }
    }
    const vf lo = splat(g->lo), hi = splat(g->hi);
    const float *pb = k->w + g->ocb * wblk;
    for (int o = 0; o < OCT; ++o) {
        int64_t off = (((n * g->ocb + ocb + o) * g->oh + oh) * g->ow + ow0) * VL;
        float *y = k->y + off;
        const float *z = k->z ? k->z + off : NULL;
        vf bv = ld(pb + (ocb + o) * VL);
        for (int t = 0; t < T; ++t) {
            vf v = acc[o][t] + bv;
            if (z) v += ld(z + t * VL);
            st(y + t * VL, VMIN(VMAX(v, lo), hi));
        }
        if (g->act == 2 || g->act == 3) lr_bconv_post(g->act, y, T * VL);
    }
}

#define TILE_CASE(T_) case T_: ukernel(k, n, ocb, oh, ow0, T_, OCT, PLAIN); break;

AI void tile(const kctx *k, int64_t n, int64_t ocb, int64_t oh, int64_t ow0, int T, const int OCT, const int PLAIN) {
    switch (T) {
        TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4) TILE_CASE(5) TILE_CASE(6)
#if TMAX > 6
        TILE_CASE(7) TILE_CASE(8) TILE_CASE(9) TILE_CASE(10) TILE_CASE(11) TILE_CASE(12)
#endif
    default: break;
    }
}

AI void row(const kctx *k, int64_t n, int64_t ocb, int64_t oh, const int OCT, const int PLAIN) {
    int64_t ow = k->g->ow, tiles = (ow + TMAX - 1) / TMAX, base = ow / tiles, extra = ow % tiles, ow0 = 0;
    for (int64_t t = 0; t < tiles; ++t) { /* balanced tiles: 14 -> 7 + 7, 56 -> 12 + 11 x 4 */
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

static void dw_task(void *vctx, int64_t t, int thread) {
    const kctx *k = vctx;
    const lr_bconv *g = k->g;
    int64_t oh = t % g->oh, cb = t / g->oh % g->cb, n = t / g->oh / g->cb, khw = g->kh * g->kw;
    const float *x = k->x + (n * g->cb + cb) * g->h * g->w * VL, *w = k->w + cb * khw * VL;
    int64_t off = ((n * g->cb + cb) * g->oh + oh) * g->ow * VL;
    float *y = k->y + off;
    const float *z = k->z ? k->z + off : NULL;
    const vf lo = splat(g->lo), hi = splat(g->hi), bv = ld(k->w + g->cb * khw * VL + cb * VL);
    int64_t ih0 = oh * g->sh - g->ph, i0 = ih0 < 0 ? -ih0 : 0, i1 = ih0 + g->kh > g->h ? g->h - ih0 : g->kh;
    /* interior columns: every tap inside the row */
    int64_t lo_ow = (g->pw + g->sw - 1) / g->sw, hi_ow = g->w + g->pw - g->kw < 0 ? -1 : (g->w + g->pw - g->kw) / g->sw;
    if (hi_ow >= g->ow) hi_ow = g->ow - 1;
    for (int64_t ow = 0; ow < g->ow;) {
        if (ow >= lo_ow && ow + 3 <= hi_ow) { /* 4 pixels, no bounds */
            vf a0 = bv, a1 = bv, a2 = bv, a3 = bv;
            for (int64_t i = i0; i < i1; ++i) {
                const float *xr = x + ((ih0 + i) * g->w + ow * g->sw - g->pw) * VL, *wr = w + i * g->kw * VL;
                for (int64_t j = 0; j < g->kw; ++j) {
                    vf wv = ld(wr + j * VL);
                    const float *xp = xr + j * VL;
                    a0 += ld(xp) * wv;
                    a1 += ld(xp + g->sw * VL) * wv;
                    a2 += ld(xp + 2 * g->sw * VL) * wv;
                    a3 += ld(xp + 3 * g->sw * VL) * wv;
                }
            }
            vf a[4] = {a0, a1, a2, a3};
            for (int q = 0; q < 4; ++q) {
                if (z) a[q] += ld(z + (ow + q) * VL);
                st(y + (ow + q) * VL, VMIN(VMAX(a[q], lo), hi));
            }
            ow += 4;
            continue;
        }
        vf acc = bv;
        int64_t iw0 = ow * g->sw - g->pw;
        for (int64_t i = i0; i < i1; ++i)
            for (int64_t j = 0; j < g->kw; ++j) {
                int64_t iw = iw0 + j;
                if (iw < 0 || iw >= g->w) continue;
                acc += ld(x + ((ih0 + i) * g->w + iw) * VL) * ld(w + (i * g->kw + j) * VL);
            }
        if (z) acc += ld(z + ow * VL);
        st(y + ow * VL, VMIN(VMAX(acc, lo), hi));
        ++ow;
    }
    if (g->act == 2 || g->act == 3) lr_bconv_post(g->act, y, g->ow * VL);
    (void)thread;
}

static bool usable(const lr_model *m, const lr_node *n) {
    if (!lr_x86_has(ISA_FEATURES) || n->op != LR_OP_BLOCKED_CONV || n->ints[9] != VL) return false;
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

typedef struct pack_ctx {
    const lr_bconv *g;
    const float *w, *bias;
    float *dst;
} pack_ctx;

static void pack_task(void *vctx, int64_t t, int thread) {
    const pack_ctx *p = vctx;
    lr_bconv_pack(p->g, p->w, p->bias, p->dst, t, t + 1);
    (void)thread;
}

static lr_status prepare(lr_model *m, lr_node *n) {
    lr_bconv g;
    lr_bconv_of(m, n, &g);
    size_t bytes = lr_bconv_packed_floats(&g) * sizeof(float);
    n->packed = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!n->packed) return lr_fail(LR_ERR_MEMORY, "cannot allocate %zu bytes of packed weights", bytes);
    n->packed_bytes = bytes;
    lr_bconv_pack(&g, lr_min(m, n, 1)->const_data, n->n_in > 2 ? lr_min(m, n, 2)->const_data : NULL, n->packed, 0,
                  g.depthwise ? g.cb : g.ocb);
    return LR_OK;
}

static lr_status run(const lr_run_ctx *ctx, const lr_node *n) {
    lr_bconv g;
    lr_bconv_of(ctx->model, n, &g);
    float *ws = ctx->workspace;
    const float *w = n->packed;
    if (!w) { /* weight preprocess off: pack in every run */
        pack_ctx p = {&g, lr_in(ctx, n, 1)->data, n->n_in > 2 ? lr_in(ctx, n, 2)->data : NULL, ws};
        lr_parallel_for(ctx->pool, g.depthwise ? g.cb : g.ocb, pack_task, &p);
        lr_note_weight_pack(ctx);
        w = ws;
        ws += (lr_bconv_packed_floats(&g) + 15) / 16 * 16;
    }
    kctx k = {&g, lr_in(ctx, n, 0)->data, g.h, g.w, w, NULL, n->n_in > 3 ? lr_in(ctx, n, 3)->data : NULL,
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
    return macs / (g.depthwise ? 4.0 : 40.0) / (threads > 0 ? threads : 1);
}

const lr_algo CAT(lr_algo_blocked_conv_direct_f32_, SUFFIX) = {"blocked_conv_direct_f32_" SUFFIX_STR, LR_OP_BLOCKED_CONV,
                                                               usable, workspace, prepare, run, 0, 0, cost};
