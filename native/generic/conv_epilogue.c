/* conv_epilogue.c: geometry of a Conv node and its fused bias/residual/activation epilogue. */
#include "conv_common.h"

void lr_conv_geom_of(const lr_model *m, const lr_node *n, lr_conv_geom *g) {
    const lr_tensor *x = lr_min(m, n, 0), *w = lr_min(m, n, 1), *y = lr_mout(m, n, 0);
    const int64_t *a = n->ints;
    g->n = x->dims[0];
    g->c = x->dims[1];
    g->h = x->dims[2];
    g->w = x->dims[3];
    g->oc = y->dims[1];
    g->oh = y->dims[2];
    g->ow = y->dims[3];
    g->kh = w->dims[2];
    g->kw = w->dims[3];
    g->sh = a[0];
    g->sw = a[1];
    g->ph = a[2];
    g->pw = a[3];
    g->dh = a[4];
    g->dw = a[5];
    g->g = a[6];
    g->flip = (int)a[7];
    g->act = n->op == LR_OP_CONV ? (int)a[8] : 0;
    g->lo = g->act == LR_ACT_CLAMP ? (float)n->floats[0] : g->act == LR_ACT_RELU ? 0.f : -INFINITY;
    g->hi = g->act == LR_ACT_CLAMP ? (float)n->floats[1] : INFINITY;
    g->icg = g->c / g->g;
    g->ocg = g->oc / g->g;
}

static void strides_of(const lr_tensor *t, const lr_conv_geom *g, int64_t st[4]) {
    int64_t s = 1;
    for (int d = 3; d >= 0; --d) {
        int td = d - (4 - t->ndim);
        int64_t dim = td >= 0 ? t->dims[td] : 1;
        st[d] = dim == 1 ? 0 : s;
        s *= dim;
    }
}

void lr_conv_epilogue_of(const lr_run_ctx *ctx, const lr_node *n, const lr_conv_geom *g, lr_conv_epilogue *e) {
    e->bias = e->z = NULL;
    e->act = g->act;
    e->lo = g->lo;
    e->hi = g->hi;
    e->clamp = g->act == LR_ACT_IDENTITY || g->act == LR_ACT_RELU || g->act == LR_ACT_CLAMP;
    e->fast = true;
    if (n->n_in > 2) {
        const lr_tensor *b = lr_in(ctx, n, 2);
        e->bias = b->data;
        strides_of(b, g, e->bst);
        if (e->bst[2] || e->bst[3]) e->fast = false;
    }
    if (n->n_in > 3) {
        const lr_tensor *z = lr_in(ctx, n, 3);
        e->z = z->data;
        strides_of(z, g, e->zst);
        if (z->numel != g->n * g->oc * g->oh * g->ow) e->fast = false; /* broadcasting, not a full residual */
    }
}

void lr_conv_epilogue_row(const lr_conv_epilogue *e, const lr_conv_geom *g, int64_t n, int64_t oc, float *y, int64_t j0,
                          int64_t len) {
    float b = e->bias ? e->bias[n * e->bst[0] + oc * e->bst[1]] : 0.f;
    float *row = y + j0;
    const float *z = e->z ? e->z + n * e->zst[0] + oc * e->zst[1] + j0 : NULL;
    if (z) {
        for (int64_t j = 0; j < len; ++j) row[j] += b + z[j];
    } else if (e->bias) {
        for (int64_t j = 0; j < len; ++j) row[j] += b;
    }
    switch (e->act) {
    case LR_ACT_RELU:
        for (int64_t j = 0; j < len; ++j) row[j] = row[j] > 0 ? row[j] : 0;
        break;
    case LR_ACT_IDENTITY: break;
    case LR_ACT_CLAMP:
        for (int64_t j = 0; j < len; ++j) { /* two selects (vectorises), not a branch per element */
            float v = row[j] < e->lo ? e->lo : row[j];
            row[j] = v > e->hi ? e->hi : v;
        }
        break;
    default:
        for (int64_t j = 0; j < len; ++j) row[j] = lr_activate(row[j], e->act);
    }
    (void)g;
}

typedef struct all_ctx {
    const lr_conv_epilogue *e;
    const lr_conv_geom *g;
    float *y;
} all_ctx;

static void all_task(void *vctx, int64_t t, int thread) {
    const all_ctx *c = vctx;
    const lr_conv_geom *g = c->g;
    const lr_conv_epilogue *e = c->e;
    int64_t n = t / g->oc, oc = t % g->oc;
    float *y = c->y + t * g->oh * g->ow;
    for (int64_t i = 0; i < g->oh; ++i)
        for (int64_t j = 0; j < g->ow; ++j) {
            float v = y[i * g->ow + j];
            if (e->bias) v += e->bias[n * e->bst[0] + oc * e->bst[1] + i * e->bst[2] + j * e->bst[3]];
            if (e->z) v += e->z[n * e->zst[0] + oc * e->zst[1] + i * e->zst[2] + j * e->zst[3]];
            y[i * g->ow + j] = e->act == LR_ACT_CLAMP ? (v < e->lo ? e->lo : v > e->hi ? e->hi : v) : lr_activate(v, e->act);
        }
    (void)thread;
}

void lr_conv_epilogue_all(const lr_run_ctx *ctx, const lr_conv_epilogue *e, const lr_conv_geom *g, float *y) {
    all_ctx c = {e, g, y};
    lr_parallel_for(ctx->pool, g->n * g->oc, all_task, &c);
}
