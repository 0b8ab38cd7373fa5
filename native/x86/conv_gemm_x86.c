/* conv_gemm_x86.c: the x86 Conv-as-GEMM algorithms. Two run the shared driver (generic/conv_gemm.c)
 * with an x86 micro-kernel, which fuses bias per channel, residual and ReLU/identity/clamp:
 *   conv1x1_gemm:     1x1 stride-1 unpadded convolutions read the input rows directly (no im2col);
 *   conv_im2col_gemm: any convolution, im2col runs copied straight into NR panels.
 * The third, pixrows, turns the product around for small planes (below). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conv_common.h"
#include "conv_gemm.h"
#include "cpu_x86.h"
#include "gemm_f32_x86.h"
#include "kernels_x86.h"

static bool usable_common(const lr_gemm_ukernel *uk, const lr_model *m, const lr_node *n) {
    if (!lr_x86_has(uk->features)) return false;
    const lr_tensor *x = lr_min(m, n, 0), *w = lr_min(m, n, 1), *y = lr_mout(m, n, 0);
    if (x->dtype != LR_FLOAT32 || w->dtype != LR_FLOAT32 || y->dtype != LR_FLOAT32 || x->ndim != 4 || w->ndim != 4) return false;
    for (int i = 2; i < n->n_in; ++i)
        if (lr_min(m, n, i)->dtype != LR_FLOAT32) return false;
    return true;
}

/* ---- pixel-major orientation for small planes -----------------------------------------------
 * C^T[OH*OW, OC] = im2col^T[OH*OW, K] W^T[K, OC]: output pixels fill the MR rows and output
 * channels the NR columns, so a 7x7 plane (49 pixels) uses 49/56 of its rows instead of 49/64
 * columns, the weights are B panels packed once (prepare) and streamed exactly once per run, and
 * no B is copied at run time. The activations are packed into MR-row panels per run (small: the
 * plane is small); the C^T tile is written to NCHW with the epilogue as each task finishes it. */

static bool pixrows_shape(const lr_gemm_ukernel *uk, const lr_conv_geom *g) {
    int64_t N = g->oh * g->ow, MR = uk->mr, NR = uk->nr;
    double eff_cols = (double)N / (double)((N + NR - 1) / NR * NR), eff_rows = (double)N / (double)((N + MR - 1) / MR * MR);
    /* measured: wins on the 7x7 planes of deep layers (K >= 1024), loses on 1x1 / 14x14 (docs/benchmarks.md) */
    return g->g == 1 && N <= 64 && g->icg * g->kh * g->kw >= 1024 && g->oc >= 2 * NR && g->oc % NR == 0 &&
           eff_rows > eff_cols + 0.04;
}

static size_t pixrows_b_floats(const lr_gemm_ukernel *uk, const lr_conv_geom *g) {
    return lr_gemm_packed_b_floats(uk, g->icg * g->kh * g->kw, g->oc);
}

/* B(k, oc) = w[oc][k] (taps flipped in CONVOLUTION mode) in NR panels. */
static void pixrows_pack_w(const lr_gemm_ukernel *uk, const lr_conv_geom *g, const float *w, float *dst) {
    int64_t khw = g->kh * g->kw, K = g->icg * khw, NR = uk->nr;
    if (!g->flip) {
        lr_gemm_pack_b((int)NR, K, 0, (g->oc + NR - 1) / NR * NR, g->oc, w, 1, K, dst);
        return;
    }
    for (int64_t p = 0; p < g->oc; p += NR)
        for (int64_t k = 0; k < K; ++k) {
            int64_t kk = k / khw * khw + (khw - 1 - k % khw);
            for (int64_t j = 0; j < NR; ++j) *dst++ = p + j < g->oc ? w[(p + j) * K + kk] : 0.f;
        }
}

static lr_status pixrows_prepare(const lr_gemm_ukernel *uk, lr_model *m, lr_node *n) {
    const lr_tensor *w = lr_min(m, n, 1);
    if (w->kind != LR_KIND_CONST) return LR_OK;
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    size_t bytes = pixrows_b_floats(uk, &g) * sizeof(float);
    lr_status s = lr_alloc_packed(n, bytes, "packed weights");
    if (s != LR_OK) return s;
    pixrows_pack_w(uk, &g, w->const_data, n->packed);
    return LR_OK;
}

/* workspace: packed B (weight preprocess off), then per image A panels and the C^T tile, then the
 * driver's per-thread B scratch (unused: B comes packed) */
static size_t pixrows_a_floats(const lr_gemm_ukernel *uk, const lr_conv_geom *g) {
    return lr_gemm_packed_a_floats(uk, g->oh * g->ow, g->icg * g->kh * g->kw);
}

static size_t pixrows_workspace(const lr_gemm_ukernel *uk, const lr_model *m, const lr_node *n, int threads) {
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    int64_t K = g.icg * g.kh * g.kw, N = g.oh * g.ow;
    size_t f = (size_t)g.n * (pixrows_a_floats(uk, &g) + (size_t)N * g.oc + 32) + (size_t)threads * 32;
    if (!n->packed) f += pixrows_b_floats(uk, &g) + 32;
    (void)K;
    return f * sizeof(float);
}

typedef struct pix_ctx {
    const lr_gemm_ukernel *uk;
    const lr_conv_geom *g;
    const lr_conv_epilogue *e;
    const float *x, *w; /* w: B panels */
    float *a, *ct, *y;  /* per image: A panels, C^T, output */
    size_t a_stride, ct_stride;
} pix_ctx;

/* A panel p of image n: rows = output pixels p*MR.., k = (ic, kh, kw), zeros in the padding. */
static void pixrows_pack_a_task(void *vctx, int64_t task, int thread) {
    const pix_ctx *c = vctx;
    const lr_conv_geom *g = c->g;
    const int64_t MR = c->uk->mr, N = g->oh * g->ow, K = g->icg * g->kh * g->kw;
    int64_t panels = (N + MR - 1) / MR, n = task / panels, p = task % panels;
    const float *x = c->x + n * g->c * g->h * g->w;
    float *dst = c->a + n * c->a_stride + p * MR * K;
    int64_t ih0[64], iw0[64]; /* MR <= 64 */
    int64_t rows = N - p * MR < MR ? N - p * MR : MR;
    for (int64_t i = 0; i < rows; ++i) {
        int64_t pix = p * MR + i;
        ih0[i] = pix / g->ow * g->sh - g->ph;
        iw0[i] = pix % g->ow * g->sw - g->pw;
    }
    for (int64_t ic = 0, k = 0; ic < g->icg; ++ic) {
        const float *xc = x + ic * g->h * g->w;
        for (int64_t kh = 0; kh < g->kh; ++kh)
            for (int64_t kw = 0; kw < g->kw; ++kw, ++k) {
                float *d = dst + k * MR;
                for (int64_t i = 0; i < rows; ++i) {
                    int64_t ih = ih0[i] + kh * g->dh, iw = iw0[i] + kw * g->dw;
                    d[i] = ih >= 0 && ih < g->h && iw >= 0 && iw < g->w ? xc[ih * g->w + iw] : 0.f;
                }
                for (int64_t i = rows; i < MR; ++i) d[i] = 0.f;
            }
    }
    (void)thread;
}

typedef struct pix_job {
    const pix_ctx *c;
    int64_t n;
} pix_job;

static const float *pixrows_get_b(const void *vctx, int64_t j0, int64_t nt, int nr, float *scratch) {
    const pix_job *j = vctx;
    const lr_conv_geom *g = j->c->g;
    (void)nt, (void)nr, (void)scratch;
    return j->c->w + j0 * (g->icg * g->kh * g->kw);
}

/* C^T rows [m0, m1) x channels [j0, j0+nt) are final: write them to NCHW, then the epilogue. */
static void pixrows_post(const void *vctx, int64_t m0, int64_t m1, int64_t j0, int64_t nt) {
    const pix_job *j = vctx;
    const pix_ctx *c = j->c;
    const lr_conv_geom *g = c->g;
    int64_t N = g->oh * g->ow, OC = g->oc;
    const float *ct = c->ct + j->n * c->ct_stride;
    float *y = c->y + j->n * OC * N;
    for (int64_t oc = j0; oc < j0 + nt && oc < OC; ++oc) {
        float *yr = y + oc * N;
        for (int64_t pix = m0; pix < m1; ++pix) yr[pix] = ct[pix * OC + oc];
        if (c->e->fast) lr_conv_epilogue_row(c->e, g, j->n, oc, yr, m0, m1 - m0);
    }
}

static lr_status pixrows_run(const lr_gemm_ukernel *uk, const lr_run_ctx *ctx, const lr_node *n) {
    lr_conv_geom g;
    lr_conv_geom_of(ctx->model, n, &g);
    lr_conv_epilogue e;
    lr_conv_epilogue_of(ctx, n, &g, &e);
    int64_t K = g.icg * g.kh * g.kw, N = g.oh * g.ow;
    float *ws = ctx->workspace;
    const float *wb = n->packed;
    if (!wb) {
        if (lr_in(ctx, n, 1)->kind == LR_KIND_CONST) lr_note_weight_pack(ctx);
        pixrows_pack_w(uk, &g, lr_in(ctx, n, 1)->data, ws);
        wb = ws;
        ws += (pixrows_b_floats(uk, &g) + 32) / 16 * 16;
    }
    pix_ctx c = {uk, &g, &e, lr_in(ctx, n, 0)->data, wb, ws, NULL, lr_out(ctx, n, 0)->data,
                 (pixrows_a_floats(uk, &g) + 15) / 16 * 16, ((size_t)N * g.oc + 15) / 16 * 16};
    c.ct = c.a + (size_t)g.n * c.a_stride;
    float *scratch = c.ct + (size_t)g.n * c.ct_stride;
    lr_parallel_for(ctx->pool, g.n * ((N + uk->mr - 1) / uk->mr), pixrows_pack_a_task, &c);
    pix_job stack_pj[16];
    lr_gemm_job stack_jobs[16];
    pix_job *pj = g.n <= 16 ? stack_pj : malloc(sizeof *pj * (size_t)g.n);
    lr_gemm_job *jobs = g.n <= 16 ? stack_jobs : malloc(sizeof *jobs * (size_t)g.n);
    if (!pj || !jobs) {
        if (g.n > 16) { free(pj); free(jobs); }
        return lr_fail(LR_ERR_MEMORY, "out of memory in Conv");
    }
    for (int64_t t = 0; t < g.n; ++t) {
        pj[t] = (pix_job){&c, t};
        jobs[t] = lr_gemm_job_plain(N, g.oc, K, c.a + t * c.a_stride, pixrows_get_b, &pj[t], c.ct + t * c.ct_stride, g.oc);
        jobs[t].post = pixrows_post;
        jobs[t].post_ctx = &pj[t];
    }
    lr_gemm_run(uk, ctx->pool, jobs, g.n, scratch);
    if (!e.fast) lr_conv_epilogue_all(ctx, &e, &g, c.y);
    if (g.n > 16) {
        free(pj);
        free(jobs);
    }
    return LR_OK;
}

#define CONV_GEMM_ALGOS(UK, SUFFIX)                                                                                 \
    static bool usable_1x1_##SUFFIX(const lr_model *m, const lr_node *n) {                                          \
        if (!usable_common(&UK, m, n)) return false;                                                                \
        lr_conv_geom g;                                                                                             \
        lr_conv_geom_of(m, n, &g);                                                                                  \
        return lr_conv_gemm_is_1x1(&g);                                                                                          \
    }                                                                                                               \
    static bool usable_im2col_##SUFFIX(const lr_model *m, const lr_node *n) { return usable_common(&UK, m, n); }    \
    static lr_status prepare_##SUFFIX(lr_model *m, lr_node *n) { return lr_conv_gemm_prepare(&UK, m, n); }                \
    static size_t workspace_##SUFFIX(const lr_model *m, const lr_node *n, int t) {                                  \
        return lr_conv_gemm_workspace(&UK, m, n, t);                                                                      \
    }                                                                                                               \
    static lr_status run_1x1_##SUFFIX(const lr_run_ctx *c, const lr_node *n) { return lr_conv_gemm_run(&UK, lr_conv_gemm_b_1x1, c, n); } \
    static lr_status run_im2col_##SUFFIX(const lr_run_ctx *c, const lr_node *n) {                                   \
        return lr_conv_gemm_run(&UK, lr_conv_gemm_b_im2col, c, n);                                                                 \
    }                                                                                                               \
    const lr_algo lr_algo_conv1x1_gemm_f32_##SUFFIX = {"conv1x1_gemm_f32_" #SUFFIX, LR_OP_CONV, usable_1x1_##SUFFIX, \
                                                       workspace_##SUFFIX, prepare_##SUFFIX, run_1x1_##SUFFIX, 0, 0, NULL};  \
    const lr_algo lr_algo_conv_im2col_gemm_f32_##SUFFIX = {"conv_im2col_gemm_f32_" #SUFFIX, LR_OP_CONV,             \
                                                           usable_im2col_##SUFFIX, workspace_##SUFFIX,              \
                                                           prepare_##SUFFIX, run_im2col_##SUFFIX, 0, 0, NULL};

#define CONV_PIXROWS_ALGO(UK, SUFFIX)                                                                               \
    static bool usable_pixrows_##SUFFIX(const lr_model *m, const lr_node *n) {                                      \
        if (!usable_common(&UK, m, n)) return false;                                                                \
        lr_conv_geom g;                                                                                             \
        lr_conv_geom_of(m, n, &g);                                                                                  \
        return pixrows_shape(&UK, &g);                                                                              \
    }                                                                                                               \
    static lr_status prepare_pixrows_##SUFFIX(lr_model *m, lr_node *n) { return pixrows_prepare(&UK, m, n); }       \
    static size_t workspace_pixrows_##SUFFIX(const lr_model *m, const lr_node *n, int t) {                          \
        return pixrows_workspace(&UK, m, n, t);                                                                     \
    }                                                                                                               \
    static lr_status run_pixrows_##SUFFIX(const lr_run_ctx *c, const lr_node *n) { return pixrows_run(&UK, c, n); } \
    const lr_algo lr_algo_conv_gemm_pixrows_f32_##SUFFIX = {"conv_gemm_pixrows_f32_" #SUFFIX, LR_OP_CONV,           \
                                                            usable_pixrows_##SUFFIX, workspace_pixrows_##SUFFIX,    \
                                                            prepare_pixrows_##SUFFIX, run_pixrows_##SUFFIX, 0, 0, NULL};

CONV_PIXROWS_ALGO(lr_f32_gemm_8x32_avx512f_broadcast, 8x32_avx512f)
CONV_PIXROWS_ALGO(lr_f32_gemm_6x16_avx2_fma_broadcast, 6x16_avx2_fma)
CONV_GEMM_ALGOS(lr_f32_gemm_8x32_avx512f_broadcast, 8x32_avx512f)
CONV_GEMM_ALGOS(lr_f32_gemm_6x16_avx2_fma_broadcast, 6x16_avx2_fma)
