/* layout_blocked.c: portable kernels of the blocked-layout operators (any block b <= 16): Relayout
 * both ways, BlockedConv (direct, dense or depthwise, plain or blocked input) and BlockedPooling.
 * The fallback on any CPU and the second opinion for the x86 kernels (native/x86/f32_conv_nchw{16,88}_*.c). */
#include <stdlib.h>
#include <string.h>

#include "layout_blocked.h"
#include "pooling_params.h"
#if defined(__x86_64__)
#include "../x86/cpu_x86.h"
#endif

#define MAXB 16

/* ---- Relayout ---------------------------------------------------------------------------------- */

typedef struct relayout_ctx {
    const float *x;
    float *y;
    int64_t c, cb, hw, b;
    bool to_blocked;
} relayout_ctx;

/* Tiles of RT pixels x b lanes (<= 1 KiB): every cache line read or written is used whole while it
 * is in L1 (a lane-by-lane pass over the plane touched a new output line per element). B is a
 * compile-time block (16, 8, 4) where it can be, so the lane loops unroll; padding lanes get zeros. */
#define RT 16

static inline __attribute__((always_inline)) void relayout_plane(const float *x, float *y, int64_t hw, int64_t lanes,
                                                                  const int64_t B, bool to_blocked) {
    float tile[MAXB][RT];
    for (int64_t i0 = 0; i0 < hw; i0 += RT) {
        int64_t m = hw - i0 < RT ? hw - i0 : RT;
        if (to_blocked) {
            if (m == RT)
                for (int64_t l = 0; l < lanes; ++l) memcpy(tile[l], x + l * hw + i0, sizeof tile[l]);
            else
                for (int64_t l = 0; l < lanes; ++l)
                    for (int64_t i = 0; i < m; ++i) tile[l][i] = x[l * hw + i0 + i];
            for (int64_t l = lanes; l < B; ++l) memset(tile[l], 0, sizeof tile[l]);
            float *yo = y + i0 * B;
            for (int64_t i = 0; i < m; ++i)
                for (int64_t l = 0; l < B; ++l) yo[i * B + l] = tile[l][i];
        } else {
            const float *xi = x + i0 * B;
            for (int64_t i = 0; i < m; ++i)
                for (int64_t l = 0; l < B; ++l) tile[l][i] = xi[i * B + l];
            if (m == RT)
                for (int64_t l = 0; l < lanes; ++l) memcpy(y + l * hw + i0, tile[l], sizeof tile[l]);
            else
                for (int64_t l = 0; l < lanes; ++l)
                    for (int64_t i = 0; i < m; ++i) y[l * hw + i0 + i] = tile[l][i];
        }
    }
}

static void relayout_task(void *vctx, int64_t t, int thread) {
    const relayout_ctx *r = vctx;
    int64_t n = t / r->cb, cb = t % r->cb, b = r->b, hw = r->hw;
    int64_t lanes = r->c - cb * b < b ? r->c - cb * b : b;
    const float *x = r->to_blocked ? r->x + (n * r->c + cb * b) * hw : r->x + t * hw * b;
    float *y = r->to_blocked ? r->y + t * hw * b : r->y + (n * r->c + cb * b) * hw;
    bool tb = r->to_blocked;
    if (b == 16) tb ? relayout_plane(x, y, hw, lanes, 16, true) : relayout_plane(x, y, hw, lanes, 16, false);
    else if (b == 8) tb ? relayout_plane(x, y, hw, lanes, 8, true) : relayout_plane(x, y, hw, lanes, 8, false);
    else if (b == 4) tb ? relayout_plane(x, y, hw, lanes, 4, true) : relayout_plane(x, y, hw, lanes, 4, false);
    else relayout_plane(x, y, hw, lanes, b, tb);
    (void)thread;
}

static lr_status relayout_run(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0), *y = lr_out(ctx, n, 0);
    bool to_blocked = n->ints[1] == 0;
    const lr_tensor *blk = to_blocked ? y : x;
    relayout_ctx r = {x->data, y->data, n->ints[2], blk->dims[1], blk->dims[2] * blk->dims[3], n->ints[0], to_blocked};
    lr_parallel_for(ctx->pool, blk->dims[0] * blk->dims[1], relayout_task, &r);
    return LR_OK;
}

static bool relayout_usable(const lr_model *m, const lr_node *n) { (void)m; return n->op == LR_OP_RELAYOUT; }

const lr_algo lr_algo_relayout_f32 = {"relayout_f32", LR_OP_RELAYOUT, relayout_usable, NULL, NULL, relayout_run, 0};

/* ---- weight and input preparation shared with the x86 kernels ----------------------------------- */

size_t lr_bconv_packed_floats(const lr_bconv *g) {
    if (g->depthwise) return (size_t)((g->cb * g->kh * g->kw + g->cb) * g->b);
    return (size_t)((g->ocb * g->cb * g->kh * g->kw * g->b + g->ocb) * g->b);
}

void lr_bconv_pack(const lr_bconv *g, const float *w, const float *bias, float *dst, int64_t ob0, int64_t ob1) {
    int64_t b = g->b, khw = g->kh * g->kw;
    if (g->depthwise) { /* (C/b, KH, KW, b), then the bias (C/b * b) */
        float *pb = dst + g->cb * khw * b;
        for (int64_t cb = ob0; cb < ob1; ++cb) {
            memset(dst + cb * khw * b, 0, (size_t)(khw * b) * sizeof *dst);
            for (int64_t l = 0; l < b && cb * b + l < g->c; ++l)
                for (int64_t k = 0; k < khw; ++k) dst[(cb * khw + k) * b + l] = w[(cb * b + l) * khw + k];
            for (int64_t l = 0; l < b; ++l) pb[cb * b + l] = bias && cb * b + l < g->c ? bias[cb * b + l] : 0.f;
        }
        return;
    }
    float *pb = dst + g->ocb * g->cb * khw * b * b;
    for (int64_t ob = ob0; ob < ob1; ++ob) {
        float *d = dst + ob * g->cb * khw * b * b;
        memset(d, 0, (size_t)(g->cb * khw * b * b) * sizeof *d);
        for (int64_t o = 0; o < b && ob * b + o < g->oc; ++o) {
            const float *wo = w + (ob * b + o) * g->c * khw;
            for (int64_t ic = 0; ic < g->c; ++ic)
                for (int64_t k = 0; k < khw; ++k) d[((ic / b) * khw + k) * b * b + (ic % b) * b + o] = wo[ic * khw + k];
        }
        for (int64_t o = 0; o < b; ++o) pb[ob * b + o] = bias && ob * b + o < g->oc ? bias[ob * b + o] : 0.f;
    }
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

lr_status lr_bconv_prepare_packed(lr_model *m, lr_node *n) {
    lr_bconv g;
    lr_bconv_of(m, n, &g);
    size_t bytes = lr_bconv_packed_floats(&g) * sizeof(float);
    lr_status s = lr_alloc_packed(n, bytes, "packed weights");
    if (s != LR_OK) return s;
    lr_bconv_pack(&g, lr_min(m, n, 1)->const_data, n->n_in > 2 ? lr_min(m, n, 2)->const_data : NULL, n->packed, 0,
                  g.depthwise ? g.cb : g.ocb);
    return LR_OK;
}

const float *lr_bconv_weights(const lr_run_ctx *ctx, const lr_node *n, const lr_bconv *g, float **ws) {
    if (n->packed) return n->packed;
    pack_ctx p = {g, lr_in(ctx, n, 1)->data, n->n_in > 2 ? lr_in(ctx, n, 2)->data : NULL, *ws};
    lr_parallel_for(ctx->pool, g->depthwise ? g->cb : g->ocb, pack_task, &p);
    lr_note_weight_pack(ctx);
    *ws += (lr_bconv_packed_floats(g) + 15) / 16 * 16;
    return p.dst;
}

size_t lr_bconv_padded_floats(const lr_bconv *g) {
    int64_t planes = g->plain_in ? g->c : g->cb * g->b;
    return (size_t)(g->n * planes * (g->h + 2 * g->ph) * (g->w + 2 * g->pw));
}

typedef struct pad_ctx {
    const lr_bconv *g;
    const float *x;
    float *dst;
    int64_t lanes; /* floats per pixel: 1 plain, b blocked */
} pad_ctx;

static void pad_task(void *vctx, int64_t t, int thread) {
    const pad_ctx *p = vctx;
    const lr_bconv *g = p->g;
    int64_t hp = g->h + 2 * g->ph, wp = g->w + 2 * g->pw, L = p->lanes;
    const float *x = p->x + t * g->h * g->w * L;
    float *d = p->dst + t * hp * wp * L;
    memset(d, 0, (size_t)(g->ph * wp * L) * sizeof *d);
    memset(d + (g->ph + g->h) * wp * L, 0, (size_t)(g->ph * wp * L) * sizeof *d);
    for (int64_t i = 0; i < g->h; ++i) {
        float *row = d + (g->ph + i) * wp * L;
        memset(row, 0, (size_t)(g->pw * L) * sizeof *row);
        memcpy(row + g->pw * L, x + i * g->w * L, (size_t)(g->w * L) * sizeof *row);
        memset(row + (g->pw + g->w) * L, 0, (size_t)(g->pw * L) * sizeof *row);
    }
    (void)thread;
}

void lr_bconv_pad_input(const lr_run_ctx *ctx, const lr_bconv *g, const float *x, float *dst) {
    pad_ctx p = {g, x, dst, g->plain_in ? 1 : g->b};
    lr_parallel_for(ctx->pool, g->n * (g->plain_in ? g->c : g->cb), pad_task, &p);
}

/* ---- BlockedConv, portable direct loops ---------------------------------------------------------- */

typedef struct bconv_ctx {
    const lr_bconv *g;
    const float *x, *w, *bias, *z;
    float *y;
} bconv_ctx;

static float x_at(const bconv_ctx *k, int64_t n, int64_t c, int64_t ih, int64_t iw) {
    const lr_bconv *g = k->g;
    if (g->plain_in) return k->x[((n * g->c + c) * g->h + ih) * g->w + iw];
    return k->x[(((n * g->cb + c / g->b) * g->h + ih) * g->w + iw) * g->b + c % g->b];
}

static void bconv_task(void *vctx, int64_t t, int thread) {
    const bconv_ctx *k = vctx;
    const lr_bconv *g = k->g;
    int64_t oh = t % g->oh, ocb = t / g->oh % g->ocb, n = t / g->oh / g->ocb, b = g->b;
    int64_t khw = g->kh * g->kw, icg = g->depthwise ? 1 : g->c;
    float *yrow = k->y + ((n * g->ocb + ocb) * g->oh + oh) * g->ow * b;
    const float *zrow = k->z ? k->z + (yrow - k->y) : NULL;
    for (int64_t ow = 0; ow < g->ow; ++ow) {
        float acc[MAXB];
        for (int64_t l = 0; l < b; ++l) {
            int64_t oc = ocb * b + l;
            if (oc >= g->oc) {
                acc[l] = 0;
                continue;
            }
            double s = k->bias ? k->bias[oc] : 0;
            for (int64_t ic = 0; ic < icg; ++ic)
                for (int64_t i = 0; i < g->kh; ++i) {
                    int64_t ih = oh * g->sh - g->ph + i;
                    if (ih < 0 || ih >= g->h) continue;
                    for (int64_t j = 0; j < g->kw; ++j) {
                        int64_t iw = ow * g->sw - g->pw + j;
                        if (iw < 0 || iw >= g->w) continue;
                        s += (double)x_at(k, n, g->depthwise ? oc : ic, ih, iw) * k->w[(oc * icg + ic) * khw + i * g->kw + j];
                    }
                }
            float v = (float)s + (zrow ? zrow[ow * b + l] : 0.f);
            acc[l] = v < g->lo ? g->lo : v > g->hi ? g->hi : v;
        }
        lr_bconv_post(g->act, acc, b);
        memcpy(yrow + ow * b, acc, (size_t)b * sizeof *acc);
    }
    (void)thread;
}

static lr_status bconv_run(const lr_run_ctx *ctx, const lr_node *n) {
    lr_bconv g;
    lr_bconv_of(ctx->model, n, &g);
    bconv_ctx k = {&g, lr_in(ctx, n, 0)->data, lr_in(ctx, n, 1)->data, n->n_in > 2 ? lr_in(ctx, n, 2)->data : NULL,
                   n->n_in > 3 ? lr_in(ctx, n, 3)->data : NULL, lr_out(ctx, n, 0)->data};
    lr_parallel_for(ctx->pool, g.n * g.ocb * g.oh, bconv_task, &k);
    return LR_OK;
}

static bool bconv_usable(const lr_model *m, const lr_node *n) {
    return n->op == LR_OP_BLOCKED_CONV && n->ints[9] <= MAXB && lr_min(m, n, 0)->dtype == LR_FLOAT32;
}

const lr_algo lr_algo_blocked_conv_direct_f32 = {"blocked_conv_direct_f32", LR_OP_BLOCKED_CONV, bconv_usable, NULL, NULL,
                                                  bconv_run, 0};

/* ---- BlockedPooling ------------------------------------------------------------------------------ */

typedef struct bpool_ctx {
    lr_pool_params p;
    int64_t b; /* the block */
} bpool_ctx;

static void bpool_task(void *vctx, int64_t t, int thread) {
    const bpool_ctx *k = vctx;
    const lr_pool_params *c = &k->p;
    int64_t oh = t % c->oh, plane = t / c->oh, b = k->b;
    const float *x = c->x + plane * c->h * c->w * b;
    float *y = c->y + (plane * c->oh + oh) * c->ow * b;
    int64_t h0 = oh * c->sh - c->ph, hs = h0 < 0 ? 0 : h0, he = h0 + c->wh > c->h ? c->h : h0 + c->wh;
    for (int64_t ow = 0; ow < c->ow; ++ow) {
        int64_t w0 = ow * c->sw - c->pw, ws = w0 < 0 ? 0 : w0, we = w0 + c->ww > c->w ? c->w : w0 + c->ww;
        float acc[MAXB];
        for (int64_t l = 0; l < b; ++l) acc[l] = c->mode == 0 ? -INFINITY : 0.f;
        for (int64_t i = hs; i < he; ++i)
            for (int64_t j = ws; j < we; ++j) {
                const float *p = x + (i * c->w + j) * b;
                if (c->mode == 0)
                    for (int64_t l = 0; l < b; ++l) acc[l] = p[l] > acc[l] ? p[l] : acc[l];
                else
                    for (int64_t l = 0; l < b; ++l) acc[l] += p[l];
            }
        if (c->mode != 0) {
            int64_t cnt = c->mode == 1 ? c->wh * c->ww : (he - hs) * (we - ws);
            float inv = cnt > 0 ? 1.f / (float)cnt : 0.f;
            for (int64_t l = 0; l < b; ++l) acc[l] *= inv;
        }
        memcpy(y + ow * b, acc, (size_t)b * sizeof *acc);
    }
    (void)thread;
}

static lr_status bpool_run(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0);
    bpool_ctx c = {lr_pool_params_of(ctx, n), n->ints[7]};
    lr_parallel_for(ctx->pool, x->dims[0] * x->dims[1] * c.p.oh, bpool_task, &c);
    return LR_OK;
}

static bool bpool_usable(const lr_model *m, const lr_node *n) { (void)m; return n->op == LR_OP_BLOCKED_POOLING && n->ints[7] <= MAXB; }

const lr_algo lr_algo_blocked_pooling_f32 = {"blocked_pooling_f32", LR_OP_BLOCKED_POOLING, bpool_usable, NULL, NULL,
                                              bpool_run, 0};

/* ---- which layouts have fast kernels here -------------------------------------------------------- */

const char *lr_layouts(void) {
#if defined(__x86_64__)
    unsigned f = lr_x86_features();
    if (f & LR_X86_AVX512) return "nchw nchw88 nchw16";
    if (f & LR_X86_AVX2_FMA) return "nchw nchw88";
#endif
#if defined(__aarch64__) && defined(__ARM_NEON) && !defined(LR_ARM_NO_NEON)
    return "nchw nchw44"; /* native/arm/f32_{conv,pooling}_nchw44_neon.c */
#endif
    return "nchw";
}
