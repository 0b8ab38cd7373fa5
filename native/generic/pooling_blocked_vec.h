/* pooling_blocked_vec.h: BlockedPooling on (N, C/VL, H, W, VL) tensors over GNU vectors of VL floats,
 * one source for every ISA that includes it (x86: f32_pooling_nchwb_avx512f.c / _avx2_fma.c, NEON:
 * f32_pooling_nchw44_neon.c): MAX, AVERAGE (mode 1: divide by the whole window, padding included) and
 * AVERAGE_COUNT_EXCLUDE_PADDING (mode 2), any window/stride/padding. A window row is a run of
 * consecutive pixels reduced with 4 independent accumulators; global pooling (the window is the plane)
 * is one run over the whole plane. Tasks: (image x channel block, output row).
 * Define before including: VL, VMAX(a, b) (the ISA's vector max), USABLE_CPU (an expression: the
 * running CPU has the ISA), ALGO (the lr_algo's C name) and ALGO_NAME (its string). */
#include <math.h>
#include <string.h>

#include "model.h"
#include "pooling_params.h"

typedef float pvf __attribute__((vector_size(VL * 4)));

static inline pvf pld(const float *p) {
    pvf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline pvf psplat(float f) {
    pvf v;
    for (int i = 0; i < VL; ++i) v[i] = f;
    return v;
}

/* len consecutive pixels from p into acc */
static inline pvf reduce_run(const float *p, int64_t len, int max, pvf acc) {
    pvf a1 = acc, a2 = acc, a3 = acc;
    int64_t j = 0;
    if (max) {
        for (; j + 4 <= len; j += 4) {
            acc = VMAX(acc, pld(p + j * VL));
            a1 = VMAX(a1, pld(p + (j + 1) * VL));
            a2 = VMAX(a2, pld(p + (j + 2) * VL));
            a3 = VMAX(a3, pld(p + (j + 3) * VL));
        }
        for (; j < len; ++j) acc = VMAX(acc, pld(p + j * VL));
        return VMAX(VMAX(acc, a1), VMAX(a2, a3));
    }
    a1 = a2 = a3 = psplat(0.f);
    for (; j + 4 <= len; j += 4) {
        acc += pld(p + j * VL);
        a1 += pld(p + (j + 1) * VL);
        a2 += pld(p + (j + 2) * VL);
        a3 += pld(p + (j + 3) * VL);
    }
    for (; j < len; ++j) acc += pld(p + j * VL);
    return (acc + a1) + (a2 + a3);
}

static void pool_task(void *vctx, int64_t t, int thread) {
    const lr_pool_params *c = vctx;
    int64_t oh = t % c->oh, plane = t / c->oh;
    const float *x = c->x + plane * c->h * c->w * VL;
    float *y = c->y + (plane * c->oh + oh) * c->ow * VL;
    int64_t h0 = oh * c->sh - c->ph, hs = h0 < 0 ? 0 : h0, he = h0 + c->wh > c->h ? c->h : h0 + c->wh;
    int max = c->mode == 0;
    for (int64_t ow = 0; ow < c->ow; ++ow) {
        int64_t w0 = ow * c->sw - c->pw, ws = w0 < 0 ? 0 : w0, we = w0 + c->ww > c->w ? c->w : w0 + c->ww;
        pvf acc = psplat(max ? -INFINITY : 0.f);
        if (we > ws && ws == 0 && we == c->w) /* whole rows (global pooling): one contiguous run */
            acc = reduce_run(x + hs * c->w * VL, (he - hs) * c->w, max, acc);
        else
            for (int64_t i = hs; i < he; ++i)
                if (we > ws) acc = reduce_run(x + (i * c->w + ws) * VL, we - ws, max, acc);
        if (!max) {
            int64_t cnt = c->mode == 1 ? c->wh * c->ww : (he - hs) * (we - ws);
            acc *= psplat(cnt > 0 ? 1.f / (float)cnt : 0.f);
        }
        memcpy(y + ow * VL, &acc, sizeof acc);
    }
    (void)thread;
}

static lr_status pool_run(const lr_run_ctx *ctx, const lr_node *n) {
    lr_pool_params c = lr_pool_params_of(ctx, n);
    const lr_tensor *x = lr_in(ctx, n, 0);
    lr_parallel_for(ctx->pool, x->dims[0] * x->dims[1] * c.oh, pool_task, &c);
    return LR_OK;
}

static bool pool_usable(const lr_model *m, const lr_node *n) {
    return (USABLE_CPU) && n->op == LR_OP_BLOCKED_POOLING && n->ints[7] == VL && lr_min(m, n, 0)->dtype == LR_FLOAT32;
}

const lr_algo ALGO = {ALGO_NAME, LR_OP_BLOCKED_POOLING, pool_usable, NULL, NULL, pool_run, 0, 0, NULL};
