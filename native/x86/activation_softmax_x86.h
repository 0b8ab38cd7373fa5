/* activation_softmax_x86.h: GELU (Elemwise mode 58) and last-axis Softmax on GNU vectors of VL
 * floats with a polynomial exp (rel. error ~2e-7) and erf after Abramowitz-Stegun 7.1.26 (abs.
 * error <= 1.5e-7); compiled per ISA by activation_softmax_avx512f.c / _avx2_fma.c.
 * Define VL, ISA_FEATURES, SUFFIX, SUFFIX_STR before including. */
#include <math.h>
#include <string.h>

#include "cpu_x86.h"
#include "elemwise_modes.h"
#include "kernels_x86.h"

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define GRAIN 4096

typedef float vf __attribute__((vector_size(VL * 4)));
typedef int32_t vi __attribute__((vector_size(VL * 4)));

static inline vf ld(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void st(float *p, vf v) { memcpy(p, &v, sizeof v); }
static inline vf splat(float f) { return (vf){0} + f; }
static inline vf sel(vi m, vf a, vf b) { return (vf)(((vi)a & m) | ((vi)b & ~m)); }
static inline vf vmax(vf a, vf b) { return sel(a > b, a, b); }
static inline vf vmin(vf a, vf b) { return sel(a < b, a, b); }

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

static inline vf vgelu(vf x) {
    vf z = x * splat(0.70710678f), az = sel(z < splat(0.f), -z, z);
    vf t = splat(1.f) / (splat(1.f) + splat(0.3275911f) * az);
    vf poly = splat(1.061405429f) * t + splat(-1.453152027f);
    poly = poly * t + splat(1.421413741f);
    poly = poly * t + splat(-0.284496736f);
    poly = poly * t + splat(0.254829592f);
    vf erfa = splat(1.f) - poly * t * vexp(-az * az);
    vf erf = sel(z < splat(0.f), -erfa, erfa);
    return x * splat(0.5f) * (splat(1.f) + erf);
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

static void softmax_task(void *vctx, int64_t t, int thread) {
    const span_ctx *c = vctx;
    const float *x = c->x + t * c->len;
    float *y = c->y + t * c->len;
    int64_t len = c->len, k = 0;
    vf vm = splat(-INFINITY);
    for (; k + VL <= len; k += VL) vm = vmax(vm, ld(x + k));
    float mx = -INFINITY, tmp[VL];
    st(tmp, vm);
    for (int j = 0; j < VL; ++j) mx = tmp[j] > mx ? tmp[j] : mx;
    for (; k < len; ++k) mx = x[k] > mx ? x[k] : mx;
    vf vs = splat(0.f), vmx = splat(mx);
    for (k = 0; k + VL <= len; k += VL) {
        vf e = vexp(ld(x + k) - vmx);
        st(y + k, e);
        vs += e;
    }
    st(tmp, vs);
    double sum = 0;
    for (int j = 0; j < VL; ++j) sum += tmp[j];
    for (; k < len; ++k) {
        float e = expf(x[k] - mx);
        y[k] = e;
        sum += e;
    }
    vf inv = splat((float)(1.0 / sum));
    for (k = 0; k + VL <= len; k += VL) st(y + k, ld(y + k) * inv);
    for (; k < len; ++k) y[k] *= (float)(1.0 / sum);
    (void)thread;
}

static lr_status run_softmax(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0);
    span_ctx c = {x->data, lr_out(ctx, n, 0)->data, x->numel, x->dims[x->ndim - 1]};
    lr_parallel_for(ctx->pool, c.n / c.len, softmax_task, &c);
    return LR_OK;
}

const lr_algo CAT(lr_algo_gelu_f32_, SUFFIX) = {"elemwise_gelu_f32_" SUFFIX_STR, LR_OP_ELEMWISE, usable_gelu, NULL, NULL,
                                                run_gelu, 1, 0, NULL};
const lr_algo CAT(lr_algo_softmax_lastaxis_f32_, SUFFIX) = {"softmax_lastaxis_f32_" SUFFIX_STR, LR_OP_SOFTMAX,
                                                             usable_softmax, NULL, NULL, run_softmax, 0, 0, NULL};
