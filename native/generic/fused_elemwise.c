/* fused_elemwise.c: the JIT level 1 and 2 fused operators (docs/compile.md).
 *
 * FusedElemwise streams the output once: each block of LR_FUSED_BLOCK elements runs the whole
 * program in stack registers (contiguous views are read in place), and blocks split across the
 * pool. FusedSoftmax / FusedLayerNorm / FusedMean evaluate the program into their line / row /
 * plane and reduce it while it is in cache.
 */
#include <math.h>
#include <string.h>

#include "elemwise_math.h"
#include "fused_program.h"
#include "kernels.h"

#define GRAIN 16384

int64_t lr_fused_program_ints(const int64_t *p, int64_t avail) {
    if (avail < 4) return -1;
    int64_t nv = p[0], ni = p[1], no = p[3];
    if (nv < 1 || nv > LR_FUSED_MAX_VIEWS || ni < 0 || ni > 4096 || no < 1 || no > LR_FUSED_MAX_OUTPUTS) return -1;
    return 4 + nv * LR_FUSED_VIEW_INTS + ni * LR_FUSED_INSTR_INTS + no;
}

void lr_fused_program_bind(lr_fused_program *pr, const lr_run_ctx *ctx, const lr_node *n, const int64_t *p, const double *f) {
    pr->n_views = (int)p[0];
    pr->n_instr = (int)p[1];
    pr->n_regs = (int)p[2];
    pr->n_out = (int)p[3];
    pr->floats = f;
    pr->vapply = NULL;
    const int64_t *v = p + 4;
    pr->numel = 1;
    for (int k = 0; k < pr->n_views; ++k, v += LR_FUSED_VIEW_INTS) {
        lr_fused_view *w = &pr->views[k];
        w->base = lr_in(ctx, n, (int)v[0])->data;
        w->ndim = (int)v[1];
        bool scalar = true;
        int64_t numel = 1;
        for (int d = 0; d < w->ndim; ++d) {
            w->dims[d] = v[2 + d];
            w->st[d] = v[2 + LR_MAX_NDIM + d];
            scalar = scalar && w->st[d] == 0;
            numel *= w->dims[d];
        }
        pr->numel = numel;
        w->kind = scalar ? 1 : (w->ndim == 1 && w->st[0] == 1) ? 0 : 2;
    }
    pr->instr = v;
    const int64_t *o = v + (int64_t)pr->n_instr * LR_FUSED_INSTR_INTS;
    for (int k = 0; k < pr->n_out; ++k) pr->out_reg[k] = (int)o[k];
}

static void gather(const lr_fused_view *w, int64_t i0, int64_t len, float *dst) {
    int64_t idx[LR_MAX_NDIM], r = i0, off = 0;
    int nd = w->ndim;
    for (int d = nd - 1; d >= 0; --d) {
        idx[d] = r % w->dims[d];
        r /= w->dims[d];
        off += idx[d] * w->st[d];
    }
    int64_t inner = w->dims[nd - 1], ist = w->st[nd - 1];
    for (int64_t j = 0; j < len;) {
        int64_t run = inner - idx[nd - 1];
        if (run > len - j) run = len - j;
        const float *s = w->base + off;
        if (ist == 0) {
            float x = s[0];
            for (int64_t t = 0; t < run; ++t) dst[j + t] = x;
        } else if (ist == 1) {
            memcpy(dst + j, s, (size_t)run * sizeof(float));
        } else {
            for (int64_t t = 0; t < run; ++t) dst[j + t] = s[t * ist];
        }
        j += run;
        off += run * ist;
        idx[nd - 1] += run;
        for (int d = nd - 1; d > 0 && idx[d] == w->dims[d]; --d) { /* carry */
            off -= idx[d] * w->st[d];
            idx[d] = 0;
            idx[d - 1]++;
            off += w->st[d - 1];
        }
    }
}

static inline float relu6f(float v) { return v < 0 ? 0 : v > 6 ? 6 : v; }

#define L1(EXPR) for (int64_t j = 0; j < len; ++j) { float x = a[j]; o[j] = (EXPR); } return
#define L2(EXPR) for (int64_t j = 0; j < len; ++j) { float x = a[j], y = b[j]; o[j] = (EXPR); } return
#define L3(EXPR) for (int64_t j = 0; j < len; ++j) { float x = a[j], y = b[j], z = c[j]; o[j] = (EXPR); } return

static void apply(int mode, int64_t len, float *o, const float *a, const float *b, const float *c, const float *d) {
    switch (mode) {
    case LR_EW_ADD: L2(x + y);
    case LR_EW_SUB: L2(x - y);
    case LR_EW_MUL: L2(x * y);
    case LR_EW_TRUE_DIV: L2(x / y);
    case LR_EW_MAX: L2(x > y || isnan(x) ? x : y);
    case LR_EW_MIN: L2(x < y || isnan(x) ? x : y);
    case LR_EW_FUSE_ADD_RELU: L2(x + y > 0 ? x + y : 0);
    case LR_EW_FUSE_ADD_SIGMOID: L2(1.f / (1.f + expf(-(x + y))));
    case LR_EW_FUSE_ADD_TANH: L2(tanhf(x + y));
    case LR_EW_FUSE_ADD_H_SWISH: L2((x + y) * relu6f(x + y + 3) / 6);
    case LR_EW_SWITCH_GT0: L2(x > 0 ? y : 0);
    case LR_EW_PRELU: L2(x > 0 ? x : x * y);
    case LR_EW_FUSE_MUL_ADD3: L3(x * y + z);
    case LR_EW_CLIP: L3(x > y || isnan(x) ? (x < z || isnan(x) ? x : z) : (y < z ? y : z));
    case LR_EW_RELU: L1(x > 0 ? x : 0);
    case LR_EW_ABS: L1(fabsf(x));
    case LR_EW_NEGATE: L1(-x);
    case LR_EW_SQUARE: L1(x * x);
    case LR_EW_RELU6: L1(relu6f(x));
    case LR_EW_H_SWISH: L1(x * relu6f(x + 3) / 6);
    case LR_EW_HSIGMOID: L1(relu6f(x + 3) / 6);
    case LR_EW_SIGMOID: L1(1.f / (1.f + expf(-x)));
    case LR_EW_SILU: L1(x / (1.f + expf(-x)));
    case LR_EW_EXP: L1(expf(x));
    case LR_EW_LOG: L1(logf(x));
    case LR_EW_LOG1P: L1(log1pf(x));
    case LR_EW_TANH: L1(tanhf(x));
    case LR_EW_FLOOR: L1(floorf(x));
    case LR_EW_CEIL: L1(ceilf(x));
    case LR_EW_SQRT: L1(sqrtf(x));
    case LR_EW_GELU: L1(x * 0.5f * (1.f + erff(x * (float)M_SQRT1_2)));
    case LR_EW_FAST_TANH: L1(x * (27 + x * x) / (27 + 9 * x * x));
    }
    /* every other mode: the float64 definition, per element */
    for (int64_t j = 0; j < len; ++j)
        o[j] = (float)lr_ew_f64(mode, a[j], b ? b[j] : 0, c ? c[j] : 0, d ? d[j] : 0);
}

void lr_fused_eval(const lr_fused_program *pr, int64_t i0, int64_t i1, float *const *outs) {
    float buf[LR_FUSED_MAX_REGS][LR_FUSED_BLOCK] __attribute__((aligned(64)));
    const float *reg[LR_FUSED_MAX_REGS];
    int out_of[LR_FUSED_MAX_REGS];
    for (int r = 0; r < pr->n_regs; ++r) out_of[r] = -1;
    for (int k = 0; k < pr->n_out; ++k) out_of[pr->out_reg[k]] = k;
    for (int k = 0; k < pr->n_views; ++k) /* scalars: filled once per call, never overwritten (dst >= n_views) */
        if (pr->views[k].kind == 1)
            for (int64_t j = 0; j < LR_FUSED_BLOCK; ++j) buf[k][j] = pr->views[k].base[0];
    for (int64_t b0 = i0; b0 < i1; b0 += LR_FUSED_BLOCK) {
        int64_t len = i1 - b0 < LR_FUSED_BLOCK ? i1 - b0 : LR_FUSED_BLOCK;
        for (int k = 0; k < pr->n_views; ++k) {
            const lr_fused_view *w = &pr->views[k];
            if (w->kind == 0) {
                reg[k] = w->base + b0;
            } else if (w->kind == 1) {
                reg[k] = buf[k];
            } else if (w->kind == 3) { /* flat, but output 0 overwrites it in place: read it first */
                memcpy(buf[k], w->base + b0, (size_t)len * sizeof(float));
                reg[k] = buf[k];
            } else {
                gather(w, b0, len, buf[k]);
                reg[k] = buf[k];
            }
        }
        const int64_t *in = pr->instr;
        for (int t = 0; t < pr->n_instr; ++t, in += LR_FUSED_INSTR_INTS) {
            int dst = (int)in[2];
            float *o = out_of[dst] >= 0 ? outs[out_of[dst]] + (b0 - i0) : buf[dst];
            const float *s0 = reg[in[3]];
            switch (in[0]) {
            case LR_FK_ELEMWISE:
                if (pr->vapply && pr->vapply((int)in[1], len, o, s0, in[4] >= 0 ? reg[in[4]] : NULL)) break;
                apply((int)in[1], len, o, s0, in[4] >= 0 ? reg[in[4]] : NULL, in[5] >= 0 ? reg[in[5]] : NULL,
                      in[6] >= 0 ? reg[in[6]] : NULL);
                break;
            case LR_FK_POWC: {
                double e = pr->floats[in[1]];
                if (e == 2.0) for (int64_t j = 0; j < len; ++j) o[j] = s0[j] * s0[j];
                else if (e == 0.5) for (int64_t j = 0; j < len; ++j) o[j] = sqrtf(s0[j]);
                else for (int64_t j = 0; j < len; ++j) o[j] = (float)pow(s0[j], e);
                break;
            }
            case LR_FK_ROUND_F16:
                for (int64_t j = 0; j < len; ++j) o[j] = lr_half_to_float(lr_float_to_half(s0[j]));
                break;
            default:
                memcpy(o, s0, (size_t)len * sizeof(float));
            }
            reg[dst] = o;
        }
    }
}

/* ---- FusedElemwise ---- */

typedef struct ew_ctx {
    const lr_fused_program *pr;
    float *outs[LR_FUSED_MAX_OUTPUTS];
    int64_t per;
} ew_ctx;

static void ew_task(void *vctx, int64_t t, int thread) {
    const ew_ctx *c = vctx;
    int64_t i0 = t * c->per, i1 = i0 + c->per < c->pr->numel ? i0 + c->per : c->pr->numel;
    float *outs[LR_FUSED_MAX_OUTPUTS];
    for (int k = 0; k < c->pr->n_out; ++k) outs[k] = c->outs[k] + i0;
    lr_fused_eval(c->pr, i0, i1, outs);
    (void)thread;
}

lr_status lr_fused_elemwise_run_with(const lr_run_ctx *ctx, const lr_node *n, lr_fused_vapply_fn vap) {
    lr_fused_program pr;
    lr_fused_program_bind(&pr, ctx, n, n->ints, n->floats);
    pr.vapply = vap;
    ew_ctx c = {&pr, {0}, GRAIN};
    for (int k = 0; k < pr.n_out; ++k) c.outs[k] = lr_out(ctx, n, k)->data;
    for (int k = 0; k < pr.n_views; ++k) /* the memory plan may put output 0 over an input (inplace_inputs) */
        if (pr.views[k].kind == 0 && pr.views[k].base == c.outs[0]) pr.views[k].kind = 3;
    /* at least one task per thread once the tensor is worth splitting (blocks of LR_FUSED_BLOCK) */
    int64_t tasks = (pr.numel + GRAIN - 1) / GRAIN;
    if (ctx->threads > 1 && tasks < 4 * ctx->threads && pr.numel >= 4096) {
        int64_t want = 4 * (int64_t)ctx->threads, per = (pr.numel + want - 1) / want;
        c.per = (per + LR_FUSED_BLOCK - 1) / LR_FUSED_BLOCK * LR_FUSED_BLOCK;
        tasks = (pr.numel + c.per - 1) / c.per;
    }
    lr_parallel_for(ctx->pool, tasks, ew_task, &c);
    return LR_OK;
}

static lr_status run_fused_elemwise(const lr_run_ctx *ctx, const lr_node *n) { return lr_fused_elemwise_run_with(ctx, n, NULL); }

/* ---- FusedSoftmax: per outer index, evaluate the (len x inner) chunk, then softmax its lines ---- */

typedef struct red_ctx {
    const lr_fused_program *pr;
    lr_fused_ln_row_fn ln_row;
    lr_fused_softmax_row_fn sm_row;
    int64_t rows_per_task, rows;
    float *y, *mean, *rstd;
    const float *w, *b;
    int64_t len, inner;
    double eps;
} red_ctx;

static void softmax_chunk(void *vctx, int64_t t, int thread) {
    const red_ctx *c = vctx;
    int64_t chunk = c->len * c->inner;
    float *y = c->y + t * chunk;
    lr_fused_eval(c->pr, t * chunk, (t + 1) * chunk, &y);
    if (c->sm_row && c->inner == 1) {
        c->sm_row(y, c->len);
        return;
    }
    for (int64_t i = 0; i < c->inner; ++i) {
        float *l = y + i;
        int64_t st = c->inner;
        float mx = l[0];
        for (int64_t k = 1; k < c->len; ++k) mx = l[k * st] > mx ? l[k * st] : mx;
        double sum = 0;
        for (int64_t k = 0; k < c->len; ++k) {
            float e = expf(l[k * st] - mx);
            l[k * st] = e;
            sum += e;
        }
        float inv = (float)(1.0 / sum);
        for (int64_t k = 0; k < c->len; ++k) l[k * st] *= inv;
    }
    (void)thread;
}

lr_status lr_fused_softmax_run_with(const lr_run_ctx *ctx, const lr_node *n, lr_fused_vapply_fn vap,
                                    lr_fused_softmax_row_fn row) {
    lr_fused_program pr;
    lr_fused_program_bind(&pr, ctx, n, n->ints + 1, n->floats);
    pr.vapply = vap;
    const lr_tensor *y = lr_out(ctx, n, 0);
    int ax = (int)n->ints[0];
    red_ctx c = {&pr, NULL, row, 0, 0, y->data, NULL, NULL, NULL, NULL, y->dims[ax], 1, 0};
    for (int d = ax + 1; d < y->ndim; ++d) c.inner *= y->dims[d];
    lr_parallel_for(ctx->pool, y->numel / (c.len * c.inner), softmax_chunk, &c);
    return LR_OK;
}

static lr_status run_fused_softmax(const lr_run_ctx *ctx, const lr_node *n) { return lr_fused_softmax_run_with(ctx, n, NULL, NULL); }

/* ---- FusedLayerNorm: per row, evaluate then normalise in place ---- */

static void layernorm_one(const red_ctx *c, int64_t r) {
    float *y = c->y + r * c->len;
    lr_fused_eval(c->pr, r * c->len, (r + 1) * c->len, &y);
    if (c->ln_row) {
        c->ln_row(y, c->len, c->w, c->b, c->eps, &c->mean[r], &c->rstd[r]);
        return;
    }
    double s = 0, sq = 0;
    for (int64_t k = 0; k < c->len; ++k) s += y[k];
    double mean = s / (double)c->len;
    for (int64_t k = 0; k < c->len; ++k) {
        double d = y[k] - mean;
        sq += d * d;
    }
    float m = (float)mean, rs = (float)(1.0 / sqrt(sq / (double)c->len + c->eps));
    if (c->w) {
        for (int64_t k = 0; k < c->len; ++k) y[k] = (y[k] - m) * rs * c->w[k] + c->b[k];
    } else {
        for (int64_t k = 0; k < c->len; ++k) y[k] = (y[k] - m) * rs;
    }
    c->mean[r] = m;
    c->rstd[r] = rs;
}

static void layernorm_rows(void *vctx, int64_t t, int thread) {
    const red_ctx *c = vctx;
    int64_t r0 = t * c->rows_per_task, r1 = r0 + c->rows_per_task < c->rows ? r0 + c->rows_per_task : c->rows;
    for (int64_t r = r0; r < r1; ++r) layernorm_one(c, r);
    (void)thread;
}

lr_status lr_fused_layernorm_run_with(const lr_run_ctx *ctx, const lr_node *n, lr_fused_vapply_fn vap,
                                      lr_fused_ln_row_fn row) {
    lr_fused_program pr;
    lr_fused_program_bind(&pr, ctx, n, n->ints + 2, n->floats + 1);
    pr.vapply = vap;
    const lr_tensor *y = lr_out(ctx, n, 0);
    int k = (int)n->ints[0];
    bool affine = n->ints[1] != 0;
    red_ctx c = {&pr, row, NULL, 1, 1, y->data, lr_out(ctx, n, 1)->data, lr_out(ctx, n, 2)->data,
                 affine ? lr_in(ctx, n, n->n_in - 2)->data : NULL, affine ? lr_in(ctx, n, n->n_in - 1)->data : NULL, 1, 1,
                 n->floats[0]};
    for (int d = y->ndim - k; d < y->ndim; ++d) c.len *= y->dims[d];
    c.rows = y->numel / c.len;
    /* rows grouped into ~4096-element tasks, at least 4 tasks per thread when there are rows enough */
    int64_t per = 4096 / c.len > 1 ? 4096 / c.len : 1, most = (c.rows + 4 * ctx->threads - 1) / (4 * ctx->threads);
    c.rows_per_task = per < most ? per : (most > 0 ? most : 1);
    lr_parallel_for(ctx->pool, (c.rows + c.rows_per_task - 1) / c.rows_per_task, layernorm_rows, &c);
    return LR_OK;
}

static lr_status run_fused_layernorm(const lr_run_ctx *ctx, const lr_node *n) { return lr_fused_layernorm_run_with(ctx, n, NULL, NULL); }

/* ---- FusedMean: per output element, evaluate its plane block by block and sum in float64 ---- */

static void mean_task(void *vctx, int64_t t, int thread) {
    const red_ctx *c = vctx;
    float tmp[LR_FUSED_BLOCK], *p = tmp;
    double s = 0;
    for (int64_t i = 0; i < c->len; i += LR_FUSED_BLOCK) {
        int64_t len = c->len - i < LR_FUSED_BLOCK ? c->len - i : LR_FUSED_BLOCK;
        lr_fused_eval(c->pr, t * c->len + i, t * c->len + i + len, &p);
        for (int64_t j = 0; j < len; ++j) s += tmp[j];
    }
    c->y[t] = (float)(s / (double)c->len);
    (void)thread;
}

static lr_status run_fused_mean(const lr_run_ctx *ctx, const lr_node *n) {
    lr_fused_program pr;
    lr_fused_program_bind(&pr, ctx, n, n->ints + 1, n->floats);
    const lr_tensor *y = lr_out(ctx, n, 0);
    red_ctx c = {&pr, NULL, NULL, 0, 0, y->data, NULL, NULL, NULL, NULL, pr.numel / y->numel, 1, 0};
    lr_parallel_for(ctx->pool, y->numel, mean_task, &c);
    return LR_OK;
}

static bool any(const lr_model *m, const lr_node *n) { (void)m; (void)n; return true; }

const lr_algo lr_algo_fused_elemwise_f32 = {"fused_elemwise_f32_block256", LR_OP_FUSED_ELEMWISE, any, NULL, NULL, run_fused_elemwise, 0xFFFF};
const lr_algo lr_algo_fused_softmax_f32 = {"fused_softmax_f32", LR_OP_FUSED_SOFTMAX, any, NULL, NULL, run_fused_softmax, 0};
const lr_algo lr_algo_fused_layernorm_f32 = {"fused_layernorm_f32", LR_OP_FUSED_LAYERNORM, any, NULL, NULL, run_fused_layernorm, 0};
const lr_algo lr_algo_fused_mean_f32 = {"fused_mean_f32", LR_OP_FUSED_MEAN, any, NULL, NULL, run_fused_mean, 0};
