/* activation_softmax_x86.h: GELU (Elemwise mode 58) and last-axis Softmax on GNU vectors of VL
 * floats with a polynomial exp (rel. error ~2e-7) and erf after Abramowitz-Stegun 7.1.26 (abs.
 * error <= 1.5e-7); compiled per ISA by activation_softmax_avx512f.c / _avx2_fma.c.
 * Define VL, ISA_FEATURES, SUFFIX, SUFFIX_STR before including. */
#include <math.h>
#include <string.h>
#include <immintrin.h>

#include "cpu_x86.h"
#include "elemwise_modes.h"
#include "fused_program.h"
#include "kernels_x86.h"
#include "vec_x86.h"

#define GRAIN 4096

typedef int32_t vi __attribute__((vector_size(VL * 4)));

static inline vf sel(vi m, vf a, vf b) { return (vf)(((vi)a & m) | ((vi)b & ~m)); }
/* exp(x): x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial, 2^n through the exponent bits. */
static inline vf vexp(vf x) {
    x = vmin(vmax(x, splat(-87.3f)), splat(88.3f));
    const vf magic = splat(12582912.f); /* 1.5 * 2^23: adding it rounds to an integer */
    vf t = x * splat(1.44269504f) + magic;
    vf n = t - magic;
    vf r = x - n * splat(0.693145752f) - n * splat(1.42860677e-6f);
    vf p = splat(1.f / 720) * r + splat(1.f / 120);
    p = p * r + splat(1.f / 24);
    p = p * r + splat(1.f / 6);
    p = p * r + splat(0.5f);
    p = p * r + splat(1.f);
    p = p * r + splat(1.f);
    vi e = ((vi)t - (vi)magic + 127) << 23;
    return p * (vf)e;
}

/* 1/d: the hardware estimate (rcp14 / rcp, 14 / 12 bits) and one Newton step (~23 bits). */
static inline vf vrcp(vf d) {
    vf r;
#if VL == 16
    __m512 m, e;
    memcpy(&m, &d, sizeof m);
    e = _mm512_rcp14_ps(m);
#else
    __m256 m, e;
    memcpy(&m, &d, sizeof m);
    e = _mm256_rcp_ps(m);
#endif
    memcpy(&r, &e, sizeof r);
    return r * (splat(2.f) - d * r);
}

/* erf(z) on [-4, 4] (clamped: erf(4) rounds to 1 in float) by the odd rational minimax
 * z P(z^2) / Q(z^2) of Eigen's generic_fast_erf_float (abs. error ~1e-7): no exp, no divide. */
static inline vf verf(vf z) {
    z = vmin(vmax(z, splat(-4.f)), splat(4.f));
    vf z2 = z * z;
    vf p = z2 * splat(-2.72614225801306e-10f) + splat(2.77068142495902e-08f);
    p = p * z2 + splat(-2.10102402082508e-06f);
    p = p * z2 + splat(-5.69250639462346e-05f);
    p = p * z2 + splat(-7.34990630326855e-04f);
    p = p * z2 + splat(-2.95459980854025e-03f);
    p = p * z2 + splat(-1.60960333262415e-02f);
    vf q = z2 * splat(-1.45660718464996e-05f) + splat(-2.13374055278905e-04f);
    q = q * z2 + splat(-1.68282697438203e-03f);
    q = q * z2 + splat(-7.37332916720468e-03f);
    q = q * z2 + splat(-1.42647390514189e-02f);
    return z * p * vrcp(q);
}

static inline vf vgelu(vf x) {
    vf hx = x * splat(0.5f);
    return hx + hx * verf(x * splat(0.70710678f));
}

static bool usable_gelu(const lr_model *m, const lr_node *n) {
    return lr_x86_has(ISA_FEATURES) && n->n_in == 1 && n->ints[0] == LR_EW_GELU && lr_min(m, n, 0)->dtype == LR_FLOAT32 &&
           lr_mout(m, n, 0)->dtype == LR_FLOAT32 && lr_min(m, n, 0)->numel == lr_mout(m, n, 0)->numel;
}

typedef struct span_ctx {
    const float *x;
    float *y;
    int64_t n, len;
} span_ctx;

static void gelu_task(void *vctx, int64_t t, int thread) {
    const span_ctx *c = vctx;
    int64_t i0 = t * GRAIN, i1 = i0 + GRAIN < c->n ? i0 + GRAIN : c->n, i = i0;
    for (; i + VL <= i1; i += VL) st(c->y + i, vgelu(ld(c->x + i)));
    if (i < i1) {
        float tmp[VL] = {0};
        memcpy(tmp, c->x + i, (size_t)(i1 - i) * sizeof(float));
        st(tmp, vgelu(ld(tmp)));
        memcpy(c->y + i, tmp, (size_t)(i1 - i) * sizeof(float));
    }
    (void)thread;
}

static lr_status run_gelu(const lr_run_ctx *ctx, const lr_node *n) {
    span_ctx c = {lr_in(ctx, n, 0)->data, lr_out(ctx, n, 0)->data, lr_out(ctx, n, 0)->numel, 0};
    lr_parallel_for(ctx->pool, (c.n + GRAIN - 1) / GRAIN, gelu_task, &c);
    return LR_OK;
}

static bool usable_softmax(const lr_model *m, const lr_node *n) {
    const lr_tensor *x = lr_min(m, n, 0);
    return lr_x86_has(ISA_FEATURES) && x->dtype == LR_FLOAT32 && lr_mout(m, n, 0)->dtype == LR_FLOAT32 &&
           n->ints[0] == x->ndim - 1 && x->dims[x->ndim - 1] > 0;
}

/* ---- horizontal reductions ---- */

static inline float hsum(vf v) {
    float t[VL];
    st(t, v);
    float s = 0;
    for (int j = 0; j < VL; ++j) s += t[j];
    return s;
}

static inline float hmax(vf v) {
    float t[VL];
    st(t, v);
    float m = t[0];
    for (int j = 1; j < VL; ++j) m = t[j] > m ? t[j] : m;
    return m;
}

/* ---- Softmax of one contiguous line (x may be y) ---- */

static void softmax_line(const float *x, float *y, int64_t len) {
    int64_t k = 0;
    vf vm = splat(-INFINITY);
    for (; k + VL <= len; k += VL) vm = vmax(vm, ld(x + k));
    float mx = hmax(vm);
    for (; k < len; ++k) mx = x[k] > mx ? x[k] : mx;
    vf vs0 = splat(0.f), vs1 = splat(0.f), vmx = splat(mx);
    for (k = 0; k + 2 * VL <= len; k += 2 * VL) {
        vf e0 = vexp(ld(x + k) - vmx), e1 = vexp(ld(x + k + VL) - vmx);
        st(y + k, e0);
        st(y + k + VL, e1);
        vs0 += e0;
        vs1 += e1;
    }
    for (; k + VL <= len; k += VL) {
        vf e = vexp(ld(x + k) - vmx);
        st(y + k, e);
        vs0 += e;
    }
    double sum = hsum(vs0 + vs1);
    for (; k < len; ++k) {
        float e = expf(x[k] - mx);
        y[k] = e;
        sum += e;
    }
    float inv = (float)(1.0 / sum);
    vf vinv = splat(inv);
    for (k = 0; k + VL <= len; k += VL) st(y + k, ld(y + k) * vinv);
    for (; k < len; ++k) y[k] *= inv;
}

static void softmax_line_inplace(float *y, int64_t len) { softmax_line(y, y, len); }

/* ---- LayerNorm of one contiguous row: float lanes summed per 4096-element chunk into double ---- */

static void ln_line(const float *x, float *y, int64_t len, const float *w, const float *b, double eps, float *mean_out,
                    float *rstd_out) {
    double s = 0;
    for (int64_t c0 = 0; c0 < len; c0 += 4096) {
        int64_t c1 = c0 + 4096 < len ? c0 + 4096 : len, k = c0;
        vf a0 = splat(0.f), a1 = splat(0.f);
        for (; k + 2 * VL <= c1; k += 2 * VL) a0 += ld(x + k), a1 += ld(x + k + VL);
        for (; k + VL <= c1; k += VL) a0 += ld(x + k);
        float fs = hsum(a0 + a1);
        for (; k < c1; ++k) fs += x[k];
        s += fs;
    }
    float m = (float)(s / (double)len);
    vf vm = splat(m);
    double sq = 0;
    for (int64_t c0 = 0; c0 < len; c0 += 4096) {
        int64_t c1 = c0 + 4096 < len ? c0 + 4096 : len, k = c0;
        vf a0 = splat(0.f), a1 = splat(0.f);
        for (; k + 2 * VL <= c1; k += 2 * VL) {
            vf d0 = ld(x + k) - vm, d1 = ld(x + k + VL) - vm;
            a0 += d0 * d0;
            a1 += d1 * d1;
        }
        for (; k + VL <= c1; k += VL) {
            vf d = ld(x + k) - vm;
            a0 += d * d;
        }
        float fs = hsum(a0 + a1);
        for (; k < c1; ++k) fs += (x[k] - m) * (x[k] - m);
        sq += fs;
    }
    float rs = (float)(1.0 / sqrt(sq / (double)len + eps));
    vf vrs = splat(rs);
    int64_t k = 0;
    if (w) {
        for (; k + VL <= len; k += VL) st(y + k, (ld(x + k) - vm) * vrs * ld(w + k) + ld(b + k));
        for (; k < len; ++k) y[k] = (x[k] - m) * rs * w[k] + b[k];
    } else {
        for (; k + VL <= len; k += VL) st(y + k, (ld(x + k) - vm) * vrs);
        for (; k < len; ++k) y[k] = (x[k] - m) * rs;
    }
    *mean_out = m;
    *rstd_out = rs;
}

static void ln_line_inplace(float *y, int64_t len, const float *w, const float *b, double eps, float *mean, float *rstd) {
    ln_line(y, y, len, w, b, eps, mean, rstd);
}

typedef struct ln_ctx {
    const float *x, *w, *b;
    float *y, *mean, *rstd;
    int64_t len, rows, per;
    double eps;
} ln_ctx;

static void ln_task(void *vctx, int64_t t, int thread) {
    const ln_ctx *c = vctx;
    int64_t r0 = t * c->per, r1 = r0 + c->per < c->rows ? r0 + c->per : c->rows;
    for (int64_t r = r0; r < r1; ++r)
        ln_line(c->x + r * c->len, c->y + r * c->len, c->len, c->w, c->b, c->eps, &c->mean[r], &c->rstd[r]);
    (void)thread;
}

/* rows per task: ~GRAIN elements, but at least 4 tasks per thread when there are rows enough */
static int64_t rows_per_task(int64_t rows, int64_t len, int threads) {
    int64_t per = GRAIN / len > 1 ? GRAIN / len : 1, most = (rows + 4 * threads - 1) / (4 * threads);
    return per < most ? per : (most > 0 ? most : 1);
}

static bool usable_layernorm(const lr_model *m, const lr_node *n) {
    const lr_tensor *x = lr_min(m, n, 0);
    if (!lr_x86_has(ISA_FEATURES) || x->dtype != LR_FLOAT32 || lr_mout(m, n, 0)->dtype != LR_FLOAT32) return false;
    if (n->n_out < 3 || lr_mout(m, n, 1)->dtype != LR_FLOAT32 || lr_mout(m, n, 2)->dtype != LR_FLOAT32) return false;
    if (n->ints[1] && (n->n_in < 3 || lr_min(m, n, 1)->dtype != LR_FLOAT32 || lr_min(m, n, 2)->dtype != LR_FLOAT32)) return false;
    return x->numel > 0;
}

static lr_status run_layernorm(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0);
    bool affine = n->ints[1] != 0;
    ln_ctx c = {x->data, affine ? lr_in(ctx, n, 1)->data : NULL, affine ? lr_in(ctx, n, 2)->data : NULL,
                lr_out(ctx, n, 0)->data, lr_out(ctx, n, 1)->data, lr_out(ctx, n, 2)->data, 1, 0, 1, n->floats[0]};
    for (int d = x->ndim - (int)n->ints[0]; d < x->ndim; ++d) c.len *= x->dims[d];
    c.rows = x->numel / c.len;
    c.per = rows_per_task(c.rows, c.len, ctx->threads);
    lr_parallel_for(ctx->pool, (c.rows + c.per - 1) / c.per, ln_task, &c);
    return LR_OK;
}

const lr_algo CAT(lr_algo_layernorm_f32_, SUFFIX) = {"layernorm_f32_" SUFFIX_STR, LR_OP_LAYERNORM, usable_layernorm,
                                                      NULL, NULL, run_layernorm, 0, 0, NULL};

/* ---- Elemwise binary float32: same shape, a scalar, or a vector repeated along the last axes ---- */

enum { BIN_FULL = 0, BIN_SCALAR = 1, BIN_ROW = 2, BIN_NONE = 3 };

/* How operand t broadcasts onto y: its dims, leading 1s dropped, are y's trailing dims. */
static int bin_kind(const lr_tensor *t, const lr_tensor *y) {
    if (t->numel == y->numel) return BIN_FULL;
    if (t->numel == 1) return BIN_SCALAR;
    int d0 = 0;
    while (d0 < t->ndim && t->dims[d0] == 1) ++d0;
    int r = t->ndim - d0;
    if (r > y->ndim || r == 0) return BIN_NONE;
    for (int k = 0; k < r; ++k)
        if (t->dims[d0 + k] != y->dims[y->ndim - r + k]) return BIN_NONE;
    return BIN_ROW;
}

static bool bin_mode_ok(int mode) {
    return mode == LR_EW_ADD || mode == LR_EW_SUB || mode == LR_EW_MUL || mode == LR_EW_TRUE_DIV ||
           mode == LR_EW_FUSE_ADD_RELU;
}

static bool usable_binary(const lr_model *m, const lr_node *n) {
    if (!lr_x86_has(ISA_FEATURES) || n->n_in != 2 || !bin_mode_ok((int)n->ints[0])) return false;
    const lr_tensor *a = lr_min(m, n, 0), *b = lr_min(m, n, 1), *y = lr_mout(m, n, 0);
    if (a->dtype != LR_FLOAT32 || b->dtype != LR_FLOAT32 || y->dtype != LR_FLOAT32 || y->numel == 0) return false;
    int ka = bin_kind(a, y), kb = bin_kind(b, y);
    return (ka == BIN_FULL && kb != BIN_NONE) || (kb == BIN_FULL && ka != BIN_NONE);
}

/* o = a (op) b over len elements; `swap`: the operands are (b, a); bs: b is one scalar */
#define BIN_LOOP(VEXPR, SEXPR)                                                                                         \
    do {                                                                                                               \
        int64_t j = 0;                                                                                                 \
        if (bs) {                                                                                                      \
            vf y = splat(b[0]);                                                                                        \
            for (; j + VL <= len; j += VL) { vf x = ld(a + j); st(o + j, VEXPR); }                                     \
            for (; j < len; ++j) { float x = a[j], y = b[0]; o[j] = SEXPR; }                                           \
        } else {                                                                                                       \
            for (; j + VL <= len; j += VL) { vf x = ld(a + j), y = ld(b + j); st(o + j, VEXPR); }                      \
            for (; j < len; ++j) { float x = a[j], y = b[j]; o[j] = SEXPR; }                                           \
        }                                                                                                              \
    } while (0)

static void bin_span(int mode, bool swap, int64_t len, float *o, const float *a, const float *b, bool bs) {
    switch (mode) {
    case LR_EW_ADD: BIN_LOOP(x + y, x + y); return;
    case LR_EW_MUL: BIN_LOOP(x * y, x * y); return;
    case LR_EW_FUSE_ADD_RELU: BIN_LOOP(vmax(x + y, splat(0.f)), x + y > 0 ? x + y : 0); return;
    case LR_EW_SUB:
        if (swap) BIN_LOOP(y - x, y - x);
        else BIN_LOOP(x - y, x - y);
        return;
    case LR_EW_TRUE_DIV:
        if (swap) BIN_LOOP(y / x, y / x);
        else BIN_LOOP(x / y, x / y);
        return;
    }
}

typedef struct bin_ctx {
    const float *a, *b; /* a full; b full (period = n), a scalar (period 0) or a vector of `period` */
    float *o;
    int64_t n, period, per;
    int mode;
    bool swap;
} bin_ctx;

static void bin_task(void *vctx, int64_t t, int thread) {
    const bin_ctx *c = vctx;
    int64_t i = t * c->per, i1 = i + c->per < c->n ? i + c->per : c->n;
    if (c->period == 0) {
        bin_span(c->mode, c->swap, i1 - i, c->o + i, c->a + i, c->b, true);
    } else {
        while (i < i1) {
            int64_t pos = i % c->period, run = c->period - pos < i1 - i ? c->period - pos : i1 - i;
            bin_span(c->mode, c->swap, run, c->o + i, c->a + i, c->b + pos, false);
            i += run;
        }
    }
    (void)thread;
}

static lr_status run_binary(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *a = lr_in(ctx, n, 0), *b = lr_in(ctx, n, 1), *y = lr_out(ctx, n, 0);
    bin_ctx c = {a->data, b->data, y->data, y->numel, 0, 0, (int)n->ints[0], false};
    const lr_tensor *other = b;
    if (bin_kind(a, y) != BIN_FULL) { /* a broadcasts: b is the full one */
        c.a = b->data;
        c.b = a->data;
        c.swap = true;
        other = a;
    }
    int kind = bin_kind(other, y);
    c.period = kind == BIN_SCALAR ? 0 : other->numel;
    int64_t per = 16384, want = 4 * (int64_t)ctx->threads;
    if (ctx->threads > 1 && c.n >= 8192 && (c.n + per - 1) / per < want) per = (c.n + want - 1) / want;
    c.per = (per + 63) / 64 * 64;
    lr_parallel_for(ctx->pool, (c.n + c.per - 1) / c.per, bin_task, &c);
    return LR_OK;
}

const lr_algo CAT(lr_algo_elemwise_binary_f32_, SUFFIX) = {"elemwise_binary_f32_" SUFFIX_STR, LR_OP_ELEMWISE,
                                                            usable_binary, NULL, NULL, run_binary, 0x3, 0, NULL};

typedef struct sm_ctx {
    const float *x;
    float *y;
    int64_t len, rows, per;
} sm_ctx;

static void softmax_task(void *vctx, int64_t t, int thread) {
    const sm_ctx *c = vctx;
    int64_t r0 = t * c->per, r1 = r0 + c->per < c->rows ? r0 + c->per : c->rows;
    for (int64_t r = r0; r < r1; ++r) softmax_line(c->x + r * c->len, c->y + r * c->len, c->len);
    (void)thread;
}

static lr_status run_softmax(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0);
    sm_ctx c = {x->data, lr_out(ctx, n, 0)->data, x->dims[x->ndim - 1], 0, 1};
    c.rows = x->numel / c.len;
    c.per = rows_per_task(c.rows, c.len, ctx->threads);
    lr_parallel_for(ctx->pool, (c.rows + c.per - 1) / c.per, softmax_task, &c);
    return LR_OK;
}

/* ---- the JIT's fused operators with this ISA's vector math and row kernels ---- */

static bool fused_vapply(int mode, int64_t len, float *o, const float *a, const float *b) {
    int64_t j = 0;
    switch (mode) {
    case LR_EW_ADD: case LR_EW_SUB: case LR_EW_MUL: case LR_EW_TRUE_DIV: case LR_EW_FUSE_ADD_RELU:
        if (!b) return false;
        bin_span(mode, false, len, o, a, b, false);
        return true;
    case LR_EW_GELU:
        for (; j + VL <= len; j += VL) st(o + j, vgelu(ld(a + j)));
        break;
    case LR_EW_EXP:
        for (; j + VL <= len; j += VL) st(o + j, vexp(ld(a + j)));
        break;
    case LR_EW_RELU:
        for (; j + VL <= len; j += VL) st(o + j, vmax(ld(a + j), splat(0.f)));
        break;
    default:
        return false;
    }
    if (j < len) {
        float tmp[VL] = {0};
        memcpy(tmp, a + j, (size_t)(len - j) * sizeof(float));
        vf v = ld(tmp);
        v = mode == LR_EW_GELU ? vgelu(v) : mode == LR_EW_EXP ? vexp(v) : vmax(v, splat(0.f));
        st(tmp, v);
        memcpy(o + j, tmp, (size_t)(len - j) * sizeof(float));
    }
    return true;
}

static bool usable_isa(const lr_model *m, const lr_node *n) { (void)m; (void)n; return lr_x86_has(ISA_FEATURES); }

static lr_status run_fused_ew(const lr_run_ctx *ctx, const lr_node *n) { return lr_fused_elemwise_run_with(ctx, n, fused_vapply); }
static lr_status run_fused_ln(const lr_run_ctx *ctx, const lr_node *n) {
    return lr_fused_layernorm_run_with(ctx, n, fused_vapply, ln_line_inplace);
}
static lr_status run_fused_sm(const lr_run_ctx *ctx, const lr_node *n) {
    return lr_fused_softmax_run_with(ctx, n, fused_vapply, softmax_line_inplace);
}

const lr_algo CAT(lr_algo_fused_elemwise_f32_, SUFFIX) = {"fused_elemwise_f32_" SUFFIX_STR, LR_OP_FUSED_ELEMWISE,
                                                           usable_isa, NULL, NULL, run_fused_ew, 0xFFFF, 0, NULL};
const lr_algo CAT(lr_algo_fused_layernorm_f32_, SUFFIX) = {"fused_layernorm_f32_" SUFFIX_STR, LR_OP_FUSED_LAYERNORM,
                                                            usable_isa, NULL, NULL, run_fused_ln, 0, 0, NULL};
const lr_algo CAT(lr_algo_fused_softmax_f32_, SUFFIX) = {"fused_softmax_f32_" SUFFIX_STR, LR_OP_FUSED_SOFTMAX,
                                                          usable_isa, NULL, NULL, run_fused_sm, 0, 0, NULL};

const lr_algo CAT(lr_algo_gelu_f32_, SUFFIX) = {"elemwise_gelu_f32_" SUFFIX_STR, LR_OP_ELEMWISE, usable_gelu, NULL, NULL,
                                                run_gelu, 1, 0, NULL};
const lr_algo CAT(lr_algo_softmax_lastaxis_f32_, SUFFIX) = {"softmax_lastaxis_f32_" SUFFIX_STR, LR_OP_SOFTMAX,
                                                             usable_softmax, NULL, NULL, run_softmax, 0, 0, NULL};

