/* pooling_max_x86.h: MAX pooling (any window up to 16x16, stride 1 or 2) on GNU vectors of VL
 * floats, compiled per ISA (pooling_max_avx512f.c, pooling_max_avx2_fma.c). Per output row: the
 * vertical max of the window's in-bounds input rows into a row buffer padded with -inf (vector
 * loop over the input width), then the horizontal max over the window's taps; stride 2 splits the
 * row buffer into even and odd columns first so every tap is a plain vector load. Padding is
 * ignored as in the generic kernel (NaN inputs are skipped the same way: v > r ? v : r).
 * Define VL, ISA_FEATURES, SUFFIX, SUFFIX_STR before including. */
#include <math.h>
#include <string.h>

#include "cpu_x86.h"
#include "kernels_x86.h"

typedef float vf __attribute__((vector_size(VL * 4)));
typedef int32_t vi __attribute__((vector_size(VL * 4)));
#if VL == 16
#define EVEN_MASK ((vi){0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30})
#define ODD_MASK ((vi){1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31})
#else
#define EVEN_MASK ((vi){0, 2, 4, 6, 8, 10, 12, 14})
#define ODD_MASK ((vi){1, 3, 5, 7, 9, 11, 13, 15})
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

static inline vf ld(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void st(float *p, vf v) { memcpy(p, &v, sizeof v); }
static inline vf vmax(vf a, vf b) { vi gt = b > a; return (vf)(((vi)b & gt) | ((vi)a & ~gt)); }

typedef struct mp_geom {
    int64_t h, w, oh, ow, wh, ww, sh, sw, ph, pw;
    int64_t row;  /* floats of the padded row buffer: pw + w + window + vector slack */
    int64_t half; /* stride 2: floats of each of the even/odd halves */
} mp_geom;

static void mp_geom_of(const lr_model *m, const lr_node *n, mp_geom *g) {
    const lr_tensor *x = lr_min(m, n, 0), *y = lr_mout(m, n, 0);
    const int64_t *a = n->ints;
    *g = (mp_geom){x->dims[2], x->dims[3], y->dims[2], y->dims[3], a[1], a[2], a[3], a[4], a[5], a[6], 0, 0};
    int64_t owv = (g->ow + VL - 1) / VL * VL;
    g->half = owv + g->ww / 2 + VL;
    g->row = 2 * g->half + g->pw + g->w + g->ww + VL;
}

static bool usable(const lr_model *m, const lr_node *n) {
    if (!lr_x86_has(ISA_FEATURES)) return false;
    const lr_tensor *x = lr_min(m, n, 0);
    if (x->dtype != LR_FLOAT32 || x->ndim != 4 || n->n_ints < 7 || n->ints[0] != 0) return false;
    mp_geom g;
    mp_geom_of(m, n, &g);
    return g.wh <= 16 && g.ww <= 16 && (g.sw == 1 || g.sw == 2) && g.ph < g.wh && g.pw < g.ww && g.ow >= VL;
}

static size_t workspace(const lr_model *m, const lr_node *n, int threads) {
    mp_geom g;
    mp_geom_of(m, n, &g);
    return (size_t)threads * (size_t)(g.row + 2 * g.half + 2 * VL) * sizeof(float);
}

typedef struct mp_ctx {
    mp_geom g;
    const float *x;
    float *y, *ws;
} mp_ctx;

static void plane_task(void *vctx, int64_t t, int thread) {
    const mp_ctx *c = vctx;
    const mp_geom *g = &c->g;
    const float *x = c->x + t * g->h * g->w;
    float *y = c->y + t * g->oh * g->ow;
    float *R = c->ws + (size_t)thread * (size_t)(g->row + 2 * g->half + 2 * VL); /* R[pw + iw] = column iw */
    float *E = R + g->row, *O = E + g->half;
    const vf ninf = (vf){0} - INFINITY;
    int64_t padded = g->sw == 1 ? g->ow + g->ww + VL : 2 * g->half;
    for (int64_t i = 0; i < padded + VL && i < g->row; ++i) R[i] = -INFINITY;
    for (int64_t oh = 0; oh < g->oh; ++oh) {
        int64_t h0 = oh * g->sh - g->ph, hs = h0 < 0 ? 0 : h0, he = h0 + g->wh > g->h ? g->h : h0 + g->wh;
        float *r = R + g->pw;
        if (hs >= he) { /* the window is all padding (pad >= window is refused, so never) */
            for (int64_t ow = 0; ow < g->ow; ++ow) y[oh * g->ow + ow] = -INFINITY;
            continue;
        }
        int64_t iw = 0;
        for (; iw + VL <= g->w; iw += VL) {
            vf v = ninf;
            for (int64_t i = hs; i < he; ++i) v = vmax(v, ld(x + i * g->w + iw));
            st(r + iw, v);
        }
        for (; iw < g->w; ++iw) {
            float v = -INFINITY;
            for (int64_t i = hs; i < he; ++i) v = x[i * g->w + iw] > v ? x[i * g->w + iw] : v;
            r[iw] = v;
        }
        float *yr = y + oh * g->ow;
        if (g->sw == 1) {
            for (int64_t ow = 0; ow < g->ow; ow += VL) {
                vf acc = ninf;
                for (int64_t k = 0; k < g->ww; ++k) acc = vmax(acc, ld(R + ow + k));
                if (ow + VL <= g->ow) st(yr + ow, acc);
                else { float tmp[VL]; st(tmp, acc); memcpy(yr + ow, tmp, (size_t)(g->ow - ow) * sizeof(float)); }
            }
        } else {
            int64_t q = 0;
            for (; q + VL <= g->half; q += VL) {
                vf a = ld(R + 2 * q), b = ld(R + 2 * q + VL);
                st(E + q, __builtin_shuffle(a, b, EVEN_MASK));
                st(O + q, __builtin_shuffle(a, b, ODD_MASK));
            }
            for (; q < g->half; ++q) { E[q] = R[2 * q]; O[q] = R[2 * q + 1]; }
            for (int64_t ow = 0; ow < g->ow; ow += VL) { /* column ow*2 + k of R: (k even ? E : O)[ow + k/2] */
                vf acc = ninf;
                for (int64_t k = 0; k < g->ww; ++k) acc = vmax(acc, ld((k & 1 ? O : E) + ow + k / 2));
                if (ow + VL <= g->ow) st(yr + ow, acc);
                else { float tmp[VL]; st(tmp, acc); memcpy(yr + ow, tmp, (size_t)(g->ow - ow) * sizeof(float)); }
            }
        }
    }
}

static lr_status run(const lr_run_ctx *ctx, const lr_node *n) {
    mp_ctx c = {{0}, lr_in(ctx, n, 0)->data, lr_out(ctx, n, 0)->data, ctx->workspace};
    mp_geom_of(ctx->model, n, &c.g);
    const lr_tensor *x = lr_in(ctx, n, 0);
    lr_parallel_for(ctx->pool, x->dims[0] * x->dims[1], plane_task, &c);
    return LR_OK;
}

const lr_algo CAT(lr_algo_pooling_max_f32_, SUFFIX) = {"pooling_max_f32_" SUFFIX_STR, LR_OP_POOLING, usable, workspace,
                                                       NULL, run, 0, 0, NULL};
