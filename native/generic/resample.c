/* resample.c: Resize (half-pixel LINEAR, NEAREST) and WarpPerspective (bilinear / nearest with
 * the five border modes), float32 with float64 coordinates like the reference. */
#include <math.h>

#include "kernels.h"

static bool any(const lr_model *m, const lr_node *n) { (void)m; (void)n; return true; }

typedef struct rs_ctx {
    const float *x;
    float *y;
    int64_t h, w, oh, ow;
    int mode;
} rs_ctx;

static void linear_coord(int64_t dst, int64_t in, int64_t out, int64_t *i0, int64_t *i1, double *f) {
    double src = ((double)dst + 0.5) * ((double)in / (double)out) - 0.5;
    if (src < 0) src = 0;
    int64_t a = (int64_t)floor(src);
    if (a > in - 1) a = in - 1;
    *i0 = a;
    *i1 = a + 1 < in ? a + 1 : in - 1;
    *f = src - (double)a;
}

static void resize_plane(void *vctx, int64_t t, int thread) {
    const rs_ctx *c = vctx;
    const float *x = c->x + t * c->h * c->w;
    float *y = c->y + t * c->oh * c->ow;
    for (int64_t i = 0; i < c->oh; ++i)
        for (int64_t j = 0; j < c->ow; ++j) {
            if (c->mode == 0) {
                int64_t si = (int64_t)floor((double)i * ((double)c->h / (double)c->oh));
                int64_t sj = (int64_t)floor((double)j * ((double)c->w / (double)c->ow));
                si = si < c->h - 1 ? si : c->h - 1;
                sj = sj < c->w - 1 ? sj : c->w - 1;
                y[i * c->ow + j] = x[si * c->w + sj];
            } else {
                int64_t h0, h1, w0, w1;
                double fh, fw;
                linear_coord(i, c->h, c->oh, &h0, &h1, &fh);
                linear_coord(j, c->w, c->ow, &w0, &w1, &fw);
                double top0 = x[h0 * c->w + w0] * (1 - fh) + x[h1 * c->w + w0] * fh;
                double top1 = x[h0 * c->w + w1] * (1 - fh) + x[h1 * c->w + w1] * fh;
                y[i * c->ow + j] = (float)(top0 * (1 - fw) + top1 * fw);
            }
        }
    (void)thread;
}

static lr_status run_resize(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0), *y = lr_out(ctx, n, 0);
    rs_ctx c = {x->data, y->data, x->dims[2], x->dims[3], y->dims[2], y->dims[3], (int)n->ints[0]};
    lr_parallel_for(ctx->pool, x->dims[0] * x->dims[1], resize_plane, &c);
    return LR_OK;
}

const lr_algo lr_algo_resize_f32 = {"resize_f32", LR_OP_RESIZE, any, NULL, NULL, run_resize, 0};

enum { B_REPLICATE, B_REFLECT, B_REFLECT_101, B_WRAP, B_CONSTANT };

/* Source index for border mode; *valid = 0 where CONSTANT reads the border value. */
static int64_t border_index(int64_t i, int64_t size, int mode, int *valid) {
    *valid = 1;
    if (i >= 0 && i < size) return i;
    switch (mode) {
    case B_REPLICATE: return i < 0 ? 0 : size - 1;
    case B_CONSTANT: *valid = 0; return 0;
    case B_WRAP: { int64_t j = i % size; return j < 0 ? j + size : j; }
    default: break;
    }
    if (size == 1) return 0;
    int64_t period = mode == B_REFLECT ? 2 * size : 2 * size - 2, j = i % period;
    if (j < 0) j += period;
    if (j < size) return j;
    return mode == B_REFLECT ? period - 1 - j : period - j;
}

/* Coordinates are clamped far outside the image first so the integer conversion stays defined. */
static double tame(double v) { return v > 1e9 ? 1e9 : v < -1e9 ? -1e9 : v == v ? v : -1e9; }

typedef struct wp_ctx {
    const float *x, *mat;
    float *y;
    int64_t xn, c, h, w, oh, ow;
    int imode, bmode;
    float bval;
} wp_ctx;

static void warp_plane(void *vctx, int64_t t, int thread) {
    const wp_ctx *c = vctx;
    int64_t b = t / c->c, ch = t % c->c;
    const float *m = c->mat + b * 9;
    const float *x = c->x + ((c->xn > 1 ? b : 0) * c->c + ch) * c->h * c->w;
    float *y = c->y + t * c->oh * c->ow;
    for (int64_t i = 0; i < c->oh; ++i)
        for (int64_t j = 0; j < c->ow; ++j) {
            double den = (double)m[6] * j + (double)m[7] * i + m[8];
            double sx = tame(((double)m[0] * j + (double)m[1] * i + m[2]) / den);
            double sy = tame(((double)m[3] * j + (double)m[4] * i + m[5]) / den);
            int vx, vy;
            if (c->imode == 0) {
                int64_t ix = border_index((int64_t)nearbyint(sx), c->w, c->bmode, &vx);
                int64_t iy = border_index((int64_t)nearbyint(sy), c->h, c->bmode, &vy);
                y[i * c->ow + j] = vx && vy ? x[iy * c->w + ix] : c->bval;
                continue;
            }
            double fx0 = floor(sx), fy0 = floor(sy), fx = sx - fx0, fy = sy - fy0, acc = 0;
            int64_t x0 = (int64_t)fx0, y0 = (int64_t)fy0;
            for (int dy = 0; dy < 2; ++dy)
                for (int dx = 0; dx < 2; ++dx) {
                    int64_t ix = border_index(x0 + dx, c->w, c->bmode, &vx), iy = border_index(y0 + dy, c->h, c->bmode, &vy);
                    double v = vx && vy ? x[iy * c->w + ix] : c->bval;
                    acc += v * (dy ? fy : 1 - fy) * (dx ? fx : 1 - fx);
                }
            y[i * c->ow + j] = (float)acc;
        }
    (void)thread;
}

static lr_status run_warp(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0), *mat = lr_in(ctx, n, 1), *y = lr_out(ctx, n, 0);
    wp_ctx c = {x->data, mat->data, y->data, x->dims[0], x->dims[1], x->dims[2], x->dims[3], y->dims[2], y->dims[3],
                (int)n->ints[2], (int)n->ints[3], (float)n->floats[0]};
    lr_parallel_for(ctx->pool, y->dims[0] * y->dims[1], warp_plane, &c);
    return LR_OK;
}

const lr_algo lr_algo_warp_perspective_f32 = {"warp_perspective_f32", LR_OP_WARP_PERSPECTIVE, any, NULL, NULL, run_warp, 0};
