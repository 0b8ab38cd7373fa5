/* layout_blocked.h: the blocked-layout operators' geometry and algorithms (codes 80..95):
 * tensors (N, C/b, H, W, b); portable kernels in layout_blocked.c, x86 ones in native/x86/f32_conv_nchw{16,88}_*.c. */
#ifndef LR_LAYOUT_BLOCKED_H
#define LR_LAYOUT_BLOCKED_H

#include <math.h>
#include <stdbool.h>

#include "model.h"

/* BlockedConv ints: stride h/w, pad h/w, dilation h/w (1), group, flip (0), act, block; CLAMP floats lo, hi. */
typedef struct lr_bconv {
    int64_t n, c, h, w, oc, oh, ow, kh, kw, sh, sw, ph, pw, b, cb, ocb;
    bool plain_in;  /* x is (N, C, H, W) (a first layer over few channels), else (N, C/b, H, W, b) */
    bool depthwise; /* group == C == OC */
    int act;        /* 0 IDENTITY, 1 RELU, 2 SIGMOID, 3 H_SWISH, 4 CLAMP */
    float lo, hi;   /* clamp of IDENTITY/RELU/CLAMP; SIGMOID/H_SWISH run after it (lo = -inf, hi = inf) */
} lr_bconv;

static inline void lr_bconv_of(const lr_model *m, const lr_node *n, lr_bconv *g) {
    const lr_tensor *x = lr_min(m, n, 0), *w = lr_min(m, n, 1), *y = lr_mout(m, n, 0);
    const int64_t *a = n->ints;
    g->sh = a[0], g->sw = a[1], g->ph = a[2], g->pw = a[3], g->b = a[9];
    g->oc = w->dims[0], g->kh = w->dims[2], g->kw = w->dims[3];
    g->c = w->dims[1] * a[6];
    g->depthwise = a[6] != 1;
    g->plain_in = x->ndim == 4;
    g->n = x->dims[0], g->h = x->dims[2], g->w = x->dims[3];
    g->cb = (g->c + g->b - 1) / g->b, g->ocb = y->dims[1], g->oh = y->dims[2], g->ow = y->dims[3];
    g->act = (int)a[8];
    g->lo = g->act == 4 ? (float)n->floats[0] : g->act == 1 ? 0.f : -INFINITY;
    g->hi = g->act == 4 ? (float)n->floats[1] : INFINITY;
}

/* The activations that are not a clamp, on a run of values. */
static inline void lr_bconv_post(int act, float *y, int64_t len) {
    if (act == 2)
        for (int64_t i = 0; i < len; ++i) y[i] = 1.f / (1.f + expf(-y[i]));
    else if (act == 3)
        for (int64_t i = 0; i < len; ++i) {
            float r = y[i] + 3;
            r = r < 0 ? 0 : r > 6 ? 6 : r;
            y[i] = y[i] * r / 6;
        }
}

/* Weights in the blocked filter layout, then the bias padded to whole blocks: dense
 * (OC/b, C/b, KH, KW, ib, ob) + OC/b*b, depthwise (C/b, KH, KW, b) + C/b*b; padding is zero.
 * lr_bconv_pack writes output blocks [ob0, ob1) (tasks may split the work). */
size_t lr_bconv_packed_floats(const lr_bconv *g);
void lr_bconv_pack(const lr_bconv *g, const float *w, const float *bias, float *dst, int64_t ob0, int64_t ob1);
/* For the kernels that read the packed layout (x86 nchw16/nchw88, NEON nchw44 direct convs):
 * prepare packs at load into n->packed; lr_bconv_weights returns n->packed, or, with weight
 * preprocess off, packs in this run (threaded) into *ws, notes the pack, and advances *ws past it
 * (their workspace() reserves lr_bconv_packed_floats + 16 floats for that). */
lr_status lr_bconv_prepare_packed(lr_model *m, lr_node *n);
const float *lr_bconv_weights(const lr_run_ctx *ctx, const lr_node *n, const lr_bconv *g, float **ws);
/* x (plain or blocked) copied into a zero-padded tensor of planes (H + 2ph) x (W + 2pw). */
size_t lr_bconv_padded_floats(const lr_bconv *g);
void lr_bconv_pad_input(const lr_run_ctx *ctx, const lr_bconv *g, const float *x, float *dst);

extern const lr_algo lr_algo_relayout_f32;
extern const lr_algo lr_algo_blocked_conv_direct_f32;
extern const lr_algo lr_algo_blocked_pooling_f32;

#define LR_BLOCKED_GENERIC_ALGOS &lr_algo_relayout_f32, &lr_algo_blocked_conv_direct_f32, &lr_algo_blocked_pooling_f32,

#endif
