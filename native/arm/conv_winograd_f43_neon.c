/* conv_winograd_f43_neon.c: 3x3 stride-1 dense convolution by Winograd F(4x4, 3x3) on NEON.
 *
 * Weights -> U = G g G^T, stored as 36 matrices of OC x IC in 4-row panels (U[x][oc/4][ic][4]);
 * transformed once at prepare (weight preprocess on) or into the workspace in every run (counted
 * by lr_note_weight_pack). A task is one image x a block of whole tile rows (>= 16 tiles, NT-wide
 * column groups): input tiles -> V = B^T d B four tiles per q register (V[x][ic][NT-tile group]),
 * then 36 small GEMMs M = U V with a 4 (OC) x 16 (tiles) fma-by-lane micro-kernel (16 q accumulators),
 * then Y = A^T M A four tiles at a time with bias, residual and the clamp (IDENTITY/RELU/CLAMP)
 * applied before the store; SIGMOID/H_SWISH and broadcast biases run lr_conv_epilogue_row /
 * lr_conv_epilogue_all afterwards (conv_common.h).
 *
 * Error bound: the transforms scale by up to 8 (A^T) and 1/24 (G), so the fp32 result is within
 * about 1e-5 x max|pre-activation| (same transform as native/x86/conv_winograd_f43_x86.h; x86
 * measured ~5e-6 on K = 2700), well inside the 1e-4 x max(1, max|ref|) tolerance of the tests.
 *
 * Where it pays (usable): aarch64 only, f32, group 1, 3x3, stride 1, dilation 1, pad <= 2, and
 * IC >= 16, OC >= 16, output planes >= 14x14. 2.25x fewer multiplies than direct 3x3; below
 * 16 channels the transforms dominate, on planes under 14x14 (7x7: 2x2 tiles of which a quarter
 * is padding) the GEMM-based kernel wins. These thresholds follow the x86 kernel's reasoning and
 * published NEON winograd cut-offs (ncnn/MegEngine); they have NOT been tuned on a phone. */
#include "neon_nchw44.h"

#if LR_ARM_NEON64
#include <arm_neon.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conv_common.h"

#define NT 16 /* tiles per micro-kernel column group (4 q registers) */

typedef float32x4_t vf;

typedef struct wg_geom {
    int64_t th, tw, br, nb, blocks; /* tile rows/cols, tile rows per block, padded tiles per block */
    int64_t ocp;                    /* OC rounded up to 4 */
} wg_geom;

static void wg_geom_of(const lr_conv_geom *g, wg_geom *w) {
    w->th = (g->oh + 3) / 4;
    w->tw = (g->ow + 3) / 4;
    w->br = (NT + w->tw - 1) / w->tw;
    if (w->br > w->th) w->br = w->th;
    w->nb = (w->br * w->tw + NT - 1) / NT * NT;
    w->blocks = (w->th + w->br - 1) / w->br;
    w->ocp = (g->oc + 3) / 4 * 4;
}

static size_t packed_floats(const lr_conv_geom *g) { return 36 * (size_t)((g->oc + 3) / 4 * 4) * (size_t)g->c; }

static size_t thread_floats(const lr_conv_geom *g, const wg_geom *w) {
    return 36 * (size_t)g->c * (size_t)w->nb + 36 * (size_t)w->ocp * (size_t)w->nb + 16;
}

static bool usable(const lr_model *m, const lr_node *n) {
    const lr_tensor *x = lr_min(m, n, 0), *w = lr_min(m, n, 1), *y = lr_mout(m, n, 0);
    if (x->dtype != LR_FLOAT32 || w->dtype != LR_FLOAT32 || y->dtype != LR_FLOAT32 || x->ndim != 4 || w->ndim != 4) return false;
    for (int i = 2; i < n->n_in; ++i)
        if (lr_min(m, n, i)->dtype != LR_FLOAT32) return false;
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    return g.g == 1 && g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.ph <= 2 &&
           g.pw <= 2 && g.c >= 16 && g.oc >= 16 && g.oh >= 14 && g.ow >= 14;
}

/* U = G g G^T for every (oc, ic) into U[x][oc/4][ic][oc%4]; padding rows are zero. */
static void transform_weights(const lr_conv_geom *g, const float *wt, float *dst) {
    static const float G[6][3] = {{1.f / 4, 0, 0},          {-1.f / 6, -1.f / 6, -1.f / 6}, {-1.f / 6, 1.f / 6, -1.f / 6},
                                  {1.f / 24, 1.f / 12, 1.f / 6}, {1.f / 24, -1.f / 12, 1.f / 6}, {0, 0, 1}};
    int64_t OC = g->oc, IC = g->c, OCP = (OC + 3) / 4 * 4;
    memset(dst, 0, packed_floats(g) * sizeof(float));
    for (int64_t o = 0; o < OC; ++o)
        for (int64_t i = 0; i < IC; ++i) {
            const float *k = wt + (o * IC + i) * 9;
            float kk[9], t[6][3];
            for (int q = 0; q < 9; ++q) kk[q] = k[g->flip ? 8 - q : q];
            for (int a = 0; a < 6; ++a)
                for (int c = 0; c < 3; ++c) t[a][c] = G[a][0] * kk[c] + G[a][1] * kk[3 + c] + G[a][2] * kk[6 + c];
            for (int a = 0; a < 6; ++a)
                for (int b = 0; b < 6; ++b)
                    dst[(size_t)(a * 6 + b) * OCP * IC + (size_t)(o / 4) * IC * 4 + i * 4 + (o & 3)] =
                        t[a][0] * G[b][0] + t[a][1] * G[b][1] + t[a][2] * G[b][2];
        }
}

static lr_status prepare(lr_model *m, lr_node *n) {
    const lr_tensor *w = lr_min(m, n, 1);
    if (w->kind != LR_KIND_CONST) return LR_OK;
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    size_t bytes = packed_floats(&g) * sizeof(float);
    lr_status s = lr_alloc_packed(n, bytes, "Winograd weights");
    if (s != LR_OK) return s;
    transform_weights(&g, w->const_data, n->packed);
    return LR_OK;
}

static size_t workspace(const lr_model *m, const lr_node *n, int threads) {
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    wg_geom w;
    wg_geom_of(&g, &w);
    size_t f = (size_t)threads * ((thread_floats(&g, &w) + 15) / 16 * 16);
    if (!n->packed) f += packed_floats(&g) + 16;
    return f * sizeof(float);
}

/* B^T on 6 vectors */
static inline void bt6(const vf d[6], vf t[6]) {
    t[0] = vfmaq_n_f32(vfmsq_n_f32(d[4], d[2], 5.f), d[0], 4.f);
    t[1] = vfmsq_n_f32(vaddq_f32(d[3], d[4]), vaddq_f32(d[1], d[2]), 4.f);
    t[2] = vfmaq_n_f32(vsubq_f32(d[4], d[3]), vsubq_f32(d[1], d[2]), 4.f);
    t[3] = vfmaq_n_f32(vsubq_f32(d[4], d[2]), vsubq_f32(d[3], d[1]), 2.f);
    t[4] = vfmaq_n_f32(vsubq_f32(d[4], d[2]), vsubq_f32(d[1], d[3]), 2.f);
    t[5] = vfmaq_n_f32(vfmsq_n_f32(d[5], d[3], 5.f), d[1], 4.f);
}

/* A^T on 6 vectors */
static inline void at4(const vf m[6], vf o[4]) {
    vf a = vaddq_f32(m[1], m[2]), b = vsubq_f32(m[1], m[2]), c = vaddq_f32(m[3], m[4]), d = vsubq_f32(m[3], m[4]);
    o[0] = vaddq_f32(vaddq_f32(m[0], a), c);
    o[1] = vfmaq_n_f32(b, d, 2.f);
    o[2] = vfmaq_n_f32(a, c, 4.f);
    o[3] = vaddq_f32(vfmaq_n_f32(b, d, 8.f), m[5]);
}

typedef struct wg_ctx {
    const lr_conv_geom *g;
    const lr_conv_epilogue *e;
    wg_geom w;
    const float *x, *u;
    float *y, *ws;
    size_t tf;
    bool fused;
} wg_ctx;

/* M[x][oc][0:nb] = sum_ic U[x][oc][ic] V[x][ic][0:nb], 4 output channels x NT tiles per step. */
static void gemm36(const float *U, const float *V, float *M, int64_t IC, int64_t OCP, int64_t NB) {
    for (int x = 0; x < 36; ++x) {
        const float *Ux = U + (size_t)x * OCP * IC, *Vx = V + (size_t)x * IC * NB;
        float *Mx = M + (size_t)x * OCP * NB;
        for (int64_t ob = 0; ob < OCP; ob += 4) {
            const float *up = Ux + ob * IC;
            for (int64_t t0 = 0; t0 < NB; t0 += NT) {
                vf c00 = vdupq_n_f32(0), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00;
                vf c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;
                const float *vp = Vx + t0;
                for (int64_t ic = 0; ic < IC; ++ic) {
                    vf u = vld1q_f32(up + ic * 4);
                    const float *v = vp + ic * NB;
                    vf v0 = vld1q_f32(v), v1 = vld1q_f32(v + 4), v2 = vld1q_f32(v + 8), v3 = vld1q_f32(v + 12);
                    c00 = vfmaq_laneq_f32(c00, v0, u, 0); c01 = vfmaq_laneq_f32(c01, v1, u, 0);
                    c02 = vfmaq_laneq_f32(c02, v2, u, 0); c03 = vfmaq_laneq_f32(c03, v3, u, 0);
                    c10 = vfmaq_laneq_f32(c10, v0, u, 1); c11 = vfmaq_laneq_f32(c11, v1, u, 1);
                    c12 = vfmaq_laneq_f32(c12, v2, u, 1); c13 = vfmaq_laneq_f32(c13, v3, u, 1);
                    c20 = vfmaq_laneq_f32(c20, v0, u, 2); c21 = vfmaq_laneq_f32(c21, v1, u, 2);
                    c22 = vfmaq_laneq_f32(c22, v2, u, 2); c23 = vfmaq_laneq_f32(c23, v3, u, 2);
                    c30 = vfmaq_laneq_f32(c30, v0, u, 3); c31 = vfmaq_laneq_f32(c31, v1, u, 3);
                    c32 = vfmaq_laneq_f32(c32, v2, u, 3); c33 = vfmaq_laneq_f32(c33, v3, u, 3);
                }
                float *mp = Mx + ob * NB + t0;
                vst1q_f32(mp, c00); vst1q_f32(mp + 4, c01); vst1q_f32(mp + 8, c02); vst1q_f32(mp + 12, c03);
                mp += NB;
                vst1q_f32(mp, c10); vst1q_f32(mp + 4, c11); vst1q_f32(mp + 8, c12); vst1q_f32(mp + 12, c13);
                mp += NB;
                vst1q_f32(mp, c20); vst1q_f32(mp + 4, c21); vst1q_f32(mp + 8, c22); vst1q_f32(mp + 12, c23);
                mp += NB;
                vst1q_f32(mp, c30); vst1q_f32(mp + 4, c31); vst1q_f32(mp + 8, c32); vst1q_f32(mp + 12, c33);
            }
        }
    }
}

static void block_task(void *vctx, int64_t task, int thread) {
    const wg_ctx *c = vctx;
    const lr_conv_geom *g = c->g;
    const wg_geom *w = &c->w;
    const lr_conv_epilogue *e = c->e;
    const int64_t IC = g->c, OC = g->oc, NB = w->nb, H = g->h, W = g->w, TW = w->tw;
    int64_t n = task / w->blocks, th0 = task % w->blocks * w->br, th1 = th0 + w->br < w->th ? th0 + w->br : w->th;
    int64_t cols = (th1 - th0) * TW;
    float *V = c->ws + (size_t)thread * c->tf, *M = V + 36 * (size_t)IC * NB;
    const float *x = c->x + n * IC * H * W;
    /* input transform, four tiles per vector */
    for (int64_t ic = 0; ic < IC; ++ic) {
        const float *xc = x + ic * H * W;
        for (int64_t t0 = 0; t0 < NB; t0 += 4) {
            float d[6][6][4];
            for (int l = 0; l < 4; ++l) {
                int64_t t = t0 + l;
                if (t >= cols) {
                    for (int r = 0; r < 6; ++r)
                        for (int q = 0; q < 6; ++q) d[r][q][l] = 0.f;
                    continue;
                }
                int64_t ih0 = (th0 + t / TW) * 4 - g->ph, iw0 = t % TW * 4 - g->pw;
                bool inside = ih0 >= 0 && ih0 + 6 <= H && iw0 >= 0 && iw0 + 6 <= W;
                for (int r = 0; r < 6; ++r) {
                    int64_t ih = ih0 + r;
                    const float *xr = xc + ih * W + iw0;
                    if (inside) {
                        for (int q = 0; q < 6; ++q) d[r][q][l] = xr[q];
                    } else {
                        for (int q = 0; q < 6; ++q) {
                            int64_t iw = iw0 + q;
                            d[r][q][l] = ih >= 0 && ih < H && iw >= 0 && iw < W ? xr[q] : 0.f;
                        }
                    }
                }
            }
            vf t6[6][6], col[6], o[6];
            for (int q = 0; q < 6; ++q) { /* columns: t6[.][q] = B^T d[.][q] */
                for (int r = 0; r < 6; ++r) col[r] = vld1q_f32(d[r][q]);
                bt6(col, o);
                for (int r = 0; r < 6; ++r) t6[r][q] = o[r];
            }
            for (int a = 0; a < 6; ++a) {
                bt6(t6[a], o);
                for (int b = 0; b < 6; ++b) vst1q_f32(V + ((size_t)(a * 6 + b) * IC + ic) * NB + t0, o[b]);
            }
        }
    }
    gemm36(c->u, V, M, IC, w->ocp, NB);
    /* output transform + epilogue */
    int64_t plane = g->oh * g->ow;
    const vf lo = vdupq_n_f32(e->lo), hi = vdupq_n_f32(e->hi);
    for (int64_t oc = 0; oc < OC; ++oc) {
        float b = e->bias && c->fused ? e->bias[n * e->bst[0] + oc * e->bst[1]] : 0.f;
        const float *z = e->z && c->fused ? e->z + n * e->zst[0] + oc * e->zst[1] : NULL;
        float *yo = c->y + (n * OC + oc) * plane;
        for (int64_t t0 = 0; t0 < cols; t0 += 4) {
            vf mm[6], s[4][6], o[4];
            for (int q = 0; q < 6; ++q) {
                for (int r = 0; r < 6; ++r) mm[r] = vld1q_f32(M + ((size_t)(r * 6 + q) * w->ocp + oc) * NB + t0);
                at4(mm, o);
                for (int i = 0; i < 4; ++i) s[i][q] = o[i];
            }
            float out[4][4][4]; /* [row i][col j][tile lane] */
            for (int i = 0; i < 4; ++i) {
                at4(s[i], o);
                for (int j = 0; j < 4; ++j) {
                    vf v = vaddq_f32(o[j], vdupq_n_f32(b));
                    if (c->fused) v = vminq_f32(vmaxq_f32(v, lo), hi); /* z added below, before the clamp */
                    vst1q_f32(out[i][j], c->fused && z ? vaddq_f32(o[j], vdupq_n_f32(b)) : v);
                }
            }
            for (int l = 0; l < 4 && t0 + l < cols; ++l) {
                int64_t t = t0 + l, oh0 = (th0 + t / TW) * 4, ow0 = t % TW * 4;
                for (int i = 0; i < 4 && oh0 + i < g->oh; ++i) {
                    float *yr = yo + (oh0 + i) * g->ow;
                    const float *zr = z ? z + (oh0 + i) * g->ow : NULL;
                    for (int j = 0; j < 4 && ow0 + j < g->ow; ++j) {
                        float v = out[i][j][l];
                        if (zr) {
                            v += zr[ow0 + j];
                            v = v < e->lo ? e->lo : v;
                            v = v > e->hi ? e->hi : v;
                        }
                        yr[ow0 + j] = v;
                    }
                }
            }
        }
        if (!c->fused && e->fast)
            for (int64_t oh = th0 * 4; oh < th1 * 4 && oh < g->oh; ++oh) lr_conv_epilogue_row(e, g, n, oc, yo, oh * g->ow, g->ow);
    }
}

static lr_status run(const lr_run_ctx *ctx, const lr_node *n) {
    lr_conv_geom g;
    lr_conv_geom_of(ctx->model, n, &g);
    lr_conv_epilogue e;
    lr_conv_epilogue_of(ctx, n, &g, &e);
    wg_ctx c = {&g, &e, {0}, lr_in(ctx, n, 0)->data, n->packed, lr_out(ctx, n, 0)->data, ctx->workspace, 0, false};
    wg_geom_of(&g, &c.w);
    c.tf = (thread_floats(&g, &c.w) + 15) / 16 * 16;
    if (!c.u) { /* weight preprocess off (or weights not constant): transform in every run */
        if (lr_in(ctx, n, 1)->kind == LR_KIND_CONST) lr_note_weight_pack(ctx);
        float *u = c.ws + (size_t)ctx->threads * c.tf;
        transform_weights(&g, lr_in(ctx, n, 1)->data, u);
        c.u = u;
    }
    c.fused = e.fast && e.clamp;
    lr_parallel_for(ctx->pool, g.n * c.w.blocks, block_task, &c);
    if (!e.fast) lr_conv_epilogue_all(ctx, &e, &g, c.y);
    return LR_OK;
}

static double cost(const lr_model *m, const lr_node *n, int threads) {
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    wg_geom w;
    wg_geom_of(&g, &w);
    double tiles = (double)g.n * w.blocks * w.nb;
    double gemm = 36.0 * tiles * (double)w.ocp * g.c / 16.0;                /* 4x16 fma-by-lane: 16 lanes/cycle */
    double transforms = tiles * (double)(g.c + g.oc) * 36.0 / 2.0;          /* B^T d B, A^T M A */
    return (gemm + transforms) / (threads > 0 ? threads : 1);
}

const lr_algo lr_algo_conv_winograd_f43_f32_neon = {"conv_winograd_f43_f32_neon", LR_OP_CONV, usable, workspace, prepare, run, 0, 0, cost};
#else
static bool never(const lr_model *m, const lr_node *n) { (void)m; (void)n; return false; }
const lr_algo lr_algo_conv_winograd_f43_f32_neon = {"conv_winograd_f43_f32_neon", LR_OP_CONV, never, NULL, NULL, NULL, 0, 0, NULL};
#endif
