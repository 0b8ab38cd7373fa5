/* pooling_params.h: a Pooling / BlockedPooling node's geometry as every pooling kernel reads it
 * (pooling.c, layout_blocked.c, pooling_blocked_vec.h). Attributes (n->ints): mode (0 MAX,
 * 1 AVERAGE, 2 AVERAGE_COUNT_EXCLUDE_PADDING), window h/w, stride h/w, pad h/w; planes from the
 * tensors (dims 2 and 3 in NCHW and in the blocked (N, C/b, H, W, b) layouts alike). */
#ifndef LR_POOLING_PARAMS_H
#define LR_POOLING_PARAMS_H

#include "model.h"

typedef struct lr_pool_params {
    const float *x;
    float *y;
    int64_t h, w, oh, ow, wh, ww, sh, sw, ph, pw;
    int mode;
} lr_pool_params;

static inline lr_pool_params lr_pool_params_of(const lr_run_ctx *ctx, const lr_node *n) {
    const lr_tensor *x = lr_in(ctx, n, 0), *y = lr_out(ctx, n, 0);
    const int64_t *a = n->ints;
    lr_pool_params c = {x->data, y->data, x->dims[2], x->dims[3], y->dims[2], y->dims[3], a[1], a[2], a[3], a[4], a[5], a[6],
                        (int)a[0]};
    return c;
}

#endif
