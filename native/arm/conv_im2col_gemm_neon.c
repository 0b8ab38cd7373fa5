/* conv_im2col_gemm_neon.c: Conv as GEMM per (image, group) through f32-gemm-8x12-neonfma: weights
 * packed once at load into 8-row panels, im2col columns packed straight into 12-column panels
 * (a plain row copy for 1x1 stride-1 convolutions), the fused epilogue applied on hot tiles. */
#include "kernels.h"

#if LR_ARM_NEON64
#include <stdlib.h>

#include "conv_common.h"
#include "gemm_f32_neon.h"

#define NR LR_NEON_NR

static size_t packed_floats(const lr_conv_geom *g) {
    return (size_t)g->g * lr_neon_gemm_packed_a_floats(g->ocg, g->icg * g->kh * g->kw);
}

static void pack_weights(const lr_conv_geom *g, const float *w, float *dst) {
    int64_t khw = g->kh * g->kw, K = g->icg * khw;
    for (int64_t gi = 0; gi < g->g; ++gi) {
        lr_neon_gemm_pack_a(g->ocg, K, w + gi * g->ocg * K, K, 1, g->flip ? khw : 0, dst);
        dst += lr_neon_gemm_packed_a_floats(g->ocg, K);
    }
}

static bool usable(const lr_model *m, const lr_node *n) {
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    return !(g.g == g.c && g.icg == 1 && g.ocg == 1); /* depthwise has its own kernels */
}

static lr_status prepare(lr_model *m, lr_node *n) {
    const lr_tensor *w = lr_min(m, n, 1);
    if (w->kind != LR_KIND_CONST) return LR_OK;
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    size_t bytes = packed_floats(&g) * sizeof(float);
    n->packed = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!n->packed) return lr_fail(LR_ERR_MEMORY, "cannot allocate %zu bytes of packed weights", bytes);
    n->packed_bytes = bytes;
    pack_weights(&g, w->const_data, n->packed);
    return LR_OK;
}

static size_t workspace(const lr_model *m, const lr_node *n, int threads) {
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    int64_t K = g.icg * g.kh * g.kw, N = g.oh * g.ow;
    size_t f = (size_t)threads * lr_neon_gemm_scratch_floats(K, N);
    if (!n->packed) f += packed_floats(&g) + 16; /* weights packed in every run (not constant, or no weight preprocess) */
    return f * sizeof(float);
}

typedef struct job_ctx {
    const lr_conv_geom *g;
    const lr_conv_epilogue *e;
    const float *x; /* image n, group gi */
    float *y;       /* plane of channel gi*ocg */
    int64_t n, gi;
} job_ctx;

static const float *get_b(const void *vctx, int64_t j0, int64_t nt, float *dst) {
    const job_ctx *c = vctx;
    const lr_conv_geom *g = c->g;
    int64_t N = g->oh * g->ow, K = g->icg * g->kh * g->kw;
    if (g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0) {
        lr_neon_gemm_pack_b_rows(K, j0, nt, N, c->x, g->h * g->w, dst);
        return dst;
    }
    float *out = dst;
    for (int64_t p = j0; p < j0 + nt; p += NR) {
        int64_t ih0[NR], iw0[NR];
        int64_t nr = N - p < NR ? N - p : NR;
        for (int64_t j = 0; j < NR; ++j) {
            int64_t col = p + (j < nr ? j : 0);
            ih0[j] = col / g->ow * g->sh - g->ph;
            iw0[j] = col % g->ow * g->sw - g->pw;
        }
        for (int64_t ic = 0; ic < g->icg; ++ic) {
            const float *xc = c->x + ic * g->h * g->w;
            for (int64_t kh = 0; kh < g->kh; ++kh)
                for (int64_t kw = 0; kw < g->kw; ++kw) {
                    for (int64_t j = 0; j < NR; ++j) {
                        int64_t ih = ih0[j] + kh * g->dh, iw = iw0[j] + kw * g->dw;
                        out[j] = (j < nr && ih >= 0 && ih < g->h && iw >= 0 && iw < g->w) ? xc[ih * g->w + iw] : 0.f;
                    }
                    out += NR;
                }
        }
    }
    return dst;
}

static void epilogue(const void *vctx, int64_t m0, int64_t m1, int64_t j0, int64_t nt) {
    const job_ctx *c = vctx;
    int64_t plane = c->g->oh * c->g->ow;
    for (int64_t m = m0; m < m1; ++m)
        lr_conv_epilogue_row(c->e, c->g, c->n, c->gi * c->g->ocg + m, c->y + m * plane, j0, nt);
}

static lr_status run(const lr_run_ctx *ctx, const lr_node *n) {
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
        pack_weights(&g, lr_in(ctx, n, 1)->data, scratch);
        packed = scratch;
        scratch += (packed_floats(&g) + 16 + 15) / 16 * 16;
    }
    job_ctx stack_ctx[16];
    lr_gemm_job stack_jobs[16];
    job_ctx *jc = jobs_n <= 16 ? stack_ctx : malloc(sizeof *jc * (size_t)jobs_n);
    lr_gemm_job *jobs = jobs_n <= 16 ? stack_jobs : malloc(sizeof *jobs * (size_t)jobs_n);
    if (!jc || !jobs) {
        if (jobs_n > 16) { free(jc); free(jobs); }
        return lr_fail(LR_ERR_MEMORY, "out of memory in Conv");
    }
    size_t a_stride = lr_neon_gemm_packed_a_floats(g.ocg, K);
    for (int64_t t = 0; t < jobs_n; ++t) {
        int64_t in = t / g.g, gi = t % g.g;
        jc[t] = (job_ctx){&g, &e, x + (in * g.c + gi * g.icg) * g.h * g.w, y + (in * g.oc + gi * g.ocg) * N, in, gi};
        jobs[t] = (lr_gemm_job){g.ocg, N, K, packed + gi * a_stride, get_b, &jc[t], jc[t].y, N, e.fast ? epilogue : NULL, &jc[t]};
    }
    lr_neon_gemm_run(ctx->pool, jobs, jobs_n, scratch);
    if (!e.fast) lr_conv_epilogue_all(ctx, &e, &g, y);
    if (jobs_n > 16) {
        free(jc);
        free(jobs);
    }
    return LR_OK;
}

static double cost(const lr_model *m, const lr_node *n, int threads) {
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    double K = (double)g.icg * g.kh * g.kw, macs = (double)g.n * g.oc * K * g.oh * g.ow;
    return macs / (16.0 * threads) + (double)g.n * g.g * K * g.oh * g.ow / 2.0; /* 8 fma lanes/cycle + im2col packing */
}

const lr_algo lr_algo_conv_im2col_gemm_f32_neon = {"conv_im2col_gemm_f32_8x12_neonfma", LR_OP_CONV, usable, workspace, prepare, run, 0, 0, cost};
#else
static bool never(const lr_model *m, const lr_node *n) { (void)m; (void)n; return false; }
const lr_algo lr_algo_conv_im2col_gemm_f32_neon = {"conv_im2col_gemm_f32_8x12_neonfma", LR_OP_CONV, never, NULL, NULL, NULL, 0, 0, NULL};
#endif
