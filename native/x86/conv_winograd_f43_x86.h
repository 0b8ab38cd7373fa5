/* conv_winograd_f43_x86.h: 3x3 stride-1 convolution by Winograd F(4x4, 3x3) (Lavin & Gray):
 * weights -> U = G g G^T (36 OC x IC matrices, packed for the GEMM micro-kernel at prepare),
 * input tiles -> V = B^T d B, 36 GEMMs M = U V on the x86 micro-kernel, output Y = A^T M A with
 * bias, residual and identity/ReLU fused into the store. Work is split into blocks of whole tile
 * rows (one task each); the transforms run on GNU vectors of VL (8) tiles of one tile row, read from
 * the input rows split into 4 column phases so every tap is a contiguous load.
 * 2.25x fewer multiplies than direct 3x3 per output; fp32 error grows with the transform's
 * constants (up to 8 and 1/24): measured max error is ~1e-6 x max|y| on the shared models,
 * within the 1e-4 tolerance. Define VL, UK, ISA_FEATURES, SUFFIX, SUFFIX_STR before including. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conv_common.h"
#include "cpu_x86.h"
#include "gemm_f32_x86.h"
#include "kernels_x86.h"
#include "winograd_x86.h"

#define KC 256

typedef struct wg_geom {
    int64_t th, tw, br, nb, qw, blocks; /* tile rows/cols, tile rows per block, columns per block, phase width */
} wg_geom;

static void wg_geom_of(const lr_conv_geom *g, wg_geom *w) {
    int64_t NR = UK.nr;
    w->th = (g->oh + 3) / 4;
    w->tw = (g->ow + 3) / 4;
    /* tile rows per block: the most GEMM columns doing real work (NR granularity), blocks <= ~4 NR */
    double best = -1;
    w->br = 1;
    for (int64_t br = 1; br <= w->th; ++br) {
        int64_t nb = (br * w->tw + NR - 1) / NR * NR, blocks = (w->th + br - 1) / br;
        if (nb > 4 * NR) break;
        double eff = (double)(w->th * w->tw) / (double)(blocks * nb);
        if (eff >= best) { best = eff; w->br = br; }
    }
    w->nb = (w->br * w->tw + NR - 1) / NR * NR;
    w->qw = w->tw + 2 + VL;
    w->blocks = (w->th + w->br - 1) / w->br;
}

static size_t packed_floats(const lr_conv_geom *g) { return 36 * lr_gemm_packed_a_floats(&UK, g->oc, g->c); }

/* per thread: phase rows, V, M (+ VL slack for the vector reads past the last tile) */
static size_t thread_floats(const lr_conv_geom *g, const wg_geom *w) {
    return (size_t)(4 * w->br + 2) * 4 * w->qw + 36 * (size_t)g->c * w->nb + 36 * (size_t)g->oc * w->nb + 2 * VL + 64;
}

static bool usable(const lr_model *m, const lr_node *n) {
    if (!lr_x86_has(ISA_FEATURES)) return false;
    const lr_tensor *x = lr_min(m, n, 0), *w = lr_min(m, n, 1), *y = lr_mout(m, n, 0);
    if (x->dtype != LR_FLOAT32 || w->dtype != LR_FLOAT32 || y->dtype != LR_FLOAT32 || x->ndim != 4 || w->ndim != 4) return false;
    for (int i = 2; i < n->n_in; ++i)
        if (lr_min(m, n, i)->dtype != LR_FLOAT32) return false;
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    /* planes under 24x24 have too few tiles per row to fill the NR-wide GEMM panels */
    return g.g == 1 && g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.ph <= 2 &&
           g.pw <= 2 && g.c >= 8 && g.oc >= 8 && g.oh >= 24 && g.ow >= 24;
}

/* U = G g G^T for every (oc, ic) into u (36 * OC * IC floats of scratch), then each of the 36
 * OC x IC matrices packed into MR panels in dst. */
static void transform_weights(const lr_conv_geom *g, const float *wt, float *u, float *dst) {
    static const float G[6][3] = {{1.f / 4, 0, 0},          {-1.f / 6, -1.f / 6, -1.f / 6}, {-1.f / 6, 1.f / 6, -1.f / 6},
                                  {1.f / 24, 1.f / 12, 1.f / 6}, {1.f / 24, -1.f / 12, 1.f / 6}, {0, 0, 1}};
    int64_t OC = g->oc, IC = g->c;
    for (int64_t o = 0; o < OC; ++o)
        for (int64_t i = 0; i < IC; ++i) {
            const float *k = wt + (o * IC + i) * 9;
            float kk[9], t[6][3];
            for (int q = 0; q < 9; ++q) kk[q] = k[g->flip ? 8 - q : q];
            for (int a = 0; a < 6; ++a)
                for (int c = 0; c < 3; ++c) t[a][c] = G[a][0] * kk[c] + G[a][1] * kk[3 + c] + G[a][2] * kk[6 + c];
            for (int a = 0; a < 6; ++a)
                for (int b = 0; b < 6; ++b)
                    u[((size_t)(a * 6 + b) * OC + o) * IC + i] = t[a][0] * G[b][0] + t[a][1] * G[b][1] + t[a][2] * G[b][2];
        }
    size_t per = lr_gemm_packed_a_floats(&UK, OC, IC);
    for (int x = 0; x < 36; ++x) lr_gemm_pack_a(&UK, OC, IC, u + (size_t)x * OC * IC, IC, 1, dst + x * per);
}

static lr_status prepare(lr_model *m, lr_node *n) {
    const lr_tensor *w = lr_min(m, n, 1);
    if (w->kind != LR_KIND_CONST) return LR_OK;
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    size_t bytes = packed_floats(&g) * sizeof(float);
    lr_status s = lr_alloc_packed(n, bytes, "Winograd weights");
    if (s != LR_OK) return s;
    float *u = malloc(sizeof(float) * 36 * (size_t)g.oc * (size_t)g.c);
    if (!u) return lr_fail(LR_ERR_MEMORY, "cannot allocate the Winograd weight transform's scratch");
    transform_weights(&g, w->const_data, u, n->packed);
    free(u);
    return LR_OK;
}

static size_t workspace(const lr_model *m, const lr_node *n, int threads) {
    lr_conv_geom g;
    lr_conv_geom_of(m, n, &g);
    wg_geom w;
    wg_geom_of(&g, &w);
    size_t f = (size_t)threads * ((thread_floats(&g, &w) + 15) / 16 * 16); /* as run() lays it out */
    if (!n->packed) f += (packed_floats(&g) + 63) / 64 * 64 + 36 * (size_t)g.oc * (size_t)g.c + 64;
    return f * sizeof(float);
}

typedef struct wg_ctx {
    const lr_conv_geom *g;
    const lr_conv_epilogue *e;
    wg_geom w;
    const float *x, *u;
    float *y, *ws;
    size_t tf;
    bool fused;
    float lo, hi;
} wg_ctx;

static void block_task(void *vctx, int64_t task, int thread) {
    const wg_ctx *c = vctx;
    const lr_conv_geom *g = c->g;
    const wg_geom *w = &c->w;
    const lr_conv_epilogue *e = c->e;
    const int64_t NR = UK.nr, MR = UK.mr, IC = g->c, OC = g->oc, NB = w->nb, QW = w->qw;
    int64_t n = task / w->blocks, th0 = task % w->blocks * w->br, th1 = th0 + w->br < w->th ? th0 + w->br : w->th;
    int64_t rows = 4 * (th1 - th0) + 2, cols = (th1 - th0) * w->tw;
    float *Q = c->ws + (size_t)thread * c->tf, *V = Q + (size_t)(4 * w->br + 2) * 4 * QW, *M = V + 36 * (size_t)IC * NB;
    const float *x = c->x + n * IC * g->h * g->w;
    /* input transform, channel by channel */
    for (int64_t ic = 0; ic < IC; ++ic) {
        const float *xc = x + ic * g->h * g->w;
        for (int64_t r = 0; r < rows; ++r) {
            int64_t ih = th0 * 4 - g->ph + r;
            float *q = Q + r * 4 * QW;
            for (int64_t j = 0; j < QW; ++j)
                for (int k = 0; k < 4; ++k) {
                    int64_t iw = 4 * j + k - g->pw;
                    q[k * QW + j] = ih >= 0 && ih < g->h && iw >= 0 && iw < g->w ? xc[ih * g->w + iw] : 0.f;
                }
        }
        for (int64_t ti = 0; ti < th1 - th0; ++ti)
            for (int64_t tw0 = 0; tw0 < w->tw; tw0 += VL) {
                vf t[6][6], d[6], v[6];
                for (int cc = 0; cc < 6; ++cc) { /* rows: t[.][cc] = B^T d[.][cc] */
                    for (int r = 0; r < 6; ++r) d[r] = ld(Q + (4 * ti + r) * 4 * QW + (cc % 4) * QW + tw0 + cc / 4);
                    vf o[6];
                    bt(d, o, 4);
                    for (int r = 0; r < 6; ++r) t[r][cc] = o[r];
                }
                int64_t lanes = w->tw - tw0 < VL ? w->tw - tw0 : VL, col0 = ti * w->tw + tw0;
                for (int a = 0; a < 6; ++a) {
                    bt(t[a], v, 4);
                    for (int b = 0; b < 6; ++b) {
                        float tmp[VL];
                        st(tmp, v[b]);
                        float *vx = V + (size_t)(a * 6 + b) * IC * NB;
                        for (int64_t l = 0; l < lanes;) { /* contiguous up to the panel's end */
                            int64_t col = col0 + l, run = NR - col % NR;
                            if (run > lanes - l) run = lanes - l;
                            memcpy(vx + (col / NR) * IC * NR + ic * NR + col % NR, tmp + l, (size_t)run * sizeof(float));
                            l += run;
                        }
                    }
                }
            }
        if (cols < NB)
            for (int x36 = 0; x36 < 36; ++x36)
                for (int64_t col = cols; col < NB; ++col)
                    V[(size_t)x36 * IC * NB + (col / NR) * IC * NR + ic * NR + col % NR] = 0.f;
    }
    /* 36 GEMMs M = U V on this block */
    size_t ap = lr_gemm_packed_a_floats(&UK, OC, IC);
    for (int x36 = 0; x36 < 36; ++x36) {
        const float *A = c->u + x36 * ap, *B = V + (size_t)x36 * IC * NB;
        float *C = M + (size_t)x36 * OC * NB;
        for (int64_t k0 = 0; k0 < IC; k0 += KC) {
            int64_t kc = IC - k0 < KC ? IC - k0 : KC;
            for (int64_t p = 0; p < OC; p += MR) {
                int64_t mr = OC - p < MR ? OC - p : MR;
                for (int64_t q = 0; q < NB; q += NR)
                    UK.fn(mr, NR, kc, A + p * IC + k0 * MR, B + q * IC + k0 * NR, C + p * NB + q, NB, k0 > 0, NULL);
            }
        }
    }
    /* output transform + epilogue */
    int64_t plane = g->oh * g->ow;
    for (int64_t oc = 0; oc < OC; ++oc) {
        float b = e->bias && c->fused ? e->bias[n * e->bst[0] + oc * e->bst[1]] : 0.f;
        const float *z = e->z && c->fused ? e->z + n * e->zst[0] + oc * e->zst[1] : NULL;
        float *yo = c->y + (n * OC + oc) * plane;
        for (int64_t ti = 0; ti < th1 - th0; ++ti)
            for (int64_t tw0 = 0; tw0 < w->tw; tw0 += VL) {
                int64_t col0 = ti * w->tw + tw0, lanes = w->tw - tw0 < VL ? w->tw - tw0 : VL;
                vf s[4][6], mm[6], o[4];
                for (int cc = 0; cc < 6; ++cc) {
                    for (int r = 0; r < 6; ++r) mm[r] = ld(M + ((size_t)(r * 6 + cc) * OC + oc) * NB + col0);
                    at(mm, o, 4);
                    for (int i = 0; i < 4; ++i) s[i][cc] = o[i];
                }
                for (int i = 0; i < 4; ++i) {
                    int64_t oh = (th0 + ti) * 4 + i;
                    if (oh >= g->oh) break;
                    at(s[i], o, 4);
                    float tmp[4][VL];
                    for (int j = 0; j < 4; ++j) st(tmp[j], o[j]);
                    float *yr = yo + oh * g->ow;
                    const float *zr = z ? z + oh * g->ow : NULL;
                    for (int64_t l = 0; l < lanes; ++l)
                        for (int j = 0; j < 4; ++j) {
                            int64_t ow = (tw0 + l) * 4 + j;
                            if (ow >= g->ow) break;
                            float val = tmp[j][l] + b + (zr ? zr[ow] : 0.f);
                            if (c->fused) { /* two selects, no data-dependent branch */
                                val = val < c->lo ? c->lo : val;
                                val = val > c->hi ? c->hi : val;
                            }
                            yr[ow] = val;
                        }
                }
            }
        if (!c->fused && e->fast)
            for (int64_t oh = th0 * 4; oh < th1 * 4 && oh < g->oh; ++oh)
                lr_conv_epilogue_row(e, g, n, oc, yo, oh * g->ow, g->ow);
    }
}

static lr_status run(const lr_run_ctx *ctx, const lr_node *n) {
    lr_conv_geom g;
    lr_conv_geom_of(ctx->model, n, &g);
    lr_conv_epilogue e;
    lr_conv_epilogue_of(ctx, n, &g, &e);
    wg_ctx c = {&g, &e, {0}, lr_in(ctx, n, 0)->data, n->packed, lr_out(ctx, n, 0)->data, ctx->workspace, 0, false, -INFINITY, INFINITY};
    wg_geom_of(&g, &c.w);
    c.tf = (thread_floats(&g, &c.w) + 15) / 16 * 16;
    if (!c.u) {
        if (lr_in(ctx, n, 1)->kind == LR_KIND_CONST) lr_note_weight_pack(ctx);
        float *u = c.ws + (size_t)ctx->threads * c.tf;  /* packed U, then the unpacked scratch */
        transform_weights(&g, lr_in(ctx, n, 1)->data, u + (packed_floats(&g) + 63) / 64 * 64, u);
        c.u = u;
    }
    c.fused = e.fast && e.clamp;
    c.lo = e.lo;
    c.hi = e.hi;
    lr_parallel_for(ctx->pool, g.n * c.w.blocks, block_task, &c);
    if (!e.fast) lr_conv_epilogue_all(ctx, &e, &g, c.y);
    return LR_OK;
}

const lr_algo CAT(lr_algo_conv_winograd_f43_f32_, SUFFIX) = {
    "conv_winograd_f43_f32_" SUFFIX_STR, LR_OP_CONV, usable, workspace, prepare, run, 0, 0, NULL};
