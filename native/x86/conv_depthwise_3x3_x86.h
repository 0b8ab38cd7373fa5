/* conv_depthwise_3x3_x86.h: direct depthwise 3x3 convolution, stride 1 or 2, written once over
 * GNU vectors of VL floats and compiled per ISA (conv_depthwise_3x3_avx512f.c, _avx2_fma.c).
 * Each (image, channel) plane is copied once into a zero-padded plane (stride 2: rows split into
 * even and odd columns) so every tap is a plain unaligned vector load; bias, residual and
 * identity/ReLU are applied on the registers. Define VL, ISA_FEATURES, SUFFIX before including. */
#include <math.h>
#include <string.h>

#include "conv_common.h"
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

static inline vf ld(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void st(float *p, vf v) { memcpy(p, &v, sizeof v); }
static inline vf splat(float f) { return (vf){0} + f; }

typedef struct dw_geom {
    int64_t oh_pad, row; /* rows of the padded plane, floats per padded row (both halves for stride 2) */
    int64_t owv;         /* output columns rounded up to VL */
} dw_geom;

static void dw_geom_of(const lr_conv_geom *g, dw_geom *d) {
    d->owv = (g->ow + VL - 1) / VL * VL;
    d->oh_pad = (g->oh - 1) * g->sh + 3;
    d->row = g->sw == 1 ? d->owv + 2 + VL : 2 * (d->owv + 1 + VL);
}

static bool usable(const lr_model *m, const lr_node *n) {
    if (!lr_x86_has(ISA_FEATURES)) return false;
    const lr_tensor *x = lr_min(m, n, 0), *w = lr_min(m, n, 1);
    if (x->dtype != LR_FLOAT32 || w->dtype != LR_FLOAT32 || x->ndim != 4 || w->numel != x->dims[1] * 9) return false;
    for (int i = 2; i < n->n_in; ++i)
        if (lr_min(m, n, i)->dtype != LR_FLOAT32) return false;
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    return g.g == g.c && g.icg == 1 && g.ocg == 1 && g.kh == 3 && g.kw == 3 && g.dh == 1 && g.dw == 1 &&
           g.sh == g.sw && (g.sh == 1 || g.sh == 2) && g.ph <= 2 && g.pw <= 2;
}

static size_t workspace(const lr_model *m, const lr_node *n, int threads) {
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    dw_geom d;
    dw_geom_of(&g, &d);
    return (size_t)threads * ((size_t)(d.oh_pad * d.row) + d.row + 2 * VL) * sizeof(float);
}

typedef struct dw_ctx {
    const lr_conv_geom *g;
    const lr_conv_epilogue *e;
    dw_geom d;
    const float *x, *w;
    float *y, *ws;
    bool fused;
    float lo, hi;
} dw_ctx;

/* padded plane: P[r][c] = x[r - ph][c - pw] (0 outside); stride 2 keeps even columns then odd. */
static void pad_plane(const dw_ctx *c, const float *x, float *P) {
    const lr_conv_geom *g = c->g;
    int64_t half = c->d.owv + 1 + VL, width = g->sw == 1 ? c->d.row : 2 * half;
    for (int64_t r = 0; r < c->d.oh_pad; ++r) {
        float *pr = P + r * c->d.row;
        int64_t ih = r - g->ph;
        if (ih < 0 || ih >= g->h) {
            memset(pr, 0, (size_t)c->d.row * sizeof(float));
            continue;
        }
        const float *xr = x + ih * g->w;
        if (g->sw == 1) {
            int64_t hi = g->w + g->pw < width ? g->w + g->pw : width;
            memset(pr, 0, (size_t)g->pw * sizeof(float));
            memcpy(pr + g->pw, xr, (size_t)(hi - g->pw) * sizeof(float));
            if (hi < width) memset(pr + hi, 0, (size_t)(width - hi) * sizeof(float));
        } else { /* the padded row in a line buffer, then even/odd split VL pairs at a time */
            float *line = P + c->d.oh_pad * c->d.row, *ev = pr, *od = pr + half;
            int64_t len = 2 * half, hi = g->w + g->pw < len ? g->w + g->pw : len;
            memset(line, 0, (size_t)g->pw * sizeof(float));
            memcpy(line + g->pw, xr, (size_t)(hi - g->pw) * sizeof(float));
            if (hi < len) memset(line + hi, 0, (size_t)(len - hi) * sizeof(float));
            int64_t t = 0;
            for (; t + VL <= half; t += VL) {
                vf a = ld(line + 2 * t), b = ld(line + 2 * t + VL);
                st(ev + t, __builtin_shuffle(a, b, EVEN_MASK));
                st(od + t, __builtin_shuffle(a, b, ODD_MASK));
            }
            for (; t < half; ++t) {
                ev[t] = line[2 * t];
                od[t] = line[2 * t + 1];
            }
        }
    }
}

static void plane_task(void *vctx, int64_t t, int thread) {
    const dw_ctx *c = vctx;
    const lr_conv_geom *g = c->g;
    const lr_conv_epilogue *e = c->e;
    int64_t n = t / g->c, ch = t % g->c;
    float *P = c->ws + (size_t)thread * ((size_t)(c->d.oh_pad * c->d.row) + c->d.row + 2 * VL);
    pad_plane(c, c->x + t * g->h * g->w, P);
    float wk[9];
    for (int i = 0; i < 9; ++i) wk[i] = c->w[ch * 9 + (g->flip ? 8 - i : i)];
    vf w0 = splat(wk[0]), w1 = splat(wk[1]), w2 = splat(wk[2]), w3 = splat(wk[3]), w4 = splat(wk[4]);
    vf w5 = splat(wk[5]), w6 = splat(wk[6]), w7 = splat(wk[7]), w8 = splat(wk[8]);
    float b = c->fused && e->bias ? e->bias[n * e->bst[0] + ch * e->bst[1]] : 0.f;
    vf vb = splat(b), vlo = splat(c->lo), vhi = splat(c->hi);
    const float *z = c->fused && e->z ? e->z + n * e->zst[0] + ch * e->zst[1] : NULL;
    float *y = c->y + t * g->oh * g->ow;
    int64_t half = c->d.owv + 1 + VL;
    for (int64_t oh = 0; oh < g->oh; ++oh) {
        const float *r0 = P + oh * g->sh * c->d.row, *r1 = r0 + c->d.row, *r2 = r1 + c->d.row;
        float *yr = y + oh * g->ow;
        const float *zr = z ? z + oh * g->ow : NULL;
        for (int64_t ow = 0; ow < g->ow; ow += VL) {
            vf acc = vb;
            if (g->sw == 1) {
                acc += w0 * ld(r0 + ow) + w1 * ld(r0 + ow + 1) + w2 * ld(r0 + ow + 2);
                acc += w3 * ld(r1 + ow) + w4 * ld(r1 + ow + 1) + w5 * ld(r1 + ow + 2);
                acc += w6 * ld(r2 + ow) + w7 * ld(r2 + ow + 1) + w8 * ld(r2 + ow + 2);
            } else {
                acc += w0 * ld(r0 + ow) + w1 * ld(r0 + half + ow) + w2 * ld(r0 + ow + 1);
                acc += w3 * ld(r1 + ow) + w4 * ld(r1 + half + ow) + w5 * ld(r1 + ow + 1);
                acc += w6 * ld(r2 + ow) + w7 * ld(r2 + half + ow) + w8 * ld(r2 + ow + 1);
            }
            /* tails (every row of a plane narrower than VL) stay on the vector: a per-element
             * clamp branches on the data and mispredicts on relu6 activations */
            int64_t len = g->ow - ow < VL ? g->ow - ow : VL;
            if (zr) {
                float zt[VL] = {0};
                if (len < VL) memcpy(zt, zr + ow, (size_t)len * sizeof(float));
                acc += len == VL ? ld(zr + ow) : ld(zt);
            }
            if (c->fused) {
                vi gt = acc > vlo, lt = acc < vhi;
                acc = (vf)(((vi)acc & gt) | ((vi)vlo & ~gt));
                acc = (vf)(((vi)acc & lt) | ((vi)vhi & ~lt));
            }
            if (len == VL) {
                st(yr + ow, acc);
            } else {
                float tmp[VL];
                st(tmp, acc);
                memcpy(yr + ow, tmp, (size_t)len * sizeof(float));
            }
        }
    }
    if (!c->fused && e->fast) lr_conv_epilogue_row(e, g, n, ch, y, 0, g->oh * g->ow);
}

static lr_status run(const lr_run_ctx *ctx, const lr_node *n) {
    lr_conv_geom g;
    lr_conv_geom_of(ctx->model, n, &g);
    lr_conv_epilogue e;
    lr_conv_epilogue_of(ctx, n, &g, &e);
    dw_ctx c = {&g, &e, {0, 0, 0}, lr_in(ctx, n, 0)->data, lr_in(ctx, n, 1)->data, lr_out(ctx, n, 0)->data,
                ctx->workspace, false, -INFINITY, INFINITY};
    dw_geom_of(&g, &c.d);
    c.fused = e.fast && e.clamp;
    c.lo = e.lo;
    c.hi = e.hi;
    lr_parallel_for(ctx->pool, g.n * g.c, plane_task, &c);
    if (!e.fast) lr_conv_epilogue_all(ctx, &e, &g, c.y);
    return LR_OK;
}

const lr_algo CAT(lr_algo_conv_depthwise_3x3_f32_, SUFFIX) = {
    "conv_depthwise_3x3_f32_" SUFFIX_STR, LR_OP_CONV, usable, workspace, NULL, run, 0, 0, NULL};
