/* conv_gemm.c: the one Conv-as-GEMM driver (see conv_gemm.h). */
#include "conv_gemm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static size_t packed_floats(const lr_gemm_ukernel *uk, const lr_conv_geom *g) {
    return (size_t)g->g * lr_gemm_packed_a_floats(uk, g->ocg, g->icg * g->kh * g->kw);
}

void lr_conv_gemm_pack_weights(const lr_gemm_ukernel *uk, const lr_conv_geom *g, const float *w, float *dst) {
    int64_t khw = g->kh * g->kw, K = g->icg * khw;
    for (int64_t gi = 0; gi < g->g; ++gi) {
        lr_gemm_pack_a_flipped(uk, g->ocg, K, w + gi * g->ocg * K, K, 1, g->flip ? khw : 0, dst);
        dst += lr_gemm_packed_a_floats(uk, g->ocg, K);
    }
}

bool lr_conv_gemm_is_1x1(const lr_conv_geom *g) {
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

lr_status lr_conv_gemm_prepare(const lr_gemm_ukernel *uk, lr_model *m, lr_node *n) {
    const lr_tensor *w = lr_min(m, n, 1);
    if (w->kind != LR_KIND_CONST) return LR_OK;
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    size_t bytes = packed_floats(uk, &g) * sizeof(float);
    lr_status s = lr_alloc_packed(n, bytes, "packed weights");
    if (s != LR_OK) return s;
    lr_conv_gemm_pack_weights(uk, &g, w->const_data, n->packed);
    return LR_OK;
}

size_t lr_conv_gemm_workspace(const lr_gemm_ukernel *uk, const lr_model *m, const lr_node *n, int threads) {
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    int64_t K = g.icg * g.kh * g.kw, N = g.oh * g.ow;
    size_t f = (size_t)threads * lr_gemm_scratch_floats(uk, K, N);
    if (!n->packed) f += packed_floats(uk, &g) + 32; /* weights packed in every run (not constant, or no weight preprocess) */
    return f * sizeof(float);
}

typedef struct job_ctx {
    const lr_conv_geom *g;
    const lr_conv_epilogue *e;
    const float *x; /* image n, group gi */
    float *y;       /* plane of channel gi*ocg */
    int64_t n, gi;
} job_ctx;

const float *lr_conv_gemm_b_1x1(const void *vctx, int64_t j0, int64_t nt, int nr, float *dst) {
    const job_ctx *c = vctx;
    const lr_conv_geom *g = c->g;
    lr_gemm_pack_b(nr, g->icg, j0, nt, g->oh * g->ow, c->x, g->h * g->w, 1, dst);
    return dst;
}

/* im2col panels: for each NR panel, the columns split into runs along output rows; each (channel,
 * tap) copies a run with zeros where it falls in the padding. */
const float *lr_conv_gemm_b_im2col(const void *vctx, int64_t j0, int64_t nt, int NR, float *dst) {
    const job_ctx *c = vctx;
    const lr_conv_geom *g = c->g;
    int64_t N = g->oh * g->ow, khw = g->kh * g->kw, K = g->icg * khw;
    for (int64_t p = j0; p < j0 + nt; p += NR) {
        int64_t nr = N - p < NR ? N - p : NR;
        float *panel = dst + (p - j0) * K;
        if (nr < NR)
            for (int64_t k = 0; k < K; ++k) memset(panel + k * NR + nr, 0, (size_t)(NR - nr) * sizeof(float));
        for (int64_t col = p, j = 0; j < nr;) {
            int64_t oh = col / g->ow, ow0 = col % g->ow, len = g->ow - ow0;
            if (len > nr - j) len = nr - j;
            for (int64_t ic = 0; ic < g->icg; ++ic) {
                const float *xc = c->x + ic * g->h * g->w;
                for (int64_t kh = 0; kh < g->kh; ++kh) {
                    int64_t ih = oh * g->sh - g->ph + kh * g->dh;
                    for (int64_t kw = 0; kw < g->kw; ++kw) {
                        float *out = panel + ((ic * g->kh + kh) * g->kw + kw) * NR + j;
                        if (ih < 0 || ih >= g->h) {
                            memset(out, 0, (size_t)len * sizeof(float));
                            continue;
                        }
                        const float *xr = xc + ih * g->w;
                        int64_t iw0 = ow0 * g->sw - g->pw + kw * g->dw; /* iw = iw0 + t*sw */
                        int64_t lo = iw0 >= 0 ? 0 : (-iw0 + g->sw - 1) / g->sw;
                        int64_t hi = g->w - 1 - iw0 < 0 ? 0 : (g->w - 1 - iw0) / g->sw + 1;
                        if (hi > len) hi = len;
                        if (lo > hi) lo = hi;
                        for (int64_t t = 0; t < lo; ++t) out[t] = 0.f;
                        if (g->sw == 1) {
                            memcpy(out + lo, xr + iw0 + lo, (size_t)(hi - lo) * sizeof(float));
                        } else {
                            for (int64_t t = lo; t < hi; ++t) out[t] = xr[iw0 + t * g->sw];
                        }
                        for (int64_t t = hi; t < len; ++t) out[t] = 0.f;
                    }
                }
            }
            j += len;
            col += len;
        }
    }
    return dst;
}

const float *lr_conv_gemm_b_auto(const void *vctx, int64_t j0, int64_t nt, int nr, float *dst) {
    const job_ctx *c = vctx;
    return lr_conv_gemm_is_1x1(c->g) ? lr_conv_gemm_b_1x1(vctx, j0, nt, nr, dst)
                                     : lr_conv_gemm_b_im2col(vctx, j0, nt, nr, dst);
}

static void post_row(const void *vctx, int64_t m0, int64_t m1, int64_t j0, int64_t nt) {
    const job_ctx *c = vctx;
    int64_t plane = c->g->oh * c->g->ow;
    for (int64_t m = m0; m < m1; ++m)
        lr_conv_epilogue_row(c->e, c->g, c->n, c->gi * c->g->ocg + m, c->y + m * plane, j0, nt);
}

lr_status lr_conv_gemm_run(const lr_gemm_ukernel *uk, lr_gemm_b_fn get_b, const lr_run_ctx *ctx, const lr_node *n) {
    lr_conv_geom g;
    lr_conv_geom_of(ctx->model, n, &g);
    lr_conv_epilogue e;
    lr_conv_epilogue_of(ctx, n, &g, &e);
    const float *x = lr_in(ctx, n, 0)->data;
    float *y = lr_out(ctx, n, 0)->data;
    int64_t K = g.icg * g.kh * g.kw, N = g.oh * g.ow, jobs_n = g.n * g.g;
    float *scratch = ctx->workspace;
    const float *packed = n->packed;
    if (!packed) {
        if (lr_in(ctx, n, 1)->kind == LR_KIND_CONST) lr_note_weight_pack(ctx);
        lr_conv_gemm_pack_weights(uk, &g, lr_in(ctx, n, 1)->data, scratch);
        packed = scratch;
        scratch += (packed_floats(uk, &g) + 32) / 16 * 16;
    }
    /* in registers: per-channel bias, a full residual, identity/ReLU/clamp; otherwise a row pass */
    bool bias_rows = !e.bias || (e.bst[0] == 0 && e.bst[1] == 1);
    bool fused = uk->fuses_epilogue && e.fast && bias_rows && e.clamp;
    job_ctx stack_ctx[16];
    lr_gemm_job stack_jobs[16];
    job_ctx *jc = jobs_n <= 16 ? stack_ctx : malloc(sizeof *jc * (size_t)jobs_n);
    lr_gemm_job *jobs = jobs_n <= 16 ? stack_jobs : malloc(sizeof *jobs * (size_t)jobs_n);
    if (!jc || !jobs) {
        if (jobs_n > 16) { free(jc); free(jobs); }
        return lr_fail(LR_ERR_MEMORY, "out of memory in Conv");
    }
    size_t a_stride = lr_gemm_packed_a_floats(uk, g.ocg, K);
    for (int64_t t = 0; t < jobs_n; ++t) {
        int64_t in = t / g.g, gi = t % g.g;
        jc[t] = (job_ctx){&g, &e, x + (in * g.c + gi * g.icg) * g.h * g.w, y + (in * g.oc + gi * g.ocg) * N, in, gi};
        lr_gemm_job *j = &jobs[t];
        *j = lr_gemm_job_plain(g.ocg, N, K, packed + gi * a_stride, get_b, &jc[t], jc[t].y, N);
        if (fused) {
            j->bias = e.bias ? e.bias + gi * g.ocg : NULL;
            j->z = e.z ? e.z + (in * g.oc + gi * g.ocg) * N : NULL;
            j->min = e.lo;
            j->max = e.hi;
        } else if (e.fast) {
            j->post = post_row;
            j->post_ctx = &jc[t];
        }
    }
    lr_gemm_run(uk, ctx->pool, jobs, jobs_n, scratch);
    if (!e.fast) lr_conv_epilogue_all(ctx, &e, &g, y);
    if (jobs_n > 16) {
        free(jc);
        free(jobs);
    }
    return LR_OK;
}
