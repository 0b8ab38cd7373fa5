/* conv_common.h: convolution geometry and the fused epilogue y = act(y + b + z), shared by the
 * convolution algorithms of every target. */
#ifndef LR_CONV_COMMON_H
#define LR_CONV_COMMON_H

#include <math.h>
#include <stdbool.h>

#include "model.h"

enum { LR_ACT_IDENTITY = 0, LR_ACT_RELU = 1, LR_ACT_SIGMOID = 2, LR_ACT_H_SWISH = 3, LR_ACT_CLAMP = 4 };

typedef struct lr_conv_geom {
    int64_t n, c, h, w, oc, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw, g, icg, ocg;
    int flip, act;
    float lo, hi; /* the clamp of IDENTITY (-inf, inf), RELU (0, inf), CLAMP (node floats) */
} lr_conv_geom;

void lr_conv_geom_of(const lr_model *m, const lr_node *n, lr_conv_geom *g);

/* Bias/residual broadcast strides over (N, OC, OH, OW); `fast` when the epilogue can run on rows. */
typedef struct lr_conv_epilogue {
    const float *bias, *z;
    int64_t bst[4], zst[4];
    int act;
    float lo, hi; /* min(max(v, lo), hi) when `clamp` */
    bool clamp;   /* act is IDENTITY, RELU or CLAMP: a kernel may apply it as a min/max on registers */
    bool fast;
} lr_conv_epilogue;

void lr_conv_epilogue_of(const lr_run_ctx *ctx, const lr_node *n, const lr_conv_geom *g, lr_conv_epilogue *e);
/* Row epilogue (fast case): y[n, oc, j0:j0+len] of a plane of OH*OW. */
void lr_conv_epilogue_row(const lr_conv_epilogue *e, const lr_conv_geom *g, int64_t n, int64_t oc, float *y_plane,
                          int64_t j0, int64_t len);
/* Whole-tensor epilogue (any broadcast), run after the convolution when !fast. */
void lr_conv_epilogue_all(const lr_run_ctx *ctx, const lr_conv_epilogue *e, const lr_conv_geom *g, float *y);

static inline float lr_activate(float v, int act) {
    switch (act) {
    case LR_ACT_RELU: return v > 0 ? v : 0;
    case LR_ACT_SIGMOID: return 1.f / (1.f + expf(-v));
    case LR_ACT_H_SWISH: {
        float r = v + 3;
        r = r < 0 ? 0 : r > 6 ? 6 : r;
        return v * r / 6;
    }
    default: return v;
    }
}

#endif
