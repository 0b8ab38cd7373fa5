/* reduce.c: Reduce (float64 accumulation, axes kept), Cumsum, Argmax/Argmin over any dtype. */
#include <math.h>

#include "kernels.h"

static bool any(const lr_model *m, const lr_node *n) { (void)m; (void)n; return true; }

enum { R_SUM, R_SUM_SQR, R_PRODUCT, R_MIN, R_MAX, R_MEAN };

typedef struct red_ctx {
    const lr_tensor *x, *y;
    int mode, nk, nr;
    int64_t kdims[LR_MAX_NDIM], kst[LR_MAX_NDIM]; /* kept dims of x (output order) */
    int64_t rdims[LR_MAX_NDIM], rst[LR_MAX_NDIM]; /* reduced dims, coalesced */
    int64_t count, per;
} red_ctx;

static double reduce_one(const red_ctx *c, int64_t base) {
    int64_t idx[LR_MAX_NDIM] = {0}, inner = c->rdims[c->nr - 1], ist = c->rst[c->nr - 1], rows = c->count / inner, off = base;
    double acc = c->mode == R_PRODUCT ? 1.0 : c->mode == R_MIN ? INFINITY : c->mode == R_MAX ? -INFINITY : 0.0;
    bool f32 = c->x->dtype == LR_FLOAT32;
    const float *xf = c->x->data;
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t j = 0; j < inner; ++j) {
            int64_t at = off + j * ist;
            double v = f32 ? (double)xf[at] : lr_load_f64(c->x->data, c->x->dtype, at);
            switch (c->mode) {
            case R_SUM: case R_MEAN: acc += v; break;
            case R_SUM_SQR: acc += v * v; break;
            case R_PRODUCT: acc *= v; break;
            case R_MIN: acc = (v < acc || isnan(v)) && !isnan(acc) ? v : acc; break;
            case R_MAX: acc = (v > acc || isnan(v)) && !isnan(acc) ? v : acc; break;
            }
        }
        for (int d = c->nr - 2; d >= 0; --d) {
            off += c->rst[d];
            if (++idx[d] < c->rdims[d]) break;
            off -= c->rst[d] * c->rdims[d];
            idx[d] = 0;
        }
    }
    return c->mode == R_MEAN ? acc / (double)c->count : acc;
}

static void red_task(void *vctx, int64_t t, int thread) {
    const red_ctx *c = vctx;
    int64_t per = c->per, o0 = t * per, o1 = o0 + per < c->y->numel ? o0 + per : c->y->numel;
    for (int64_t o = o0; o < o1; ++o) {
        int64_t base = 0, r = o;
        for (int d = c->nk - 1; d >= 0; --d) {
            base += r % c->kdims[d] * c->kst[d];
            r /= c->kdims[d];
        }
        lr_store_f64(c->y->data, c->y->dtype, o, reduce_one(c, base));
    }
    (void)thread;
}

static lr_status run_reduce(const lr_run_ctx *ctx, const lr_node *n) {
    red_ctx c = {lr_in(ctx, n, 0), lr_out(ctx, n, 0), (int)n->ints[0], 0, 0, {0}, {0}, {0}, {0}, 1, 1};
    const lr_tensor *x = c.x;
    int64_t xs[LR_MAX_NDIM], s = 1;
    for (int d = x->ndim - 1; d >= 0; --d) {
        xs[d] = s;
        s *= x->dims[d];
    }
    bool reduced[LR_MAX_NDIM] = {false};
    for (int i = 1; i < n->n_ints; ++i) reduced[n->ints[i]] = true;
    for (int d = 0; d < x->ndim; ++d) {
        if (reduced[d] && x->dims[d] > 1) {
            if (c.nr > 0 && c.rst[c.nr - 1] == xs[d] * x->dims[d]) {
                c.rdims[c.nr - 1] *= x->dims[d];
                c.rst[c.nr - 1] = xs[d];
            } else {
                c.rdims[c.nr] = x->dims[d];
                c.rst[c.nr++] = xs[d];
            }
            c.count *= x->dims[d];
        } else if (!reduced[d]) {
            c.kdims[c.nk] = x->dims[d];
            c.kst[c.nk++] = xs[d];
        }
    }
    if (c.nr == 0) {
        c.rdims[0] = 1;
        c.rst[0] = 0;
        c.nr = 1;
    }
    if (c.nk == 0) {
        c.kdims[0] = 1;
        c.kst[0] = 0;
        c.nk = 1;
    }
    int64_t tasks = c.y->numel < 64 ? c.y->numel : 64;
    c.per = (c.y->numel + tasks - 1) / tasks;
    lr_parallel_for(ctx->pool, (c.y->numel + c.per - 1) / c.per, red_task, &c);
    return LR_OK;
}

const lr_algo lr_algo_reduce_generic = {"reduce_f64acc_generic", LR_OP_REDUCE, any, NULL, NULL, run_reduce, 0};

static void split3(const lr_tensor *x, int ax, int64_t *outer, int64_t *len, int64_t *inner) {
    *outer = *inner = 1;
    for (int d = 0; d < ax; ++d) *outer *= x->dims[d];
    for (int d = ax + 1; d < x->ndim; ++d) *inner *= x->dims[d];
    *len = x->dims[ax];
}

static lr_status run_cumsum(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0);
    lr_tensor *y = lr_out(ctx, n, 0);
    int64_t outer, len, inner;
    split3(x, (int)n->ints[0], &outer, &len, &inner);
    bool excl = n->ints[1] != 0, rev = n->ints[2] != 0;
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            double acc = 0;
            for (int64_t k = 0; k < len; ++k) {
                int64_t kk = rev ? len - 1 - k : k, at = (o * len + kk) * inner + i;
                double v = lr_load_f64(x->data, x->dtype, at);
                if (excl) {
                    lr_store_f64(y->data, y->dtype, at, acc);
                    acc += v;
                } else {
                    acc += v;
                    lr_store_f64(y->data, y->dtype, at, acc);
                }
            }
        }
    return LR_OK;
}

const lr_algo lr_algo_cumsum_generic = {"cumsum_f64acc_generic", LR_OP_CUMSUM, any, NULL, NULL, run_cumsum, 0};

static lr_status run_arg(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0);
    int32_t *y = lr_out(ctx, n, 0)->data;
    bool is_max = n->op == LR_OP_ARGMAX;
    int64_t outer, len, inner;
    split3(x, (int)n->ints[0], &outer, &len, &inner);
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            int64_t best = 0;
            double bv = lr_load_f64(x->data, x->dtype, o * len * inner + i);
            for (int64_t k = 1; k < len && !isnan(bv); ++k) {
                double v = lr_load_f64(x->data, x->dtype, (o * len + k) * inner + i);
                if (isnan(v) || (is_max ? v > bv : v < bv)) {
                    bv = v;
                    best = k;
                }
            }
            y[o * inner + i] = (int32_t)best;
        }
    return LR_OK;
}

const lr_algo lr_algo_argmax_generic = {"argmax_generic", LR_OP_ARGMAX, any, NULL, NULL, run_arg, 0};
const lr_algo lr_algo_argmin_generic = {"argmin_generic", LR_OP_ARGMIN, any, NULL, NULL, run_arg, 0};
