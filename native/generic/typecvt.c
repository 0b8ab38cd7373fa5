/* typecvt.c: TypeCvt between every pair of dtypes (float -> int truncates toward zero and
 * saturates), with flat fast paths for the float32 <-> float16 / int32 pairs. */
#include "kernels.h"

#define GRAIN 65536

typedef struct cvt_ctx {
    const void *x;
    void *y;
    lr_dtype from, to;
    int64_t n;
} cvt_ctx;

static void cvt_task(void *vctx, int64_t t, int thread) {
    const cvt_ctx *c = vctx;
    int64_t j0 = t * GRAIN, j1 = j0 + GRAIN < c->n ? j0 + GRAIN : c->n;
    if (c->from == LR_FLOAT32 && c->to == LR_FLOAT16) {
        for (int64_t j = j0; j < j1; ++j) ((uint16_t *)c->y)[j] = lr_float_to_half(((const float *)c->x)[j]);
    } else if (c->from == LR_FLOAT16 && c->to == LR_FLOAT32) {
        for (int64_t j = j0; j < j1; ++j) ((float *)c->y)[j] = lr_half_to_float(((const uint16_t *)c->x)[j]);
    } else if (c->from == LR_INT32 && c->to == LR_FLOAT32) {
        for (int64_t j = j0; j < j1; ++j) ((float *)c->y)[j] = (float)((const int32_t *)c->x)[j];
    } else if (lr_dtype_is_float(c->from) || c->to == LR_FLOAT32 || c->to == LR_FLOAT16) {
        for (int64_t j = j0; j < j1; ++j) lr_store_f64(c->y, c->to, j, lr_load_f64(c->x, c->from, j));
    } else {
        for (int64_t j = j0; j < j1; ++j) lr_store_i64(c->y, c->to, j, lr_load_i64(c->x, c->from, j));
    }
    (void)thread;
}

static lr_status run(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0);
    lr_tensor *y = lr_out(ctx, n, 0);
    cvt_ctx c = {x->data, y->data, x->dtype, y->dtype, y->numel};
    lr_parallel_for(ctx->pool, (c.n + GRAIN - 1) / GRAIN, cvt_task, &c);
    return LR_OK;
}

static bool any(const lr_model *m, const lr_node *n) { (void)m; (void)n; return true; }

const lr_algo lr_algo_typecvt_generic = {"typecvt_generic", LR_OP_TYPECVT, any, NULL, NULL, run, 0};

static lr_status run_linspace(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *a = lr_in(ctx, n, 0), *b = lr_in(ctx, n, 1);
    lr_tensor *y = lr_out(ctx, n, 0);
    double start = lr_load_f64(a->data, a->dtype, 0), stop = lr_load_f64(b->data, b->dtype, 0);
    int64_t num = n->ints[0];
    bool endpoint = n->ints[1] != 0;
    int64_t div = endpoint ? num - 1 : num;
    double step = div > 0 ? (stop - start) / (double)div : 0.0;
    float *o = y->data;
    for (int64_t i = 0; i < num; ++i) o[i] = (float)(start + (double)i * step);
    if (endpoint && num > 1) o[num - 1] = (float)stop;
    return LR_OK;
}

const lr_algo lr_algo_linspace = {"linspace_f32", LR_OP_LINSPACE, any, NULL, NULL, run_linspace, 0};
