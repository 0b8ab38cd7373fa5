/* conv_gemm_x86.c: Conv as the x86 packed GEMM per (image, group), weights packed into the
 * micro-kernel's MR panels at prepare (load or per run), two ways to supply B:
 *   conv1x1_gemm:     1x1 stride-1 unpadded convolutions read the input rows directly (no im2col);
 *   conv_im2col_gemm: any convolution, im2col columns packed straight into NR panels one tile at a
 *                     time, contiguous runs copied per (channel, tap, output row).
 * Bias per channel, residual and ReLU/identity are fused into the micro-kernel's stores. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conv_common.h"
#include "cpu_x86.h"
#include "gemm_f32_x86.h"
#include "kernels_x86.h"

static size_t packed_floats(const lr_x86_gemm_ukernel *uk, const lr_conv_geom *g) {
    return (size_t)g->g * lr_x86_gemm_packed_a_floats(uk, g->ocg, g->icg * g->kh * g->kw);
}

/* A of group gi: rows = its output channels, k = (ic, kh, kw), flipped taps for CONVOLUTION mode. */
static void pack_weights(const lr_x86_gemm_ukernel *uk, const lr_conv_geom *g, const float *w, float *dst) {
    int64_t khw = g->kh * g->kw, K = g->icg * khw, MR = uk->mr;
    for (int64_t gi = 0; gi < g->g; ++gi) {
        const float *wg = w + gi * g->ocg * K;
        if (!g->flip) {
            lr_x86_gemm_pack_a(uk, g->ocg, K, wg, K, 1, dst);
        } else {
            for (int64_t p = 0; p < g->ocg; p += MR)
                for (int64_t k = 0; k < K; ++k) {
                    int64_t kk = k / khw * khw + (khw - 1 - k % khw);
                    for (int64_t i = 0; i < MR; ++i) dst[p * K + k * MR + i] = p + i < g->ocg ? wg[(p + i) * K + kk] : 0.f;
                }
        }
        dst += lr_x86_gemm_packed_a_floats(uk, g->ocg, K);
    }
}

static bool is_1x1(const lr_conv_geom *g) {
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

static bool usable_common(const lr_x86_gemm_ukernel *uk, const lr_model *m, const lr_node *n) {
    if (!lr_x86_has(uk->features)) return false;
    const lr_tensor *x = lr_min(m, n, 0), *w = lr_min(m, n, 1), *y = lr_mout(m, n, 0);
    if (x->dtype != LR_FLOAT32 || w->dtype != LR_FLOAT32 || y->dtype != LR_FLOAT32 || x->ndim != 4 || w->ndim != 4) return false;
    for (int i = 2; i < n->n_in; ++i)
        if (lr_min(m, n, i)->dtype != LR_FLOAT32) return false;
    return true;
}

static lr_status prepare_common(const lr_x86_gemm_ukernel *uk, lr_model *m, lr_node *n) {
    const lr_tensor *w = lr_min(m, n, 1);
    if (w->kind != LR_KIND_CONST) return LR_OK;
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    size_t bytes = packed_floats(uk, &g) * sizeof(float);
    n->packed = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!n->packed) return lr_fail(LR_ERR_MEMORY, "cannot allocate %zu bytes of packed weights", bytes);
    n->packed_bytes = bytes;
    pack_weights(uk, &g, w->const_data, n->packed);
    return LR_OK;
}

static size_t workspace_common(const lr_x86_gemm_ukernel *uk, const lr_model *m, const lr_node *n, int threads) {
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    int64_t K = g.icg * g.kh * g.kw, N = g.oh * g.ow;
    size_t f = (size_t)threads * lr_x86_gemm_scratch_floats(uk, K, N);
    if (!n->packed) f += packed_floats(uk, &g) + 32; /* packed per run */
    return f * sizeof(float);
}

typedef struct job_ctx {
    const lr_conv_geom *g;
    const lr_conv_epilogue *e;
    const float *x; /* image n, group gi */
    float *y;       /* plane of channel gi*ocg */
    int64_t n, gi;
} job_ctx;

static const float *get_b_1x1(const void *vctx, int64_t j0, int64_t nt, int nr, float *dst) {
    const job_ctx *c = vctx;
    const lr_conv_geom *g = c->g;
    int64_t N = g->oh * g->ow;
    lr_x86_gemm_pack_b(nr, g->icg, j0, nt, N, c->x, g->h * g->w, 1, dst);
    return dst;
}

/* im2col panels: for each NR panel, the columns split into runs along output rows; each (channel,
 * tap) copies a run with zeros where it falls in the padding. */
static const float *get_b_im2col(const void *vctx, int64_t j0, int64_t nt, int NR, float *dst) {
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

static void post_row(const void *vctx, int64_t m0, int64_t m1, int64_t j0, int64_t nt) {
    const job_ctx *c = vctx;
    int64_t plane = c->g->oh * c->g->ow;
    for (int64_t m = m0; m < m1; ++m)
        lr_conv_epilogue_row(c->e, c->g, c->n, c->gi * c->g->ocg + m, c->y + m * plane, j0, nt);
}

static lr_status run_common(const lr_x86_gemm_ukernel *uk, lr_x86_gemm_b_fn get_b, const lr_run_ctx *ctx,
                            const lr_node *n) {
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
        pack_weights(uk, &g, lr_in(ctx, n, 1)->data, scratch);
        packed = scratch;
        scratch += (packed_floats(uk, &g) + 32) / 16 * 16;
    }
    /* in registers: per-channel bias, a full residual, identity/ReLU; otherwise a row pass */
    bool bias_rows = !e.bias || (e.bst[0] == 0 && e.bst[1] == 1);
    bool fused = e.fast && bias_rows && (e.act == LR_ACT_IDENTITY || e.act == LR_ACT_RELU);
    float lo = e.act == LR_ACT_RELU ? 0.f : -INFINITY;
    job_ctx stack_ctx[16];
    lr_x86_gemm_job stack_jobs[16];
    job_ctx *jc = jobs_n <= 16 ? stack_ctx : malloc(sizeof *jc * (size_t)jobs_n);
    lr_x86_gemm_job *jobs = jobs_n <= 16 ? stack_jobs : malloc(sizeof *jobs * (size_t)jobs_n);
    if (!jc || !jobs) {
        if (jobs_n > 16) { free(jc); free(jobs); }
        return lr_fail(LR_ERR_MEMORY, "out of memory in Conv");
    }
    size_t a_stride = lr_x86_gemm_packed_a_floats(uk, g.ocg, K);
    for (int64_t t = 0; t < jobs_n; ++t) {
        int64_t in = t / g.g, gi = t % g.g;
        jc[t] = (job_ctx){&g, &e, x + (in * g.c + gi * g.icg) * g.h * g.w, y + (in * g.oc + gi * g.ocg) * N, in, gi};
        lr_x86_gemm_job *j = &jobs[t];
        *j = (lr_x86_gemm_job){g.ocg, N, K, packed + gi * a_stride, get_b, &jc[t], jc[t].y, N,
                               NULL, NULL, N, -INFINITY, INFINITY, NULL, NULL};
        if (fused) {
            j->bias = e.bias ? e.bias + gi * g.ocg : NULL;
            j->z = e.z ? e.z + (in * g.oc + gi * g.ocg) * N : NULL;
            j->min = lo;
        } else if (e.fast) {
            j->post = post_row;
            j->post_ctx = &jc[t];
        }
    }
    lr_x86_gemm_run(uk, ctx->pool, jobs, jobs_n, scratch);
    if (!e.fast) lr_conv_epilogue_all(ctx, &e, &g, y);
    if (jobs_n > 16) {
        free(jc);
        free(jobs);
    }
    return LR_OK;
}

#define CONV_GEMM_ALGOS(UK, SUFFIX)                                                                                 \
    static bool usable_1x1_##SUFFIX(const lr_model *m, const lr_node *n) {                                          \
        if (!usable_common(&UK, m, n)) return false;                                                                \
        lr_conv_geom g;                                                                                             \
        lr_conv_geom_of(m, n, &g);                                                                                  \
        return is_1x1(&g);                                                                                          \
    }                                                                                                               \
    static bool usable_im2col_##SUFFIX(const lr_model *m, const lr_node *n) { return usable_common(&UK, m, n); }    \
    static lr_status prepare_##SUFFIX(lr_model *m, lr_node *n) { return prepare_common(&UK, m, n); }                \
    static size_t workspace_##SUFFIX(const lr_model *m, const lr_node *n, int t) {                                  \
        return workspace_common(&UK, m, n, t);                                                                      \
    }                                                                                                               \
    static lr_status run_1x1_##SUFFIX(const lr_run_ctx *c, const lr_node *n) { return run_common(&UK, get_b_1x1, c, n); } \
    static lr_status run_im2col_##SUFFIX(const lr_run_ctx *c, const lr_node *n) {                                   \
        return run_common(&UK, get_b_im2col, c, n);                                                                 \
    }                                                                                                               \
    const lr_algo lr_algo_conv1x1_gemm_f32_##SUFFIX = {"conv1x1_gemm_f32_" #SUFFIX, LR_OP_CONV, usable_1x1_##SUFFIX, \
                                                       workspace_##SUFFIX, prepare_##SUFFIX, run_1x1_##SUFFIX, 0, 0, NULL};  \
    const lr_algo lr_algo_conv_im2col_gemm_f32_##SUFFIX = {"conv_im2col_gemm_f32_" #SUFFIX, LR_OP_CONV,             \
                                                           usable_im2col_##SUFFIX, workspace_##SUFFIX,              \
                                                           prepare_##SUFFIX, run_im2col_##SUFFIX, 0, 0, NULL};

CONV_GEMM_ALGOS(lr_f32_gemm_8x32_avx512f_broadcast, 8x32_avx512f)
CONV_GEMM_ALGOS(lr_f32_gemm_6x16_avx2_fma_broadcast, 6x16_avx2_fma)
