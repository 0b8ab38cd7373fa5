/* elemwise.c: Elemwise (numpy broadcasting, every mode, every dtype) and PowC.
 *
 * Shapes are coalesced into the fewest dims; the innermost dim runs as a flat loop specialised for
 * contiguous / scalar operands so the common float32 modes vectorise. Other dtypes go through the
 * float64 / int64 scalar definitions of elemwise_math.h.
 */
#include <math.h>
#include <string.h>

#include "elemwise_math.h"
#include "kernels.h"

#define MAXIN 4
#define GRAIN 16384

typedef struct ew_plan {
    int mode, n_in, ndim;
    lr_dtype in_dt, out_dt;
    int64_t shape[LR_MAX_NDIM];
    int64_t st[MAXIN][LR_MAX_NDIM];
    const void *src[MAXIN];
    void *dst;
    int64_t rows, inner, blocks_per_row, total_blocks, block;
} ew_plan;

static void make_plan(const lr_run_ctx *ctx, const lr_node *n, int mode, ew_plan *p) {
    const lr_tensor *y = lr_out(ctx, n, 0);
    p->mode = mode;
    p->n_in = n->n_in;
    p->in_dt = lr_in(ctx, n, 0)->dtype;
    p->out_dt = y->dtype;
    p->dst = y->data;
    int nd = y->ndim;
    int64_t shape[LR_MAX_NDIM], st[MAXIN][LR_MAX_NDIM];
    for (int i = 0; i < p->n_in; ++i) {
        const lr_tensor *t = lr_in(ctx, n, i);
        p->src[i] = t->data;
        int64_t s = 1;
        for (int d = nd - 1; d >= 0; --d) {
            int td = d - (nd - t->ndim);
            int64_t dim = td >= 0 ? t->dims[td] : 1;
            st[i][d] = dim == 1 ? 0 : s;
            s *= dim;
        }
    }
    /* coalesce: drop size-1 dims, merge neighbours that are contiguous for every operand */
    int k = 0;
    for (int d = 0; d < nd; ++d) {
        if (y->dims[d] == 1) continue;
        bool merge = k > 0;
        for (int i = 0; i < p->n_in && merge; ++i) merge = p->st[i][k - 1] == st[i][d] * y->dims[d];
        if (merge) {
            for (int i = 0; i < p->n_in; ++i) p->st[i][k - 1] = st[i][d];
            p->shape[k - 1] *= y->dims[d];
        } else {
            for (int i = 0; i < p->n_in; ++i) p->st[i][k] = st[i][d];
            p->shape[k++] = y->dims[d];
        }
    }
    if (k == 0) {
        p->shape[0] = 1;
        for (int i = 0; i < p->n_in; ++i) p->st[i][0] = 0;
        k = 1;
    }
    p->ndim = k;
    p->inner = p->shape[k - 1];
    p->rows = 1;
    for (int d = 0; d < k - 1; ++d) p->rows *= p->shape[d];
    p->block = p->inner < GRAIN ? p->inner : GRAIN;
    p->blocks_per_row = (p->inner + p->block - 1) / p->block;
    p->total_blocks = p->rows * p->blocks_per_row;
    (void)shape;
}

/* ---- float32 inner loops ---- */

#define LOOP1(EXPR) \
    for (int64_t j = 0; j < len; ++j) { float x = a[0][j * s[0]]; o[j] = (EXPR); }

#define LOOP2(EXPR)                                                                             \
    if (s[0] == 1 && s[1] == 1) {                                                               \
        for (int64_t j = 0; j < len; ++j) { float x = a[0][j], y = a[1][j]; o[j] = (EXPR); }     \
    } else if (s[0] == 1 && s[1] == 0) {                                                        \
        const float y = a[1][0];                                                                \
        for (int64_t j = 0; j < len; ++j) { float x = a[0][j]; o[j] = (EXPR); }                 \
    } else if (s[0] == 0 && s[1] == 1) {                                                        \
        const float x = a[0][0];                                                                \
        for (int64_t j = 0; j < len; ++j) { float y = a[1][j]; o[j] = (EXPR); }                 \
    } else {                                                                                    \
        for (int64_t j = 0; j < len; ++j) { float x = a[0][j * s[0]], y = a[1][j * s[1]]; o[j] = (EXPR); } \
    }

static inline float relu6f(float v) { return v < 0 ? 0 : v > 6 ? 6 : v; }

static void f32_inner(int mode, int n_in, int64_t len, const float *const *a, const int64_t *s, void *out, bool bool_out) {
    if (bool_out) {
        uint8_t *o = out;
        switch (mode) {
        case LR_EW_LT: LOOP2(x < y) return;
        case LR_EW_LEQ: LOOP2(x <= y) return;
        case LR_EW_EQ: LOOP2(x == y) return;
        case LR_EW_NEQ: LOOP2(x != y) return;
        case LR_EW_ISNAN: LOOP1(isnan(x)) return;
        case LR_EW_ISINF: LOOP1(isinf(x)) return;
        }
        return;
    }
    float *o = out;
    switch (mode) {
    case LR_EW_ADD: LOOP2(x + y) return;
    case LR_EW_SUB: LOOP2(x - y) return;
    case LR_EW_MUL: LOOP2(x * y) return;
    case LR_EW_TRUE_DIV: LOOP2(x / y) return;
    case LR_EW_MAX: LOOP2(x > y || isnan(x) ? x : y) return;
    case LR_EW_MIN: LOOP2(x < y || isnan(x) ? x : y) return;
    case LR_EW_FUSE_ADD_RELU: LOOP2(x + y > 0 ? x + y : 0) return;
    case LR_EW_FUSE_ADD_SIGMOID: LOOP2(1.f / (1.f + expf(-(x + y)))) return;
    case LR_EW_FUSE_ADD_TANH: LOOP2(tanhf(x + y)) return;
    case LR_EW_FUSE_ADD_H_SWISH: LOOP2((x + y) * relu6f(x + y + 3) / 6) return;
    case LR_EW_SWITCH_GT0: LOOP2(x > 0 ? y : 0) return;
    case LR_EW_PRELU: LOOP2(x > 0 ? x : x * y) return;
    case LR_EW_RELU: LOOP1(x > 0 ? x : 0) return;
    case LR_EW_ABS: LOOP1(fabsf(x)) return;
    case LR_EW_NEGATE: LOOP1(-x) return;
    case LR_EW_SQUARE: LOOP1(x * x) return;
    case LR_EW_RELU6: LOOP1(relu6f(x)) return;
    case LR_EW_H_SWISH: LOOP1(x * relu6f(x + 3) / 6) return;
    case LR_EW_HSIGMOID: LOOP1(relu6f(x + 3) / 6) return;
    case LR_EW_SIGMOID: LOOP1(1.f / (1.f + expf(-x))) return;
    case LR_EW_SILU: LOOP1(x / (1.f + expf(-x))) return;
    case LR_EW_EXP: LOOP1(expf(x)) return;
    case LR_EW_LOG: LOOP1(logf(x)) return;
    case LR_EW_TANH: LOOP1(tanhf(x)) return;
    case LR_EW_FLOOR: LOOP1(floorf(x)) return;
    case LR_EW_CEIL: LOOP1(ceilf(x)) return;
    case LR_EW_SQRT: LOOP1(sqrtf(x)) return;
    case LR_EW_FAST_TANH: LOOP1(x * (27 + x * x) / (27 + 9 * x * x)) return;
    }
    /* everything else: the float64 definition, per element */
    for (int64_t j = 0; j < len; ++j) {
        double v[MAXIN] = {0, 0, 0, 0};
        for (int i = 0; i < n_in; ++i) v[i] = a[i][j * s[i]];
        o[j] = (float)lr_ew_f64(mode, v[0], v[1], v[2], v[3]);
    }
}

/* ---- any dtype ---- */

static void any_inner(const ew_plan *p, int64_t len, const int64_t *base, const int64_t *s, int64_t out_off) {
    bool exact = !lr_dtype_is_float(p->in_dt) && lr_ew_int_exact(p->mode);
    for (int64_t j = 0; j < len; ++j) {
        if (exact) {
            int64_t v[MAXIN] = {0, 0, 0, 0};
            for (int i = 0; i < p->n_in; ++i) v[i] = lr_load_i64(p->src[i], p->in_dt, base[i] + j * s[i]);
            lr_store_i64(p->dst, p->out_dt, out_off + j, lr_ew_i64(p->mode, v[0], v[1], v[2], v[3]));
        } else {
            double v[MAXIN] = {0, 0, 0, 0};
            for (int i = 0; i < p->n_in; ++i) v[i] = lr_load_f64(p->src[i], p->in_dt, base[i] + j * s[i]);
            lr_store_f64(p->dst, p->out_dt, out_off + j, lr_ew_f64(p->mode, v[0], v[1], v[2], v[3]));
        }
    }
}

static void block_task(void *vctx, int64_t t, int thread) {
    const ew_plan *p = vctx;
    int64_t row = t / p->blocks_per_row, j0 = t % p->blocks_per_row * p->block;
    int64_t len = p->inner - j0 < p->block ? p->inner - j0 : p->block;
    int64_t base[MAXIN] = {0, 0, 0, 0}, s[MAXIN] = {0, 0, 0, 0}, r = row;
    for (int d = p->ndim - 2; d >= 0; --d) {
        int64_t idx = r % p->shape[d];
        r /= p->shape[d];
        for (int i = 0; i < p->n_in; ++i) base[i] += idx * p->st[i][d];
    }
    for (int i = 0; i < p->n_in; ++i) {
        s[i] = p->st[i][p->ndim - 1];
        base[i] += j0 * s[i];
    }
    int64_t out_off = row * p->inner + j0;
    if (p->in_dt == LR_FLOAT32 && (p->out_dt == LR_FLOAT32 || p->out_dt == LR_BOOL)) {
        const float *a[MAXIN] = {0};
        for (int i = 0; i < p->n_in; ++i) a[i] = (const float *)p->src[i] + base[i];
        void *o = p->out_dt == LR_BOOL ? (void *)((uint8_t *)p->dst + out_off) : (void *)((float *)p->dst + out_off);
        f32_inner(p->mode, p->n_in, len, a, s, o, p->out_dt == LR_BOOL);
    } else {
        any_inner(p, len, base, s, out_off);
    }
    (void)thread;
}

typedef struct group_ctx {
    const ew_plan *p;
    int64_t per_task;
} group_ctx;

static void group_task(void *vctx, int64_t t, int thread) {
    const group_ctx *g = vctx;
    int64_t b0 = t * g->per_task, b1 = b0 + g->per_task;
    if (b1 > g->p->total_blocks) b1 = g->p->total_blocks;
    for (int64_t b = b0; b < b1; ++b) block_task((void *)g->p, b, thread);
}

static lr_status run_elemwise(const lr_run_ctx *ctx, const lr_node *n) {
    ew_plan p;
    make_plan(ctx, n, (int)n->ints[0], &p);
    int64_t numel = lr_out(ctx, n, 0)->numel;
    /* one task per ~GRAIN elements; a tiny tensor stays on the caller */
    int64_t blocks_per_task = p.inner >= GRAIN ? 1 : (GRAIN + p.inner - 1) / p.inner;
    group_ctx g = {&p, blocks_per_task};
    int64_t tasks = (p.total_blocks + blocks_per_task - 1) / blocks_per_task;
    if (numel < GRAIN) tasks = 1, g.per_task = p.total_blocks;
    lr_parallel_for(ctx->pool, tasks, group_task, &g);
    return LR_OK;
}

static bool any(const lr_model *m, const lr_node *n) { (void)m; (void)n; return true; }

const lr_algo lr_algo_elemwise_generic = {"elemwise_broadcast_generic", LR_OP_ELEMWISE, any, NULL, NULL, run_elemwise, 0xF};

/* ---- PowC ---- */

typedef struct pow_ctx {
    const float *x;
    float *y;
    float e;
    int64_t n;
} pow_ctx;

static void pow_task(void *vctx, int64_t t, int thread) {
    const pow_ctx *c = vctx;
    int64_t j0 = t * GRAIN, j1 = j0 + GRAIN < c->n ? j0 + GRAIN : c->n;
    const float *x = c->x;
    float *y = c->y, e = c->e;
    if (e == 2.f) for (int64_t j = j0; j < j1; ++j) y[j] = x[j] * x[j];
    else if (e == 3.f) for (int64_t j = j0; j < j1; ++j) y[j] = x[j] * x[j] * x[j];
    else if (e == 1.f) for (int64_t j = j0; j < j1; ++j) y[j] = x[j];
    else if (e == 0.5f) for (int64_t j = j0; j < j1; ++j) y[j] = sqrtf(x[j]);
    else if (e == -1.f) for (int64_t j = j0; j < j1; ++j) y[j] = 1.f / x[j];
    else for (int64_t j = j0; j < j1; ++j) y[j] = (float)pow(x[j], c->e);
    (void)thread;
}

static lr_status run_powc(const lr_run_ctx *ctx, const lr_node *n) {
    pow_ctx c = {lr_in(ctx, n, 0)->data, lr_out(ctx, n, 0)->data, (float)n->floats[0], lr_out(ctx, n, 0)->numel};
    lr_parallel_for(ctx->pool, (c.n + GRAIN - 1) / GRAIN, pow_task, &c);
    return LR_OK;
}

const lr_algo lr_algo_powc_f32 = {"powc_f32", LR_OP_POWC, any, NULL, NULL, run_powc, true};
